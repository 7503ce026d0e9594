"""Easy templates: one table, a filter or a count."""

from __future__ import annotations

import datetime as dt

from warehouse_fixtures.corpus import Template
from warehouse_fixtures.harbor_templates.slots import long_date, merge, no_slots, one, pick, range_slots


def single_table_templates() -> list[Template]:
    """Counts and lists over one table, with filters, NULL checks and plain dates."""
    T = Template
    return [
        T("stores_by_type", "easy", ("aggregation", "filter"), [
            "How many {store_type} stores are there?",
            "Count the stores of type {store_type}.",
            "What is the number of {store_type} stores?",
            "How many stores have store type '{store_type}'?",
            "Give me the count of {store_type} locations.",
            "Number of {store_type}-type stores?",
            "How many of our stores are {store_type} stores?",
        ], "SELECT COUNT(*) FROM stores WHERE store_type = '{store_type}'", one("store_type", "store_types")),
        T("products_by_color", "easy", ("filter",), [
            "List the names of products whose colour is {color}.",
            "Which products come in {color}?",
            "Show all {color} products.",
            "What products have the color {color}?",
            "Give me the product names where the main colour is {color}.",
            "Find every product that is {color}.",
            "Name the products available in {color}.",
        ], "SELECT product_name FROM products WHERE color = '{color}'", one("color", "colors")),
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
        ], "SELECT supplier_name FROM suppliers WHERE country = '{country}'", one("country", "supplier_countries")),
        T("employees_by_title", "easy", ("aggregation", "filter"), [
            "How many employees have the job title {title}?",
            "Count the staff working as {title}.",
            "How many people are employed as a {title}?",
            "What is the headcount of {title} employees (current and former)?",
            "Number of employees with title '{title}'?",
            "How many {title} records are in the employee table?",
            "Tell me how many employees hold the {title} position.",
        ], "SELECT COUNT(*) FROM employees WHERE job_title = '{title}'", one("title", "job_titles")),
        T("stores_in_state", "easy", ("filter",), [
            "List the stores located in {state}.",
            "Which Harbor stores are in the state or province {state}?",
            "Show store names for stores in {state}.",
            "What stores do we have in {state}?",
            "Give me every store whose state is {state}.",
            "Find the stores in {state}.",
            "Name our {state} stores.",
        ], "SELECT store_name FROM stores WHERE state = '{state}'", one("state", "store_states")),
        T("unaudited_suppliers", "easy", ("null_handling", "filter"), [
            "Which suppliers have not been audited yet?",
            "List suppliers without a quality rating.",
            "Show the suppliers whose quality rating is missing.",
            "Which vendors have no audit score?",
            "Find suppliers with a NULL quality rating.",
            "What suppliers are still unrated?",
            "Name the suppliers that lack a quality rating.",
        ], "SELECT supplier_name FROM suppliers WHERE quality_rating IS NULL", no_slots),
        T("open_stores", "easy", ("null_handling", "filter"), [
            "Which stores are still open?",
            "List the stores that have not closed.",
            "Show the names of stores with no closing date.",
            "What stores are currently trading?",
            "Find all stores that remain open today.",
            "Which of our stores have never closed?",
            "Give me the stores without a closed date.",
        ], "SELECT store_name FROM stores WHERE closed_date IS NULL", no_slots),
        T("customers_no_email_state", "easy", ("null_handling", "aggregation", "filter"), [
            "How many customers in {state} have no email address on file?",
            "Count customers from {state} without an email.",
            "How many {state} customers are missing an e-mail address?",
            "Number of customers living in {state} whose email is empty (NULL)?",
            "How many customer accounts in {state} lack an email?",
            "For {state}, how many customers did not give us an email address?",
            "What's the count of {state} customers with no e-mail?",
        ], "SELECT COUNT(*) FROM customers WHERE state = '{state}' AND email IS NULL", one("state", "customer_states")),
        T("employees_hired_since", "easy", ("calendar_date", "aggregation", "filter"), [
            "How many employees were hired on or after {d1_long}?",
            "Count the employees with a hire date of {d1} or later.",
            "How many people joined Harbor since {d1_long} (inclusive)?",
            "Number of employees hired from {d1} onwards?",
            "How many staff have a hire date no earlier than {d1_long}?",
            "Since {d1_long}, including that day, how many employees were hired?",
            "What's the number of hires dated {d1} or after?",
        ], "SELECT COUNT(*) FROM employees WHERE hire_date >= DATE '{d1}'", lambda v, r: range_slots(v, r)),
        T("sessions_device_source", "easy", ("aggregation", "filter"), [
            "How many web sessions came from {device} devices via {source} traffic?",
            "Count the {device} sessions whose traffic source was {source}.",
            "How many visits were made on {device} from {source}?",
            "Number of web sessions with device type {device} and source {source}?",
            "How many {source} visits used a {device} device?",
            "Tell me the session count for {device} + {source}.",
            "What is the number of sessions from {source} on {device}?",
        ], "SELECT COUNT(*) FROM web_sessions WHERE device_type = '{device}' AND traffic_source = '{source}'",
            merge(one("device", "devices"), one("source", "sources"))),
        T("stores_opened_after", "easy", ("calendar_date", "filter"), [
            "Which stores opened after {d1_long}?",
            "List the stores with an opening date later than {d1}.",
            "Show stores that opened after {d1}.",
            "What stores first opened their doors after {d1_long}?",
            "Find stores whose opened date is after {d1_long}.",
            "Which locations were opened later than {d1_long}?",
            "Stores opened after {d1}?",
        ], "SELECT store_name FROM stores WHERE opened_date > DATE '{d1}'",
            lambda v, r: (lambda day: {"d1": day.isoformat(), "d1_long": long_date(day)})(
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
        ], "SELECT promotion_name FROM promotions WHERE promo_type = '{promo_type}'", one("promo_type", "promo_types")),
    ]
