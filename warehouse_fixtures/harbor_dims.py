"""Harbor's dimension tables, one function per table group, in the order `harbor.build_harbor` runs them.

Each section takes the build and what earlier sections produced, inserts its tables, and returns
only what later sections need (small frozen dataclasses). Draw order is content: see `harbor`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from warehouse_fixtures.fiscal_calendar import Days, fiscal_period, holidays
from warehouse_fixtures.writer import Build, masked, round_money


@dataclass(frozen=True)
class HarborBuild(Build):
    """A Harbor build: the generic build plus the warehouse's calendar."""

    days: Days

    @property
    def counts(self) -> dict:
        return self.spec["counts"]

    @property
    def nulls(self) -> dict:
        return self.spec["null_rates"]


@dataclass(frozen=True)
class Calendar:
    month: np.ndarray  # calendar month of each day index
    day_weight: np.ndarray  # share of the year's activity on each day (sums to 1)


@dataclass(frozen=True)
class Geography:
    region_names: list[str]
    city_names: np.ndarray
    city_states: np.ndarray
    city_regions: np.ndarray


@dataclass(frozen=True)
class Stores:
    count: int
    types: np.ndarray
    open_from: np.ndarray  # day index from which each store trades
    open_until: np.ndarray  # last trading day index


@dataclass(frozen=True)
class Merchandise:
    dept_names: list[str]
    cat_rows: list[tuple]  # (category name, department id, product nouns)
    brands: list
    n_suppliers: int


@dataclass(frozen=True)
class Products:
    count: int
    unit_cost: np.ndarray
    supplier: np.ndarray
    live_from: np.ndarray  # first day index the product is sold (launch)
    live_until: np.ndarray  # last day index it is sold
    change_product: np.ndarray  # price history, sorted by (product, day)
    change_day: np.ndarray
    change_new: np.ndarray
    start_price: np.ndarray  # price before the first change


@dataclass(frozen=True)
class Customers:
    count: int
    region: np.ndarray


@dataclass(frozen=True)
class Employees:
    store: np.ndarray  # store id per employee, 0 for none
    buyers: np.ndarray  # employee ids of buyers


@dataclass(frozen=True)
class Promotions:
    count: int
    start: np.ndarray
    end: np.ndarray
    type: np.ndarray
    pct: np.ndarray


def dim_date(b: HarborBuild) -> Calendar:
    """dim_date with calendar and fiscal columns, and the per-day weight of sales activity."""
    cal = b.spec["calendar"]
    days = b.days
    holiday_names: dict[dt.date, str] = {}
    for year in range(days.dates[0].astype(object).year, days.dates[-1].astype(object).year + 1):
        holiday_names.update(holidays(year))
    rows = []
    for d64 in days.dates:
        d = d64.astype(object)
        fy, fq, fm = fiscal_period(d, int(cal["fiscal_year_start_month"]), str(cal["fiscal_year_named_by"]))
        iso = d.isocalendar()
        rows.append((int(d.strftime("%Y%m%d")), d, d.year, (d.month - 1) // 3 + 1, d.month, d.strftime("%B"), d.day,
                     iso[2], d.strftime("%A"), iso[1], iso[2] >= 6, d in holiday_names, holiday_names.get(d), fy, fq, fm))
    b.con.executemany("INSERT INTO dim_date VALUES (" + ", ".join(["?"] * 16) + ")", rows)
    b.report(f"dim_date: {len(rows)} rows")
    month = np.array([r[4] for r in rows])
    is_weekend = np.array([r[10] for r in rows])
    is_holiday = np.array([r[11] for r in rows])
    day_weight = np.where(np.isin(month, [11, 12]), 1.8, 1.0) * np.where(is_weekend, 1.3, 1.0) * np.where(is_holiday, 1.5, 1.0)
    return Calendar(month=month, day_weight=day_weight / day_weight.sum())


def geography(b: HarborBuild) -> Geography:
    """regions (cities are spec data, not a table: stores, warehouses and customers pick from them)."""
    spec = b.spec
    region_names = [r[0] for r in spec["regions"]]
    region_id = {name: i + 1 for i, name in enumerate(region_names)}
    b.insert("regions", {
        "region_id": np.arange(1, len(region_names) + 1),
        "region_name": np.array(region_names),
        "country": np.array([r[1] for r in spec["regions"]]),
    })
    cities = spec["cities"]
    return Geography(region_names=region_names, city_names=np.array([c[0] for c in cities]),
                     city_states=np.array([c[1] for c in cities]), city_regions=np.array([region_id[c[2]] for c in cities]))


def stores(b: HarborBuild, geo: Geography) -> Stores:
    """stores: names unique per city and format; some opened or closed inside the calendar."""
    rng, days, spec = b.rng, b.days, b.spec
    n_st = b.counts["stores"]
    n_cities = len(geo.city_names)
    st_city = rng.choice(n_cities, n_st, replace=n_cities < n_st)
    st_type = rng.choice(spec["store_types"], n_st, p=spec["store_type_weights"])
    suffix = {"flagship": "Flagship", "mall": "Mall", "outlet": "Outlet", "express": "Express"}
    names, seen = [], {}
    for c, t in zip(st_city, st_type):
        base = f"Harbor {geo.city_names[c]} {suffix[t]}"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base} {seen[base]}")
    opened_idx = np.where(rng.random(n_st) < 0.15, rng.integers(30, days.n - 120, n_st), -rng.integers(200, 6000, n_st))
    st_open = days.start + opened_idx
    closes = rng.random(n_st) < 0.08
    st_close_idx = np.where(closes, np.maximum(opened_idx, 0) + rng.integers(90, 700, n_st), days.n + 10)
    st_close_idx = np.where(st_close_idx >= days.n, days.n + 10, st_close_idx)
    st_close = days.start + st_close_idx
    sqft = {"flagship": (30000, 60000), "mall": (8000, 20000), "outlet": (12000, 30000), "express": (2000, 6000)}
    b.insert("stores", {
        "store_id": np.arange(1, n_st + 1),
        "store_name": np.array(names),
        "store_type": st_type,
        "city": geo.city_names[st_city],
        "state": geo.city_states[st_city],
        "region_id": geo.city_regions[st_city],
        "opened_date": st_open,
        "closed_date": masked(st_close, st_close_idx >= days.n),
        "square_feet": np.array([rng.integers(*sqft[t]) // 100 * 100 for t in st_type]),
    })
    return Stores(count=n_st, types=st_type, open_from=opened_idx, open_until=np.minimum(st_close_idx, days.n) - 1)


def warehouses(b: HarborBuild, geo: Geography) -> int:
    """warehouses (distribution centres in distinct cities); returns their count."""
    rng = b.rng
    n_wh = b.counts["warehouses"]
    wh_city = rng.choice(len(geo.city_names), n_wh, replace=False)
    b.insert("warehouses", {
        "warehouse_id": np.arange(1, n_wh + 1),
        "warehouse_name": np.array([f"{geo.city_names[c]} Distribution Center" for c in wh_city]),
        "city": geo.city_names[wh_city],
        "state": geo.city_states[wh_city],
        "region_id": geo.city_regions[wh_city],
        "capacity_units": rng.integers(40, 250, n_wh) * 1000,
        "is_cold_storage": np.arange(n_wh) % 3 == 0,
    })
    return n_wh


def merchandise(b: HarborBuild) -> Merchandise:
    """departments, product_categories, brands and suppliers."""
    rng, spec = b.rng, b.spec
    merch = spec["merchandise"]
    dept_names = list(merch)
    cat_rows = [(cat, dept_names.index(dept) + 1, nouns) for dept in dept_names for cat, nouns in merch[dept].items()]
    b.insert("departments", {"department_id": np.arange(1, len(dept_names) + 1), "department_name": np.array(dept_names)})
    b.insert("product_categories", {
        "category_id": np.arange(1, len(cat_rows) + 1),
        "category_name": np.array([c[0] for c in cat_rows]),
        "department_id": np.array([c[1] for c in cat_rows]),
    })
    brands = spec["brands"]
    b.insert("brands", {
        "brand_id": np.arange(1, len(brands) + 1),
        "brand_name": np.array([b_[0] for b_ in brands]),
        "is_private_label": np.array([bool(b_[1]) for b_ in brands]),
    })
    n_su = b.counts["suppliers"]
    b.insert("suppliers", {
        "supplier_id": np.arange(1, n_su + 1),
        "supplier_name": np.array(spec["supplier_names"][:n_su]),
        "country": rng.choice(spec["supplier_countries"], n_su),
        "lead_time_days": rng.integers(5, 60, n_su),
        "quality_rating": masked(np.round(rng.uniform(2.5, 5.0, n_su), 2), rng.random(n_su) < b.nulls["supplier_rating"]),
    })
    return Merchandise(dept_names=dept_names, cat_rows=cat_rows, brands=brands, n_suppliers=n_su)


def _product_names(b: HarborBuild, merch: Merchandise) -> tuple[list, list, list, list]:
    """(name, category id, brand id, department name) per product; names are unique."""
    rng, spec, brands = b.rng, b.spec, merch.brands
    p_name, p_cat, p_brand, p_dept = [], [], [], []
    used = set()
    while len(p_name) < b.counts["products"]:
        ci = int(rng.integers(len(merch.cat_rows)))
        cat, dept_id, nouns = merch.cat_rows[ci]
        brand = brands[int(rng.integers(len(brands)))][0]
        series = spec["product_series"][int(rng.integers(len(spec["product_series"])))]
        name = f"{brand} {series} {nouns[int(rng.integers(len(nouns)))]}"
        if name in used:
            continue
        used.add(name)
        p_name.append(name)
        p_cat.append(ci + 1)
        p_brand.append([b_[0] for b_ in brands].index(brand) + 1)
        p_dept.append(merch.dept_names[dept_id - 1])
    return p_name, p_cat, p_brand, p_dept


def _price_history(b: HarborBuild, list_price: np.ndarray, launch_idx: np.ndarray, disc_idx: np.ndarray):
    """Price changes while each product is sold; the last one lands on today's list price.

    Returns (product, day, old, new, start_price, list_price): sorted by (product, day), the price
    before the first change, and the list prices after the history (a copy of the input).
    """
    rng, days = b.rng, b.days
    n_pr, n_pc = list_price.size, b.counts["price_changes"]
    list_price = list_price.copy()
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
    return pc_product, pc_day, pc_old, pc_new, start_price, list_price


def products(b: HarborBuild, merch: Merchandise) -> Products:
    """products and price_changes (prices on a given day come from the history)."""
    rng, days, spec = b.rng, b.days, b.spec
    n_pr = b.counts["products"]
    p_name, p_cat, p_brand, p_dept = _product_names(b, merch)
    bands = np.array([spec["price_bands"][d] for d in p_dept], dtype=float)
    list_price = np.floor(np.exp(rng.uniform(np.log(bands[:, 0]), np.log(bands[:, 1])))) + 0.99
    unit_cost = round_money(list_price * rng.uniform(0.35, 0.65, n_pr))
    launch_idx = np.where(rng.random(n_pr) < 0.2, rng.integers(0, days.n - 200, n_pr), -rng.integers(30, 2000, n_pr))
    disc = rng.random(n_pr) < 0.08
    disc_idx = np.where(disc, np.maximum(launch_idx, 0) + rng.integers(120, 900, n_pr), days.n + 10)
    disc_null = disc_idx >= days.n
    pc_product, pc_day, pc_old, pc_new, start_price, list_price = _price_history(b, list_price, launch_idx, disc_idx)
    no_color = np.isin(p_dept, ["Grocery", "Beauty"])
    p_supplier = rng.integers(1, merch.n_suppliers + 1, n_pr)
    b.insert("products", {
        "product_id": np.arange(1, n_pr + 1),
        "sku": np.array([f"HB-{i:05d}" for i in range(1, n_pr + 1)]),
        "product_name": np.array(p_name),
        "category_id": np.array(p_cat),
        "brand_id": np.array(p_brand),
        "supplier_id": p_supplier,
        "unit_cost": unit_cost,
        "list_price": list_price,
        "launch_date": days.start + launch_idx,
        "discontinued_date": masked(days.start + np.minimum(disc_idx, days.n - 1), disc_null),
        "weight_kg": masked(np.round(rng.uniform(0.1, 12, n_pr), 2), rng.random(n_pr) < b.nulls["product_weight"]),
        "color": masked(rng.choice(spec["colors"], n_pr), no_color | (rng.random(n_pr) < 0.05)),
    })
    b.insert("price_changes", {  # after products: it references them
        "price_change_id": np.arange(1, pc_product.size + 1),
        "product_id": pc_product,
        "effective_date_key": days.key(pc_day),
        "old_price": pc_old,
        "new_price": pc_new,
    })
    return Products(count=n_pr, unit_cost=unit_cost, supplier=p_supplier, live_from=launch_idx,
                    live_until=np.where(disc_null, days.n - 1, disc_idx - 1), change_product=pc_product,
                    change_day=pc_day, change_new=pc_new, start_price=start_price)


def customers(b: HarborBuild, geo: Geography) -> Customers:
    """loyalty_tiers and customers (cities from the spec; NULL traps in email, tier, birth year)."""
    rng, days, spec, nulls = b.rng, b.days, b.spec, b.nulls
    tiers = spec["loyalty_tiers"]
    b.insert("loyalty_tiers", {
        "loyalty_tier_id": np.arange(1, len(tiers) + 1),
        "tier_name": np.array([t[0] for t in tiers]),
        "discount_pct": np.array([float(t[1]) for t in tiers]),
        "min_annual_spend": np.array([float(t[2]) for t in tiers]),
    })
    n_cu = b.counts["customers"]
    first = rng.choice(spec["first_names"], n_cu)
    last = rng.choice(spec["last_names"], n_cu)
    cu_city = rng.choice(len(geo.city_names), n_cu)
    cu_ids = np.arange(1, n_cu + 1)
    emails = np.array([f"{f}.{l}{i}@example.com".lower() for f, l, i in zip(first, last, cu_ids)])
    b.insert("customers", {
        "customer_id": cu_ids,
        "first_name": first,
        "last_name": last,
        "email": masked(emails, rng.random(n_cu) < nulls["customer_email"]),
        "city": geo.city_names[cu_city],
        "state": geo.city_states[cu_city],
        "region_id": geo.city_regions[cu_city],
        "loyalty_tier_id": masked(rng.choice(np.arange(1, len(tiers) + 1), n_cu, p=[0.5, 0.3, 0.15, 0.05]),
                                  rng.random(n_cu) < nulls["customer_loyalty"]),
        "signup_date": np.datetime64("2016-01-01") + rng.integers(0, (days.dates[-1] - np.datetime64("2016-01-01")).astype(int), n_cu),
        "birth_year": masked(rng.integers(1950, 2007, n_cu), rng.random(n_cu) < nulls["customer_birth_year"]),
    })
    return Customers(count=n_cu, region=geo.city_regions[cu_city])


_HOURLY_RATE = {"Store Manager": 34.0, "Assistant Manager": 26.0, "Warehouse Supervisor": 31.0, "Buyer": 38.0,
                "Merchandise Planner": 40.0, "Data Analyst": 42.0, "Marketing Manager": 45.0, "Inventory Analyst": 30.0,
                "Forklift Operator": 22.0}


def employees(b: HarborBuild, st: Stores, n_wh: int) -> Employees:
    """employees of stores, warehouses and the office; the first one per store is its manager."""
    rng, days, spec = b.rng, b.days, b.spec
    n_em, n_st = b.counts["employees"], st.count
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
    b.insert("employees", {
        "employee_id": np.arange(1, n_em + 1),
        "first_name": rng.choice(spec["first_names"], n_em),
        "last_name": rng.choice(spec["last_names"], n_em),
        "job_title": titles.astype(str),
        "store_id": masked(em_store, em_store == 0),
        "warehouse_id": masked(em_wh, em_wh == 0),
        "hire_date": days.start + hire_idx,
        "termination_date": masked(days.start + np.minimum(term_idx, days.n - 1), term_null),
        "hourly_rate": round_money(np.array([_HOURLY_RATE.get(t, 17.0) for t in titles]) * rng.uniform(0.9, 1.2, n_em)),
    })
    return Employees(store=em_store, buyers=np.flatnonzero(titles == "Buyer") + 1)


def promotions(b: HarborBuild) -> Promotions:
    """promotions, with names made unique by a counter suffix."""
    rng, days, spec = b.rng, b.days, b.spec
    n_pm = b.counts["promotions"]
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
    b.insert("promotions", {
        "promotion_id": np.arange(1, n_pm + 1),
        "promotion_name": np.array(pm_names),
        "promo_type": pm_type,
        "discount_pct": masked(pm_pct, np.isin(pm_type, ["bogo", "bundle"])),
        "start_date_key": days.key(pm_start),
        "end_date_key": days.key(pm_end),
    })
    return Promotions(count=n_pm, start=pm_start, end=pm_end, type=pm_type, pct=pm_pct)


def lookups(b: HarborBuild) -> None:
    """carriers, channels, payment_methods and return_reasons: spec lists, no draws."""
    spec = b.spec
    carriers = spec["carriers"]
    b.insert("carriers", {
        "carrier_id": np.arange(1, len(carriers) + 1),
        "carrier_name": np.array([c[0] for c in carriers]),
        "service_level": np.array([c[1] for c in carriers]),
        "is_active": np.array([bool(c[2]) for c in carriers]),
    })
    channels = spec["channels"]
    b.insert("channels", {
        "channel_id": np.arange(1, len(channels) + 1),
        "channel_name": np.array([c[0] for c in channels]),
        "is_online": np.array([bool(c[1]) for c in channels]),
    })
    pay = spec["payment_methods"]
    b.insert("payment_methods", {"payment_method_id": np.arange(1, len(pay) + 1), "method_name": np.array(pay)})
    reasons = spec["return_reasons"]
    b.insert("return_reasons", {
        "return_reason_id": np.arange(1, len(reasons) + 1),
        "reason_text": np.array([r[0] for r in reasons]),
        "is_defect": np.array([bool(r[1]) for r in reasons]),
    })
