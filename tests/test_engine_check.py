"""The database's own reading of a query (`sqltune.execution.engine_check`), beside the guard.

Issue 27: F2 (no parser differential: SHOW, PRAGMA, DESCRIBE and SUMMARIZE refused in every
position, kept so by a differential fuzz test of generated statements read by both parsers) and
F3 (functions trusted by identity: a DuckDB macro or a PostgreSQL overload, operator or quoted
case variant with an allowed name is refused, the built-in still works).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pytest

from sqltune.execution.engine_check import duckdb_tree, duckdb_user_functions, duckdb_verdict
from sqltune.execution.execute import Warehouse
from sqltune.execution.guard import DEFAULT_POLICY, GuardPolicy, check_sql

F2 = ["SELECT * FROM (SHOW allowed_paths)", "SELECT (SHOW memory_limit) AS m"]


# -- DuckDB: the differential fuzz test ------------------------------------------------------------
COMMANDS = [
    "SHOW allowed_paths", "SHOW memory_limit", "SHOW TABLES", "SHOW ALL TABLES", "SHOW customers", "DESCRIBE customers",
    "DESCRIBE SELECT 1", "DESC customers", "SUMMARIZE customers", "SUMMARIZE SELECT 1", "PRAGMA version",
    "PRAGMA show_tables", "PRAGMA database_size", "EXPLAIN SELECT 1", "EXPLAIN ANALYZE SELECT 1", "CALL pragma_version()",
]
QUERIES = ["SELECT 1", "SELECT id FROM customers", "FROM customers SELECT id", "VALUES (1)", "SELECT lower(name) FROM customers"]
POSITIONS = [
    "{p}", "SELECT * FROM ({p})", "SELECT * FROM ({p}) AS t", "SELECT * FROM ({p}) t(a)", "SELECT ({p}) AS m",
    "SELECT ({p})", "SELECT * FROM customers WHERE id IN ({p})", "SELECT * FROM customers WHERE EXISTS ({p})",
    "SELECT * FROM customers WHERE id = ANY ({p})", "SELECT * FROM customers JOIN ({p}) s ON true",
    "SELECT * FROM customers, LATERAL ({p}) s", "SELECT * FROM customers CROSS JOIN ({p})",
    "WITH s AS ({p}) SELECT * FROM s", "WITH s AS MATERIALIZED ({p}) SELECT * FROM s",
    "WITH a AS (SELECT 1), s AS ({p}) SELECT * FROM s", "SELECT 1 UNION ALL ({p})", "({p}) UNION SELECT 1",
    "SELECT * FROM (SELECT * FROM ({p}))", "SELECT (SELECT * FROM ({p}))", "SELECT coalesce(({p}), 1)",
    "SELECT * FROM customers ORDER BY ({p})", "SELECT * FROM customers LIMIT ({p})",
    "SELECT count(*) FILTER (WHERE id IN ({p})) FROM customers", "SELECT [x FOR x IN ({p})]",
    "SELECT * FROM customers WHERE name = ({p}) OR id > 1",
]
SPACING = ["{p}", " {p} ", "/* c */ {p}", "\n{p}\n", "-- c\n{p}"]


def _fuzz_statements(n: int = 700, seed: int = 27) -> list[str]:
    """Every position with every payload once, then random nestings, casings and comments."""
    rng = random.Random(seed)
    out = [pos.format(p=p) for pos in POSITIONS for p in COMMANDS + QUERIES]
    while len(out) < n:
        payload = rng.choice(COMMANDS + QUERIES)
        payload = rng.choice([payload, payload.lower(), payload.title(), payload.replace(" ", "  ")])
        for _ in range(rng.randint(1, 3)):
            payload = rng.choice(POSITIONS).format(p=rng.choice(SPACING).format(p=payload))
        out.append(payload)
    return out


def _engine_runs_a_command(con, sql: str) -> bool:
    """Whether DuckDB would run something other than plain queries: a statement other than SELECT,
    or a SHOW_REF node (SHOW, DESCRIBE, SUMMARIZE) anywhere in its parse."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error:
        return False  # DuckDB cannot parse it: nothing runs
    if any(s.type != duckdb.StatementType.SELECT for s in statements):
        return True
    return '"SHOW_REF"' in json.dumps(duckdb_tree(con, sql))


@pytest.fixture(scope="module")
def duck():
    con = duckdb.connect()
    con.execute("CREATE TABLE customers(id INTEGER, name VARCHAR)")
    return con


def test_differential_fuzz_commands_are_refused_by_both_readers(duck):
    """Statements DuckDB reads as (or as holding) a command are refused by the sqlglot guard alone,
    and by DuckDB's own reading alone: neither line of defence depends on the other."""
    statements = _fuzz_statements()
    commands = [sql for sql in statements if _engine_runs_a_command(duck, sql)]
    assert len(commands) > 300, len(commands)  # the generator does reach DuckDB's command nodes
    through_guard = [sql for sql in commands if check_sql(sql, "duckdb").ok]
    through_engine = [sql for sql in commands if duckdb_verdict(duck, sql, DEFAULT_POLICY).ok]
    assert through_guard == [] and through_engine == [], (through_guard[:5], through_engine[:5])


def test_differential_fuzz_plain_queries_pass_both_readers(duck):
    """No over-refusal: what is only queries passes the guard and DuckDB's reading alike."""
    plain = [pos.format(p=q) for pos in POSITIONS for q in QUERIES]
    refused = {sql: (check_sql(sql, "duckdb"), duckdb_verdict(duck, sql, DEFAULT_POLICY)) for sql in plain}
    refused = {sql: pair for sql, pair in refused.items() if pair[0].ok != pair[1].ok}
    assert refused == {}, list(refused.items())[:5]


@pytest.mark.parametrize("sql", F2)
def test_f2_repros_are_refused_by_each_reader(duck, sql):
    for verdict in (check_sql(sql, "duckdb"), duckdb_verdict(duck, sql, DEFAULT_POLICY)):
        assert not verdict.ok and verdict.code == "not_a_query" and "SHOW" in verdict.reason, verdict


def test_duckdb_reading_allows_real_analytic_sql(duck):
    repo = Path(__file__).resolve().parent.parent
    sqls = sorted({json.loads(line)["sql"] for f in sorted((repo / "eval").glob("*.jsonl")) for line in f.open()})
    refused = {sql: duckdb_verdict(duck, sql, DEFAULT_POLICY) for sql in sqls}
    assert not {sql: v.reason for sql, v in refused.items() if not v.ok}
    for sql in ["SELECT year(d), list_transform(l, lambda x: x + 1), [x * 2 for x in l], a ->> '$.x', 2 ** 3, l[1]",
                "SELECT x FROM range(3) t(x) WHERE x::VARCHAR ILIKE '%1%' AND x BETWEEN 0 AND 2 ORDER BY x DESC",
                "SELECT count(*) FILTER (WHERE a > 1), row_number() OVER (PARTITION BY a ORDER BY b) FROM t",
                "SELECT * FROM customers c JOIN orders o USING (id) WHERE c.name IS NOT NULL LIMIT 5",
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY a), extract(year FROM d), d + INTERVAL 1 DAY"]:
        assert duckdb_verdict(duck, sql, DEFAULT_POLICY).ok, sql


def test_duckdb_reading_refuses_what_the_guard_refuses(duck):
    for sql, code in [("SELECT getenv('HOME')", "forbidden_function"), ("SELECT * FROM read_csv('/etc/passwd')", "forbidden_function"),
                      ("SELECT main.lower('a')", "forbidden_function"), ("SELECT $1", "not_a_query"),
                      ("SELECT 1; SELECT 2", "multiple_statements"), ("SELEC 1", "syntax_error"),
                      ("PRAGMA version", "not_a_query"), ("COPY customers TO 'x.csv'", "not_a_query")]:
        verdict = duckdb_verdict(duck, sql, DEFAULT_POLICY)
        assert verdict.code == code and verdict.reason, (sql, verdict)
    assert duckdb_verdict(duck, "SELECT my_udf(1)", GuardPolicy(functions=frozenset({"my_udf"}))).ok


# -- DuckDB: functions by identity -----------------------------------------------------------------
@pytest.fixture
def macro_warehouse(tmp_path: Path) -> Path:
    """A warehouse whose owner defined macros named like allowed functions."""
    path = tmp_path / "macros.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers(id INTEGER, name VARCHAR)")
    con.execute("INSERT INTO customers SELECT i, 'c' || i FROM range(1, 4) t(i)")
    con.execute("CREATE MACRO upper(x) AS 'MACRO:' || x")
    con.execute("CREATE MACRO range(n) AS TABLE SELECT 42 AS range")
    con.close()
    return path


def test_duckdb_macro_named_like_an_allowed_function_is_refused(macro_warehouse):
    con = duckdb.connect(str(macro_warehouse), read_only=True)
    try:
        assert con.execute("SELECT upper('a')").fetchall() == [("MACRO:a",)]  # the macro does shadow the built-in
        users = duckdb_user_functions(con)
        assert {"upper", "range"} <= users
        for sql in ("SELECT upper(name) FROM customers", 'SELECT "UPPER"(name) FROM customers', "SELECT * FROM range(3)"):
            assert check_sql(sql, "duckdb").ok  # by name, the guard alone lets it through
            verdict = duckdb_verdict(con, sql, DEFAULT_POLICY, users)
            assert verdict.code == "forbidden_function" and "defined in this warehouse" in verdict.reason, (sql, verdict)
        assert duckdb_verdict(con, "SELECT lower(name) FROM customers", DEFAULT_POLICY, users).ok
    finally:
        con.close()
    with Warehouse.open(macro_warehouse, processes=1) as wh:
        for sql in ("SELECT upper(name) FROM customers", "SELECT * FROM range(3)"):
            verdict, result = wh.check(sql), wh.execute(sql)
            assert not verdict.ok and verdict.code == "forbidden_function", verdict
            assert not result.ok and result.guard_code == "forbidden_function" and "MACRO" not in repr(result.rows)
        assert wh.execute("SELECT lower(name) FROM customers ORDER BY id LIMIT 1").rows == [("c1",)]
        for sql in F2:  # check-only and execution alike
            assert wh.check(sql).code == "not_a_query" and wh.execute(sql).guard_code == "not_a_query"


# -- PostgreSQL: functions, operators and casts by identity ----------------------------------------
@pytest.fixture(scope="module")
def pg_owned(pg_sandbox):
    """A schema where the warehouse's owner (a superuser) defined a SECURITY DEFINER overload of an
    allowed name that reads a file, a quoted case variant of one, a user-defined operator, a
    function callable by attribute notation and a cast; the reader role's search path holds it."""
    import psycopg2

    schema = f"sqltune_owned_{pg_sandbox.schema.rsplit('_', 1)[-1]}"
    admin = psycopg2.connect(pg_sandbox.admin, connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(f"CREATE TABLE {schema}.customers(id INT, name TEXT, email TEXT)")
        cur.execute(f"INSERT INTO {schema}.customers VALUES (1, 'ann', 'ann@x'), (2, 'bob', 'bob@x')")
        cur.execute(f"CREATE FUNCTION {schema}.md5(integer) RETURNS text LANGUAGE sql SECURITY DEFINER "
                    "AS $$ SELECT 'FILE:' || pg_read_file('/etc/hostname') $$")
        cur.execute(f'CREATE FUNCTION {schema}."Upper"(text) RETURNS text LANGUAGE sql AS $$ SELECT \'LEAK:\' || $1 $$')
        cur.execute(f"CREATE FUNCTION {schema}.concat_leak(text, text) RETURNS text LANGUAGE sql SECURITY DEFINER "
                    "AS $$ SELECT 'LEAK:' || $1 || $2 $$")
        cur.execute(f"CREATE OPERATOR {schema}.+ (LEFTARG = text, RIGHTARG = text, FUNCTION = {schema}.concat_leak)")
        cur.execute(f"CREATE FUNCTION {schema}.leak({schema}.customers) RETURNS text LANGUAGE sql AS $$ SELECT 'LEAK' $$")
        cur.execute(f"CREATE TYPE {schema}.mood AS ENUM ('ok')")
        cur.execute(f"CREATE FUNCTION {schema}.to_mood(text) RETURNS {schema}.mood LANGUAGE sql AS $$ SELECT 'ok'::{schema}.mood $$")
        cur.execute(f"CREATE CAST (text AS {schema}.mood) WITH FUNCTION {schema}.to_mood(text)")
        cur.execute(f"GRANT USAGE ON SCHEMA {schema} TO {pg_sandbox.reader_role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {pg_sandbox.reader_role}")
    yield f"{pg_sandbox.reader}?options=-csearch_path%3D{schema}"
    with admin.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.close()


# Each passes the sqlglot guard by name (the quoted variant aside, which it refuses too) and calls
# the warehouse's own code on PostgreSQL.
OWNED = {
    "SELECT md5(1)": "SECURITY DEFINER",
    'SELECT "Upper"(name) FROM customers': "Upper",
    "SELECT name + email FROM customers": "operator +",
    "SELECT c.leak FROM customers c": "attribute notation",
    "SELECT 'ok'::mood": "cast",
    "SELECT id FROM customers WHERE md5(id) IS NOT NULL": "SECURITY DEFINER",
}


BUILTINS = "SELECT upper(name), lower(email), id * 2, name || email FROM customers WHERE name LIKE 'a%' ORDER BY id"


def test_pg_the_owners_functions_run_when_not_refused(pg_owned):
    """The fixture is real: as the reader, each of these calls the owner's code, not a built-in."""
    import psycopg2

    con = psycopg2.connect(pg_owned, connect_timeout=5)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT md5(1), \"Upper\"('a'), name + email, c.leak FROM customers c LIMIT 1")
            md5, upper, plus, leak = cur.fetchone()
        assert md5.startswith("FILE:") and upper == "LEAK:a" and plus.startswith("LEAK:") and leak == "LEAK"
    finally:
        con.close()


def test_pg_catalog_refuses_what_is_not_a_builtin(pg_owned):
    import psycopg2

    from sqltune.execution.engine_check import postgres_verdict

    con = psycopg2.connect(pg_owned, connect_timeout=5)
    try:
        for sql, why in OWNED.items():
            verdict = postgres_verdict(con, sql, DEFAULT_POLICY)
            assert verdict.code == "forbidden_function" and why in verdict.reason, (sql, verdict)
            con.rollback()
        for sql in (BUILTINS, "SELECT count(*) FROM customers c WHERE c.name IN ('ann') AND id BETWEEN 1 AND 2"):
            assert postgres_verdict(con, sql, DEFAULT_POLICY).ok, sql
        # Which overload or operator PostgreSQL picks depends on argument types: a name or symbol the
        # warehouse defines is refused whole, the built-in's uses included (conservative).
        for sql in ("SELECT md5('a')", "SELECT id + 1 FROM customers"):
            assert postgres_verdict(con, sql, DEFAULT_POLICY).code == "forbidden_function", sql
    finally:
        con.close()


def test_pg_warehouse_refuses_the_owners_functions_and_runs_builtins(pg_owned):
    with Warehouse.open(pg_owned, processes=1, timeout_s=5) as wh:
        for sql, why in OWNED.items():
            verdict, result = wh.check(sql), wh.execute(sql)
            assert not verdict.ok and verdict.code == "forbidden_function" and why in verdict.reason, (sql, verdict)
            assert not result.ok and result.guard_code == "forbidden_function", (sql, result)
            assert "FILE:" not in repr(result) and "LEAK" not in repr(result.rows)
        assert wh.check(BUILTINS).ok
        builtin = wh.execute(BUILTINS)
        assert builtin.ok and builtin.rows == [("ANN", "ann@x", 2, "annann@x")], builtin
        assert wh.execute("SELECT md5('a')").guard_code == "forbidden_function"  # an overloaded name is refused whole
        vouched = Warehouse.open(pg_owned, processes=1, policy=GuardPolicy(functions=frozenset({"concat_leak"})))
        with vouched:
            assert vouched.execute("SELECT concat_leak('a', 'b')").rows == [("LEAK:ab",)]  # the user vouches for it
