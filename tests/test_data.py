"""Pairs: loading with line-numbered errors, validation against a warehouse, splits, hashes, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from sqltune.cli import main as cli_main
from sqltune.data import (
    Pair,
    content_hash,
    load_pairs,
    pair_id,
    pairs_dataset,
    referenced_tables,
    split_pairs,
    validate_pairs,
    write_pairs,
    write_split,
)
from sqltune.core.errors import InputError
from sqltune.execution.execute import Warehouse

ROOT = Path(__file__).resolve().parents[1]


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers(id INTEGER, name VARCHAR, city VARCHAR)")
    con.execute("INSERT INTO customers VALUES (1, 'Ann', 'Oslo'), (2, 'Bo', 'Rome'), (3, 'Cy', NULL)")
    con.execute("CREATE TABLE orders(id INTEGER, customer_id INTEGER, total DOUBLE)")
    con.execute("INSERT INTO orders VALUES (1, 1, 10.0), (2, 1, 5.5), (3, 2, 7.25)")
    con.close()
    return path


GOOD = [
    {"id": "q1", "question": "How many customers are there?", "sql": "SELECT count(*) FROM customers", "difficulty": "easy"},
    {"id": "q2", "question": "Total spent per customer?", "sql": "SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY 1", "difficulty": "medium", "tags": ["join"]},
    {"id": "q3", "question": "Customers with big orders", "sql": "WITH big AS (SELECT customer_id FROM orders WHERE total > 6) SELECT name FROM customers WHERE id IN (SELECT customer_id FROM big)", "difficulty": "hard"},
]


# -- loading ---------------------------------------------------------------------------------------
def test_load_jsonl_fields_ids_and_blank_lines(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [
        {"id": 7, "question": " Q one ", "sql": "SELECT 1", "tags": ["a", "b"], "allow_empty": True},
        "",
        {"question": "Q two", "sql": "SELECT 2", "db": "shop", "difficulty": "easy", "unknown_field": 1},
    ])
    first, second = load_pairs(path)
    assert first == Pair("7", "Q one", "SELECT 1", tags=("a", "b"), allow_empty=True)
    assert second.id == pair_id("Q two", "SELECT 2") and second.id == load_pairs(path)[1].id
    assert (second.db, second.difficulty) == ("shop", "easy")


@pytest.mark.parametrize(
    "bad_line,message",
    [
        ('{"question": "q", "sql": }', "malformed JSON"),
        ('{"question": "q"}', "missing or empty 'sql'"),
        ('{"question": "  ", "sql": "SELECT 1"}', "missing or empty 'question'"),
        ('["question", "sql"]', "expected a JSON object"),
        ('{"question": "q", "sql": "SELECT 1", "tags": "x"}', None),  # a string of tags is accepted
        ('{"question": "q", "sql": "SELECT 1", "tags": [1]}', "'tags' must be a list"),
        ('{"question": "q", "sql": ["SELECT 1"]}', None),  # several golds: a list
        ('{"question": "q", "sql": [1]}', "'sql' must be a string or a list of strings"),
        ('{"question": "q", "sql": "SELECT 1", "alt_sql": 3}', "'alt_sql' must be a string or a list of strings"),
        ('{"question": "q", "sql": "SELECT 1", "allow_empty": "maybe"}', "allow_empty"),
        ('{"id": "a", "question": "other", "sql": "SELECT 2"}', "duplicate id 'a' (first on line 1)"),
    ],
)
def test_bad_jsonl_line_names_file_and_line(tmp_path, bad_line, message):
    path = write_lines(tmp_path / "p.jsonl", [{"id": "a", "question": "q0", "sql": "SELECT 0"}, "", bad_line])
    if message is None:
        assert len(load_pairs(path)) == 2
        return
    with pytest.raises(InputError) as caught:
        load_pairs(path)
    assert caught.value.line == 3 and caught.value.source == str(path)
    assert message in str(caught.value) and str(caught.value).startswith(f"{path}:3:")


def test_not_utf8_and_missing_file(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"question": "q", "sql": "SELECT 1"}\n{"question": "\xff", "sql": "x"}\n')
    with pytest.raises(InputError, match=r":2: not UTF-8"):
        load_pairs(path)
    with pytest.raises(InputError, match="no such file"):
        load_pairs(tmp_path / "absent.jsonl")


def test_load_csv_with_multiline_cells(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,question,sql,tags,allow_empty\n'
                    'c1,"Which, exactly?","SELECT 1\nFROM t",join;date,yes\n'
                    'c2,Short row,SELECT 2\n')
    first, second = load_pairs(path)
    assert first == Pair("c1", "Which, exactly?", "SELECT 1\nFROM t", tags=("join", "date"), allow_empty=True)
    assert second.sql == "SELECT 2" and second.tags == ()


def test_bad_csv_record_names_its_first_line(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('question,sql\nq1,SELECT 1\n"q2\nspans lines",SELECT 2\nq3,\n')
    with pytest.raises(InputError, match=r"p\.csv:5: missing or empty 'sql'"):
        load_pairs(path)
    (tmp_path / "h.csv").write_text("prompt,statement\na,b\n")
    with pytest.raises(InputError, match=r"h\.csv:1: CSV header lacks column\(s\) question, sql"):
        load_pairs(tmp_path / "h.csv")


def test_streaming_is_lazy(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [GOOD[0], GOOD[1], "{broken"])
    stream = load_pairs(path, streaming=True)
    assert next(stream).id == "q1" and next(stream).id == "q2"
    with pytest.raises(InputError, match=":3: malformed JSON"):
        next(stream)


def test_pairs_dataset_streams_checked_records(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", GOOD)
    rows = list(pairs_dataset(path))
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"] and rows[1]["tags"] == ["join"]
    assert len(pairs_dataset(path, streaming=False)) == 3


def test_duplicate_generated_ids_get_suffixes(tmp_path):
    same = {"question": "q", "sql": "SELECT 1"}
    ids = [p.id for p in load_pairs(write_lines(tmp_path / "p.jsonl", [same, same]))]
    assert ids == [pair_id("q", "SELECT 1"), pair_id("q", "SELECT 1") + "-2"]


# -- hashing and writing ---------------------------------------------------------------------------
def test_content_hash_is_order_independent_and_sensitive():
    pairs = [Pair(**p) if "tags" not in p else Pair(**{**p, "tags": tuple(p["tags"])}) for p in GOOD]
    assert content_hash(pairs) == content_hash(pairs[::-1])
    changed = [pairs[0], pairs[1], Pair(**{**pairs[2].__dict__, "sql": pairs[2].sql + " "})]
    assert content_hash(changed) != content_hash(pairs)
    assert content_hash(pairs[:2]) != content_hash(pairs)


def test_write_pairs_round_trips_atomically(tmp_path):
    pairs = load_pairs(write_lines(tmp_path / "in.jsonl", GOOD))
    out = write_pairs(tmp_path / "sub" / "out.jsonl", pairs)
    assert load_pairs(out) == pairs
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.jsonl"]
    assert json.loads(out.read_text().splitlines()[0]) == GOOD[0]  # defaults left out


# -- validation ------------------------------------------------------------------------------------
def test_referenced_tables_skip_ctes_and_table_functions():
    sql = "WITH big AS (SELECT * FROM orders) SELECT * FROM big JOIN main.customers c ON true, range(3)"
    assert referenced_tables(sql) == {"orders", "main.customers"}


def test_valid_pairs_pass(shop, tmp_path):
    pairs = load_pairs(write_lines(tmp_path / "p.jsonl", GOOD))
    seen = []
    with Warehouse.open(shop) as wh:
        report = validate_pairs(pairs, wh, progress=lambda done, total: seen.append((done, total)))
    assert report.ok, report.problems
    assert report.total == report.executed == 3
    assert seen[-1] == (3, 3)
    assert report.content_hash == content_hash(pairs)


def test_each_problem_kind_is_reported(shop, tmp_path):
    pairs = [
        Pair("ok", "How many customers?", "SELECT count(*) FROM customers"),
        Pair("parse", "Broken", "SELEC name FROM customers"),
        Pair("unsafe", "Delete", "DELETE FROM customers"),
        Pair("missing", "Ghost table", "SELECT * FROM invoices JOIN customers ON true"),
        Pair("column", "Bad column", "SELECT email FROM customers"),
        Pair("empty", "Nobody", "SELECT name FROM customers WHERE city = 'Paris'"),
        Pair("nulls", "Null max", "SELECT max(total) FROM orders WHERE total > 100"),
        Pair("allowed", "Nobody, allowed", "SELECT name FROM customers WHERE city = 'Lima'", allow_empty=True),
        Pair("dupq", "how many customers", "SELECT count(id) FROM customers"),
        Pair("dupp", "How many customers?", "SELECT count(*) FROM customers;"),
    ]
    with Warehouse.open(shop) as wh:
        report = validate_pairs(pairs, wh)
    kinds = {(p.pair_id, p.kind) for p in report.problems}
    assert kinds == {
        ("parse", "parse_error"),
        ("unsafe", "unsafe_sql"),
        ("missing", "missing_table"),
        ("column", "execution_error"),
        ("empty", "empty_result"),
        ("nulls", "empty_result"),
        ("dupq", "duplicate_question"),
        ("dupp", "duplicate_pair"),
    }
    assert not report.ok and report.counts()["empty_result"] == 2
    missing = next(p for p in report.problems if p.kind == "missing_table")
    assert "invoices" in missing.message and "customers" not in missing.message
    assert "unknown_column" in next(p for p in report.problems if p.kind == "execution_error").message


def test_leaks_against_the_other_split(shop):
    train = [
        Pair("t1", "How many customers?", "SELECT count(*) FROM customers"),
        Pair("t2", "List customer names", "SELECT name FROM customers"),
        Pair("t3", "Names of all customers", "SELECT name FROM customers"),
    ]
    test = [
        Pair("e1", "How many customers?", "SELECT count(*) FROM customers"),  # same pair
        Pair("e2", "list customer names.", "SELECT name FROM customers ORDER BY 1"),  # same question
        Pair("e3", "Give every customer's name", "SELECT name FROM customers"),  # paraphrase: fine
    ]
    with Warehouse.open(shop) as wh:
        report = validate_pairs(test, wh, against=train)
    assert {(p.pair_id, p.kind) for p in report.problems} == {("e1", "leak_pair"), ("e2", "leak_question")}
    assert report.shared_sql_with_other == 1


# -- splitting -------------------------------------------------------------------------------------
def _many(n: int = 100) -> list[Pair]:
    levels = ["easy", "medium", "hard", "extra"]
    return [Pair(f"id{i:03d}", f"question {i}", f"SELECT {i}", difficulty=levels[i % 4] if i < 80 else "easy",
                 tags=("join",) if i % 3 == 0 else ()) for i in range(n)]


def test_split_is_deterministic_order_independent_and_sized():
    pairs = _many()
    a = split_pairs(pairs, test_fraction=0.2, seed=3)
    b = split_pairs(pairs[::-1], test_fraction=0.2, seed=3)
    c = split_pairs(pairs, test_fraction=0.2, seed=4)
    assert [p.id for p in a.test] == [p.id for p in b.test]
    assert [p.id for p in a.test] != [p.id for p in c.test]
    assert len(a.test) == 20 and len(a.train) == 80
    assert {p.id for p in a.test}.isdisjoint({p.id for p in a.train})


def test_split_is_stratified():
    split = split_pairs(_many(), test_fraction=0.2, seed=0, stratify=("difficulty",))
    # 40 easy, 20 of each other level: test takes 8 easy and 4 of each other
    assert split.strata == {"difficulty=easy": (32, 8), "difficulty=extra": (16, 4), "difficulty=hard": (16, 4), "difficulty=medium": (16, 4)}
    by_tags = split_pairs(_many(), test_fraction=0.3, stratify=("tags",))
    assert by_tags.strata["tags=join"][1] == 10 and by_tags.strata["tags=-"][1] == 20


def test_split_keeps_a_question_on_one_side():
    pairs = _many(40) + [Pair(f"dup{i}", "Question 5?", f"SELECT 5 + {i}", difficulty="medium") for i in range(3)]
    for seed in range(10):
        split = split_pairs(pairs, test_fraction=0.5, seed=seed, stratify=())
        sides = {("test" if p in split.test else "train") for p in pairs if p.question.lower().startswith("question 5")}
        assert len(sides) == 1


def test_split_rejects_bad_options():
    with pytest.raises(InputError, match="test fraction"):
        split_pairs(_many(), test_fraction=1.0)
    with pytest.raises(InputError, match="cannot stratify by color"):
        split_pairs(_many(), stratify=("color",))


def test_write_split_into_new_and_existing_folder(tmp_path):
    split = split_pairs(_many(), test_fraction=0.1)
    for out in (tmp_path / "new", tmp_path / "new"):  # second time: the folder exists
        write_split(split, out)
        summary = json.loads((out / "split.json").read_text())
        assert summary["test"]["count"] == 10
        assert summary["test"]["content_hash"] == content_hash(load_pairs(out / "test.jsonl"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]  # no staging folder left


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_validate_exit_codes(shop, tmp_path, capsys):
    good = write_lines(tmp_path / "good.jsonl", GOOD)
    assert cli_main(["data", "validate", str(good), "--db", str(shop)]) == 0
    assert "3 pairs" in capsys.readouterr().out
    bad = write_lines(tmp_path / "bad.jsonl", GOOD + [{"question": "x", "sql": "SELECT * FROM nowhere"}])
    assert cli_main(["data", "validate", str(bad), "--db", str(shop)]) == 1
    assert "missing_table" in capsys.readouterr().out
    assert cli_main(["data", "validate", str(good), "--db", str(shop), "--against", str(good)]) == 1
    broken = write_lines(tmp_path / "broken.jsonl", [GOOD[0], "{", GOOD[1], {"question": "no sql"}, "[1"])
    assert cli_main(["data", "validate", str(broken), "--db", str(shop)]) == 1
    out = capsys.readouterr().out
    for line in (2, 4, 5):  # every malformed line in one run, by line
        assert f"broken.jsonl:{line}" in out


def test_cli_split(tmp_path, capsys):
    source = write_pairs(tmp_path / "all.jsonl", _many())
    out = tmp_path / "split"
    assert cli_main(["data", "split", str(source), "--out", str(out), "--test-fraction", "0.25", "--stratify", "difficulty,tags"]) == 0
    assert len(load_pairs(out / "test.jsonl")) == 25 and len(load_pairs(out / "train.jsonl")) == 75
    assert json.loads((out / "split.json").read_text())["stratify"] == ["difficulty", "tags"]


# -- the shipped corpus ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def harbor() -> Path:
    from warehouse_fixtures import ensure_fixture

    return ensure_fixture("harbor")


def _corpus(name: str) -> Path:
    path = ROOT / "eval" / name
    if not path.exists():
        pytest.skip(f"corpus file {path} not built yet")
    return path


def test_shipped_corpus_validates(harbor):
    """The whole test split (and its leaks against all of train); every 8th train pair, to keep
    this under ~20 s on two cores (`sqltune data validate eval/train.jsonl` checks all of it)."""
    train, test = load_pairs(_corpus("train.jsonl")), load_pairs(_corpus("test.jsonl"))
    with Warehouse.open(harbor) as wh:
        test_report = validate_pairs(test, wh, against=train)
        train_report = validate_pairs(train[::8], wh)
    assert test_report.ok, test_report.problems[:5]
    assert train_report.ok, train_report.problems[:5]
    assert test_report.executed == len(test) > 100


def test_corrupted_corpus_copy_fails(harbor, tmp_path):
    copy = tmp_path / "test.jsonl"
    shutil.copy(_corpus("test.jsonl"), copy)
    pairs = load_pairs(copy)[:40]
    broken = [
        Pair(**{**pairs[0].__dict__, "sql": pairs[0].sql.replace("FROM ", "FROM missing_", 1)}),
        Pair(**{**pairs[1].__dict__, "sql": pairs[1].sql + " LIMIT 0", "allow_empty": False}),
        *pairs[2:],
        Pair(**{**pairs[2].__dict__, "id": "copy-of-2"}),
    ]
    write_pairs(copy, broken)
    with Warehouse.open(harbor) as wh:
        report = validate_pairs(load_pairs(copy), wh)
    kinds = report.counts()
    assert kinds.get("missing_table") == 1 and kinds.get("empty_result") == 1 and kinds.get("duplicate_pair") == 1


# -- benchmark files: formats from the content, Spider/BIRD names, several golds ------------------------
def test_spider_and_bird_json_arrays(tmp_path):
    spider = tmp_path / "dev.json"
    spider.write_text(json.dumps([
        {"db_id": "concert_singer", "question": "How many singers?", "query": "SELECT count(*) FROM singer",
         "query_toks": ["SELECT"], "sql": {"select": [False, []]}},
    ], indent=2))
    bird = tmp_path / "bird_dev.json"
    bird.write_text(json.dumps([
        {"question_id": 0, "db_id": "schools", "question": "Top?", "evidence": "", "SQL": "SELECT 1", "difficulty": "simple"},
    ]))
    (first,) = load_pairs(spider)
    assert first.db == "concert_singer" and first.sql == "SELECT count(*) FROM singer"
    (second,) = load_pairs(bird)
    assert (second.id, second.db, second.sql, second.difficulty) == ("0", "schools", "SELECT 1", "simple")


def test_several_golds_in_a_row(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [
        {"id": "a", "question": "q", "sql": ["SELECT 1", "SELECT 1.0"]},
        {"id": "b", "question": "q", "gold_sql": "SELECT 2", "alt_sql": ["SELECT 2.0", "SELECT 2"]},
    ])
    a, b = load_pairs(path)
    assert a.golds == ("SELECT 1", "SELECT 1.0") and b.golds == ("SELECT 2", "SELECT 2.0")
    assert b.to_dict()["alt_sql"] == ["SELECT 2.0"]
    csv_path = tmp_path / "p.csv"
    csv_path.write_text('question,query,alt_sql\nq,SELECT 1,"[""SELECT 1.0""]"\n')
    (c,) = load_pairs(csv_path)
    assert c.golds == ("SELECT 1", "SELECT 1.0")


def test_format_comes_from_the_content_not_the_name(tmp_path):
    jsonl_named_csv = write_lines(tmp_path / "pairs.csv", [{"question": "q", "sql": "SELECT 1"}])
    csv_named_jsonl = tmp_path / "pairs.jsonl"
    csv_named_jsonl.write_text("question,sql\nq,SELECT 1\n")
    tsv_named_txt = tmp_path / "pairs.txt"
    tsv_named_txt.write_text("question\tsql\nq, with comma\tSELECT 1\n")
    assert [p.sql for p in load_pairs(jsonl_named_csv)] == ["SELECT 1"]
    assert [p.sql for p in load_pairs(csv_named_jsonl)] == ["SELECT 1"]
    assert [(p.question, p.sql) for p in load_pairs(tsv_named_txt)] == [("q, with comma", "SELECT 1")]
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello there\n")
    with pytest.raises(InputError, match=r"junk\.jsonl:1: .*expected JSON lines \(one object per line\), a JSON array of objects, or CSV"):
        load_pairs(junk)


def test_bad_json_array_names_the_line(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text('[\n  {"question": "q", "sql": "SELECT 1"},\n  {"question": "r", "sql": }\n]\n')
    with pytest.raises(InputError, match=r"dev\.json:3: malformed JSON"):
        load_pairs(path)
    path.write_text('[\n  {"question": "q", "sql": "SELECT 1"},\n  {"question": "r"}\n]\n')
    with pytest.raises(InputError, match=r"dev\.json:3: missing or empty 'sql'"):
        load_pairs(path)
    path.write_text('[{"question": "q", "sql": "SELECT 1"}')
    with pytest.raises(InputError, match="ends before its closing"):
        load_pairs(path)
# -- validation wherever pairs enter -----------------------------------------------------------------
BROKEN_LINES = [
    GOOD[0],
    '{"id": "b2", "question": "cut off", "sql": "SELECT 1',  # line 2: malformed JSON
    {**GOOD[0], "id": "b3"},  # line 3: duplicate of line 1
    {"id": "b4", "question": "Unknown table?", "sql": "SELECT * FROM nowhere"},  # line 4
    "",  # line 5: blank, skipped
    {"id": "b6", "question": "No SQL"},  # line 6: missing sql
    {"id": "b7", "question": "Nothing?", "sql": "SELECT * FROM customers WHERE 1 = 0"},  # line 7: empty result
    GOOD[1],
]


def test_validate_file_lists_every_problem_by_line(shop, tmp_path):
    from sqltune.data.validate import validate_file

    path = write_lines(tmp_path / "pairs.jsonl", BROKEN_LINES)
    report, good = validate_file(path, str(shop))
    assert [(p.line, p.kind) for p in report.problems] == [
        (2, "malformed"), (3, "duplicate_pair"), (4, "missing_table"), (6, "malformed"), (7, "empty_result"),
    ]
    assert all(p.source == str(path) for p in report.problems)
    assert "(line 1)" in report.problems[1].message  # names where the first copy is
    assert [p.id for p in good] == ["q1", "q2"]
    # without a warehouse: records and duplicates only
    report, _ = validate_file(path, None)
    assert [(p.line, p.kind) for p in report.problems] == [(2, "malformed"), (3, "duplicate_pair"), (6, "malformed")]


def test_require_valid_pairs_refuses_or_leaves_out(shop, tmp_path, caplog):
    from sqltune.data.validate import InvalidPairsError, require_valid_pairs

    path = write_lines(tmp_path / "pairs.jsonl", BROKEN_LINES)
    with pytest.raises(InvalidPairsError) as info:
        require_valid_pairs(path, str(shop))
    message = str(info.value)
    for line in (2, 3, 4, 6, 7):
        assert f"{path}:{line}:" in message
    assert "--allow-invalid" in message and len(info.value.problems) == 5
    with caplog.at_level("WARNING"):
        kept = require_valid_pairs(path, str(shop), allow_invalid=True)
    assert [p.id for p in kept] == ["q1", "q2"] and "left out 5 of 7" in caplog.text


def test_empty_pairs_file_is_an_error(shop, tmp_path):
    from sqltune.data.validate import require_valid_pairs

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="no question/SQL pairs"):
        require_valid_pairs(empty, str(shop))
    assert cli_main(["data", "split", str(empty), "--out", str(tmp_path / "s")]) == 1


def test_cli_split_validates(shop, tmp_path, capsys):
    path = write_lines(tmp_path / "pairs.jsonl", BROKEN_LINES)
    out = tmp_path / "split"
    assert cli_main(["data", "split", str(path), "--out", str(out), "--db", str(shop)]) == 1
    err = capsys.readouterr().err
    assert "pairs.jsonl:2" in err and "pairs.jsonl:7" in err and not out.exists()
    assert cli_main(["data", "split", str(path), "--out", str(out), "--db", str(shop), "--allow-invalid",
                     "--test-fraction", "0.5"]) == 0
    ids = {p.id for p in load_pairs(out / "train.jsonl")} | {p.id for p in load_pairs(out / "test.jsonl")}
    assert ids == {"q1", "q2"}
