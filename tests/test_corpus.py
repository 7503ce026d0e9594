"""The shipped corpus files: regenerable, executable, informative, split without leaks."""

from __future__ import annotations

import collections
import hashlib
import json

import duckdb
import pytest
import sqlglot
from sqlglot import exp

import warehouse_fixtures as fixtures
from sqltune.data import Pair, load_pairs
from warehouse_fixtures import corpus, corpus_files
from warehouse_fixtures.corpus import read_jsonl

from conftest import REPO

EVAL_DIR = REPO / "eval"

FILES = ("train.jsonl", "test.jsonl", "hard.jsonl", "large_schema_questions.jsonl")
REQUIRED_TAGS = {"join", "multi_fact_join", "fiscal_date", "calendar_date", "aggregation", "group_by", "having",
                 "order_limit", "nested", "null_handling", "distinct", "date_range"}


@pytest.fixture(scope="module")
def files():
    return {name: read_jsonl(EVAL_DIR / name) for name in FILES}


@pytest.fixture(scope="module")
def harbor_con():
    con = duckdb.connect(str(fixtures.ensure_fixture("harbor")), read_only=True)
    con.execute("SET threads = 1")  # thousands of tiny queries: thread hand-offs cost more than they save
    yield con
    con.close()


def _norm(q: str) -> str:
    return " ".join(q.lower().split())


def test_generator_reproduces_the_shipped_files(tmp_path):
    counts = corpus_files.generate_corpus(tmp_path, seed=0)
    for name in FILES:
        shipped = hashlib.sha256((EVAL_DIR / name).read_bytes()).hexdigest()
        assert counts.files[name] == shipped, f"{name} differs from the generator output; run `sqltune fixture corpus`"


def test_counts_fields_and_ids(files):
    assert len(files["train.jsonl"]) >= 3000
    assert len(files["test.jsonl"]) >= 400
    assert len(files["hard.jsonl"]) >= 60
    assert len(files["large_schema_questions.jsonl"]) >= 100
    ids = [p["id"] for name in ("train.jsonl", "test.jsonl", "large_schema_questions.jsonl") for p in files[name]]
    assert len(ids) == len(set(ids))
    for name, pairs in files.items():
        for p in pairs:
            assert {"id", "question", "sql", "difficulty", "tags", "db"} <= set(p), (name, p)
            assert p["difficulty"] in {"easy", "medium", "hard"}
            assert p["sql"] == corpus.canonical_sql(p["sql"]) and p["sql"].startswith(("SELECT", "WITH"))
            assert p["db"] == ("large" if name.startswith("large") else "harbor")
    hard_ids = {p["id"] for p in files["hard.jsonl"]}
    assert hard_ids <= {p["id"] for p in files["test.jsonl"]}  # the hard slice is part of test.jsonl


def test_difficulties_and_tags_are_covered(files):
    for name in ("train.jsonl", "test.jsonl"):
        pairs = files[name]
        by_difficulty = collections.Counter(p["difficulty"] for p in pairs)
        assert min(by_difficulty[d] for d in ("easy", "medium", "hard")) >= 0.1 * len(pairs) * (0.5 if name == "train.jsonl" else 1)
        tags = collections.Counter(t for p in pairs for t in p["tags"])
        assert REQUIRED_TAGS <= set(tags), REQUIRED_TAGS - set(tags)


def test_test_split_is_not_answerable_by_memorising_train(files):
    train, test = files["train.jsonl"], files["test.jsonl"]
    train_questions = {_norm(p["question"]) for p in train}
    train_pairs = {(_norm(p["question"]), p["sql"]) for p in train}
    train_sql = {p["sql"] for p in train}
    assert not train_questions & {_norm(p["question"]) for p in test}
    assert not train_pairs & {(_norm(p["question"]), p["sql"]) for p in test}
    combo = [p for p in test if "heldout_combo" in p["tags"]]
    paraphrase = [p for p in test if "heldout_paraphrase" in p["tags"]]
    assert len(combo) >= 100 and len(paraphrase) >= 100
    assert all(p["sql"] not in train_sql for p in combo)  # unseen slot-value combinations
    # held-out paraphrases: the question wording of a template never appears in train
    assert len({_norm(p["question"]) for p in test}) == len(test)


def test_every_harbor_gold_sql_parses_and_returns_rows(files, harbor_con):
    informative: dict[str, bool] = {}  # paraphrases share their SQL: run each distinct query once
    failures = []
    for name in ("train.jsonl", "test.jsonl"):
        for p in files[name]:
            if p["sql"] not in informative:
                sqlglot.parse_one(p["sql"], read="duckdb")
                informative[p["sql"]] = corpus.is_informative(harbor_con.execute(p["sql"]).fetchall())
            if not p.get("allow_empty") and not informative[p["sql"]]:
                failures.append(p["id"])
    assert failures == []
    assert len(informative) > 2000


def test_large_schema_questions_execute_and_need_few_tables(files):
    con = duckdb.connect(str(fixtures.ensure_fixture("large")), read_only=True)
    table_count = len(fixtures.table_row_counts(con))
    used = collections.Counter()
    for p in files["large_schema_questions.jsonl"]:
        tree = sqlglot.parse_one(p["sql"], read="duckdb")
        tables = {t.name for t in tree.find_all(exp.Table)}
        assert 1 <= len(tables) <= 6
        used.update(tables)
        assert corpus.is_informative(con.execute(p["sql"]).fetchall()), p["id"]
    con.close()
    assert table_count >= 400
    domains = {name.split("_")[0] for name in used if "_" in name}
    assert len(domains) >= 10
    assert any("harbor_core" in p["tags"] for p in files["large_schema_questions.jsonl"])


def test_quality_filters_reject_weak_gold():
    assert not corpus.is_informative([])
    assert not corpus.is_informative([(0,)])
    assert not corpus.is_informative([(None, None)])
    assert corpus.is_informative([(0,), (1,)])
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('a', 3), ('b', 2), ('c', 2)) v(k, n)")
    assert corpus._tie_at_cut(con, "SELECT k, n FROM t ORDER BY n DESC LIMIT 2")
    assert not corpus._tie_at_cut(con, "SELECT k, n FROM t ORDER BY n DESC LIMIT 1")


def test_heldout_combos_are_stable_and_roughly_the_promised_share():
    hits = sum(corpus.combo_is_heldout("tmpl", {"x": i}) for i in range(2000))
    assert 0.10 < hits / 2000 < 0.20
    assert corpus.combo_is_heldout("tmpl", {"x": 5}) == corpus.combo_is_heldout("tmpl", {"x": 5})


def test_jsonl_round_trip(tmp_path):
    pair = Pair(id="x-1", question="How many?", sql="SELECT 1", db="harbor", difficulty="easy", tags=("aggregation",),
                allow_empty=True)
    corpus.write_jsonl(tmp_path / "p.jsonl", [pair])
    line = (tmp_path / "p.jsonl").read_text()
    assert list(json.loads(line)) == ["id", "question", "sql", "difficulty", "tags", "db", "allow_empty"]
    assert load_pairs(tmp_path / "p.jsonl") == [pair]  # the corpus files read back as data.Pair


def test_ensure_corpus_caches_harbors_pair_files():
    """The cached corpus (what the main job reads, from any directory) equals the shipped files; the
    large-schema set is not part of it. (Generated once into the shared cache, like the fixture;
    tests/test_ports_corpus.py checks generation into an empty cache and the race.)"""
    folder = fixtures.ensure_corpus("harbor")
    assert folder.parent == fixtures.default_fixture_path("harbor").parent
    assert sorted(p.name for p in folder.iterdir()) == ["hard.jsonl", "test.jsonl", "train.jsonl"]
    for p in folder.iterdir():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == hashlib.sha256((EVAL_DIR / p.name).read_bytes()).hexdigest()


def test_corpus_fingerprint_covers_every_module_the_templates_reach():
    """A template package importing a fixtures module outside what the corpus fingerprint hashes
    would let a stale cached corpus be reused."""
    import grimp

    graph = grimp.build_graph("warehouse_fixtures")
    for kind, (_, package) in corpus_files._CORPUS_SOURCES.items():
        reached = {m for m in graph.find_upstream_modules(f"warehouse_fixtures.{package}", as_package=True)
                   if m.startswith("warehouse_fixtures.")}
        assert reached <= {"warehouse_fixtures.corpus"}, (kind, reached)
