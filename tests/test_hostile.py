"""Hostile SQL against the real sandbox, on DuckDB and on the local PostgreSQL server.

The model is assumed fully prompt-injected: any SQL text can come out of it. Each query below is
run with the guard on and with it off (the sandbox alone). Each must be refused with a reason or
run within its limits (its own time within the timeout + 1 s; DuckDB workers within their memory
cap). Afterwards: the DuckDB file is byte-identical, no file appeared in the watched directory, the
canary file's secret never came back, no session state survived, and an ordinary query answers.
"""

from __future__ import annotations

import hashlib
import secrets
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from sqltune.execution.execute import ErrorKind, Warehouse

TIMEOUT_S = 1.0
MEMORY = "256MB"

REFUSE = "refuse"  # the guard must refuse it (with a code and a reason)
LIMIT = "limit"  # passes the guard (real analytic SQL can look like this): the sandbox's limits stop it
EITHER = "either"


@dataclass(frozen=True)
class Hostile:
    sql: str
    expect: str = REFUSE


def _in_list(n: int) -> str:
    return ", ".join(str(i) for i in range(n))


def duckdb_hostile() -> list[Hostile]:
    """Templates: {canary} a secret file, {dir} the watched directory, {db} the warehouse file."""
    return [
        # resources: one vectorised operation, huge results, explosions, bombs
        Hostile("SELECT len(range(1000000000))", LIMIT),
        Hostile("SELECT count(*) FROM range(1000000000000) t(x) WHERE hash(x) = 42", LIMIT),
        Hostile("SELECT length(repeat('x', 1000000000))", LIMIT),
        Hostile("SELECT length(repeat(repeat('x', 100000), 100000))", LIMIT),
        Hostile("SELECT count(*) FROM (SELECT unnest(range(1000000000)))", LIMIT),
        Hostile("SELECT len(string_split(repeat('a,', 300000000), ','))", LIMIT),
        Hostile("SELECT count(*) FROM range(100000) a, range(100000) b, range(100000) c", LIMIT),
        Hostile("SELECT count(DISTINCT x) FROM range(10000000000) t(x)", LIMIT),
        Hostile("SELECT list_transform(range(300000000), lambda x: x * 2)[1]", LIMIT),
        Hostile("SELECT len(list_distinct(range(3000000)))", LIMIT),  # ignores interrupt(): killed
        Hostile("SELECT string_agg(repeat('x', 1000), ',') FROM range(10000000)", LIMIT),
        Hostile("SELECT x FROM range(10000000000) t(x) ORDER BY random() LIMIT 1", LIMIT),
        Hostile("SELECT repeat('x', 100000000) FROM range(10)", LIMIT),
        Hostile("SELECT x FROM range(1000000000) t(x)", LIMIT),
        Hostile("SELECT regexp_replace(repeat('a', 100000000), 'a', 'bb', 'g')", LIMIT),
        Hostile("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r", LIMIT),
        Hostile("WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM r) SELECT max(length(s)) FROM r", LIMIT),
        Hostile(f"SELECT count(*) FROM customers WHERE id IN ({_in_list(15000)})", LIMIT),
        Hostile(f"SELECT count(*) FROM customers WHERE id IN ({_in_list(200000)})"),  # too long to parse
        Hostile("SELECT " + "(" * 3000 + "1" + ")" * 3000),
        Hostile("SELECT " + " + ".join(["1"] * 20000), EITHER),
        # files: read, list, write, attach
        Hostile("SELECT * FROM read_csv('{canary}')"),
        Hostile("SELECT * FROM read_csv_auto('{canary}', header = false)"),
        Hostile("SELECT content FROM read_text('{canary}')"),
        Hostile("SELECT content FROM read_blob('{canary}')"),
        Hostile("SELECT * FROM read_json('{canary}')"),
        Hostile("SELECT * FROM read_parquet('{canary}')"),
        Hostile("SELECT * FROM '{canary}'"),
        Hostile("SELECT * FROM \"{canary}\""),
        Hostile("SELECT * FROM glob('{dir}/*')"),
        Hostile("SELECT * FROM sniff_csv('{canary}')"),
        Hostile("SELECT * FROM customers WHERE name IN (SELECT column0 FROM read_csv('{canary}'))"),
        Hostile("SELECT * FROM read_csv('/etc/passwd')"),
        Hostile("COPY customers TO '{dir}/stolen.csv'"),
        Hostile("COPY (SELECT * FROM customers) TO '{dir}/stolen.parquet' (FORMAT parquet)"),
        Hostile("COPY customers FROM '{canary}'"),
        Hostile("EXPORT DATABASE '{dir}/export'"),
        Hostile("IMPORT DATABASE '{dir}'"),
        Hostile("ATTACH '{dir}/other.duckdb' AS other"),
        Hostile("ATTACH ':memory:' AS scratch"),
        Hostile("ATTACH '{db}' AS again (READ_WRITE)"),
        # extensions, settings, secrets
        Hostile("INSTALL httpfs"),
        Hostile("LOAD httpfs"),
        Hostile("FORCE INSTALL httpfs FROM 'http://127.0.0.1:9/'"),
        Hostile("SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')"),
        Hostile("SET enable_external_access = true"),
        Hostile("SET lock_configuration = false"),
        Hostile("SET memory_limit = '64GB'"),
        Hostile("RESET threads"),
        Hostile("PRAGMA enable_profiling"),
        Hostile("CALL pragma_version()"),
        Hostile("SELECT current_setting('memory_limit')"),
        Hostile("SELECT * FROM duckdb_settings()"),
        Hostile("CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')"),
        Hostile("SELECT * FROM duckdb_secrets()"),
        # the catalog
        Hostile("SELECT * FROM duckdb_tables()"),
        Hostile("SELECT * FROM duckdb_databases()"),
        Hostile("SELECT * FROM duckdb_tables"),
        Hostile("SELECT * FROM information_schema.tables"),
        Hostile("SELECT * FROM sqlite_master"),
        Hostile("SELECT * FROM pg_catalog.pg_class"),
        Hostile("SELECT * FROM system.main.customers"),
        # SQL given as text, user-defined and session functions
        Hostile("SELECT * FROM query('SELECT * FROM read_csv(''{canary}'')')"),
        Hostile("SELECT * FROM query_table('customers')"),
        Hostile("SELECT json_serialize_sql('SELECT 1')"),
        Hostile("SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))"),
        Hostile("SELECT my_macro(1)"),
        Hostile("SELECT main.my_macro(1)"),
        Hostile("SELECT name.upper() FROM customers"),
        Hostile("SELECT getvariable('leak')"),
        Hostile("SELECT nextval('seq')"),
        Hostile("SELECT sleep_ms(100000)"),
        Hostile("SELECT write_log('x')"),
        Hostile("SELECT setseed(0.5)"),
        # writes and statements that are not queries
        Hostile("DELETE FROM orders"),
        Hostile("UPDATE orders SET total = 0"),
        Hostile("INSERT INTO orders VALUES (1, 1, 1, DATE '2024-01-01')"),
        Hostile("DROP TABLE orders"),
        Hostile("ALTER TABLE orders ADD COLUMN evil INT"),
        Hostile("CREATE TABLE evil AS SELECT 1"),
        Hostile("CREATE TEMP TABLE leak AS SELECT 42 AS x"),
        Hostile("CREATE MACRO evil(x) AS x"),
        Hostile("CREATE VIEW evil AS SELECT 1"),
        Hostile("TRUNCATE orders"),
        Hostile("CHECKPOINT"),
        Hostile("VACUUM"),
        Hostile("SET VARIABLE leak = 42"),
        Hostile("PREPARE leak AS SELECT 42"),
        Hostile("WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone"),
        Hostile("SELECT * INTO copy_of_orders FROM orders"),
        Hostile("EXPLAIN ANALYZE SELECT * FROM orders"),
        Hostile("SUMMARIZE orders"),
        # several statements, and comments or strings hiding them
        Hostile("SELECT 1; DROP TABLE orders"),
        Hostile("SELECT 1 /* ; */ ; DELETE FROM orders"),
        Hostile("SELECT 1 -- harmless\n; DELETE FROM orders"),
        Hostile("SELECT 'a'';DELETE FROM orders'; DELETE FROM orders"),
        Hostile("SELECT 1; SET enable_external_access = true; SELECT * FROM read_csv('{canary}')"),
    ]


def postgres_hostile(schema: str) -> list[Hostile]:
    t = f"{schema}.items"
    return [
        # resources
        Hostile(f"SELECT count(*) FROM {t} a, {t} b, {t} c, {t} d, {t} e, {t} f, {t} g", LIMIT),
        Hostile("SELECT count(*) FROM generate_series(1, 100000000) a, generate_series(1, 100000000) b", LIMIT),
        Hostile("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r", LIMIT),
        Hostile("WITH RECURSIVE r(s) AS (SELECT 'x'::text UNION ALL SELECT s || s FROM r) SELECT max(length(s)) FROM r", LIMIT),
        Hostile("SELECT length(repeat('x', 100000000))", LIMIT),
        Hostile("SELECT repeat('x', 100000000) FROM generate_series(1, 5)", LIMIT),
        Hostile("SELECT array_length(array_agg(i), 1) FROM generate_series(1, 300000000) i", LIMIT),
        Hostile("SELECT string_agg(repeat('x', 1000), ',') FROM generate_series(1, 10000000)", LIMIT),
        Hostile("SELECT i FROM generate_series(1, 1000000000) i ORDER BY random() LIMIT 1", LIMIT),
        Hostile(f"SELECT count(*) FROM {t} a, {t} b, {t} c, {t} d, {t} e", LIMIT),
        Hostile(f"SELECT count(*) FROM {t} WHERE id IN ({_in_list(15000)})", LIMIT),
        Hostile(f"SELECT count(*) FROM {t} WHERE id IN ({_in_list(200000)})"),
        Hostile("SELECT " + "(" * 3000 + "1" + ")" * 3000),
        Hostile("SELECT pg_sleep(100)"),
        Hostile("DO $$ BEGIN PERFORM pg_sleep(100); END $$"),
        # files and programs on the server
        Hostile("SELECT pg_read_file('{canary}')"),
        Hostile("SELECT pg_read_binary_file('{canary}')"),
        Hostile("SELECT pg_read_file('/etc/passwd')"),
        Hostile("SELECT * FROM pg_ls_dir('.')"),
        Hostile("SELECT pg_stat_file('{canary}')"),
        Hostile(f"COPY {t} FROM '{{canary}}'"),
        Hostile(f"COPY {t} TO '{{dir}}/stolen.csv'"),
        Hostile("COPY (SELECT 1) TO PROGRAM 'touch {dir}/pwned'"),
        Hostile("SELECT lo_import('{canary}')"),
        Hostile("SELECT lo_export(1, '{dir}/lo')"),
        # SQL given as text, through functions the guard never parses
        Hostile("SELECT * FROM ts_stat('SELECT to_tsvector(pg_read_file(''{canary}''))')"),
        Hostile("SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, to_tsquery(pg_read_file(''{canary}''))')"),
        Hostile("SELECT query_to_xml('SELECT pg_read_file(''{canary}'')', true, true, '')"),
        Hostile("SELECT query_to_xmlschema('SELECT 1', true, true, '')"),
        Hostile("SELECT cursor_to_xml('c', 1, true, true, '')"),
        Hostile(f"SELECT table_to_xml('{t}', true, true, '')"),
        Hostile("SELECT * FROM dblink('dbname=test', 'DELETE FROM x') AS r(a text)"),
        Hostile("SELECT dblink_exec('dbname=test', 'DROP TABLE x')"),
        # settings, sessions, server administration
        Hostile("SELECT set_config('statement_timeout', '0', false)"),
        Hostile("SET statement_timeout = 0"),
        Hostile("RESET ALL"),
        Hostile("SELECT current_setting('data_directory')"),
        Hostile("SHOW data_directory"),
        Hostile("ALTER SYSTEM SET log_statement = 'none'"),
        Hostile("SELECT pg_reload_conf()"),
        Hostile("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"),
        Hostile("SELECT pg_cancel_backend(1)"),
        Hostile("SELECT pg_advisory_lock(4242)"),
        Hostile("SELECT pg_notify('chan', 'x')"),
        Hostile("LISTEN chan"),
        Hostile("PREPARE leak AS SELECT 42"),
        Hostile("DECLARE leak CURSOR WITH HOLD FOR SELECT 1"),
        Hostile("SELECT txid_current()"),
        Hostile("SELECT nextval('seq')"),
        # the catalog
        Hostile("SELECT * FROM pg_settings"),
        Hostile("SELECT query FROM pg_stat_activity"),
        Hostile("SELECT * FROM pg_authid"),
        Hostile("SELECT * FROM pg_catalog.pg_roles"),
        Hostile("SELECT * FROM pg_shadow"),
        Hostile("SELECT * FROM information_schema.columns"),
        Hostile(f"SELECT '{t}'::regclass::oid"),
        # user-defined and qualified functions
        Hostile("SELECT my_udf(1)"),
        Hostile("SELECT public.my_udf(1)"),
        Hostile("SELECT pg_catalog.pg_read_file('{canary}')"),
        # writes and statements that are not queries
        Hostile(f"DELETE FROM {t}"),
        Hostile(f"UPDATE {t} SET price = 0"),
        Hostile(f"INSERT INTO {t} VALUES (99, 'x', 1)"),
        Hostile(f"DROP TABLE {t}"),
        Hostile(f"TRUNCATE {t}"),
        Hostile(f"CREATE TABLE {schema}.evil(a INT)"),
        Hostile("CREATE TEMP TABLE leak AS SELECT 42 AS x"),
        Hostile("CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'"),
        Hostile("CREATE ROLE sqltune_evil_role SUPERUSER"),
        Hostile(f"GRANT ALL ON {t} TO PUBLIC"),
        Hostile(f"LOCK TABLE {t}"),
        Hostile(f"SELECT * FROM {t} FOR UPDATE"),
        Hostile(f"WITH gone AS (DELETE FROM {t} RETURNING *) SELECT count(*) FROM gone"),
        Hostile(f"SELECT * INTO {schema}.copied FROM {t}"),
        Hostile(f"EXPLAIN ANALYZE SELECT * FROM {t}"),
        # several statements, comments, quoting
        Hostile(f"SELECT 1; COMMIT; DELETE FROM {t}"),
        Hostile(f"SELECT 1 /* /* nested */ ; */ ; DELETE FROM {t}"),
        Hostile(f"SELECT 1 -- harmless\n; DELETE FROM {t}"),
        Hostile(f"SELECT $$;$$; DELETE FROM {t}"),
        Hostile(f"SELECT 'a\\'; DELETE FROM {t} --'"),
    ]


def _tree_snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*") if p != skip
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _vm_peak_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmPeak:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def _address_space_caps(pids: list[int], timeout_s: float = 60.0) -> dict[int, int]:
    """Each worker's own RLIMIT_AS, once it has set it: a worker sets its cap (its size after
    start-up + the memory limit) when it has started, which a test reading it at once can beat."""
    deadline = time.monotonic() + timeout_s
    caps: dict[int, int] = {}
    while len(caps) < len(pids) and time.monotonic() < deadline:
        for pid in pids:
            for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
                if line.startswith("Max address space") and line.split()[3] != "unlimited":
                    caps[pid] = int(line.split()[3])
        time.sleep(0.05)
    assert len(caps) == len(pids), f"workers set no address-space cap within {timeout_s} s"
    return caps


@pytest.fixture
def watched(tmp_path):
    """A directory everyone can read (so the database server could, were it allowed), holding a canary."""
    root = Path(tempfile.mkdtemp(prefix="sqltune-hostile-"))
    root.chmod(0o777)
    secret = f"CANARY-{secrets.token_hex(8)}"
    canary = root / "canary.csv"
    canary.write_text(f"token\n{secret}\n")
    canary.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    yield root, canary, secret
    for path in sorted(root.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    root.rmdir()


@pytest.fixture
def duck_file(watched) -> Path:
    root, _, _ = watched
    path = root / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers(id INTEGER, name VARCHAR)")
    con.execute("INSERT INTO customers SELECT i, 'c' || i FROM range(1, 51) t(i)")
    con.execute("CREATE TABLE orders(id INTEGER, customer_id INTEGER, total DECIMAL(10, 2), day DATE)")
    con.execute("INSERT INTO orders SELECT i, 1 + i % 50, i * 1.5, DATE '2024-01-01' + i::INTEGER FROM range(1, 201) t(i)")
    con.execute("CREATE MACRO my_macro(x) AS x + 1")
    con.execute("CREATE SEQUENCE seq")
    con.close()
    return path


def _check_outcome(item: Hostile, sql: str, result, guard: bool, secret: str) -> None:
    shown = sql[:120]
    assert secret not in repr(result.rows) and secret not in (result.error or ""), shown
    assert "root:x:0:0" not in repr(result.rows), shown
    # nothing outlives its timeout by more than a second (its own time in the worker)
    assert result.elapsed_s < TIMEOUT_S + 1, (shown, result.elapsed_s, result.error)
    if not result.ok:
        assert result.error and isinstance(result.error_kind, ErrorKind), (shown, result)
    if guard and item.expect == REFUSE:
        assert not result.ok and result.guard_code, (shown, result)
        assert result.error_kind in (ErrorKind.REJECTED, ErrorKind.SYNTAX) and result.guard_code in result.error
    if guard and item.expect == LIMIT:
        assert result.guard_code is None, (shown, result.error)  # real SQL looks like this: not refused
        if not result.ok:
            assert result.error_kind in (ErrorKind.TIMEOUT, ErrorKind.MEMORY, ErrorKind.TOO_LARGE, ErrorKind.RUNTIME), (shown, result)
        else:
            assert len(result.rows) <= 5


@pytest.mark.parametrize("guard", [True, False], ids=["guard", "sandbox-only"])
def test_hostile_duckdb(duck_file, watched, guard):
    root, canary, secret = watched
    items = duckdb_hostile()
    assert len(items) >= 60
    before_hash, before_tree = _sha256(duck_file), _tree_snapshot(root, duck_file)
    memory_cap = 256 * 10**6
    with Warehouse.open(duck_file, timeout_s=TIMEOUT_S, memory_limit=MEMORY, guard=guard, max_rows=5) as wh:
        caps = _address_space_caps(wh.worker_pids)
        for pid, cap in caps.items():  # the cap is the worker's started size plus the memory limit
            assert cap - memory_cap <= _vm_peak_bytes(pid) + 64 * 2**20 and cap > memory_cap, (pid, cap)
        outcomes = {}
        for item in items:
            sql = item.sql.format(canary=canary, dir=root, db=duck_file)
            result = wh.execute(sql)
            _check_outcome(item, sql, result, guard, secret)
            outcomes[sql[:60]] = result.error_kind
            for pid, cap in caps.items():  # no worker grew past its cap (killed ones are gone: 0)
                assert _vm_peak_bytes(pid) <= cap, (sql[:80], pid)
        assert wh.execute("SELECT getvariable('leak')" if not guard else "SELECT 1").rows in ([(None,)], [(1,)])
        started = time.perf_counter()
        ordinary = wh.execute("SELECT count(*) FROM orders WHERE total > 100")
        assert ordinary.ok and ordinary.rows == [(134,)] and ordinary.elapsed_s < TIMEOUT_S, ordinary
        assert time.perf_counter() - started < TIMEOUT_S + 10  # even if a replacement worker was still booting
    # several kinds of outcome, not one blanket refusal
    assert {ErrorKind.TIMEOUT, ErrorKind.MEMORY} <= set(outcomes.values()), outcomes
    assert _sha256(duck_file) == before_hash
    assert _tree_snapshot(root, duck_file) == before_tree, "files appeared or changed beside the warehouse"


def test_duckdb_session_state_does_not_survive(duck_file):
    """With the guard off, state-making statements run; the next query (same worker) sees none of it."""
    with Warehouse.open(duck_file, timeout_s=TIMEOUT_S, guard=False, processes=1) as wh:
        pid = wh.worker_pids[0]
        made = [wh.execute(sql) for sql in (
            "SET VARIABLE leak = 42", "CREATE TEMP TABLE leak AS SELECT 42 AS x", "PREPARE leak AS SELECT 42",
            "CREATE TEMP MACRO leak_macro(x) AS x",
        )]
        assert made[0].ok and made[1].ok, made  # they did run
        assert wh.execute("SELECT getvariable('leak')").rows == [(None,)]
        assert wh.execute("SELECT * FROM temp.leak").error_kind == "unknown_table"
        assert not wh.execute("EXECUTE leak").ok
        assert not wh.execute("SELECT leak_macro(1)").ok
        assert wh.worker_pids == [pid]  # the same worker answered throughout


def test_duckdb_killed_query_does_not_block_others(duck_file):
    import threading

    with Warehouse.open(duck_file, timeout_s=TIMEOUT_S, memory_limit=MEMORY, processes=2) as wh:
        before = set(wh.worker_pids)
        bomb: dict = {}
        # one vectorised operation that ignores DuckDB's interrupt for minutes: only a kill stops it
        stuck = "SELECT len(list_distinct(range(3000000)))"
        thread = threading.Thread(target=lambda: bomb.update(r=wh.execute(stuck)))
        thread.start()
        answers = [wh.execute("SELECT count(*) FROM customers") for _ in range(20)]
        thread.join()
        assert all(a.ok and a.rows == [(50,)] and a.elapsed_s < TIMEOUT_S for a in answers)
        assert bomb["r"].error_kind == "timeout" and bomb["r"].elapsed_s < TIMEOUT_S + 1
        assert "killed" in bomb["r"].error
        after = set(wh.worker_pids)
        assert len(after) == 2 and len(before - after) == 1  # the stuck worker was killed and replaced
        assert wh.execute("SELECT count(*) FROM orders").rows == [(200,)]


# -- PostgreSQL ------------------------------------------------------------------------------------
def _pg_state(admin_url: str, schema: str):
    import psycopg2

    con = psycopg2.connect(admin_url, connect_timeout=5)
    try:
        with con.cursor() as cur:
            cur.execute(f"SELECT count(*), sum(price), string_agg(name, ',' ORDER BY id) FROM {schema}.items")
            items = cur.fetchone()
            cur.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s", (schema,))
            relations = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'sqltune_evil_role'")
            evil_roles = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM pg_proc WHERE proname = 'evil'")
            evil_functions = cur.fetchone()[0]
        return items, relations, evil_roles, evil_functions
    finally:
        con.close()


@pytest.mark.parametrize("guard", [True, False], ids=["guard", "sandbox-only"])
def test_hostile_postgres(pg_sandbox, watched, guard):
    root, canary, secret = watched
    items = postgres_hostile(pg_sandbox.schema)
    assert len(items) >= 60
    before_tree, before_state = _tree_snapshot(root, root / "none"), _pg_state(pg_sandbox.admin, pg_sandbox.schema)
    with Warehouse.open(pg_sandbox.reader, timeout_s=TIMEOUT_S, memory_limit=MEMORY, guard=guard, max_rows=5) as wh:
        for item in items:
            sql = item.sql.format(canary=canary, dir=root)
            result = wh.execute(sql)
            _check_outcome(item, sql, result, guard, secret)
        ordinary = wh.execute(f"SELECT count(*) FROM {pg_sandbox.schema}.items WHERE price > 5")
        assert ordinary.ok and ordinary.rows == [(20,)] and ordinary.elapsed_s < TIMEOUT_S, ordinary
    assert _pg_state(pg_sandbox.admin, pg_sandbox.schema) == before_state
    assert _tree_snapshot(root, root / "none") == before_tree, "files appeared or changed in the watched directory"


def test_postgres_session_state_does_not_survive(pg_sandbox):
    """Advisory locks, prepared statements, settings and held cursors from one query are gone for
    the next one on the same pooled connection (DISCARD ALL), which another session can confirm."""
    import psycopg2

    with Warehouse.open(pg_sandbox.reader, timeout_s=TIMEOUT_S, guard=False, processes=1) as wh:
        pid = wh.execute("SELECT pg_backend_pid()").rows[0][0]
        made = [wh.execute(sql) for sql in (
            "SELECT pg_advisory_lock(4242)",
            "PREPARE leak AS SELECT 42",
            "SELECT set_config('work_mem', '77MB', false)",
            "LISTEN leak_channel",
            "DECLARE leak CURSOR WITH HOLD FOR SELECT 1",
            "CREATE TEMP TABLE leak AS SELECT 42 AS x",
        )]
        assert made[0].ok and made[1].ok and made[2].ok, made  # they did run
        assert not made[5].ok  # a temp table is a write: refused by the read-only transaction
        assert wh.execute("SELECT pg_backend_pid()").rows == [(pid,)]  # the same session answers next
        assert wh.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()").rows == [(0,)]
        assert wh.execute("SELECT count(*) FROM pg_prepared_statements").rows == [(0,)]
        assert wh.execute("SELECT count(*) FROM pg_cursors WHERE name = 'leak'").rows == [(0,)]
        assert wh.execute("SELECT current_setting('work_mem')").rows != [("77MB",)]
        assert wh.execute("SELECT count(*) FROM pg_listening_channels()").rows == [(0,)]
        other = psycopg2.connect(pg_sandbox.admin, connect_timeout=5)
        try:
            with other.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(4242)")
                assert cur.fetchone() == (True,)
                cur.execute("SELECT pg_advisory_unlock(4242)")
        finally:
            other.close()
