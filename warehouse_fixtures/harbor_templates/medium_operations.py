"""Medium templates over the operational tables and the calendar traps: sessions, staff, suppliers,
holidays, weekends, calendar vs fiscal quarters, payments, prices, purchase orders, guests."""

from __future__ import annotations

from warehouse_fixtures.corpus import Template
from warehouse_fixtures.harbor_templates.medium_sales import SALES_CAT
from warehouse_fixtures.harbor_templates.slots import (QUARTER_WORD, fq_slots, fy_slots, long_date, merge, month_slots, one,
                                                     pick)


def calendar_and_staff_templates() -> list[Template]:
    """Sessions, current staff, supplier volumes, store visitors, and the calendar traps (holidays, weekends, calendar vs fiscal quarters, fiscal month ranges)."""
    T = Template
    return [
        T("session_conversion", "medium", ("null_handling", "aggregation", "filter"), [
            "What share of {device} sessions from {source} traffic converted into an order?",
            "Conversion rate of {source} visits on {device}?",
            "What fraction of {device} web sessions coming from {source} led to an order?",
            "For {source} traffic on {device} devices, what proportion of sessions converted?",
            "Compute the conversion rate (sessions with an order / all sessions) for {device} and {source}.",
            "How often did {device} visits from {source} end in a purchase, as a ratio?",
            "Share of converting sessions among {source} sessions on {device}?",
        ], "SELECT COUNT(converted_order_id) * 1.0 / COUNT(*) FROM web_sessions WHERE device_type = '{device}' AND traffic_source = '{source}'",
            merge(one("device", "devices"), one("source", "sources"))),
        T("current_staff_store", "medium", ("join", "null_handling", "aggregation"), [
            "How many current employees work at {store}?",
            "Count the active staff at {store}.",
            "How many people currently work in the {store} store (not terminated)?",
            "Number of employees at {store} who have not left?",
            "What is the current headcount of {store}?",
            "How many employees with no termination date are assigned to {store}?",
            "Current staff count for {store}?",
        ], """SELECT COUNT(*) FROM employees e JOIN stores st ON e.store_id = st.store_id
WHERE st.store_name = '{store}' AND e.termination_date IS NULL""", one("store", "stores")),
        T("supplier_units_fiscal", "medium", ("join", "fiscal_date", "aggregation"), [
            "How many units did Harbor order from {supplier} in fiscal {fy}?",
            "Total quantity ordered from {supplier} on purchase orders placed in FY{fy}?",
            "Sum of units on {supplier} purchase orders in fiscal year {fy}.",
            "How many units were ordered from {supplier} during FY{fy}?",
            "In fiscal {fy}, what quantity did we order from {supplier}?",
            "Units purchased (ordered) from {supplier} in fiscal year {fy}?",
            "Give me the FY{fy} ordered quantity for supplier {supplier}.",
        ], """SELECT SUM(pol.quantity_ordered) FROM purchase_order_lines pol
JOIN purchase_orders po ON pol.purchase_order_id = po.purchase_order_id JOIN suppliers su ON po.supplier_id = su.supplier_id
JOIN dim_date d ON po.order_date_key = d.date_key WHERE su.supplier_name = '{supplier}' AND d.fiscal_year = {fy}""",
            merge(one("supplier", "suppliers"), fy_slots)),
        T("store_visitors_month", "medium", ("join", "calendar_date", "aggregation"), [
            "What was the total visitor count at {store} in {month_name} {year}?",
            "How many visitors came into {store} during {month_name} {year}?",
            "Total footfall at {store} for {month_name} {year}?",
            "Sum of daily visitors at {store} in {month_name} {year}.",
            "In {month_name} {year}, how many people visited {store}?",
            "Store traffic for {store} in {month_name} {year}?",
            "How busy was {store} in {month_name} {year}, in total visitors?",
        ], """SELECT SUM(tf.visitor_count) FROM store_traffic tf JOIN stores st ON tf.store_id = st.store_id
JOIN dim_date d ON tf.traffic_date_key = d.date_key
WHERE st.store_name = '{store}' AND d.calendar_year = {year} AND d.calendar_month = {month}""",
            merge(one("store", "stores"), month_slots)),
        T("holiday_sales", "medium", ("join", "calendar_date", "aggregation"), [
            "What were net sales on {holiday} {year}?",
            "How much did we sell on {holiday} in {year}?",
            "Total net sales for {holiday}, {year}?",
            "Net revenue on the {holiday} holiday of {year}?",
            "Sum of net sales on {holiday} in calendar year {year}.",
            "On {holiday} {year}, what was the net sales total?",
            "Give me {year} {holiday} net sales.",
        ], """SELECT SUM(s.net_amount) FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key
WHERE d.holiday_name = '{holiday}' AND d.calendar_year = {year}""",
            lambda v, r: {"holiday": pick(r, v.holidays), "year": pick(r, v.calendar_years)}),
        T("weekend_sales_fiscal", "medium", ("join", "fiscal_date", "aggregation"), [
            "What were total net sales on {part}s in fiscal {fy}?",
            "How much did we sell on {part}s during FY{fy}?",
            "Net sales on {part} days for fiscal year {fy}?",
            "Sum net sales for {part} orders in fiscal {fy}.",
            "In FY{fy}, what was {part} net revenue?",
            "Give me {part} net sales for fiscal year {fy}.",
            "Fiscal {fy} net sales, {part}s only?",
        ], """SELECT SUM(s.net_amount) FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key
WHERE d.is_weekend = {weekend} AND d.fiscal_year = {fy}""",
            lambda v, r: (lambda w: {"part": "weekend" if w else "weekday", "weekend": "TRUE" if w else "FALSE",
                                     "fy": pick(r, v.fiscal_years)})(bool(r.integers(2)))),
        T("calendar_quarter_sales", "medium", ("join", "calendar_date", "aggregation"), [
            "What were total net sales in calendar Q{q} {year}?",
            "Net sales for the calendar quarter Q{q} of {year}?",
            "How much did we sell in Q{q} {year} (calendar quarter, not fiscal)?",
            "Sum net sales for calendar year {year}, quarter {q}.",
            "Total revenue in the {q_word} calendar quarter of {year}?",
            "In calendar Q{q} of {year}, what were net sales?",
            "Calendar {year} Q{q} net sales?",
        ], """SELECT SUM(s.net_amount) FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key
WHERE d.calendar_year = {year} AND d.calendar_quarter = {q}""",
            lambda v, r: (lambda q: {"q": q, "q_word": QUARTER_WORD[q], "year": pick(r, v.calendar_years)})(int(r.integers(1, 5)))),
        T("fiscal_quarter_sales", "medium", ("join", "fiscal_date", "aggregation"), [
            "What were net sales in the {fq_word} fiscal quarter of FY{fy}?",
            "Net sales for fiscal Q{fq} of {fy}?",
            "How much did we sell in FY{fy} Q{fq}?",
            "Total net sales in fiscal year {fy}, quarter {fq}.",
            "Sum of net sales for Q{fq} of fiscal {fy}.",
            "In fiscal quarter {fq} of FY{fy}, what were net sales?",
            "FY{fy} fiscal Q{fq}: net revenue?",
        ], """SELECT SUM(s.net_amount) FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key
WHERE d.fiscal_year = {fy} AND d.fiscal_quarter = {fq}""", fq_slots, n_train=10, n_test=4),
        T("fiscal_month_range_orders", "medium", ("join", "fiscal_date", "date_range", "aggregation"), [
            "How many orders were placed between fiscal months {m1} and {m2} of FY{fy}, inclusive?",
            "Count orders from fiscal month {m1} through fiscal month {m2} of fiscal {fy}.",
            "Number of orders in FY{fy} fiscal periods {m1} to {m2} (inclusive)?",
            "How many orders fell in fiscal months {m1}-{m2} of fiscal year {fy}?",
            "Orders placed during fiscal months {m1} to {m2} of {fy}, inclusive?",
            "In fiscal {fy}, how many orders came in from period {m1} up to and including period {m2}?",
            "Give me the order count for fiscal months {m1} through {m2}, FY{fy}.",
        ], """SELECT COUNT(*) FROM orders o JOIN dim_date d ON o.order_date_key = d.date_key
WHERE d.fiscal_year = {fy} AND d.fiscal_month BETWEEN {m1} AND {m2}""",
            lambda v, r: (lambda a, b: {"m1": min(a, b), "m2": max(a, b) + (a == b), "fy": pick(r, v.fiscal_years)})(
                int(r.integers(1, 12)), int(r.integers(1, 12)))),
        T("first_half_fiscal_category", "medium", ("join", "fiscal_date", "aggregation"), [
            "What were {cat} net sales in the first half of fiscal {fy}?",
            "Net sales of {cat} in H1 of FY{fy} (fiscal quarters 1 and 2)?",
            "How much did {cat} sell during the first two fiscal quarters of {fy}?",
            "Sum of {cat} net sales for the first fiscal half-year of FY{fy}.",
            "Total {cat} revenue over fiscal Q1 and Q2 of {fy}?",
            "First-half FY{fy} net sales for the {cat} category?",
            "In the first half of fiscal year {fy}, what did {cat} bring in?",
        ], SALES_CAT + " WHERE c.category_name = '{cat}' AND d.fiscal_year = {fy} AND d.fiscal_quarter IN (1, 2)",
            merge(one("cat", "categories"), fy_slots)),
    ]


def operations_templates() -> list[Template]:
    """Payments, cancellations, headcount, margins, promotions and price history, purchase orders, lost shipments, anonymous sessions, stock by category, guest sales."""
    T = Template
    return [
        T("payment_channel_orders", "medium", ("join", "aggregation"), [
            "How many {channel} orders were paid with {payment}?",
            "Count orders on the {channel} channel paid by {payment}.",
            "Number of {channel} orders with payment method {payment}?",
            "How many orders placed via {channel} used {payment}?",
            "{payment} payments on {channel} orders: how many orders?",
            "How often was {payment} used to pay for {channel} orders?",
            "What's the count of {channel} orders settled with {payment}?",
        ], """SELECT COUNT(*) FROM orders o JOIN channels ch ON o.channel_id = ch.channel_id
JOIN payment_methods pm ON o.payment_method_id = pm.payment_method_id
WHERE ch.channel_name = '{channel}' AND pm.method_name = '{payment}'""",
            merge(one("channel", "channels"), one("payment", "payment_methods"))),
        T("cancelled_orders_month", "medium", ("join", "calendar_date", "aggregation", "filter"), [
            "How many orders were cancelled in {month_name} {year}?",
            "Count the cancelled orders placed in {month_name} {year}.",
            "Number of orders with status cancelled from {month_name} {year}?",
            "How many {month_name} {year} orders ended up cancelled?",
            "In {month_name} {year}, how many orders were cancelled?",
            "Cancelled order count for {month_name} {year}?",
            "What number of orders placed during {month_name} {year} have status 'cancelled'?",
        ], """SELECT COUNT(*) FROM orders o JOIN dim_date d ON o.order_date_key = d.date_key
WHERE o.order_status = 'cancelled' AND d.calendar_year = {year} AND d.calendar_month = {month}""", month_slots),
        T("warehouse_headcount", "medium", ("join", "aggregation"), [
            "How many employees work at {warehouse}?",
            "Count the staff assigned to {warehouse}.",
            "What is the headcount (current and former) of {warehouse}?",
            "Number of employees whose warehouse is {warehouse}?",
            "How many people are on the {warehouse} staff list?",
            "Employees at {warehouse}: how many?",
            "How many workers belong to {warehouse}?",
        ], """SELECT COUNT(*) FROM employees e JOIN warehouses w ON e.warehouse_id = w.warehouse_id
WHERE w.warehouse_name = '{warehouse}'""", one("warehouse", "warehouses")),
        T("dept_margin_fiscal", "medium", ("join", "fiscal_date", "aggregation"), [
            "What was the gross margin (net sales minus product cost) of {dept} in FY{fy}?",
            "Compute {dept} gross profit for fiscal {fy}: net amount minus quantity times unit cost.",
            "How much gross margin did the {dept} department make in fiscal year {fy}?",
            "Gross margin in dollars for {dept} sales during FY{fy}?",
            "In fiscal {fy}, what was {dept}'s net sales less cost of goods?",
            "{dept} department, FY{fy}: gross margin?",
            "Give the fiscal {fy} gross profit of {dept} (net sales minus unit cost times quantity).",
        ], """SELECT SUM(s.net_amount - s.quantity * p.unit_cost) FROM sales s JOIN products p ON s.product_id = p.product_id
JOIN product_categories c ON p.category_id = c.category_id JOIN departments dp ON c.department_id = dp.department_id
JOIN dim_date d ON s.order_date_key = d.date_key WHERE dp.department_name = '{dept}' AND d.fiscal_year = {fy}""",
            merge(one("dept", "departments"), fy_slots)),
        T("promotions_running_on", "medium", ("calendar_date", "filter"), [
            "Which promotions were running on {d1_long}?",
            "List the promotions active on {d1}.",
            "What promotions were live on {d1_long} (start and end days inclusive)?",
            "Show promotions whose period includes {d1}.",
            "Which promos covered the date {d1_long}?",
            "Find promotions in effect on {d1}.",
            "Promotions running on {d1}?",
        ], "SELECT promotion_name FROM promotions WHERE start_date_key <= {k1} AND end_date_key >= {k1}",
            lambda v, r: (lambda day: {"d1": day.isoformat(), "d1_long": long_date(day), "k1": int(day.strftime("%Y%m%d"))})(
                pick(r, v.days))),
        T("price_changes_fiscal_quarter", "medium", ("join", "fiscal_date", "aggregation"), [
            "How many price changes took effect in fiscal Q{fq} of FY{fy}?",
            "Count list price changes effective during FY{fy} Q{fq}.",
            "Number of price changes in the {fq_word} fiscal quarter of {fy}?",
            "How many times were list prices changed in fiscal {fy}, quarter {fq}?",
            "In Q{fq} of fiscal year {fy}, how many price changes became effective?",
            "Price change count for FY{fy} fiscal Q{fq}?",
            "How many product price updates happened in fiscal quarter {fq} of {fy}?",
        ], """SELECT COUNT(*) FROM price_changes pc JOIN dim_date d ON pc.effective_date_key = d.date_key
WHERE d.fiscal_year = {fy} AND d.fiscal_quarter = {fq}""", fq_slots, n_train=10, n_test=4),
        T("price_increases_dept_year", "medium", ("join", "calendar_date", "aggregation", "filter"), [
            "How many price increases were there for {dept} products in calendar {year}?",
            "Count price changes that raised the price of {dept} products during {year}.",
            "Number of {dept} price hikes effective in {year}?",
            "How many times did a {dept} product's price go up in {year}?",
            "In calendar year {year}, how many {dept} price changes were increases?",
            "Price increases for the {dept} department in {year}: how many?",
            "How many {dept} price changes in {year} had a new price above the old price?",
        ], """SELECT COUNT(*) FROM price_changes pc JOIN products p ON pc.product_id = p.product_id
JOIN product_categories c ON p.category_id = c.category_id JOIN departments dp ON c.department_id = dp.department_id
JOIN dim_date d ON pc.effective_date_key = d.date_key
WHERE dp.department_name = '{dept}' AND d.calendar_year = {year} AND pc.new_price > pc.old_price""",
            lambda v, r: {"dept": pick(r, v.departments), "year": pick(r, v.calendar_years)}),
        T("late_purchase_orders", "medium", ("join", "multi_date_key", "aggregation"), [
            "How many purchase orders from {supplier} arrived after their expected date?",
            "Count {supplier} purchase orders received later than promised.",
            "How many times did {supplier} deliver a purchase order late?",
            "Number of late-arriving purchase orders for {supplier}?",
            "For {supplier}, how many purchase orders had a received date after the expected date?",
            "How many {supplier} POs were received past their expected delivery day?",
            "Late purchase orders from supplier {supplier}: how many?",
        ], """SELECT COUNT(*) FROM purchase_orders po JOIN suppliers su ON po.supplier_id = su.supplier_id
WHERE su.supplier_name = '{supplier}' AND po.received_date_key > po.expected_date_key""", one("supplier", "suppliers")),
        T("lost_shipments_carrier", "medium", ("join", "fiscal_date", "aggregation", "filter"), [
            "How many {carrier} shipments shipped in FY{fy} were lost?",
            "Count lost {carrier} parcels with a ship date in fiscal {fy}.",
            "Number of shipments lost by {carrier} among those shipped during fiscal year {fy}?",
            "In fiscal {fy}, how many {carrier} shipments ended up lost?",
            "Lost shipment count for {carrier}, shipped in FY{fy}?",
            "How many parcels did {carrier} lose that were shipped in fiscal {fy}?",
            "{carrier}: lost shipments shipped during FY{fy}?",
        ], """SELECT COUNT(*) FROM shipments sh JOIN carriers ca ON sh.carrier_id = ca.carrier_id
JOIN dim_date d ON sh.ship_date_key = d.date_key
WHERE ca.carrier_name = '{carrier}' AND sh.shipment_status = 'lost' AND d.fiscal_year = {fy}""",
            merge(one("carrier", "carriers"), fy_slots)),
        T("anonymous_sessions_month", "medium", ("join", "null_handling", "calendar_date", "aggregation"), [
            "How many anonymous {channel} sessions were there in {month_name} {year}?",
            "Count {channel} visits without a logged-in customer during {month_name} {year}.",
            "Number of {channel} sessions with no customer in {month_name} {year}?",
            "How many {month_name} {year} sessions on {channel} were by anonymous visitors?",
            "In {month_name} {year}, how many {channel} sessions had no customer id?",
            "Anonymous session count on {channel}, {month_name} {year}?",
            "How many not-logged-in visits did {channel} get in {month_name} {year}?",
        ], """SELECT COUNT(*) FROM web_sessions ws JOIN channels ch ON ws.channel_id = ch.channel_id
JOIN dim_date d ON ws.session_date_key = d.date_key
WHERE ch.channel_name = '{channel}' AND ws.customer_id IS NULL AND d.calendar_year = {year} AND d.calendar_month = {month}""",
            merge(one("channel", "online_channels"), month_slots)),
        T("category_stock_snapshot", "medium", ("join", "calendar_date", "aggregation", "snapshot"), [
            "What was the total stock on hand for {cat} products across all warehouses on {d1_long}?",
            "How many {cat} units were on hand in all warehouses at the {d1} snapshot?",
            "Total on-hand units of {cat} on {d1_long}?",
            "Sum of quantity on hand for the {cat} category in the {d1} snapshot.",
            "Across warehouses, how much {cat} stock was there on {d1_long}?",
            "{cat} inventory on hand as of {d1}?",
            "On {d1_long}, what was the warehouse stock of {cat} items in units?",
        ], """SELECT SUM(i.quantity_on_hand) FROM inventory_snapshots i JOIN products p ON i.product_id = p.product_id
JOIN product_categories c ON p.category_id = c.category_id JOIN dim_date d ON i.snapshot_date_key = d.date_key
WHERE c.category_name = '{cat}' AND d.full_date = DATE '{d1}'""",
            lambda v, r: (lambda day: {"cat": pick(r, v.categories), "d1": day.isoformat(), "d1_long": long_date(day)})(
                pick(r, v.snapshot_dates))),
        T("guest_lines_channel", "medium", ("join", "null_handling", "fiscal_date", "aggregation"), [
            "How many order lines on the {channel} channel were sold to guests (no customer) in FY{fy}?",
            "Count guest sales lines (customer unknown) for {channel} orders in fiscal {fy}.",
            "Number of {channel} sales lines without a customer in fiscal year {fy}?",
            "In FY{fy}, how many {channel} order lines had no customer id?",
            "How many sales lines from {channel} in fiscal {fy} belong to guest checkouts?",
            "Guest order lines on {channel} during FY{fy}: how many?",
            "What number of FY{fy} {channel} lines have a NULL customer?",
        ], """SELECT COUNT(*) FROM sales s JOIN orders o ON s.order_id = o.order_id JOIN channels ch ON o.channel_id = ch.channel_id
JOIN dim_date d ON s.order_date_key = d.date_key
WHERE ch.channel_name = '{channel}' AND s.customer_id IS NULL AND d.fiscal_year = {fy}""",
            merge(one("channel", "channels"), fy_slots)),
    ]
