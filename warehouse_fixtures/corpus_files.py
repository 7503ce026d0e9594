"""Writes the shipped corpora and keeps cached copies of them.

- Harbor: the question/SQL pairs (eval/train.jsonl, eval/test.jsonl, eval/hard.jsonl) and the large
  fixture's pruning questions (eval/large_schema_questions.jsonl). train/test come from the Harbor
  templates (split policy in `corpus`). The hand-written hard slice (specs/harbor_hard.yaml) is
  copied to hard.jsonl and is also part of test.jsonl (tag "handwritten"); its questions must not
  repeat a train question.
- ports: eval/ports/train.jsonl and test.jsonl from the ports templates, same machinery.

`ensure_corpus` generates a kind's pair files once into the cache, beside its fixture, so code
that needs them (the main job) works from any directory after a non-editable install.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import sqltune.data.pairs
from sqltune.core.errors import InputError
from sqltune.data.pairs import Pair
from warehouse_fixtures import corpus, writer
from warehouse_fixtures.build import default_fixture_path, ensure_fixture, file_digest
from warehouse_fixtures.corpus import canonical_sql, generate_pairs, is_informative, normal_question, write_jsonl
from warehouse_fixtures.harbor_templates import harbor_templates
from warehouse_fixtures.large_corpus import large_schema_pairs
from warehouse_fixtures.ports_templates import PortValues, ports_templates
from warehouse_fixtures.writer import SPEC_DIR

log = logging.getLogger(__name__)

EVAL_DIR = Path("eval")  # the corpus folder, relative to where `sqltune fixture corpus` runs (the repository root)
CORPUS_KINDS = ("harbor", "ports")
# Per kind, the spec files and the template package (every module in it) that decide its pairs,
# besides the fixture itself, this module, `corpus` and the record format (`data.pairs`).
_CORPUS_SOURCES = {
    "harbor": (("harbor_hard.yaml",), "harbor_templates"),
    "ports": ((), "ports_templates"),
}


@dataclass
class CorpusCounts:
    """What `generate_corpus` wrote."""

    train: int
    test: int
    hard: int
    large: int
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256


def _db_connect(path):
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET threads = 1")  # thousands of tiny queries: thread hand-offs cost more than they save
    con.execute("SET enable_progress_bar = false")  # DuckDB draws one on the terminal for slow queries
    return con


def load_hard_pairs(path: Path | None = None) -> list[Pair]:
    """The hand-written hard questions (YAML source) as pairs."""
    import yaml

    path = path or SPEC_DIR / "harbor_hard.yaml"
    with path.open() as fh:
        items = yaml.safe_load(fh)
    pairs = []
    for i, item in enumerate(items, 1):
        missing = {"question", "sql", "tags"} - set(item)
        if missing:
            raise InputError(f"hard question {i} lacks {', '.join(sorted(missing))}", source=str(path))
        pairs.append(Pair(id=f"hard-{i:03d}", question=item["question"].strip(), sql=canonical_sql(item["sql"]),
                          db="harbor", difficulty="hard", tags=(*item["tags"], "handwritten"),
                          allow_empty=bool(item.get("allow_empty", False))))
    return pairs


def _check_hard_pairs(con, hard: list[Pair], train: list[Pair]) -> None:
    """Hard gold SQL must be informative (unless marked allow_empty) and no hard question a train one."""
    for p in hard:
        if not p.allow_empty and not is_informative(con.execute(p.sql).fetchall()):
            raise InputError(f"{p.id}: gold SQL gives an empty or all-zero result", source="harbor_hard.yaml")
    questions = {normal_question(p.question) for p in train}
    leaked = [p.id for p in hard if normal_question(p.question) in questions]
    if leaked:
        raise InputError(f"hard questions repeat train questions: {leaked}", source="harbor_hard.yaml")


def _harbor_pairs(seed: int) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """(train, test, hard) on the Harbor fixture (always built with seed 0)."""
    con = _db_connect(ensure_fixture("harbor", 0))
    try:
        train, test = generate_pairs(con, harbor_templates(), seed)
        hard = load_hard_pairs()
        _check_hard_pairs(con, hard, train)
    finally:
        con.close()
    return train, test, hard


def _ports_pairs(seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, test) on the ports fixture (seed 0); ids prefixed "ports-"."""
    con = _db_connect(ensure_fixture("ports", 0))
    try:
        return generate_pairs(con, ports_templates(), seed, db="ports", id_prefix="ports-", values=PortValues(con))
    finally:
        con.close()


def _large_pairs(seed: int) -> list[Pair]:
    con = _db_connect(ensure_fixture("large", 0))
    try:
        return large_schema_pairs(con, seed)
    finally:
        con.close()


def pair_files(kind: str, seed: int = 0) -> dict[str, list[Pair]]:
    """The pair files of `kind` (file name -> pairs): Harbor's train/test/hard, ports' train/test."""
    if kind == "harbor":
        train, test, hard = _harbor_pairs(seed)
        return {"train.jsonl": train, "test.jsonl": test + hard, "hard.jsonl": hard}
    if kind == "ports":
        train, test = _ports_pairs(seed)
        return {"train.jsonl": train, "test.jsonl": test}
    raise InputError(f"no corpus for fixture kind {kind!r}; choose {' or '.join(CORPUS_KINDS)}")


def generate_corpus(out_dir: str | os.PathLike | None = None, seed: int = 0,
                    progress: Callable[[str], None] | None = None, kind: str = "harbor") -> CorpusCounts:
    """Regenerate the corpus files of `kind` in `out_dir` (default: the repository's eval/, or eval/ports/).

    Harbor's files include the large fixture's pruning questions.
    """
    report = progress or (lambda m: log.info(m))
    files = pair_files(kind, seed)
    if kind == "harbor":
        files["large_schema_questions.jsonl"] = _large_pairs(seed)
    out = Path(out_dir) if out_dir else EVAL_DIR if kind == "harbor" else EVAL_DIR / kind
    out.mkdir(parents=True, exist_ok=True)
    digests = {name: write_jsonl(out / name, pairs) for name, pairs in files.items()}
    report(f"wrote {kind} corpus to {out}: " + ", ".join(f"{name} {len(pairs)}" for name, pairs in files.items()))
    return CorpusCounts(train=len(files["train.jsonl"]), test=len(files["test.jsonl"]),
                        hard=len(files.get("hard.jsonl", ())), large=len(files.get("large_schema_questions.jsonl", ())),
                        files=digests)


# ----------------------------------------------------------------------------- the cached corpus


def corpus_fingerprint(kind: str) -> str:
    """Short hash of what decides `kind`'s pairs apart from its fixture: specs, templates, generator."""
    if kind not in _CORPUS_SOURCES:
        raise InputError(f"no corpus for fixture kind {kind!r}; choose {' or '.join(CORPUS_KINDS)}")
    specs, package = _CORPUS_SOURCES[kind]
    templates = sorted((Path(__file__).parent / package).glob("*.py"))
    return file_digest([*(writer.SPEC_DIR / name for name in specs), *templates, Path(corpus.__file__),
                        Path(__file__), Path(sqltune.data.pairs.__file__)])[:12]


def corpus_cache_path(kind: str = "harbor") -> Path:
    """Cache folder of `kind`'s pair files: beside the cached fixture, named by its fingerprint
    (`spec_fingerprint`) and the corpus fingerprint."""
    fixture = default_fixture_path(kind, 0)
    return fixture.with_name(f"{fixture.stem}-corpus-{corpus_fingerprint(kind)}")


def ensure_corpus(kind: str = "harbor", progress: Callable[[str], None] | None = None) -> Path:
    """The cached folder of `kind`'s pair files (train.jsonl, test.jsonl; Harbor adds hard.jsonl),
    generated once if missing; safe when several processes race (each writes a private folder, the
    first rename wins). The files equal the shipped eval/ ones."""
    target = corpus_cache_path(kind)
    if target.is_dir():
        return target
    report = progress or (lambda m: log.info(m))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        files = pair_files(kind, 0)
        for name, pairs in files.items():
            write_jsonl(tmp / name, pairs)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not a lost race: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    report(f"cached {kind} corpus: " + ", ".join(f"{name} {len(p)}" for name, p in files.items()) + f" -> {target}")
    return target
