"""Run registry: a real SQLite file, migrations, prefix lookup, concurrent writers, CLI."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from sqltune.cli import main
from sqltune.core.registry import MIGRATIONS, SCHEMA_VERSION, Registry, RegistryError, RunRecord, new_run_id, now_iso


def make_record(run_id: str | None = None, kind: str = "train", **overrides) -> RunRecord:
    values = dict(
        run_id=run_id or new_run_id(kind), kind=kind, created_at=now_iso(), base_model="/models/tiny",
        adapter_dir="/runs/a/adapter", output_dir="/runs/a", status="running",
        config={"lr": 2e-4, "epochs": 1}, quant_config={"quant_type": "nf4", "double_quant": True},
        lora_config={"r": 16, "targets": ["q_proj", "v_proj"]}, data_hashes={"train": "abc123"},
        metrics={"steps": 0},
    )
    values.update(overrides)
    return RunRecord(**values)


@pytest.fixture()
def registry(tmp_path):
    return Registry(tmp_path / "registry.sqlite")


def test_round_trip_and_update(registry):
    record = make_record("train-1")
    registry.add(record)
    assert registry.get("train-1") == record
    registry.update("train-1", status="completed", metrics={"steps": 10, "losses": [2.5, 1.5], "wall_s": 3.2})
    got = registry.get("train-1")
    assert got.status == "completed" and got.metrics["losses"] == [2.5, 1.5]
    assert got.config == record.config and got.lora_config == record.lora_config
    merged = registry.merge_metrics("train-1", {"eval_accuracy": 0.5})
    assert merged == {"steps": 10, "losses": [2.5, 1.5], "wall_s": 3.2, "eval_accuracy": 0.5}
    assert registry.get("train-1").metrics == merged


def test_persists_in_a_file_across_instances(tmp_path):
    path = tmp_path / "reg.sqlite"
    Registry(path).add(make_record("eval-x", kind="eval", parent_run_id=None))
    assert Registry(path).get("eval-x").kind == "eval"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_prefix_lookup_and_errors(registry):
    registry.add(make_record("train-20261123-aaa"))
    registry.add(make_record("train-20261123-aab"))
    assert registry.get("train-20261123-aaa").run_id == "train-20261123-aaa"
    with pytest.raises(RegistryError, match="ambiguous"):
        registry.get("train-20261123-aa")
    with pytest.raises(RegistryError, match="no run"):
        registry.get("nope")
    with pytest.raises(RegistryError, match="no run"):
        registry.get("train_")  # LIKE wildcards are escaped
    with pytest.raises(RegistryError, match="no run"):
        registry.update("nope", status="failed")


def test_validation(registry):
    with pytest.raises(RegistryError, match="kind"):
        registry.add(make_record(kind="deploy"))
    registry.add(make_record("r1"))
    with pytest.raises(RegistryError, match="already|UNIQUE"):
        registry.add(make_record("r1"))
    with pytest.raises(RegistryError, match="status"):
        registry.update("r1", status="done")
    with pytest.raises(RegistryError, match="field"):
        registry.update("r1", colour="red")
    with pytest.raises(RegistryError, match="field"):
        registry.update("r1", run_id="r2")


def test_list_newest_first_filter_and_limit(registry):
    for i, kind in enumerate(["train", "eval", "train", "merge"]):
        registry.add(make_record(f"{kind}-{i}", kind=kind, created_at=f"2026-11-23T10:00:0{i}+00:00"))
    assert [r.run_id for r in registry.list()] == ["merge-3", "train-2", "eval-1", "train-0"]
    assert [r.run_id for r in registry.list(kind="train")] == ["train-2", "train-0"]
    assert len(registry.list(limit=2)) == 2


def test_parent_run_must_exist(registry):
    registry.add(make_record("train-p"))
    registry.add(make_record("merge-c", kind="merge", parent_run_id="train-p"))
    assert registry.get("merge-c").parent_run_id == "train-p"
    with pytest.raises(RegistryError):
        registry.add(make_record("merge-d", kind="merge", parent_run_id="missing"))


def test_migrates_an_old_database(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # a version-1 file written by an older sqltune
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.executescript(MIGRATIONS[0])
        conn.execute(
            "INSERT INTO runs VALUES ('old-1','train','2026-01-01T00:00:00+00:00','m',NULL,NULL,'completed','{}',NULL,NULL,'{}','{\"steps\": 3}')"
        )
    registry = Registry(path)
    assert registry.schema_version() == SCHEMA_VERSION
    old = registry.get("old-1")
    assert old.metrics == {"steps": 3} and old.parent_run_id is None


def test_refuses_newer_or_corrupt_files(tmp_path):
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (999)")
    with pytest.raises(RegistryError, match="newer"):
        Registry(newer)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match="not a usable registry"):
        Registry(junk)


def test_concurrent_writers(registry):
    registry.add(make_record("train-c"))
    errors = []

    def work(n):
        try:
            for i in range(10):
                registry.merge_metrics("train-c", {f"w{n}_{i}": i})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(registry.get("train-c").metrics) == 41


def test_default_path_honours_sqltune_home(tmp_path, monkeypatch):
    monkeypatch.delenv("SQLTUNE_REGISTRY", raising=False)
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    assert Registry().path == tmp_path / "home" / "registry.sqlite"
    monkeypatch.setenv("SQLTUNE_REGISTRY", str(tmp_path / "elsewhere.sqlite"))
    assert Registry().path == tmp_path / "elsewhere.sqlite"


def test_cli_list_and_show(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "cli.sqlite"
    reg = Registry(path)
    reg.add(make_record("train-cli-1", metrics={"wall_s": 12.5, "steps": 40, "losses": [1.0]}))
    reg.add(make_record("eval-cli-1", kind="eval", parent_run_id="train-cli-1", metrics={"execution_accuracy": 0.75}))
    assert main(["registry", "list", "--registry", str(path)]) == 0
    out = capsys.readouterr().out
    assert "train-cli-1" in out and "eval-cli-1" in out and "execution_accuracy=0.75" in out
    assert main(["registry", "list", "--registry", str(path), "--kind", "eval"]) == 0
    assert "train-cli-1" not in capsys.readouterr().out.split("eval-cli-1")[0].split("\n", 3)[-1]
    assert main(["registry", "show", "train-cli", "--registry", str(path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run_id"] == "train-cli-1" and shown["metrics"]["steps"] == 40


def test_cli_unknown_id_is_one_line_error(tmp_path, capsys):
    path = tmp_path / "cli.sqlite"
    Registry(path)
    assert main(["registry", "show", "missing-run", "--registry", str(path)]) == 1
    err = capsys.readouterr().err
    assert "no run with id 'missing-run'" in err and "Traceback" not in err
