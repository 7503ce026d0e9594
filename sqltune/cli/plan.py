"""`sqltune plan`: how much memory would training take, QLoRA vs bf16 LoRA vs full fine-tuning."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table


def plan(
    model: str = typer.Option(None, "--model", help="Local checkpoint dir (default: the embedded SmolLM2-135M-Instruct)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Sequences per step (per device)."),
    seq_len: int = typer.Option(512, "--seq-len", help="Tokens per sequence (the longest batch's, padded)."),
    completion_tokens: int = typer.Option(128, "--completion-tokens", min=1, help="Tokens of the SQL answer per sequence: only these go through the LM head under sqltune's completion-only loss (for a whole-sequence loss pass the sequence length)."),
    attention: str = typer.Option("auto", "--attention", help="Attention kernel: auto (as training picks it: eager on CPU, SDPA elsewhere), eager (keeps every layer's L x L scores) or sdpa."),
    lora_r: int = typer.Option(16, "--lora-r", help="LoRA rank."),
    lora_targets: str = typer.Option("all-linear", "--lora-targets", help="Comma-separated module names, or all-linear."),
    no_checkpointing: bool = typer.Option(False, "--no-checkpointing", help="Estimate without gradient checkpointing."),
    optimizer: str = typer.Option("adamw_torch", "--optimizer", help="adamw_torch, adamw_8bit, paged_adamw_8bit, ..."),
    no_double_quant: bool = typer.Option(False, "--no-double-quant", help="4-bit without double quantisation."),
    fp32: bool = typer.Option(False, "--fp32", help="Training runs in fp32 (CPUs without bf16) instead of bf16."),
    top_layers: int = typer.Option(None, "--top-layers", min=1, help="LoRA on the upper N decoder layers only (train.lora.top_layers)."),
) -> None:
    """Estimate peak training memory before training (no weights are loaded)."""
    from sqltune.inference.models import attention_implementation
    from sqltune.training.plan import format_bytes, load_model_config, model_shape, plan_table, upper_layers

    kernel = attention_implementation(attention) or "sdpa"
    shape = model_shape(load_model_config(model))
    targets = lora_targets if lora_targets == "all-linear" else [t.strip() for t in lora_targets.split(",") if t.strip()]
    estimates = plan_table(
        shape, lora_r=lora_r, lora_targets=targets, batch_size=batch_size, seq_len=seq_len,
        completion_tokens=min(completion_tokens, seq_len), attention=kernel,
        gradient_checkpointing=not no_checkpointing, optimizer=optimizer, double_quant=not no_double_quant,
        upcast_non_quantized=False, dtype_bytes=4 if fp32 else 2, lora_layers=upper_layers(shape.num_layers, top_layers),
    )
    title = (
        f"{model or 'default base'}: {shape.total_params / 1e6:.1f}M params, batch {batch_size} x {seq_len} tokens "
        f"({min(completion_tokens, seq_len)} scored), {kernel} attention, "
        f"LoRA r={lora_r}{f' on the upper {top_layers} layers' if top_layers else ''}, checkpointing {'off' if no_checkpointing else 'on'}, {optimizer}"
    )
    table = Table(title=title)
    table.add_column("")
    width = "fp32" if fp32 else "bf16"
    for est in estimates:
        table.add_column({"qlora": "QLoRA (NF4)", "lora": f"LoRA ({width})", "full": f"full ({width})"}[est.method], justify="right")
    for row in estimates[0].rows():
        table.add_row(row, *(format_bytes(est.rows()[row]) for est in estimates), style="bold" if row == "total peak" else None)
    table.add_row("trainable params", *(f"{est.trainable_params / 1e6:.2f}M" for est in estimates))
    console = Console()
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
