"""End to end on the real embedded default model (SmolLM2-135M-Instruct): a few minutes on CPU.

Fixture -> prompt -> a few QLoRA steps -> adapter loads with plain peft -> execution-scored eval
with all three report forms -> merge agrees with the adapter.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harbor(tmp_path_factory):
    from warehouse_fixtures import ensure_fixture

    return ensure_fixture("harbor")


@pytest.fixture(scope="module")
def small_pairs(tmp_path_factory):
    from sqltune.data import load_pairs, write_pairs

    pairs = [p for p in load_pairs("eval/train.jsonl") if p.difficulty == "easy"][:24]
    path = tmp_path_factory.mktemp("pairs") / "train.jsonl"
    write_pairs(path, pairs)
    return path


@pytest.fixture(scope="module")
def trained_adapter(tmp_path_factory, default_checkpoint, harbor, small_pairs):
    from sqltune.prompts import PromptConfig
    from sqltune.training.train import LoraSettings, TrainConfig, train

    out = tmp_path_factory.mktemp("run") / "adapter"
    config = TrainConfig(
        base="default", train_file=str(small_pairs), db=str(harbor), output_dir=str(out),
        max_steps=3, batch_size=4, learning_rate=2e-3, warmup_steps=0, eval_fraction=0.0,
        save_steps=100, logging_steps=1, register=False, lora=LoraSettings(dropout=0.0),
        prompt=PromptConfig(max_schema_tokens=300, include_comments=False, samples_per_column=1),
    )
    return train(config)


def test_default_model_qlora_steps_and_checks(trained_adapter):
    record = trained_adapter.record
    assert record["steps"] == 3
    # r=16 on every projection of the 135M base: ~4.9M trainable, 3.6% of the base.
    assert 4_000_000 < trained_adapter.trainable_params < 6_000_000
    assert 0.02 < trained_adapter.trainable_params / trained_adapter.total_params < 0.05
    assert record["step0_loss"]["with_adapter"] == pytest.approx(record["step0_loss"]["frozen_base"], rel=1e-3)
    assert record["quant_config"]["quant_type"] == "nf4" and record["quant_config"]["double_quant"]


def test_adapter_loads_with_plain_peft(trained_adapter, default_checkpoint):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(default_checkpoint)
    model = PeftModel.from_pretrained(base, str(trained_adapter.adapter_dir))
    assert any("lora_A" in n for n, _ in model.named_parameters())


def test_eval_writes_three_report_forms(trained_adapter, harbor, tmp_path):
    from sqltune.evaluation.harness import EvalConfig, ModelForm, evaluate_forms
    from sqltune.inference.generate import DecodeConfig

    adapter = str(trained_adapter.adapter_dir)
    forms = [ModelForm("prompt-only", prompt_source=adapter), ModelForm("adapter", adapter=adapter, quantized=True)]
    config = EvalConfig(data="eval/test.jsonl", db=str(harbor), limit=6, decode=DecodeConfig(max_new_tokens=64, batch_size=6))
    reports, paths = evaluate_forms(forms, config, out_dir=tmp_path / "report")
    assert [r.label for r in reports] == ["prompt-only", "adapter"]
    assert all(r.n == 6 and 0.0 <= r.execution_accuracy <= 1.0 for r in reports)
    assert reports[0].setup["decode"]["answer_prefix"] == "SELECT"
    html = paths.html.read_text()
    assert "prompt-only" in html and "adapter" in html and "<img" in html
    data = json.loads(paths.json.read_text())
    assert len(data["reports"]) == 2
    assert "| prompt-only" in paths.markdown.read_text() or "prompt-only" in paths.markdown.read_text()


def test_merge_reproduces_the_unmerged_adapter(trained_adapter, harbor, tmp_path):
    from sqltune.inference.generate import DecodeConfig
    from sqltune.merge import merge_adapter

    result = merge_adapter(trained_adapter.adapter_dir, tmp_path / "merged", n_check=4, schema=str(harbor),
                           decode=DecodeConfig(max_new_tokens=48, batch_size=4), register=False)
    assert result.base_form == "dequantized" and result.reference == "adapter_dequantized"
    assert result.passed, result.failures
    judged = result.comparison("merged_dequantized", "adapter_dequantized")
    assert judged.sql_agreement == 1.0 and judged.logits.n_positions > 500
    # Merging into the original weights instead is as far off as the NF4 quantisation itself.
    assert (result.comparison("merged_original", "adapter_nf4").logits.mean_abs
            > 3 * result.comparison("merged_dequantized", "adapter_nf4").logits.mean_abs)
