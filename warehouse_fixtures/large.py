"""The large fixture's extra tables: several hundred sparse tables from other business domains
(``specs/large_domains.yaml``), added to a Harbor warehouse to exercise schema pruning.

The table structure depends only on the spec (column picks are hashed from table names); the rows
come from a generator seeded with ``[seed, 1]``, apart from Harbor's.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from dataclasses import dataclass

import numpy as np

from sqltune.core.errors import InputError
from warehouse_fixtures.writer import Progress, load_spec


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
_START = dt.datetime(2022, 2, 1)  # created_at and date columns fall in the three years from here


# ----------------------------------------------------------------------------- structure


def _parse_entities(dom: dict) -> dict[str, tuple[str, list[str]]]:
    """`table: singular | parent, @harbor_table` lines -> {table: (singular, parents)}."""
    parsed = {}
    for line in dom["entities"]:
        head, _, parents = line.partition("|")
        table, _, singular = head.partition(":")
        parsed[table.strip()] = (singular.strip(), [p.strip() for p in parents.split(",") if p.strip()])
    return parsed


def _parents_first(parsed: dict[str, tuple[str, list[str]]], prefix: str) -> list[str]:
    """The domain's tables in an order where every local parent comes before its children."""
    done: list[str] = []
    while len(done) < len(parsed):
        progressed = False
        for table, (_, parents) in parsed.items():
            local = [p for p in parents if not p.startswith("@")]
            if table not in done and all(p in done for p in local):
                done.append(table)
                progressed = True
        if not progressed:
            raise InputError("cycle in entity parents", source=f"large_domains.yaml:{prefix}")
    return done


def _table_pair(prefix: str, dom: dict, parsed: dict, table: str) -> tuple[DomainTable, DomainTable]:
    """An entity table and its `_history` audit table."""
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
    entity = DomainTable(name=f"{prefix}_{table}", singular=singular, plural=plural, pk=f"{slug}_id",
                         name_column=f"{slug}_name", parents=tuple(refs), extra=extra, **common)
    history = DomainTable(name=f"{prefix}_{table}_history", singular=f"{singular} change",
                          plural=f"{singular} changes", pk="history_id", name_column="field_name",
                          parents=((f"{slug}_id", f"{prefix}_{table}", f"{slug}_id"),
                                   ("changed_by_employee_id", "employees", "employee_id")),
                          extra=(), history_of=f"{prefix}_{table}", **common)
    return entity, history


def large_domain_tables() -> list[DomainTable]:
    """The domain tables of the large fixture, parents before children, from large_domains.yaml.

    The structure depends only on the spec (column picks are hashed from table names), never on the seed.
    """
    spec = load_spec("large_domains.yaml")
    out: list[DomainTable] = []
    for prefix, dom in spec["domains"].items():
        parsed = _parse_entities(dom)
        for table in _parents_first(parsed, prefix):
            out.extend(_table_pair(prefix, dom, parsed, table))
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


# ----------------------------------------------------------------------------- rows


def _extra_value(rng: np.random.Generator, kind: str):
    """One value of an extra column; `kind` is money, date, bool, code:a|b|c, int:lo:hi or num:lo:hi."""
    base, _, arg = kind.partition(":")
    if base == "money":
        return round(float(rng.uniform(10, 50000)), 2)
    if base == "date":
        return (_START + dt.timedelta(days=int(rng.integers(0, 1095)))).date()
    if base == "bool":
        return bool(rng.random() < 0.5)
    if base == "code":
        return str(rng.choice(arg.split("|")))
    a, b = (float(x) for x in arg.split(":"))
    return int(rng.integers(a, b + 1)) if base == "int" else round(float(rng.uniform(a, b)), 2)


def _domain_row(rng: np.random.Generator, t: DomainTable, i: int, title: str, ref_pools: list[list]) -> tuple:
    """Row `i` of `t`: created time, parent references, then the history change or the entity columns."""
    created = _START + dt.timedelta(minutes=int(rng.integers(0, 3 * 365 * 24 * 60)))
    refs = [int(pool[int(rng.integers(len(pool)))]) for pool in ref_pools]
    if t.history_of:
        old, new = rng.choice(t.statuses, 2, replace=False)
        return (i, *refs, created, "status", None if rng.random() < 0.2 else str(old), str(new))
    values = [_extra_value(rng, kind) for _, kind, _ in t.extra]
    status = str(t.statuses[int(rng.integers(len(t.statuses)))]) if i > 1 else t.statuses[0]
    return (i, f"{title} {i:03d}", *refs, *values, status, created)


def build_large_domains(con, seed: int, report: Progress) -> None:
    """Create and fill the domain tables on `con`, after the Harbor tables they reference."""
    spec = load_spec("large_domains.yaml")
    rng = np.random.default_rng([seed, 1])
    tables = large_domain_tables()
    con.execute("".join(_domain_ddl(t) for t in tables))
    n_rows: dict[str, int] = {}
    harbor_ids = {name: [r[0] for r in con.execute(f"SELECT {pk} FROM {name} ORDER BY {pk} LIMIT 60").fetchall()]
                  for name, pk in _HARBOR_PK.items()}
    for t in tables:
        lo, hi = spec["history_rows_per_table" if t.history_of else "rows_per_table"]
        k = int(rng.integers(lo, hi + 1))
        n_rows[t.name] = k
        title = t.singular.title() if t.singular.islower() else t.singular
        ref_pools = [harbor_ids.get(rt) or list(range(1, n_rows[rt] + 1)) for _, rt, _ in t.parents]
        rows = [_domain_row(rng, t, i, title, ref_pools) for i in range(1, k + 1)]
        row_sql = "(" + ", ".join(["?"] * len(rows[0])) + ")"
        con.execute(f"INSERT INTO {t.name} VALUES " + ", ".join([row_sql] * len(rows)), [v for r in rows for v in r])
    report(f"large: {len(tables)} domain tables, {sum(n_rows.values())} rows")
