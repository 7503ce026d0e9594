"""The shipped ports corpus (eval/ports/): regenerable (also into the cache: `ensure_corpus`),
executable, informative, split without leaks, and naming the warehouse's real values."""

from __future__ import annotations

import collections
import hashlib

import duckdb
import pytest
import sqlglot
from sqlglot import exp

import warehouse_fixtures as fixtures
from sqltune.cli import main
from sqltune.core.errors import InputError
from sqltune.data import Pair
from warehouse_fixtures import corpus, corpus_files, writer
from warehouse_fixtures.corpus import read_jsonl
from warehouse_fixtures.ports_templates import ports_templates

from conftest import REPO

OUT_DIR = REPO / "eval" / "ports"

FILES = ("train.jsonl", "test.jsonl")


@pytest.fixture(scope="module")
def files():
    return {name: read_jsonl(OUT_DIR / name) for name in FILES}


@pytest.fixture(scope="module")
def ports_con():
    con = duckdb.connect(str(fixtures.ensure_fixture("ports")), read_only=True)
    con.execute("SET threads = 1")  # thousands of small queries
    yield con
    con.close()


def _norm(q: str) -> str:
    return " ".join(q.lower().split())


def _named_literals(pair: dict) -> list[str]:
    """String literals the SQL compares a column with (`col = 'x'`) that the question spells out."""
    tree = sqlglot.parse_one(pair["sql"], read="duckdb")
    return [eq.expression.this for eq in tree.find_all(exp.EQ)
            if isinstance(eq.this, exp.Column) and isinstance(eq.expression, exp.Literal) and eq.expression.is_string
            and eq.expression.this in pair["question"]]


def test_cli_regenerates_the_shipped_files(tmp_path, capsys):
    assert main(["fixture", "corpus", "--kind", "ports", "--out", str(tmp_path)]) == 0
    assert "ports pairs" in capsys.readouterr().out
    for name in FILES:
        shipped = hashlib.sha256((OUT_DIR / name).read_bytes()).hexdigest()
        regenerated = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert regenerated == shipped, f"eval/ports/{name} differs from the generator; run `sqltune fixture corpus --kind ports`"


def test_unknown_corpus_kind_is_a_one_line_error(capsys):
    assert main(["fixture", "corpus", "--kind", "large"]) != 0
    assert "no corpus for fixture kind 'large'" in capsys.readouterr().err


def test_counts_fields_ids_and_mix(files):
    train, test = files["train.jsonl"], files["test.jsonl"]
    assert 1500 <= len(train) <= 2500 and 300 <= len(test) <= 400
    assert 35 <= len(ports_templates()) <= 50
    ids = [p["id"] for pairs in files.values() for p in pairs]
    assert len(ids) == len(set(ids)) and all(i.startswith("ports-") for i in ids)
    for pairs in files.values():
        for p in pairs:
            assert {"id", "question", "sql", "difficulty", "tags", "db"} <= set(p)
            assert p["db"] == "ports" and not p.get("allow_empty")
            assert p["sql"] == corpus.canonical_sql(p["sql"]) and p["sql"].startswith(("SELECT", "WITH"))
        by_difficulty = collections.Counter(p["difficulty"] for p in pairs)
        assert set(by_difficulty) == {"easy", "medium", "hard"}
        assert min(by_difficulty.values()) >= 0.15 * len(pairs)
        tags = {t for p in pairs for t in p["tags"]}
        assert {"join", "group_by", "having", "order_limit", "nested", "window", "null_handling", "date_range",
                "conditional_aggregation", "distinct"} <= tags
    templates = {p["id"].rsplit("-", 1)[0].removesuffix("-test") for p in test}
    assert len(templates) == len(ports_templates())  # every template is tested


def test_test_split_is_not_answerable_by_memorising_train(files):
    train, test = files["train.jsonl"], files["test.jsonl"]
    assert not {_norm(p["question"]) for p in train} & {_norm(p["question"]) for p in test}
    assert not {(_norm(p["question"]), p["sql"]) for p in train} & {(_norm(p["question"]), p["sql"]) for p in test}
    train_sql = {p["sql"] for p in train}
    combo = [p for p in test if "heldout_combo" in p["tags"]]
    paraphrase = [p for p in test if "heldout_paraphrase" in p["tags"]]
    assert len(combo) >= 60 and len(paraphrase) >= 100 and len(combo) + len(paraphrase) == len(test)
    assert all(p["sql"] not in train_sql for p in combo)
    assert len({_norm(p["question"]) for p in test}) == len(test)


def test_every_gold_sql_parses_and_returns_rows(files, ports_con):
    informative: dict[str, bool] = {}
    failures = []
    for pairs in files.values():
        for p in pairs:
            if p["sql"] not in informative:
                sqlglot.parse_one(p["sql"], read="duckdb")
                informative[p["sql"]] = corpus.is_informative(ports_con.execute(p["sql"]).fetchall())
            if not informative[p["sql"]]:
                failures.append(p["id"])
    assert failures == []
    assert len(informative) > 1500


def test_questions_name_real_values_and_a_wrong_one_returns_nothing(files, ports_con):
    """Most questions spell out a stored value; for many, any other value gives no rows at all (what a
    model that compares a column with the wrong kind of name gets)."""
    pairs = files["train.jsonl"] + files["test.jsonl"]
    named = {p["id"]: _named_literals(p) for p in pairs}
    assert sum(bool(v) for v in named.values()) >= 0.6 * len(pairs)
    empty_when_wrong: dict[str, bool] = {}
    for p in pairs:
        if not named[p["id"]] or p["sql"] in empty_when_wrong:
            continue
        wrong = p["sql"]
        for literal in named[p["id"]]:
            wrong = wrong.replace(f"'{literal}'", "'No Such Value'")
        empty_when_wrong[p["sql"]] = ports_con.execute(wrong).fetchall() == []
    hits = sum(1 for p in pairs if empty_when_wrong.get(p["sql"]))
    assert hits >= 0.3 * len(pairs)
    kinds = {p["id"].split("-")[1] for p in pairs if empty_when_wrong.get(p["sql"])}
    assert len(kinds) >= 15  # spread over many templates, not one


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cache_with_ports_fixture(tmp_path, monkeypatch):
    """An empty cache holding only the ports warehouse (a copy of the built one: same name, same content)."""
    import shutil

    built = fixtures.ensure_fixture("ports")
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "cache"))
    (tmp_path / "cache" / "fixtures").mkdir(parents=True)
    shutil.copy(built, fixtures.default_fixture_path("ports"))
    return tmp_path / "cache"


def test_ensure_corpus_caches_the_shipped_files_once(cache_with_ports_fixture):
    folder = fixtures.ensure_corpus("ports")
    fixture = fixtures.default_fixture_path("ports")
    assert folder.parent == fixture.parent and folder.name.startswith(fixture.stem + "-corpus-")
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    for name in FILES:
        assert _sha(folder / name) == _sha(OUT_DIR / name), name
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert fixtures.ensure_corpus("ports") == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_ensure_corpus_keeps_the_folder_of_a_process_that_finished_first(tmp_path, monkeypatch):
    """Two processes racing: the one that renames second drops its copy and returns the winner's folder."""
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "cache"))
    target = corpus_files.corpus_cache_path("ports")
    pair = Pair(id="p-1", question="How many?", sql="SELECT 1", db="ports")

    def files_while_another_process_finishes(kind, seed=0):
        target.mkdir(parents=True)  # the other process renames its finished folder into place meanwhile
        corpus.write_jsonl(target / "train.jsonl", [pair])
        return {"train.jsonl": [pair, pair]}

    monkeypatch.setattr(corpus_files, "pair_files", files_while_another_process_finishes)
    assert fixtures.ensure_corpus("ports") == target
    assert len(read_jsonl(target / "train.jsonl")) == 1  # the winner's file, not ours
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_corpus_cache_names_follow_each_kind_and_reject_kinds_without_pairs(tmp_path, monkeypatch):
    import shutil

    spec = tmp_path / "spec"
    shutil.copytree(writer.SPEC_DIR, spec)
    monkeypatch.setattr(writer, "SPEC_DIR", spec)
    before = {kind: corpus_files.corpus_cache_path(kind) for kind in corpus_files.CORPUS_KINDS}
    with (spec / "harbor_hard.yaml").open("a") as fh:  # a corpus input, not a warehouse one
        fh.write("# edited\n")
    assert corpus_files.corpus_cache_path("harbor") != before["harbor"]
    assert corpus_files.corpus_cache_path("ports") == before["ports"]
    assert fixtures.default_fixture_path("harbor").stem in corpus_files.corpus_cache_path("harbor").name
    with (spec / "ports.sql").open("a") as fh:  # the warehouse changes: so may its pairs
        fh.write("-- edited\n")
    assert corpus_files.corpus_cache_path("ports") != before["ports"]
    with pytest.raises(InputError, match="no corpus for fixture kind 'large'"):
        fixtures.ensure_corpus("large")
