"""Harbor's fact tables, one function per table group, in the order `harbor.build_harbor` runs them.

Like the dimension sections (`harbor_dims`), each takes the build and the earlier sections'
results explicitly and returns only what later sections read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from warehouse_fixtures.harbor_dims import (Calendar, Customers, Employees, Geography, HarborBuild, Merchandise,
                                          Products, Promotions, Stores)
from warehouse_fixtures.writer import masked, round_money


@dataclass(frozen=True)
class Orders:
    count: int
    ids: np.ndarray
    day: np.ndarray  # day index, sorted
    channel: np.ndarray
    instore: np.ndarray
    store: np.ndarray  # 0 for orders not placed in a store
    customer: np.ndarray  # drawn for every order; NULL in the table where `guest`
    guest: np.ndarray
    cancelled: np.ndarray


@dataclass(frozen=True)
class SalesLines:
    count: int
    ids: np.ndarray
    order_idx: np.ndarray  # index into the orders arrays
    day: np.ndarray
    quantity: np.ndarray
    net: np.ndarray


def _stores_open_on(b: HarborBuild, st: Stores, or_day: np.ndarray, todo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A store open on the order day for each in-store order in `todo`; returns (store ids, left over)."""
    or_store = np.zeros(or_day.size, dtype=np.int64)
    for _ in range(50):
        if todo.size == 0:
            break
        cand = b.rng.integers(1, st.count + 1, todo.size)
        ok = (st.open_from[cand - 1] <= or_day[todo]) & (st.open_until[cand - 1] >= or_day[todo])
        or_store[todo[ok]] = cand[ok]
        todo = todo[~ok]
    return or_store, todo


def orders(b: HarborBuild, cal: Calendar, st: Stores, cu: Customers, em: Employees) -> Orders:
    """orders: in-store ones at a store open that day and rung up by its staff, the rest online."""
    rng, days, spec = b.rng, b.days, b.spec
    channels, pay = spec["channels"], spec["payment_methods"]
    n_or = b.counts["orders"]
    or_day = np.sort(rng.choice(days.n, n_or, p=cal.day_weight))
    or_channel = rng.choice(np.arange(1, len(channels) + 1), n_or, p=[c[2] for c in channels])
    instore = or_channel == 1
    or_store, todo = _stores_open_on(b, st, or_day, np.flatnonzero(instore))
    instore[todo] = False  # no store open (cannot happen with realistic specs): treat as web order
    or_channel[todo] = 2
    guest = rng.random(n_or) < np.where(instore, 0.3, b.nulls["guest_order"])
    or_customer = rng.integers(1, cu.count + 1, n_or)
    or_employee = np.zeros(n_or, dtype=np.int64)
    for s in range(1, st.count + 1):
        mask = or_store == s
        staff = np.flatnonzero(em.store == s) + 1
        or_employee[mask] = rng.choice(staff, int(mask.sum()))
    cash = pay.index("Cash") + 1
    online_pay = np.array([i + 1 for i in range(len(pay)) if i + 1 != cash])
    or_pay = np.where(instore, rng.integers(1, len(pay) + 1, n_or), rng.choice(online_pay, n_or))
    cancelled = rng.random(n_or) < 0.03
    fee = rng.choice([0.0, 4.99, 7.99, 12.99], n_or, p=[0.4, 0.3, 0.2, 0.1])
    or_ids = np.arange(100001, 100001 + n_or)
    b.insert("orders", {
        "order_id": or_ids,
        "order_date_key": days.key(or_day),
        "customer_id": masked(or_customer, guest),
        "channel_id": or_channel,
        "store_id": masked(or_store, ~instore),
        "payment_method_id": or_pay,
        "employee_id": masked(or_employee, ~instore),
        "order_status": np.where(cancelled, "cancelled", "completed"),
        "shipping_fee": masked(fee, instore),
    })
    return Orders(count=n_or, ids=or_ids, day=or_day, channel=or_channel, instore=instore, store=or_store,
                  customer=or_customer, guest=guest, cancelled=cancelled)


def _line_products(b: HarborBuild, pr: Products, s_day: np.ndarray) -> np.ndarray:
    """Products by popularity, redrawn until each is on sale on its line's day."""
    rng, days = b.rng, b.days
    n_pr = pr.count
    popularity = rng.pareto(1.2, n_pr) + 0.05
    popularity /= popularity.sum()
    s_product = rng.choice(np.arange(1, n_pr + 1), s_day.size, p=popularity)
    always = np.flatnonzero((pr.live_from <= 0) & (pr.live_until >= days.n - 1)) + 1
    for _ in range(10):
        bad = np.flatnonzero((pr.live_from[s_product - 1] > s_day) | (pr.live_until[s_product - 1] < s_day))
        if bad.size == 0:
            break
        s_product[bad] = rng.choice(np.arange(1, n_pr + 1), bad.size, p=popularity)
    bad = np.flatnonzero((pr.live_from[s_product - 1] > s_day) | (pr.live_until[s_product - 1] < s_day))
    s_product[bad] = rng.choice(always, bad.size)
    return s_product


def _price_on_day(pr: Products, s_product: np.ndarray, s_day: np.ndarray) -> np.ndarray:
    """The price in effect on the order day, from the price history."""
    change_key = pr.change_product.astype(np.int64) * 10_000 + pr.change_day
    sale_key = s_product.astype(np.int64) * 10_000 + s_day
    pos = np.searchsorted(change_key, sale_key, side="right") - 1
    has_change = (pos >= 0) & (pr.change_product[np.maximum(pos, 0)] == s_product)
    return np.where(has_change, pr.change_new[np.maximum(pos, 0)], pr.start_price[s_product - 1])


def _promotion_discounts(b: HarborBuild, pm: Promotions, s_day, s_qty, s_price) -> tuple[np.ndarray, np.ndarray]:
    """(promotion id or 0, discount amount) per line; a line gets at most one running promotion."""
    n_sa = s_day.size
    s_promo = np.zeros(n_sa, dtype=np.int64)
    for p in range(pm.count):
        active = (s_day >= pm.start[p]) & (s_day <= pm.end[p]) & (s_promo == 0) & (b.rng.random(n_sa) < 0.35)
        if pm.type[p] == "bogo":
            active &= s_qty >= 2
        s_promo[active] = p + 1
    gross = s_qty * s_price
    pidx = np.maximum(s_promo - 1, 0)
    ptype = pm.type[pidx]
    s_discount = np.where(s_promo == 0, 0.0,
                          np.where(ptype == "bogo", s_price * (s_qty // 2),
                                   np.where(ptype == "bundle", np.minimum(5.0, gross * 0.5), gross * pm.pct[pidx] / 100)))
    return s_promo, round_money(s_discount)


def sales_lines(b: HarborBuild, od: Orders, pr: Products, pm: Promotions) -> SalesLines:
    """sales: one to six lines per order, priced from the price history, discounted by promotions."""
    rng, days = b.rng, b.days
    lines_per_order = np.minimum(rng.geometric(0.45, od.count), 6)
    s_order_idx = np.repeat(np.arange(od.count), lines_per_order)
    n_sa = s_order_idx.size
    s_line = np.concatenate([np.arange(1, k + 1) for k in lines_per_order])
    s_day = od.day[s_order_idx]
    s_product = _line_products(b, pr, s_day)
    s_price = _price_on_day(pr, s_product, s_day)
    s_qty = rng.choice([1, 2, 3, 4, 5, 6], n_sa, p=[0.55, 0.22, 0.1, 0.06, 0.04, 0.03])
    s_promo, s_discount = _promotion_discounts(b, pm, s_day, s_qty, s_price)
    s_net = round_money(s_qty * s_price - s_discount)
    s_ids = np.arange(1, n_sa + 1)
    b.insert("sales", {
        "sales_line_id": s_ids,
        "order_id": od.ids[s_order_idx],
        "line_number": s_line,
        "order_date_key": days.key(s_day),
        "customer_id": masked(od.customer[s_order_idx], od.guest[s_order_idx]),
        "store_id": masked(od.store[s_order_idx], ~od.instore[s_order_idx]),
        "product_id": s_product,
        "promotion_id": masked(s_promo, s_promo == 0),
        "quantity": s_qty,
        "unit_price": round_money(s_price),
        "discount_amount": s_discount,
        "net_amount": s_net,
    })
    return SalesLines(count=n_sa, ids=s_ids, order_idx=s_order_idx, day=s_day, quantity=s_qty, net=s_net)


def shipments(b: HarborBuild, od: Orders, geo: Geography, cu: Customers, n_wh: int) -> None:
    """shipments for completed online orders (some split in two); lost and in-transit ones undelivered."""
    rng, days = b.rng, b.days
    carriers = b.spec["carriers"]
    ship_orders = np.flatnonzero(~od.instore & ~od.cancelled)
    parts = np.where(rng.random(ship_orders.size) < 0.1, 2, 1)
    sh_order = np.repeat(ship_orders, parts)
    n_sh = sh_order.size
    carrier_active = np.array([bool(c[2]) for c in carriers])
    carrier_speed = np.array([{"ground": 4, "express": 2, "freight": 7}[c[1]] for c in carriers])
    sh_carrier = rng.integers(1, len(carriers) + 1, n_sh)
    inactive = ~carrier_active[sh_carrier - 1] & (od.day[sh_order] > days.n // 3)
    sh_carrier[inactive] = 1
    sh_day = od.day[sh_order] + rng.choice([0, 1, 2, 3], n_sh, p=[0.3, 0.45, 0.2, 0.05])
    sh_day = np.minimum(sh_day, days.n - 1)
    transit = carrier_speed[sh_carrier - 1] + rng.integers(-1, 4, n_sh)
    del_day = sh_day + np.maximum(transit, 1)
    lost = rng.random(n_sh) < 0.01
    in_transit = del_day >= days.n
    status = np.where(lost, "lost", np.where(in_transit, "in_transit", "delivered"))
    dest = np.where(od.guest[sh_order], rng.integers(1, len(geo.region_names) + 1, n_sh),
                    cu.region[od.customer[sh_order] - 1])
    pkgs = rng.choice([1, 2, 3], n_sh, p=[0.75, 0.2, 0.05])
    base_cost = np.array([{"ground": 6.5, "express": 14.0, "freight": 38.0}[c[1]] for c in carriers])
    b.insert("shipments", {
        "shipment_id": np.arange(500001, 500001 + n_sh),
        "order_id": od.ids[sh_order],
        "warehouse_id": rng.integers(1, n_wh + 1, n_sh),
        "carrier_id": sh_carrier,
        "ship_date_key": days.key(sh_day),
        "delivery_date_key": masked(days.key(del_day), lost | in_transit),
        "destination_region_id": dest,
        "package_count": pkgs,
        "shipping_cost": round_money(base_cost[sh_carrier - 1] * pkgs * rng.uniform(0.8, 1.4, n_sh)),
        "shipment_status": status,
    })


def returns(b: HarborBuild, od: Orders, sl: SalesLines, st: Stores) -> None:
    """returns of sales lines within 60 days, mostly to the selling store, some by mail (NULL store)."""
    rng, days = b.rng, b.days
    reasons = b.spec["return_reasons"]
    returnable = np.flatnonzero(~od.cancelled[sl.order_idx] & (rng.random(sl.count) < 0.065))
    r_day = sl.day[returnable] + rng.integers(1, 60, returnable.size)
    inside = r_day < days.n
    returnable, r_day = returnable[inside], r_day[inside]
    n_re = returnable.size
    sold_in_store = od.store[sl.order_idx[returnable]]
    where = rng.random(n_re)
    other_store = rng.integers(1, st.count + 1, n_re)
    r_store = np.where(sold_in_store > 0,
                       np.where(where < 0.75, sold_in_store, np.where(where < 0.9, other_store, 0)),
                       np.where(where < 0.6, 0, other_store))
    open_idx = np.maximum(r_store, 1) - 1
    closed = (r_store > 0) & ((st.open_from[open_idx] > r_day) | (st.open_until[open_idx] < r_day))
    r_store[closed] = 0
    r_qty = np.array([rng.integers(1, q + 1) for q in sl.quantity[returnable]])
    r_reason = rng.choice(np.arange(1, len(reasons) + 1), n_re, p=[0.16, 0.08, 0.22, 0.16, 0.22, 0.08, 0.08])
    defect = np.array([bool(r[1]) for r in reasons])[r_reason - 1]
    b.insert("returns", {
        "return_id": np.arange(900001, 900001 + n_re),
        "sales_line_id": sl.ids[returnable],
        "return_date_key": days.key(r_day),
        "store_id": masked(r_store, r_store == 0),
        "return_reason_id": r_reason,
        "quantity_returned": r_qty,
        "refund_amount": round_money(sl.net[returnable] / sl.quantity[returnable] * r_qty),
        "restocked": ~defect & (rng.random(n_re) < 0.8),
    })


def inventory(b: HarborBuild, cal: Calendar, n_wh: int, pr: Products) -> None:
    """inventory_snapshots: last day of every calendar month, for products each warehouse stocks."""
    rng, days = b.rng, b.days
    month_ends = np.flatnonzero(np.diff(cal.month, append=-1) != 0)
    stocked = rng.random((n_wh, pr.count)) < 0.6
    wh_g, pr_g = np.nonzero(stocked)
    base_level = rng.integers(20, 400, wh_g.size)
    reorder = (base_level * rng.uniform(0.2, 0.4, wh_g.size)).astype(np.int64)
    cols = {k: [] for k in ("snapshot_date_key", "warehouse_id", "product_id", "quantity_on_hand", "quantity_reserved", "reorder_point")}
    for me in month_ends:
        live = (pr.live_from[pr_g] <= me) & (pr.live_until[pr_g] >= me)
        k = int(live.sum())
        on_hand = np.maximum((base_level[live] * rng.uniform(0.0, 1.6, k)).astype(np.int64), 0)
        cols["snapshot_date_key"].append(np.full(k, days.keys[me]))
        cols["warehouse_id"].append(wh_g[live] + 1)
        cols["product_id"].append(pr_g[live] + 1)
        cols["quantity_on_hand"].append(on_hand)
        cols["quantity_reserved"].append((on_hand * rng.uniform(0, 0.3, k)).astype(np.int64))
        cols["reorder_point"].append(reorder[live])
    b.insert("inventory_snapshots", {k: np.concatenate(v) for k, v in cols.items()})


def _purchase_order_headers(b: HarborBuild, n_su: int, n_wh: int, buyers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """purchase_orders, due after the supplier's lead time; returns (ids, supplier, status)."""
    rng, days = b.rng, b.days
    n_po = b.counts["purchase_orders"]
    po_supplier = rng.integers(1, n_su + 1, n_po)
    po_day = np.sort(rng.integers(0, days.n, n_po))
    lead = b.con.execute("SELECT lead_time_days FROM suppliers ORDER BY supplier_id").fetchnumpy()["lead_time_days"]
    exp_day = np.minimum(po_day + lead[po_supplier - 1], days.n - 1)
    rec_day = exp_day + rng.integers(-3, 8, n_po)
    po_cancel = rng.random(n_po) < 0.04
    po_open = ~po_cancel & (rec_day >= days.n)
    po_status = np.where(po_cancel, "cancelled", np.where(po_open, "open", "received"))
    rec_day = np.clip(rec_day, po_day, days.n - 1)
    po_buyer = np.where(rng.random(n_po) < 0.15, 0, rng.choice(buyers, n_po)) if buyers.size else np.zeros(n_po, dtype=np.int64)
    po_ids = np.arange(1, n_po + 1)
    b.insert("purchase_orders", {
        "purchase_order_id": po_ids,
        "supplier_id": po_supplier,
        "warehouse_id": rng.integers(1, n_wh + 1, n_po),
        "buyer_employee_id": masked(po_buyer, po_buyer == 0),
        "order_date_key": days.key(po_day),
        "expected_date_key": days.key(exp_day),
        "received_date_key": masked(days.key(rec_day), po_status != "received"),
        "po_status": po_status,
    })
    return po_ids, po_supplier, po_status


def purchase_orders(b: HarborBuild, merch: Merchandise, n_wh: int, em: Employees, pr: Products) -> None:
    """purchase_orders and their lines: products of the order's supplier, sometimes received short."""
    rng = b.rng
    n_pr = pr.count
    po_ids, po_supplier, po_status = _purchase_order_headers(b, merch.n_suppliers, n_wh, em.buyers)
    by_supplier = {s: np.flatnonzero(pr.supplier == s) + 1 for s in range(1, merch.n_suppliers + 1)}
    pol = {k: [] for k in ("purchase_order_id", "line_number", "product_id", "quantity_ordered")}
    for i in range(po_ids.size):
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
    pol_arr["quantity_received"] = masked(np.maximum(pol_arr["quantity_ordered"] - short, 0), ~received)
    pol_arr["unit_cost"] = round_money(pr.unit_cost[pol_arr["product_id"] - 1] * rng.uniform(0.92, 1.06, n_pl))
    b.insert("purchase_order_lines", pol_arr)


def web_sessions(b: HarborBuild, cal: Calendar, od: Orders, n_cu: int) -> None:
    """web_sessions: some convert into the web / app orders, the rest browse."""
    rng, days, spec = b.rng, b.days, b.spec
    n_ws = b.counts["web_sessions"]
    app_or_web = np.flatnonzero(np.isin(od.channel, [2, 3]) & (rng.random(od.count) < 0.7))[: n_ws // 3]
    n_conv = app_or_web.size
    n_browse = n_ws - n_conv
    ws_day = np.concatenate([od.day[app_or_web], rng.choice(days.n, n_browse, p=cal.day_weight)])
    ws_channel = np.concatenate([od.channel[app_or_web], rng.choice([2, 3], n_browse, p=[0.6, 0.4])])
    ws_customer = np.concatenate([od.customer[app_or_web], rng.integers(1, n_cu + 1, n_browse)])
    ws_anon = np.concatenate([od.guest[app_or_web], rng.random(n_browse) < b.nulls["web_anonymous"]])
    ws_conv = np.concatenate([od.ids[app_or_web], np.zeros(n_browse, dtype=np.int64)])
    order = np.argsort(ws_day, kind="stable")
    ws_day, ws_channel, ws_customer, ws_anon, ws_conv = (a[order] for a in (ws_day, ws_channel, ws_customer, ws_anon, ws_conv))
    device = np.where(ws_channel == 3, rng.choice(["mobile", "tablet"], n_ws, p=[0.8, 0.2]),
                      rng.choice(spec["device_types"], n_ws, p=[0.55, 0.35, 0.1]))
    pages = np.minimum(rng.geometric(0.15, n_ws), 60) + np.where(ws_conv > 0, 3, 0)
    b.insert("web_sessions", {
        "session_id": np.arange(7000001, 7000001 + n_ws),
        "session_date_key": days.key(ws_day),
        "customer_id": masked(ws_customer, ws_anon),
        "channel_id": ws_channel,
        "device_type": device,
        "traffic_source": rng.choice(spec["traffic_sources"], n_ws, p=[0.35, 0.2, 0.15, 0.12, 0.18]),
        "pages_viewed": pages,
        "duration_seconds": (pages * rng.uniform(15, 90, n_ws)).astype(np.int64),
        "converted_order_id": masked(ws_conv, ws_conv == 0),
    })


def store_traffic(b: HarborBuild, cal: Calendar, st: Stores) -> None:
    """store_traffic: every open store, every day, visitors following the day weight."""
    tf_store, tf_day = [], []
    for s in range(st.count):
        span = np.arange(max(st.open_from[s], 0), st.open_until[s] + 1)
        tf_store.append(np.full(span.size, s + 1))
        tf_day.append(span)
    tf_store, tf_day = np.concatenate(tf_store), np.concatenate(tf_day)
    size_factor = np.array([{"flagship": 2200, "mall": 900, "outlet": 1100, "express": 350}[t] for t in st.types])
    expected = size_factor[tf_store - 1] * cal.day_weight[tf_day] / cal.day_weight.mean()
    b.insert("store_traffic", {
        "store_id": tf_store,
        "traffic_date_key": b.days.key(tf_day),
        "visitor_count": b.rng.poisson(expected),
    })


def sales_targets(b: HarborBuild) -> None:
    """sales_targets: monthly per store and fiscal month, near the actual in-store net sales."""
    actual = b.con.execute(
        "SELECT s.store_id, d.fiscal_year, d.fiscal_month, SUM(s.net_amount) AS net "
        "FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key "
        "WHERE s.store_id IS NOT NULL GROUP BY ALL ORDER BY 1, 2, 3"
    ).fetchnumpy()
    k = actual["store_id"].size
    b.insert("sales_targets", {
        "store_id": actual["store_id"],
        "fiscal_year": actual["fiscal_year"],
        "fiscal_month": actual["fiscal_month"],
        "target_amount": np.round(np.asarray(actual["net"], dtype=float) * b.rng.uniform(0.85, 1.2, k), -2),
    })
