"""Error categories of wrong answers, one by one, and their precedence."""

from __future__ import annotations

import pytest

from sqltune.evaluation.categories import CATEGORIES, categorize, join_pairs
from sqltune.evaluation.compare import MatchVerdict
from sqltune.schema.model import Column, Schema, Table
from sqltune.execution.execute import ExecutionResult

OK = ExecutionResult(ok=True, columns=["x"], rows=[(1,)])
WRONG = MatchVerdict(False, "rows differ")
RIGHT = MatchVerdict(True, "same")
GOLD_JOIN = "SELECT c.name FROM orders o JOIN customers c ON o.customer_id = c.id WHERE o.status = 'paid'"

SCHEMA = Schema(
    "shop",
    [
        Table("customers", [Column("id", "INTEGER"), Column("name", "VARCHAR"), Column("region", "VARCHAR")]),
        Table(
            "orders",
            [
                Column("id", "INTEGER"),
                Column("customer_id", "INTEGER"),
                Column("amount", "DOUBLE"),
                Column("status", "VARCHAR"),
                Column("shipped", "DATE"),  # a date column whose name does not say so
            ],
        ),
    ],
)


def failed(kind: str) -> ExecutionResult:
    return ExecutionResult.failure(kind, f"{kind} error")


def category(gold: str, pred: str, pred_res: ExecutionResult = OK, *, gold_res: ExecutionResult = OK, schema=None):
    return categorize(gold, pred, gold_res, pred_res, WRONG, schema)


# -- categories, one by one --------------------------------------------------------------------
def test_a_match_has_no_category():
    assert categorize("SELECT 1", "SELECT 1", OK, OK, RIGHT) is None


def test_failed_gold_is_blamed_on_the_item_not_the_model():
    assert category("SELECT nope FROM t", "SELECT 1", gold_res=failed("unknown_column")) == "gold_error"


@pytest.mark.parametrize("kind", ["timeout", "rejected"])
def test_timeout_and_rejection_come_from_the_execution(kind):
    assert category("SELECT 1", "SELECT count(*) FROM range(10)", failed(kind)) == kind


@pytest.mark.parametrize(
    "pred,res",
    [
        ("SELEC name FROM customers", failed("syntax")),
        ("", failed("syntax")),
        ("SELECT (name FROM customers", failed("runtime")),  # sqlglot cannot parse it either
    ],
)
def test_syntax_errors(pred, res):
    assert category("SELECT name FROM customers", pred, res) == "syntax_error"


@pytest.mark.parametrize("kind", ["unknown_table", "unknown_column"])
def test_unknown_names_are_hallucinated_schema(kind):
    assert category("SELECT name FROM customers", "SELECT nme FROM customerz", failed(kind)) == "hallucinated_schema"


def test_schema_names_unknown_tables_behind_a_generic_runtime_error():
    pred = "SELECT name FROM clients"
    assert category("SELECT name FROM customers", pred, failed("runtime"), schema=SCHEMA) == "hallucinated_schema"
    assert category("SELECT name FROM customers", pred, failed("runtime")) == "runtime_error"
    known = "SELECT name + 1 FROM customers"
    assert category("SELECT name FROM customers", known, failed("runtime"), schema=SCHEMA) == "runtime_error"


@pytest.mark.parametrize(
    "pred",
    [
        "SELECT c.name FROM orders o JOIN customers c ON o.customer_id = c.customer_id",  # qualified
        "SELECT full_name FROM customers",  # unqualified, the only source is a known table
    ],
)
def test_schema_names_unknown_columns_behind_a_generic_runtime_error(pred):
    gold = "SELECT c.name FROM orders o JOIN customers c ON o.customer_id = c.id"
    assert category(gold, pred, failed("runtime"), schema=SCHEMA) == "hallucinated_schema"
    assert category(gold, pred, failed("runtime")) == "runtime_error"


def test_output_aliases_are_not_unknown_columns():
    pred = "SELECT upper(region) AS r, count(*) / 0 FROM customers GROUP BY r"  # DuckDB allows the alias
    assert category("SELECT region FROM customers", pred, failed("runtime"), schema=SCHEMA) == "runtime_error"


def test_join_on_the_wrong_keys():
    pred = "SELECT c.name FROM orders o JOIN customers c ON o.id = c.id WHERE o.status = 'paid'"
    assert category(GOLD_JOIN, pred) == "wrong_join_keys"


def test_join_keys_are_compared_after_resolving_aliases():
    # Same keys spelled with other aliases (and as an implicit join): not a join-key error.
    for pred in (
        "SELECT customers.name FROM orders JOIN customers ON customers.id = orders.customer_id",
        "SELECT b.name FROM customers b, orders a WHERE a.customer_id = b.id",
    ):
        assert category(GOLD_JOIN, pred) == "wrong_rows", pred


def test_join_keys_only_count_when_the_tables_are_the_same():
    pred = "SELECT c.name FROM payments o JOIN customers c ON o.id = c.id WHERE o.status = 'paid'"
    assert category(GOLD_JOIN, pred) == "wrong_table"


def test_join_pairs_resolve_aliases_using_and_scopes():
    from sqlglot import parse_one

    tree = parse_one(
        "SELECT 1 FROM orders o JOIN customers c USING (id) "
        "WHERE o.amount > (SELECT avg(x.amount) FROM orders x WHERE x.customer_id = o.customer_id)"
    )
    # The correlated subquery compares two aliases of the same table: not a join key.
    assert join_pairs(tree) == {frozenset({"using.id"})}
    correlated = parse_one("SELECT 1 FROM orders o WHERE EXISTS (SELECT 1 FROM customers x WHERE x.id = o.customer_id)")
    assert join_pairs(correlated) == {frozenset({"customers.id", "orders.customer_id"})}
    unqualified = parse_one("SELECT 1 FROM orders JOIN customers ON customer_id = name")
    assert join_pairs(unqualified, SCHEMA) == {frozenset({"orders.customer_id", "customers.name"})}


@pytest.mark.parametrize(
    "gold,pred",
    [
        ("SELECT region, sum(amount) FROM t GROUP BY region", "SELECT region, avg(amount) FROM t GROUP BY region"),
        ("SELECT region, count(*) FROM t GROUP BY region", "SELECT region, count(*) FROM t GROUP BY region, status"),
        (
            "SELECT region FROM t GROUP BY region HAVING count(*) > 5",
            "SELECT region FROM t GROUP BY region HAVING count(*) > 50",
        ),
        ("SELECT count(*) FROM t", "SELECT * FROM t"),
    ],
)
def test_wrong_aggregation(gold, pred):
    assert category(gold, pred) == "wrong_aggregation"


def test_aggregation_ignores_aliases_and_group_order():
    gold = "SELECT o.region, sum(o.amount) AS total FROM t o GROUP BY o.region, o.status"
    pred = "SELECT region, sum(amount) FROM t GROUP BY status, region"
    assert category(gold, pred) == "wrong_rows"


@pytest.mark.parametrize(
    "gold,pred",
    [
        (  # date literal
            "SELECT count(*) FROM orders WHERE status = 'paid' AND order_date >= DATE '2023-01-01'",
            "SELECT count(*) FROM orders WHERE status = 'paid' AND order_date >= DATE '2022-01-01'",
        ),
        (  # a missing date predicate, with other aliases
            "SELECT count(*) FROM orders WHERE status = 'paid' AND created_at > '2024-03-01'",
            "SELECT count(*) FROM orders o WHERE o.status = 'paid'",
        ),
        (  # a fiscal column compared with a number
            "SELECT sum(amount) FROM orders WHERE fiscal_year = 2024",
            "SELECT sum(amount) FROM orders WHERE fiscal_year = 2023",
        ),
        (  # interval arithmetic
            "SELECT count(*) FROM orders WHERE created_at > now() - INTERVAL 7 DAY",
            "SELECT count(*) FROM orders WHERE created_at > now() - INTERVAL 30 DAY",
        ),
        (  # inside a JOIN ... ON condition
            "SELECT count(*) FROM orders o JOIN customers c ON o.customer_id = c.id AND o.order_date >= '2024-01-01'",
            "SELECT count(*) FROM orders o JOIN customers c ON o.customer_id = c.id",
        ),
    ],
)
def test_wrong_date_filter(gold, pred):
    assert category(gold, pred) == "wrong_date_filter"


def test_date_predicates_inside_aggregates_are_date_errors_not_aggregation_errors():
    gold = "SELECT sum(CASE WHEN fiscal_year = 2025 THEN amount ELSE 0 END) > sum(CASE WHEN fiscal_year = 2024 THEN amount ELSE 0 END) FROM t"
    other_year = gold.replace("fiscal_year = 2025", "fiscal_year = 2023")
    other_aggregate = gold.replace("sum(", "avg(", 1)
    assert category(gold, other_year) == "wrong_date_filter"
    assert category(gold, other_aggregate) == "wrong_aggregation"


def test_joins_on_date_keys_are_join_keys_not_date_filters():
    gold = "SELECT count(*) FROM sales s JOIN dim_date d ON s.order_date_key = d.date_key WHERE d.fiscal_year = 2024"
    pred = "SELECT count(*) FROM sales s JOIN dim_date d ON s.ship_date_key = d.date_key WHERE d.fiscal_year = 2024"
    assert category(gold, pred) == "wrong_join_keys"
    assert category(gold, gold.replace("2024", "2023")) == "wrong_date_filter"


def test_date_columns_known_from_the_schema_types():
    gold = "SELECT count(*) FROM orders WHERE shipped > 20 AND status = 'paid'"
    pred = "SELECT count(*) FROM orders WHERE shipped > 40 AND status = 'paid'"
    assert category(gold, pred, schema=SCHEMA) == "wrong_date_filter"
    assert category(gold, pred) == "wrong_rows"  # without the schema, "shipped" looks like any column


@pytest.mark.parametrize(
    "column,dated",
    [
        ("order_date", True), ("orderdate", True), ("date_key", True), ("created_at", True), ("fiscal_year", True),
        ("ship_ts", True), ("calendar_month", True),
        ("lifetime_value", False), ("update_count", False), ("is_holiday", False), ("status", False),
    ],
)
def test_date_columns_recognised_by_name(column, dated):
    gold = f"SELECT count(*) FROM t WHERE kind = 'a' AND {column} > 5"
    pred = f"SELECT count(*) FROM t WHERE kind = 'a' AND {column} > 6"
    assert (category(gold, pred) == "wrong_date_filter") is dated


def test_date_filter_needs_the_rest_of_the_query_to_match():
    gold = "SELECT count(*) FROM orders WHERE status = 'paid' AND order_date >= '2023-01-01'"
    pred = "SELECT count(*) FROM orders WHERE status = 'open' AND order_date >= '2022-01-01'"
    assert category(gold, pred) == "wrong_rows"


def test_non_date_filter_is_wrong_rows():
    assert category("SELECT id FROM t WHERE status = 'paid'", "SELECT id FROM t WHERE status = 'open'") == "wrong_rows"


def test_precedence_join_keys_then_aggregation_then_date():
    gold = "SELECT c.region, sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id WHERE o.day > '2024-01-01' GROUP BY c.region"
    both = "SELECT c.region, avg(o.amount) FROM orders o JOIN customers c ON o.id = c.id WHERE o.day > '2023-01-01' GROUP BY c.region"
    agg_and_date = "SELECT c.region, avg(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id WHERE o.day > '2023-01-01' GROUP BY c.region"
    assert category(gold, both) == "wrong_join_keys"
    assert category(gold, agg_and_date) == "wrong_aggregation"
    assert category("SELECT 1", "SELECT 1", failed("timeout"), gold_res=failed("runtime")) == "gold_error"


def test_every_category_is_documented_in_order():
    import sqltune.evaluation.categories as module

    positions = [module.__doc__.index(f"``{c}``") for c in CATEGORIES]
    assert positions == sorted(positions)


# -- tables, columns, order, the row cap --------------------------------------------------------------
def test_a_query_on_the_wrong_table_is_wrong_table_not_wrong_aggregation():
    gold = "SELECT region, count(*) FROM customers GROUP BY region"
    assert category(gold, "SELECT status, count(*) FROM orders GROUP BY status") == "wrong_table"
    assert category(gold, "SELECT region, sum(amount) FROM orders GROUP BY region") == "wrong_table"
    assert category(gold, "SELECT region, count(*) FROM customers JOIN orders ON orders.customer_id = customers.id GROUP BY region") == "wrong_table"
    assert category(gold, "SELECT region, sum(id) FROM customers GROUP BY region") == "wrong_aggregation"


def test_wrong_columns_missing_or_extra():
    from sqltune.evaluation.categories import column_difference

    gold_res = ExecutionResult(ok=True, columns=["name", "region"], rows=[("a", "n")])
    fewer = ExecutionResult(ok=True, columns=["name"], rows=[("a",)])
    other = ExecutionResult(ok=True, columns=["name", "id"], rows=[("a", 1)])
    gold = "SELECT name, region FROM customers WHERE id > 3"
    assert category(gold, "SELECT name FROM customers WHERE id > 3", fewer, gold_res=gold_res) == "wrong_columns"
    assert category(gold, "SELECT name, id FROM customers WHERE id > 3", other, gold_res=gold_res) == "wrong_columns"
    assert column_difference(gold_res, fewer) == "missing column(s) region"
    assert column_difference(gold_res, other) == "missing column(s) region; extra column(s) id"
    # same columns, another filter: not a column error
    assert category(gold, "SELECT name, region FROM customers WHERE id > 4", gold_res, gold_res=gold_res) == "wrong_rows"


def test_the_same_columns_with_other_values_are_not_wrong_columns():
    gold_res = ExecutionResult(ok=True, columns=["name", "region"], rows=[("a", "n")])
    upper = ExecutionResult(ok=True, columns=["name", "region"], rows=[("a", "N")])
    gold = "SELECT name, region FROM customers WHERE id > 3"
    # gold's columns, by name and by the table columns read; other values
    assert category(gold, "SELECT name, upper(region) AS region FROM customers WHERE id > 3", upper, gold_res=gold_res) == "wrong_rows"
    assert category(gold, "SELECT c.name, c.region || '' AS region FROM customers AS c WHERE c.id > 3", upper,
                    gold_res=gold_res) == "wrong_rows"
    assert category(gold, "SELECT name, customers.region FROM customers WHERE id > 3", upper, gold_res=gold_res) == "wrong_rows"
    # another table column under gold's name is a column error
    assert category(gold, "SELECT name, name AS region FROM customers WHERE id > 3", upper, gold_res=gold_res) == "wrong_columns"


def test_the_same_rows_in_another_order_are_wrong_order():
    gold_res = ExecutionResult(ok=True, columns=["name"], rows=[("a",), ("b",)])
    reversed_res = ExecutionResult(ok=True, columns=["name"], rows=[("b",), ("a",)])
    gold = "SELECT name FROM customers ORDER BY name"
    assert category(gold, "SELECT name FROM customers ORDER BY name DESC", reversed_res, gold_res=gold_res) == "wrong_order"
    different = ExecutionResult(ok=True, columns=["name"], rows=[("b",), ("c",)])
    assert category(gold, "SELECT name FROM customers ORDER BY name DESC", different, gold_res=gold_res) == "wrong_rows"


def test_both_cut_at_the_cap_is_undecided():
    undecided = MatchVerdict(False, "undecided at the row cap", undecided=True)
    assert categorize("SELECT name FROM customers", "SELECT name FROM orders", OK, OK, undecided) == "undecided_at_cap"
