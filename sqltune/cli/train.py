"""`sqltune train CONFIG.yaml`: QLoRA training; flags override the config's fields."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def load_train_config(config: Path | None, overrides: dict):
    from sqltune.core.config import from_dict, load_yaml
    from sqltune.training.train import TrainConfig

    if config is None:
        data = {k: v for k, v in overrides.items() if v is not None and "." not in k}
        nested: dict = {}
        for key, value in overrides.items():
            if value is not None and "." in key:
                head, leaf = key.split(".", 1)
                nested.setdefault(head, {})[leaf] = value
        return from_dict(TrainConfig, {**data, **nested}, "flags")
    from sqltune.pipeline import recipe_path

    return load_yaml(TrainConfig, recipe_path(str(config)), overrides, section="train")


def train(
    config: Path = typer.Argument(
        None, help="Training config (YAML), or a recipe (a path or a name in sqltune/recipes/, e.g. harbor-cpu): its train section."
    ),
    base: str = typer.Option(None, "--base", help="Base model: 'default', a local dir or a hub id."),
    train_file: str = typer.Option(None, "--train-file", help="Question/SQL pairs (JSONL or CSV)."),
    db: str = typer.Option(None, "--db", help="Warehouse the schema is read from."),
    output_dir: str = typer.Option(None, "--output-dir", help="Adapter output folder."),
    method: str = typer.Option(None, "--method", help="qlora (NF4 base) or lora (bf16 base baseline)."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop after N optimizer steps."),
    num_epochs: float = typer.Option(None, "--epochs", help="Epochs over the training pairs."),
    batch_size: int = typer.Option(None, "--batch-size"),
    learning_rate: float = typer.Option(None, "--lr"),
    lora_r: int = typer.Option(None, "--lora-r"),
    max_examples: int = typer.Option(None, "--max-examples", help="Train on N pairs only."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in the output folder."),
) -> None:
    """Train a LoRA adapter on a 4-bit NF4 base (QLoRA) with the loss on the SQL only."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from sqltune.training.train import train as run_train

    overrides = {
        "base": base, "train_file": train_file, "db": db, "output_dir": output_dir, "method": method,
        "max_steps": max_steps, "num_epochs": num_epochs, "batch_size": batch_size,
        "learning_rate": learning_rate, "lora.r": lora_r, "max_examples": max_examples,
    }
    cfg = load_train_config(config, overrides)
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("training", total=None, loss="")

        def on_event(event: dict) -> None:
            total = event.get("total") or None
            if event["event"] == "step":
                bar.update(task, completed=event["step"], total=total)
            elif "loss" in event:
                bar.update(task, loss=f"loss {event['loss']:.3f}")
            elif "eval_loss" in event:
                bar.console.print(f"step {event['step']}: eval loss {event['eval_loss']:.4f}")

        result = run_train(cfg, resume=resume, progress=on_event)
    print_train_result(result)


def print_train_result(result) -> None:
    r = result.record
    table = Table(title=f"run {result.run_id}")
    table.add_column("")
    table.add_column("", justify="right")
    rows = [
        ("adapter", str(result.adapter_dir)),
        ("trainable parameters", f"{result.trainable_params:,} of {result.total_params:,} ({100 * result.trainable_params / result.total_params:.2f}%)"),
        ("steps", str(result.steps)),
        ("wall time", f"{result.wall_s:.0f} s"),
        ("tokens/s", f"{result.tokens_per_s:.0f}"),
        ("peak RSS", f"{result.peak_rss_bytes / 2**20:.0f} MiB"),
        ("model + training memory (measured)", f"{r['model_training_rss_bytes'] / 2**20:.0f} MiB" if r.get("model_training_rss_bytes") else "-"),
        ("model + training memory (sqltune plan)", f"{r['estimated_peak_bytes'] / 2**20:.0f} MiB" if r.get("estimated_peak_bytes") else "-"),
        ("final train loss", f"{result.final_train_loss:.4f}" if result.final_train_loss is not None else "-"),
        ("eval loss", f"{result.eval_loss:.4f}" if result.eval_loss is not None else "-"),
        ("adapter size", f"{r['adapter_bytes'] / 2**20:.1f} MiB"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
