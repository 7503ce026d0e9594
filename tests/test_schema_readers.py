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
