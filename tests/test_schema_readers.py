"""Schema readers: DuckDB (built here), PostgreSQL (the real server), DDL files, and the dispatcher."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import pytest

from sqltune.core.errors import SchemaSourceError
from sqltune.schema import load_schema, source_kind
from sqltune.schema.ddl_reader import parse_ddl, read_ddl
from sqltune.schema.model import ForeignKey
from sqltune.schema.samples import SampleOptions, clean_samples, sampleable, value_list

REPO = Path(__file__).resolve().parents[1]
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture()
def shop_duckdb(tmp_path) -> Path:
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, city VARCHAR, photo BLOB,
                                bio VARCHAR, tags VARCHAR[]);
        COMMENT ON TABLE customers IS 'People who buy';
        COMMENT ON COLUMN customers.city IS 'Home city';
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id),
                             total DECIMAL(10, 2));
        CREATE TABLE lines (order_id INTEGER, line_no INTEGER, qty INTEGER, PRIMARY KEY (order_id, line_no),
                            FOREIGN KEY (order_id) REFERENCES orders (id));
        CREATE SCHEMA archive;
        CREATE TABLE archive.old_orders (id INTEGER PRIMARY KEY);
        CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
        INSERT INTO customers SELECT i, 'c' || i, CASE WHEN i % 3 = 0 THEN 'Boston' WHEN i % 3 = 1 THEN 'Denver'
            ELSE 'Austin' END || CASE WHEN i = 1 THEN '' ELSE '' END, NULL, repeat('x', 200), ['a'] FROM range(1, 11) t(i);
        INSERT INTO customers VALUES (11, 'c11', 'Boston', NULL, NULL, NULL);
        INSERT INTO orders VALUES (1, 1, 10.5), (2, 1, 200), (3, 2, 7);
        """
    )
    con.close()
    return path


def test_duckdb_reader_reads_keys_comments_samples_and_counts(shop_duckdb):
    schema = load_schema(shop_duckdb, samples_per_column=2)
    assert schema.name == "shop" and schema.dialect == "duckdb"
    assert schema.table_names == ["customers", "lines", "orders", "archive.old_orders", "big_orders"]
    customers = schema.table("customers")
    assert customers.comment == "People who buy"
    assert customers.primary_key == ("id",)
    assert customers.row_count == 11
    assert customers.column("city").comment == "Home city"
    assert customers.column("name").nullable is False and customers.column("city").nullable is True
    # most frequent first (Boston 4x, Denver 4x, Austin 3x), ties broken by value: stable across reads
    assert customers.column("city").samples == ("Boston", "Denver")
    # low-cardinality text columns keep every value (for matching questions), most frequent first
    assert customers.column("city").values == ("Boston", "Denver", "Austin")
    assert customers.column("name").values == tuple(sorted(f"c{i}" for i in range(1, 12)))  # ties: by text
    assert customers.column("id").values == ()  # not text
    assert customers.column("photo").samples == ()  # binary
    assert customers.column("bio").samples == ()  # too long
    assert customers.column("tags").samples == ()  # nested
    orders = schema.table("orders")
    assert orders.foreign_keys == [ForeignKey(("customer_id",), "customers", ("id",))]
    assert schema.table("lines").primary_key == ("order_id", "line_no")
    assert schema.table("big_orders").row_count is None  # views are not counted
    assert load_schema(shop_duckdb, samples_per_column=2) == schema  # deterministic
    assert load_schema(shop_duckdb, samples_per_column=0).table("customers").column("city").samples == ()


def test_duckdb_url_routes_to_duckdb_reader(shop_duckdb):
    assert source_kind(f"duckdb:///{shop_duckdb}") == "duckdb"
    assert load_schema(f"duckdb:///{shop_duckdb}").table_names == load_schema(shop_duckdb).table_names


def test_samples_helpers():
    options = SampleOptions(count=2, max_chars=5, max_values=3)
    assert clean_samples(["a", None, "a", b"x", "toolong", "b\nc", " d ", "e"], options) == ("a", "d")
    assert value_list(["x", "y", "a longer value"], "VARCHAR", options) == ("x", "y", "a longer value")
    assert value_list(["w", "x", "y", "z"], "VARCHAR", options) == ()  # too many distinct values
    assert value_list(["1", "2"], "INTEGER", options) == ()
    assert sampleable("VARCHAR") and sampleable("DECIMAL(10,2)") and sampleable("ENUM('a')")
    assert not any(sampleable(t) for t in ["BLOB", "bytea", "INTEGER[]", "STRUCT(a INT)", "JSON", "MAP(VARCHAR, INT)"])


# --------------------------------------------------------------------------- PostgreSQL


def _pg_available() -> bool:
    import sqlalchemy as sa

    try:
        sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://")).connect().close()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture()
def pg_schema():
    """A dedicated PostgreSQL schema with keys and comments, dropped afterwards."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    import sqlalchemy as sa

    name = f"sqltune_test_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"""
            CREATE SCHEMA {name};
            CREATE TABLE {name}.vessels (imo INTEGER PRIMARY KEY, vessel_name TEXT NOT NULL, flag CHAR(2),
                                         meta JSONB);
            COMMENT ON TABLE {name}.vessels IS 'Ships known to the port';
            COMMENT ON COLUMN {name}.vessels.flag IS 'Flag state, ISO alpha-2';
            CREATE TABLE {name}.berths (terminal TEXT, berth_no INTEGER, PRIMARY KEY (terminal, berth_no));
            CREATE TABLE {name}.calls (call_id BIGINT PRIMARY KEY, imo INTEGER REFERENCES {name}.vessels (imo),
                                       terminal TEXT, berth_no INTEGER,
                                       FOREIGN KEY (terminal, berth_no) REFERENCES {name}.berths (terminal, berth_no));
            INSERT INTO {name}.vessels VALUES (1, 'Nordic Star', 'NO', '{{}}'), (2, 'Blue Whale', 'PA', '[]'),
                                             (3, 'Sea Lion', 'NO', NULL);
            INSERT INTO {name}.berths VALUES ('CT1', 1), ('CT1', 2);
            INSERT INTO {name}.calls VALUES (10, 1, 'CT1', 1);
            """
        )
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        engine.dispose()


def test_sqlalchemy_reader_on_real_postgres(pg_schema):
    schema = load_schema(PG_URL, db_schema=pg_schema, samples_per_column=2)
    assert schema.dialect == "postgres" and schema.name == "test"
    assert schema.table_names == ["berths", "calls", "vessels"]
    vessels = schema.table("vessels")
    assert vessels.comment == "Ships known to the port"
    assert vessels.primary_key == ("imo",)
    assert vessels.row_count == 3
    assert vessels.column("flag").comment == "Flag state, ISO alpha-2"
    assert vessels.column("flag").samples == ("NO", "PA")
    assert vessels.column("meta").samples == ()  # JSON is never sampled
    assert vessels.column("flag").values == ("NO", "PA")
    assert vessels.column("vessel_name").nullable is False
    calls = schema.table("calls")
    assert ForeignKey(("imo",), "vessels", ("imo",)) in calls.foreign_keys
    assert ForeignKey(("terminal", "berth_no"), "berths", ("terminal", "berth_no")) in calls.foreign_keys
    assert schema.table("berths").primary_key == ("terminal", "berth_no")
    # search_path in the URL selects the same schema without db_schema
    via_url = load_schema(f"{PG_URL}?options=-csearch_path%3D{pg_schema}", samples_per_column=2)
    assert via_url == schema


def test_sqlalchemy_reader_errors_are_one_line(pg_schema):
    with pytest.raises(SchemaSourceError, match="no schema named 'missing'"):
        load_schema(PG_URL, db_schema="missing")
    with pytest.raises(SchemaSourceError) as info:
        load_schema("postgresql://postgres:secret@127.0.0.1:1/test")
    assert "secret" not in str(info.value) and "\n" not in str(info.value)
    assert "127.0.0.1" in str(info.value)


def test_sqlite_file_is_read_through_sqlalchemy(tmp_path):
    import sqlite3

    path = tmp_path / "tiny.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, label TEXT)")
    con.execute("INSERT INTO a VALUES (1, 'x')")
    con.commit()
    con.close()
    schema = load_schema(path)
    assert (schema.name, schema.dialect, schema.table_names) == ("tiny", "sqlite", ["a"])
    assert schema.table("a").column("label").samples == ("x",)


# --------------------------------------------------------------------------- DDL


def test_ddl_reader_example_schemas():
    shop = load_schema(REPO / "schemas" / "ecommerce.sql")
    assert shop.table_names == ["customers", "categories", "products", "orders", "order_items", "payments", "reviews"]
    assert shop.table("customers").comment == "People who created an account."
    assert shop.table("orders").column("status").comment.startswith("One of pending")
    assert shop.table("order_items").primary_key == ("order_id", "line_number")
    assert ForeignKey(("product_id",), "products", ("product_id",)) in shop.table("order_items").foreign_keys
    assert shop.table("categories").foreign_keys == [
        ForeignKey(("parent_category_id",), "categories", ("category_id",))
    ]
    port = load_schema(REPO / "schemas" / "port_operations.sql")
    assert port.table("terminals").comment.startswith("Terminals of the port")
    assert port.table("terminals").column("cargo_kind").comment.startswith("container")
    calls = port.table("port_calls")
    assert ForeignKey(("terminal_code", "berth_no"), "berths", ("terminal_code", "berth_no")) in calls.foreign_keys
    assert calls.column("call_id").nullable is False


def test_ddl_reader_variants():
    schema = parse_ddl(
        """
        CREATE TABLE c (id INT, name VARCHAR(10) NOT NULL COMMENT 'full name', city TEXT, -- home city
                        PRIMARY KEY (id)) COMMENT = 'people';
        CREATE TABLE o (id INT PRIMARY KEY, cid INT REFERENCES c, note TEXT);
        CREATE INDEX ix ON o (cid);
        INSERT INTO c VALUES (1, 'a', 'b');
        COMMENT ON COLUMN o.note IS 'free text';
        COMMENT ON TABLE o IS 'orders';
        """
    )
    c, o = schema.tables
    assert (c.comment, c.primary_key, c.column("name").comment, c.column("city").comment) == (
        "people",
        ("id",),
        "full name",
        "home city",
    )
    assert c.column("id").nullable is False
    assert o.foreign_keys == [ForeignKey(("cid",), "c", ("id",))]  # REFERENCES c -> c's primary key
    assert (o.comment, o.column("note").comment) == ("orders", "free text")


def test_ddl_directory_and_errors(tmp_path):
    good = tmp_path / "ok"
    good.mkdir()
    (good / "b.sql").write_text("CREATE TABLE b (id INT PRIMARY KEY, a_id INT REFERENCES a (id));\n")
    (good / "a.sql").write_text("CREATE TABLE a (id INT PRIMARY KEY);\n")
    (good / "notes.txt").write_text("not sql")
    assert source_kind(str(good)) == "ddl"
    assert load_schema(good).table_names == ["a", "b"]  # files in name order

    broken = tmp_path / "broken.sql"
    broken.write_text("CREATE TABLE a (id INT);\n\nCREATE TABLE b (id INT,\n  x INT\n")
    with pytest.raises(SchemaSourceError) as info:
        load_schema(broken)
    message = str(info.value)
    assert str(broken) in message and "invalid DDL" in message and "\n" not in message
    assert f"{broken}:4" in message or f"{broken}:5" in message  # the line sqlglot reports

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SchemaSourceError, match="no .sql files"):
        read_ddl(empty)
    no_tables = tmp_path / "none.sql"
    no_tables.write_text("SELECT 1;")
    with pytest.raises(SchemaSourceError, match="no CREATE TABLE"):
        load_schema(no_tables)


def test_dispatch_errors(tmp_path):
    with pytest.raises(SchemaSourceError, match="no such file"):
        load_schema(tmp_path / "missing.duckdb")
    odd = tmp_path / "data.bin"
    odd.write_bytes(b"\x00garbage" * 4)
    with pytest.raises(SchemaSourceError, match="not a DuckDB or SQLite file"):
        load_schema(odd)
    fake = tmp_path / "fake.duckdb"
    fake.write_text("hello")
    with pytest.raises(SchemaSourceError) as info:
        load_schema(fake)
    assert str(fake) in str(info.value)
    with pytest.raises(SchemaSourceError, match="nosuchdialect"):
        load_schema("nosuchdialect://host/db")


# --------------------------------------------------------------------------- dumps: pg_dump -s, mysqldump --no-data
DUMP_SCHEMA_PG = """
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, email text UNIQUE);
COMMENT ON TABLE customers IS 'People who buy';
COMMENT ON COLUMN customers.email IS 'Contact address';
CREATE TABLE products (sku varchar(20) PRIMARY KEY, title text, price numeric(10, 2));
CREATE TABLE orders (id serial PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers (id),
                     placed_at timestamptz DEFAULT now());
CREATE TABLE order_items (order_id integer REFERENCES orders (id) ON DELETE CASCADE,
                          sku varchar(20) REFERENCES products (sku), qty integer CHECK (qty > 0),
                          PRIMARY KEY (order_id, sku));
CREATE INDEX orders_customer ON orders (customer_id);
CREATE VIEW big_orders AS SELECT id FROM orders;
COMMENT ON VIEW big_orders IS 'Orders worth a look';
CREATE VIEW customer_orders AS SELECT c.name, count(*) AS n_orders, o.customer_id
    FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name, o.customer_id;
CREATE MATERIALIZED VIEW daily_orders AS SELECT placed_at::date AS day, count(*) AS n FROM orders GROUP BY 1;
CREATE FUNCTION add1(x int) RETURNS int LANGUAGE sql AS $$ SELECT x + 1 $$;
"""

# What `pg_dump -s` (PostgreSQL 15.14+) writes for DUMP_SCHEMA_PG, for machines without pg_dump.
PG_DUMP_COPY = r"""--
-- PostgreSQL database dump
--

\restrict 97voig4vYPXfsrA0Wr1N4eNfna6RKKUGIuhPfOX8tTHg7QbrixSoTLZgBUDVu0S

SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET client_min_messages = warning;
SET row_security = off;

CREATE TYPE public.mood AS ENUM (
    'sad',
    'ok'
);
ALTER TYPE public.mood OWNER TO postgres;
CREATE FUNCTION public.add1(x integer) RETURNS integer
    LANGUAGE sql
    AS $$ SELECT x + 1 $$;
ALTER FUNCTION public.add1(x integer) OWNER TO postgres;
SET default_tablespace = '';
SET default_table_access_method = heap;
CREATE TABLE public.orders (
    id integer NOT NULL,
    customer_id integer NOT NULL,
    placed_at timestamp with time zone DEFAULT now()
);
ALTER TABLE public.orders OWNER TO postgres;
CREATE VIEW public.big_orders AS
 SELECT orders.id
   FROM public.orders;
ALTER TABLE public.big_orders OWNER TO postgres;
COMMENT ON VIEW public.big_orders IS 'Orders worth a look';
CREATE TABLE public.customers (
    id integer NOT NULL,
    name text NOT NULL,
    email text
);
ALTER TABLE public.customers OWNER TO postgres;
COMMENT ON TABLE public.customers IS 'People who buy';
COMMENT ON COLUMN public.customers.email IS 'Contact address';
CREATE VIEW public.customer_orders AS
 SELECT c.name,
    count(*) AS n_orders,
    o.customer_id
   FROM (public.customers c
     JOIN public.orders o ON ((o.customer_id = c.id)))
  GROUP BY c.name, o.customer_id;
ALTER TABLE public.customer_orders OWNER TO postgres;
CREATE MATERIALIZED VIEW public.daily_orders AS
 SELECT (orders.placed_at)::date AS day,
    count(*) AS n
   FROM public.orders
  GROUP BY ((orders.placed_at)::date)
  WITH NO DATA;
ALTER TABLE public.daily_orders OWNER TO postgres;
CREATE TABLE public.order_items (
    order_id integer NOT NULL,
    sku character varying(20) NOT NULL,
    qty integer,
    CONSTRAINT order_items_qty_check CHECK ((qty > 0))
);
ALTER TABLE public.order_items OWNER TO postgres;
CREATE SEQUENCE public.orders_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER TABLE public.orders_id_seq OWNER TO postgres;
ALTER SEQUENCE public.orders_id_seq OWNED BY public.orders.id;
CREATE TABLE public.products (
    sku character varying(20) NOT NULL,
    title text,
    price numeric(10,2)
);
ALTER TABLE public.products OWNER TO postgres;
ALTER TABLE ONLY public.orders ALTER COLUMN id SET DEFAULT nextval('public.orders_id_seq'::regclass);
ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_email_key UNIQUE (email);
ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.order_items
    ADD CONSTRAINT order_items_pkey PRIMARY KEY (order_id, sku);
ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.products
    ADD CONSTRAINT products_pkey PRIMARY KEY (sku);
CREATE INDEX orders_customer ON public.orders USING btree (customer_id);
ALTER TABLE ONLY public.order_items
    ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.order_items
    ADD CONSTRAINT order_items_sku_fkey FOREIGN KEY (sku) REFERENCES public.products(sku);
ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);

\unrestrict 97voig4vYPXfsrA0Wr1N4eNfna6RKKUGIuhPfOX8tTHg7QbrixSoTLZgBUDVu0S
"""


def _pg_dump_text() -> str:
    """A real `pg_dump -s` of DUMP_SCHEMA_PG when pg_dump and the server are here, else the copy."""
    import shutil
    import subprocess

    if not shutil.which("pg_dump") or not _pg_available():
        return PG_DUMP_COPY
    import sqlalchemy as sa

    name = f"sqltune_dump_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        db = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://").rsplit("/", 1)[0] + f"/{name}")
        with db.begin() as conn:
            conn.exec_driver_sql(DUMP_SCHEMA_PG)
        db.dispose()
        out = subprocess.run(["pg_dump", "-s", "-h", "127.0.0.1", "-U", "postgres", name],
                             capture_output=True, text=True, timeout=120, check=True)
        return out.stdout
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


def test_pg_dump_reads_with_all_keys(tmp_path, caplog):
    dump = tmp_path / "shop.sql"
    dump.write_text(_pg_dump_text())
    with caplog.at_level("WARNING"):
        schema = load_schema(dump)
    assert schema.dialect == "postgres" and not schema.skipped, schema.skipped
    assert sorted(schema.table_names) == ["big_orders", "customer_orders", "customers", "daily_orders", "order_items",
                                          "orders", "products"]  # no public. prefix; views too
    assert schema.table("customers").primary_key == ("id",)
    assert schema.table("order_items").primary_key == ("order_id", "sku")
    assert sorted(schema.table("order_items").foreign_keys, key=lambda fk: fk.columns) == [
        ForeignKey(("order_id",), "orders", ("id",)), ForeignKey(("sku",), "products", ("sku",)),
    ]
    assert schema.table("orders").foreign_keys == [ForeignKey(("customer_id",), "customers", ("id",))]
    assert schema.table("customers").comment == "People who buy"
    assert schema.table("customers").column("email").comment == "Contact address"
    assert schema.table("orders").column("id").nullable is False
    assert "not understood" not in caplog.text and "names nothing" not in caplog.text


def test_pg_dump_views_read_as_tables_of_the_schema(tmp_path):
    """pg_dump -s writes views (and materialized views, ending WITH NO DATA): each is a table of the
    schema, its columns named from the SELECT list, typed as the column passed through or unknown."""
    dump = tmp_path / "shop.sql"
    dump.write_text(_pg_dump_text())
    schema = load_schema(dump)
    assert not schema.skipped, schema.skipped
    assert schema.table_names[-3:] == ["big_orders", "customer_orders", "daily_orders"]  # after the tables
    big = schema.table("big_orders")
    assert [(c.name, c.type) for c in big.columns] == [("id", "INT")] and big.comment == "Orders worth a look"
    assert [(c.name, c.type) for c in schema.table("customer_orders").columns] == [
        ("name", "TEXT"), ("n_orders", "unknown"), ("customer_id", "INT")]
    assert [(c.name, c.type) for c in schema.table("daily_orders").columns] == [("day", "unknown"), ("n", "unknown")]
    assert big.row_count is None and big.primary_key == ()


def test_ddl_views_columns_stars_and_what_cannot_be_named(caplog):
    ddl = """
    CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR);
    CREATE VIEW every AS SELECT * FROM t;
    CREATE VIEW renamed (a, b) AS SELECT id, upper(name) FROM t;
    CREATE OR REPLACE VIEW partly AS SELECT x.id, 1 + 2, x.name AS label FROM t AS x;
    CREATE VIEW elsewhere AS SELECT o.* FROM other AS o;
    CREATE VIEW checked AS SELECT id FROM t WITH LOCAL CHECK OPTION;
    COMMENT ON COLUMN partly.label IS 'the name';
    """
    with caplog.at_level("WARNING"):
        schema = parse_ddl(ddl, dialect="postgres")
    assert schema.table_names == ["t", "every", "renamed", "partly", "checked"]
    assert [(c.name, c.type) for c in schema.table("every").columns] == [("id", "INT"), ("name", "VARCHAR")]
    assert [(c.name, c.type) for c in schema.table("renamed").columns] == [("a", "INT"), ("b", "unknown")]
    partly = schema.table("partly")
    assert [c.name for c in partly.columns] == ["id", "label"] and partly.column("label").comment == "the name"
    assert len(schema.skipped) == 2, schema.skipped
    assert "view partly: column 2 (1 + 2) has no name" in schema.skipped[0]
    assert "view elsewhere: o.* selects from a table not defined here" in schema.skipped[1]
    assert "2 DDL statement(s) not understood" in caplog.text and "view elsewhere" in caplog.text


MYSQL_DUMP_COPY = """/*M!999999\\- enable the sandbox mode */
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
DROP TABLE IF EXISTS `big`;
/*!50001 DROP VIEW IF EXISTS `big`*/;
SET @saved_cs_client     = @@character_set_client;
SET character_set_client = utf8mb4;
/*!50001 CREATE VIEW `big` AS SELECT
 NULL AS `id` */;
SET character_set_client = @saved_cs_client;
DROP TABLE IF EXISTS `customers`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
CREATE TABLE `customers` (
  `id` int(11) NOT NULL,
  `name` varchar(50) NOT NULL COMMENT 'full name',
  `email` varchar(80) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `email` (`email`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='People who buy';
DROP TABLE IF EXISTS `orders`;
CREATE TABLE `orders` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) NOT NULL,
  `total` decimal(10,2) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_c` (`customer_id`),
  CONSTRAINT `fk_c` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
-- Dump completed on 2026-11-30  8:42:38
"""


def _mysqldump_text() -> str:
    """A real `mysqldump --no-data` from the local MariaDB when it is here, else the copy."""
    import shutil
    import subprocess

    tool = shutil.which("mysqldump") or shutil.which("mariadb-dump")
    client = shutil.which("mysql") or shutil.which("mariadb")
    if not tool or not client:
        return MYSQL_DUMP_COPY
    name = f"sqltune_dump_{uuid.uuid4().hex[:8]}"
    ddl = (f"CREATE DATABASE {name}; USE {name}; "
           "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL COMMENT 'full name', "
           "email VARCHAR(80) UNIQUE) COMMENT='People who buy'; "
           "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2), "
           "KEY ix_c (customer_id), CONSTRAINT fk_c FOREIGN KEY (customer_id) REFERENCES customers(id)); "
           "CREATE VIEW big AS SELECT id FROM orders;")
    server = ["-h", "127.0.0.1", "-u", "root", "--connect-timeout=3"]
    if subprocess.run([client, *server, "-e", ddl], capture_output=True, timeout=60).returncode != 0:
        return MYSQL_DUMP_COPY
    try:
        return subprocess.run([tool, "-h", "127.0.0.1", "-u", "root", "--no-data", name],
                              capture_output=True, text=True, timeout=120, check=True).stdout
    finally:
        subprocess.run([client, *server, "-e", f"DROP DATABASE IF EXISTS {name}"], capture_output=True, timeout=60)


def test_mysqldump_reads_with_keys_and_comments(tmp_path):
    dump = tmp_path / "shop.sql"
    dump.write_text(_mysqldump_text())
    schema = load_schema(dump)
    assert schema.dialect == "mysql" and not schema.skipped, schema.skipped
    assert schema.table_names == ["customers", "orders"]
    assert schema.table("customers").comment == "People who buy"
    assert schema.table("customers").column("name").comment == "full name"
    assert schema.table("orders").primary_key == ("id",)
    assert schema.table("orders").foreign_keys == [ForeignKey(("customer_id",), "customers", ("id",))]


def test_unknown_ddl_statements_are_reported(caplog):
    with caplog.at_level("WARNING"):
        schema = parse_ddl(
            "CREATE TABLE a (id INT);\nALTER TABLE a ADD PRIMARY KEY (id);\nALTER TABLE a RENAME TO b;\n"
            "CREATE TABLE c (x INT);\nALTER TABLE c ADD COLUMN y INT REFERENCES a (id);\nFROBNICATE c;\n"
            "SET search_path = public;\nCREATE INDEX i ON c (x);\n"
        )
    assert schema.table("a").primary_key == ("id",)
    assert schema.table("c").foreign_keys == [ForeignKey(("y",), "a", ("id",))]
    assert len(schema.skipped) == 2
    assert any("RENAME" in s for s in schema.skipped) and any("FROBNICATE" in s for s in schema.skipped)
    assert "2 DDL statement(s) not understood" in caplog.text
    assert "skipped" in schema.to_dict() and "skipped" not in parse_ddl("CREATE TABLE z (i INT);").to_dict()
