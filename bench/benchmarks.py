"""Human-written text-to-SQL benchmarks for bench scripts: Harbor, restaurants, ATIS as a user gets them.

Not part of the package. The restaurants and ATIS pairs (text2sql-data, Finegan-Dollak et al., ACL
2018) live outside the repository, in `<repo root>/../shared/benchmarks` (or `$SQLTUNE_BENCHMARKS`),
with their `build.py`; their licence allows internal evaluation only, so nothing of them is ever
copied into the repository: the database is built into `$SQLTUNE_HOME/benchmarks/NAME.duckdb`
(default ~/.cache/sqltune) and the chosen splits are written into a work folder outside git
(`runs/` is ignored).

`prepare(NAME, WORK)` gives a `Benchmark`: the warehouse (a DuckDB file) and `train.jsonl` /
`test.jsonl` that `sqltune train --data` and `sqltune eval --data` take as they are (they pass
`sqltune data validate`):

* harbor: the fixture warehouse and its generated corpus, built and cached as `sqltune run harbor-cpu`
  does (`warehouse_fixtures.ensure_fixture` / `ensure_corpus`), copied into WORK/harbor/.
* restaurants: the shared `train.jsonl` (165 rows) and `test.jsonl` (18 rows) without the rows tagged
  `repeat` (an exact (question, sql) pair already seen earlier in the same file: 105 and 1 of them),
  which `sqltune data validate` reports as `duplicate_pair` and training and evaluation refuse; a user
  drops them, so 60 train and 17 test pairs remain. **Every restaurants test pair also occurs in
  train** (all 18 are tagged `dup_in_train`): on restaurants a score measures recall of seen pairs,
  not generalisation (the shared README suggests using all 183 rows as one evaluation set for a
  model trained elsewhere).
* atis: a user brings a few hundred pairs, not 4,247: train is a sample of `train_size` pairs
  (default 500) drawn with a fixed seed as whole `query:` groups (every paraphrase of one SQL entry
  together; a group that would take the sample past `train_size` is skipped, so the sample has at
  most `train_size` pairs), from train.jsonl without its `repeat` rows; test is test.jsonl without
  the rows tagged `dup_in_train` or `repeat` (369 of 411 remain).

    python bench/benchmarks.py atis --work runs/benchmarks          # prints the three paths
    python bench/benchmarks.py restaurants --work runs/benchmarks --rebuild
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = ("harbor", "restaurants", "atis")
SHARED = ("restaurants", "atis")  # built by the shared build.py; harbor is sqltune's own fixture
ENV = "SQLTUNE_BENCHMARKS"
ATIS_TRAIN_SIZE = 500
SEED = 0


class BenchmarksNotFound(FileNotFoundError):
    """The shared benchmarks folder (with build.py) is not where it is looked for."""


@dataclass(frozen=True)
class Benchmark:
    """One warehouse with the pairs a user would train on and the questions to test on."""

    name: str
    db: Path
    train: Path
    test: Path
    train_pairs: int
    test_pairs: int
    note: str  # how train and test were chosen, one line

    def describe(self) -> str:
        return f"{self.name}: {self.train_pairs} train / {self.test_pairs} test pairs ({self.note}); db {self.db}"


def benchmarks_dir() -> Path:
    """The shared benchmarks folder: `$SQLTUNE_BENCHMARKS`, else `<repo root>/../shared/benchmarks`."""
    configured = os.environ.get(ENV)
    path = Path(configured).expanduser() if configured else REPO.parent / "shared" / "benchmarks"
    if not (path / "build.py").is_file():
        where = f"${ENV}={configured}" if configured else f"{path} (<repo root>/../shared/benchmarks)"
        raise BenchmarksNotFound(
            f"the human-written benchmarks are not at {where}: no build.py there. Point ${ENV} at the folder "
            "holding build.py, restaurants/ and atis/ (they are kept outside the repository: internal evaluation only)"
        )
    return path


def cache_dir() -> Path:
    """Where built benchmark databases are kept: `$SQLTUNE_HOME/benchmarks` (default ~/.cache/sqltune)."""
    from sqltune.core.paths import home

    return home() / "benchmarks"


def _stamp(source: Path) -> dict:
    """What a built database depends on: the build script and the DuckDB that wrote it."""
    import duckdb

    return {"build_py_sha256": hashlib.sha256((source / "build.py").read_bytes()).hexdigest(),
            "duckdb": duckdb.__version__}


def ensure_db(name: str, *, cache: str | Path | None = None, rebuild: bool = False, log=None) -> Path:
    """The benchmark's DuckDB file, built once into `cache` (default `cache_dir()`) with the shared
    build.py (`--db-only`, seconds) and rebuilt when missing, when build.py or DuckDB changed, or with
    `rebuild`. Harbor is the fixture warehouse `sqltune run harbor-cpu` builds and caches."""
    say = log or (lambda message: None)
    if name == "harbor":
        from warehouse_fixtures import ensure_fixture

        return ensure_fixture("harbor")
    _check_name(name)
    source = benchmarks_dir()
    folder = Path(cache) if cache is not None else cache_dir()
    target = folder / f"{name}.duckdb"
    stamp_file = folder / f"{name}.stamp.json"
    stamp = _stamp(source)
    if not rebuild and target.is_file() and stamp_file.is_file():
        try:
            if json.loads(stamp_file.read_text()) == stamp:
                return target
        except ValueError:
            pass
    folder.mkdir(parents=True, exist_ok=True)
    say(f"building {name}.duckdb with {source / 'build.py'} -> {target}")
    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=folder) as tmp:
        proc = subprocess.run([sys.executable, str(source / "build.py"), name, "--out", tmp, "--db-only"],
                              capture_output=True, text=True)
        built = Path(tmp) / f"{name}.duckdb"
        if proc.returncode != 0 or not built.is_file():
            raise RuntimeError(f"building {name} failed (exit {proc.returncode}):\n{proc.stderr[-2000:] or proc.stdout[-2000:]}")
        os.replace(built, target)  # atomic: a concurrent reader sees the old file or the new one
    stamp_file.write_text(json.dumps(stamp))
    return target


def _check_name(name: str) -> None:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}: choose from {', '.join(BENCHMARKS)}")


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _tags(row: dict) -> list[str]:
    return row.get("tags") or []


def _group(row: dict) -> str:
    return next((t for t in _tags(row) if t.startswith("query:")), row["id"])


def sample_groups(rows: list[dict], size: int, seed: int = SEED) -> list[dict]:
    """At most `size` rows drawn as whole `query:` groups in a seeded random order (a group that
    would overshoot is skipped); rows keep their order in the file."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(_group(row), []).append(i)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    chosen: list[int] = []
    for name in order:
        if len(chosen) >= size:
            break
        if len(chosen) + len(groups[name]) <= size:
            chosen.extend(groups[name])
    return [rows[i] for i in sorted(chosen)]


def load_splits(name: str, *, train_size: int = ATIS_TRAIN_SIZE, seed: int = SEED) -> tuple[list[dict], list[dict], str]:
    """(train rows, test rows, a note on how they were chosen) of a shared benchmark, as a user gets them."""
    _check_name(name)
    if name == "harbor":
        from warehouse_fixtures import ensure_corpus

        corpus = ensure_corpus("harbor")
        return read_rows(corpus / "train.jsonl"), read_rows(corpus / "test.jsonl"), "the fixture's generated corpus"
    folder = benchmarks_dir() / name
    train = [r for r in read_rows(folder / "train.jsonl") if "repeat" not in _tags(r)]
    test = read_rows(folder / "test.jsonl")
    if name == "restaurants":
        test = [r for r in test if "repeat" not in _tags(r)]
        return train, test, "repeats dropped; every test pair also occurs in train"
    groups = len({_group(r) for r in train})
    sample = sample_groups(train, train_size, seed)
    test = [r for r in test if not {"dup_in_train", "repeat"} & set(_tags(r))]
    note = (f"train: {len({_group(r) for r in sample})} of {groups} query groups drawn whole, seed {seed}; "
            "test without dup_in_train and repeat rows")
    return sample, test, note


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def prepare(name: str, work: str | Path, *, train_size: int = ATIS_TRAIN_SIZE, seed: int = SEED,
            cache: str | Path | None = None, rebuild: bool = False, log=None) -> Benchmark:
    """Build (or reuse) `name`'s warehouse and write its train/test pairs to WORK/NAME/."""
    _check_name(name)
    db = ensure_db(name, cache=cache, rebuild=rebuild, log=log)
    train, test, note = load_splits(name, train_size=train_size, seed=seed)
    folder = Path(work) / name
    if name == "atis":
        folder = folder / f"train{train_size}-seed{seed}"
    return Benchmark(name, db, write_rows(folder / "train.jsonl", train), write_rows(folder / "test.jsonl", test),
                     len(train), len(test), note)


def prepare_or_exit(parser, name: str, work) -> "Benchmark":
    """`prepare(name, work)` for a bench script's `--warehouse`, printing what it prepared; the
    parser exits with the reason when the benchmarks are absent."""
    try:
        bench = prepare(name, work, log=print)
    except BenchmarksNotFound as error:
        parser.exit(1, f"error: {error}\n")
    print(bench.describe())
    return bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help=f"Any of {', '.join(BENCHMARKS)} (default: all).")
    parser.add_argument("--work", default="runs/benchmarks", help="Folder for NAME/train.jsonl and NAME/test.jsonl.")
    parser.add_argument("--train-size", type=int, default=ATIS_TRAIN_SIZE, help="atis: pairs in the training sample.")
    parser.add_argument("--seed", type=int, default=SEED, help="atis: seed of the group sample.")
    parser.add_argument("--rebuild", action="store_true", help="Build the databases again even when cached.")
    args = parser.parse_args()
    for name in args.names:
        try:
            bench = prepare(name, args.work, train_size=args.train_size, seed=args.seed, rebuild=args.rebuild,
                            log=lambda m: print(m, file=sys.stderr, flush=True))
        except (BenchmarksNotFound, ValueError) as error:
            sys.exit(f"error: {error}")
        print(bench.describe())
        print(f"  sqltune train harbor-cpu --data {bench.train} --db {bench.db} --out runs/{name}-adapter")
        print(f"  sqltune eval --adapter runs/{name}-adapter --data {bench.test} --db {bench.db}")


if __name__ == "__main__":
    main()
