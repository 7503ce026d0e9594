"""Memory plan: checked against a real 4-bit model and against the tensors autograd really keeps."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sqltune.cli import main  # noqa: E402
from sqltune.core.errors import ConfigError  # noqa: E402
from sqltune.training.plan import estimate_memory, model_shape, plan_table  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def tiny_config(**overrides):
    values = dict(
        hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=1024, tie_word_embeddings=True, max_position_embeddings=512,
    )
    values.update(overrides)
    return transformers.LlamaConfig(**values)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(tiny_config(), dtype=torch.bfloat16)
    model.save_pretrained(path)
    return path


def test_param_count_matches_real_model():
    cfg = tiny_config(tie_word_embeddings=False)
    real = transformers.AutoModelForCausalLM.from_config(cfg)
    shape = model_shape(cfg)
    assert shape.total_params == sum(p.numel() for p in real.parameters())
    names = {ln.name for ln in shape.quantizable}
    assert "lm_head" not in names and len(names) == 7 * cfg.num_hidden_layers


def _quantized(path, double_quant=True):
    bnb = transformers.BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=double_quant,
        bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_storage=torch.bfloat16,
    )
    return transformers.AutoModelForCausalLM.from_pretrained(path, quantization_config=bnb, dtype=torch.bfloat16, device_map="cpu")


@pytest.mark.parametrize("double_quant", [True, False])
def test_base_weights_match_bitsandbytes_footprint(tiny_checkpoint, double_quant):
    model = _quantized(tiny_checkpoint, double_quant)
    footprint = model.get_memory_footprint()  # parameters + buffers; absmax scales live outside
    scales = 0
    for p in model.parameters():
        state = getattr(p, "quant_state", None)
        if state is not None:
            scales += state.absmax.numel() * state.absmax.element_size()
            if state.nested:
                scales += state.state2.absmax.numel() * state.state2.absmax.element_size()
    assert scales > 0
    est = estimate_memory(tiny_config(), method="qlora", double_quant=double_quant, upcast_non_quantized=False)
    assert abs(est.base_weights - footprint) / footprint < 0.15
    assert abs(est.base_weights - (footprint + scales)) / (footprint + scales) < 0.03
    # what training holds after peft's prepare_model_for_kbit_training upcasts the 16-bit weights
    peft = pytest.importorskip("peft")
    prepared = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    upcast = estimate_memory(tiny_config(), method="qlora", double_quant=double_quant)
    assert upcast.base_weights > est.base_weights
    assert abs(upcast.base_weights - (prepared.get_memory_footprint() + scales)) / upcast.base_weights < 0.03


def test_lora_params_match_peft():
    peft = pytest.importorskip("peft")
    cfg = tiny_config()
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    model = peft.get_peft_model(model, peft.LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert estimate_memory(cfg, method="qlora", lora_r=8, lora_targets=["q_proj", "v_proj"]).trainable_params == trainable
    assert estimate_memory(cfg, lora_r=8, lora_targets="all-linear").trainable_params > trainable


def _saved_tensor_bytes(model, batch, seq, vocab):
    """Bytes autograd keeps for backward in one forward pass (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    ids = torch.randint(0, vocab, (batch, seq))
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, labels=ids)
    return sum(seen.values())


def _model_for(method, checkpoint, checkpointing, attention="sdpa"):
    """The trainable model each method builds, as sqltune's trainer builds it (bf16 compute: the
    4-bit base's other weights and the adapter in bf16)."""
    peft = pytest.importorskip("peft")
    if method == "qlora":
        model = peft.prepare_model_for_kbit_training(
            _quantized(checkpoint), use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
        for param in model.parameters():
            if param.dtype == torch.float32:
                param.data = param.data.to(torch.bfloat16)
    else:
        model = transformers.AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.bfloat16)
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
    model.set_attn_implementation(attention)
    if method != "full":
        model = peft.get_peft_model(model, peft.LoraConfig(r=8, target_modules=TARGETS, lora_dropout=0.0))
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.data = param.data.to(torch.bfloat16)
    return model


@pytest.mark.parametrize(
    "method, checkpointing, attention",
    [("lora", False, "sdpa"), ("qlora", False, "sdpa"), ("qlora", True, "sdpa"), ("full", False, "sdpa"),
     ("qlora", False, "eager"), ("qlora", True, "eager"), ("lora", False, "eager")],
)
def test_activation_formula_matches_autograd(tiny_checkpoint, method, checkpointing, attention):
    cfg = tiny_config()
    torch.manual_seed(0)
    model = _model_for(method, tiny_checkpoint, checkpointing, attention)
    batch, seq = 2, 128
    measured = _saved_tensor_bytes(model, batch, seq, cfg.vocab_size)
    kwargs = dict(method=method, lora_r=8, lora_targets=TARGETS, batch_size=batch, seq_len=seq, attention=attention,
                  upcast_non_quantized=False)
    est = estimate_memory(cfg, **kwargs, gradient_checkpointing=checkpointing)
    # autograd keeps the fp32 log-softmax of every position (the whole-sequence loss of model(labels=...))
    expected = est.activations + batch * seq * cfg.vocab_size * 4
    assert abs(expected - measured) / measured < 0.1, (expected, measured)


def test_methods_order_and_knobs():
    cfg = tiny_config(vocab_size=32000)
    qlora, lora, full = plan_table(cfg, batch_size=2, seq_len=256, upcast_non_quantized=False)
    assert [e.method for e in (qlora, lora, full)] == ["qlora", "lora", "full"]
    assert qlora.base_weights < lora.base_weights == full.base_weights
    assert qlora.total < lora.total < full.total
    # a small model with a big vocabulary: the fp32 embedding of a prepared 4-bit model outweighs the rest
    upcast = estimate_memory(cfg, method="qlora", batch_size=2, seq_len=256)
    assert upcast.base_weights > lora.base_weights
    assert full.optimizer == 8 * full.total_params
    # the peak holds what lives all run and the kept activations, plus the larger of the logits and
    # one layer's backward (the logits' gradients are freed before backward reaches the layers)
    rows = qlora.rows()
    assert qlora.total == (rows["base weights"] + rows["adapter"] + rows["gradients"] + rows["optimizer"]
                           + rows["activations"] + max(rows["logits"], rows["one layer in backward"]))
    kwargs = dict(method="qlora", batch_size=2, seq_len=256)
    assert estimate_memory(cfg, **kwargs, gradient_checkpointing=False).activations > estimate_memory(cfg, **kwargs).activations
    assert estimate_memory(cfg, **kwargs, double_quant=False).base_weights > estimate_memory(cfg, **kwargs).base_weights
    # adapters in the compute dtype (bf16): AdamW keeps two 2-byte moments, 8-bit AdamW two 1-byte ones plus scales
    assert estimate_memory(cfg, **kwargs, optimizer="paged_adamw_8bit").optimizer < 0.6 * estimate_memory(cfg, **kwargs).optimizer
    assert estimate_memory(cfg, method="lora", batch_size=4, seq_len=256).logits == 2 * lora.logits


@pytest.mark.parametrize(
    "bad", [dict(method="dora"), dict(optimizer="sgd"), dict(lora_targets=["nope"]), dict(seq_len=0), dict(dtype_bytes=3)]
)
def test_bad_settings_are_config_errors(bad):
    with pytest.raises(ConfigError):
        estimate_memory(tiny_config(), **bad)


def test_cli_plan_prints_three_methods(tiny_checkpoint, capsys):
    assert main(["plan", "--model", str(tiny_checkpoint), "--batch-size", "2", "--seq-len", "64"]) == 0
    out = capsys.readouterr().out
    for word in ("QLoRA", "LoRA (bf16)", "full", "total peak", "logits"):
        assert word in out


def test_plan_options_are_train_options_with_train_defaults():
    """`sqltune plan` takes `sqltune train`'s options for what it estimates: same flags, same defaults."""
    import click
    import typer.main

    from sqltune.cli import app
    from sqltune.cli.plan import PLAN_SETTINGS
    from sqltune.core.config import settings_of
    from sqltune.training.config import TrainConfig

    group = typer.main.get_command(app)
    context = click.Context(group)
    options = {name: {tuple(p.opts): p for p in group.get_command(context, name).params} for name in ("plan", "train")}
    infos = {i.path: i for i in settings_of(TrainConfig)}
    for path in PLAN_SETTINGS:
        flags = next(opts for opts in options["train"] if infos[path].flag in opts)
        plan_option, train_option = options["plan"][flags], options["train"][flags]
        assert plan_option.default is None and train_option.default is None  # unset: the TrainConfig default stands
        assert plan_option.show_default == train_option.show_default, path
        assert plan_option.help == train_option.help, path


def test_cli_plan_estimates_the_default_training_run(tiny_checkpoint, monkeypatch, capsys):
    """With no options, the estimate is of `TrainConfig()`'s run: batch 8 x 1024 tokens, LoRA r=16 on
    every projection, checkpointing on (the plan used batch 4 x 512 before)."""
    import sqltune.training.plan as plan_module
    from sqltune.training.config import TrainConfig

    seen = {}
    real = plan_module.plan_table

    def spy(shape, **kwargs):
        seen.update(kwargs)
        return real(shape, **kwargs)

    monkeypatch.setattr(plan_module, "plan_table", spy)
    assert main(["plan", "--model", str(tiny_checkpoint)]) == 0
    default = TrainConfig()
    assert (seen["batch_size"], seen["seq_len"], seen["lora_r"]) == (default.batch_size, default.max_seq_len, default.lora.r)
    assert seen["lora_targets"] == default.lora.target_modules and seen["gradient_checkpointing"] is True
    assert seen["double_quant"] is default.quant.double_quant and seen["lora_layers"] is None
    # the old spellings still work, hidden
    assert main(["plan", "--model", str(tiny_checkpoint), "--seq-len", "64", "--no-checkpointing", "--top-layers", "2"]) == 0
    assert (seen["seq_len"], seen["gradient_checkpointing"], seen["lora_layers"]) == (64, False, [2, 3])
    assert main(["plan", "--model", str(tiny_checkpoint), "--max-seq-len", "96", "--lora-top-layers", "1"]) == 0
    assert (seen["seq_len"], seen["lora_layers"]) == (96, [3])


def test_cli_plan_unknown_model_is_one_line_error(tmp_path, capsys):
    assert main(["plan", "--model", str(tmp_path / "missing")]) != 0
    assert "model not found" in capsys.readouterr().err


def test_upper_layers_only_lora_matches_peft_and_autograd(tiny_checkpoint):
    """LoRA on the upper layers only (train.lora.top_layers): fewer trainable parameters, and
    backward keeps nothing below the lowest adapted layer."""
    peft = pytest.importorskip("peft")
    cfg = tiny_config()
    upper = [2, 3]
    torch.manual_seed(0)
    model = peft.prepare_model_for_kbit_training(_quantized(tiny_checkpoint), use_gradient_checkpointing=False)
    model = peft.get_peft_model(model, peft.LoraConfig(r=8, target_modules=TARGETS, lora_dropout=0.0, layers_to_transform=upper))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    kwargs = dict(method="qlora", lora_r=8, lora_targets=TARGETS, batch_size=2, seq_len=128, gradient_checkpointing=False)
    est = estimate_memory(cfg, **kwargs, lora_layers=upper)
    assert est.trainable_params == trainable == estimate_memory(cfg, **kwargs).trainable_params // 2
    measured = _saved_tensor_bytes(model, 2, 128, cfg.vocab_size)
    expected = est.activations + 2 * 128 * cfg.vocab_size * 4
    assert abs(expected - measured) / measured < 0.1, (expected, measured)
    assert est.activations < estimate_memory(cfg, **kwargs).activations * 0.6
