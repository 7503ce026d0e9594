"""Question templates of the Harbor corpus and the large-schema question set.

Canonical SQL style (the model learns it): uppercase keywords, explicit `JOIN ... ON`, one fixed alias
per table (sales s, orders o, returns r, shipments sh, inventory_snapshots i, purchase_orders po,
purchase_order_lines pol, web_sessions ws, store_traffic tf, sales_targets tg, price_changes pc,
dim_date d, products p, product_categories c, departments dp, brands b, suppliers su, customers cu,
regions rg, stores st, warehouses w, employees e, promotions pr, carriers ca, channels ch,
payment_methods pm, return_reasons rr, loyalty_tiers lt), no alias on single-table queries, date
filters through dim_date (`d.full_date`, `d.fiscal_*`, `d.calendar_*`), derived tables named `sub`.
The last `test_paraphrases` questions of each template are reserved for the test split.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from sqltune.corpus import CorpusPair, Template, WarehouseValues, canonical_sql, _is_informative

pick = WarehouseValues.pick
QUARTER_WORD = {1: "first", 2: "second", 3: "third", 4: "fourth"}


def _long(day: dt.date) -> str:
    return f"{day.strftime('%B')} {day.day}, {day.year}"


def _fy(v, r) -> dict:
    return {"fy": pick(r, v.fiscal_years)}


def _fq(v, r) -> dict:
    q = int(r.integers(1, 5))
    return {"fy": pick(r, v.fiscal_years), "fq": q, "fq_word": QUARTER_WORD[q]}


def _fiscal_month(v, r) -> dict:
    m = int(r.integers(1, 13))
    return {"fm": m, "fm_ord": f"{m}{'th' if 11 <= m <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(m % 10, 'th')}"}


def _month(v, r) -> dict:
    y, m, name = pick(r, v.months)
    return {"year": y, "month": m, "month_name": name}


def _range(v, r, lo=7, hi=120) -> dict:
    i = int(r.integers(0, len(v.days) - lo))
    j = min(i + int(r.integers(lo, hi)), len(v.days) - 1)
    d1, d2 = v.days[i], v.days[j]
    return {"d1": d1.isoformat(), "d2": d2.isoformat(), "d1_long": _long(d1), "d2_long": _long(d2)}


def _merge(*parts):
    def draw(v, r):
        out = {}
        for p in parts:
            out.update(p(v, r))
        return out

    return draw


def _one(slot: str, pool: str):
    return lambda v, r: {slot: pick(r, getattr(v, pool))}


def _none(v, r) -> dict:
    return {}


# ----------------------------------------------------------------------------- harbor templates

SALES_CAT = """SELECT SUM(s.net_amount) FROM sales s JOIN products p ON s.product_id = p.product_id
JOIN product_categories c ON p.category_id = c.category_id JOIN dim_date d ON s.order_date_key = d.date_key"""


def harbor_templates() -> list[Template]:
    T = Template
    return [
        # ---------------------------------------------------------------- easy: one table
        T("stores_by_type", "easy", ("aggregation", "filter"), [
            "How many {store_type} stores are there?",
            "Count the stores of type {store_type}.",
            "What is the number of {store_type} stores?",
            "How many stores have store type '{store_type}'?",
            "Give me the count of {store_type} locations.",
            "Number of {store_type}-type stores?",
            "How many of our stores are {store_type} stores?",
        ], "SELECT COUNT(*) FROM stores WHERE store_type = '{store_type}'", _one("store_type", "store_types")),
        T("products_by_color", "easy", ("filter",), [
            "List the names of products whose colour is {color}.",
            "Which products come in {color}?",
            "Show all {color} products.",
            "What products have the color {color}?",
            "Give me the product names where the main colour is {color}.",
            "Find every product that is {color}.",
            "Name the products available in {color}.",
        ], "SELECT product_name FROM products WHERE color = '{color}'", _one("color", "colors")),
        T("customers_in_city", "easy", ("aggregation", "filter"), [
            "How many customers live in {city}, {state}?",
            "Count the customers based in {city} ({state}).",
            "What is the number of registered customers from {city}, {state}?",
            "How many customer accounts have the city {city} in {state}?",
            "Number of customers whose home city is {city}, {state}?",
            "How many of our customers are from {city}, {state}?",
            "Tell me how many customers reside in {city}, {state}.",
        ], "SELECT COUNT(*) FROM customers WHERE city = '{city}' AND state = '{state}'",
            lambda v, r: dict(zip(("city", "state"), pick(r, v.customer_cities)))),
        T("products_price_above", "easy", ("filter", "order_limit"), [
            "Which products have a list price above ${price}? Show the most expensive first.",
            "List products priced over ${price}, highest price first.",
            "Show product names and list prices for products costing more than ${price}, sorted by price descending.",
            "What products sell for more than ${price} on the shelf? Order by list price, highest first.",
            "Give me all products with a list price greater than {price} dollars, most expensive first.",
            "Find products whose shelf price exceeds ${price}, from most to least expensive.",
            "Products with list price > ${price}, descending by price?",
        ], "SELECT product_name, list_price FROM products WHERE list_price > {price} ORDER BY list_price DESC",
            lambda v, r: {"price": int(r.choice([40, 60, 80, 100, 120, 150, 180, 200, 250, 300]))}),
        T("suppliers_in_country", "easy", ("filter",), [
            "Which suppliers are based in {country}?",
            "List the suppliers located in {country}.",
            "Show me the names of our {country} suppliers.",
            "What vendors do we buy from in {country}?",
            "Give the supplier names for suppliers in {country}.",
            "Find suppliers whose country is {country}.",
            "Name every supplier from {country}.",
        ], "SELECT supplier_name FROM suppliers WHERE country = '{country}'", _one("country", "supplier_countries")),
        T("employees_by_title", "easy", ("aggregation", "filter"), [
            "How many employees have the job title {title}?",
            "Count the staff working as {title}.",
            "How many people are employed as a {title}?",
            "What is the headcount of {title} employees (current and former)?",
            "Number of employees with title '{title}'?",
            "How many {title} records are in the employee table?",
            "Tell me how many employees hold the {title} position.",
        ], "SELECT COUNT(*) FROM employees WHERE job_title = '{title}'", _one("title", "job_titles")),
        T("stores_in_state", "easy", ("filter",), [
            "List the stores located in {state}.",
            "Which Harbor stores are in the state or province {state}?",
            "Show store names for stores in {state}.",
            "What stores do we have in {state}?",
            "Give me every store whose state is {state}.",
            "Find the stores in {state}.",
            "Name our {state} stores.",
        ], "SELECT store_name FROM stores WHERE state = '{state}'", _one("state", "store_states")),
        T("unaudited_suppliers", "easy", ("null_handling", "filter"), [
            "Which suppliers have not been audited yet?",
            "List suppliers without a quality rating.",
            "Show the suppliers whose quality rating is missing.",
            "Which vendors have no audit score?",
            "Find suppliers with a NULL quality rating.",
            "What suppliers are still unrated?",
            "Name the suppliers that lack a quality rating.",
        ], "SELECT supplier_name FROM suppliers WHERE quality_rating IS NULL", _none),
        T("open_stores", "easy", ("null_handling", "filter"), [
            "Which stores are still open?",
            "List the stores that have not closed.",
            "Show the names of stores with no closing date.",
            "What stores are currently trading?",
            "Find all stores that remain open today.",
            "Which of our stores have never closed?",
            "Give me the stores without a closed date.",
        ], "SELECT store_name FROM stores WHERE closed_date IS NULL", _none),
        T("customers_no_email_state", "easy", ("null_handling", "aggregation", "filter"), [
            "How many customers in {state} have no email address on file?",
            "Count customers from {state} without an email.",
            "How many {state} customers are missing an e-mail address?",
            "Number of customers living in {state} whose email is empty (NULL)?",
            "How many customer accounts in {state} lack an email?",
            "For {state}, how many customers did not give us an email address?",
            "What's the count of {state} customers with no e-mail?",
        ], "SELECT COUNT(*) FROM customers WHERE state = '{state}' AND email IS NULL", _one("state", "customer_states")),
        T("employees_hired_since", "easy", ("calendar_date", "aggregation", "filter"), [
            "How many employees were hired on or after {d1_long}?",
            "Count the employees with a hire date of {d1} or later.",
            "How many people joined Harbor since {d1_long} (inclusive)?",
            "Number of employees hired from {d1} onwards?",
            "How many staff have a hire date no earlier than {d1_long}?",
            "Since {d1_long}, including that day, how many employees were hired?",
            "What's the number of hires dated {d1} or after?",
        ], "SELECT COUNT(*) FROM employees WHERE hire_date >= DATE '{d1}'", lambda v, r: _range(v, r)),
        T("sessions_device_source", "easy", ("aggregation", "filter"), [
            "How many web sessions came from {device} devices via {source} traffic?",
            "Count the {device} sessions whose traffic source was {source}.",
            "How many visits were made on {device} from {source}?",
            "Number of web sessions with device type {device} and source {source}?",
            "How many {source} visits used a {device} device?",
            "Tell me the session count for {device} + {source}.",
            "What is the number of sessions from {source} on {device}?",
        ], "SELECT COUNT(*) FROM web_sessions WHERE device_type = '{device}' AND traffic_source = '{source}'",
            _merge(_one("device", "devices"), _one("source", "sources"))),
        T("stores_opened_after", "easy", ("calendar_date", "filter"), [
            "Which stores opened after {d1_long}?",
            "List the stores with an opening date later than {d1}.",
            "Show stores that opened after {d1}.",
            "What stores first opened their doors after {d1_long}?",
            "Find stores whose opened date is after {d1_long}.",
            "Which locations were opened later than {d1_long}?",
            "Stores opened after {d1}?",
        ], "SELECT store_name FROM stores WHERE opened_date > DATE '{d1}'",
            lambda v, r: (lambda day: {"d1": day.isoformat(), "d1_long": _long(day)})(
                dt.date(2012, 1, 1) + dt.timedelta(days=int(r.integers(0, 4600))))),
        T("discontinued_in_year", "easy", ("calendar_date", "filter"), [
            "Which products were discontinued in {year}?",
            "List the products taken out of the range during calendar year {year}.",
            "Show products with a discontinued date in {year}.",
            "What products did we discontinue in {year}?",
            "Find the products whose discontinuation happened in {year}.",
            "Which items stopped being sold in {year}?",
            "Products discontinued during {year}?",
        ], "SELECT product_name FROM products WHERE YEAR(discontinued_date) = {year}",
            lambda v, r: {"year": pick(r, v.calendar_years)}),
        T("promotions_of_type", "easy", ("filter",), [
            "List the {promo_type} promotions.",
            "Which promotions are of type {promo_type}?",
            "Show the names of all {promo_type} promotions.",
            "What promotions used the {promo_type} mechanic?",
            "Give me every promotion whose promo type is {promo_type}.",
            "Find the {promo_type} promos.",
            "Name the promotions of kind {promo_type}.",
        ], "SELECT promotion_name FROM promotions WHERE promo_type = '{promo_type}'", _one("promo_type", "promo_types")),
        # ---------------------------------------------------------------- medium: joins and periods
        T("cat_sales_fiscal_year", "medium", ("join", "fiscal_date", "aggregation"), [
            "What was the total net sales for the {cat} category in fiscal year {fy}?",
            "How much revenue did {cat} bring in during FY{fy}?",
            "Total net sales of {cat} products in fiscal {fy}?",
            "Sum the net amount of {cat} sales for fiscal year {fy}.",
            "In FY{fy}, what were {cat} sales (net)?",
            "Give me FY{fy} net revenue for the {cat} category.",
            "What did the {cat} category sell in fiscal year {fy}, in net dollars?",
            "{cat}: total net sales over fiscal {fy}?",
        ], SALES_CAT + " WHERE c.category_name = '{cat}' AND d.fiscal_year = {fy}",
            _merge(_one("cat", "categories"), _fy)),
        T("cat_sales_calendar_year", "medium", ("join", "calendar_date", "aggregation"), [
            "What were net sales of {cat} products in calendar year {year}?",
            "How much did the {cat} category sell in {year} (calendar year)?",
            "Total {cat} revenue for January to December {year}?",
            "Sum of net sales for {cat} during calendar {year}.",
            "In calendar year {year}, what was the net revenue of {cat}?",
            "Give me {cat} net sales for the calendar year {year}.",
            "What did {cat} products bring in during calendar {year}?",
        ], SALES_CAT + " WHERE c.category_name = '{cat}' AND d.calendar_year = {year}",
            lambda v, r: {"cat": pick(r, v.categories), "year": pick(r, v.calendar_years)}),
        T("region_sales_fiscal_quarter", "medium", ("join", "fiscal_date", "aggregation"), [
            "What were total net sales of stores in the {region} region in Q{fq} of fiscal {fy}?",
            "How much did {region} stores sell in fiscal Q{fq} FY{fy}?",
            "Net revenue for {region} region stores, FY{fy} fiscal quarter {fq}?",
            "Total in-store net sales in {region} during the {fq_word} fiscal quarter of {fy}.",
            "Sum net sales at stores located in {region} for FY{fy} Q{fq}.",
            "In the {fq_word} quarter of fiscal year {fy}, what did stores in {region} sell?",
            "Give me store net sales for the {region} region in fiscal {fy}, quarter {fq}.",
            "How much revenue came from {region} stores in Q{fq} of FY{fy}?",
        ], """SELECT SUM(s.net_amount) FROM sales s JOIN stores st ON s.store_id = st.store_id
JOIN regions rg ON st.region_id = rg.region_id JOIN dim_date d ON s.order_date_key = d.date_key
WHERE rg.region_name = '{region}' AND d.fiscal_year = {fy} AND d.fiscal_quarter = {fq}""",
            _merge(_one("region", "regions"), _fq)),
        T("product_units_month", "medium", ("join", "calendar_date", "aggregation"), [
            "How many units of {product} were sold in {month_name} {year}?",
            "Total quantity sold of {product} during {month_name} {year}?",
            "How many {product} units did we sell in {month_name} {year}?",
            "Units sold for '{product}' in {month_name} {year}?",
            "Sum the quantity of {product} sold in {month_name} of {year}.",
            "What was the unit volume of {product} in {month_name} {year}?",
            "In {month_name} {year}, how many {product} units were sold?",
        ], """SELECT SUM(s.quantity) FROM sales s JOIN products p ON s.product_id = p.product_id
JOIN dim_date d ON s.order_date_key = d.date_key
WHERE p.product_name = '{product}' AND d.calendar_year = {year} AND d.calendar_month = {month}""",
            _merge(_one("product", "popular_products"), _month)),
        T("channel_orders_fiscal_month", "medium", ("join", "fiscal_date", "aggregation"), [
            "How many orders came through the {channel} channel in fiscal month {fm} of FY{fy}?",
            "Count {channel} orders in FY{fy}, fiscal month {fm}.",
            "Number of orders placed via {channel} during fiscal period {fm} of fiscal year {fy}?",
            "How many {channel} orders were there in month {fm} of fiscal {fy}?",
            "In fiscal {fy}, month {fm}, how many orders used the {channel} channel?",
            "Give me the {channel} order count for FY{fy} fiscal month {fm}.",
            "What was the number of {channel} orders in the {fm_ord} fiscal month of FY{fy}?",
        ], """SELECT COUNT(*) FROM orders o JOIN channels ch ON o.channel_id = ch.channel_id
JOIN dim_date d ON o.order_date_key = d.date_key
WHERE ch.channel_name = '{channel}' AND d.fiscal_year = {fy} AND d.fiscal_month = {fm}""",
            _merge(_one("channel", "channels"), _fy, _fiscal_month)),
        T("top_products_department", "medium", ("join", "group_by", "order_limit", "aggregation"), [
            "What are the top {n} products by net sales in the {dept} department?",
            "List the {n} best-selling {dept} products by revenue.",
            "Which {n} products in {dept} generated the most net sales?",
            "Top {n} {dept} products ranked by total net amount?",
            "Show the {n} highest-revenue products of the {dept} department with their net sales.",
            "Give me the best {n} sellers in {dept} by net revenue.",
            "Rank {dept} products by net sales and show the top {n}.",
        ], """SELECT p.product_name, SUM(s.net_amount) AS net_sales FROM sales s
JOIN products p ON s.product_id = p.product_id JOIN product_categories c ON p.category_id = c.category_id
JOIN departments dp ON c.department_id = dp.department_id WHERE dp.department_name = '{dept}'
GROUP BY p.product_name ORDER BY net_sales DESC LIMIT {n}""",
            _merge(_one("dept", "departments"), lambda v, r: {"n": int(r.choice([3, 5, 10]))})),
        T("returns_reason_fiscal", "medium", ("join", "fiscal_date", "aggregation"), [
            "How many returns were due to '{reason}' in fiscal {fy}?",
            "Count the returns with reason '{reason}' during FY{fy}.",
            "How many items came back because of '{reason}' in fiscal year {fy}?",
            "Number of returns in FY{fy} where the reason was '{reason}'?",
            "In fiscal {fy}, how many returns cited '{reason}'?",
            "What's the FY{fy} return count for the reason '{reason}'?",
            "Returns logged with reason '{reason}' in fiscal year {fy}: how many?",
        ], """SELECT COUNT(*) FROM returns r JOIN return_reasons rr ON r.return_reason_id = rr.return_reason_id
JOIN dim_date d ON r.return_date_key = d.date_key WHERE rr.reason_text = '{reason}' AND d.fiscal_year = {fy}""",
            _merge(_one("reason", "reasons"), _fy)),
        T("store_refunds_quarter", "medium", ("join", "calendar_date", "aggregation"), [
            "What was the total amount refunded at {store} in calendar Q{q} {year}?",
            "How much money did {store} refund in Q{q} of {year}?",
            "Total refunds handed out at {store} during calendar quarter {q} of {year}?",
            "Sum of refund amounts for returns taken at {store} in {year} Q{q}.",
            "In calendar {year}, quarter {q}, how much was refunded at {store}?",
            "Refund total at the {store} store for Q{q} {year}?",
            "How much did customers get back at {store} in the calendar quarter Q{q} {year}?",
        ], """SELECT SUM(r.refund_amount) FROM returns r JOIN stores st ON r.store_id = st.store_id
JOIN dim_date d ON r.return_date_key = d.date_key
WHERE st.store_name = '{store}' AND d.calendar_year = {year} AND d.calendar_quarter = {q}""",
            lambda v, r: {"store": pick(r, v.stores), "year": pick(r, v.calendar_years), "q": int(r.integers(1, 5))}),
        T("carrier_shipped_month", "medium", ("join", "calendar_date", "aggregation"), [
            "How many shipments did {carrier} ship in {month_name} {year}?",
            "Count the parcels that left with {carrier} in {month_name} {year}.",
            "Number of {carrier} shipments with a ship date in {month_name} {year}?",
            "How many shipments went out via {carrier} during {month_name} {year}?",
            "In {month_name} {year}, how many shipments were handed to {carrier}?",
            "What is the count of {carrier} shipments shipped in {month_name} {year}?",
            "Shipments sent with {carrier} in {month_name} {year}, how many?",
        ], """SELECT COUNT(*) FROM shipments sh JOIN carriers ca ON sh.carrier_id = ca.carrier_id
JOIN dim_date d ON sh.ship_date_key = d.date_key
WHERE ca.carrier_name = '{carrier}' AND d.calendar_year = {year} AND d.calendar_month = {month}""",
            _merge(_one("carrier", "carriers"), _month)),
        T("carrier_delivery_days", "hard", ("join", "multi_date_key", "aggregation", "null_handling"), [
            "What is the average number of days from shipping to delivery for {carrier}?",
            "On average, how many days does {carrier} take between ship date and delivery date?",
            "Average transit time in days for delivered {carrier} shipments?",
            "How long, in days, do {carrier} parcels take from leaving the warehouse to delivery on average?",
            "Compute the mean ship-to-delivery days for {carrier}.",
            "For {carrier}, what's the average delivery time in days after shipping?",
            "Mean days in transit for {carrier} shipments that were delivered?",
        ], """SELECT AVG(dd.full_date - sd.full_date) FROM shipments sh JOIN carriers ca ON sh.carrier_id = ca.carrier_id
JOIN dim_date sd ON sh.ship_date_key = sd.date_key JOIN dim_date dd ON sh.delivery_date_key = dd.date_key
WHERE ca.carrier_name = '{carrier}'""", _one("carrier", "carriers")),
        T("warehouse_on_hand", "medium", ("join", "calendar_date", "aggregation", "snapshot"), [
            "How many units were on hand at {warehouse} on {d1_long}?",
            "Total stock on hand at {warehouse} in the {d1} snapshot?",
            "What was the inventory level (units on hand) at {warehouse} as of {d1_long}?",
            "Sum of quantity on hand at {warehouse} for the snapshot dated {d1}.",
            "How much stock did {warehouse} hold on {d1_long}?",
            "Units on hand in {warehouse} at the {d1_long} month-end snapshot?",
            "On {d1}, how many units sat in {warehouse}?",
        ], """SELECT SUM(i.quantity_on_hand) FROM inventory_snapshots i JOIN warehouses w ON i.warehouse_id = w.warehouse_id
JOIN dim_date d ON i.snapshot_date_key = d.date_key WHERE w.warehouse_name = '{warehouse}' AND d.full_date = DATE '{d1}'""",
            lambda v, r: (lambda day: {"warehouse": pick(r, v.warehouses), "d1": day.isoformat(), "d1_long": _long(day)})(
                pick(r, v.snapshot_dates))),
        T("below_reorder_point", "medium", ("join", "calendar_date", "filter", "snapshot"), [
            "Which products were below their reorder point at {warehouse} in the snapshot of {d1_long}?",
            "List products whose on-hand stock at {warehouse} was under the reorder point on {d1}.",
            "What needed re-ordering at {warehouse} according to the {d1} snapshot?",
            "Show products at {warehouse} with quantity on hand below reorder point as of {d1_long}.",
            "On {d1_long}, which products had fallen below the reorder level in {warehouse}?",
            "Find {warehouse} products under their reorder point in the {d1} inventory snapshot.",
            "Products to reorder at {warehouse} per the {d1_long} snapshot?",
        ], """SELECT p.product_name FROM inventory_snapshots i JOIN products p ON i.product_id = p.product_id
JOIN warehouses w ON i.warehouse_id = w.warehouse_id JOIN dim_date d ON i.snapshot_date_key = d.date_key
WHERE w.warehouse_name = '{warehouse}' AND d.full_date = DATE '{d1}' AND i.quantity_on_hand < i.reorder_point""",
            lambda v, r: (lambda day: {"warehouse": pick(r, v.warehouses), "d1": day.isoformat(), "d1_long": _long(day)})(
                pick(r, v.snapshot_dates))),
        T("tier_members_region", "medium", ("join", "aggregation", "filter"), [
            "How many {tier} loyalty members live in the {region} region?",
            "Count customers in the {tier} tier whose home region is {region}.",
            "Number of {tier}-tier customers from {region}?",
            "How many customers based in {region} hold {tier} status?",
            "In the {region} region, how many customers are {tier} members?",
            "What is the {tier} member count among {region} customers?",
            "{tier} members living in {region}: how many?",
        ], """SELECT COUNT(*) FROM customers cu JOIN loyalty_tiers lt ON cu.loyalty_tier_id = lt.loyalty_tier_id
JOIN regions rg ON cu.region_id = rg.region_id WHERE lt.tier_name = '{tier}' AND rg.region_name = '{region}'""",
            _merge(_one("tier", "tiers"), _one("region", "regions"))),
        T("non_members_region", "medium", ("join", "null_handling", "aggregation"), [
            "How many customers in the {region} region are not loyalty members?",
            "Count {region} customers without a loyalty tier.",
            "How many customers whose home region is {region} have not joined the loyalty programme?",
            "Number of non-member customers in {region}?",
            "In {region}, how many customers have no loyalty tier?",
            "What's the count of {region} customers outside the loyalty program?",
            "Customers from {region} with no loyalty membership: how many?",
        ], """SELECT COUNT(*) FROM customers cu JOIN regions rg ON cu.region_id = rg.region_id
WHERE rg.region_name = '{region}' AND cu.loyalty_tier_id IS NULL""", _one("region", "regions")),
        T("fiscal_month_trend", "medium", ("join", "fiscal_date", "group_by", "aggregation"), [
            "Show net sales per fiscal month of FY{fy}.",
            "Break down fiscal {fy} net sales by fiscal month.",
            "What were net sales in each fiscal month of fiscal year {fy}?",
            "Monthly (fiscal) revenue for FY{fy}, in fiscal month order.",
            "Give me FY{fy} net sales by fiscal month.",
            "List every fiscal month of {fy} with its net sales.",
            "Net revenue for each fiscal period of FY{fy}?",
        ], """SELECT d.fiscal_month, SUM(s.net_amount) AS net_sales FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key
WHERE d.fiscal_year = {fy} GROUP BY d.fiscal_month ORDER BY d.fiscal_month""", _fy, test_paraphrases=2, n_train=5, n_test=2),
        T("store_type_sales_year", "medium", ("join", "calendar_date", "group_by", "aggregation"), [
            "Break down calendar {year} net sales by store type.",
            "What were net sales per store type in {year}?",
            "Show in-store net sales for each store type during calendar year {year}.",
            "How much did each type of store sell in {year}?",
            "Net sales by store type for calendar {year}?",
            "For {year}, give the total net sales of every store type.",
            "Calendar year {year}: revenue split by store type?",
        ], """SELECT st.store_type, SUM(s.net_amount) AS net_sales FROM sales s JOIN stores st ON s.store_id = st.store_id
JOIN dim_date d ON s.order_date_key = d.date_key WHERE d.calendar_year = {year} GROUP BY st.store_type""",
            lambda v, r: {"year": pick(r, v.calendar_years)}, n_train=6, n_test=3),
        T("brand_customers_fiscal_quarter", "medium", ("join", "fiscal_date", "distinct", "aggregation"), [
            "How many different customers bought {brand} products in fiscal Q{fq} {fy}?",
            "Count distinct customers who purchased {brand} in FY{fy} Q{fq}.",
            "How many unique customers bought the {brand} brand during the {fq_word} fiscal quarter of {fy}?",
            "Number of distinct buyers of {brand} items in fiscal {fy}, quarter {fq}?",
            "In Q{fq} of fiscal year {fy}, how many unique customers purchased {brand}?",
            "How many separate customers bought something from {brand} in FY{fy} fiscal Q{fq}?",
            "Distinct customer count for {brand} purchases, fiscal {fy} Q{fq}?",
        ], """SELECT COUNT(DISTINCT s.customer_id) FROM sales s JOIN products p ON s.product_id = p.product_id
JOIN brands b ON p.brand_id = b.brand_id JOIN dim_date d ON s.order_date_key = d.date_key
WHERE b.brand_name = '{brand}' AND d.fiscal_year = {fy} AND d.fiscal_quarter = {fq}""",
            _merge(_one("brand", "brands"), _fq)),
        T("promo_type_discount_fiscal", "medium", ("join", "fiscal_date", "aggregation"), [
            "What was the total discount given through {promo_type} promotions in FY{fy}?",
            "How much discount did {promo_type} promotions cost us in fiscal {fy}?",
            "Sum of line discounts from {promo_type} promotions during fiscal year {fy}?",
            "Total discount amount on sales with a {promo_type} promotion in FY{fy}?",
            "In fiscal {fy}, what did {promo_type} promos give away in discounts?",
            "Discount dollars from {promo_type} promotions, fiscal year {fy}?",
            "How big were {promo_type} promotion discounts in total for FY{fy}?",
        ], """SELECT SUM(s.discount_amount) FROM sales s JOIN promotions pr ON s.promotion_id = pr.promotion_id
JOIN dim_date d ON s.order_date_key = d.date_key WHERE pr.promo_type = '{promo_type}' AND d.fiscal_year = {fy}""",
            _merge(_one("promo_type", "promo_types"), _fy)),
        T("sales_between_inclusive", "medium", ("join", "calendar_date", "date_range", "aggregation"), [
            "What were total net sales between {d1_long} and {d2_long}, both days included?",
            "Total net sales from {d1} through {d2} inclusive?",
            "How much did we sell (net) between {d1} and {d2} inclusive?",
            "Sum net sales for orders placed from {d1_long} to {d2_long}, inclusive.",
            "Net revenue for the period {d1} to {d2}, including both end dates?",
            "Give me net sales for order dates between {d1_long} and {d2_long} inclusive.",
            "Between {d1} and {d2} (inclusive), what were net sales?",
        ], """SELECT SUM(s.net_amount) FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key
WHERE d.full_date BETWEEN DATE '{d1}' AND DATE '{d2}'""", lambda v, r: _range(v, r)),
        T("orders_exclusive_end", "medium", ("join", "calendar_date", "date_range", "aggregation"), [
            "How many orders were placed from {d1_long} up to but not including {d2_long}?",
            "Count orders with an order date on or after {d1} and before {d2}.",
            "Number of orders between {d1} (inclusive) and {d2} (exclusive)?",
            "How many orders did we get starting {d1_long} and ending the day before {d2_long}?",
            "Orders placed in the half-open range [{d1}, {d2})?",
            "From {d1_long} until {d2_long}, excluding {d2_long} itself, how many orders were placed?",
            "Count orders dated {d1} or later but earlier than {d2}.",
        ], """SELECT COUNT(*) FROM orders o JOIN dim_date d ON o.order_date_key = d.date_key
WHERE d.full_date >= DATE '{d1}' AND d.full_date < DATE '{d2}'""", lambda v, r: _range(v, r)),
        T("session_conversion", "medium", ("null_handling", "aggregation", "filter"), [
            "What share of {device} sessions from {source} traffic converted into an order?",
            "Conversion rate of {source} visits on {device}?",
            "What fraction of {device} web sessions coming from {source} led to an order?",
            "For {source} traffic on {device} devices, what proportion of sessions converted?",
            "Compute the conversion rate (sessions with an order / all sessions) for {device} and {source}.",
            "How often did {device} visits from {source} end in a purchase, as a ratio?",
            "Share of converting sessions among {source} sessions on {device}?",
        ], "SELECT COUNT(converted_order_id) * 1.0 / COUNT(*) FROM web_sessions WHERE device_type = '{device}' AND traffic_source = '{source}'",
            _merge(_one("device", "devices"), _one("source", "sources"))),
        T("current_staff_store", "medium", ("join", "null_handling", "aggregation"), [
            "How many current employees work at {store}?",
            "Count the active staff at {store}.",
            "How many people currently work in the {store} store (not terminated)?",
            "Number of employees at {store} who have not left?",
            "What is the current headcount of {store}?",
            "How many employees with no termination date are assigned to {store}?",
            "Current staff count for {store}?",
        ], """SELECT COUNT(*) FROM employees e JOIN stores st ON e.store_id = st.store_id
WHERE st.store_name = '{store}' AND e.termination_date IS NULL""", _one("store", "stores")),
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
            _merge(_one("supplier", "suppliers"), _fy)),
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
            _merge(_one("store", "stores"), _month)),
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
WHERE d.fiscal_year = {fy} AND d.fiscal_quarter = {fq}""", _fq, n_train=10, n_test=4),
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
            _merge(_one("cat", "categories"), _fy)),
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
            _merge(_one("channel", "channels"), _one("payment", "payment_methods"))),
        T("cancelled_orders_month", "medium", ("join", "calendar_date", "aggregation", "filter"), [
            "How many orders were cancelled in {month_name} {year}?",
            "Count the cancelled orders placed in {month_name} {year}.",
            "Number of orders with status cancelled from {month_name} {year}?",
            "How many {month_name} {year} orders ended up cancelled?",
            "In {month_name} {year}, how many orders were cancelled?",
            "Cancelled order count for {month_name} {year}?",
            "What number of orders placed during {month_name} {year} have status 'cancelled'?",
        ], """SELECT COUNT(*) FROM orders o JOIN dim_date d ON o.order_date_key = d.date_key
WHERE o.order_status = 'cancelled' AND d.calendar_year = {year} AND d.calendar_month = {month}""", _month),
        T("warehouse_headcount", "medium", ("join", "aggregation"), [
            "How many employees work at {warehouse}?",
            "Count the staff assigned to {warehouse}.",
            "What is the headcount (current and former) of {warehouse}?",
            "Number of employees whose warehouse is {warehouse}?",
            "How many people are on the {warehouse} staff list?",
            "Employees at {warehouse}: how many?",
            "How many workers belong to {warehouse}?",
        ], """SELECT COUNT(*) FROM employees e JOIN warehouses w ON e.warehouse_id = w.warehouse_id
WHERE w.warehouse_name = '{warehouse}'""", _one("warehouse", "warehouses")),
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
            _merge(_one("dept", "departments"), _fy)),
        T("promotions_running_on", "medium", ("calendar_date", "filter"), [
            "Which promotions were running on {d1_long}?",
            "List the promotions active on {d1}.",
            "What promotions were live on {d1_long} (start and end days inclusive)?",
            "Show promotions whose period includes {d1}.",
            "Which promos covered the date {d1_long}?",
            "Find promotions in effect on {d1}.",
            "Promotions running on {d1}?",
        ], "SELECT promotion_name FROM promotions WHERE start_date_key <= {k1} AND end_date_key >= {k1}",
            lambda v, r: (lambda day: {"d1": day.isoformat(), "d1_long": _long(day), "k1": int(day.strftime("%Y%m%d"))})(
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
WHERE d.fiscal_year = {fy} AND d.fiscal_quarter = {fq}""", _fq, n_train=10, n_test=4),
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
WHERE su.supplier_name = '{supplier}' AND po.received_date_key > po.expected_date_key""", _one("supplier", "suppliers")),
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
            _merge(_one("carrier", "carriers"), _fy)),
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
            _merge(_one("channel", "online_channels"), _month)),
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
            lambda v, r: (lambda day: {"cat": pick(r, v.categories), "d1": day.isoformat(), "d1_long": _long(day)})(
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
            _merge(_one("channel", "channels"), _fy)),
        # ---------------------------------------------------------------- hard: having, nesting, several facts
        T("stores_many_orders", "hard", ("join", "fiscal_date", "group_by", "having", "aggregation"), [
            "Which stores had more than {n} orders in fiscal {fy}?",
            "List stores with over {n} orders during FY{fy}, with their order counts.",
            "Show the stores whose order count in fiscal year {fy} exceeded {n}.",
            "What stores took more than {n} orders in fiscal {fy}?",
            "Find stores with an FY{fy} order count above {n}.",
            "In fiscal {fy}, which stores received more than {n} orders?",
            "Stores with more than {n} orders in FY{fy}, and how many each?",
        ], """SELECT st.store_name, COUNT(*) AS order_count FROM orders o JOIN stores st ON o.store_id = st.store_id
JOIN dim_date d ON o.order_date_key = d.date_key WHERE d.fiscal_year = {fy}
GROUP BY st.store_name HAVING COUNT(*) > {n}""",
            _merge(_fy, lambda v, r: {"n": int(r.choice([100, 120, 150, 170, 200, 250]))})),
        T("loyal_customers_year", "hard", ("join", "calendar_date", "group_by", "having", "aggregation"), [
            "Which customers placed at least {n} orders in calendar {year}?",
            "List customers with {n} or more orders during {year}.",
            "Show customer names and order counts for customers who ordered at least {n} times in {year}.",
            "Find customers with no fewer than {n} orders in calendar year {year}.",
            "Who ordered {n}+ times in {year}?",
            "In {year}, which customers made {n} or more orders?",
            "Customers with at least {n} orders in {year}, with their counts?",
        ], """SELECT cu.first_name, cu.last_name, COUNT(*) AS order_count FROM orders o
JOIN customers cu ON o.customer_id = cu.customer_id JOIN dim_date d ON o.order_date_key = d.date_key
WHERE d.calendar_year = {year} GROUP BY cu.customer_id, cu.first_name, cu.last_name HAVING COUNT(*) >= {n}""",
            lambda v, r: {"year": pick(r, v.calendar_years), "n": int(r.choice([3, 4, 5, 6]))}),
        T("categories_avg_price_having", "hard", ("join", "fiscal_date", "group_by", "having", "aggregation"), [
            "Which categories had an average selling unit price above ${x} in FY{fy}?",
            "List product categories whose average unit price on sales lines exceeded ${x} during fiscal {fy}.",
            "In fiscal {fy}, which categories averaged more than ${x} per unit sold?",
            "Show categories with mean sales unit price over {x} dollars in FY{fy}, with that average.",
            "Find categories where the average unit price charged in fiscal year {fy} was above ${x}.",
            "Which categories sold at an average unit price higher than ${x} in FY{fy}?",
            "Categories with an FY{fy} average unit price greater than ${x}?",
        ], """SELECT c.category_name, AVG(s.unit_price) AS avg_unit_price FROM sales s
JOIN products p ON s.product_id = p.product_id JOIN product_categories c ON p.category_id = c.category_id
JOIN dim_date d ON s.order_date_key = d.date_key WHERE d.fiscal_year = {fy}
GROUP BY c.category_name HAVING AVG(s.unit_price) > {x}""",
            _merge(_fy, lambda v, r: {"x": int(r.choice([20, 40, 60, 80, 100, 150]))})),
        T("cross_store_returns", "hard", ("multi_fact_join", "join", "fiscal_date", "null_handling", "aggregation"), [
            "How many returns in FY{fy} were handed back at a different store than the one that sold the item?",
            "Count fiscal {fy} returns where the return store differs from the selling store.",
            "In fiscal year {fy}, how many items were returned to another store than where they were bought?",
            "Number of FY{fy} returns taken at a store other than the store of sale?",
            "How many returns during fiscal {fy} came back at a different store from the original sale store?",
            "FY{fy}: returns made at a different store than the purchase store, how many?",
            "For fiscal {fy} returns, how many were processed at a store other than the one on the sale?",
        ], """SELECT COUNT(*) FROM returns r JOIN sales s ON r.sales_line_id = s.sales_line_id
JOIN dim_date d ON r.return_date_key = d.date_key WHERE r.store_id <> s.store_id AND d.fiscal_year = {fy}""",
            _fy, n_train=5, n_test=2),
        T("category_return_rate", "hard", ("multi_fact_join", "join", "fiscal_date", "aggregation"), [
            "What percentage of units sold in the {cat} category in FY{fy} were returned?",
            "Return rate in percent (units returned / units sold) for {cat} sales of fiscal {fy}?",
            "Of the {cat} units sold during fiscal year {fy}, what percent came back?",
            "Compute the unit return rate for {cat} items ordered in FY{fy}, as a percentage.",
            "What share of fiscal {fy} {cat} units were later returned, in percent?",
            "For {cat} units sold in FY{fy}, what percentage was returned?",
            "Percent of {cat} units from FY{fy} sales that were returned?",
        ], """SELECT 100.0 * SUM(r.quantity_returned) / SUM(s.quantity) FROM sales s
JOIN products p ON s.product_id = p.product_id JOIN product_categories c ON p.category_id = c.category_id
JOIN dim_date d ON s.order_date_key = d.date_key LEFT JOIN returns r ON r.sales_line_id = s.sales_line_id
WHERE c.category_name = '{cat}' AND d.fiscal_year = {fy}""", _merge(_one("cat", "categories"), _fy)),
        T("never_ordered_signup_year", "hard", ("nested", "null_handling", "calendar_date", "aggregation"), [
            "How many customers who signed up in {year} have never placed an order?",
            "Count customers with a {year} signup date and no orders at all.",
            "Of the customers who registered in {year}, how many never ordered?",
            "How many {year} sign-ups have zero orders?",
            "Number of customers created in {year} without any order?",
            "How many customers joining in {year} never bought anything?",
            "Customers who signed up during {year} but never ordered: how many?",
        ], """SELECT COUNT(*) FROM customers cu WHERE YEAR(cu.signup_date) = {year}
AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = cu.customer_id)""",
            lambda v, r: {"year": pick(r, v.signup_years)}),
        T("unsold_products_fiscal", "hard", ("nested", "fiscal_date", "join"), [
            "Which {cat} products had no sales in fiscal {fy}?",
            "List {cat} products that were never sold during FY{fy}.",
            "What {cat} products sold zero units in fiscal year {fy}?",
            "Find products in {cat} without any sales line in fiscal {fy}.",
            "Which items in the {cat} category did not sell at all in FY{fy}?",
            "{cat} products with no FY{fy} sales?",
            "Show {cat} products absent from fiscal {fy} sales.",
        ], """SELECT p.product_name FROM products p JOIN product_categories c ON p.category_id = c.category_id
WHERE c.category_name = '{cat}' AND p.product_id NOT IN (SELECT s.product_id FROM sales s
JOIN dim_date d ON s.order_date_key = d.date_key WHERE d.fiscal_year = {fy})""", _merge(_one("cat", "categories"), _fy)),
        T("above_category_avg_price", "hard", ("nested", "join", "aggregation"), [
            "Which {cat} products have a list price above the average list price of their category?",
            "List {cat} products priced higher than the {cat} category average.",
            "Show {cat} products whose list price exceeds the mean list price of {cat}.",
            "Find products in {cat} that cost more than the category's average list price.",
            "What {cat} items are above the average {cat} list price?",
            "{cat} products more expensive than the category average?",
            "Which products in the {cat} category are priced above their category's average?",
        ], """SELECT p.product_name FROM products p JOIN product_categories c ON p.category_id = c.category_id
WHERE c.category_name = '{cat}' AND p.list_price > (SELECT AVG(p2.list_price) FROM products p2 WHERE p2.category_id = p.category_id)""",
            _one("cat", "categories")),
        T("top_customers_region", "hard", ("join", "fiscal_date", "group_by", "order_limit", "aggregation"), [
            "Who are the top {n} customers by net sales among customers living in the {region} region in FY{fy}?",
            "List the {n} biggest-spending {region} customers (by home region) in fiscal {fy}.",
            "Which {n} customers from the {region} region spent the most in FY{fy}?",
            "Top {n} customers whose home region is {region}, ranked by fiscal {fy} net sales?",
            "Show the {n} customers from {region} with the highest net sales in fiscal year {fy}.",
            "In FY{fy}, who were the {n} best customers living in {region}?",
            "Rank {region} customers by FY{fy} spend and give the top {n}.",
        ], """SELECT cu.first_name, cu.last_name, SUM(s.net_amount) AS net_sales FROM sales s
JOIN customers cu ON s.customer_id = cu.customer_id JOIN regions rg ON cu.region_id = rg.region_id
JOIN dim_date d ON s.order_date_key = d.date_key WHERE rg.region_name = '{region}' AND d.fiscal_year = {fy}
GROUP BY cu.customer_id, cu.first_name, cu.last_name ORDER BY net_sales DESC LIMIT {n}""",
            _merge(_one("region", "regions"), _fy, lambda v, r: {"n": int(r.choice([3, 5, 10]))})),
        T("stores_beat_target", "hard", ("nested", "join", "fiscal_date", "aggregation"), [
            "Which stores beat their sales target in fiscal month {fm} of FY{fy}?",
            "List stores whose net sales exceeded the target for FY{fy}, fiscal month {fm}.",
            "In fiscal {fy} month {fm}, which stores sold more than their target?",
            "Show stores that outperformed their target amount in fiscal period {fm} of {fy}.",
            "What stores went over target in FY{fy} fiscal month {fm}?",
            "Which stores had net sales above target in the {fm_ord} fiscal month of FY{fy}?",
            "Stores exceeding their FY{fy} month-{fm} sales target?",
        ], """SELECT st.store_name FROM sales_targets tg JOIN stores st ON tg.store_id = st.store_id
JOIN (SELECT s.store_id, SUM(s.net_amount) AS net_sales FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key
WHERE d.fiscal_year = {fy} AND d.fiscal_month = {fm} GROUP BY s.store_id) sub ON sub.store_id = tg.store_id
WHERE tg.fiscal_year = {fy} AND tg.fiscal_month = {fm} AND sub.net_sales > tg.target_amount""",
            _merge(_fy, _fiscal_month)),
        T("avg_order_value_channel", "hard", ("nested", "join", "fiscal_date", "aggregation"), [
            "What is the average order value (sum of line net amounts per order) for {channel} orders in fiscal {fy}?",
            "Average basket size in dollars for {channel} orders placed in FY{fy}?",
            "Compute the mean order total (net) of {channel} orders in fiscal year {fy}.",
            "In FY{fy}, what did a {channel} order average in net sales?",
            "Average net value per {channel} order during fiscal {fy}?",
            "How much was the average {channel} order worth in FY{fy}, summing its lines?",
            "Mean net amount per order for the {channel} channel, fiscal {fy}?",
        ], """SELECT AVG(sub.order_total) FROM (SELECT s.order_id, SUM(s.net_amount) AS order_total FROM sales s
JOIN orders o ON s.order_id = o.order_id JOIN channels ch ON o.channel_id = ch.channel_id
JOIN dim_date d ON s.order_date_key = d.date_key WHERE ch.channel_name = '{channel}' AND d.fiscal_year = {fy}
GROUP BY s.order_id) sub""", _merge(_one("channel", "channels"), _fy)),
        T("lines_per_order_channel", "hard", ("nested", "join", "aggregation"), [
            "What is the average number of lines per order in the {channel} channel?",
            "On average, how many order lines does a {channel} order have?",
            "Mean line count per {channel} order?",
            "How many lines does the typical {channel} order contain, on average?",
            "Compute the average number of sales lines per order for {channel}.",
            "Average lines per order for orders placed via {channel}?",
            "For {channel} orders, what is the mean number of lines?",
        ], """SELECT AVG(sub.line_count) FROM (SELECT s.order_id, COUNT(*) AS line_count FROM sales s
JOIN orders o ON s.order_id = o.order_id JOIN channels ch ON o.channel_id = ch.channel_id
WHERE ch.channel_name = '{channel}' GROUP BY s.order_id) sub""", _one("channel", "channels")),
        T("region_yoy_fiscal", "hard", ("join", "fiscal_date", "aggregation", "conditional_aggregation"), [
            "Compare net sales of {region} stores in fiscal {fy} with fiscal {py}.",
            "Show FY{py} and FY{fy} net sales side by side for stores in the {region} region.",
            "What were {region} store net sales in fiscal {py} and in fiscal {fy}?",
            "Give the {region} region's store revenue for FY{py} and FY{fy} in two columns.",
            "Year-over-year (fiscal): {region} store net sales in FY{py} versus FY{fy}?",
            "How did {region} store sales in fiscal {fy} compare with the prior fiscal year?",
            "{region} stores: net sales FY{py} vs FY{fy}?",
        ], """SELECT SUM(CASE WHEN d.fiscal_year = {py} THEN s.net_amount END) AS net_sales_fy{py},
SUM(CASE WHEN d.fiscal_year = {fy} THEN s.net_amount END) AS net_sales_fy{fy} FROM sales s
JOIN stores st ON s.store_id = st.store_id JOIN regions rg ON st.region_id = rg.region_id
JOIN dim_date d ON s.order_date_key = d.date_key WHERE rg.region_name = '{region}'""",
            lambda v, r: (lambda fy: {"region": pick(r, v.regions), "fy": fy, "py": fy - 1})(pick(r, v.fiscal_years[1:]))),
        T("carrier_cost_per_package", "hard", ("join", "fiscal_date", "group_by", "order_limit", "aggregation"), [
            "Which carrier had the highest average shipping cost per package in FY{fy}?",
            "In fiscal {fy}, which carrier was most expensive per package on average?",
            "Rank carriers by average cost per package for shipments shipped in FY{fy} and give the top one.",
            "What carrier cost the most per package, on average, in fiscal year {fy}?",
            "For shipments shipped during fiscal {fy}, which carrier had the top mean shipping cost per package?",
            "Most expensive carrier per package in FY{fy}?",
            "Which carrier's average shipping cost per package was highest in fiscal {fy}?",
        ], """SELECT ca.carrier_name, AVG(sh.shipping_cost / sh.package_count) AS avg_cost_per_package FROM shipments sh
JOIN carriers ca ON sh.carrier_id = ca.carrier_id JOIN dim_date d ON sh.ship_date_key = d.date_key
WHERE d.fiscal_year = {fy} GROUP BY ca.carrier_name ORDER BY avg_cost_per_package DESC LIMIT 1""", _fy, n_train=5, n_test=2),
        T("order_vs_ship_month", "hard", ("multi_date_key", "join", "calendar_date", "aggregation"), [
            "How many orders placed in {month_name} {year} shipped in a later month?",
            "Count {month_name} {year} orders whose shipment left the warehouse after that month.",
            "Of the orders placed during {month_name} {year}, how many had a ship date after the month ended?",
            "Number of {month_name} {year} orders shipped in the following month or later?",
            "How many orders from {month_name} {year} were shipped after {month_name} was over?",
            "In {month_name} {year}, how many orders shipped only after month end?",
            "Orders placed in {month_name} {year} but shipped in a later month: how many?",
        ], """SELECT COUNT(DISTINCT o.order_id) FROM orders o JOIN shipments sh ON sh.order_id = o.order_id
JOIN dim_date od ON o.order_date_key = od.date_key JOIN dim_date sd ON sh.ship_date_key = sd.date_key
WHERE od.calendar_year = {year} AND od.calendar_month = {month} AND sd.full_date > LAST_DAY(od.full_date)""",
            _month),
        T("cashier_top_store", "hard", ("join", "fiscal_date", "group_by", "order_limit", "aggregation"), [
            "Which {n} employees rang up the most orders at {store} in FY{fy}?",
            "Top {n} cashiers by number of orders at {store} during fiscal {fy}?",
            "List the {n} employees with the most orders processed at {store} in fiscal year {fy}.",
            "At {store}, who handled the most orders in FY{fy}? Give the top {n}.",
            "In fiscal {fy}, which {n} staff at {store} processed the most orders?",
            "Rank employees at {store} by FY{fy} orders rung up; show {n}.",
            "The {n} busiest cashiers of {store} in fiscal {fy}?",
        ], """SELECT e.first_name, e.last_name, COUNT(*) AS order_count FROM orders o
JOIN employees e ON o.employee_id = e.employee_id JOIN stores st ON o.store_id = st.store_id
JOIN dim_date d ON o.order_date_key = d.date_key WHERE st.store_name = '{store}' AND d.fiscal_year = {fy}
GROUP BY e.employee_id, e.first_name, e.last_name ORDER BY order_count DESC LIMIT {n}""",
            _merge(_one("store", "stores"), _fy, lambda v, r: {"n": int(r.choice([1, 2, 3]))})),
    ]


# ----------------------------------------------------------------------------- large schema questions


def large_schema_pairs(con, seed: int = 0, harbor_count: int = 40) -> list[CorpusPair]:
    """Questions for the large fixture whose gold tables are a few of its ~430 (pruning recall).

    About `harbor_count` come from the Harbor templates (same SQL runs on the large file); the rest
    ask about the generated business domains.
    """
    from sqltune.corpus import generate_pairs
    from sqltune.fixtures import large_domain_tables

    r = np.random.default_rng([seed, 7])
    pairs: list[CorpusPair] = []
    seen: set[str] = set()

    def add(question: str, sql: str, difficulty: str, tags: list[str]) -> None:
        sql = canonical_sql(sql)
        if question.lower() in seen or not _is_informative(con.execute(sql).fetchall()):
            return
        seen.add(question.lower())
        pairs.append(CorpusPair(f"large-{len(pairs) + 1:03d}", question, sql, difficulty, tags, "large"))

    tables = [t for t in large_domain_tables()]
    by_name = {t.name: t for t in tables}
    base = [t for t in tables if not t.history_of]
    order = r.permutation(len(base))
    for k, i in enumerate(order):
        t = base[int(i)]
        label = t.domain_label
        kind = k % 5
        if kind == 0:
            add(f"How many {t.plural} are recorded in {label}?", f"SELECT COUNT(*) FROM {t.name}", "easy", ["aggregation"])
        elif kind == 1:
            status = con.execute(f"SELECT status FROM {t.name} ORDER BY {t.pk} LIMIT 1").fetchone()[0]
            add(f"List the names of {label} {t.plural} with status '{status}'.",
                f"SELECT {t.name_column} FROM {t.name} WHERE status = '{status}'", "easy", ["filter"])
        elif kind == 2 and t.parents:
            fk, ref, ref_pk = t.parents[0]
            parent = by_name.get(ref)
            if parent is None:
                continue
            add(f"For each {parent.singular}, how many {t.plural} are there?",
                f"""SELECT pt.{parent.name_column}, COUNT(*) AS {t.pk.removesuffix('_id')}_count FROM {t.name} t
JOIN {ref} pt ON t.{fk} = pt.{ref_pk} GROUP BY pt.{parent.name_column}""", "medium", ["join", "group_by", "aggregation"])
        elif kind == 3:
            hist = by_name[f"{t.name}_history"]
            add(f"How many changes were logged for {label} {t.plural}?", f"SELECT COUNT(*) FROM {hist.name}",
                "easy", ["aggregation"])
        else:
            money = [c for c, kind_, _ in t.extra if kind_ == "money"]
            if money:
                words = money[0].replace("_usd", "").replace("_", " ")
                add(f"What is the total {words} in US dollars across all {label} {t.plural}?",
                    f"SELECT SUM({money[0]}) FROM {t.name}", "easy", ["aggregation"])
            else:
                add(f"When was the most recent {t.singular} in {label} created?",
                    f"SELECT MAX(created_at) FROM {t.name}", "easy", ["aggregation"])
        if len(pairs) >= 80:
            break
    # harbor-core questions, now posed against the whole large schema
    picked = [t for t in harbor_templates() if t.difficulty != "easy"]
    for t in picked:
        t.n_train, t.n_test = 1, 0
    core, _ = generate_pairs(con, picked, seed + 1, db="large", id_prefix="large-core-")
    keep = sorted(r.choice(len(core), min(harbor_count, len(core)), replace=False))
    for p in (core[int(i)] for i in keep):
        if p.question.lower() not in seen:
            seen.add(p.question.lower())
            pairs.append(CorpusPair(f"large-{len(pairs) + 1:03d}", p.question, p.sql, p.difficulty, [*p.tags, "harbor_core"], "large"))
    return pairs
