"""The guard lets ordinary analytic queries through and refuses everything else, with a code."""

from __future__ import annotations

import pytest

from sqltune.guard import GuardPolicy, check_sql

ALLOWED = [
    "SELECT 1",
    "select * from orders;",
    "select * from orders; -- trailing comment",
    "FROM orders",
    "SELECT a FROM t UNION SELECT a FROM u",
    "SELECT a FROM t INTERSECT SELECT a FROM u",
    "SELECT a FROM t EXCEPT SELECT a FROM u",
    "(SELECT 1) UNION ALL (SELECT 2)",
    "WITH recent AS (SELECT * FROM orders WHERE day > DATE '2024-01-01') SELECT count(*) FROM recent",
    "SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY 1 ORDER BY 2 DESC LIMIT 5",
    "SELECT * FROM range(10)",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT unnest([1, 2, 3])",
    "SELECT x FROM unnest([1, 2]) AS u(x)",
    'SELECT count(*) FROM "Order Items"',
    "SELECT strftime(day, '%Y') FROM orders WHERE name LIKE 'a%'",
    "SELECT * FROM t WHERE a = (SELECT max(b) FROM u)",
    "SELECT 'DELETE FROM t; DROP TABLE t' AS harmless_text",
    "VALUES (1, 2)",
    "PIVOT orders ON status USING sum(total)",
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_ordinary_queries_pass(sql):
    verdict = check_sql(sql)
    assert verdict.ok, verdict
    assert verdict.code is None and verdict.reason is None


REJECTED = [
    ("", "empty"),
    ("  ;  ", "empty"),
    ("-- only a comment", "empty"),
    ("SELEC 1", "syntax_error"),
    ("SELECT 'unterminated", "syntax_error"),
    ("SELECT 1; SELECT 2", "multiple_statements"),
    ("SELECT 1; DROP TABLE orders", "multiple_statements"),
    ("CHECKPOINT", "not_a_query"),
    ("DESCRIBE orders", "not_a_query"),
    ("SHOW TABLES", "not_a_query"),
    ("SUMMARIZE orders", "not_a_query"),
    ("hello world", "not_a_query"),
    ("EXPLAIN SELECT 1", "not_a_query"),
    ("EXPLAIN ANALYZE SELECT * FROM orders", "not_a_query"),
    ("DELETE FROM orders", "write_statement"),
    ("INSERT INTO orders VALUES (1)", "write_statement"),
    ("UPDATE orders SET total = 0", "write_statement"),
    ("DROP TABLE orders", "write_statement"),
    ("CREATE TABLE x AS SELECT 1", "write_statement"),
    ("ALTER TABLE orders ADD COLUMN x INT", "write_statement"),
    ("TRUNCATE orders", "write_statement"),
    ("WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone", "write_statement"),
    ("WITH x AS (INSERT INTO orders VALUES (1) RETURNING *) SELECT * FROM x", "write_statement"),
    ("WITH x AS (UPDATE orders SET total = 0 RETURNING *) SELECT * FROM x", "write_statement"),
    ("COPY orders TO '/tmp/out.csv'", "write_statement"),
    ("ATTACH '/tmp/other.db'", "write_statement"),
    ("DETACH other", "write_statement"),
    ("INSTALL httpfs", "write_statement"),
    ("LOAD httpfs", "write_statement"),
    ("SET threads = 64", "write_statement"),
    ("PRAGMA version", "write_statement"),
    ("USE other", "write_statement"),
    ("CALL pragma_version()", "write_statement"),
    ("VACUUM", "write_statement"),
    ("BEGIN", "write_statement"),
    ("SELECT * INTO copy_of_orders FROM orders", "write_statement"),
    ("SELECT * FROM orders FOR UPDATE", "write_statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", "forbidden_function"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "forbidden_function"),
    ("SELECT * FROM read_parquet('s3://bucket/x.parquet')", "forbidden_function"),
    ("SELECT * FROM read_json('x.json')", "forbidden_function"),
    ("SELECT * FROM read_text('/etc/hostname')", "forbidden_function"),
    ("SELECT * FROM read_blob('/etc/hostname')", "forbidden_function"),
    ("SELECT * FROM parquet_scan('x.parquet')", "forbidden_function"),
    ("SELECT * FROM sqlite_scan('x.db', 't')", "forbidden_function"),
    ("SELECT * FROM postgres_scan('dbname=x', 'public', 't')", "forbidden_function"),
    ("SELECT * FROM glob('/etc/*')", "forbidden_function"),
    ("SELECT * FROM query('SELECT 1')", "forbidden_function"),
    ("SELECT * FROM query_table('orders')", "forbidden_function"),
    ("SELECT * FROM duckdb_settings()", "forbidden_function"),
    ("SELECT * FROM pragma_table_info('orders')", "forbidden_function"),
    ("SELECT * FROM '/etc/passwd'", "forbidden_function"),
    ('SELECT * FROM "data.csv"', "forbidden_function"),
    ("SELECT current_setting('threads')", "forbidden_function"),
    ("SELECT set_config('statement_timeout', '0', false)", "forbidden_function"),
    ("SELECT name FROM t WHERE length(pg_read_file('/etc/passwd')) > 0", "forbidden_function"),
    ("SELECT lo_import('/etc/passwd')", "forbidden_function"),
    ("SELECT nextval('seq')", "forbidden_function"),
    ("SELECT * FROM t WHERE x IN (SELECT * FROM read_csv('/etc/passwd'))", "forbidden_function"),
]


@pytest.mark.parametrize("sql,code", REJECTED)
def test_everything_else_is_refused_with_a_code(sql, code):
    verdict = check_sql(sql)
    assert not verdict.ok
    assert verdict.code == code, verdict
    assert verdict.reason


def test_deep_nesting_is_refused_not_a_crash():
    # A degenerate generation (seen from the untuned base) or an attack: sqlglot recurses per level.
    sql = "SELECT " + "(" * 5000 + "1" + ")" * 5000
    verdict = check_sql(sql)
    assert not verdict.ok and verdict.code == "too_deeply_nested", verdict
    from sqltune.compare import exact_match

    assert exact_match("SELECT 1", sql) is False


def test_syntax_error_names_line_and_column():
    verdict = check_sql("SELECT a\nFROM t\nWHERE a = = 1")
    assert verdict.code == "syntax_error"
    assert "line 3" in verdict.reason


def test_postgres_dialect_functions():
    assert check_sql("SELECT * FROM generate_series(1, 3)", "postgres").ok
    assert check_sql("SELECT pg_sleep(10)", "postgres").code == "forbidden_function"
    assert check_sql("SELECT * FROM dblink('host=x', 'select 1') AS t(a int)", "postgres").code == "forbidden_function"
