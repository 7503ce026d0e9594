"""Keeping the adapter with the best held-out execution accuracy, and stopping when it stops rising."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqltune.core.errors import ConfigError
from sqltune.training.selection import ExecutionSelection


class FakeModel:
    """Saves its current 'weights' (a step number) like peft's save_pretrained."""

    def __init__(self) -> None:
        self.step = 0

    def save_pretrained(self, folder: str) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "adapter_model.safetensors").write_text(str(self.step))
        (Path(folder) / "adapter_config.json").write_text("{}")


def scripted_judge(accuracies):
    """A judge whose answers are right in the given shares, point after point (10 questions)."""
    calls = iter(accuracies)

    def judge(golds, predictions):
        share = next(calls)
        return round(share * len(predictions)), len(predictions)

    return judge


def test_best_point_is_kept_and_the_run_stops_after_patience_points_without_a_rise(tmp_path):
    model = FakeModel()
    lines = []
    selection = ExecutionSelection(lambda m: ["SELECT 1"] * 10, [["SELECT 1"]] * 10, scripted_judge([0.2, 0.5, 0.4, 0.3]),
                                   best_dir=tmp_path / "best", patience=2, started=0.0,
                                   progress=lambda e: lines.append(e["line"]))
    stops = []
    for step in (10, 20, 30, 40):
        model.step = step
        selection.check(step, model)
        stops.append(selection.should_stop())
    assert stops == [False, False, False, True]  # two points after the best (step 20) without a rise
    assert selection.best.step == 20 and selection.best.execution_accuracy == 0.5
    assert (tmp_path / "best" / "adapter_model.safetensors").read_text() == "20"
    out = tmp_path / "adapter"
    FakeModel().save_pretrained(str(out))  # the run's final adapter (step 0 here)
    assert selection.keep_best(out) is True
    assert (out / "adapter_model.safetensors").read_text() == "20"
    record = selection.record()
    assert record["best_step"] == 20 and [p["step"] for p in record["points"]] == [10, 20, 30, 40]
    assert any("best so far" in line for line in lines)


def test_a_tie_keeps_the_later_point_and_the_final_best_is_left_in_place(tmp_path):
    model = FakeModel()
    selection = ExecutionSelection(lambda m: ["x"] * 4, [["x"]] * 4, scripted_judge([0.5, 0.5]),
                                   best_dir=tmp_path / "best", patience=0, started=0.0)
    for step in (1, 2):
        model.step = step
        selection.check(step, model)
        assert not selection.should_stop()  # patience 0: never stops early
    assert selection.best.step == 2
    assert selection.keep_best(tmp_path) is False


def test_training_keeps_its_best_adapter_by_execution(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    """A real (tiny) run with cached lower layers: the held-out pairs are answered from token ids
    at each held-out point (the lower layers put back), judged on the warehouse, and recorded."""
    from sqltune.evaluation.judge import judge_for_training
    from sqltune.training.train import LoraSettings, train
    from tests.test_train import tiny_config

    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=4, eval_steps=2,
                         eval_fraction=0.4, step0_check=False, select_by_execution=8, execution_patience=0,
                         cache_lower_layers=True, lora=LoraSettings(r=4, alpha=8, dropout=0.0, top_layers=1))
    with pytest.raises(ConfigError, match="judge"):
        train(config)
    lines = []
    with judge_for_training(config) as judge:
        result = train(config, judge=judge, progress=lambda e: lines.append(e.get("line") or ""))
    selection = result.record["data"]["execution_selection"]
    assert [p["step"] for p in selection["points"]] == [2, 4]
    assert all(0.0 <= p["execution_accuracy"] <= p["executable"] <= 1.0 and p["questions"] == 8 for p in selection["points"])
    assert selection["best_step"] in (2, 4)
    assert any("held-out execution accuracy" in line for line in lines)
    assert (result.adapter_dir / "adapter_model.safetensors").exists()


def test_too_few_held_out_questions_turn_the_check_off_and_say_so(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    from sqltune.evaluation.judge import judge_for_training
    from sqltune.training.train import train
    from tests.test_train import tiny_config

    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=2, eval_steps=2,
                         eval_fraction=0.2, step0_check=False, select_by_execution=16)  # 4 held out
    lines = []
    with judge_for_training(config) as judge:
        result = train(config, judge=judge, progress=lambda e: lines.append(e.get("line") or ""))
    assert "execution_selection" not in result.record["data"]
    assert any("held-out execution check off: 4 held-out questions" in line for line in lines), lines
