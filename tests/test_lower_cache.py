"""Upper-layer training on cached lower-layer outputs: same numbers as the whole model, a plan that
fits the budget, and an adapter that loads back like any other."""

from __future__ import annotations

import re

import pytest
import torch

from sqltune.core.errors import ConfigError
from sqltune.training.lower_cache import (ReusePlan, cache_lower_outputs, decoder_layers, expected_batch_width,
                                          held_out_seconds, held_out_to_keep, pad_cached, pairs_that_fit,
                                          upper_layers_only)
from sqltune.training.train import LoraSettings, TrainConfig, train


def _peft_model(tiny_model_dir, top_layers: int):
    from peft import LoraConfig, get_peft_model

    from sqltune.inference.models import QuantConfig, load_model

    model = load_model(str(tiny_model_dir), quant=QuantConfig())
    layers = model.config.num_hidden_layers
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                             layers_to_transform=list(range(layers - top_layers, layers))))
    torch.manual_seed(1)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # a trained-looking adapter, so the upper layers really differ from the base
            param.data.normal_(0, 0.5)
    return model.eval()


def test_upper_layers_on_cached_outputs_equal_the_whole_model(tiny_model_dir):
    model = _peft_model(tiny_model_dir, top_layers=1)
    cut = model.config.num_hidden_layers - 1
    torch.manual_seed(0)
    sequences = [torch.randint(5, 90, (n,)).tolist() for n in (3, 9, 6, 12)]
    cached = cache_lower_outputs(model, sequences, cut, pad_token_id=0, batch_size=3)
    assert [h.shape[0] for h in cached] == [len(s) for s in sequences]
    layers_before = list(decoder_layers(model))
    batch = pad_cached(cached, [[-100] * len(s) for s in sequences])
    core = model.get_base_model()
    with torch.no_grad():
        with upper_layers_only(model, cut):
            upper = core.model(inputs_embeds=batch["inputs_embeds"], use_cache=False).last_hidden_state
        assert list(decoder_layers(model)) == layers_before  # the lower layers are back after the block
        for row, seq in enumerate(sequences):
            whole = core.model(input_ids=torch.tensor([seq]), use_cache=False).last_hidden_state[0]
            assert torch.allclose(upper[row, :len(seq)].float(), whole.float(), atol=1e-2, rtol=1e-2), row


def test_padding_to_a_multiple_changes_widths_not_results(tiny_model_dir):
    """Batches padded up to a multiple of 8 (fewer distinct shapes for the matmul kernels): the
    cached outputs and the upper layers' outputs of the real tokens are those of the unpadded run."""
    model = _peft_model(tiny_model_dir, top_layers=1)
    cut = model.config.num_hidden_layers - 1
    torch.manual_seed(0)
    sequences = [torch.randint(5, 90, (n,)).tolist() for n in (3, 9, 6, 12)]
    plain = cache_lower_outputs(model, sequences, cut, pad_token_id=0, batch_size=3)
    padded = cache_lower_outputs(model, sequences, cut, pad_token_id=0, batch_size=3, pad_to_multiple_of=8)
    assert [h.shape[0] for h in padded] == [len(s) for s in sequences]  # kept unpadded, per pair
    for a, b in zip(plain, padded):
        assert torch.allclose(a.float(), b.float(), atol=1e-2, rtol=1e-2)
    labels = [list(range(len(s))) for s in sequences]
    batch = pad_cached(padded, labels, pad_to_multiple_of=8)
    assert batch["inputs_embeds"].shape[1] == 16 and batch["labels"].shape == (4, 16)
    assert batch["attention_mask"].sum(1).tolist() == [len(s) for s in sequences]
    assert (batch["labels"][0, 3:] == -100).all()  # the padding is never scored
    core = model.get_base_model()
    unpadded = pad_cached(padded, labels)
    assert unpadded["inputs_embeds"].shape[1] == 12
    with torch.no_grad(), upper_layers_only(model, cut):
        wide = core.model(inputs_embeds=batch["inputs_embeds"], attention_mask=batch["attention_mask"],
                          use_cache=False).last_hidden_state
        narrow = core.model(inputs_embeds=unpadded["inputs_embeds"], attention_mask=unpadded["attention_mask"],
                            use_cache=False).last_hidden_state
    for row, seq in enumerate(sequences):
        assert torch.allclose(wide[row, :len(seq)].float(), narrow[row, :len(seq)].float(), atol=1e-2, rtol=1e-2)


def test_the_plain_collator_and_the_memory_plan_pad_to_the_multiple(tiny_model_dir):
    from sqltune.inference.models import load_tokenizer
    from sqltune.training.examples import TokenizedExample, batch_multiple, largest_batch_shape, padded_length
    from sqltune.training.train import _collator

    assert [padded_length(n, 32) for n in (1, 32, 33, 223)] == [32, 32, 64, 224]
    assert batch_multiple(None, 2) == 32 and batch_multiple(None, 4) == 1 and batch_multiple(8, 4) == 8
    assert padded_length(223, 1) == 223
    tokenizer = load_tokenizer(str(tiny_model_dir))
    rows = [{"input_ids": list(range(5, 5 + n)), "completion_mask": [0] * (n - 2) + [1, 1]} for n in (7, 19)]
    assert _collator(tokenizer, 16)(rows)["input_ids"].shape == (2, 32)
    assert _collator(tokenizer, 1)(rows)["input_ids"].shape == (2, 19)
    examples = [TokenizedExample(str(n), list(range(n)), [1, 2, 3]) for n in (10, 40)]
    assert largest_batch_shape(examples, 2, 32) == (64, 3) and largest_batch_shape(examples, 2) == (43, 3)


@pytest.mark.parametrize("budget_s,expected_pairs", [(1000.0, 1000), (100.0, 100), (10.0, 10), (0.0, 8)])
def test_pairs_that_fit_the_budget(budget_s, expected_pairs):
    # 0.4 s to cache a pair, 0.3 s per pair and epoch: 2 epochs cost 1.0 s per pair
    plan = pairs_that_fit(budget_left_s=budget_s, total_pairs=1000, cache_s_per_pair=0.4, step_s_per_pair=0.3,
                          epochs=2.0, min_pairs=8)
    assert plan.pairs == expected_pairs
    if 8 < expected_pairs < 1000:
        assert plan.pairs * (0.4 + 2 * 0.3) <= budget_s and plan.epochs == pytest.approx(2.0)


def test_held_out_pairs_shrink_with_the_pairs_the_budget_trains():
    # 105 of 3,868 pairs fit: caching and evaluating 77 held-out pairs would cost more than training
    assert held_out_to_keep(77, 105, 3868, min_keep=8) == 8
    assert held_out_to_keep(77, 813, 3868, min_keep=8) == 17
    assert held_out_to_keep(77, 3868, 3868, min_keep=8) == 77  # every pair trains: the held-out set stays whole
    assert held_out_to_keep(5, 10, 3868, min_keep=8) == 5      # never more than there are
    assert held_out_to_keep(0, 10, 3868, min_keep=8) == 0


def test_held_out_cost_counts_caching_and_each_evaluation():
    # 10 pairs: cached once (0.5 s each) and 4 evaluations of a forward pass (a third of 0.3 s)
    assert held_out_seconds(10, 0.5, 0.3, 4) == pytest.approx(10 * (0.5 + 4 * 0.1))


def test_a_plan_file_without_held_out_still_loads():
    plan = ReusePlan(**{"pairs": 8, "of_pairs": 10, "cache_s_per_pair": 0.1, "step_s_per_pair": 0.2, "epochs": 1.0})
    assert plan.held_out is None


def test_all_pairs_when_the_budget_leaves_more_epochs():
    plan = pairs_that_fit(budget_left_s=5000.0, total_pairs=1000, cache_s_per_pair=0.4, step_s_per_pair=0.3, epochs=2.0)
    assert plan.pairs == 1000 and plan.epochs == pytest.approx((5000 - 400) / 300)


def test_expected_batch_width_is_the_mean_longest_of_random_batches():
    import random

    lengths = [random.Random(i).randint(20, 300) for i in range(200)]
    assert expected_batch_width([50] * 30, 8) == pytest.approx(50)
    assert expected_batch_width(lengths, 1) == pytest.approx(sum(lengths) / len(lengths))
    assert expected_batch_width(lengths, len(lengths)) == pytest.approx(max(lengths))
    assert expected_batch_width(lengths, 500) == pytest.approx(max(lengths))  # a batch larger than the set
    draws = random.Random(0)
    sampled = sum(max(draws.sample(lengths, 8)) for _ in range(20000)) / 20000
    assert expected_batch_width(lengths, 8) == pytest.approx(sampled, rel=0.01)
    assert expected_batch_width([], 8) == 0.0


def _config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, **overrides) -> TrainConfig:
    config = TrainConfig(base=str(tiny_model_dir), train_file=str(tiny_pairs_file), db=str(tiny_warehouse),
                         output_dir=str(tmp_path / "adapter"), batch_size=4, learning_rate=2e-2, warmup_steps=0,
                         eval_fraction=0.2, eval_steps=2, save_steps=2, logging_steps=1, register=False,
                         step0_check=False, cache_lower_layers=True,
                         lora=LoraSettings(r=4, alpha=8, dropout=0.0, top_layers=1))
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def test_cached_training_changes_upper_adapters_and_loads_back(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    from peft import PeftModel
    from safetensors.torch import load_file

    from sqltune.inference.models import QuantConfig, load_model

    config = _config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=6)
    result = train(config)
    assert result.steps == 6
    facts = result.record["data"]["lower_cache"]
    assert facts["first_trained_layer"] == 1 and facts["pairs"] == result.record["data"]["train_pairs"]
    assert facts["cached_tokens"] > 0 and result.eval_loss is not None
    # the default multiple follows the compute dtype: 32 in bf16, 1 in fp32; the batches trained were that wide
    multiple = result.record["data"]["pad_to_multiple_of"]
    assert multiple == (32 if result.record["compute_dtype"] in ("bfloat16", "float16") else 1)
    assert result.record["largest_batch"]["seq_len"] % multiple == 0
    tensors = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    assert tensors and all(".layers.1." in k for k in tensors), list(tensors)[:4]
    assert any(t.abs().sum() > 0 for k, t in tensors.items() if "lora_B" in k)  # the upper adapters trained
    model = PeftModel.from_pretrained(load_model(str(tiny_model_dir), quant=QuantConfig()), str(result.adapter_dir))
    assert len(decoder_layers(model)) == 2  # saved from the whole model: no pass-through left behind


def test_cached_training_under_a_budget_picks_pairs_and_epochs(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    lines = []
    config = _config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, time_budget="10m", num_epochs=2.0)
    result = train(config, progress=lambda e: lines.append(e["line"]) if e.get("line") else None)
    facts = result.record["data"]["lower_cache"]
    assert 4 <= facts["pairs"] <= result.record["data"]["pairs_available"]
    assert result.steps <= 2 * -(-facts["pairs"] // 4)  # --epochs stays the upper bound, over the cached pairs
    assert any("cached once" in line for line in lines), lines
    assert (result.adapter_dir / "lower_cache_plan.json").exists()
    # the cache plan's "about N epochs" are the passes the run makes (--epochs bounds them), not the
    # thousands a 10-minute budget would buy at the tiny model's speed (issue 28: plans agree with runs)
    said = float(re.search(r"about ([\d.]+) epochs", next(line for line in lines if "cached once" in line)).group(1))
    assert said <= 2.0 and abs(said - result.record["budget_plan"]["epochs"]) <= 0.25 * said


def test_cache_needs_adapters_on_upper_layers_only(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    config = _config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=2,
                     lora=LoraSettings(r=4, alpha=8, dropout=0.0))
    with pytest.raises(ConfigError, match="top_layers"):
        train(config)


def test_recipe_for_a_deeper_model_trains_every_layer(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    """top_layers=8 on a 2-layer model: nothing to cache, so the run trains the whole model and says so."""
    lines = []
    config = _config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=2,
                     lora=LoraSettings(r=4, alpha=8, dropout=0.0, top_layers=8))
    result = train(config, progress=lambda e: lines.append(e["line"]) if e.get("line") else None)
    assert result.steps == 2 and "lower_cache" not in result.record["data"]
    assert any("nothing below the adapters to cache" in line for line in lines), lines


@pytest.mark.parametrize("fit_pairs", [False, True])
def test_a_budget_keeps_every_pair_unless_the_recipe_fits_pairs_to_it(tmp_path, tiny_model_dir, tiny_warehouse,
                                                                     tiny_pairs_file, monkeypatch, fit_pairs):
    """Measured costs where one pass over all pairs fits the budget but two do not: a user's pairs
    are all kept (the budget decides the passes); only fit_pairs_to_budget trains on fewer."""
    import sqltune.training.lower_cache as lower_cache

    real = lower_cache.time_costs

    def slow_costs(*args, **kwargs):
        _, _, first = real(*args, **kwargs)
        return 0.4, 18.0, first  # s/pair caching, s/pair a pass: 20 pairs = 368 s one pass, 728 s two

    monkeypatch.setattr(lower_cache, "time_costs", slow_costs)
    config = _config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, time_budget="10m", num_epochs=2.0,
                     max_steps=2, fit_pairs_to_budget=fit_pairs)
    facts = train(config).record["data"]
    if fit_pairs:
        assert facts["lower_cache"]["pairs"] < facts["pairs_available"]
    else:
        assert facts["lower_cache"]["pairs"] == facts["pairs_available"] == 20


def test_held_out_pairs_shrink_when_not_one_pass_fits(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file,
                                                      monkeypatch):
    """A run that can train on only a few of its pairs caches and evaluates a held-out set in
    proportion, and says so (the held-out caching and evaluations count in the plan)."""
    import sqltune.training.lower_cache as lower_cache

    real = lower_cache.time_costs

    def slow_costs(*args, **kwargs):
        _, _, first = real(*args, **kwargs)
        return 0.4, 60.0, first  # one pass over 20 pairs: 1,208 s, past a 10-minute budget

    monkeypatch.setattr(lower_cache, "time_costs", slow_costs)
    lines = []
    config = _config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, time_budget="10m", num_epochs=2.0,
                     max_steps=2, eval_fraction=0.4)
    facts = train(config, progress=lambda e: lines.append(e["line"]) if e.get("line") else None).record["data"]
    assert facts["lower_cache"]["pairs"] < facts["pairs_available"]
    assert facts["eval_pairs"] == 4, facts  # the batch size: the least a loss curve keeps
    assert any(line.startswith("held-out loss on 4 of the ") for line in lines), "\n".join(lines)
