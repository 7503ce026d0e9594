"""Medium templates over the sales facts: joins to dimensions, fiscal vs calendar periods, returns,
shipments, stock levels, customer segments and date ranges."""

from __future__ import annotations

from warehouse_fixtures.corpus import Template
from warehouse_fixtures.harbor_templates.slots import (fiscal_month_slots, fq_slots, fy_slots, long_date, merge,
                                                     month_slots, one, pick, range_slots)

SALES_CAT = """SELECT SUM(s.net_amount) FROM sales s JOIN products p ON s.product_id = p.product_id
JOIN product_categories c ON p.category_id = c.category_id JOIN dim_date d ON s.order_date_key = d.date_key"""


def sales_by_period_templates() -> list[Template]:
    """Sales of a category, region, product or channel in a fiscal or calendar period."""
    T = Template
    return [
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
            merge(one("cat", "categories"), fy_slots)),
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
            merge(one("region", "regions"), fq_slots)),
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
            merge(one("product", "popular_products"), month_slots)),
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
            merge(one("channel", "channels"), fy_slots, fiscal_month_slots)),
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
            merge(one("dept", "departments"), lambda v, r: {"n": int(r.choice([3, 5, 10]))})),
    ]


def returns_shipments_stock_templates() -> list[Template]:
    """Returns, refunds, shipments by carrier, and warehouse stock on a snapshot day."""
    T = Template
    return [
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
            merge(one("reason", "reasons"), fy_slots)),
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
            merge(one("carrier", "carriers"), month_slots)),
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
WHERE ca.carrier_name = '{carrier}'""", one("carrier", "carriers")),
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
            lambda v, r: (lambda day: {"warehouse": pick(r, v.warehouses), "d1": day.isoformat(), "d1_long": long_date(day)})(
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
            lambda v, r: (lambda day: {"warehouse": pick(r, v.warehouses), "d1": day.isoformat(), "d1_long": long_date(day)})(
                pick(r, v.snapshot_dates))),
    ]


def segments_and_ranges_templates() -> list[Template]:
    """Loyalty segments, monthly trends, distinct buyers, promotion discounts, inclusive and exclusive date ranges."""
    T = Template
    return [
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
            merge(one("tier", "tiers"), one("region", "regions"))),
        T("non_members_region", "medium", ("join", "null_handling", "aggregation"), [
            "How many customers in the {region} region are not loyalty members?",
            "Count {region} customers without a loyalty tier.",
            "How many customers whose home region is {region} have not joined the loyalty programme?",
            "Number of non-member customers in {region}?",
            "In {region}, how many customers have no loyalty tier?",
            "What's the count of {region} customers outside the loyalty program?",
            "Customers from {region} with no loyalty membership: how many?",
        ], """SELECT COUNT(*) FROM customers cu JOIN regions rg ON cu.region_id = rg.region_id
WHERE rg.region_name = '{region}' AND cu.loyalty_tier_id IS NULL""", one("region", "regions")),
        T("fiscal_month_trend", "medium", ("join", "fiscal_date", "group_by", "aggregation"), [
            "Show net sales per fiscal month of FY{fy}.",
            "Break down fiscal {fy} net sales by fiscal month.",
            "What were net sales in each fiscal month of fiscal year {fy}?",
            "Monthly (fiscal) revenue for FY{fy}, in fiscal month order.",
            "Give me FY{fy} net sales by fiscal month.",
            "List every fiscal month of {fy} with its net sales.",
            "Net revenue for each fiscal period of FY{fy}?",
        ], """SELECT d.fiscal_month, SUM(s.net_amount) AS net_sales FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key
WHERE d.fiscal_year = {fy} GROUP BY d.fiscal_month ORDER BY d.fiscal_month""", fy_slots, test_paraphrases=2, n_train=5, n_test=2),
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
            merge(one("brand", "brands"), fq_slots)),
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
            merge(one("promo_type", "promo_types"), fy_slots)),
        T("sales_between_inclusive", "medium", ("join", "calendar_date", "date_range", "aggregation"), [
            "What were total net sales between {d1_long} and {d2_long}, both days included?",
            "Total net sales from {d1} through {d2} inclusive?",
            "How much did we sell (net) between {d1} and {d2} inclusive?",
            "Sum net sales for orders placed from {d1_long} to {d2_long}, inclusive.",
            "Net revenue for the period {d1} to {d2}, including both end dates?",
            "Give me net sales for order dates between {d1_long} and {d2_long} inclusive.",
            "Between {d1} and {d2} (inclusive), what were net sales?",
        ], """SELECT SUM(s.net_amount) FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key
WHERE d.full_date BETWEEN DATE '{d1}' AND DATE '{d2}'""", lambda v, r: range_slots(v, r)),
        T("orders_exclusive_end", "medium", ("join", "calendar_date", "date_range", "aggregation"), [
            "How many orders were placed from {d1_long} up to but not including {d2_long}?",
            "Count orders with an order date on or after {d1} and before {d2}.",
            "Number of orders between {d1} (inclusive) and {d2} (exclusive)?",
            "How many orders did we get starting {d1_long} and ending the day before {d2_long}?",
            "Orders placed in the half-open range [{d1}, {d2})?",
            "From {d1_long} until {d2_long}, excluding {d2_long} itself, how many orders were placed?",
            "Count orders dated {d1} or later but earlier than {d2}.",
        ], """SELECT COUNT(*) FROM orders o JOIN dim_date d ON o.order_date_key = d.date_key
WHERE d.full_date >= DATE '{d1}' AND d.full_date < DATE '{d2}'""", lambda v, r: range_slots(v, r)),
    ]
