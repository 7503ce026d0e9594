"""Hard templates: HAVING, several fact tables, nested queries, ranking, year-over-year."""

from __future__ import annotations

from warehouse_fixtures.corpus import Template
from warehouse_fixtures.harbor_templates.slots import fiscal_month_slots, fy_slots, merge, month_slots, one, pick


def having_and_multi_fact_templates() -> list[Template]:
    """GROUP BY ... HAVING and questions that join two fact tables."""
    T = Template
    return [
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
            merge(fy_slots, lambda v, r: {"n": int(r.choice([100, 120, 150, 170, 200, 250]))})),
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
            merge(fy_slots, lambda v, r: {"x": int(r.choice([20, 40, 60, 80, 100, 150]))})),
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
            fy_slots, n_train=5, n_test=2),
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
WHERE c.category_name = '{cat}' AND d.fiscal_year = {fy}""", merge(one("cat", "categories"), fy_slots)),
    ]


def nested_and_ranked_templates() -> list[Template]:
    """Subqueries (NOT EXISTS, NOT IN, correlated, derived tables), top-n rankings, two-period comparisons."""
    T = Template
    return [
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
JOIN dim_date d ON s.order_date_key = d.date_key WHERE d.fiscal_year = {fy})""", merge(one("cat", "categories"), fy_slots)),
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
            one("cat", "categories")),
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
            merge(one("region", "regions"), fy_slots, lambda v, r: {"n": int(r.choice([3, 5, 10]))})),
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
            merge(fy_slots, fiscal_month_slots)),
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
GROUP BY s.order_id) sub""", merge(one("channel", "channels"), fy_slots)),
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
WHERE ch.channel_name = '{channel}' GROUP BY s.order_id) sub""", one("channel", "channels")),
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
WHERE d.fiscal_year = {fy} GROUP BY ca.carrier_name ORDER BY avg_cost_per_package DESC LIMIT 1""", fy_slots, n_train=5, n_test=2),
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
            month_slots),
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
            merge(one("store", "stores"), fy_slots, lambda v, r: {"n": int(r.choice([1, 2, 3]))})),
    ]
