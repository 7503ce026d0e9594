"""The sandbox runs queries with a row cap and a timeout, and hostile SQL cannot write or read
files even with the guard switched off. PostgreSQL tests run against the real server.
(The large hostile-query suite is tests/test_hostile.py.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import pytest

from sqltune.core.errors import PrivilegedRoleError, SchemaSourceError
from sqltune.execution.execute import ERROR_KINDS, ErrorKind, ExecutionResult, Warehouse, count_statements, parse_memory

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


def test_warehouses_on_one_file_are_independent_and_release_it(warehouse_file):
    first = Warehouse.open(warehouse_file)
    second = Warehouse.open(warehouse_file, memory_limit="1GB")
    assert set(first.worker_pids).isdisjoint(second.worker_pids)
    first.close()
    assert second.execute("SELECT count(*) FROM customers").rows == [(50,)]
    second.close()
    with pytest.raises(Exception, match="closed"):
        second.execute("SELECT 1")
    # after the last close every worker is gone and a writer can open the file again
    con = duckdb.connect(str(warehouse_file))
    con.close()


def test_table_names(warehouse_file):
    with Warehouse.open(warehouse_file) as wh:
        names = wh.table_names()
    assert {"customers", "orders", "main.orders"} <= names


def test_one_error_channel_typed_kinds(warehouse_file):
    """Failures come back as results with a typed kind (a str enum), never as exceptions."""
    with Warehouse.open(warehouse_file, timeout_s=0.3) as wh:
        refused = wh.execute("DROP TABLE orders")
        late = wh.execute(HUGE_JOIN)
        fine = wh.execute("SELECT 1")
    assert refused.error_kind is ErrorKind.REJECTED and refused.guard_code == "write_statement"
    assert late.error_kind == "timeout" and late.guard_code is None and isinstance(late.error_kind, ErrorKind)
    assert fine.ok and fine.error_kind is None and fine.rows == [(1,)]
    assert set(ERROR_KINDS) == {k.value for k in ErrorKind}


def test_memory_sizes():
    assert parse_memory("2GB") == 2 * 10**9 and parse_memory("512MiB") == 512 * 2**20 and parse_memory(100) == 100
    with pytest.raises(Exception, match="memory size"):
        parse_memory("lots")


# -- PostgreSQL (real server; the pg_sandbox fixture is in conftest.py) ----------------------------
def test_pg_query_rows_cap_and_percent_signs(pg_sandbox):
    schema = pg_sandbox.schema
    with Warehouse.open(pg_sandbox.reader, max_rows=5) as wh:
        result = wh.execute(f"SELECT id, name FROM {schema}.items WHERE name LIKE 'item1%' ORDER BY id")
        assert wh.dialect == "postgres"
        assert result.ok and result.columns == ["id", "name"]
        assert result.truncated and result.rows[0] == (1, "item1%") and len(result.rows) == 5
        assert wh.execute(f"SELECT * FROM {schema}.nope").error_kind == "unknown_table"
        assert wh.execute(f"SELECT nope FROM {schema}.items").error_kind == "unknown_column"
        assert f"{schema}.items" in wh.table_names()
        # a server-side cursor: a huge result is cut at the cap, not pulled into memory first
        t = f"{schema}.items"
        many = wh.execute(f"SELECT a.id FROM {t} a, {t} b, {t} c, {t} d, {t} e", max_rows=3, timeout_s=5)  # 24M rows
        assert many.ok and many.truncated and len(many.rows) == 3, many


def test_pg_timeout(pg_sandbox):
    with Warehouse.open(pg_sandbox.reader, timeout_s=1.0) as wh:
        result = wh.execute("SELECT count(*) FROM generate_series(1, 100000000) a, generate_series(1, 100000000) b")
        assert result.error_kind == "timeout" and result.elapsed_s < 2.0
        assert wh.execute("SELECT 1").rows == [(1,)]


@pytest.mark.parametrize("role", ["admin", "writer"])
def test_pg_privileged_roles_are_refused_unless_allowed(pg_sandbox, role, monkeypatch):
    monkeypatch.delenv("SQLTUNE_ALLOW_PRIVILEGED_ROLE", raising=False)
    url = getattr(pg_sandbox, role)
    with pytest.raises(PrivilegedRoleError) as caught:
        Warehouse.open(url)
    message = str(caught.value)
    assert ("superuser" if role == "admin" else f"{pg_sandbox.schema}.items") in message
    assert "allow_privileged_role=True" in message and "SQLTUNE_ALLOW_PRIVILEGED_ROLE" in message
    monkeypatch.setenv("SQLTUNE_ALLOW_PRIVILEGED_ROLE", "1")
    with Warehouse.open(url) as wh:
        assert wh.execute(f"SELECT count(*) FROM {pg_sandbox.schema}.items").rows == [(30,)]


def test_pg_superuser_keeps_the_guard_on(pg_sandbox):
    with Warehouse.open(pg_sandbox.admin, guard=False, allow_privileged_role=True) as wh:
        assert wh.guard is True
        assert wh.execute("SELECT pg_read_file('/etc/hostname')").error_kind == "rejected"


def test_pg_read_only_transaction_without_guard(pg_sandbox):
    """With the guard off, a role that may write still cannot: the transaction is read-only."""
    table = f"{pg_sandbox.schema}.items"
    with Warehouse.open(pg_sandbox.writer, guard=False, timeout_s=1.0, allow_privileged_role=True) as wh:
        assert wh.guard is False
        for sql in (
            f"DELETE FROM {table}",
            f"UPDATE {table} SET price = 0",
            f"SELECT 1; COMMIT; DELETE FROM {table}",
            f"CREATE TABLE {pg_sandbox.schema}.evil(a INT)",
        ):
            result = wh.execute(sql)
            assert not result.ok and result.error_kind == "rejected", (sql, result.error)
        # PostgreSQL refuses a data-modifying CTE in the server-side cursor a query runs in
        cte = wh.execute(f"WITH gone AS (DELETE FROM {table} RETURNING *) SELECT count(*) FROM gone")
        assert not cte.ok and "data-modifying" in cte.error, cte
        started = time.perf_counter()
        result = wh.execute("SELECT set_config('statement_timeout', '0', true), pg_sleep(5)")
        assert result.error_kind == "timeout" and time.perf_counter() - started < 2.5
        assert wh.execute(f"SELECT count(*) FROM {table}").rows == [(30,)]


def test_pg_unreachable_is_a_schema_source_error():
    with pytest.raises(SchemaSourceError, match="5999"):
        Warehouse.open("postgresql://postgres@127.0.0.1:5999/test")


def test_pg_silent_server_times_out_connecting():
    """A host that accepts the connection but never answers fails after connect_timeout, not never."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever speaks
    port = silent.getsockname()[1]
    started = time.perf_counter()
    try:
        with pytest.raises(SchemaSourceError, match=str(port)):
            Warehouse.open(f"postgresql://postgres@127.0.0.1:{port}/test", connect_timeout_s=2)
    finally:
        silent.close()
    assert time.perf_counter() - started < 2 + 1 + 1  # the connect timeout, plus slack


def test_sqlite_file_is_read_only_in_the_sandbox(tmp_path):
    import sqlite3

    path = tmp_path / "spider.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE singer(id INTEGER, name TEXT)")
    con.executemany("INSERT INTO singer VALUES (?, ?)", [(1, "a"), (2, "b")])
    con.commit()
    con.close()
    for source in (str(path), f"sqlite:///{path}"):
        with Warehouse.open(source) as wh:
            assert wh.dialect == "sqlite"
            assert wh.execute('SELECT name FROM singer WHERE name = "a"').rows == [("a",)]
            assert wh.execute("SELECT nope FROM singer").error_kind == "unknown_column"
            assert wh.execute("SELECT * FROM nowhere").error_kind == "unknown_table"
    with Warehouse.open(path, guard=False) as wh:  # without the guard, SQLite itself refuses writes
        for sql in ("DELETE FROM singer", "CREATE TABLE x(a)", "ATTACH DATABASE 'other.db' AS o", "PRAGMA user_version = 3"):
            assert wh.execute(sql).error_kind in ("rejected", "runtime"), sql
    assert sqlite3.connect(path).execute("SELECT count(*) FROM singer").fetchone() == (2,)
    assert not (tmp_path / "other.db").exists()
