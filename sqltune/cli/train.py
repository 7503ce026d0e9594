"""`sqltune train [CONFIG]`: QLoRA training; every TrainConfig field is a flag that overrides the file."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from sqltune.cli.console import CliConsole
from sqltune.cli.options import config_options
from sqltune.training.config import TrainConfig
from sqltune.training.distributed import this_process

console = CliConsole()


def load_train_config(config: str | Path | None, overrides: dict):
    """A TrainConfig from a YAML file or a recipe's train section (when given), then the CLI overrides."""
    from sqltune.core.config import load_config
    from sqltune.pipeline import recipe_path
    from sqltune.training.config import TrainConfig

    path = recipe_path(str(config)) if config is not None else None
    return load_config(TrainConfig, path, overrides, section="train")


# `sqltune train --help` in sections; the inputs, output and method stay under Options.
_TRAIN_SECTIONS = {
    "Schedule and time budget": "num_epochs max_steps time_budget budget_evals curve_snapshots max_examples augment_per_pair "
                                "eval_fraction eval_steps select_by_execution execution_patience save_steps save_total_limit "
                                "logging_steps seed",
    "Optimisation": "completion_only_loss batch_size grad_accum learning_rate lr_scheduler warmup_steps weight_decay optimizer "
                    "max_seq_len group_by_length pad_to_multiple_of",
    "Speed and memory": "attention cache_lower_layers fit_pairs_to_budget gradient_checkpointing return_freed_memory "
                        "fp32_non_quantized num_threads",
    "Checks": "max_trainable_fraction step0_check",
    "Tracking": "report_to",
    "Processes": "num_processes",
}
TRAIN_PANELS = {path: panel for panel, paths in _TRAIN_SECTIONS.items() for path in paths.split()}


@config_options(TrainConfig, panels={"quant": "Quantisation", "lora": "LoRA", "prompt": "Prompt"}, field_panels=TRAIN_PANELS)
def train(
    config: Path = typer.Argument(
        None, help="Training config (YAML), or a recipe (a path or a shipped name, e.g. harbor-cpu): its train section."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in the output folder."),
    *,
    overrides: dict,
) -> None:
    """Train a LoRA adapter on a 4-bit NF4 base (QLoRA) with the loss on the SQL only."""
    from sqltune.core.errors import SqltuneError

    began = time.monotonic()  # the time budget bounds the whole command, validation and loading included
    cfg = load_train_config(config, overrides)
    processes = this_process()
    if cfg.num_processes > 1 and not processes.distributed:
        from sqltune.training.distributed import launch_processes

        raise typer.Exit(launch_processes(cfg, resume=resume))  # they print; this process only waits
    console.quiet = not processes.is_main  # several processes: rank 0 reports for all
    try:
        result = train_with_progress(cfg, resume, began)
    except SqltuneError as exc:
        if processes.is_main:
            raise
        raise typer.Exit(exc.exit_code) from None  # rank 0 reports it (the others failed alike, or waited on it)
    finally:
        processes.end()
    print_train_result(result)


def train_with_progress(cfg, resume: bool, began: float):
    """The library's training run, its progress events shown as stage lines, a bar or plain lines."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from sqltune.cli.stages import StageReporter, model_prepare_eta
    from sqltune.evaluation.judge import judge_for_training
    from sqltune.training.train import require_inputs, train as run_train

    require_inputs(cfg)  # before the judge opens the warehouse (train() checks it again for library callers)
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    plain = not console.is_terminal  # a log file gets periodic plain lines, not a redrawn bar
    with Progress(*columns, console=console, disable=plain) as bar:
        task = bar.add_task("training", total=None, loss="")
        stages = StageReporter(bar.console, bar, task)

        def on_event(event: dict) -> None:
            # before training: train() validates the pairs, resolves the base, then loads it
            if event["event"] == "stage":
                stages.start(event["name"], eta_s=event.get("eta_s"))
                return
            if event["event"] == "validate":
                bar.update(task, completed=event["done"], total=event["total"])
                return
            if event["event"] == "model":
                bar.update(task, completed=0, total=None)
                stages.start(  # the step-0 check, when it runs, is a stage of its own with its own ETA
                    "loading the model", eta_s=model_prepare_eta(event["path"], quantized=event["quantized"]),
                    note=f"prompts ask for {event['dialect'] or 'the schema dialect'} SQL",
                )
                return
            total = event.get("total") or None
            if stages.name is not None and stages.name != "training":
                stages.start("training", note=f"{total or '?'} steps")
            if event["event"] == "step":
                bar.update(task, completed=event["step"], total=total)
            elif event["event"] == "log":
                bar.update(task, loss=f"loss {event['loss']:.3f}")
                if plain:
                    console.print(event["line"], highlight=False)
            elif event["event"] in ("budget", "note"):
                console.print(event["line"], highlight=False)
            elif event["event"] == "plan":
                console.print(("plan: " if event["kind"] == "planned" else "re-planned: ") + event["summary"], highlight=False)
            elif event["event"] == "eval":
                console.print(f"step {event['step']}: held-out loss {event['eval_loss']:.4f} at {event['minutes']:.1f} min", highlight=False)

        with judge_for_training(cfg) as judge:
            result = run_train(cfg, resume=resume, progress=on_event, started=began, judge=judge)
        stages.finish()
    return result


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
        ("model + training memory (measured)", f"{r['model_training_rss_bytes'] / 2**20:.0f} MiB resident" if r.get("model_training_rss_bytes") else "-"),
        ("model + training memory (allocated)", f"{r['model_training_allocated_bytes'] / 2**20:.0f} MiB in use at the peak" if r.get("model_training_allocated_bytes") else "-"),
        ("model + training memory (sqltune plan)", f"{r['estimated_peak_bytes'] / 2**20:.0f} MiB" if r.get("estimated_peak_bytes") else "-"),
        ("final train loss", f"{result.final_train_loss:.4f}" if result.final_train_loss is not None else "-"),
        ("eval loss", f"{result.eval_loss:.4f}" if result.eval_loss is not None else "-"),
        ("compute dtype", f"{r['compute_dtype']}" + (f" (measured: " + ", ".join(f"{k} {v:.0f}" for k, v in r["dtype_probe"]["gflops"].items()) + " GFLOP/s)" if r.get("dtype_probe") else "")),
        ("time budget plan", (f"{r['budget_plan']['max_steps']} steps = {r['budget_plan']['pairs']} pairs = {r['budget_plan']['epochs']:.2f} epochs"
                              if r.get("budget_plan") else "-")),
        ("adapter size", f"{r['adapter_bytes'] / 2**20:.1f} MiB"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
