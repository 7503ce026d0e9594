"""The Harbor warehouse builder: DDL from ``specs/harbor.sql``, rows drawn from ``specs/harbor.yaml``.

Tables are filled in foreign-key order, one section per table group (`harbor_dims`, then
`harbor_facts`). Every draw comes from one generator seeded with `seed`, in a fixed order:
reordering sections, or draws inside one, changes the data (and so the corpus built from it:
rerun `sqltune fixture corpus`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from warehouse_fixtures import harbor_dims as dims
from warehouse_fixtures import harbor_facts as facts
from warehouse_fixtures.fiscal_calendar import Days
from warehouse_fixtures.writer import Progress, load_spec, run_ddl


def build_harbor(con, seed: int, report: Progress) -> None:
    """Create and fill the Harbor tables on `con` (inside the caller's transaction)."""
    spec = load_spec("harbor.yaml")
    rng = np.random.default_rng(seed)
    run_ddl(con, "harbor.sql")
    cal = spec["calendar"]
    days = Days(dt.date.fromisoformat(str(cal["start_date"])), dt.date.fromisoformat(str(cal["end_date"])))
    b = dims.HarborBuild(con=con, rng=rng, spec=spec, report=report, days=days)

    calendar = dims.dim_date(b)
    geo = dims.geography(b)
    stores = dims.stores(b, geo)
    n_wh = dims.warehouses(b, geo)
    merch = dims.merchandise(b)
    products = dims.products(b, merch)
    customers = dims.customers(b, geo)
    employees = dims.employees(b, stores, n_wh)
    promotions = dims.promotions(b)
    dims.lookups(b)

    orders = facts.orders(b, calendar, stores, customers, employees)
    lines = facts.sales_lines(b, orders, products, promotions)
    facts.shipments(b, orders, geo, customers, n_wh)
    facts.returns(b, orders, lines, stores)
    facts.inventory(b, calendar, n_wh, products)
    facts.purchase_orders(b, merch, n_wh, employees, products)
    facts.web_sessions(b, calendar, orders, customers.count)
    facts.store_traffic(b, calendar, stores)
    facts.sales_targets(b)
