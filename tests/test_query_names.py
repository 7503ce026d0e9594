"""The whole-query name check: aliases and qualifiers resolved per scope, against the warehouse's own verdict."""

from __future__ import annotations

import pytest

from sqltune.schema.model import Column, Schema, Table
from sqltune.schema.query_names import unknown_names

RETAIL = Schema("retail", [
    Table("stores", [Column("store_id", "INTEGER"), Column("city", "VARCHAR"), Column("region_id", "INTEGER")]),
    Table("regions", [Column("region_id", "INTEGER"), Column("region_name", "VARCHAR")]),
    Table("sales", [Column("sale_id", "INTEGER"), Column("store_id", "INTEGER"), Column("amount", "DOUBLE"),
                    Column("sold_on", "DATE")]),
], "duckdb")

VALID = [
    "SELECT city FROM stores",
    "SELECT s.city, r.region_name FROM stores AS s JOIN regions r ON s.region_id = r.region_id",
    "SELECT st.city, SUM(sa.amount) AS total FROM sales sa JOIN stores st USING (store_id) GROUP BY ALL ORDER BY total DESC",
    "WITH big AS (SELECT store_id AS sid, SUM(amount) AS total FROM sales GROUP BY 1) SELECT b.sid, total FROM big b WHERE total > 5",
    "SELECT x.n FROM (SELECT store_id, COUNT(*) AS n FROM sales GROUP BY store_id) AS x WHERE x.store_id > 1",
    "SELECT city FROM stores WHERE store_id IN (SELECT s.store_id FROM sales s WHERE s.store_id = stores.store_id)",
    "SELECT amount * 2 AS doubled FROM sales WHERE doubled > 10",
    "SELECT EXTRACT(YEAR FROM sold_on) AS y, COUNT(*) FROM sales GROUP BY y HAVING COUNT(*) > 1",
    "SELECT i FROM range(3) AS r(i)",
    "SELECT t.a FROM (SELECT 1) AS t(a)",
    "SELECT city FROM stores UNION SELECT region_name FROM regions ORDER BY city",
    "SELECT s.* EXCLUDE (region_id) FROM stores s",
]

INVALID = [
    ("SELECT s.amount FROM stores s", "s.amount"),  # a column of another table, through the alias
    ("SELECT amount FROM stores", "amount"),  # a column of a table the query does not read
    ("SELECT sales.amount FROM sales s", "sales"),  # the table name after the query aliased it
    ("SELECT city FROM storez", "storez"),
    ("SELECT r.region_name FROM stores s", "r"),  # an alias nobody defined
    ("SELECT x.city FROM (SELECT store_id FROM stores) x", "x.city"),  # the subquery does not select it
    ("WITH c AS (SELECT store_id FROM sales) SELECT c.amount FROM c", "c.amount"),
    ("SELECT city FROM stores WHERE store_id IN (SELECT store_id FROM sales WHERE colour = 'red')", "colour"),
]


@pytest.mark.parametrize("sql", VALID)
def test_queries_over_the_schema_pass(sql):
    check = unknown_names(sql, RETAIL)
    assert check.ok, check.reason()


@pytest.mark.parametrize("sql, name", INVALID)
def test_unknown_names_are_named(sql, name):
    check = unknown_names(sql, RETAIL)
    assert check.parsed and not check.ok
    assert name in check.reason()


def test_a_tree_at_hand_is_read_not_parsed_again(monkeypatch):
    """Decoding hands over the query's one parse (`tree=`): the verdict is the same, nothing is
    parsed, and the tree is left as it was."""
    import sqlglot

    from sqltune.execution.parsed import parse_sql

    for sql in [*VALID, *(sql for sql, _ in INVALID)]:
        tree = parse_sql(sql, "duckdb").tree
        before = tree.copy()
        with monkeypatch.context() as patched:
            patched.setattr(sqlglot, "parse_one", lambda *a, **k: pytest.fail("parsed again"))
            check = unknown_names(sql, RETAIL, "duckdb", tree=tree)
        assert check == unknown_names(sql, RETAIL, "duckdb") and tree == before


def test_the_verdicts_agree_with_the_warehouse(retail_duckdb):
    """What the check refuses, DuckDB refuses for an unknown name; what it passes, DuckDB binds."""
    import duckdb

    con = retail_duckdb
    for sql in VALID:
        con.execute(sql).fetchall()
    for sql, _ in INVALID:
        with pytest.raises((duckdb.BinderException, duckdb.CatalogException)):
            con.execute(sql).fetchall()


def test_unparsable_queries_are_said_to_be():
    check = unknown_names("SELECT city FROM stores WHERE", RETAIL)
    assert not check.parsed and not check.ok and check.reason().startswith("does not parse")


def test_postgres_quoted_names_keep_their_case():
    ships = Schema("ships", [Table("Vessels", [Column("VesselId", "integer"), Column("tonnage", "numeric")])], "postgres")
    assert unknown_names('SELECT "VesselId" FROM "Vessels"', ships).ok
    assert not unknown_names('SELECT "vesselid" FROM "Vessels"', ships).ok
    assert not unknown_names("SELECT tonnage FROM Vessels", ships).ok  # unquoted folds to vessels
    assert unknown_names('SELECT v.tonnage FROM "Vessels" v', ships).ok


def test_struct_fields_are_not_taken_for_qualifiers():
    events = Schema("events", [Table("events", [Column("id", "INTEGER"), Column("payload", "STRUCT(kind VARCHAR)")])], "duckdb")
    assert unknown_names("SELECT payload.kind FROM events", events).ok
    assert not unknown_names("SELECT id.kind FROM events", events).ok
