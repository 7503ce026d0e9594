"""Fixture warehouses built by code from the declarative specs in `warehouse_fixtures/`.

Two kinds:
- ``harbor``: a retail + logistics DuckDB warehouse (29 tables, tens of thousands of fact rows,
  a fiscal calendar starting 1 February, NULLs and look-alike columns as traps). DDL with comments
  in ``harbor.sql``, generation parameters in ``harbor.yaml``.
- ``large``: the harbor warehouse plus several hundred sparse tables from other business domains
  (``large_domains.yaml``), to exercise schema pruning.

Everything is drawn from one seeded numpy generator, so the same seed gives identical content.
Files are built into a temporary file next to the target and renamed into place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from sqltune.errors import InputError

log = logging.getLogger(__name__)

KINDS = ("harbor", "large")
SPEC_DIR = Path(__file__).resolve().parents[1] / "warehouse_fixtures"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class FixtureInfo:
    """What `build_fixture` produced."""

    path: Path
    kind: str
    seed: int
    table_count: int
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())


# ----------------------------------------------------------------------------- public API


def build_fixture(
    path: str | os.PathLike,
    kind: str = "harbor",
    seed: int = 0,
    progress: Progress | None = None,
    *,
    overwrite: bool = False,
) -> FixtureInfo:
    """Build the `kind` fixture warehouse into the DuckDB file `path` (atomically)."""
    import duckdb

    if kind not in KINDS:
        raise InputError(f"unknown fixture kind {kind!r}; choose one of {', '.join(KINDS)}")
    target = Path(path)
    if target.exists() and not overwrite:
        raise InputError("already exists; refusing to overwrite it (use --force)", source=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda message: log.info(message))

    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.unlink(tmp_name)  # DuckDB wants to create the file itself
    tmp = Path(tmp_name)
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute("SET threads = 1")  # insertion order, and so the file, stays deterministic
            con.execute("SET enable_progress_bar = false")
            con.execute("BEGIN TRANSACTION")
            _build_harbor(con, seed, report)
            if kind == "large":
                _build_large_domains(con, seed, report)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
            counts = table_row_counts(con)
        finally:
            con.close()
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, Path(f"{tmp}.wal")):
            if leftover.exists():
                leftover.unlink()
    report(f"built {kind} fixture: {len(counts)} tables, {sum(counts.values())} rows -> {target}")
    return FixtureInfo(path=target, kind=kind, seed=seed, table_count=len(counts), row_counts=counts)


def spec_fingerprint() -> str:
    """Short hash of the spec files and this builder; part of cache file names."""
    digest = hashlib.sha256()
    files = sorted(p for p in SPEC_DIR.glob("*") if p.suffix in {".sql", ".yaml"})
    for p in [*files, Path(__file__)]:
        digest.update(p.name.encode())
        digest.update(p.read_bytes())
    return digest.hexdigest()[:12]


def cache_dir() -> Path:
    """Root of sqltune's cache: $SQLTUNE_HOME, else ~/.cache/sqltune."""
    from sqltune.paths import home

    return home()


def default_fixture_path(kind: str = "harbor", seed: int = 0) -> Path:
    """Cache path for a fixture; the name carries the spec fingerprint so spec edits rebuild."""
    if kind not in KINDS:
        raise InputError(f"unknown fixture kind {kind!r}; choose one of {', '.join(KINDS)}")
    return cache_dir() / "fixtures" / f"{kind}-seed{seed}-{spec_fingerprint()}.duckdb"


def ensure_fixture(kind: str = "harbor", seed: int = 0, progress: Progress | None = None) -> Path:
    """The cached fixture file, built once if missing (safe when several processes race)."""
    path = default_fixture_path(kind, seed)
    if not path.exists():
        try:
            build_fixture(path, kind=kind, seed=seed, progress=progress)
        except InputError:
            if not path.exists():  # lost a race to another builder: that file is just as good
                raise
    return path


def table_row_counts(con) -> dict[str, int]:
    """Row count of every base table of the main schema, by table name."""
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT internal ORDER BY table_name"
    ).fetchall()]
    return {n: con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


def table_checksums(path: str | os.PathLike) -> dict[str, str]:
    """md5 of each table's rows (as sorted text); equal dicts mean equal content."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for name in table_row_counts(con):
            out[name] = con.execute(
                f"SELECT md5(COALESCE(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR)), '')) "
                f'FROM "{name}" t'
            ).fetchone()[0]
        return out
    finally:
        con.close()


# ----------------------------------------------------------------------------- helpers


def _load_yaml(name: str) -> dict:
    path = SPEC_DIR / name
    if not path.exists():
        raise InputError("fixture spec not found (is the repository's warehouse_fixtures/ folder present?)", source=str(path))
    with path.open() as fh:
        return yaml.safe_load(fh)


def _run_ddl(con, sql_file: str) -> None:
    text = (SPEC_DIR / sql_file).read_text()
    con.execute(text)


def _insert(con, table: str, columns: dict[str, object], report: Progress) -> None:
    """Insert column arrays (numpy arrays or pyarrow arrays; masked numpy -> NULLs) into `table`."""
    import pyarrow as pa

    arrays = {}
    for name, values in columns.items():
        if isinstance(values, pa.Array):
            arrays[name] = values
        elif isinstance(values, np.ma.MaskedArray):
            arrays[name] = pa.array(values.data, mask=np.ma.getmaskarray(values))
        else:
            arrays[name] = pa.array(values)
    batch = pa.table(arrays)
    con.register("_fixture_batch", batch)
    cols = ", ".join(columns)
    con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _fixture_batch")
    con.unregister("_fixture_batch")
    report(f"{table}: {batch.num_rows} rows")


def _masked(values, null_mask) -> np.ma.MaskedArray:
    return np.ma.MaskedArray(np.asarray(values), mask=np.asarray(null_mask, dtype=bool))


def _round_money(x) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64), 2)


def _holidays(year: int) -> dict[dt.date, str]:
    """US public holidays (plus Black Friday) of one calendar year."""

    def nth_weekday(month: int, weekday: int, n: int) -> dt.date:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))

    def last_weekday(month: int, weekday: int) -> dt.date:
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        last = nxt - dt.timedelta(days=1)
        return last - dt.timedelta(days=(last.weekday() - weekday) % 7)

    thanksgiving = nth_weekday(11, 3, 4)
    return {
        dt.date(year, 1, 1): "New Year's Day",
        nth_weekday(1, 0, 3): "Martin Luther King Jr. Day",
        nth_weekday(2, 0, 3): "Presidents' Day",
        last_weekday(5, 0): "Memorial Day",
        dt.date(year, 7, 4): "Independence Day",
        nth_weekday(9, 0, 1): "Labor Day",
        thanksgiving: "Thanksgiving",
        thanksgiving + dt.timedelta(days=1): "Black Friday",
        dt.date(year, 12, 24): "Christmas Eve",
        dt.date(year, 12, 25): "Christmas Day",
    }


def fiscal_period(day: dt.date, start_month: int, named_by: str) -> tuple[int, int, int]:
    """(fiscal_year, fiscal_quarter, fiscal_month) of `day` for a year starting on `start_month`/1."""
    fiscal_month = (day.month - start_month) % 12 + 1
    starts_year = day.year if day.month >= start_month else day.year - 1
    fiscal_year = starts_year if named_by == "start" or start_month == 1 else starts_year + 1
    return fiscal_year, (fiscal_month - 1) // 3 + 1, fiscal_month


class _Days:
    """The calendar of the warehouse: index <-> date <-> date_key."""

    def __init__(self, start: dt.date, end: dt.date):
        self.start = np.datetime64(start, "D")
        self.n = (end - start).days + 1
        self.dates = self.start + np.arange(self.n)
        self.keys = np.array([int(str(d).replace("-", "")) for d in self.dates], dtype=np.int32)

    def key(self, idx) -> np.ndarray:
        return self.keys[np.clip(idx, 0, self.n - 1)]

    def index_of(self, dates) -> np.ndarray:
        return (np.asarray(dates, dtype="datetime64[D]") - self.start).astype(np.int64)


# ----------------------------------------------------------------------------- harbor


def _build_harbor(con, seed: int, report: Progress) -> None:
    """Fill the Harbor tables in foreign-key order, top to bottom, one section per table group.

    Every draw comes from one generator seeded with `seed`, in a fixed order: reordering sections
    changes the data (and so the corpus built from it: rerun `sqltune fixture corpus`).
    """
    spec = _load_yaml("harbor.yaml")
    rng = np.random.default_rng(seed)
    _run_ddl(con, "harbor.sql")
    cal = spec["calendar"]
    days = _Days(dt.date.fromisoformat(str(cal["start_date"])), dt.date.fromisoformat(str(cal["end_date"])))
    n = spec["counts"]
    nulls = spec["null_rates"]

    # dim_date
    holidays: dict[dt.date, str] = {}
    for year in range(days.dates[0].astype(object).year, days.dates[-1].astype(object).year + 1):
        holidays.update(_holidays(year))
    rows = []
    for d64 in days.dates:
        d = d64.astype(object)
        fy, fq, fm = fiscal_period(d, int(cal["fiscal_year_start_month"]), str(cal["fiscal_year_named_by"]))
        iso = d.isocalendar()
        rows.append((int(d.strftime("%Y%m%d")), d, d.year, (d.month - 1) // 3 + 1, d.month, d.strftime("%B"), d.day,
                     iso[2], d.strftime("%A"), iso[1], iso[2] >= 6, d in holidays, holidays.get(d), fy, fq, fm))
    con.executemany("INSERT INTO dim_date VALUES (" + ", ".join(["?"] * 16) + ")", rows)
    report(f"dim_date: {len(rows)} rows")
    month = np.array([r[4] for r in rows])
    is_weekend = np.array([r[10] for r in rows])
    is_holiday = np.array([r[11] for r in rows])
    day_weight = np.where(np.isin(month, [11, 12]), 1.8, 1.0) * np.where(is_weekend, 1.3, 1.0) * np.where(is_holiday, 1.5, 1.0)
    day_weight = day_weight / day_weight.sum()

    # regions, cities
    region_names = [r[0] for r in spec["regions"]]
    region_id = {name: i + 1 for i, name in enumerate(region_names)}
    _insert(con, "regions", {
        "region_id": np.arange(1, len(region_names) + 1),
        "region_name": np.array(region_names),
        "country": np.array([r[1] for r in spec["regions"]]),
    }, report)
    cities = spec["cities"]
    city_names = np.array([c[0] for c in cities])
    city_states = np.array([c[1] for c in cities])
    city_regions = np.array([region_id[c[2]] for c in cities])

    # stores
    n_st = n["stores"]
    st_city = rng.choice(len(cities), n_st, replace=len(cities) < n_st)
    st_type = rng.choice(spec["store_types"], n_st, p=spec["store_type_weights"])
    suffix = {"flagship": "Flagship", "mall": "Mall", "outlet": "Outlet", "express": "Express"}
    names, seen = [], {}
    for c, t in zip(st_city, st_type):
        base = f"Harbor {city_names[c]} {suffix[t]}"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base} {seen[base]}")
    opened_idx = np.where(rng.random(n_st) < 0.15, rng.integers(30, days.n - 120, n_st), -rng.integers(200, 6000, n_st))
    st_open = days.start + opened_idx
    closes = rng.random(n_st) < 0.08
    st_close_idx = np.where(closes, np.maximum(opened_idx, 0) + rng.integers(90, 700, n_st), days.n + 10)
    st_close_idx = np.where(st_close_idx >= days.n, days.n + 10, st_close_idx)
    st_close = days.start + st_close_idx
    sqft = {"flagship": (30000, 60000), "mall": (8000, 20000), "outlet": (12000, 30000), "express": (2000, 6000)}
    _insert(con, "stores", {
        "store_id": np.arange(1, n_st + 1),
        "store_name": np.array(names),
        "store_type": st_type,
        "city": city_names[st_city],
        "state": city_states[st_city],
        "region_id": city_regions[st_city],
        "opened_date": st_open,
        "closed_date": _masked(st_close, st_close_idx >= days.n),
        "square_feet": np.array([rng.integers(*sqft[t]) // 100 * 100 for t in st_type]),
    }, report)
    store_open_from = opened_idx  # day index from which the store trades
    store_open_until = np.minimum(st_close_idx, days.n) - 1  # last trading day index

    # warehouses
    n_wh = n["warehouses"]
    wh_city = rng.choice(len(cities), n_wh, replace=False)
    _insert(con, "warehouses", {
        "warehouse_id": np.arange(1, n_wh + 1),
        "warehouse_name": np.array([f"{city_names[c]} Distribution Center" for c in wh_city]),
        "city": city_names[wh_city],
        "state": city_states[wh_city],
        "region_id": city_regions[wh_city],
        "capacity_units": rng.integers(40, 250, n_wh) * 1000,
        "is_cold_storage": np.arange(n_wh) % 3 == 0,
    }, report)

    # merchandise hierarchy
    merch = spec["merchandise"]
    dept_names = list(merch)
    cat_rows = [(cat, dept_names.index(dept) + 1, nouns) for dept in dept_names for cat, nouns in merch[dept].items()]
    _insert(con, "departments", {"department_id": np.arange(1, len(dept_names) + 1), "department_name": np.array(dept_names)}, report)
    _insert(con, "product_categories", {
        "category_id": np.arange(1, len(cat_rows) + 1),
        "category_name": np.array([c[0] for c in cat_rows]),
        "department_id": np.array([c[1] for c in cat_rows]),
    }, report)
    brands = spec["brands"]
    _insert(con, "brands", {
        "brand_id": np.arange(1, len(brands) + 1),
        "brand_name": np.array([b[0] for b in brands]),
        "is_private_label": np.array([bool(b[1]) for b in brands]),
    }, report)
    n_su = n["suppliers"]
    _insert(con, "suppliers", {
        "supplier_id": np.arange(1, n_su + 1),
        "supplier_name": np.array(spec["supplier_names"][:n_su]),
        "country": rng.choice(spec["supplier_countries"], n_su),
        "lead_time_days": rng.integers(5, 60, n_su),
        "quality_rating": _masked(np.round(rng.uniform(2.5, 5.0, n_su), 2), rng.random(n_su) < nulls["supplier_rating"]),
    }, report)

    # products
    n_pr = n["products"]
    p_name, p_cat, p_brand, p_dept = [], [], [], []
    used = set()
    while len(p_name) < n_pr:
        ci = int(rng.integers(len(cat_rows)))
        cat, dept_id, nouns = cat_rows[ci]
        brand = brands[int(rng.integers(len(brands)))][0]
        series = spec["product_series"][int(rng.integers(len(spec["product_series"])))]
        name = f"{brand} {series} {nouns[int(rng.integers(len(nouns)))]}"
        if name in used:
            continue
        used.add(name)
        p_name.append(name)
        p_cat.append(ci + 1)
        p_brand.append([b[0] for b in brands].index(brand) + 1)
        p_dept.append(dept_names[dept_id - 1])
    bands = np.array([spec["price_bands"][d] for d in p_dept], dtype=float)
    list_price = np.floor(np.exp(rng.uniform(np.log(bands[:, 0]), np.log(bands[:, 1])))) + 0.99
    unit_cost = _round_money(list_price * rng.uniform(0.35, 0.65, n_pr))
    launch_idx = np.where(rng.random(n_pr) < 0.2, rng.integers(0, days.n - 200, n_pr), -rng.integers(30, 2000, n_pr))
    disc = rng.random(n_pr) < 0.08
    disc_idx = np.where(disc, np.maximum(launch_idx, 0) + rng.integers(120, 900, n_pr), days.n + 10)
    disc_null = disc_idx >= days.n
    # price history (prices on a given day come from it)
    n_pc = n["price_changes"]
    pc_product = np.sort(rng.integers(1, n_pr + 1, n_pc))
    life_lo = np.maximum(launch_idx[pc_product - 1] + 1, 1)  # prices change only while the product is sold
    life_hi = np.minimum(disc_idx[pc_product - 1] - 1, days.n - 1)
    pc_day = life_lo + (rng.random(n_pc) * (life_hi - life_lo + 1)).astype(np.int64)
    order = np.lexsort((pc_day, pc_product))
    pc_product, pc_day = pc_product[order], pc_day[order]
    keep = np.ones(n_pc, dtype=bool)
    keep[1:] = (pc_product[1:] != pc_product[:-1]) | (pc_day[1:] != pc_day[:-1])
    pc_product, pc_day = pc_product[keep], pc_day[keep]
    pc_old = np.zeros(pc_product.size)
    pc_new = np.zeros(pc_product.size)
    start_price = list_price.copy()
    for p in np.unique(pc_product):
        idx = np.flatnonzero(pc_product == p)
        steps = np.floor(list_price[p - 1] * rng.uniform(0.8, 1.2, idx.size)) + 0.99
        steps[-1] = list_price[p - 1]  # the last change lands on today's list price
        prev = np.floor(list_price[p - 1] * rng.uniform(0.85, 1.15)) + 0.99
        start_price[p - 1] = prev
        for j, i in enumerate(idx):
            pc_old[i] = prev
            pc_new[i] = steps[j] if steps[j] != prev else prev + 1.0
            prev = pc_new[i]
        list_price[p - 1] = prev
    no_color = np.isin(p_dept, ["Grocery", "Beauty"])
    p_supplier = rng.integers(1, n_su + 1, n_pr)
    _insert(con, "products", {
        "product_id": np.arange(1, n_pr + 1),
        "sku": np.array([f"HB-{i:05d}" for i in range(1, n_pr + 1)]),
        "product_name": np.array(p_name),
        "category_id": np.array(p_cat),
        "brand_id": np.array(p_brand),
        "supplier_id": p_supplier,
        "unit_cost": unit_cost,
        "list_price": list_price,
        "launch_date": days.start + launch_idx,
        "discontinued_date": _masked(days.start + np.minimum(disc_idx, days.n - 1), disc_null),
        "weight_kg": _masked(np.round(rng.uniform(0.1, 12, n_pr), 2), rng.random(n_pr) < nulls["product_weight"]),
        "color": _masked(rng.choice(spec["colors"], n_pr), no_color | (rng.random(n_pr) < 0.05)),
    }, report)
    prod_from = launch_idx
    # (price_changes is inserted after products: it references them)
    _insert(con, "price_changes", {
        "price_change_id": np.arange(1, pc_product.size + 1),
        "product_id": pc_product,
        "effective_date_key": days.key(pc_day),
        "old_price": pc_old,
        "new_price": pc_new,
    }, report)
    prod_until = np.where(disc_null, days.n - 1, disc_idx - 1)

    # loyalty tiers, customers
    tiers = spec["loyalty_tiers"]
    _insert(con, "loyalty_tiers", {
        "loyalty_tier_id": np.arange(1, len(tiers) + 1),
        "tier_name": np.array([t[0] for t in tiers]),
        "discount_pct": np.array([float(t[1]) for t in tiers]),
        "min_annual_spend": np.array([float(t[2]) for t in tiers]),
    }, report)
    n_cu = n["customers"]
    first = rng.choice(spec["first_names"], n_cu)
    last = rng.choice(spec["last_names"], n_cu)
    cu_city = rng.choice(len(cities), n_cu)
    cu_ids = np.arange(1, n_cu + 1)
    emails = np.array([f"{f}.{l}{i}@example.com".lower() for f, l, i in zip(first, last, cu_ids)])
    _insert(con, "customers", {
        "customer_id": cu_ids,
        "first_name": first,
        "last_name": last,
        "email": _masked(emails, rng.random(n_cu) < nulls["customer_email"]),
        "city": city_names[cu_city],
        "state": city_states[cu_city],
        "region_id": city_regions[cu_city],
        "loyalty_tier_id": _masked(rng.choice(np.arange(1, len(tiers) + 1), n_cu, p=[0.5, 0.3, 0.15, 0.05]),
                                   rng.random(n_cu) < nulls["customer_loyalty"]),
        "signup_date": np.datetime64("2016-01-01") + rng.integers(0, (days.dates[-1] - np.datetime64("2016-01-01")).astype(int), n_cu),
        "birth_year": _masked(rng.integers(1950, 2007, n_cu), rng.random(n_cu) < nulls["customer_birth_year"]),
    }, report)
    cu_region = city_regions[cu_city]

    # employees
    n_em = n["employees"]
    kind_draw = rng.choice(3, n_em, p=[0.72, 0.18, 0.10])  # 0 store, 1 warehouse, 2 office
    kind_draw[: n_st] = 0  # at least one employee per store
    titles = np.empty(n_em, dtype=object)
    em_store = np.zeros(n_em, dtype=np.int64)
    em_store[kind_draw == 0] = rng.integers(1, n_st + 1, int((kind_draw == 0).sum()))
    em_store[: n_st] = np.arange(1, n_st + 1)
    em_wh = np.where(kind_draw == 1, rng.integers(1, n_wh + 1, n_em), 0)
    for k, (tkey, wkey) in enumerate([("store_job_titles", "store_job_weights"), ("warehouse_job_titles", "warehouse_job_weights"),
                                      ("office_job_titles", "office_job_weights")]):
        mask = kind_draw == k
        titles[mask] = rng.choice(spec[tkey], int(mask.sum()), p=spec[wkey])
    titles[: n_st] = "Store Manager"
    hire_idx = -rng.integers(0, 3000, n_em) + np.where(rng.random(n_em) < 0.25, rng.integers(0, days.n - 60, n_em) + 3000, 0)
    hire_idx = np.minimum(hire_idx, days.n - 30)
    terminated = (rng.random(n_em) < 0.15) & (np.arange(n_em) >= n_st)
    term_idx = np.maximum(hire_idx, 0) + rng.integers(30, 800, n_em)
    term_null = ~terminated | (term_idx >= days.n)
    rate = {"Store Manager": 34.0, "Assistant Manager": 26.0, "Warehouse Supervisor": 31.0, "Buyer": 38.0,
            "Merchandise Planner": 40.0, "Data Analyst": 42.0, "Marketing Manager": 45.0, "Inventory Analyst": 30.0,
            "Forklift Operator": 22.0}
    _insert(con, "employees", {
        "employee_id": np.arange(1, n_em + 1),
        "first_name": rng.choice(spec["first_names"], n_em),
        "last_name": rng.choice(spec["last_names"], n_em),
        "job_title": titles.astype(str),
        "store_id": _masked(em_store, em_store == 0),
        "warehouse_id": _masked(em_wh, em_wh == 0),
        "hire_date": days.start + hire_idx,
        "termination_date": _masked(days.start + np.minimum(term_idx, days.n - 1), term_null),
        "hourly_rate": _round_money(np.array([rate.get(t, 17.0) for t in titles]) * rng.uniform(0.9, 1.2, n_em)),
    }, report)
    buyers = np.flatnonzero(titles == "Buyer") + 1

    # promotions
    n_pm = n["promotions"]
    pm_start = np.sort(rng.integers(0, days.n - 35, n_pm))
    pm_end = pm_start + rng.integers(6, 30, n_pm)
    pm_type = rng.choice(spec["promo_types"], n_pm, p=[0.5, 0.2, 0.2, 0.1])
    pm_pct = np.where(pm_type == "clearance", rng.choice([30.0, 40.0, 50.0], n_pm), rng.choice([10.0, 15.0, 20.0, 25.0], n_pm))
    pm_names = [f"{spec['promo_names'][int(rng.integers(len(spec['promo_names'])))]} {days.dates[s].astype(object).year}"
                for s in pm_start]
    seen = {}
    for i, name in enumerate(pm_names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            pm_names[i] = f"{name} ({seen[name]})"
    _insert(con, "promotions", {
        "promotion_id": np.arange(1, n_pm + 1),
        "promotion_name": np.array(pm_names),
        "promo_type": pm_type,
        "discount_pct": _masked(pm_pct, np.isin(pm_type, ["bogo", "bundle"])),
        "start_date_key": days.key(pm_start),
        "end_date_key": days.key(pm_end),
    }, report)

    carriers = spec["carriers"]
    _insert(con, "carriers", {
        "carrier_id": np.arange(1, len(carriers) + 1),
        "carrier_name": np.array([c[0] for c in carriers]),
        "service_level": np.array([c[1] for c in carriers]),
        "is_active": np.array([bool(c[2]) for c in carriers]),
    }, report)
    channels = spec["channels"]
    _insert(con, "channels", {
        "channel_id": np.arange(1, len(channels) + 1),
        "channel_name": np.array([c[0] for c in channels]),
        "is_online": np.array([bool(c[1]) for c in channels]),
    }, report)
    pay = spec["payment_methods"]
    _insert(con, "payment_methods", {"payment_method_id": np.arange(1, len(pay) + 1), "method_name": np.array(pay)}, report)
    reasons = spec["return_reasons"]
    _insert(con, "return_reasons", {
        "return_reason_id": np.arange(1, len(reasons) + 1),
        "reason_text": np.array([r[0] for r in reasons]),
        "is_defect": np.array([bool(r[1]) for r in reasons]),
    }, report)

    # orders
    n_or = n["orders"]
    or_day = np.sort(rng.choice(days.n, n_or, p=day_weight))
    or_channel = rng.choice(np.arange(1, len(channels) + 1), n_or, p=[c[2] for c in channels])
    instore = or_channel == 1
    or_store = np.zeros(n_or, dtype=np.int64)
    todo = np.flatnonzero(instore)
    for _ in range(50):  # pick stores that were open on the order day
        if todo.size == 0:
            break
        cand = rng.integers(1, n_st + 1, todo.size)
        ok = (store_open_from[cand - 1] <= or_day[todo]) & (store_open_until[cand - 1] >= or_day[todo])
        or_store[todo[ok]] = cand[ok]
        todo = todo[~ok]
    instore[todo] = False  # no store open (cannot happen with realistic specs): treat as web order
    or_channel[todo] = 2
    guest = rng.random(n_or) < np.where(instore, 0.3, nulls["guest_order"])
    or_customer = rng.integers(1, n_cu + 1, n_or)
    or_employee = np.zeros(n_or, dtype=np.int64)
    for s in range(1, n_st + 1):
        mask = or_store == s
        staff = np.flatnonzero(em_store == s) + 1
        or_employee[mask] = rng.choice(staff, int(mask.sum()))
    cash = pay.index("Cash") + 1
    online_pay = np.array([i + 1 for i in range(len(pay)) if i + 1 != cash])
    or_pay = np.where(instore, rng.integers(1, len(pay) + 1, n_or), rng.choice(online_pay, n_or))
    cancelled = rng.random(n_or) < 0.03
    fee = rng.choice([0.0, 4.99, 7.99, 12.99], n_or, p=[0.4, 0.3, 0.2, 0.1])
    or_ids = np.arange(100001, 100001 + n_or)
    _insert(con, "orders", {
        "order_id": or_ids,
        "order_date_key": days.key(or_day),
        "customer_id": _masked(or_customer, guest),
        "channel_id": or_channel,
        "store_id": _masked(or_store, ~instore),
        "payment_method_id": or_pay,
        "employee_id": _masked(or_employee, ~instore),
        "order_status": np.where(cancelled, "cancelled", "completed"),
        "shipping_fee": _masked(fee, instore),
    }, report)

    # sales lines
    lines_per_order = np.minimum(rng.geometric(0.45, n_or), 6)
    s_order_idx = np.repeat(np.arange(n_or), lines_per_order)
    n_sa = s_order_idx.size
    s_line = np.concatenate([np.arange(1, k + 1) for k in lines_per_order])
    s_day = or_day[s_order_idx]
    popularity = rng.pareto(1.2, n_pr) + 0.05
    popularity /= popularity.sum()
    s_product = rng.choice(np.arange(1, n_pr + 1), n_sa, p=popularity)
    always = np.flatnonzero((prod_from <= 0) & (prod_until >= days.n - 1)) + 1
    for _ in range(10):
        bad = np.flatnonzero((prod_from[s_product - 1] > s_day) | (prod_until[s_product - 1] < s_day))
        if bad.size == 0:
            break
        s_product[bad] = rng.choice(np.arange(1, n_pr + 1), bad.size, p=popularity)
    bad = np.flatnonzero((prod_from[s_product - 1] > s_day) | (prod_until[s_product - 1] < s_day))
    s_product[bad] = rng.choice(always, bad.size)
    # price in effect on the order day
    change_key = pc_product.astype(np.int64) * 10_000 + pc_day
    sale_key = s_product.astype(np.int64) * 10_000 + s_day
    pos = np.searchsorted(change_key, sale_key, side="right") - 1
    has_change = (pos >= 0) & (pc_product[np.maximum(pos, 0)] == s_product)
    s_price = np.where(has_change, pc_new[np.maximum(pos, 0)], start_price[s_product - 1])
    s_qty = rng.choice([1, 2, 3, 4, 5, 6], n_sa, p=[0.55, 0.22, 0.1, 0.06, 0.04, 0.03])
    s_promo = np.zeros(n_sa, dtype=np.int64)
    for p in range(n_pm):
        active = (s_day >= pm_start[p]) & (s_day <= pm_end[p]) & (s_promo == 0) & (rng.random(n_sa) < 0.35)
        if pm_type[p] == "bogo":
            active &= s_qty >= 2
        s_promo[active] = p + 1
    gross = s_qty * s_price
    pidx = np.maximum(s_promo - 1, 0)
    ptype = pm_type[pidx]
    s_discount = np.where(s_promo == 0, 0.0,
                          np.where(ptype == "bogo", s_price * (s_qty // 2),
                                   np.where(ptype == "bundle", np.minimum(5.0, gross * 0.5), gross * pm_pct[pidx] / 100)))
    s_discount = _round_money(s_discount)
    s_net = _round_money(gross - s_discount)
    s_ids = np.arange(1, n_sa + 1)
    _insert(con, "sales", {
        "sales_line_id": s_ids,
        "order_id": or_ids[s_order_idx],
        "line_number": s_line,
        "order_date_key": days.key(s_day),
        "customer_id": _masked(or_customer[s_order_idx], guest[s_order_idx]),
        "store_id": _masked(or_store[s_order_idx], ~instore[s_order_idx]),
        "product_id": s_product,
        "promotion_id": _masked(s_promo, s_promo == 0),
        "quantity": s_qty,
        "unit_price": _round_money(s_price),
        "discount_amount": s_discount,
        "net_amount": s_net,
    }, report)

    # shipments for completed online orders
    ship_orders = np.flatnonzero(~instore & ~cancelled)
    parts = np.where(rng.random(ship_orders.size) < 0.1, 2, 1)
    sh_order = np.repeat(ship_orders, parts)
    n_sh = sh_order.size
    carrier_active = np.array([bool(c[2]) for c in carriers])
    carrier_speed = np.array([{"ground": 4, "express": 2, "freight": 7}[c[1]] for c in carriers])
    sh_carrier = rng.integers(1, len(carriers) + 1, n_sh)
    inactive = ~carrier_active[sh_carrier - 1] & (or_day[sh_order] > days.n // 3)
    sh_carrier[inactive] = 1
    sh_day = or_day[sh_order] + rng.choice([0, 1, 2, 3], n_sh, p=[0.3, 0.45, 0.2, 0.05])
    sh_day = np.minimum(sh_day, days.n - 1)
    transit = carrier_speed[sh_carrier - 1] + rng.integers(-1, 4, n_sh)
    del_day = sh_day + np.maximum(transit, 1)
    lost = rng.random(n_sh) < 0.01
    in_transit = del_day >= days.n
    status = np.where(lost, "lost", np.where(in_transit, "in_transit", "delivered"))
    dest = np.where(guest[sh_order], rng.integers(1, len(region_names) + 1, n_sh), cu_region[or_customer[sh_order] - 1])
    pkgs = rng.choice([1, 2, 3], n_sh, p=[0.75, 0.2, 0.05])
    base_cost = np.array([{"ground": 6.5, "express": 14.0, "freight": 38.0}[c[1]] for c in carriers])
    _insert(con, "shipments", {
        "shipment_id": np.arange(500001, 500001 + n_sh),
        "order_id": or_ids[sh_order],
        "warehouse_id": rng.integers(1, n_wh + 1, n_sh),
        "carrier_id": sh_carrier,
        "ship_date_key": days.key(sh_day),
        "delivery_date_key": _masked(days.key(del_day), lost | in_transit),
        "destination_region_id": dest,
        "package_count": pkgs,
        "shipping_cost": _round_money(base_cost[sh_carrier - 1] * pkgs * rng.uniform(0.8, 1.4, n_sh)),
        "shipment_status": status,
    }, report)

    # returns
    returnable = np.flatnonzero(~cancelled[s_order_idx] & (rng.random(n_sa) < 0.065))
    r_day = s_day[returnable] + rng.integers(1, 60, returnable.size)
    inside = r_day < days.n
    returnable, r_day = returnable[inside], r_day[inside]
    n_re = returnable.size
    sold_in_store = or_store[s_order_idx[returnable]]
    where = rng.random(n_re)
    other_store = rng.integers(1, n_st + 1, n_re)
    r_store = np.where(sold_in_store > 0,
                       np.where(where < 0.75, sold_in_store, np.where(where < 0.9, other_store, 0)),
                       np.where(where < 0.6, 0, other_store))
    closed = (r_store > 0) & ((store_open_from[np.maximum(r_store, 1) - 1] > r_day) | (store_open_until[np.maximum(r_store, 1) - 1] < r_day))
    r_store[closed] = 0
    r_qty = np.array([rng.integers(1, q + 1) for q in s_qty[returnable]])
    r_reason = rng.choice(np.arange(1, len(reasons) + 1), n_re, p=[0.16, 0.08, 0.22, 0.16, 0.22, 0.08, 0.08])
    defect = np.array([bool(r[1]) for r in reasons])[r_reason - 1]
    _insert(con, "returns", {
        "return_id": np.arange(900001, 900001 + n_re),
        "sales_line_id": s_ids[returnable],
        "return_date_key": days.key(r_day),
        "store_id": _masked(r_store, r_store == 0),
        "return_reason_id": r_reason,
        "quantity_returned": r_qty,
        "refund_amount": _round_money(s_net[returnable] / s_qty[returnable] * r_qty),
        "restocked": ~defect & (rng.random(n_re) < 0.8),
    }, report)

    # inventory snapshots: last day of every calendar month, for products each warehouse stocks
    month_ends = np.flatnonzero(np.diff(month, append=-1) != 0)
    stocked = rng.random((n_wh, n_pr)) < 0.6
    wh_g, pr_g = np.nonzero(stocked)
    base_level = rng.integers(20, 400, wh_g.size)
    reorder = (base_level * rng.uniform(0.2, 0.4, wh_g.size)).astype(np.int64)
    cols = {k: [] for k in ("snapshot_date_key", "warehouse_id", "product_id", "quantity_on_hand", "quantity_reserved", "reorder_point")}
    for me in month_ends:
        live = (prod_from[pr_g] <= me) & (prod_until[pr_g] >= me)
        k = int(live.sum())
        on_hand = np.maximum((base_level[live] * rng.uniform(0.0, 1.6, k)).astype(np.int64), 0)
        cols["snapshot_date_key"].append(np.full(k, days.keys[me]))
        cols["warehouse_id"].append(wh_g[live] + 1)
        cols["product_id"].append(pr_g[live] + 1)
        cols["quantity_on_hand"].append(on_hand)
        cols["quantity_reserved"].append((on_hand * rng.uniform(0, 0.3, k)).astype(np.int64))
        cols["reorder_point"].append(reorder[live])
    _insert(con, "inventory_snapshots", {k: np.concatenate(v) for k, v in cols.items()}, report)

    # purchase orders and their lines
    n_po = n["purchase_orders"]
    po_supplier = rng.integers(1, n_su + 1, n_po)
    po_day = np.sort(rng.integers(0, days.n, n_po))
    lead = con.execute("SELECT lead_time_days FROM suppliers ORDER BY supplier_id").fetchnumpy()["lead_time_days"]
    exp_day = np.minimum(po_day + lead[po_supplier - 1], days.n - 1)
    rec_day = exp_day + rng.integers(-3, 8, n_po)
    po_cancel = rng.random(n_po) < 0.04
    po_open = ~po_cancel & (rec_day >= days.n)
    po_status = np.where(po_cancel, "cancelled", np.where(po_open, "open", "received"))
    rec_day = np.clip(rec_day, po_day, days.n - 1)
    po_buyer = np.where(rng.random(n_po) < 0.15, 0, rng.choice(buyers, n_po)) if buyers.size else np.zeros(n_po, dtype=np.int64)
    po_ids = np.arange(1, n_po + 1)
    _insert(con, "purchase_orders", {
        "purchase_order_id": po_ids,
        "supplier_id": po_supplier,
        "warehouse_id": rng.integers(1, n_wh + 1, n_po),
        "buyer_employee_id": _masked(po_buyer, po_buyer == 0),
        "order_date_key": days.key(po_day),
        "expected_date_key": days.key(exp_day),
        "received_date_key": _masked(days.key(rec_day), po_status != "received"),
        "po_status": po_status,
    }, report)
    by_supplier = {s: np.flatnonzero(p_supplier == s) + 1 for s in range(1, n_su + 1)}
    pol = {k: [] for k in ("purchase_order_id", "line_number", "product_id", "quantity_ordered")}
    for i in range(n_po):
        pool = by_supplier[int(po_supplier[i])]
        if pool.size == 0:
            pool = np.arange(1, n_pr + 1)
        k = min(int(rng.integers(1, 7)), pool.size)
        prods = rng.choice(pool, k, replace=False)
        pol["purchase_order_id"].append(np.full(k, po_ids[i]))
        pol["line_number"].append(np.arange(1, k + 1))
        pol["product_id"].append(prods)
        pol["quantity_ordered"].append(rng.integers(1, 40, k) * 12)
    pol_arr = {k: np.concatenate(v) for k, v in pol.items()}
    n_pl = pol_arr["product_id"].size
    received = po_status[pol_arr["purchase_order_id"] - 1] == "received"
    short = np.where(rng.random(n_pl) < 0.1, rng.integers(1, 12, n_pl), 0)
    pol_arr["quantity_received"] = _masked(np.maximum(pol_arr["quantity_ordered"] - short, 0), ~received)
    pol_arr["unit_cost"] = _round_money(unit_cost[pol_arr["product_id"] - 1] * rng.uniform(0.92, 1.06, n_pl))
    _insert(con, "purchase_order_lines", pol_arr, report)

    # web sessions: some convert into the web / app orders, the rest browse
    n_ws = n["web_sessions"]
    app_or_web = np.flatnonzero(np.isin(or_channel, [2, 3]) & (rng.random(n_or) < 0.7))[: n_ws // 3]
    n_conv = app_or_web.size
    n_browse = n_ws - n_conv
    ws_day = np.concatenate([or_day[app_or_web], rng.choice(days.n, n_browse, p=day_weight)])
    ws_channel = np.concatenate([or_channel[app_or_web], rng.choice([2, 3], n_browse, p=[0.6, 0.4])])
    ws_customer = np.concatenate([or_customer[app_or_web], rng.integers(1, n_cu + 1, n_browse)])
    ws_anon = np.concatenate([guest[app_or_web], rng.random(n_browse) < nulls["web_anonymous"]])
    ws_conv = np.concatenate([or_ids[app_or_web], np.zeros(n_browse, dtype=np.int64)])
    order = np.argsort(ws_day, kind="stable")
    ws_day, ws_channel, ws_customer, ws_anon, ws_conv = (a[order] for a in (ws_day, ws_channel, ws_customer, ws_anon, ws_conv))
    device = np.where(ws_channel == 3, rng.choice(["mobile", "tablet"], n_ws, p=[0.8, 0.2]),
                      rng.choice(spec["device_types"], n_ws, p=[0.55, 0.35, 0.1]))
    pages = np.minimum(rng.geometric(0.15, n_ws), 60) + np.where(ws_conv > 0, 3, 0)
    _insert(con, "web_sessions", {
        "session_id": np.arange(7000001, 7000001 + n_ws),
        "session_date_key": days.key(ws_day),
        "customer_id": _masked(ws_customer, ws_anon),
        "channel_id": ws_channel,
        "device_type": device,
        "traffic_source": rng.choice(spec["traffic_sources"], n_ws, p=[0.35, 0.2, 0.15, 0.12, 0.18]),
        "pages_viewed": pages,
        "duration_seconds": (pages * rng.uniform(15, 90, n_ws)).astype(np.int64),
        "converted_order_id": _masked(ws_conv, ws_conv == 0),
    }, report)

    # store traffic: every open store, every day
    tf_store, tf_day = [], []
    for s in range(n_st):
        span = np.arange(max(store_open_from[s], 0), store_open_until[s] + 1)
        tf_store.append(np.full(span.size, s + 1))
        tf_day.append(span)
    tf_store, tf_day = np.concatenate(tf_store), np.concatenate(tf_day)
    size_factor = np.array([{"flagship": 2200, "mall": 900, "outlet": 1100, "express": 350}[t] for t in st_type])
    expected = size_factor[tf_store - 1] * day_weight[tf_day] / day_weight.mean()
    _insert(con, "store_traffic", {
        "store_id": tf_store,
        "traffic_date_key": days.key(tf_day),
        "visitor_count": rng.poisson(expected),
    }, report)

    # monthly targets per store and fiscal month, near the actual in-store net sales
    actual = con.execute(
        "SELECT s.store_id, d.fiscal_year, d.fiscal_month, SUM(s.net_amount) AS net "
        "FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key "
        "WHERE s.store_id IS NOT NULL GROUP BY ALL ORDER BY 1, 2, 3"
    ).fetchnumpy()
    k = actual["store_id"].size
    _insert(con, "sales_targets", {
        "store_id": actual["store_id"],
        "fiscal_year": actual["fiscal_year"],
        "fiscal_month": actual["fiscal_month"],
        "target_amount": np.round(np.asarray(actual["net"], dtype=float) * rng.uniform(0.85, 1.2, k), -2),
    }, report)


@dataclass(frozen=True)
class DomainTable:
    """One generated table of the large fixture (schema only; rows are drawn at build time)."""

    name: str
    domain: str
    domain_label: str
    singular: str
    plural: str
    pk: str
    name_column: str
    parents: tuple[tuple[str, str, str], ...]  # (fk column, referenced table, referenced column)
    extra: tuple[tuple[str, str, str], ...]  # (column, kind, comment)
    statuses: tuple[str, ...]
    history_of: str | None = None  # set on <table>_history audit tables


_SQL_TYPE = {"money": "DECIMAL(12, 2)", "date": "DATE", "bool": "BOOLEAN", "int": "INTEGER", "num": "DECIMAL(10, 2)",
             "code": "VARCHAR"}
_HARBOR_PK = {"stores": "store_id", "products": "product_id", "customers": "customer_id", "employees": "employee_id",
              "suppliers": "supplier_id", "warehouses": "warehouse_id", "carriers": "carrier_id", "brands": "brand_id",
              "loyalty_tiers": "loyalty_tier_id", "product_categories": "category_id"}


def large_domain_tables() -> list[DomainTable]:
    """The domain tables of the large fixture, parents before children, from large_domains.yaml.

    The structure depends only on the spec (column picks are hashed from table names), never on the seed.
    """
    import random
    import zlib

    spec = _load_yaml("large_domains.yaml")
    out: list[DomainTable] = []
    for prefix, dom in spec["domains"].items():
        parsed = {}
        for line in dom["entities"]:
            head, _, parents = line.partition("|")
            table, _, singular = head.partition(":")
            parsed[table.strip()] = (singular.strip(), [p.strip() for p in parents.split(",") if p.strip()])
        done: list[str] = []
        while len(done) < len(parsed):  # parents first
            progressed = False
            for table, (_, parents) in parsed.items():
                local = [p for p in parents if not p.startswith("@")]
                if table not in done and all(p in done for p in local):
                    done.append(table)
                    progressed = True
            if not progressed:
                raise InputError("cycle in entity parents", source=f"large_domains.yaml:{prefix}")
        for table in done:
            singular, parents = parsed[table]
            slug = singular.replace(" ", "_")
            refs = []
            for p in parents:
                if p.startswith("@"):
                    refs.append((_HARBOR_PK[p[1:]], p[1:], _HARBOR_PK[p[1:]]))
                else:
                    ps = parsed[p][0].replace(" ", "_")
                    refs.append((f"{ps}_id", f"{prefix}_{p}", f"{ps}_id"))
            picker = random.Random(zlib.crc32(f"{prefix}_{table}".encode()))
            extra = tuple(tuple(c) for c in picker.sample(dom["columns"], picker.choice([2, 3])))
            plural = table.replace("_", " ")
            common = dict(domain=prefix, domain_label=dom["label"], statuses=tuple(dom["statuses"]))
            out.append(DomainTable(name=f"{prefix}_{table}", singular=singular, plural=plural, pk=f"{slug}_id",
                                   name_column=f"{slug}_name", parents=tuple(refs), extra=extra, **common))
            out.append(DomainTable(name=f"{prefix}_{table}_history", singular=f"{singular} change",
                                   plural=f"{singular} changes", pk="history_id", name_column="field_name",
                                   parents=((f"{slug}_id", f"{prefix}_{table}", f"{slug}_id"),
                                            ("changed_by_employee_id", "employees", "employee_id")),
                                   extra=(), history_of=f"{prefix}_{table}", **common))
    return out


def _domain_ddl(t: DomainTable) -> str:
    if t.history_of:
        cols = [f"{t.pk} INTEGER PRIMARY KEY"]
        cols += [f"{c} INTEGER NOT NULL REFERENCES {rt} ({rc})" for c, rt, rc in t.parents]
        cols += ["changed_at TIMESTAMP NOT NULL", "field_name VARCHAR NOT NULL", "old_value VARCHAR", "new_value VARCHAR"]
        comments = {
            t.parents[0][0]: f"The {t.parents[0][1]} row that changed.",
            "changed_by_employee_id": "Employee who made the change.",
            "field_name": "Name of the column that changed.",
            "old_value": "Value before the change; NULL when the field was empty.",
            "new_value": "Value after the change.",
        }
        table_comment = f"Audit trail of {t.domain_label} changes to {t.history_of}, one row per changed field."
    else:
        cols = [f"{t.pk} INTEGER PRIMARY KEY", f"{t.name_column} VARCHAR NOT NULL"]
        cols += [f"{c} INTEGER REFERENCES {rt} ({rc})" for c, rt, rc in t.parents]
        cols += [f"{c} {_SQL_TYPE[kind.split(':')[0]]}" for c, kind, _ in t.extra]
        cols += ["status VARCHAR NOT NULL", "created_at TIMESTAMP NOT NULL"]
        comments = {c: comment + "." for c, _, comment in t.extra}
        comments["status"] = "One of " + ", ".join(t.statuses) + "."
        comments.update({c: f"References {rt}." for c, rt, _ in t.parents})
        table_comment = f"{t.domain_label.capitalize()}: one row per {t.singular}."
    ddl = f"CREATE TABLE {t.name} (\n    " + ",\n    ".join(cols) + "\n);\n"
    ddl += f"COMMENT ON TABLE {t.name} IS '{table_comment}';\n"
    for c, text in comments.items():
        ddl += f"COMMENT ON COLUMN {t.name}.{c} IS '{text.replace(chr(39), chr(39) * 2)}';\n"
    return ddl


def _build_large_domains(con, seed: int, report: Progress) -> None:
    spec = _load_yaml("large_domains.yaml")
    rng = np.random.default_rng([seed, 1])
    tables = large_domain_tables()
    con.execute("".join(_domain_ddl(t) for t in tables))
    n_rows: dict[str, int] = {}
    harbor_ids = {name: [r[0] for r in con.execute(f"SELECT {pk} FROM {name} ORDER BY {pk} LIMIT 60").fetchall()]
                  for name, pk in _HARBOR_PK.items()}
    start = dt.datetime(2022, 2, 1)
    for t in tables:
        lo, hi = spec["history_rows_per_table" if t.history_of else "rows_per_table"]
        k = int(rng.integers(lo, hi + 1))
        n_rows[t.name] = k
        title = t.singular.title() if t.singular.islower() else t.singular
        rows = []
        for i in range(1, k + 1):
            created = start + dt.timedelta(minutes=int(rng.integers(0, 3 * 365 * 24 * 60)))
            refs = []
            for _, rt, _ in t.parents:
                pool = harbor_ids.get(rt) or list(range(1, n_rows[rt] + 1))
                refs.append(int(pool[int(rng.integers(len(pool)))]))
            if t.history_of:
                old, new = rng.choice(t.statuses, 2, replace=False)
                rows.append((i, *refs, created, "status", None if rng.random() < 0.2 else str(old), str(new)))
                continue
            values = []
            for _, kind, _ in t.extra:
                base, _, arg = kind.partition(":")
                if base == "money":
                    values.append(round(float(rng.uniform(10, 50000)), 2))
                elif base == "date":
                    values.append((start + dt.timedelta(days=int(rng.integers(0, 1095)))).date())
                elif base == "bool":
                    values.append(bool(rng.random() < 0.5))
                elif base == "code":
                    values.append(str(rng.choice(arg.split("|"))))
                else:
                    a, b = (float(x) for x in arg.split(":"))
                    values.append(int(rng.integers(a, b + 1)) if base == "int" else round(float(rng.uniform(a, b)), 2))
            status = str(t.statuses[int(rng.integers(len(t.statuses)))]) if i > 1 else t.statuses[0]
            rows.append((i, f"{title} {i:03d}", *refs, *values, status, created))
        row_sql = "(" + ", ".join(["?"] * len(rows[0])) + ")"
        con.execute(f"INSERT INTO {t.name} VALUES " + ", ".join([row_sql] * len(rows)), [v for r in rows for v in r])
    report(f"large: {len(tables)} domain tables, {sum(n_rows.values())} rows")
