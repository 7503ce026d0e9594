-- Harbor Analytics: a retail + logistics warehouse (DuckDB dialect).
-- The builder (warehouse_fixtures/harbor.py) runs this DDL, then fills every table from harbor.yaml.
-- Tables are in foreign-key order: a table only references tables created above it.
-- Fiscal calendar: the fiscal year starts on 1 February and is named after the calendar year in
-- which it ENDS (FY2024 = 2023-02-01 .. 2024-01-31), so fiscal and calendar periods never line up.

CREATE TABLE dim_date (
    date_key INTEGER PRIMARY KEY,
    full_date DATE NOT NULL,
    calendar_year INTEGER NOT NULL,
    calendar_quarter INTEGER NOT NULL,
    calendar_month INTEGER NOT NULL,
    month_name VARCHAR NOT NULL,
    day_of_month INTEGER NOT NULL,
    day_of_week INTEGER NOT NULL,
    day_name VARCHAR NOT NULL,
    iso_week INTEGER NOT NULL,
    is_weekend BOOLEAN NOT NULL,
    is_holiday BOOLEAN NOT NULL,
    holiday_name VARCHAR,
    fiscal_year INTEGER NOT NULL,
    fiscal_quarter INTEGER NOT NULL,
    fiscal_month INTEGER NOT NULL
);
COMMENT ON TABLE dim_date IS 'Date dimension, one row per calendar day. Every *_date_key in the warehouse points here.';
COMMENT ON COLUMN dim_date.date_key IS 'Surrogate key as an integer yyyymmdd, e.g. 20240315.';
COMMENT ON COLUMN dim_date.calendar_quarter IS 'Calendar quarter 1-4 (Q1 = January-March).';
COMMENT ON COLUMN dim_date.calendar_month IS 'Calendar month 1-12 (1 = January).';
COMMENT ON COLUMN dim_date.day_of_week IS 'ISO day of week: 1 = Monday ... 7 = Sunday.';
COMMENT ON COLUMN dim_date.iso_week IS 'ISO 8601 week number of the calendar year.';
COMMENT ON COLUMN dim_date.is_holiday IS 'True on US public holidays and Black Friday.';
COMMENT ON COLUMN dim_date.holiday_name IS 'Name of the holiday; NULL on ordinary days.';
COMMENT ON COLUMN dim_date.fiscal_year IS 'Fiscal year; it starts 1 February and is named after the calendar year in which it ends (FY2024 = 2023-02-01 to 2024-01-31).';
COMMENT ON COLUMN dim_date.fiscal_quarter IS 'Fiscal quarter 1-4; fiscal Q1 = February-April, Q4 = November-January.';
COMMENT ON COLUMN dim_date.fiscal_month IS 'Fiscal month 1-12; fiscal month 1 = February, 12 = January.';

CREATE TABLE regions (
    region_id INTEGER PRIMARY KEY,
    region_name VARCHAR NOT NULL,
    country VARCHAR NOT NULL
);
COMMENT ON TABLE regions IS 'Sales regions; used by stores, warehouses, customers (home region) and shipments (destination).';

CREATE TABLE stores (
    store_id INTEGER PRIMARY KEY,
    store_name VARCHAR NOT NULL,
    store_type VARCHAR NOT NULL,
    city VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    region_id INTEGER NOT NULL REFERENCES regions (region_id),
    opened_date DATE NOT NULL,
    closed_date DATE,
    square_feet INTEGER NOT NULL
);
COMMENT ON TABLE stores IS 'Physical Harbor stores.';
COMMENT ON COLUMN stores.store_type IS 'One of flagship, mall, outlet, express.';
COMMENT ON COLUMN stores.state IS 'US state or Canadian province code, e.g. WA or ON.';
COMMENT ON COLUMN stores.closed_date IS 'Date the store closed for good; NULL while the store is open.';
COMMENT ON COLUMN stores.square_feet IS 'Selling floor area in square feet.';

CREATE TABLE warehouses (
    warehouse_id INTEGER PRIMARY KEY,
    warehouse_name VARCHAR NOT NULL,
    city VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    region_id INTEGER NOT NULL REFERENCES regions (region_id),
    capacity_units INTEGER NOT NULL,
    is_cold_storage BOOLEAN NOT NULL
);
COMMENT ON TABLE warehouses IS 'Distribution centres that hold inventory, receive purchase orders and ship online orders.';
COMMENT ON COLUMN warehouses.capacity_units IS 'Maximum number of product units the building can hold.';
COMMENT ON COLUMN warehouses.is_cold_storage IS 'True when the site has refrigerated storage for grocery items.';

CREATE TABLE departments (
    department_id INTEGER PRIMARY KEY,
    department_name VARCHAR NOT NULL
);
COMMENT ON TABLE departments IS 'Top level of the merchandise hierarchy (department > category > product).';

CREATE TABLE product_categories (
    category_id INTEGER PRIMARY KEY,
    category_name VARCHAR NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments (department_id)
);
COMMENT ON TABLE product_categories IS 'Product categories, each inside one department.';

CREATE TABLE brands (
    brand_id INTEGER PRIMARY KEY,
    brand_name VARCHAR NOT NULL,
    is_private_label BOOLEAN NOT NULL
);
COMMENT ON TABLE brands IS 'Product brands.';
COMMENT ON COLUMN brands.is_private_label IS 'True for Harbor''s own store brands.';

CREATE TABLE suppliers (
    supplier_id INTEGER PRIMARY KEY,
    supplier_name VARCHAR NOT NULL,
    country VARCHAR NOT NULL,
    lead_time_days INTEGER NOT NULL,
    quality_rating DECIMAL(3, 2)
);
COMMENT ON TABLE suppliers IS 'Vendors Harbor buys products from.';
COMMENT ON COLUMN suppliers.lead_time_days IS 'Contractual days between placing a purchase order and delivery.';
COMMENT ON COLUMN suppliers.quality_rating IS 'Audit score from 1.00 to 5.00; NULL when the supplier has not been audited yet.';

CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    sku VARCHAR NOT NULL UNIQUE,
    product_name VARCHAR NOT NULL,
    category_id INTEGER NOT NULL REFERENCES product_categories (category_id),
    brand_id INTEGER NOT NULL REFERENCES brands (brand_id),
    supplier_id INTEGER NOT NULL REFERENCES suppliers (supplier_id),
    unit_cost DECIMAL(10, 2) NOT NULL,
    list_price DECIMAL(10, 2) NOT NULL,
    launch_date DATE NOT NULL,
    discontinued_date DATE,
    weight_kg DECIMAL(6, 2),
    color VARCHAR
);
COMMENT ON TABLE products IS 'Sellable products (one row per SKU).';
COMMENT ON COLUMN products.sku IS 'Stock keeping unit code, e.g. HB-00042.';
COMMENT ON COLUMN products.unit_cost IS 'Current cost Harbor pays the supplier per unit (not the selling price).';
COMMENT ON COLUMN products.list_price IS 'Current shelf price per unit; the price actually charged is sales.unit_price.';
COMMENT ON COLUMN products.discontinued_date IS 'Date the product was taken out of the range; NULL while it is still sold.';
COMMENT ON COLUMN products.weight_kg IS 'Shipping weight in kilograms; NULL when not measured.';
COMMENT ON COLUMN products.color IS 'Main colour; NULL for products without a colour (e.g. food).';

CREATE TABLE loyalty_tiers (
    loyalty_tier_id INTEGER PRIMARY KEY,
    tier_name VARCHAR NOT NULL,
    discount_pct DECIMAL(4, 1) NOT NULL,
    min_annual_spend DECIMAL(10, 2) NOT NULL
);
COMMENT ON TABLE loyalty_tiers IS 'Loyalty programme tiers.';
COMMENT ON COLUMN loyalty_tiers.discount_pct IS 'Member discount in percent, e.g. 5.0.';
COMMENT ON COLUMN loyalty_tiers.min_annual_spend IS 'Spend per year needed to reach the tier.';

CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    first_name VARCHAR NOT NULL,
    last_name VARCHAR NOT NULL,
    email VARCHAR,
    city VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    region_id INTEGER NOT NULL REFERENCES regions (region_id),
    loyalty_tier_id INTEGER REFERENCES loyalty_tiers (loyalty_tier_id),
    signup_date DATE NOT NULL,
    birth_year INTEGER
);
COMMENT ON TABLE customers IS 'Registered customers.';
COMMENT ON COLUMN customers.email IS 'Contact e-mail; NULL when the customer gave none.';
COMMENT ON COLUMN customers.region_id IS 'Home region of the customer (not the region of the store they shop at).';
COMMENT ON COLUMN customers.loyalty_tier_id IS 'Current loyalty tier; NULL when the customer is not a loyalty member.';
COMMENT ON COLUMN customers.signup_date IS 'Date the customer account was created.';
COMMENT ON COLUMN customers.birth_year IS 'Year of birth; NULL when not given.';

CREATE TABLE employees (
    employee_id INTEGER PRIMARY KEY,
    first_name VARCHAR NOT NULL,
    last_name VARCHAR NOT NULL,
    job_title VARCHAR NOT NULL,
    store_id INTEGER REFERENCES stores (store_id),
    warehouse_id INTEGER REFERENCES warehouses (warehouse_id),
    hire_date DATE NOT NULL,
    termination_date DATE,
    hourly_rate DECIMAL(6, 2) NOT NULL
);
COMMENT ON TABLE employees IS 'Staff. Store staff have store_id set, warehouse staff warehouse_id, head-office staff neither.';
COMMENT ON COLUMN employees.store_id IS 'Store the employee works in; NULL for warehouse and head-office staff.';
COMMENT ON COLUMN employees.warehouse_id IS 'Warehouse the employee works in; NULL for store and head-office staff.';
COMMENT ON COLUMN employees.termination_date IS 'Last day of employment; NULL for current employees.';

CREATE TABLE promotions (
    promotion_id INTEGER PRIMARY KEY,
    promotion_name VARCHAR NOT NULL,
    promo_type VARCHAR NOT NULL,
    discount_pct DECIMAL(4, 1),
    start_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    end_date_key INTEGER NOT NULL REFERENCES dim_date (date_key)
);
COMMENT ON TABLE promotions IS 'Marketing promotions that can discount sales lines.';
COMMENT ON COLUMN promotions.promo_type IS 'One of percent_off, bogo, clearance, bundle.';
COMMENT ON COLUMN promotions.discount_pct IS 'Percent off; NULL for buy-one-get-one (bogo) and bundle promotions.';
COMMENT ON COLUMN promotions.start_date_key IS 'First day of the promotion (inclusive).';
COMMENT ON COLUMN promotions.end_date_key IS 'Last day of the promotion (inclusive).';

CREATE TABLE carriers (
    carrier_id INTEGER PRIMARY KEY,
    carrier_name VARCHAR NOT NULL,
    service_level VARCHAR NOT NULL,
    is_active BOOLEAN NOT NULL
);
COMMENT ON TABLE carriers IS 'Delivery companies used for shipments.';
COMMENT ON COLUMN carriers.service_level IS 'One of ground, express, freight.';
COMMENT ON COLUMN carriers.is_active IS 'False for carriers Harbor no longer contracts.';

CREATE TABLE channels (
    channel_id INTEGER PRIMARY KEY,
    channel_name VARCHAR NOT NULL,
    is_online BOOLEAN NOT NULL
);
COMMENT ON TABLE channels IS 'Sales channels: In-Store, Web, Mobile App, Marketplace.';

CREATE TABLE payment_methods (
    payment_method_id INTEGER PRIMARY KEY,
    method_name VARCHAR NOT NULL
);
COMMENT ON TABLE payment_methods IS 'How an order was paid.';

CREATE TABLE return_reasons (
    return_reason_id INTEGER PRIMARY KEY,
    reason_text VARCHAR NOT NULL,
    is_defect BOOLEAN NOT NULL
);
COMMENT ON TABLE return_reasons IS 'Reasons customers give for returning an item.';
COMMENT ON COLUMN return_reasons.is_defect IS 'True when the reason is a product defect (counts against the supplier).';

CREATE TABLE orders (
    order_id BIGINT PRIMARY KEY,
    order_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    customer_id INTEGER REFERENCES customers (customer_id),
    channel_id INTEGER NOT NULL REFERENCES channels (channel_id),
    store_id INTEGER REFERENCES stores (store_id),
    payment_method_id INTEGER NOT NULL REFERENCES payment_methods (payment_method_id),
    employee_id INTEGER REFERENCES employees (employee_id),
    order_status VARCHAR NOT NULL,
    shipping_fee DECIMAL(8, 2)
);
COMMENT ON TABLE orders IS 'Order headers: one row per customer order (its lines are in sales).';
COMMENT ON COLUMN orders.order_date_key IS 'Day the order was placed.';
COMMENT ON COLUMN orders.customer_id IS 'Buyer; NULL for guest checkouts and anonymous in-store purchases.';
COMMENT ON COLUMN orders.store_id IS 'Store where the order was placed; NULL for online orders.';
COMMENT ON COLUMN orders.employee_id IS 'Cashier who rang up the order; NULL for online orders.';
COMMENT ON COLUMN orders.order_status IS 'completed or cancelled.';
COMMENT ON COLUMN orders.shipping_fee IS 'Delivery fee charged to the customer; NULL for in-store orders.';

CREATE TABLE sales (
    sales_line_id BIGINT PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (order_id),
    line_number INTEGER NOT NULL,
    order_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    customer_id INTEGER REFERENCES customers (customer_id),
    store_id INTEGER REFERENCES stores (store_id),
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    promotion_id INTEGER REFERENCES promotions (promotion_id),
    quantity INTEGER NOT NULL,
    unit_price DECIMAL(10, 2) NOT NULL,
    discount_amount DECIMAL(10, 2) NOT NULL,
    net_amount DECIMAL(12, 2) NOT NULL
);
COMMENT ON TABLE sales IS 'Sales fact: one row per order line. order_date_key, customer_id and store_id repeat the order header.';
COMMENT ON COLUMN sales.order_date_key IS 'Day the order was placed (same as orders.order_date_key).';
COMMENT ON COLUMN sales.store_id IS 'Store where the item was sold; NULL for online orders.';
COMMENT ON COLUMN sales.promotion_id IS 'Promotion applied to the line; NULL when sold at the regular price.';
COMMENT ON COLUMN sales.unit_price IS 'Price charged per unit before the line discount.';
COMMENT ON COLUMN sales.discount_amount IS 'Total discount on the line in dollars (0 when no promotion).';
COMMENT ON COLUMN sales.net_amount IS 'Revenue of the line: quantity * unit_price - discount_amount.';

CREATE TABLE shipments (
    shipment_id BIGINT PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (order_id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (warehouse_id),
    carrier_id INTEGER NOT NULL REFERENCES carriers (carrier_id),
    ship_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    delivery_date_key INTEGER REFERENCES dim_date (date_key),
    destination_region_id INTEGER NOT NULL REFERENCES regions (region_id),
    package_count INTEGER NOT NULL,
    shipping_cost DECIMAL(8, 2) NOT NULL,
    shipment_status VARCHAR NOT NULL
);
COMMENT ON TABLE shipments IS 'Outbound parcels for online orders, one row per shipment (an order can ship in several).';
COMMENT ON COLUMN shipments.ship_date_key IS 'Day the parcel left the warehouse (not the order date).';
COMMENT ON COLUMN shipments.delivery_date_key IS 'Day the parcel was delivered; NULL while in transit or when lost.';
COMMENT ON COLUMN shipments.destination_region_id IS 'Region the parcel is delivered to.';
COMMENT ON COLUMN shipments.shipping_cost IS 'What the carrier charged Harbor (not the fee charged to the customer).';
COMMENT ON COLUMN shipments.shipment_status IS 'One of delivered, in_transit, lost.';

CREATE TABLE returns (
    return_id BIGINT PRIMARY KEY,
    sales_line_id BIGINT NOT NULL REFERENCES sales (sales_line_id),
    return_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    store_id INTEGER REFERENCES stores (store_id),
    return_reason_id INTEGER NOT NULL REFERENCES return_reasons (return_reason_id),
    quantity_returned INTEGER NOT NULL,
    refund_amount DECIMAL(12, 2) NOT NULL,
    restocked BOOLEAN NOT NULL
);
COMMENT ON TABLE returns IS 'Returned items, one row per return of (part of) a sales line.';
COMMENT ON COLUMN returns.return_date_key IS 'Day the item came back (not the original order date).';
COMMENT ON COLUMN returns.store_id IS 'Store where the item was handed back (can differ from the store that sold it); NULL for returns by mail.';
COMMENT ON COLUMN returns.refund_amount IS 'Money paid back to the customer.';
COMMENT ON COLUMN returns.restocked IS 'True when the item went back into sellable stock.';

CREATE TABLE inventory_snapshots (
    snapshot_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (warehouse_id),
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    quantity_on_hand INTEGER NOT NULL,
    quantity_reserved INTEGER NOT NULL,
    reorder_point INTEGER NOT NULL,
    PRIMARY KEY (snapshot_date_key, warehouse_id, product_id)
);
COMMENT ON TABLE inventory_snapshots IS 'Stock per warehouse and product, taken on the last day of every calendar month. Levels are not additive over time: do not sum across snapshot dates.';
COMMENT ON COLUMN inventory_snapshots.quantity_on_hand IS 'Units physically in the warehouse at the snapshot.';
COMMENT ON COLUMN inventory_snapshots.quantity_reserved IS 'Units already promised to open orders.';
COMMENT ON COLUMN inventory_snapshots.reorder_point IS 'When on-hand stock falls below this level the product should be re-ordered.';

CREATE TABLE purchase_orders (
    purchase_order_id INTEGER PRIMARY KEY,
    supplier_id INTEGER NOT NULL REFERENCES suppliers (supplier_id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (warehouse_id),
    buyer_employee_id INTEGER REFERENCES employees (employee_id),
    order_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    expected_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    received_date_key INTEGER REFERENCES dim_date (date_key),
    po_status VARCHAR NOT NULL
);
COMMENT ON TABLE purchase_orders IS 'Purchase orders Harbor places with suppliers, delivered to a warehouse.';
COMMENT ON COLUMN purchase_orders.buyer_employee_id IS 'Head-office buyer who placed the order; NULL for automatic re-orders.';
COMMENT ON COLUMN purchase_orders.order_date_key IS 'Day the purchase order was sent to the supplier.';
COMMENT ON COLUMN purchase_orders.expected_date_key IS 'Promised delivery day.';
COMMENT ON COLUMN purchase_orders.received_date_key IS 'Day the goods arrived; NULL while open or when cancelled.';
COMMENT ON COLUMN purchase_orders.po_status IS 'One of received, open, cancelled.';

CREATE TABLE purchase_order_lines (
    purchase_order_id INTEGER NOT NULL REFERENCES purchase_orders (purchase_order_id),
    line_number INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    quantity_ordered INTEGER NOT NULL,
    quantity_received INTEGER,
    unit_cost DECIMAL(10, 2) NOT NULL,
    PRIMARY KEY (purchase_order_id, line_number)
);
COMMENT ON TABLE purchase_order_lines IS 'Lines of purchase orders.';
COMMENT ON COLUMN purchase_order_lines.quantity_received IS 'Units actually received; NULL until the order is received.';
COMMENT ON COLUMN purchase_order_lines.unit_cost IS 'Cost per unit agreed on this purchase order.';

CREATE TABLE web_sessions (
    session_id BIGINT PRIMARY KEY,
    session_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    customer_id INTEGER REFERENCES customers (customer_id),
    channel_id INTEGER NOT NULL REFERENCES channels (channel_id),
    device_type VARCHAR NOT NULL,
    traffic_source VARCHAR NOT NULL,
    pages_viewed INTEGER NOT NULL,
    duration_seconds INTEGER NOT NULL,
    converted_order_id BIGINT REFERENCES orders (order_id)
);
COMMENT ON TABLE web_sessions IS 'Visits to the website and mobile app.';
COMMENT ON COLUMN web_sessions.customer_id IS 'Logged-in customer; NULL for anonymous visitors.';
COMMENT ON COLUMN web_sessions.device_type IS 'One of desktop, mobile, tablet.';
COMMENT ON COLUMN web_sessions.traffic_source IS 'One of organic, paid_search, email, social, direct.';
COMMENT ON COLUMN web_sessions.converted_order_id IS 'Order placed during the visit; NULL when the visit did not convert.';

CREATE TABLE store_traffic (
    store_id INTEGER NOT NULL REFERENCES stores (store_id),
    traffic_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    visitor_count INTEGER NOT NULL,
    PRIMARY KEY (store_id, traffic_date_key)
);
COMMENT ON TABLE store_traffic IS 'Daily footfall counted by door sensors, one row per open store and day.';

CREATE TABLE sales_targets (
    store_id INTEGER NOT NULL REFERENCES stores (store_id),
    fiscal_year INTEGER NOT NULL,
    fiscal_month INTEGER NOT NULL,
    target_amount DECIMAL(12, 2) NOT NULL,
    PRIMARY KEY (store_id, fiscal_year, fiscal_month)
);
COMMENT ON TABLE sales_targets IS 'Monthly revenue targets per store, set per fiscal month (no date key: match dim_date.fiscal_year and fiscal_month).';
COMMENT ON COLUMN sales_targets.fiscal_month IS 'Fiscal month 1-12 (1 = February).';
COMMENT ON COLUMN sales_targets.target_amount IS 'Net sales goal for the store in that fiscal month.';

CREATE TABLE price_changes (
    price_change_id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    effective_date_key INTEGER NOT NULL REFERENCES dim_date (date_key),
    old_price DECIMAL(10, 2) NOT NULL,
    new_price DECIMAL(10, 2) NOT NULL
);
COMMENT ON TABLE price_changes IS 'History of list price changes.';
COMMENT ON COLUMN price_changes.effective_date_key IS 'First day the new price applied.';
