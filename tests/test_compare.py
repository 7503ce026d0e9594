"""Every comparison rule is tested both ways: a case that must say "same" and one that must not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from sqltune.evaluation.compare import (
    MatchRules,
    exact_match,
    execution_match,
    gold_is_ordered,
    gold_variants,
    normalize_sql,
    order_key_columns,
    raw_match,
)
from sqltune.core.errors import ConfigError
from sqltune.execution.execute import ExecutionResult, Warehouse
from sqltune.schema.model import Column, Schema, Table

UNORDERED = "SELECT name, n FROM t"
ORDERED = "SELECT name, n FROM t ORDER BY n"


def res(rows, columns=("name", "n"), **kw) -> ExecutionResult:
    return ExecutionResult(ok=True, columns=list(columns), rows=[tuple(r) for r in rows], **kw)


def same(gold, pred, sql=UNORDERED, **rules) -> bool:
    return execution_match(gold, pred, gold_sql=sql, rules=MatchRules(**rules)).match


BASE = [("a", 1), ("b", 2), ("c", 3)]


# -- row order --------------------------------------------------------------------------------------
def test_order_ignored_when_gold_has_no_order_by():
    assert same(res(BASE), res(BASE[::-1]))


def test_order_checked_when_gold_orders():
    verdict = execution_match(res(BASE), res(BASE[::-1]), gold_sql=ORDERED)
    assert not verdict.match and "order" in verdict.reason
    assert same(res(BASE), res(BASE), ORDERED)


def test_order_by_inside_subquery_does_not_count():
    sql = "SELECT * FROM (SELECT name, n FROM t ORDER BY n) s"
    assert not gold_is_ordered(sql)
    assert same(res(BASE), res(BASE[::-1]), sql)
    assert gold_is_ordered("SELECT a FROM t UNION SELECT a FROM u ORDER BY a")
    assert gold_is_ordered("(SELECT a FROM t ORDER BY a)")


def test_order_rule_switches():
    assert not same(res(BASE), res(BASE[::-1]), UNORDERED, order="strict")
    assert same(res(BASE), res(BASE[::-1]), ORDERED, order="ignore")


def test_ties_on_the_order_by_key_may_come_in_any_order():
    gold = res([("a", 1), ("b", 1), ("c", 2)])
    assert same(gold, res([("b", 1), ("a", 1), ("c", 2)]), "SELECT name, n FROM t ORDER BY n")
    assert not same(gold, res([("c", 2), ("a", 1), ("b", 1)]), "SELECT name, n FROM t ORDER BY n")
    # ordering by a column that is not in the output: the full row order must match
    assert not same(gold, res([("b", 1), ("a", 1), ("c", 2)]), "SELECT name, n FROM t ORDER BY id")


def test_order_key_columns():
    cols = ["city", "n"]
    assert order_key_columns("SELECT city, count(*) AS n FROM t GROUP BY 1 ORDER BY n DESC, 1", cols) == [1, 0]
    assert order_key_columns("SELECT city, count(*) AS n FROM t GROUP BY 1 ORDER BY count(*)", cols) == [1]
    assert order_key_columns("SELECT city, count(*) AS n FROM t GROUP BY 1 ORDER BY max(x)", cols) is None
    assert order_key_columns("SELECT city, n FROM t", cols) is None


# -- duplicates -------------------------------------------------------------------------------------
def test_duplicate_rows_count_under_multiset():
    assert not same(res(BASE), res(BASE + [("a", 1)]))
    assert not same(res(BASE + [("a", 1)]), res(BASE + [("b", 2)]))
    assert same(res(BASE + [("a", 1)]), res([("a", 1)] + BASE))


def test_duplicate_rows_ignored_under_set():
    assert same(res(BASE), res(BASE + [("a", 1)]), duplicates="set")
    assert not same(res(BASE), res(BASE + [("d", 4)]), duplicates="set")


def test_extra_or_missing_row_is_different():
    verdict = execution_match(res(BASE), res(BASE[:2]), gold_sql=UNORDERED)
    assert not verdict.match and "row count" in verdict.reason
    assert not same(res(BASE), res(BASE[:2] + [("z", 9)]))


# -- values -----------------------------------------------------------------------------------------
def test_float_tolerance_both_ways():
    assert same(res([("a", 2 / 3)]), res([("a", 0.6666667)]))
    assert not same(res([("a", 2 / 3)]), res([("a", 0.667)]))
    assert same(res([("a", 2 / 3)]), res([("a", 0.667)]), float_tolerance=1e-2)
    assert same(res([("a", 0.0)]), res([("a", 1e-12)]))


def test_numbers_compare_by_value_across_types():
    assert same(res([("a", 3)]), res([("a", 3.0)]))
    assert same(res([("a", Decimal("2.50"))]), res([("a", 2.5)]))
    assert same(res([("a", 2**60)]), res([("a", Decimal(2**60))]))
    assert not same(res([("a", 2**60)]), res([("a", 2**60 + 1)]))
    assert not same(res([("a", 3)]), res([("a", "3")]))
    assert not same(res([("a", True)]), res([("a", 1)]))


def test_null_equals_null_but_not_zero_or_empty():
    assert same(res([("a", None)]), res([("a", None)]))
    assert not same(res([("a", None)]), res([("a", 0)]))
    assert not same(res([(None, 1)]), res([("", 1)]))
    assert same(res([("a", float("nan"))]), res([("a", float("nan"))]))


def test_dates_compare_by_value():
    day = dt.date(2024, 3, 1)
    assert same(res([("a", day)]), res([("a", dt.date(2024, 3, 1))]))
    assert same(res([("a", day)]), res([("a", "2024-03-01")]))
    assert not same(res([("a", day)]), res([("a", dt.date(2024, 3, 2))]))
    stamp = dt.datetime(2024, 3, 1, 12, 30)
    assert same(res([("a", stamp)]), res([("a", "2024-03-01 12:30:00")]))
    assert not same(res([("a", stamp)]), res([("a", day)]))


def test_strings_are_case_sensitive():
    assert not same(res([("Oslo", 1)]), res([("oslo", 1)]))


def test_nested_values():
    assert same(res([("a", [1, 2.0])]), res([("a", [1.0, 2])]))
    assert not same(res([("a", [1, 2])]), res([("a", [2, 1])]))


# -- columns ----------------------------------------------------------------------------------------
def test_columns_aligned_by_name_ignoring_case():
    pred = res([(n, name) for name, n in BASE], columns=("N", "Name"))
    verdict = execution_match(res(BASE), pred, gold_sql=ORDERED)
    assert verdict.match and "name" in verdict.reason


def test_columns_permuted_by_content_when_names_differ():
    pred = res([(n, name) for name, n in BASE], columns=("count_star()", "label"))
    assert same(res(BASE), pred)
    assert not same(res(BASE), pred, column_order="strict")


def test_permutation_does_not_pair_rows_wrongly():
    gold = res([("a", 1), ("b", 2)])
    pred = res([(2, "a"), (1, "b")], columns=("x", "y"))  # columns match as multisets, rows do not
    assert not same(gold, pred)


def test_extra_column_is_different():
    pred = res([(name, n, 0) for name, n in BASE], columns=("name", "n", "extra"))
    verdict = execution_match(res(BASE), pred, gold_sql=UNORDERED)
    assert not verdict.match and "column count" in verdict.reason


def test_same_names_but_other_values_is_different():
    pred = res([("a", 1), ("b", 2), ("c", 4)])
    verdict = execution_match(res(BASE), pred, gold_sql=UNORDERED)
    assert not verdict.match and "no match" in verdict.reason


# -- failures and caps ------------------------------------------------------------------------------
def test_failed_queries_never_match():
    failed = ExecutionResult.failure("unknown_table", "no table x")
    assert "prediction failed" in execution_match(res(BASE), failed, gold_sql=UNORDERED).reason
    assert "gold query failed" in execution_match(failed, res(BASE), gold_sql=UNORDERED).reason
    assert not execution_match(failed, failed, gold_sql=UNORDERED).match


def test_truncation_must_agree():
    assert not same(res(BASE, truncated=True), res(BASE))


def test_both_cut_at_the_cap_is_undecided_and_counts_wrong():
    verdict = execution_match(res(BASE, truncated=True), res(BASE, truncated=True), gold_sql=UNORDERED)
    assert not verdict.match and verdict.undecided and "undecided at the row cap" in verdict.reason
    assert "--max-rows" in verdict.reason
    other = execution_match(res(BASE, truncated=True), res(BASE), gold_sql=UNORDERED)
    assert not other.match and not other.undecided


def test_empty_results_match():
    assert same(res([]), res([]))
    assert not same(res([]), res(BASE[:1]))


def test_rules_validate_and_describe():
    with pytest.raises(ConfigError):
        MatchRules(order="sometimes")
    with pytest.raises(ConfigError):
        MatchRules(duplicates="bag")
    text = MatchRules().describe()
    assert "multisets" in text and "ORDER BY" in text and "1e-06" in text
    assert MatchRules(duplicates="set").describe() != text


def test_real_duckdb_results(tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales(region VARCHAR, amount DECIMAL(10, 2), day DATE)")
    con.execute("INSERT INTO sales VALUES ('n', 10.10, '2024-01-01'), ('s', 5.05, '2024-01-02'), ('n', 1.00, '2024-01-03')")
    con.close()
    gold_sql = "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY total DESC"
    with Warehouse.open(path) as wh:
        gold = wh.execute(gold_sql)
        pred_same = wh.execute("SELECT sum(amount)::DOUBLE AS s, region FROM sales GROUP BY ALL ORDER BY 1 DESC")
        pred_asc = wh.execute("SELECT region, sum(amount) FROM sales GROUP BY region ORDER BY 2")
    assert execution_match(gold, pred_same, gold_sql=gold_sql).match
    assert not execution_match(gold, pred_asc, gold_sql=gold_sql).match


# -- SQL text ---------------------------------------------------------------------------------------
def test_normalize_sql_canonical_form():
    assert normalize_sql("select  Name from USERS where id>1 ;") == "SELECT name FROM users WHERE id > 1"
    assert normalize_sql("SELECT u.name FROM users AS u") == normalize_sql("select x.name from users x")
    assert normalize_sql("SELECT 'Oslo'") != normalize_sql("SELECT 'oslo'")


def test_exact_match_with_and_without_schema():
    schema = Schema("w", [Table("users", [Column("id", "INTEGER"), Column("name", "VARCHAR")])])
    assert not exact_match("SELECT name FROM users WHERE id > 1", "SELECT u.name FROM users u WHERE u.id > 1")
    assert exact_match("SELECT name FROM users WHERE id > 1", "SELECT u.name FROM users u WHERE u.id > 1", schema=schema)
    assert not exact_match("SELECT name FROM users WHERE id > 1", "SELECT name FROM users WHERE id >= 1", schema=schema)
    assert exact_match("SELECT 1 FROM t", "select 1 from T;")
    assert not exact_match("SELEC 1", "SELECT 1")  # unparseable: falls back to raw match


def test_raw_match_is_stricter():
    assert raw_match("SELECT 1\n FROM t;", "SELECT 1 FROM t")
    assert not raw_match("SELECT 1 FROM t", "select 1 from t")


# -- robustness -------------------------------------------------------------------------------------
def test_rows_equal_within_tolerance_match_even_when_sorting_separates_them():
    gold = res([(1.0, "b"), (1.0000000001, "a")], columns=("x", "name"))
    pred = res([(1.0000000001, "b"), (1.0, "a")], columns=("x", "name"))
    assert same(gold, pred)
    assert not same(gold, res([(1.0, "b"), (1.1, "a")], columns=("x", "name")))


def test_large_wrong_results_are_decided_quickly():
    import time

    gold = res([(f"n{i}", i * 0.5) for i in range(20_000)])
    pred = res([(f"n{i}", i * 0.5 + (i == 19_999)) for i in range(20_000)])
    started = time.perf_counter()
    assert not same(gold, pred)
    assert same(gold, res(list(reversed(gold.rows))))
    assert time.perf_counter() - started < 5.0


def test_wide_results_of_alike_columns_stay_bounded():
    import time

    cols = tuple(f"c{i}" for i in range(20))
    gold = res([tuple([1] * 20), tuple([2] * 20)], columns=cols)
    pred = res([tuple([1] * 19 + [2]), tuple([2] * 19 + [1])], columns=tuple(f"d{i}" for i in range(20)))
    started = time.perf_counter()
    assert not same(gold, pred)
    assert time.perf_counter() - started < 5.0


# -- sql-eval's column subset rule ------------------------------------------------------------------
def test_subset_rule_accepts_extra_predicted_columns_holding_gold_values():
    gold = res(BASE)
    wider = res([("x", "a", 1), ("y", "b", 2), ("z", "c", 3)], columns=("id", "name", "n"))
    assert not same(gold, wider)
    assert same(gold, wider, columns="subset")
    assert same(res([(1,), (2,), (3,)], columns=("n",)), wider, columns="subset")


def test_subset_rule_still_needs_every_gold_column_and_the_same_rows():
    wider = res([("x", "a", 1), ("y", "b", 2), ("z", "c", 3)], columns=("id", "name", "n"))
    verdict = execution_match(res(BASE, columns=("name", "m")), res([("a", 9), ("b", 9), ("c", 9)], columns=("name", "m")),
                              gold_sql=UNORDERED, rules=MatchRules(columns="subset"))
    assert not verdict.match
    assert not same(res([("a", 1), ("b", 2), ("c", 4)]), wider, columns="subset")  # a value differs
    assert not same(res(BASE[:2]), wider, columns="subset")  # another row count
    assert not same(res([]), res([], columns=("id", "name", "n")), columns="subset")  # empty gold: nothing to check
    # the gold's columns are paired with the prediction's as values, but the rows must also line up
    crossed = res([("x", "a", 2), ("y", "b", 1), ("z", "c", 3)], columns=("id", "name", "n"))
    assert not same(res(BASE), crossed, columns="subset")


def test_gold_variants_expand_sql_eval_braces_only_under_the_subset_rule():
    gold = "SELECT {name, id} FROM t GROUP BY {}"
    assert gold_variants(gold) == [gold]
    assert gold_variants(gold, MatchRules(columns="subset")) == [
        "SELECT name FROM t GROUP BY name",
        "SELECT id FROM t GROUP BY id",
        "SELECT name, id FROM t GROUP BY name, id",
    ]
    assert gold_variants("SELECT 1; SELECT 2 FROM t", MatchRules(columns="subset")) == ["SELECT 1", "SELECT 2 FROM t"]
    struct = "SELECT {'a': 1} AS s"  # a DuckDB struct literal, not a column list
    assert gold_variants(struct, MatchRules(columns="subset")) == [struct]


def test_new_rules_validate_and_describe():
    with pytest.raises(ConfigError):
        MatchRules(columns="loose")
    with pytest.raises(ConfigError):
        MatchRules(max_rows=0)
    text = MatchRules(columns="subset", max_rows=500).describe()
    assert "sql-eval subset rule" in text and "cut at 500 rows" in text
