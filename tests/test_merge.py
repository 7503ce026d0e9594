"""Merging a tiny trained QLoRA adapter: a standard checkpoint that answers as the adapter does."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from sqltune.core.errors import ConfigError, ModelError
from sqltune.inference.generate import DecodeConfig
from sqltune.merge import (
    MERGE_JSON,
    FormAgreement,
    LogitsDiff,
    Tolerance,
    choose_form,
    DEFAULT_TOLERANCE,
    judge,
    merge_adapter,
    nf4_weights,
    spread,
)

DECODE = DecodeConfig(max_new_tokens=24, batch_size=8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    """A QLoRA adapter trained a few steps on the tiny model (B != 0), registered in a private registry."""
    import duckdb
    from conftest import TINY_DDL, TINY_PAIRS

    from sqltune.training.train import LoraSettings, TrainConfig, train

    root = tmp_path_factory.mktemp("merge")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SQLTUNE_HOME", str(root / "home"))
        warehouse = root / "tiny.duckdb"
        con = duckdb.connect(str(warehouse))
        con.execute(TINY_DDL)
        con.close()
        pairs = root / "pairs.jsonl"
        # two wordings of each question: a repeated pair is a validation problem, and train() validates
        pairs.write_text("".join(json.dumps({"question": wording.format(q), "sql": s}) + "\n"
                                 for wording in ("{}", "Please answer: {}") for q, s in TINY_PAIRS))
        config = TrainConfig(
            base=str(tiny_model_dir), train_file=str(pairs), db=str(warehouse), output_dir=str(root / "adapter"),
            max_steps=4, batch_size=4, learning_rate=2e-2, warmup_steps=0, eval_fraction=0.0, save_steps=100,
            logging_steps=1, lora=LoraSettings(r=8, alpha=16, dropout=0.0),
        )
        result = train(config)
        yield {"root": root, "adapter": result.adapter_dir, "run_id": result.run_id, "warehouse": warehouse,
               "base": tiny_model_dir}


@pytest.fixture(scope="module")
def merged(trained):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SQLTUNE_HOME", str(trained["root"] / "home"))
        result = merge_adapter(trained["adapter"], trained["root"] / "merged", decode=DECODE)
        from sqltune.core.registry import Registry

        records = Registry().list(kind="merge")
    return result, records


def _prompt_ids(tokenizer, warehouse, question):
    from sqltune.prompts import PromptConfig, build_messages, prompt_text
    from sqltune.schema import load_schema

    text = prompt_text(tokenizer, build_messages(load_schema(str(warehouse)), question, PromptConfig()))
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]


def test_merged_checkpoint_is_standard_and_matches_the_unmerged_adapter(trained, merged):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sqltune.merge import merge_into, read_adapter
    from sqltune.inference.models import load_model

    result, _ = merged
    out = trained["root"] / "merged"
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "sqltune_adapter.json", MERGE_JSON} <= names, names
    assert "adapter_config.json" not in names and not [n for n in names if n.startswith(".")]
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask  # modes as any file the user writes
    # The tiny adapter was trained on NF4: auto keeps the form that reproduces it.
    assert result.trained_on == "nf4" and result.base_form == "dequantized" and result.passed, result.failures
    json.loads((out / "sqltune_adapter.json").read_text())  # the prompt settings travel with the checkpoint

    # Plain transformers loads it, no peft. Its logits equal the unmerged adapter on the 16-bit base
    # up to bf16 rounding when merged into the original weights (the dequantized form differs by the
    # NF4 error, checked through merge.json below).
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template
    plain = AutoModelForCausalLM.from_pretrained(out, dtype=torch.bfloat16).eval()
    assert not hasattr(plain, "peft_config")
    original = merge_into(str(trained["base"]), trained["adapter"], torch.bfloat16)
    adapter16 = PeftModel.from_pretrained(load_model(str(trained["base"]), dtype=torch.bfloat16), str(trained["adapter"])).eval()
    ids = _prompt_ids(tokenizer, trained["warehouse"], "How many stores are there?")
    with torch.inference_mode():
        ref = adapter16(input_ids=ids).logits.float()
        got = original(input_ids=ids).logits.float()
        base_only = load_model(str(trained["base"]), dtype=torch.bfloat16)(input_ids=ids).logits.float()
        loaded = plain(input_ids=ids).logits.float()
    effect = (ref - base_only).abs().mean().item()
    assert effect > 0.05, "the adapter must change the model, or this test proves nothing"
    assert (got - ref).abs().mean().item() < DEFAULT_MEAN and (got - ref).abs().mean().item() < effect / 10
    assert (got - ref).abs().max().item() < 1.0
    assert (loaded - ref).abs().mean().item() > (got - ref).abs().mean().item()  # the NF4 form is not the original

    # Greedy answers: the saved checkpoint == the unmerged adapter on the dequantised base (both fp32),
    # and the adapter as trained (on NF4) answers the same too.
    judged = result.comparison("merged_dequantized", "adapter_dequantized")
    assert result.reference == "adapter_dequantized" and judged.sql_agreement == 1.0
    assert result.comparison("merged_dequantized", "adapter_nf4").sql_agreement == 1.0
    assert result.comparison("merged_original", "adapter_original").sql_agreement is None  # logits only
    for model, reference in [("merged_dequantized", "adapter_dequantized"), ("merged_original", "adapter_original")]:
        c = result.comparison(model, reference)
        assert c.logits.mean_abs < result.tolerance.logits_mean_abs and c.logits.n_positions > 100
    # ... and the dequantized form is the closer one to how the adapter was trained.
    assert (result.comparison("merged_dequantized", "adapter_nf4").logits.mean_abs
            < result.comparison("merged_original", "adapter_nf4").logits.mean_abs)
    # The merge itself (fp32 vs fp32) is far closer than the NF4 quantisation gap.
    gap = result.comparison("adapter_nf4", "adapter_original").logits.mean_abs
    assert judged.logits.mean_abs < gap / 10
    assert isinstance(read_adapter(trained["adapter"]).quant.double_quant, bool)


DEFAULT_MEAN = 0.05


def test_merge_json_and_registry_record(trained, merged):
    result, records = merged
    saved = json.loads((trained["root"] / "merged" / MERGE_JSON).read_text())
    assert saved["passed"] is True and saved["reload_exact"] is True
    assert saved["n_questions"] == 16 and saved["questions_source"].endswith("pairs.jsonl")  # 2 wordings x 8
    assert {(c["model"], c["reference"]) for c in saved["comparisons"]} == {
        ("merged_original", "adapter_nf4"), ("merged_original", "adapter_original"),
        ("merged_dequantized", "adapter_nf4"), ("merged_dequantized", "adapter_dequantized"),
        ("adapter_nf4", "adapter_original"), ("adapter_nf4", "adapter_dequantized"),
    }
    assert saved["tolerance"]["logits_mean_abs"] > 0 and saved["wall_s"] > 0
    [record] = records
    assert record.run_id == result.run_id == saved["run_id"]
    assert record.kind == "merge" and record.status == "completed"
    assert record.parent_run_id == trained["run_id"]
    assert record.config["base_form"] == "dequantized"


def test_serving_loader_reads_merged_checkpoint(trained, merged):
    from sqltune.inference.generate import load_sql_model
    from sqltune.schema import load_schema

    schema = load_schema(str(trained["warehouse"]))
    model = load_sql_model(schema=schema, merged=trained["root"] / "merged", decode=DECODE)
    assert model.label == "merged" and model.generate(["How many regions exist?"])[0].raw_output


def test_dequantized_weights_are_bitsandbytes_nf4_round_trip(tiny_model_dir):
    """The weights merged into are exactly nf4 quantize -> dequantize of the 16-bit base, as QLoRA loads it."""
    import bitsandbytes.functional as bnbf

    from sqltune.inference.models import QuantConfig, load_model

    quant = QuantConfig()
    weights = nf4_weights(load_model(str(tiny_model_dir), quant=quant))
    base = load_model(str(tiny_model_dir), dtype=quant.torch_compute_dtype())
    assert len(weights) == 2 * 7  # every projection of both layers; embeddings and head stay 16-bit
    for name, weight in weights.items():
        original = base.get_submodule(name).weight.data
        packed, state = bnbf.quantize_4bit(original, blocksize=64, compress_statistics=quant.double_quant, quant_type="nf4")
        expected = bnbf.dequantize_4bit(packed, state)
        assert torch.equal(weight, expected), name
        assert not torch.equal(weight, original)


def test_overwrite_refused_then_forced(trained, merged, monkeypatch):
    monkeypatch.setenv("SQLTUNE_HOME", str(trained["root"] / "home"))
    out = trained["root"] / "merged"
    before = (out / "model.safetensors").stat().st_mtime_ns
    with pytest.raises(ConfigError, match="already exists.*--force"):
        merge_adapter(trained["adapter"], out)
    assert (out / "model.safetensors").stat().st_mtime_ns == before
    with pytest.raises(ConfigError, match="would overwrite"):
        merge_adapter(trained["adapter"], trained["adapter"], force=True)

    copy = trained["root"] / "merged-copy"
    shutil.copytree(out, copy)
    # Unchecked auto merge: the form the adapter was trained against (NF4 for QLoRA).
    result = merge_adapter(trained["adapter"], copy, n_check=0, force=True, register=False)
    assert result.passed is None and result.base_form == "dequantized" and result.reload_exact
    saved = json.loads((copy / MERGE_JSON).read_text())
    assert saved["base_form"] == "dequantized" and saved["comparisons"] == []
    assert not [p for p in copy.parent.iterdir() if p.name.startswith(".merged-copy")]


def test_bad_adapter_folders_give_clean_errors(tmp_path, trained, tiny_model_dir):
    with pytest.raises(ModelError, match="adapter folder not found"):
        merge_adapter(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a PEFT adapter folder"):
        merge_adapter(tmp_path / "empty", tmp_path / "out")
    broken = tmp_path / "broken"
    shutil.copytree(trained["adapter"], broken)
    (broken / "adapter_config.json").write_text("{not json")
    with pytest.raises(ModelError, match="adapter_config.json: unreadable"):
        merge_adapter(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists()

    # Training data gone: the check has no questions and says how to proceed.
    moved = tmp_path / "moved"
    shutil.copytree(trained["adapter"], moved)
    run = json.loads((moved / "run.json").read_text())
    run["data"]["train_file"] = str(tmp_path / "gone.jsonl")
    (moved / "run.json").write_text(json.dumps(run))
    with pytest.raises(ConfigError, match="--data"):
        merge_adapter(moved, tmp_path / "out")


def test_adapter_for_another_base_is_rejected(tmp_path, trained, tiny_model_dir):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    other = tmp_path / "other-base"
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(other)
    tokenizer.save_pretrained(other)
    with pytest.raises(ModelError, match="does not fit the base model"):
        merge_adapter(trained["adapter"], tmp_path / "out", base=str(other), n_check=0, base_form="original", register=False)
    assert not (tmp_path / "out").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_choose_form_and_judge():
    def comp(model, reference, mean, sql=1.0):
        return FormAgreement(model, reference, sql, LogitsDiff(max_abs=mean * 10, mean_abs=mean, top1_agreement=1.0, n_positions=10))

    comps = [comp("merged_original", "adapter_nf4", 0.3), comp("merged_dequantized", "adapter_nf4", 0.01),
             comp("merged_original", "adapter_original", 0.01), comp("merged_dequantized", "adapter_original", 0.3, sql=0.5),
             comp("merged_dequantized", "adapter_dequantized", 0.01)]
    assert choose_form(comps, "nf4") == "dequantized"
    assert choose_form(comps, "16-bit") == "original"
    assert choose_form(comps, "unknown") == "original"
    tol = Tolerance(logits_mean_abs=0.05, logits_max_abs=1.0)
    assert judge(comps, "dequantized", tol) == [] and judge(comps, "original", tol) == []
    # Within the absolute tolerance but as far off as NF4 quantisation: the wrong base weights.
    wrong = [comp("merged_original", "adapter_original", 0.02), comp("adapter_nf4", "adapter_original", 0.03)]
    assert ["NF4 quantisation gap" in f for f in judge(wrong, "original", tol)] == [True]
    bad = [comp("merged_original", "adapter_original", 0.2, sql=0.75)]
    failures = judge(bad, "original", tol)
    assert len(failures) == 3 and "mean" in failures[0] and "75%" in failures[2]
    # SQL not generated for a pair (None): judged on logits alone.
    assert judge([comp("merged_original", "adapter_original", 0.01, sql=None)], "original", tol) == []


def test_fp16_tolerance_is_tighter_than_bf16():
    fp16, bf16 = DEFAULT_TOLERANCE["fp16"], DEFAULT_TOLERANCE["bf16"]
    assert fp16.logits_mean_abs < bf16.logits_mean_abs and fp16.logits_max_abs < bf16.logits_max_abs
    assert fp16.sql_agreement == 1.0 and 0.9 <= bf16.sql_agreement < 1.0  # bf16 may flip a greedy near-tie


def test_spread_picks_distinct_questions_over_the_whole_list():
    questions = [f"q{i}" for i in range(10)] + ["q0", " q1 ", ""]
    assert spread(questions, 20) == [f"q{i}" for i in range(10)]
    assert spread(questions, 5) == ["q0", "q2", "q4", "q6", "q8"]


def test_cli_merge(trained, merged, tmp_path, monkeypatch, capsys):
    from sqltune.cli import main

    monkeypatch.setenv("SQLTUNE_HOME", str(trained["root"] / "home"))
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "How many stores are there?", "sql": "SELECT 1"}) + "\n")
    out = tmp_path / "merged"
    code = main(["merge", "--adapter", str(trained["adapter"]), "--out", str(out), "--data", str(questions),
                 "--db", str(trained["warehouse"]), "--base-form", "original", "--max-new-tokens", "8"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "merged_original" in printed and "adapter_original" in printed and str(out.name) in printed
    for stage in ("reading the adapter", "loading the base model", "merging into the original weights",
                  "loading the unmerged adapter", "check: comparing logits", "check: greedy SQL of merged_original",
                  "saving and reloading the checkpoint"):
        assert f"stage: {stage}" in printed, (stage, printed)
    assert printed.count(" done in ") >= 7
    assert json.loads((out / MERGE_JSON).read_text())["n_questions"] == 1

    assert main(["merge", "--adapter", str(trained["adapter"]), "--out", str(out)]) != 0
    assert main(["merge", "--adapter", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "adapter folder not found" in err and "Traceback" not in err


def test_a_masked_warehouse_url_asks_for_db_before_connecting(trained, tmp_path, monkeypatch, capsys):
    """run.json keeps a URL's password as ***: merge asks for --db instead of failing to log in;
    an env:/profile: reference is recorded as written and is used as it is."""
    from sqltune.cli import main
    from sqltune.merge.check import check_set
    from sqltune.merge.weights import read_adapter

    masked = tmp_path / "masked"
    shutil.copytree(trained["adapter"], masked)
    run = json.loads((masked / "run.json").read_text())
    run["schema_source"] = "postgresql://reader:***@127.0.0.1:5432/test"
    (masked / "run.json").write_text(json.dumps(run))
    events = []
    with pytest.raises(ConfigError, match=r"recorded without its password.*pass --db"):
        merge_adapter(masked, tmp_path / "out", progress=events.append, register=False)
    assert events == [] and not (tmp_path / "out").exists()  # nothing loaded, nothing connected
    assert main(["merge", "--adapter", str(masked), "--out", str(tmp_path / "out")]) == 2  # as a missing --db anywhere
    err = capsys.readouterr().err
    assert "--db" in err and "***" in err and "Traceback" not in err
    with pytest.raises(ConfigError, match="password is masked"):
        check_set(read_adapter(masked), ["How many stores are there?"], 1, "postgresql://reader:***@h/db")
    # --db given: the stored URL is not used
    given = check_set(read_adapter(masked), ["How many stores are there?"], 1, str(trained["warehouse"]))
    assert "stores" in given.schema.table_names

    monkeypatch.setenv("OWN_WAREHOUSE", str(trained["warehouse"]))
    run["schema_source"] = "env:OWN_WAREHOUSE"
    (masked / "run.json").write_text(json.dumps(run))
    stored = check_set(read_adapter(masked), ["How many stores are there?"], 1, None)
    assert "stores" in stored.schema.table_names


def test_merge_options_are_merge_config_settings(capsys):
    """`sqltune merge`'s options are MergeConfig's settings, declared once: --dtype takes only its
    choices, and --adapter and --out are asked for as a usage error (exit 2)."""
    import click
    import typer.main

    from sqltune.cli import app, main
    from sqltune.core.config import settings_of
    from sqltune.merge import MergeConfig

    group = typer.main.get_command(app)
    flags = {opt for p in group.get_command(click.Context(group), "merge").params for opt in p.opts}
    assert {info.flag for info in settings_of(MergeConfig)} <= flags
    assert main(["merge", "--adapter", "a", "--out", "x", "--dtype", "fp32"]) == 2
    assert "'fp32' is not one of 'bf16', 'fp16'" in capsys.readouterr().err
    assert main(["merge", "--out", "x"]) == 2
    assert "Missing option '--adapter'" in capsys.readouterr().err
