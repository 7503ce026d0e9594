"""Scoring real benchmark files as their authors do: rows over several databases in one folder,
several gold queries per row, sql-eval's column-subset rule, the row cap's undecided verdict, and
formats read from the content (Spider/BIRD JSON, JSONL under another name, CSV, raw SQL lines)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

from sqltune.core.errors import InputError
from sqltune.evaluation.compare import MatchRules
from sqltune.evaluation.report import render_markdown
from sqltune.evaluation.scores import Comparison
from sqltune.evaluation.scoring import load_predictions, score_files


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Three tiny databases in three layouts: shop.duckdb, music.sqlite, spider-style zoo/zoo.sqlite."""
    root = tmp_path_factory.mktemp("databases")
    con = duckdb.connect(str(root / "shop.duckdb"))
    con.execute("CREATE TABLE customers(id INTEGER, name VARCHAR, region VARCHAR)")
    con.execute("INSERT INTO customers VALUES (1, 'ann', 'north'), (2, 'bob', 'south'), (3, 'cy', 'north')")
    con.execute("CREATE TABLE big(n INTEGER)")
    con.execute("INSERT INTO big SELECT range FROM range(50)")
    con.close()
    music = sqlite3.connect(root / "music.sqlite")
    music.execute("CREATE TABLE singer(id INTEGER, name TEXT, country TEXT, age INTEGER)")
    music.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)",
                      [(1, "Joe", "France", 30), (2, "Ann", "UK", 41), (3, "Li", "France", 25)])
    music.commit()
    music.close()
    (root / "zoo").mkdir()
    zoo = sqlite3.connect(root / "zoo" / "zoo.sqlite")
    zoo.execute("CREATE TABLE animal(id INTEGER, kind TEXT, legs INTEGER)")
    zoo.executemany("INSERT INTO animal VALUES (?, ?, ?)", [(1, "cat", 4), (2, "bird", 2), (3, "dog", 4)])
    zoo.commit()
    zoo.close()
    return root


# id, db, gold, prediction, correct?
ROWS = [
    ("s1", "shop", "SELECT count(*) FROM customers", "SELECT count(id) FROM customers", True),
    ("s2", "shop", "SELECT name FROM customers WHERE region = 'north'", "SELECT name FROM customers WHERE region = 'south'", False),
    ("m1", "music", 'SELECT name FROM singer WHERE country = "France"', "SELECT name FROM singer WHERE country = 'France'", True),
    ("m2", "music", "SELECT avg(age) FROM singer", "SELECT max(age) FROM singer", False),
    ("z1", "zoo", "SELECT kind FROM animal WHERE legs = 4", "SELECT kind FROM animal WHERE legs > 3", True),
    ("z2", "zoo", "SELECT count(*) FROM animal", "SELECT count(*) FROM singer", False),
]


def spider_json(path: Path, rows) -> Path:
    path.write_text(json.dumps([{"db_id": db, "question": f"q {id}", "query": gold, "id": id} for id, db, gold, *_ in rows],
                               indent=2))
    return path


def pred_lines(path: Path, rows) -> Path:
    path.write_text("".join(f"{pred}\n" for *_, pred, _ in rows))
    return path


def test_rows_over_several_databases_score_in_one_call_as_split_by_hand(folder, tmp_path):
    gold = spider_json(tmp_path / "dev.json", ROWS)
    pred = pred_lines(tmp_path / "pred.sql", ROWS)
    report = score_files(gold, pred, str(folder))
    by_id = {r.id: r for r in report.results}
    assert [r.id for r in report.results] == [row[0] for row in ROWS]  # the file's order
    assert {id: by_id[id].execution_match for id, *_ in ROWS} == {id: ok for id, *_, ok in ROWS}
    assert set(report.by_db) == {"shop", "music", "zoo"}
    assert all(part.n == 2 and part.execution_accuracy == 0.5 for part in report.by_db.values())
    assert "gold_error" not in report.categories
    for db, file in (("shop", "shop.duckdb"), ("music", "music.sqlite"), ("zoo", "zoo/zoo.sqlite")):
        rows = [row for row in ROWS if row[1] == db]
        alone = score_files(spider_json(tmp_path / f"{db}.json", rows), pred_lines(tmp_path / f"{db}.sql", rows),
                            str(folder / file))
        for result in alone.results:
            together = by_id[result.id]
            assert (result.execution_match, result.category, result.reason) == (
                together.execution_match, together.category, together.reason)
    text = render_markdown(Comparison([report]))
    assert "## By database" in text and "| music |" in text
    assert "## Wrong answers" in text
    for id, *_, ok in ROWS:
        assert (f"| {id} |" in text) is not ok  # every wrong answer listed, no right one
    assert "| z2 | zoo | hallucinated_schema |" in text and "| m2 | music | wrong_aggregation |" in text


def test_a_template_with_db_names_each_database(folder, tmp_path):
    rows = [row for row in ROWS if row[1] == "music"]
    report = score_files(spider_json(tmp_path / "g.json", rows), pred_lines(tmp_path / "p.sql", rows),
                         f"sqlite:///{folder}/{{db}}.sqlite")
    assert [r.execution_match for r in report.results] == [True, False]


def test_a_missing_database_is_an_input_error_naming_the_row(folder, tmp_path):
    rows = ROWS[:2] + [("x1", "nowhere", "SELECT 1", "SELECT 1", True)]
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"id": id, "question": "q", "sql": g, "db": db}) + "\n" for id, db, g, *_ in rows))
    pred = pred_lines(tmp_path / "pred.sql", rows)
    with pytest.raises(InputError, match=r"gold\.jsonl:3: row 'x1': database 'nowhere' not found \(looked for .*nowhere\.duckdb"):
        score_files(gold, pred, str(folder))
    gold.write_text(gold.read_text().replace('"nowhere"', '"../x"'))
    with pytest.raises(InputError, match=r":3: row 'x1': database name '\.\./x' is not a plain name"):
        score_files(gold, pred, str(folder))


def test_a_folder_needs_a_db_on_every_row(folder, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "a", "question": "q", "sql": "SELECT 1", "db": "shop"}\n{"id": "b", "question": "q", "sql": "SELECT 1"}\n')
    pred = tmp_path / "pred.sql"
    pred.write_text("SELECT 1\nSELECT 1\n")
    with pytest.raises(InputError, match=r"gold\.jsonl:2: row 'b' has no 'db' \(or 'db_id'\)"):
        score_files(gold, pred, str(folder))


def test_one_database_for_rows_naming_several_is_an_error(folder, tmp_path):
    gold = spider_json(tmp_path / "dev.json", ROWS)
    pred = pred_lines(tmp_path / "pred.sql", ROWS)
    with pytest.raises(InputError, match=r"the rows name 3 databases \(music, shop, zoo\) but --db is one database"):
        score_files(gold, pred, str(folder / "shop.duckdb"))


def test_several_golds_any_may_match(folder, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        json.dumps({"id": "a", "question": "q", "sql": ["SELECT name FROM customers WHERE id = 1", "SELECT 'ann'"]}) + "\n"
        + json.dumps({"id": "b", "question": "q", "sql": "SELECT count(*) FROM customers WHERE region = 'north'",
                      "alt_sql": ["SELECT 3"]}) + "\n"
        + json.dumps({"id": "c", "question": "q", "sql": "SELECT 1", "alt_sql": ["SELECT 2"]}) + "\n"
    )
    pred = tmp_path / "pred.sql"
    pred.write_text("SELECT 'ann' AS name\nSELECT 3\nSELECT 5\n")
    report = score_files(gold, pred, str(folder / "shop.duckdb"))
    a, b, c = report.results
    assert a.execution_match and b.execution_match and not c.execution_match
    assert b.gold_sql == "SELECT 3"  # the gold it matched
    assert "none of the 2 gold queries matched" in c.reason
    assert report.results[1].raw_match  # any gold counts for the string figures too


def test_column_subset_rule_of_sql_eval(folder, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        json.dumps({"id": "extra", "question": "q", "sql": "SELECT name FROM customers WHERE region = 'north'"}) + "\n"
        + json.dumps({"id": "braces", "question": "q", "sql": "SELECT {id, name} FROM customers"}) + "\n"
        + json.dumps({"id": "empty", "question": "q", "sql": "SELECT name FROM customers WHERE id > 9"}) + "\n"
        + json.dumps({"id": "values", "question": "q", "sql": "SELECT name FROM customers"}) + "\n"
    )
    pred = tmp_path / "pred.sql"
    pred.write_text(
        "SELECT id, name FROM customers WHERE region = 'north'\n"
        "SELECT name FROM customers\n"
        "SELECT id, name FROM customers WHERE id > 9\n"
        "SELECT id, region FROM customers\n"
    )
    strict = {r.id: r.execution_match for r in score_files(gold, pred, str(folder / "shop.duckdb")).results}
    subset = {r.id: r for r in score_files(gold, pred, str(folder / "shop.duckdb"), rules=MatchRules(columns="subset")).results}
    assert strict == {"extra": False, "braces": False, "empty": False, "values": False}
    assert subset["extra"].execution_match and "extra predicted column" in subset["extra"].reason
    assert subset["braces"].execution_match  # {id, name} accepts name alone
    assert not subset["empty"].execution_match  # an empty gold cannot be checked against extra columns
    assert not subset["values"].execution_match and "no predicted column with the same values" in subset["values"].reason


def test_both_results_cut_at_the_cap_are_undecided_until_it_is_raised(folder, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "all", "question": "q", "sql": "SELECT n FROM big"}) + "\n")
    pred = tmp_path / "pred.sql"
    pred.write_text("SELECT n FROM big\n")
    capped = score_files(gold, pred, str(folder / "shop.duckdb"), rules=MatchRules(max_rows=10))
    (result,) = capped.results
    assert not result.execution_match and result.undecided and result.category == "undecided_at_cap"
    assert capped.undecided == 1 and capped.execution_accuracy == 0.0
    assert "Undecided at the row cap" in render_markdown(Comparison([capped]))
    raised = score_files(gold, pred, str(folder / "shop.duckdb"), rules=MatchRules(max_rows=100))
    assert raised.results[0].execution_match and raised.undecided == 0


def test_cli_max_rows_and_columns_flags(folder, tmp_path, capsys):
    from sqltune.cli import main

    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "all", "question": "q", "sql": "SELECT n FROM big"}) + "\n")
    pred = tmp_path / "pred.sql"
    pred.write_text("SELECT n, n + 1 FROM big\n")
    args = ["eval", "score", "--data", str(gold), "--pred", str(pred), "--db", str(folder / "shop.duckdb")]
    assert main([*args, "--columns", "subset", "--max-rows", "10"]) == 0
    printed = capsys.readouterr().out
    assert "undecided at the row cap" in printed
    assert main([*args, "--columns", "subset", "--max-rows", "1000", "--out", str(tmp_path / "r")]) == 0
    assert "100.0%" in capsys.readouterr().out


# -- formats from the content ------------------------------------------------------------------------
def test_gold_and_predictions_are_read_by_content_not_name(folder, tmp_path):
    rows = [row for row in ROWS if row[1] == "shop"]
    gold = tmp_path / "gold.txt"  # a JSON array under a name that says nothing
    spider_json(gold, rows)
    jsonl_as_csv = tmp_path / "pred.csv"
    jsonl_as_csv.write_text("".join(json.dumps({"id": id, "sql": pred}) + "\n" for id, _, _, pred, _ in rows))
    csv_preds = tmp_path / "pred.out"
    csv_preds.write_text("id,sql\n" + "".join(f'{id},"{pred}"\n' for id, _, _, pred, _ in rows))
    bird = tmp_path / "predict_dev.json"
    bird.write_text(json.dumps({str(i): f"{pred}\t----- bird -----\tshop" for i, (*_, pred, _) in enumerate(rows)}))
    array = tmp_path / "pred.array"
    array.write_text(json.dumps([pred for *_, pred, _ in rows]))
    verdicts = []
    for pred in (jsonl_as_csv, csv_preds, bird, array):
        report = score_files(gold, pred, str(folder / "shop.duckdb"))
        verdicts.append([r.execution_match for r in report.results])
    assert verdicts == [[True, False]] * 4


def test_prediction_formats_that_do_not_fit_say_what_was_expected(tmp_path):
    path = tmp_path / "pred.json"
    path.write_text("SELECT 1\n")
    with pytest.raises(InputError, match=r"pred\.json:1: named like JSON but line 1 is not a JSON object or array; expected JSON lines"):
        load_predictions(path)
    plain = tmp_path / "pred.txt"
    plain.write_text("SELECT 1\tshop\nSELECT 2\tshop\n")  # Spider's gold/pred format: SQL, tab, db
    assert [p.sql for p in load_predictions(plain)] == ["SELECT 1", "SELECT 2"]


def test_cli_scores_a_folder_in_one_call_and_names_a_missing_database(folder, tmp_path, capsys):
    from sqltune.cli import main

    gold = spider_json(tmp_path / "dev.json", ROWS)
    pred = pred_lines(tmp_path / "pred.sql", ROWS)
    out = tmp_path / "report"
    assert main(["eval", "score", "--data", str(gold), "--pred", str(pred), "--db", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "db music" in printed and "db zoo" in printed
    document = json.loads((out / "report.json").read_text())
    assert set(document["reports"][0]["by_db"]) == {"shop", "music", "zoo"}
    assert "## By database" in (out / "report.md").read_text()
    gold.write_text(gold.read_text().replace('"zoo"', '"zoo2"'))
    code = main(["eval", "score", "--data", str(gold), "--pred", str(pred), "--db", str(folder)])
    err = " ".join(capsys.readouterr().err.split())
    assert code != 0 and "dev.json:" in err and "database 'zoo2' not found" in err and "Traceback" not in err


def test_model_evaluation_on_a_folder_says_where_folders_are_read(folder, tmp_path):
    from sqltune.core.errors import ConfigError
    from sqltune.evaluation.harness import EvalConfig, evaluate_forms

    gold = spider_json(tmp_path / "dev.json", ROWS)
    with pytest.raises(ConfigError, match="sqltune eval score"):
        evaluate_forms([], EvalConfig(data=str(gold), db=str(folder), register=False))


def test_a_database_a_template_names_that_does_not_open_is_an_error_naming_the_row(folder, tmp_path):
    gold = spider_json(tmp_path / "dev.json", ROWS[:2] + [("p1", "nobody", "SELECT 1", "SELECT 1", True)])
    pred = pred_lines(tmp_path / "pred.sql", ROWS[:3])
    template = "postgresql://sqltune_no_such_role@127.0.0.1:1/{db}"  # nothing listens on port 1
    with pytest.raises(InputError, match=r"dev\.json:2: row 's1': database 'shop' \(postgresql://"):
        score_files(gold, pred, template)
