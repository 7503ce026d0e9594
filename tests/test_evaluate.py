"""Scoring predictions by execution: categories of wrong answers, the scorer on a real DuckDB file,
prediction files and the report value's round trip."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import duckdb
import pytest

from sqltune.evaluation.compare import MatchRules, MatchVerdict
from sqltune.core.errors import InputError
from sqltune.evaluation.scoring import (
    CATEGORIES,
    Comparison,
    EvalReport,
    Prediction,
    QuestionResult,
    Scorer,
    align_predictions,
    categorize,
    join_pairs,
    load_predictions,
    score_predictions,
)
from sqltune.warehouse.execute import ExecutionResult, Warehouse
from sqltune.schema.model import Column, Schema, Table

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
    assert category(GOLD_JOIN, pred) == "wrong_rows"


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
    import sqltune.evaluation.scoring as module

    positions = [module.__doc__.index(f"``{c}``") for c in CATEGORIES]
    assert positions == sorted(positions)


# -- scoring on a real warehouse ---------------------------------------------------------------
SLOW = "SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range + b.range = -1"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers(id INTEGER, name VARCHAR, region VARCHAR)")
    con.execute("INSERT INTO customers SELECT i, 'c' || i, ['north', 'south', 'east'][i % 3 + 1] FROM range(1, 31) t(i)")
    con.execute("CREATE TABLE orders(id INTEGER, customer_id INTEGER, amount DOUBLE, order_date DATE, status VARCHAR)")
    con.execute(
        "INSERT INTO orders SELECT i, 1 + i % 30, i * 1.5, DATE '2022-06-01' + (i * 3)::INTEGER, "
        "['paid', 'open'][i % 2 + 1] FROM range(1, 301) t(i)"
    )
    con.close()
    return path


def make_pair(id: str, sql: str, *, question: str | None = None, difficulty: str | None = None, tags=()):
    from sqltune.data import Pair

    return Pair(id=id, question=question or f"question {id}", sql=sql, db=None, difficulty=difficulty, tags=tuple(tags), allow_empty=False)


PAIRS_AND_PREDICTIONS = [
    # id, gold, predicted, expected category
    ("right", "SELECT count(*) FROM orders", "SELECT count(id) FROM orders", None),
    ("wrong", "SELECT name FROM customers WHERE region = 'north'", "SELECT name FROM customers WHERE region = 'south'", "wrong_rows"),
    ("garbled", "SELECT name FROM customers", "SELEC name FROM", "syntax_error"),
    ("slow", "SELECT count(*) FROM customers", SLOW, "timeout"),
    ("writes", "SELECT count(*) FROM customers", "DELETE FROM customers", "rejected"),
    ("made_up", "SELECT name FROM customers", "SELECT full_name FROM customers", "hallucinated_schema"),
    ("empty", "SELECT name FROM customers", "", "syntax_error"),
    ("broken_gold", "SELECT nope FROM customers", "SELECT 1", "gold_error"),
]


def test_score_predictions_right_wrong_unparseable_timeout(shop):
    pairs = [make_pair(i, gold, difficulty="easy" if n < 3 else "hard", tags=("t",) if n % 2 else ()) for n, (i, gold, _, _) in enumerate(PAIRS_AND_PREDICTIONS)]
    predictions = [Prediction(i, pred, latency_s=0.5) for i, _, pred, _ in PAIRS_AND_PREDICTIONS]
    ticks: list[tuple[int, int | None]] = []
    with Warehouse.open(shop, timeout_s=0.5) as wh:
        report = score_predictions(
            pairs, predictions, wh, label="adapter", setup={"model": "m"}, progress=lambda d, t: ticks.append((d, t))
        )
    by_id = {r.id: r for r in report.results}
    assert [r.id for r in report.results] == [p.id for p in pairs]
    for i, _, _, expected in PAIRS_AND_PREDICTIONS:
        assert by_id[i].category == expected, (i, by_id[i].reason)
    assert by_id["right"].execution_match and by_id["right"].executable and not by_id["right"].exact_match
    assert by_id["wrong"].executable and not by_id["wrong"].execution_match
    assert by_id["wrong"].gold_rows == 10 and by_id["wrong"].pred_rows == 10
    assert by_id["slow"].pred_error and "timeout" in by_id["slow"].pred_error
    assert by_id["broken_gold"].gold_rows is None and "gold query failed" in by_id["broken_gold"].reason
    assert report.n == 8
    assert report.execution_accuracy == pytest.approx(1 / 8)
    assert report.executable_rate == pytest.approx(3 / 8)
    assert report.categories == {
        "gold_error": 1, "timeout": 1, "rejected": 1, "syntax_error": 2, "hallucinated_schema": 1, "wrong_rows": 1
    }
    assert report.by_difficulty["easy"].n == 3 and report.by_difficulty["easy"].execution_accuracy == pytest.approx(1 / 3)
    assert report.by_difficulty["hard"].execution_accuracy == 0.0
    assert report.by_tag["t"].n == 4
    assert report.setup == {"model": "m"} and "multisets" in report.rules
    assert report.mean_latency_s == pytest.approx(0.5)
    assert sorted(d for d, _ in ticks) == list(range(1, 9)) and {t for _, t in ticks} == {8}


def test_exact_and_raw_match(shop):
    pairs = [make_pair("a", "SELECT name FROM customers WHERE id = 3")]
    with Warehouse.open(shop) as wh:
        normalised = score_predictions(pairs, [Prediction("a", "select NAME from customers where id=3")], wh)
        verbatim = score_predictions(pairs, [Prediction("a", "SELECT name FROM customers WHERE id = 3;")], wh)
    assert normalised.exact_match == 1.0 and normalised.raw_match == 0.0
    assert verbatim.exact_match == 1.0 and verbatim.raw_match == 1.0


def test_match_rules_switch_the_verdict(shop):
    pairs = [make_pair("a", "SELECT region FROM customers")]
    predictions = [Prediction("a", "SELECT DISTINCT region FROM customers")]
    with Warehouse.open(shop) as wh:
        spider = score_predictions(pairs, predictions, wh)
        bird = score_predictions(pairs, predictions, wh, rules=MatchRules(duplicates="set"))
    assert spider.execution_accuracy == 0.0 and bird.execution_accuracy == 1.0
    assert spider.rules != bird.rules


class CountingWarehouse:
    """A warehouse that counts how often each SQL text ran."""

    dialect = "duckdb"

    def __init__(self, inner: Warehouse):
        self.inner = inner
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def execute(self, sql: str, **kwargs) -> ExecutionResult:
        with self.lock:
            self.calls[sql] = self.calls.get(sql, 0) + 1
        return self.inner.execute(sql, **kwargs)


def test_gold_results_are_cached_by_sql_text(shop):
    gold = "SELECT region, count(*) FROM customers GROUP BY region"
    pairs = [make_pair(f"q{i}", gold) for i in range(12)]
    predictions = [Prediction(f"q{i}", f"SELECT region, count(*) + {i % 2} FROM customers GROUP BY region") for i in range(12)]
    with Warehouse.open(shop) as wh:
        counting = CountingWarehouse(wh)
        report = score_predictions(pairs, predictions, counting, workers=4)
    assert counting.calls[gold] == 1
    assert report.execution_accuracy == pytest.approx(0.5)


def test_scorer_runs_while_predictions_stream_in(shop):
    seen: list[str] = []
    with Warehouse.open(shop) as wh:
        scorer = Scorer(wh, label="streamed", on_result=lambda r: seen.append(r.id))
        first = scorer.submit(make_pair("a", "SELECT 1"), Prediction("a", "SELECT 1"))
        assert first.result(timeout=10).execution_match  # scored before the next prediction exists
        assert seen == ["a"]
        scorer.submit(make_pair("b", "SELECT 2"), Prediction("b", "SELECT 3"))
        report = scorer.finish()
    assert sorted(seen) == ["a", "b"]
    assert report.label == "streamed" and report.execution_accuracy == 0.5


# -- matching predictions to pairs -------------------------------------------------------------
def test_predictions_align_by_id_or_by_order():
    pairs = [make_pair("a", "SELECT 1"), make_pair("b", "SELECT 2")]
    by_id = align_predictions(pairs, [Prediction("b", "SELECT 2"), Prediction("a", "SELECT 1")])
    assert [p.id for p in by_id] == ["a", "b"]
    by_order = align_predictions(pairs, [Prediction("", "x"), Prediction("", "y")])
    assert [p.sql for p in by_order] == ["x", "y"]


@pytest.mark.parametrize(
    "predictions,message",
    [
        ([Prediction("a", "x")], "no prediction for 1 gold question"),
        ([Prediction("a", "x"), Prediction("b", "y"), Prediction("c", "z")], "not in the gold set: c"),
        ([Prediction("a", "x"), Prediction("a", "y")], "appears twice"),
        ([Prediction("", "x")], "counts must be equal"),
        ([Prediction("a", "x"), Prediction("", "y")], "some predictions have an id"),
    ],
)
def test_misaligned_predictions_are_input_errors(predictions, message):
    pairs = [make_pair("a", "SELECT 1"), make_pair("b", "SELECT 2")]
    with pytest.raises(InputError, match=message):
        align_predictions(pairs, predictions)


def test_load_predictions_jsonl_and_plain(tmp_path):
    jsonl = tmp_path / "pred.jsonl"
    jsonl.write_text('{"id": "a", "sql": "SELECT 1"}\n\n{"id": 7, "pred": "SELECT 2", "latency_s": 0.25}\n')
    assert load_predictions(jsonl) == [Prediction("a", "SELECT 1"), Prediction("7", "SELECT 2", latency_s=0.25)]
    plain = tmp_path / "pred.sql"
    plain.write_text("SELECT 1\n\nSELECT 2\tshop\n")
    assert [(p.id, p.sql) for p in load_predictions(plain)] == [("", "SELECT 1"), ("", ""), ("", "SELECT 2")]


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"id": "a", "sql": "SELECT 1"}\n{"id": "b", \n', r"pred.jsonl:2: not valid JSON"),
        ('{"id": "a"}\n', r"pred.jsonl:1: no 'sql'"),
        ('["SELECT 1"]\n', r"pred.jsonl:1: each line must be a JSON object"),
        ('{"id": "a", "sql": 3}\n', r"pred.jsonl:1: 'sql' must be a string"),
    ],
)
def test_bad_prediction_lines_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "pred.jsonl"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_predictions(path)


def test_missing_prediction_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read predictions"):
        load_predictions(tmp_path / "nope.jsonl")


# -- report values -----------------------------------------------------------------------------
def result(id: str, match: bool, *, category: str | None = None, difficulty: str | None = None) -> QuestionResult:
    return QuestionResult(
        id=id, question=f"q {id}", gold_sql="SELECT 1", pred_sql="SELECT 1" if match else "SELECT 2",
        difficulty=difficulty, tags=("x",), executable=True, execution_match=match, exact_match=match,
        raw_match=match, category=None if match else (category or "wrong_rows"), reason="r",
        gold_rows=1, pred_rows=1, gold_elapsed_s=0.01, pred_elapsed_s=0.01,
    )


def test_eval_report_round_trips_through_json():
    results = [result("a", True, difficulty="hard"), result("b", False, difficulty="easy"), result("c", False)]
    report = EvalReport.from_results("merged", results, rules="rules", setup={"decoding": {"greedy": True}})
    assert list(report.by_difficulty) == ["easy", "hard", "(none)"]
    again = EvalReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    assert again.results[0].tags == ("x",)


def test_comparison_rows_and_flips():
    before = EvalReport.from_results("prompt-only", [result("a", False), result("b", True)], rules="r")
    after = EvalReport.from_results("adapter", [result("a", True), result("b", False, category="timeout")], rules="r")
    comparison = Comparison([before, after])
    assert comparison.labels == ["prompt-only", "adapter"]
    assert comparison.headline_rows()[0] == ("Execution accuracy", [0.5, 0.5])
    assert comparison.flips("prompt-only", "adapter") == (["a"], ["b"])
    assert comparison.categories() == ["timeout", "wrong_rows"]
    assert Comparison.from_dict(comparison.to_dict()) == comparison


# -- the CLI, end to end -----------------------------------------------------------------------
def write_gold(path: Path) -> Path:
    rows = [
        {"id": "n_orders", "question": "How many orders?", "sql": "SELECT count(*) FROM orders", "difficulty": "easy"},
        {"id": "north", "question": "Customers in the north", "sql": "SELECT name FROM customers WHERE region = 'north'", "difficulty": "hard"},
        {"id": "paid", "question": "Paid orders", "sql": "SELECT count(*) FROM orders WHERE status = 'paid'", "difficulty": "hard"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_eval_score_end_to_end(shop, tmp_path, capsys):
    from sqltune.cli import main

    gold = write_gold(tmp_path / "gold.jsonl")
    pred = tmp_path / "pred.jsonl"
    pred.write_text(
        '{"id": "paid", "sql": "SELECT count(*) FROM orders WHERE status = \'open\' AND id > 10"}\n'
        '{"id": "n_orders", "sql": "SELECT count(*) FROM orders"}\n'
        '{"id": "north", "pred": "SELECT nam FROM customers"}\n'
    )
    out = tmp_path / "report"
    code = main(["eval", "score", "--gold", str(gold), "--pred", str(pred), "--db", str(shop), "--out", str(out), "--label", "adapter"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "adapter: 3 question(s)" in printed and "report.html" in printed
    assert re.search(r"Execution accuracy\s*[│|]\s*33\.3%", printed), printed
    document = json.loads((out / "report.json").read_text())
    report = EvalReport.from_dict(document["reports"][0])
    assert report.label == "adapter" and report.execution_accuracy == pytest.approx(1 / 3)
    assert report.categories == {"hallucinated_schema": 1, "wrong_rows": 1}
    assert report.setup["predictions"] == str(pred)
    assert "| Execution accuracy | 33.3% |" in (out / "report.md").read_text()


def test_cli_eval_score_plain_sql_file_and_rules(shop, tmp_path, capsys):
    from sqltune.cli import main

    gold = write_gold(tmp_path / "gold.jsonl")
    pred = tmp_path / "pred.sql"
    pred.write_text(
        "SELECT count(*) FROM orders\nSELECT name FROM customers WHERE region = 'north' ORDER BY name DESC\nSELECT 1\n"
    )
    code = main(["eval", "score", "--gold", str(gold), "--pred", str(pred), "--db", str(shop), "--order", "strict"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    # strict order: 'north' in reverse order is wrong
    assert re.search(r"Execution accuracy\s*[│|]\s*33\.3%", printed) and "order always checked" in printed
    code = main(["eval", "score", "--gold", str(gold), "--pred", str(pred), "--db", str(shop)])
    assert code == 0 and re.search(r"Execution accuracy\s*[│|]\s*66\.7%", capsys.readouterr().out)


def test_cli_eval_score_errors_are_one_line(shop, tmp_path, capsys):
    from sqltune.cli import main

    gold = write_gold(tmp_path / "gold.jsonl")
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": "n_orders", "sql": "SELECT 1"}\nnot json\n')
    code = main(["eval", "score", "--gold", str(gold), "--pred", str(pred), "--db", str(shop)])
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert code != 0
    assert "pred.jsonl:2: not valid JSON" in err and "Traceback" not in err
    code = main(["eval", "score", "--gold", str(gold), "--pred", str(pred), "--db", str(shop), "--duplicates", "bag"])
    assert code != 0 and "duplicates='bag'" in capsys.readouterr().err
