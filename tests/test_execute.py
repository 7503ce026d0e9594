"""The sandbox runs queries with a row cap and a timeout, and hostile SQL cannot write or read
files even with the guard switched off. PostgreSQL tests run against the real server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import duckdb
import pytest

from sqltune.core.errors import QueryTimeout, SchemaSourceError, SqlRejected
from sqltune.warehouse.execute import ExecutionResult, Warehouse, count_statements

# Runs for hours in constant memory: a streaming scan, so only the timeout can stop it (a cross join
# of two ranges can hit DuckDB's memory limit first on a slow, busy machine).
HUGE_JOIN = "SELECT count(*) FROM range(1000000000000) t(x) WHERE hash(x) = 42"


@pytest.fixture
def warehouse_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers(id INTEGER, name VARCHAR, city VARCHAR)")
    con.execute("INSERT INTO customers SELECT i, 'c' || i, CASE WHEN i % 2 = 0 THEN 'Oslo' ELSE 'Rome' END FROM range(1, 51) t(i)")
    con.execute("CREATE TABLE orders(id INTEGER, customer_id INTEGER, total DECIMAL(10, 2), day DATE)")
    con.execute("INSERT INTO orders SELECT i, 1 + i % 50, i * 1.5, DATE '2024-01-01' + i::INTEGER FROM range(1, 201) t(i)")
    con.close()
    return path


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.csv"
    path.write_text("token\nTOP-SECRET-VALUE\n")
    return path


def test_query_returns_columns_rows_and_time(warehouse_file):
    with Warehouse.open(warehouse_file) as wh:
        result = wh.execute("SELECT city, count(*) AS n FROM customers GROUP BY city ORDER BY city")
    assert result.ok and result.error is None and result.error_kind is None
    assert result.columns == ["city", "n"]
    assert result.rows == [("Oslo", 25), ("Rome", 25)]
    assert not result.truncated
    assert result.elapsed_s > 0


def test_missing_file_is_a_schema_source_error(tmp_path):
    with pytest.raises(SchemaSourceError, match="no such DuckDB file"):
        Warehouse.open(tmp_path / "nope.duckdb")


@pytest.mark.parametrize(
    "sql,kind",
    [
        ("SELECT * FROM nowhere", "unknown_table"),
        ("SELECT nonsense FROM customers", "unknown_column"),
        ("SELECT customers.id FROM orders", "unknown_table"),
        ("SELEC 1", "syntax"),
        ("SELECT 'abc'::INTEGER", "runtime"),
        ("DELETE FROM orders", "rejected"),
    ],
)
def test_errors_are_classified(warehouse_file, sql, kind):
    with Warehouse.open(warehouse_file) as wh:
        result = wh.execute(sql)
    assert not result.ok and result.rows == []
    assert result.error_kind == kind, result.error
    assert result.error


def test_database_parser_errors_are_syntax_without_guard(warehouse_file):
    with Warehouse.open(warehouse_file, guard=False) as wh:
        result = wh.execute("SELECT 1 FROM customers WHERE id =")
    assert result.error_kind == "syntax" and "Parser Error" in result.error


def test_row_cap_and_truncated_flag(warehouse_file):
    with Warehouse.open(warehouse_file, max_rows=10) as wh:
        capped = wh.execute("SELECT id FROM orders ORDER BY id")
        exact = wh.execute("SELECT id FROM orders ORDER BY id LIMIT 10")
        wider = wh.execute("SELECT id FROM orders ORDER BY id", max_rows=500)
    assert capped.ok and capped.truncated and [r[0] for r in capped.rows] == list(range(1, 11))
    assert exact.ok and not exact.truncated and len(exact.rows) == 10
    assert wider.ok and not wider.truncated and len(wider.rows) == 200


def test_runaway_query_times_out_and_connection_survives(warehouse_file):
    with Warehouse.open(warehouse_file, timeout_s=1.0) as wh:
        started = time.perf_counter()
        result = wh.execute(HUGE_JOIN)
        took = time.perf_counter() - started
        assert result.error_kind == "timeout", result
        assert 0.9 < took < 2.0
        assert "1s timeout" in result.error
        assert wh.execute("SELECT count(*) FROM customers").rows == [(50,)]
        # the per-call limit overrides the warehouse's
        assert wh.execute(HUGE_JOIN, timeout_s=0.3).elapsed_s < 1.0


HOSTILE_FILE_ACCESS = [
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM '{secret}'",
    "SELECT * FROM glob('{dir}/*')",
]


@pytest.mark.parametrize("guard", [True, False])
@pytest.mark.parametrize("template", HOSTILE_FILE_ACCESS)
def test_files_cannot_be_read(warehouse_file, secret_file, guard, template):
    sql = template.format(secret=secret_file, dir=secret_file.parent)
    with Warehouse.open(warehouse_file, guard=guard) as wh:
        result = wh.execute(sql)
    assert not result.ok
    assert result.error_kind in ("rejected", "unknown_table")
    assert "TOP-SECRET" not in repr(result.rows) and "secret.csv" not in repr(result.rows)


def _hostile_writes(tmp_path: Path) -> list[str]:
    return [
        f"COPY customers TO '{tmp_path / 'stolen.csv'}'",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        f"EXPORT DATABASE '{tmp_path / 'export'}'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET threads = 8",
        "SET memory_limit = '64GB'",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "DELETE FROM orders",
        "UPDATE orders SET total = 0",
        "DROP TABLE orders",
        "CREATE TABLE evil AS SELECT 1",
        "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
        "SELECT 1; DELETE FROM orders",
        "SELECT 1; SET enable_external_access = true",
    ]


@pytest.mark.parametrize("guard", [True, False])
def test_sandbox_stops_writes_and_settings(warehouse_file, tmp_path, guard):
    with Warehouse.open(warehouse_file, guard=guard) as wh:
        for sql in _hostile_writes(tmp_path):
            result = wh.execute(sql)
            assert not result.ok, sql
            assert result.error_kind in ("rejected", "syntax"), (sql, result.error)
        assert wh.execute("SELECT count(*) FROM orders").rows == [(200,)]
        assert wh.execute("SELECT current_setting('threads')" if not guard else "SELECT 1").ok
        if not guard:
            assert wh.execute("SELECT current_setting('enable_external_access')").rows == [(False,)]
    for name in ("stolen.csv", "other.duckdb", "export"):
        assert not (tmp_path / name).exists(), name
    con = duckdb.connect(str(warehouse_file), read_only=True)
    assert con.execute("SELECT count(*) FROM orders").fetchone() == (200,)
    con.close()


def test_stacked_statements_are_counted_by_tokens():
    assert count_statements("SELECT ';' AS a; -- ; comment", "duckdb") == 1
    assert count_statements("SELECT 1; SELECT 2;", "duckdb") == 2
    assert count_statements("SELECT 1;;", "duckdb") == 1


def test_parallel_queries_from_threads(warehouse_file):
    results: dict[int, ExecutionResult] = {}
    with Warehouse.open(warehouse_file, timeout_s=1.0) as wh:

        def work(i: int) -> None:
            sql = HUGE_JOIN if i == 0 else f"SELECT count(*) FROM orders WHERE customer_id = {i}"
            results[i] = wh.execute(sql)

        started = time.perf_counter()
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.perf_counter() - started
    assert results[0].error_kind == "timeout"
    for i in range(1, 8):
        assert results[i].ok and results[i].rows == [(4,)], results[i]
        assert results[i].elapsed_s < 0.9  # not queued behind the runaway query
    assert took < 2.5


def test_one_connection_per_file_shared_until_last_close(warehouse_file):
    first = Warehouse.open(warehouse_file)
    second = Warehouse.open(warehouse_file, memory_limit="1GB")  # settings of the first win
    first.close()
    assert second.execute("SELECT count(*) FROM customers").rows == [(50,)]
    second.close()
    with pytest.raises(Exception, match="closed"):
        second.execute("SELECT 1")
    # after the last close a writer can open the file again
    con = duckdb.connect(str(warehouse_file))
    con.close()


def test_table_names(warehouse_file):
    with Warehouse.open(warehouse_file) as wh:
        names = wh.table_names()
    assert {"customers", "orders", "main.orders"} <= names


def test_raise_for_error(warehouse_file):
    with Warehouse.open(warehouse_file, timeout_s=0.3) as wh:
        with pytest.raises(SqlRejected):
            wh.execute("DROP TABLE orders").raise_for_error()
        with pytest.raises(QueryTimeout):
            wh.execute(HUGE_JOIN).raise_for_error(0.3)
        assert wh.execute("SELECT 1").raise_for_error().rows == [(1,)]


# -- PostgreSQL (real server) ---------------------------------------------------------------------
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_READER = "postgresql://sqltune_test_reader@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def pg_schema():
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        with engine.connect() as con:
            con.exec_driver_sql("SELECT 1")
    except Exception as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL unreachable: {error}")
    with engine.begin() as con:
        con.exec_driver_sql("DROP SCHEMA IF EXISTS sqltune_exec_test CASCADE")
        con.exec_driver_sql("CREATE SCHEMA sqltune_exec_test")
        con.exec_driver_sql("CREATE TABLE sqltune_exec_test.items(id INT, name TEXT, price NUMERIC(8, 2))")
        con.exec_driver_sql(
            "INSERT INTO sqltune_exec_test.items SELECT i, 'item' || i || '%%', i * 0.5 FROM generate_series(1, 30) i"
        )
        exists = con.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = 'sqltune_test_reader'").scalar()
        if not exists:
            con.exec_driver_sql("CREATE ROLE sqltune_test_reader LOGIN")
        con.exec_driver_sql("GRANT USAGE ON SCHEMA sqltune_exec_test TO sqltune_test_reader")
        con.exec_driver_sql("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sqltune_exec_test TO sqltune_test_reader")
    yield "sqltune_exec_test"
    with engine.begin() as con:
        con.exec_driver_sql("DROP SCHEMA IF EXISTS sqltune_exec_test CASCADE")
        con.exec_driver_sql("DROP OWNED BY sqltune_test_reader")
        con.exec_driver_sql("DROP ROLE IF EXISTS sqltune_test_reader")
    engine.dispose()


def test_pg_query_rows_cap_and_percent_signs(pg_schema):
    with Warehouse.open(PG_ADMIN, max_rows=5) as wh:
        result = wh.execute(f"SELECT id, name FROM {pg_schema}.items WHERE name LIKE 'item1%' ORDER BY id")
        assert wh.dialect == "postgres"
        assert result.ok and result.columns == ["id", "name"]
        assert result.truncated and result.rows[0] == (1, "item1%") and len(result.rows) == 5
        assert wh.execute(f"SELECT * FROM {pg_schema}.nope").error_kind == "unknown_table"
        assert wh.execute(f"SELECT nope FROM {pg_schema}.items").error_kind == "unknown_column"
        assert f"{pg_schema}.items" in wh.table_names()


def test_pg_timeout(pg_schema):
    with Warehouse.open(PG_ADMIN, timeout_s=1.0) as wh:
        result = wh.execute("SELECT count(*) FROM generate_series(1, 100000000) a, generate_series(1, 100000000) b")
        assert result.error_kind == "timeout" and result.elapsed_s < 2.0
        assert wh.execute("SELECT 1").rows == [(1,)]


def test_pg_superuser_keeps_the_guard_on(pg_schema):
    with Warehouse.open(PG_ADMIN, guard=False) as wh:
        assert wh.guard is True
        assert wh.execute("SELECT pg_read_file('/etc/hostname')").error_kind == "rejected"


def test_pg_read_only_transaction_without_guard(pg_schema):
    table = f"{pg_schema}.items"
    with Warehouse.open(PG_READER, guard=False, timeout_s=1.0) as wh:
        assert wh.guard is False
        for sql in (
            f"DELETE FROM {table}",
            f"UPDATE {table} SET price = 0",
            f"WITH gone AS (DELETE FROM {table} RETURNING *) SELECT count(*) FROM gone",
            f"SELECT 1; COMMIT; DELETE FROM {table}",
            f"CREATE TABLE {pg_schema}.evil(a INT)",
        ):
            result = wh.execute(sql)
            assert not result.ok and result.error_kind == "rejected", (sql, result.error)
        started = time.perf_counter()
        result = wh.execute("SELECT set_config('statement_timeout', '0', true), pg_sleep(5)")
        assert result.error_kind == "timeout" and time.perf_counter() - started < 2.5
        assert wh.execute(f"SELECT count(*) FROM {table}").rows == [(30,)]


def test_pg_unreachable_is_a_schema_source_error():
    with pytest.raises(SchemaSourceError, match="5999"):
        Warehouse.open("postgresql://postgres@127.0.0.1:5999/test")
