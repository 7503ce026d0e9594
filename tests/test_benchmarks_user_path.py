"""The user path on human-written pairs: a real benchmark (restaurants, from ../shared/benchmarks) through
`sqltune data validate`, `sqltune train` and `sqltune eval`, on the tiny test model.

The benchmark files stay outside the repository (`bench/benchmarks.py` reads them from
`<repo root>/../shared/benchmarks` or `$SQLTUNE_BENCHMARKS`); without them the test is skipped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sqltune.cli import main as cli_main

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import benchmarks  # noqa: E402  (bench/benchmarks.py: a bench module, not part of the package)


@pytest.fixture(scope="module")
def shared_benchmarks() -> Path:
    try:
        return benchmarks.benchmarks_dir()
    except benchmarks.BenchmarksNotFound as error:
        pytest.skip(f"human-written benchmarks absent: {error}")


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_restaurants_user_path(shared_benchmarks, tiny_model_dir, tmp_path, capsys):
    bench = benchmarks.prepare("restaurants", tmp_path / "work", cache=tmp_path / "cache")
    assert bench.db.is_file() and bench.db.parent == tmp_path / "cache"
    train = benchmarks.read_rows(bench.train)
    test = benchmarks.read_rows(bench.test)
    # as a user gets them: no exact repeats (validation would refuse them); every test pair is also in train
    assert len(train) == bench.train_pairs == 60 and len(test) == bench.test_pairs == 17
    assert not any("repeat" in r["tags"] for r in train + test)
    assert {(r["question"], r["sql"]) for r in test} <= {(r["question"], r["sql"]) for r in train}
    # a second call reuses the built database
    stamp = bench.db.stat().st_mtime_ns
    assert benchmarks.ensure_db("restaurants", cache=tmp_path / "cache") == bench.db and bench.db.stat().st_mtime_ns == stamp

    sample = _write(tmp_path / "sample.jsonl", train[::5])  # 12 pairs spread over the file
    assert cli_main(["data", "validate", str(sample), "--db", str(bench.db)]) == 0, capsys.readouterr().out

    adapter = tmp_path / "adapter"
    code = cli_main(["train", "--model", str(tiny_model_dir), "--data", str(sample), "--db", str(bench.db),
                     "--out", str(adapter), "--max-steps", "2", "--batch-size", "4", "--lora-r", "4", "--lora-alpha", "8",
                     "--lora-dropout", "0", "--eval-fraction", "0", "--no-register"])
    assert code == 0, capsys.readouterr().err
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()

    report = tmp_path / "report"
    code = cli_main(["eval", "--model", str(tiny_model_dir), "--adapter", str(adapter), "--data", str(bench.test),
                     "--db", str(bench.db), "--out", str(report), "--limit", "3", "--max-new-tokens", "8",
                     "--no-spot-checks", "--compare-decoding", "--topup-candidates", "0", "--no-register"])
    assert code == 0, capsys.readouterr().err
    document = json.loads((report / "report.json").read_text())
    scored = {f["label"]: f for f in document["reports"]}
    assert set(scored) == {"adapter greedy", "adapter guided"}
    for form in scored.values():
        assert form["n"] == 3 and len(form["results"]) == 3
        assert 0.0 <= form["execution_accuracy"] <= 1.0


def test_missing_benchmarks_say_where_to_point(monkeypatch, tmp_path):
    monkeypatch.setenv(benchmarks.ENV, str(tmp_path / "nowhere"))
    with pytest.raises(benchmarks.BenchmarksNotFound, match=r"\$SQLTUNE_BENCHMARKS=.*nowhere.*no build\.py"):
        benchmarks.benchmarks_dir()


def test_atis_user_sized_sample_takes_whole_query_groups(shared_benchmarks):
    train, test, note = benchmarks.load_splits("atis", train_size=300, seed=1)
    assert 250 <= len(train) <= 300 and "seed 1" in note
    everything = [r for r in benchmarks.read_rows(shared_benchmarks / "atis" / "train.jsonl") if "repeat" not in r["tags"]]
    group = benchmarks._group
    chosen = {group(r) for r in train}
    assert len(train) == sum(1 for r in everything if group(r) in chosen)  # every paraphrase of a chosen group
    assert benchmarks.load_splits("atis", train_size=300, seed=1)[0] == train  # the seed fixes the sample
    assert {group(r) for r in benchmarks.load_splits("atis", train_size=300, seed=2)[0]} != chosen
    assert len(test) == 369 and not any({"dup_in_train", "repeat"} & set(r["tags"]) for r in test)
