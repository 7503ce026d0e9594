"""Value-swapped augmentation (`sqltune.data.augment`, `sqltune data augment`): which literals are
swapped, that every new pair keeps its SQL's structure and returns rows, no repeated questions,
determinism, the CLI, and a run on the human-written restaurants benchmark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from sqltune.cli import main as cli_main
from sqltune.core.errors import InputError
from sqltune.data import Pair, load_pairs, normalize_question, write_pairs
from sqltune.data.augment import AugmentResult, Augmented, augment_pairs, find_slots
from sqltune.execution.execute import Warehouse

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

CITIES = [("BOS", "BOSTON", "MA"), ("DEN", "DENVER", "CO"), ("DAL", "DALLAS", "TX"), ("SEA", "SEATTLE", "WA"),
          ("SFO", "SAN FRANCISCO", "CA"), ("WAS", "WASHINGTON", "DC"), ("PIT", "PITTSBURGH", "PA"), ("ATL", "ATLANTA", "GA")]
# Flights between every two cities of the first six, except into WASHINGTON (a city with no arrivals).
FLIGHTS = [(100 + 10 * i + j, a[0], b[0], "US" if (i + j) % 2 else "AA")
           for i, a in enumerate(CITIES[:6]) for j, b in enumerate(CITIES[:6]) if a != b and b[0] != "WAS"]


@pytest.fixture(scope="module")
def travel(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("augment") / "travel.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE city(code VARCHAR, name VARCHAR, state VARCHAR)")
    con.executemany("INSERT INTO city VALUES (?, ?, ?)", CITIES)
    con.execute("CREATE TABLE flight(num INTEGER, from_code VARCHAR, to_code VARCHAR, airline VARCHAR)")
    con.executemany("INSERT INTO flight VALUES (?, ?, ?, ?)", FLIGHTS)
    con.execute("CREATE TABLE dish(name VARCHAR, food VARCHAR, city VARCHAR)")
    con.executemany("INSERT INTO dish VALUES (?, ?, ?)", [
        ("pho", "vietnamese", "Boston"), ("ramen", "japanese", "Denver"), ("tacos", "mexican", "Dallas"),
        ("sushi", "japanese", "Seattle"), ("pizza", "italian", "Boston"), ("bao", "chinese", "Denver"),
    ])
    con.close()
    return path


@pytest.fixture(scope="module")
def warehouse(travel):
    with Warehouse.open(travel) as opened:
        yield opened


ROUTE = ("SELECT f.num FROM flight AS f, city AS a, city AS b WHERE f.from_code = a.code AND f.to_code = b.code "
         "AND a.name = '{src}' AND b.name = '{dst}'")
PAIRS = [
    Pair("route", "show flights from BOSTON to DENVER", ROUTE.format(src="BOSTON", dst="DENVER"), db="travel",
         tags=("split:train",)),
    Pair("number", "what airline flies flight 101", "SELECT airline FROM flight WHERE num = 101"),
    Pair("in", "Which flights leave from Dallas?",
         "SELECT num FROM flight JOIN city ON from_code = code WHERE name IN ('DALLAS')"),
    Pair("lower", "what japanese dishes are there", "SELECT name FROM dish WHERE food = 'japanese'"),
    Pair("reversed", "dishes in boston", "SELECT d.name FROM dish AS d WHERE 'Boston' = d.city"),
    Pair("like", "which cities are called seattle", "SELECT code FROM city WHERE name LIKE 'SEATTLE'"),
]


def _run(pairs, warehouse, **options) -> AugmentResult:
    return augment_pairs(pairs, warehouse, **options)


def _same_structure(item: Augmented, dialect: str = "duckdb") -> bool:
    """The new SQL's AST, with the swapped literal put back, equals the source SQL's."""
    is_string = item.old_literal.startswith("'")
    old = exp.Literal.string(item.old) if is_string else exp.Literal.number(item.old)
    tree = sqlglot.parse_one(item.pair.sql, read=dialect)
    swapped = 0
    for literal in list(tree.find_all(exp.Literal)):
        if literal.is_string == is_string and literal.this == item.new:
            literal.replace(old.copy())
            swapped += 1
    return swapped > 0 and tree == sqlglot.parse_one(item.source.sql, read=dialect)


# -- which literals are swapped --------------------------------------------------------------------
def _slots(question: str, sql: str, warehouse=None):
    from sqltune.data.augment import _TableColumns

    columns = _TableColumns(warehouse, 5.0) if warehouse is not None else None
    return {(s.text, s.target.label) for s in find_slots(Pair("p", question, sql), "duckdb", columns)}


def test_a_literal_is_swappable_only_where_the_question_names_it_and_a_column_is_compared(warehouse):
    assert _slots("show flights from BOSTON to DENVER", ROUTE.format(src="BOSTON", dst="DENVER")) == {
        ("BOSTON", "city.name"), ("DENVER", "city.name")}
    # not named in the question (or only inside another word)
    assert _slots("show flights out of the hub", ROUTE.format(src="BOSTON", dst="DENVER")) == set()
    assert _slots("flights from BOSTONIAN towns", "SELECT code FROM city WHERE name = 'BOSTON'") == set()
    # not an equality with a column: <>, a LIKE pattern, a computed value, a SELECT constant
    assert _slots("cities but BOSTON", "SELECT code FROM city WHERE name <> 'BOSTON'") == set()
    assert _slots("cities like BOS", "SELECT code FROM city WHERE name LIKE 'BOS%'") == set()
    assert _slots("cities named BOSTON", "SELECT code FROM city WHERE lower(name) = 'BOSTON'") == set()
    assert _slots("say BOSTON", "SELECT 'BOSTON' FROM city WHERE name = 'BOSTON'") == set()
    # one value compared with two different columns
    assert _slots("flights to WASHINGTON", "SELECT code FROM city WHERE name = 'WASHINGTON' OR state = 'WASHINGTON'") == set()
    # a number only where the question names it as a whole word
    assert _slots("flight 101 please", "SELECT airline FROM flight WHERE num = 101") == {("101", "flight.num")}
    assert _slots("flight 1010 please", "SELECT airline FROM flight WHERE num = 101") == set()
    # codes under three characters must match case: 'US' is not the word "us"
    assert _slots("show us the flights", "SELECT num FROM flight WHERE airline = 'US'") == set()
    assert _slots("show US flights", "SELECT num FROM flight WHERE airline = 'US'") == {("US", "flight.airline")}
    # a mention inside another literal's mention is left alone
    assert _slots("flights from SAN FRANCISCO to FRANCISCO",
                  "SELECT num FROM city WHERE name = 'SAN FRANCISCO' OR code = 'FRANCISCO'") == {("SAN FRANCISCO", "city.name")}
    # aliases resolve scope by scope; an unqualified column in a join through the tables' columns
    assert _slots("flights into DENVER", "SELECT num FROM flight WHERE to_code IN (SELECT c.code FROM city AS c "
                  "WHERE c.name = 'DENVER')") == {("DENVER", "city.name")}
    assert _slots("AA flights from BOSTON", "SELECT num FROM flight JOIN city ON from_code = code WHERE airline = 'AA' "
                  "AND name = 'BOSTON'", warehouse) == {("AA", "flight.airline"), ("BOSTON", "city.name")}
    assert _slots("AA flights from BOSTON", "SELECT num FROM flight JOIN city ON from_code = code WHERE airline = 'AA' "
                  "AND name = 'BOSTON'") == set()  # without the tables' columns: not resolved


# -- the new pairs ---------------------------------------------------------------------------------
def test_new_pairs_keep_the_structure_run_with_rows_and_name_their_source(warehouse):
    result = _run(PAIRS, warehouse, per_pair=3, seed=0)
    assert result.kept > 0 and {a.source.id for a in result.augmented} == {p.id for p in PAIRS}
    counts = result.counts()
    assert counts["tried"] == counts["kept"] + counts["no_rows"] + counts["failed"] + counts["duplicate_question"]
    assert counts["sources"] == len(PAIRS) and counts["swappable"] == len(PAIRS) and counts["failed"] == 0
    for item in result.augmented:
        new = item.pair
        assert _same_structure(item), (item.source.sql, new.sql)
        assert new.sql.replace(item.new_literal, item.old_literal) == item.source.sql  # the SQL's text kept
        executed = warehouse.execute(new.sql)
        assert executed.ok and executed.rows, new.sql
        assert new.id.startswith(f"{item.source.id}~aug")
        assert new.tags == (*item.source.tags, "augmented", f"augmented_from:{item.source.id}")
        assert new.db == item.source.db and new.question != item.source.question
    by_id = {a.pair.id: a for a in result.augmented}
    assert len(by_id) == result.kept and sum(1 for a in result.augmented if a.source.id == "route") <= 3


def test_the_question_keeps_the_casing_of_the_mention(warehouse):
    result = _run(PAIRS, warehouse, per_pair=3, seed=0)
    for item in result.augmented:
        source, question = item.source, item.pair.question
        if source.id == "route":  # upper in the question: upper
            assert question in (f"show flights from {item.new.upper()} to DENVER", f"show flights from BOSTON to {item.new.upper()}")
        elif source.id == "lower":  # lower: lower
            assert question == f"what {item.new.lower()} dishes are there"
        elif source.id == "reversed":  # 'Boston' named "boston": lower
            assert question == f"dishes in {item.new.lower()}" and item.new != item.new.lower()
        elif source.id == "like":  # 'SEATTLE' named "seattle": lower
            assert question == f"which cities are called {item.new.lower()}" and item.new == item.new.upper()
        elif source.id == "in":  # 'DALLAS' named "Dallas": neither, so the value as stored
            assert question == f"Which flights leave from {item.new}?"
        else:
            assert question == f"what airline flies flight {item.new}"


def test_a_literal_not_in_the_question_is_never_swapped(warehouse):
    pair = Pair("half", "show flights to DENVER from the hub", ROUTE.format(src="BOSTON", dst="DENVER"))
    result = _run([pair], warehouse, per_pair=5, seed=3)
    assert result.kept > 0
    for item in result.augmented:
        assert item.old == "DENVER" and "a.name = 'BOSTON'" in item.pair.sql
    unnamed = Pair("none", "show flights out of the hub", ROUTE.format(src="BOSTON", dst="DENVER"))
    assert _run([unnamed], warehouse).counts() | {"sources": 0} == {
        "sources": 0, "swappable": 0, "tried": 0, "kept": 0, "no_rows": 0, "failed": 0, "duplicate_question": 0,
        "columns_read": 0, "alt_sql_dropped": 0}


def test_no_new_question_repeats_an_existing_or_another_new_one(warehouse):
    sources = [Pair(f"to-{code}", f"flights into {name}", "SELECT num FROM flight AS f, city AS c "
                    f"WHERE f.to_code = c.code AND c.name = '{name}'") for code, name, _ in CITIES[:3]]
    twin = Pair("twin", "flights into BOSTON please", "SELECT num FROM flight AS f, city AS c WHERE f.to_code = c.code "
                "AND c.name = 'BOSTON'")
    result = _run([*sources, twin], warehouse, per_pair=10, seed=0)
    questions = [normalize_question(p.question) for p in result.pairs]
    assert len(questions) == len(set(questions))
    assert not set(questions) & {normalize_question(p.question) for p in [*sources, twin]}
    assert result.duplicate_question > 0  # DENVER -> BOSTON was tried and refused: that question exists
    # WASHINGTON has no arrivals: tried, refused for no rows, never kept
    assert result.no_rows > 0 and not any("WASHINGTON" in p.question for p in result.pairs)


def test_deterministic_for_a_seed_whatever_the_order_and_workers(warehouse):
    first = _run(PAIRS, warehouse, per_pair=2, seed=7)
    again = _run(list(reversed(PAIRS)), warehouse, per_pair=2, seed=7, workers=1)
    assert first.kept > 0
    assert sorted((p.to_dict() for p in again.pairs), key=lambda d: d["id"]) == sorted(
        (p.to_dict() for p in first.pairs), key=lambda d: d["id"])
    assert [p.to_dict() for p in first.pairs] == [p.to_dict() for p in _run(PAIRS, warehouse, per_pair=2, seed=7).pairs]
    other = _run(PAIRS, warehouse, per_pair=2, seed=8)
    assert {p.question for p in other.pairs} != {p.question for p in first.pairs}


def test_alternative_golds_get_the_same_swap(warehouse):
    alt = "SELECT f.num FROM flight AS f JOIN city AS x ON f.to_code = x.code WHERE x.name = 'DENVER' AND f.from_code = 'BOS'"
    never = "SELECT f.num FROM flight AS f WHERE f.to_code = 'DEN' AND f.from_code = 'BOS'"  # no 'DENVER' to swap
    pair = Pair("alts", "flights from the hub into DENVER", alt.replace("JOIN", "INNER JOIN"), alt_sql=(alt, never))
    result = _run([pair], warehouse, per_pair=2, seed=0)
    assert result.kept == 2 and result.alt_sql_dropped == 2
    for item in result.augmented:
        assert item.old == "DENVER" and item.pair.alt_sql == (alt.replace("'DENVER'", item.new_literal),)


def test_refuses_a_warehouse_it_cannot_query(tmp_path):
    ddl = tmp_path / "schema.sql"
    ddl.write_text("CREATE TABLE city(code VARCHAR, name VARCHAR);\n")
    with pytest.raises(InputError, match="warehouse sqltune can query"):
        augment_pairs(PAIRS, str(ddl))
    with pytest.raises(InputError, match="per_pair"):
        augment_pairs(PAIRS, str(ddl), per_pair=0)


def test_progress_and_samples(warehouse):
    seen = []
    result = _run(PAIRS, warehouse, progress=lambda done, total: seen.append((done, total)))
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] == len(PAIRS) + result.columns_read
    samples = result.samples(5)
    assert len(samples) == min(5, result.kept) and samples[0] is result.augmented[0]


# -- the CLI ---------------------------------------------------------------------------------------
def test_cli_writes_the_new_pairs_and_prints_counts(travel, tmp_path, capsys):
    source = write_pairs(tmp_path / "pairs.jsonl", PAIRS)
    out = tmp_path / "out" / "augmented.jsonl"
    assert cli_main(["data", "augment", str(source), "--db", str(travel), "--out", str(out), "--per-pair", "1", "--seed", "4"]) == 0
    printed = capsys.readouterr().out
    written = load_pairs(out)
    assert 0 < len(written) <= len(PAIRS) and all("augmented" in p.tags for p in written)
    assert f"{len(PAIRS)} pairs, {len(PAIRS)} with a swappable value" in printed and f"{len(written)} kept" in printed
    assert "show flights from BOSTON to DENVER" in printed or "what airline flies flight 101" in printed
    assert f"{len(written)} pair(s) -> {out}" in printed
    both = tmp_path / "both.jsonl"
    assert cli_main(["data", "augment", str(source), "--db", str(travel), "--out", str(both), "--per-pair", "1",
                     "--seed", "4", "--include-originals"]) == 0
    together = load_pairs(both)
    assert [p.id for p in together if "augmented" not in p.tags] == [p.id for p in PAIRS]
    assert [p.to_dict() for p in together if "augmented" in p.tags] == [p.to_dict() for p in written]
    assert together[1].id == f"{together[0].id}~aug1"  # each source followed by its new pairs
    assert cli_main(["data", "augment", str(tmp_path / "missing.jsonl"), "--db", str(travel), "--out", str(both)]) == 1


# -- a real benchmark ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def restaurants(tmp_path_factory) -> Path:
    build = SHARED / "benchmarks" / "build.py"
    train = SHARED / "benchmarks" / "restaurants" / "train.jsonl"
    if not build.exists() or not train.exists():
        pytest.skip(f"the restaurants benchmark is not there ({SHARED / 'benchmarks'}): nothing to build it from")
    out = tmp_path_factory.mktemp("restaurants")
    subprocess.run([sys.executable, str(build), "restaurants", "--out", str(out), "--db-only"], check=True,
                   capture_output=True, timeout=300)
    return out / "restaurants.duckdb"


def test_restaurants_benchmark_pairs_are_augmented_and_run(restaurants):
    pairs = load_pairs(SHARED / "benchmarks" / "restaurants" / "train.jsonl")[::4][:40]
    result = augment_pairs(pairs, restaurants, per_pair=2, seed=0)
    assert result.swappable >= len(pairs) // 2 and result.kept >= len(pairs) // 2, result.counts()
    assert result.failed == 0
    questions = {normalize_question(p.question) for p in pairs}
    with Warehouse.open(restaurants) as warehouse:
        for item in result.augmented:
            assert _same_structure(item)
            executed = warehouse.execute(item.pair.sql)
            assert executed.ok and executed.rows, item.pair.sql
            assert normalize_question(item.pair.question) not in questions
            assert item.new.lower() in item.pair.question  # restaurants' questions name values in lower case
    assert json.dumps([p.to_dict() for p in result.pairs])  # every new pair is a plain JSON record
