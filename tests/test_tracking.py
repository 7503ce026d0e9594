"""Experiment tracking with MLflow's local file store, offline: a few-step training reports its losses
and final figures into one run, the adapter records that run, and an evaluation of the adapter logs
its headline figures into the same run."""

from __future__ import annotations

import json
import os

import pytest

from sqltune.core.errors import ConfigError
from sqltune.core.tracking import MlflowRun, metric_name, recordable_uri, require_tracker

# offline: MLflow 3 sends usage telemetry unless told not to (read when mlflow is first imported)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
pytest.importorskip("mlflow")


@pytest.fixture()
def mlflow_store(tmp_path, monkeypatch):
    """A fresh file store (MLflow 3 keeps the file store behind MLFLOW_ALLOW_FILE_STORE)."""
    import mlflow

    uri = f"file:{tmp_path / 'mlruns'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "sqltune-tests")
    mlflow.set_tracking_uri(uri)
    yield uri
    if mlflow.active_run() is not None:
        mlflow.end_run()


def test_training_and_its_evaluation_share_one_mlflow_run(tmp_path, mlflow_store, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    from mlflow.tracking import MlflowClient

    from sqltune.evaluation.harness import EvalConfig, ModelForm, evaluate_forms
    from sqltune.inference.adapter import read_meta
    from sqltune.inference.generate import DecodeConfig
    from sqltune.training.train import LoraSettings, TrainConfig, train

    config = TrainConfig(base=str(tiny_model_dir), train_file=str(tiny_pairs_file), db=str(tiny_warehouse),
                         output_dir=str(tmp_path / "adapter"), max_steps=3, batch_size=4, learning_rate=2e-2, warmup_steps=0,
                         eval_fraction=0.0, logging_steps=1, step0_check=False, register=False, report_to="mlflow",
                         lora=LoraSettings(r=8, alpha=16, dropout=0.0))
    result = train(config)
    recorded = read_meta(result.adapter_dir)["tracking"]
    assert recorded == result.record["tracking"] and recorded["mlflow_tracking_uri"] == mlflow_store
    client = MlflowClient(tracking_uri=mlflow_store)
    run = client.get_run(recorded["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "sqltune adapter"
    assert client.get_experiment(run.info.experiment_id).name == "sqltune-tests"
    # the Trainer's losses, step by step, and the run record's final figures
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in losses] == [1, 2, 3]
    assert [m.value for m in losses] == pytest.approx([h["loss"] for h in result.record["loss_history"]], rel=1e-5)
    assert run.data.metrics["sqltune.final_train_loss"] == pytest.approx(result.final_train_loss)
    assert run.data.metrics["sqltune.steps"] == 3 and run.data.params["learning_rate"] == "0.02"
    assert run.data.tags["sqltune.run_id"] == result.run_id

    # the evaluation of that adapter logs its headline figures into the same run
    pairs = tmp_path / "test.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in (
        {"question": "How many stores are there?", "sql": "SELECT COUNT(*) FROM stores"},
        {"question": "How many regions exist?", "sql": "SELECT COUNT(*) FROM regions"})))
    eval_config = EvalConfig(data=str(pairs), db=str(tiny_warehouse), spot_checks=False, register=False, report_to="mlflow",
                             decode=DecodeConfig(max_new_tokens=8, execution_guided=False, constrain_schema=False, check_names=False))
    (report,), _ = evaluate_forms([ModelForm("adapter", base=str(tiny_model_dir), adapter=str(result.adapter_dir), quantized=True)],
                                  eval_config)
    metrics = client.get_run(run.info.run_id).data.metrics
    assert metrics["eval/adapter/execution_accuracy"] == pytest.approx(report.execution_accuracy)
    assert metrics["eval/adapter/exact_match_normalized"] == pytest.approx(report.exact_match_normalized)
    assert metrics["eval/adapter/n"] == 2


def test_an_evaluation_asked_to_log_needs_a_run(tmp_path, tiny_warehouse):
    from sqltune.evaluation.harness import EvalConfig, ModelForm
    from sqltune.evaluation.tracking import tracking_runs

    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "sqltune_adapter.json").write_text(json.dumps({"base_model": "default"}))
    form = ModelForm("adapter", adapter=str(folder))
    with pytest.raises(ConfigError, match="records no MLflow run"):
        tracking_runs([form], EvalConfig(report_to="mlflow"))
    assert tracking_runs([form], EvalConfig(report_to="mlflow", mlflow_run_id="abc")) == {"adapter": MlflowRun("abc", None)}
    assert tracking_runs([form], EvalConfig()) == {}


def test_tracker_names_and_uris():
    with pytest.raises(ConfigError, match="one of none, mlflow"):
        require_tracker("comet")
    require_tracker("mlflow")
    assert recordable_uri("postgresql://me:secret@db/mlflow") is None  # no password in an adapter folder
    assert recordable_uri("http://tracking:5000") == "http://tracking:5000"
    assert metric_name("eval", "adapter (greedy)", "execution_accuracy") == "eval/adapter _greedy_/execution_accuracy"


def test_report_to_is_a_train_flag_checked_on_load():
    from sqltune.core.config import load_config
    from sqltune.training.config import TrainConfig

    assert load_config(TrainConfig, None, {"report_to": "tensorboard"}).report_to == "tensorboard"
    with pytest.raises(ConfigError, match="report_to"):
        load_config(TrainConfig, None, {"report_to": "comet"})
