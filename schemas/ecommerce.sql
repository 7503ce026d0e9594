-- A small online shop (DuckDB / PostgreSQL DDL). Example input for `sqltune schema show`.
-- Keys are declared inline; descriptions use COMMENT ON statements.

CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    email VARCHAR NOT NULL,
    full_name VARCHAR NOT NULL,
    city VARCHAR,
    country VARCHAR NOT NULL,
    signup_date DATE NOT NULL
);
COMMENT ON TABLE customers IS 'People who created an account.';
COMMENT ON COLUMN customers.country IS 'ISO 3166 alpha-2 code, e.g. US, DE.';

CREATE TABLE categories (
    category_id INTEGER PRIMARY KEY,
    category_name VARCHAR NOT NULL,
    parent_category_id INTEGER REFERENCES categories (category_id)
);
COMMENT ON TABLE categories IS 'Product categories; top-level categories have no parent.';

CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    sku VARCHAR NOT NULL,
    product_name VARCHAR NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories (category_id),
    unit_price DECIMAL(10, 2) NOT NULL,
    is_active BOOLEAN NOT NULL
);
COMMENT ON COLUMN products.unit_price IS 'Current list price in USD.';

CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    ordered_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    shipping_country VARCHAR
);
COMMENT ON TABLE orders IS 'One row per checkout.';
COMMENT ON COLUMN orders.status IS 'One of pending, paid, shipped, delivered, cancelled, returned.';

CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders (order_id),
    line_number INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    quantity INTEGER NOT NULL,
    unit_price DECIMAL(10, 2) NOT NULL,
    PRIMARY KEY (order_id, line_number)
);
COMMENT ON TABLE order_items IS 'Order lines; the price is the price paid at checkout.';

CREATE TABLE payments (
    payment_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (order_id),
    method VARCHAR NOT NULL,
    amount DECIMAL(10, 2) NOT NULL,
    paid_at TIMESTAMP NOT NULL
);
COMMENT ON COLUMN payments.method IS 'card, paypal, bank_transfer or gift_card.';

CREATE TABLE reviews (
    review_id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    rating INTEGER NOT NULL,
    review_text VARCHAR,
    created_at TIMESTAMP NOT NULL
);
COMMENT ON COLUMN reviews.rating IS 'Stars, 1 (worst) to 5 (best).';
