"""Training on a tiny random model: checks fire, loss falls, only LoRA weights change, resume works."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from sqltune.core.errors import TrainingCheckFailed
from sqltune.training.train import LoraSettings, TrainConfig, check_trainable, lora_parameter_count, train
from sqltune.training.trainer import check_step0


def tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, **overrides) -> TrainConfig:
    config = TrainConfig(
        base=str(tiny_model_dir),
        train_file=str(tiny_pairs_file),
        db=str(tiny_warehouse),
        output_dir=str(tmp_path / "adapter"),
        max_steps=8,
        batch_size=4,
        learning_rate=2e-2,
        warmup_steps=0,
        eval_fraction=0.2,
        eval_steps=4,
        save_steps=4,
        logging_steps=1,
        register=False,
        lora=LoraSettings(r=16, alpha=32, dropout=0.0),
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def test_qlora_trains_only_lora_and_loss_falls(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    from peft import PeftModel

    from sqltune.inference.models import QuantConfig, load_model

    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file)
    result = train(config)
    losses = [h["loss"] for h in result.record["loss_history"]]
    assert len(losses) == 8
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    assert result.steps == 8
    record = result.record
    # Memory: the peak sampled while training, less what the process held before loading the model,
    # is what `sqltune plan` estimates; it is positive and within the process's lifetime peak.
    assert 0 < record["model_training_rss_bytes"] < record["training_peak_rss_bytes"] <= record["peak_rss_bytes"]
    assert record["estimated_peak_bytes"] > 0 and record["data"]["tokens_per_example_max"] >= record["data"]["tokens_per_example_p95"]
    assert result.record["step0_loss"]["with_adapter"] == pytest.approx(result.record["step0_loss"]["frozen_base"], rel=1e-3)

    adapter = result.adapter_dir
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    saved = json.loads((adapter / "adapter_config.json").read_text())
    assert saved["r"] == 16 and set(saved["target_modules"]) >= {"q_proj", "down_proj"}

    # The adapter file holds LoRA matrices only, exactly the analytic count: nothing else was trained.
    from safetensors.torch import load_file

    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    assert tensors and all("lora_A" in k or "lora_B" in k for k in tensors), list(tensors)[:5]
    assert sum(t.numel() for t in tensors.values()) == result.trainable_params
    model = PeftModel.from_pretrained(load_model(str(tiny_model_dir), quant=QuantConfig()), str(adapter))
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)

    # On the same training examples the trained adapter scores clearly better than the frozen base.
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from sqltune.inference.models import load_tokenizer
    from sqltune.schema import load_schema
    from sqltune.training.train import build_datasets
    from sqltune.training.trainer import step0_losses, with_loss_labels

    tokenizer = load_tokenizer(str(tiny_model_dir))
    train_ds = build_datasets(config, tokenizer, load_schema(str(tiny_warehouse))).train
    labelled = with_loss_labels(train_ds, completion_only=True)
    trained, frozen = step0_losses(model, labelled, DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id), n=8)
    assert trained < frozen - 0.2, (trained, frozen)


def test_trainable_check_catches_unfrozen_base(tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    from sqltune.inference.models import load_model

    lora = LoraSettings(r=4, alpha=8, dropout=0.0)
    model = load_model(str(tiny_model_dir))
    expected = lora_parameter_count(model, lora)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=lora.target_modules, task_type="CAUSAL_LM"))
    n, total = check_trainable(model, expected, None)
    assert n == expected and n < total
    model.base_model.model.lm_head.weight.requires_grad_(True)
    with pytest.raises(TrainingCheckFailed, match="non-LoRA"):
        check_trainable(model, expected, None)


def test_trainable_share_limit_is_enforced(tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    from sqltune.inference.models import load_model

    lora = LoraSettings(r=4, alpha=8, dropout=0.0)
    model = load_model(str(tiny_model_dir))
    expected = lora_parameter_count(model, lora)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=lora.target_modules, task_type="CAUSAL_LM"))
    with pytest.raises(TrainingCheckFailed, match="exceeds"):
        check_trainable(model, expected, 1e-6)


def test_step0_check_rejects_mismatch_and_garbage():
    check_step0(2.0, 2.0, vocab_size=1000)
    with pytest.raises(TrainingCheckFailed, match="differs"):
        check_step0(2.5, 2.0, vocab_size=1000)
    with pytest.raises(TrainingCheckFailed, match="not finite"):
        check_step0(float("nan"), 2.0, vocab_size=1000)
    with pytest.raises(TrainingCheckFailed, match="uniform"):
        check_step0(50.0, 50.0, vocab_size=1000)


def test_eos_is_trained(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    """pad == eos for SmolLM: the end-of-turn token must still carry loss."""
    from sqltune.inference.models import load_tokenizer
    from sqltune.schema import load_schema
    from sqltune.training.train import build_datasets

    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file)
    tokenizer = load_tokenizer(str(tiny_model_dir))
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    train_ds, _, facts, *_ = build_datasets(config, tokenizer, load_schema(str(tiny_warehouse)))
    row = train_ds[0]
    completion = [t for t, m in zip(row["input_ids"], row["completion_mask"]) if m]
    assert completion[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(completion[:-1]).startswith("SELECT")
    assert facts["train_pairs"] + facts["eval_pairs"] == 24


def test_kill_and_resume_loses_no_steps(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, save_steps=3, eval_fraction=0.0)
    script = textwrap.dedent(
        f"""
        import pickle, sys
        from sqltune.training.train import train
        config = pickle.loads({__import__('pickle').dumps(config)!r})
        train(config, kill_after_step=5)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert killed.returncode == 137, killed.stderr[-2000:]
    checkpoints = sorted((tmp_path / "adapter" / "checkpoints").glob("checkpoint-*"))
    assert [c.name for c in checkpoints] == ["checkpoint-3"]
    assert not (tmp_path / "adapter" / "adapter_config.json").exists()

    result = train(config, resume=True)
    assert result.steps == 8
    assert result.record["resumed_from"].endswith("checkpoint-3")
    steps = [h["step"] for h in result.record["loss_history"]]
    assert steps == list(range(1, 9)), steps  # steps 1-3 from the first run's state, 4-8 after resume


def test_eval_forward_keeps_4bit_training_layout(tiny_model_dir):
    """An eval-mode forward (step-0 check, periodic eval) must not repack weights for bnb's
    inference-only CPU kernel, which has no autograd: gradients would stop flowing."""
    from sqltune.inference.models import QuantConfig, load_model
    from sqltune.training.trainer import keep_training_layout

    model = load_model(str(tiny_model_dir), quant=QuantConfig())
    assert keep_training_layout(model) == 14  # 7 projections x 2 layers
    model.eval()
    with torch.no_grad():
        model(input_ids=torch.tensor([[1, 2, 3, 4]]))
    packed = [n for n, m in model.named_modules()
              if getattr(getattr(getattr(m, "weight", None), "quant_state", None), "packing_format_for_cpu", False)]
    assert packed == []
    model.train()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    model(inputs_embeds=embeds, labels=ids).loss.backward()
    assert embeds.grad is not None and embeds.grad.abs().sum() > 0


def test_right_padding_mask_can_be_dropped(tiny_model_dir):
    """Dropping the mask of a right-padded batch leaves every real token's logits unchanged."""
    from sqltune.inference.models import load_model
    from sqltune.training.trainer import causal_only_mask

    model = load_model(str(tiny_model_dir)).float().eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    assert causal_only_mask(mask) is None
    with torch.no_grad():
        masked = model(input_ids=ids, attention_mask=mask).logits
        unmasked = model(input_ids=ids, attention_mask=causal_only_mask(mask)).logits
    real = mask.bool()
    assert torch.allclose(masked[real], unmasked[real], atol=1e-5)
    left = torch.tensor([[0, 0, 1, 1]])
    assert causal_only_mask(left) is left


@pytest.mark.parametrize("variant", [
    {"prompt": "none"},                    # schema-light prompts: the question alone
    {"gradient_checkpointing": False},
    {"top_layers": 1},                     # LoRA on the upper layer of two only
])
def test_less_work_variants_train_and_load_back(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, variant):
    from peft import PeftModel

    from sqltune.inference.adapter import read_prompt_config
    from sqltune.inference.models import QuantConfig, load_model
    from sqltune.prompts import PromptConfig, build_messages, prompt_for_warehouse
    from sqltune.schema import load_schema

    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=2, eval_fraction=0.0,
                         step0_check=False)
    if "prompt" in variant:
        config.prompt = PromptConfig(schema_style=variant["prompt"])
    if "gradient_checkpointing" in variant:
        config.gradient_checkpointing = variant["gradient_checkpointing"]
    if "top_layers" in variant:
        config.lora = LoraSettings(r=4, alpha=8, dropout=0.0, top_layers=variant["top_layers"])
    result = train(config)
    assert result.steps == 2
    tensors = __import__("safetensors.torch", fromlist=["load_file"]).load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    if "top_layers" in variant:
        assert result.record["lora_layers"] == [1]
        assert tensors and all(".layers.1." in k for k in tensors), list(tensors)[:4]
    model = PeftModel.from_pretrained(load_model(str(tiny_model_dir), quant=QuantConfig()), str(result.adapter_dir))
    assert sum(p.numel() for n, p in model.named_parameters() if "lora_" in n) == result.trainable_params
    # serving and evaluation rebuild the prompt the adapter was trained on, from its saved settings
    # (train() asked for the warehouse's dialect)
    prompt = read_prompt_config(str(result.adapter_dir))
    assert prompt == prompt_for_warehouse(config.prompt, str(tiny_warehouse)) and prompt.dialect == "duckdb"
    user = build_messages(load_schema(str(tiny_warehouse)), "How many stores are there?", prompt)[1]["content"]
    assert ("Schema:" in user) == (variant.get("prompt") != "none")


def test_time_budget_plans_and_records(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    """A budget replaces max_steps: the plan (pairs, epochs) is recorded and stored for resume, the
    learning curve has held-out points, and the compute dtype is the probe's measured choice."""
    lines = []
    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=-1, num_epochs=3.0,
                         time_budget="10m", eval_fraction=0.2, step0_check=False, logging_steps=2)
    result = train(config, progress=lambda event: lines.append(event.get("line")) if event.get("line") else None)
    record = result.record
    plan = record["budget_plan"]
    assert plan is not None and record["time_budget_s"] == 600
    assert 1 <= result.steps <= plan["max_steps"] <= 15  # 3 epochs of 20 pairs in batches of 4: 15 at most
    assert plan["pairs"] == plan["max_steps"] * 4 and plan["epochs"] == pytest.approx(plan["pairs"] / record["data"]["train_pairs"])
    assert json.loads((result.adapter_dir / "budget_plan.json").read_text())["max_steps"] == plan["max_steps"]
    assert record["learning_curve"] and record["learning_curve"][-1]["step"] == result.steps
    assert all(p["minutes"] >= 0 and p["eval_loss"] > 0 for p in record["learning_curve"])
    assert any(line.startswith("step ") and " elapsed " in line for line in lines), lines
    probe = record["dtype_probe"]
    assert probe["choice"] == record["compute_dtype"] and set(probe["gflops"]) == {"bfloat16", "float16", "float32"}
    # training memory measured two ways: resident, and heap bytes in use at the peak (glibc)
    assert record["model_training_rss_bytes"] > 0 and record["model_training_allocated_bytes"] > 0


def test_adapter_trains_in_the_chosen_compute_dtype(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    """trl casts a quantised model's adapters to bf16; with fp32 compute (an AVX2-only CPU's choice)
    they must stay fp32, or every LoRA matmul runs in slow bf16."""
    import dataclasses

    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=2, step0_check=False)
    config.quant = dataclasses.replace(config.quant, compute_dtype="float32")
    record = train(config).record
    assert record["compute_dtype"] == "float32"
    assert record["adapter_dtype"] == ["float32"]


def test_curve_snapshots_save_a_loadable_adapter_at_each_held_out_point(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    from sqltune.inference.adapter import read_prompt_config
    from sqltune.inference.generate import DecodeConfig, load_sql_model
    from sqltune.schema import load_schema

    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=4, eval_steps=2,
                         eval_fraction=0.2, step0_check=False, curve_snapshots=True)
    result = train(config)
    curve = result.record["learning_curve"]
    assert [p["step"] for p in curve] == [2, 4]
    for point in curve:
        folder = Path(point["adapter"])
        assert folder == result.adapter_dir / "curve" / f"step-{point['step']}"
        assert read_prompt_config(folder) == read_prompt_config(result.adapter_dir)
    model = load_sql_model(str(tiny_model_dir), schema=load_schema(str(tiny_warehouse)), adapters={"early": curve[0]["adapter"]},
                           quantized=True, decode=DecodeConfig(max_new_tokens=4, batch_size=2))
    assert len(model.generate(["How many customers are there?"])) == 1
    final = load_sql_model(str(tiny_model_dir), schema=load_schema(str(tiny_warehouse)), adapters={"last": curve[-1]["adapter"]},
                           quantized=True)
    early = model.model.state_dict()
    last = final.model.state_dict()
    lora = [k for k in early if "lora_B" in k]
    assert lora and any(not torch.equal(early[k], last[k.replace(".early.", ".last.")]) for k in lora)  # two different points


def test_attention_kernel_is_a_setting_and_auto_is_eager_on_cpu(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    from sqltune.core.errors import ConfigError
    from sqltune.inference.models import attention_implementation, device

    assert attention_implementation("sdpa") == "sdpa" and attention_implementation("eager") == "eager"
    assert attention_implementation("auto") == ("eager" if device() == "cpu" else None)
    with pytest.raises(ConfigError, match="attention"):
        attention_implementation("flash")
    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=1, eval_fraction=0.0,
                         step0_check=False, attention="sdpa")
    from sqltune.training.train import load_training_model

    loaded = load_training_model(config, str(tiny_model_dir))
    assert loaded.model.get_base_model().config._attn_implementation == "sdpa"


def test_return_freed_memory_at_once_hands_holes_back_to_the_os():
    """glibc keeps a freed block inside its heap resident; with the setting such blocks are mapped
    on their own and unmapped when freed (run in a child: the allocator setting is process-wide)."""
    script = textwrap.dedent("""
        import sys, torch
        from sqltune.training.record import current_rss_bytes, return_freed_memory_at_once
        if sys.argv[1] == "1":
            assert return_freed_memory_at_once()
        big = torch.ones(4 * 2**20); del big  # 16 MiB freed: glibc raises its mmap threshold past it
        blocks = [torch.ones(2**20) for _ in range(32)]  # 32 x 4 MiB, now inside the heap
        before = current_rss_bytes()
        del blocks[::2]  # every other one: holes inside the heap, not free memory at its top
        print((before - current_rss_bytes()) // 2**20)
    """)
    returned = [int(subprocess.run([sys.executable, "-c", script, flag], capture_output=True, text=True, check=True).stdout)
                for flag in ("0", "1")]
    assert returned[0] < 16 and returned[1] >= 48, returned  # MiB handed back of the 64 freed


def test_augment_per_pair_adds_value_swapped_training_pairs(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    """The recipe setting runs `sqltune data augment` on the training pairs only: the held-out pairs
    stay the user's own, and the run records how many pairs were added."""
    from sqltune.inference.models import load_tokenizer
    from sqltune.schema import load_schema
    from sqltune.training.train import build_datasets

    tokenizer = load_tokenizer(str(tiny_model_dir))
    schema = load_schema(str(tiny_warehouse))
    plain = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, eval_fraction=0.2)
    train_plain, eval_plain, facts_plain, *_ = build_datasets(plain, tokenizer, schema)
    augmented = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, eval_fraction=0.2, augment_per_pair=1)
    train_aug, eval_aug, facts, *_ = build_datasets(augmented, tokenizer, schema)
    assert facts_plain["augmented_pairs"] == 0
    assert facts["augmented_pairs"] > 0  # 'North' and 'Boston' are named in their questions
    assert len(train_aug) == len(train_plain) + facts["augmented_pairs"]
    assert eval_aug["input_ids"] == eval_plain["input_ids"]
    texts = [tokenizer.decode(ids) for ids in train_aug["input_ids"]]
    assert any("South" in t for t in texts) or any("Denver" in t or "Austin" in t for t in texts)


# -- the library owns its checks: a Python caller gets what the CLI does -----------------------------
def _with_a_bad_pair(tmp_path, tiny_pairs_file) -> Path:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(tiny_pairs_file.read_text() + json.dumps({"id": "bad", "question": "Who runs it?",
                                                             "sql": "SELECT name FROM nowhere"}) + "\n")
    return bad


def test_train_from_python_refuses_invalid_pairs_as_the_cli_does(tmp_path, tiny_warehouse, tiny_pairs_file, capsys):
    """train() validates its pairs before any model is resolved (the base named here does not
    exist), and refuses with the CLI's message and problems."""
    from sqltune.cli import main as cli_main
    from sqltune.data.validate import InvalidPairsError

    bad = _with_a_bad_pair(tmp_path, tiny_pairs_file)
    config = TrainConfig(base=str(tmp_path / "no-such-model"), train_file=str(bad), db=str(tiny_warehouse),
                         output_dir=str(tmp_path / "adapter"), register=False)
    with pytest.raises(InvalidPairsError) as refused:
        train(config)
    assert [(p.pair_id, p.kind) for p in refused.value.problems] == [("bad", "missing_table")]
    assert not (tmp_path / "adapter").exists()
    code = cli_main(["train", "--model", str(tmp_path / "no-such-model"), "--data", str(bad), "--db", str(tiny_warehouse),
                     "--out", str(tmp_path / "adapter"), "--no-register"])
    assert code == 1
    assert str(refused.value).splitlines()[0] in capsys.readouterr().err


def test_train_sets_the_warehouse_dialect_and_reads_the_valid_pairs(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    """train() asks for the warehouse's dialect (the caller's config left as it was) and, with
    allow_invalid, trains on the valid pairs only, recorded as OUT/valid_pairs.jsonl."""
    from sqltune.training.train import training_pairs

    bad = _with_a_bad_pair(tmp_path, tiny_pairs_file)
    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, bad, allow_invalid=True)
    prepared = training_pairs(config)
    assert prepared.source == str(tmp_path / "adapter" / "valid_pairs.jsonl")
    assert "bad" not in {p.id for p in prepared.pairs} and len(prepared.pairs) == len(tiny_pairs_file.read_text().splitlines())
    seen = []

    class Stop(Exception):
        pass

    def progress(event: dict) -> None:
        seen.append(event)
        if event["event"] == "model":
            raise Stop  # the base is resolved and the inputs checked: enough

    with pytest.raises(Stop):
        train(config, progress=progress)
    assert seen[0] == {"event": "stage", "name": "validating the training pairs"}
    assert seen[-1]["dialect"] == "duckdb" and seen[-1]["path"] == str(tiny_model_dir)
    assert config.prompt.dialect is None and config.train_file == str(bad)  # the caller's config as it was


def test_the_step0_check_is_a_stage_whose_eta_counts_the_pairs_it_reads(monkeypatch, tmp_path, tiny_model_dir,
                                                                         tiny_warehouse, tiny_pairs_file):
    """Issue 28: "loading the model" said ~15 s and took 40 s; the step-0 check after the load (two
    forward passes over the 4 shortest pairs, whose prompts held a 1,000-token schema) was priced as
    a second load. Now it is a stage of its own, its ETA within 25% of the check's work at the
    CPU's measured matmul rate (injected here)."""
    import dataclasses

    from transformers import AutoModelForCausalLM

    import sqltune.inference.models as models
    import sqltune.training.train as train_module
    from sqltune.inference.models import DtypeProbe, load_tokenizer
    from sqltune.prompts import prompt_for_warehouse
    from sqltune.schema import load_schema
    from sqltune.training.examples import padded_length
    from sqltune.training.train import build_datasets

    gflops = 0.02
    probe = DtypeProbe("float32", {"float32": gflops, "bfloat16": gflops / 2, "float16": gflops / 2},
                       {"float32": 0.0, "bfloat16": 0.0, "float16": 0.0}, (1, 1, 1), 1)
    for module in (models, train_module):  # what the run's dtype and its step-0 ETA read
        monkeypatch.setattr(module, "dtype_probe", lambda refresh=False: probe)
        monkeypatch.setattr(module, "device", lambda: "cpu")
    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, eval_fraction=0.0)
    seen = []

    class Stop(Exception):
        pass

    def progress(event: dict) -> None:
        seen.append(event)
        if event.get("name") == "step-0 check":
            raise Stop  # announced before it runs: enough

    with pytest.raises(Stop):
        train(config, progress=progress)
    eta = seen[-1]["eta_s"]
    # the check's work: the 4 shortest training sequences, padded to the longest of them (fp32: no
    # multiple), through the whole model twice, the first pass paying one more in setup, 2 FLOPs per
    # weight and token, at half the probe's GFLOP/s (measured: trainer.STEP0_PASSES, STEP0_EFFICIENCY)
    run_config = dataclasses.replace(config, prompt=prompt_for_warehouse(config.prompt, str(tiny_warehouse)))
    lengths = sorted(build_datasets(run_config, load_tokenizer(str(tiny_model_dir)), load_schema(str(tiny_warehouse)))
                     .train["length"])[:4]
    params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).parameters())
    work_s = 3 * 4 * padded_length(max(lengths)) * 2 * params / (0.5 * gflops * 1e9)
    assert eta is not None and abs(eta - work_s) <= 0.25 * work_s, (eta, work_s)
    assert seen[-2]["event"] == "model"  # after the model stage, whose ETA is the load alone
