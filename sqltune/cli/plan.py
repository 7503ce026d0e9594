"""`sqltune plan`: how much memory would training take, QLoRA vs bf16 LoRA vs full fine-tuning."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from sqltune.cli.console import CliConsole
from sqltune.cli.options import config_options
from sqltune.training.config import TrainConfig


# The TrainConfig settings the estimate reads: each is `sqltune train`'s option, with its default.
PLAN_SETTINGS = ("base", "batch_size", "max_seq_len", "attention", "completion_only_loss", "gradient_checkpointing",
                 "optimizer", "fp32_non_quantized", "lora.r", "lora.target_modules", "lora.top_layers", "quant.double_quant")


@config_options(TrainConfig, only=PLAN_SETTINGS, panels={"lora": "LoRA", "quant": "Quantisation"})
def plan(
    config: Path = typer.Argument(
        None, help="Training config (YAML), or a recipe (a path or a shipped name, e.g. harbor-cpu): the run of its train section is estimated."
    ),
    completion_tokens: int = typer.Option(128, "--completion-tokens", min=1, help="Tokens of the SQL answer per sequence: only these go through the LM head under sqltune's completion-only loss (for a whole-sequence loss pass --no-completion-only-loss)."),
    fp32: bool = typer.Option(False, "--fp32", help="Training runs in fp32 (CPUs without bf16) instead of bf16."),
    # the spellings `sqltune plan` had before it took `sqltune train`'s (hidden, still accepted)
    seq_len: int = typer.Option(None, "--seq-len", min=16, hidden=True),
    lora_targets: str = typer.Option(None, "--lora-targets", hidden=True),
    no_checkpointing: bool = typer.Option(False, "--no-checkpointing", hidden=True),
    no_double_quant: bool = typer.Option(False, "--no-double-quant", hidden=True),
    top_layers: int = typer.Option(None, "--top-layers", min=1, hidden=True),
    *,
    overrides: dict,
) -> None:
    """Estimate peak training memory before training (no weights are loaded).

    The run `sqltune train` would make with the same config and options, at a batch of --batch-size
    pairs of --max-seq-len tokens, for QLoRA, bf16 LoRA and full fine-tuning."""
    from sqltune.cli.train import load_train_config
    from sqltune.training.plan import format_bytes, load_model_config, model_shape, plan_table, training_settings

    old = {"max_seq_len": seq_len, "lora.top_layers": top_layers,
           "gradient_checkpointing": False if no_checkpointing else None,
           "quant.double_quant": False if no_double_quant else None,
           "lora.target_modules": ([t.strip() for t in lora_targets.split(",") if t.strip()]
                                   if lora_targets and lora_targets != "all-linear" else None)}
    cfg = load_train_config(config, {**{k: v for k, v in old.items() if v is not None}, **overrides})
    shape = model_shape(load_model_config(cfg.base))
    upcast = cfg.fp32_non_quantized if cfg.fp32_non_quantized is not None else cfg.quant.compute_dtype == "float16"
    settings = training_settings(shape, cfg, seq_len=cfg.max_seq_len, completion_tokens=completion_tokens,
                                 dtype_bytes=4 if fp32 else 2, upcast_non_quantized=upcast)
    estimates = plan_table(shape, **settings)
    scored = settings["completion_tokens"] or cfg.max_seq_len
    top_layers = cfg.lora.top_layers
    title = (
        f"{cfg.base}: {shape.total_params / 1e6:.1f}M params, batch {cfg.batch_size} x {cfg.max_seq_len} tokens "
        f"({scored} scored), {settings['attention']} attention, "
        f"LoRA r={cfg.lora.r}{f' on the upper {top_layers} layers' if top_layers else ''}, "
        f"checkpointing {'on' if cfg.gradient_checkpointing else 'off'}, {settings['optimizer']}"
    )
    table = Table(title=title)
    table.add_column("")
    width = "fp32" if fp32 else "bf16"
    for est in estimates:
        table.add_column({"qlora": "QLoRA (NF4)", "lora": f"LoRA ({width})", "full": f"full ({width})"}[est.method], justify="right")
    for row in estimates[0].rows():
        table.add_row(row, *(format_bytes(est.rows()[row]) for est in estimates), style="bold" if row == "total peak" else None)
    table.add_row("trainable params", *(f"{est.trainable_params / 1e6:.2f}M" for est in estimates))
    console = CliConsole()
    console.print(table)
    console.print(
        "[dim]total peak = weights + adapter + gradients + optimizer + activations + the larger of logits and one layer "
        "in backward (the logits' gradients are freed before backward reaches the layers). Non-4-bit weights (embeddings, "
        "norms) and the adapter in the compute dtype, as sqltune trains. Excludes framework overhead (CUDA context, "
        "allocator caching): keep ~1 GiB headroom. On CPU this is the memory training itself holds at its peak: the "
        "resident size of a run with --return-freed-memory on `sqltune train` (freed memory handed back at once; "
        "slower steps). With glibc's defaults the resident size runs ~1.4-2x it (freed memory kept for reuse).[/]"
    )


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
