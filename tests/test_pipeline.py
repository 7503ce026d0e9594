"""The main job's wiring on a tiny model: train -> merge -> evaluate three forms -> one report."""

from __future__ import annotations

import json

from sqltune.evaluation.harness import EvalConfig, spread_subset
from sqltune.inference.generate import DecodeConfig
from sqltune.pipeline import PipelineConfig, recipe_path, run_pipeline
from sqltune.training.train import LoraSettings, TrainConfig


def test_spread_subset_covers_the_whole_file():
    items = list(range(100))
    assert spread_subset(items, None) == items
    assert spread_subset(items, 500) == items
    assert spread_subset(items, 4) == [0, 25, 50, 75]


def test_shipped_recipe_loads():
    from sqltune.core.config import load_yaml

    config = load_yaml(PipelineConfig, recipe_path("harbor-cpu"))
    assert config.train.method == "qlora" and config.train.lora.r == 16
    assert config.train.quant.quant_type == "nf4" and config.train.quant.double_quant


def test_pipeline_runs_end_to_end(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    events = []
    config = PipelineConfig(
        out_dir=str(tmp_path / "run"),
        train=TrainConfig(
            base=str(tiny_model_dir), train_file=str(tiny_pairs_file), db=str(tiny_warehouse), max_steps=2,
            batch_size=4, eval_fraction=0.0, save_steps=100, register=False, lora=LoraSettings(r=4, alpha=8, dropout=0.0),
        ),
        eval=EvalConfig(data=str(tiny_pairs_file), limit=3, decode=DecodeConfig(max_new_tokens=6), spot_checks=True),
    )
    result = run_pipeline(config, on_event=lambda stage, info: events.append(stage))
    labels = [r.label for r in result.reports]
    assert labels == ["prompt-only", "qlora-adapter", "merged"]
    assert all(r.n == 3 for r in result.reports)
    assert (result.merged_dir / "config.json").exists() and (result.adapter_dir / "adapter_config.json").exists()
    assert result.merge_result.comparisons
    data = json.loads(result.report_paths.json.read_text())
    assert [r["label"] for r in data["reports"]] == labels
    assert {"train", "trained", "merge", "evaluate"} <= set(events) and "fixture" not in events  # no fixture named
