"""Scoring predictions by execution: the scorer on a real DuckDB file, prediction files and the
report value's round trip."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import duckdb
import pytest

from sqltune.evaluation.compare import MatchRules
from sqltune.core.errors import InputError
from sqltune.evaluation.scores import Comparison, EvalReport, QuestionResult
from sqltune.evaluation.scoring import (
    Prediction,
    PredictionScorer,
    align_predictions,
    load_predictions,
    score_predictions,
)
from sqltune.execution.execute import ExecutionResult, Warehouse

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
    assert by_id["right"].execution_match and by_id["right"].executable and not by_id["right"].exact_match_normalized
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
    assert normalised.exact_match_normalized == 1.0 == normalised.exact_match_spider and normalised.raw_match == 0.0
    assert verbatim.exact_match_normalized == 1.0 and verbatim.raw_match == 1.0


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
        scorer = PredictionScorer(wh, label="streamed", on_result=lambda r: seen.append(r.id))
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
        ('[1]\n', r"pred.jsonl:1: each prediction must be a JSON object or an SQL string"),
        ('SELECT 1\n', r"pred.jsonl:1: named like JSON but line 1 is not a JSON object"),
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
        difficulty=difficulty, tags=("x",), executable=True, execution_match=match, exact_match_normalized=match, exact_match_spider=match,
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


def test_reports_written_before_the_two_exact_match_figures_still_load():
    report = EvalReport.from_results("old", [result("a", True), result("b", False)], rules="r")
    document = json.loads(json.dumps(report.to_dict()))
    for record in (document, *document["results"], *document["by_tag"].values()):
        record["exact_match"] = record.pop("exact_match_normalized")
        record.pop("exact_match_spider")
    for key in ("by_db", "undecided"):
        document.pop(key)
    again = EvalReport.from_dict(document)
    assert again.exact_match_normalized == 0.5 and again.exact_match_spider == 0.0
    assert [r.exact_match_normalized for r in again.results] == [True, False]


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
    code = main(["eval", "score", "--data", str(gold), "--pred", str(pred), "--db", str(shop), "--out", str(out), "--label", "adapter"])
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
    code = main(["eval", "score", "--data", str(gold), "--pred", str(pred), "--db", str(shop), "--order", "strict"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    # strict order: 'north' in reverse order is wrong
    assert re.search(r"Execution accuracy\s*[│|]\s*33\.3%", printed) and "order always checked" in printed
    code = main(["eval", "score", "--data", str(gold), "--pred", str(pred), "--db", str(shop)])
    assert code == 0 and re.search(r"Execution accuracy\s*[│|]\s*66\.7%", capsys.readouterr().out)


def test_cli_eval_score_errors_are_one_line(shop, tmp_path, capsys):
    from sqltune.cli import main

    gold = write_gold(tmp_path / "gold.jsonl")
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": "n_orders", "sql": "SELECT 1"}\nnot json\n')
    code = main(["eval", "score", "--data", str(gold), "--pred", str(pred), "--db", str(shop)])
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert code != 0
    assert "pred.jsonl:2: not valid JSON" in err and "Traceback" not in err
    code = main(["eval", "score", "--data", str(gold), "--pred", str(pred), "--db", str(shop), "--duplicates", "bag"])
    assert code == 2 and "'bag' is not one of" in capsys.readouterr().err  # a usage error, from the field's choices


# -- prediction files read by their form -------------------------------------------------------
def comparable(report: EvalReport) -> list[dict]:
    """The verdicts of a report, timings left out."""
    return [{k: v for k, v in vars(r).items() if not k.endswith("elapsed_s")} for r in report.results]


def test_one_column_csv_scores_like_the_jsonl_of_the_same_predictions(shop, tmp_path):
    import csv

    from sqltune.evaluation.scoring import score_files

    gold = write_gold(tmp_path / "gold.jsonl")
    sqls = ["SELECT count(*) FROM orders",
            "SELECT name, region FROM customers WHERE region = 'north'",  # a comma: the CSV quotes it
            "SELECT count(*) FROM orders WHERE status = 'paid'"]
    with (tmp_path / "pred.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sql"])
        writer.writerows([sql] for sql in sqls)
    (tmp_path / "pred.jsonl").write_text("".join(json.dumps({"sql": sql}) + "\n" for sql in sqls))
    assert [p.sql for p in load_predictions(tmp_path / "pred.csv")] == sqls  # the header is not prediction 1
    from_csv = score_files(gold, tmp_path / "pred.csv", shop)
    from_jsonl = score_files(gold, tmp_path / "pred.jsonl", shop)
    assert comparable(from_csv) == comparable(from_jsonl)
    assert from_csv.execution_accuracy == from_jsonl.execution_accuracy == pytest.approx(2 / 3)


def test_csv_and_tsv_predictions_are_read_by_their_header(tmp_path):
    tsv = tmp_path / "pred.tsv"
    tsv.write_text("id\tsql\na\tSELECT 1, 2\n")
    assert load_predictions(tsv) == [Prediction("a", "SELECT 1, 2")]
    unquoted = tmp_path / "pred.csv"
    unquoted.write_text("sql\nSELECT a, b FROM t\n")  # not cut at the comma: an error naming the line
    with pytest.raises(InputError, match=r"pred.csv:2: 2 fields where the header names 1"):
        load_predictions(unquoted)


def test_empty_gold_and_prediction_files_say_they_are_empty(shop, tmp_path, capsys):
    from sqltune.cli import main
    from sqltune.evaluation.scoring import score_files

    gold, pred = write_gold(tmp_path / "gold.jsonl"), tmp_path / "pred.jsonl"
    pred.write_text('{"id": "n_orders", "sql": "SELECT 1"}\n')
    empty_gold = tmp_path / "empty_gold.jsonl"
    empty_gold.write_text("")
    with pytest.raises(InputError, match=r"empty_gold.jsonl: the gold file is empty"):
        score_files(empty_gold, pred, shop)
    header_only = tmp_path / "header.csv"
    header_only.write_text("question,sql\n")
    with pytest.raises(InputError, match=r"header.csv: the gold file holds no questions"):
        score_files(header_only, pred, shop)
    for name, text in (("empty.jsonl", ""), ("blank.sql", "\n \n")):
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match=rf"{name}: the predictions file is empty"):
            score_files(gold, tmp_path / name, shop)
    code = main(["eval", "score", "--data", str(empty_gold), "--pred", str(pred), "--db", str(shop)])
    err = " ".join(capsys.readouterr().err.split())
    assert code != 0 and "the gold file is empty" in err and "not in the gold set" not in err


def test_a_prediction_the_guard_refuses_is_never_parsed_in_the_scoring_process(shop, tmp_path, monkeypatch):
    """An oversized prediction (over the guard's size limit) is refused in the sandbox; exact match and
    the category do not parse it again here, where nothing bounds the time (seen: 476 s for five)."""
    import sqlglot

    from sqltune.execution.guard import DEFAULT_POLICY

    huge = "SELECT " + " + ".join(["1"] * (DEFAULT_POLICY.max_chars // 4 + 1))
    assert len(huge) > DEFAULT_POLICY.max_chars
    parsed: list[int] = []
    real_parse, real_parse_one = sqlglot.parse, sqlglot.parse_one
    monkeypatch.setattr(sqlglot, "parse", lambda sql, *a, **k: parsed.append(len(sql)) or real_parse(sql, *a, **k))
    monkeypatch.setattr(sqlglot, "parse_one", lambda sql, *a, **k: parsed.append(len(sql)) or real_parse_one(sql, *a, **k))
    pairs = [make_pair("huge", "SELECT count(*) FROM orders"), make_pair("fine", "SELECT count(*) FROM orders")]
    predictions = [Prediction("huge", huge), Prediction("fine", "SELECT count(*) FROM orders")]
    with Warehouse.open(shop, timeout_s=5) as wh:
        report = score_predictions(pairs, predictions, wh, label="adapter")
    by_id = {r.id: r for r in report.results}
    assert by_id["huge"].category == "rejected" and "too_long" in by_id["huge"].pred_error
    assert not by_id["huge"].exact_match_normalized and not by_id["huge"].exact_match_spider
    assert by_id["fine"].exact_match_normalized  # the counting parser does see ordinary predictions
    assert parsed and max(parsed) < DEFAULT_POLICY.max_chars
