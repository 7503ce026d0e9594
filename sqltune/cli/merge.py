"""`sqltune merge`: adapter + 16-bit base -> a standard checkpoint for serving, with an equivalence check."""

from __future__ import annotations

import typer
from rich.table import Table

from sqltune.cli.console import CliConsole
from sqltune.cli.options import config_options
from sqltune.merge.config import MergeConfig

console = CliConsole()


@config_options(MergeConfig)
def merge_command(*, overrides: dict) -> None:
    """Merge a LoRA adapter into its base, save a standard checkpoint, and check it answers as the adapter does."""
    from sqltune.cli.options import MissingOption
    from sqltune.cli.stages import StageReporter
    from sqltune.core.config import load_config
    from sqltune.merge import run_merge

    cfg = load_config(MergeConfig, None, overrides)
    for flag, value in (("--adapter", cfg.adapter), ("--out", cfg.out_dir)):
        if not value:
            raise MissingOption(flag)
    stages = StageReporter(console)
    stages.start("reading the adapter" + (", the check questions and the warehouse schema" if cfg.n_check else ""))
    result = run_merge(cfg, progress=lambda event: _stage(stages, event))
    stages.finish()
    print_merge_result(result)
    if result.passed is False:
        raise typer.Exit(1)


def _stage(stages, event: dict) -> None:
    """One stage line per step of the merge (the library's progress events), with an ETA for the model load."""
    from sqltune.cli.stages import model_prepare_eta

    name = event.get("stage", "")
    if name == "load":
        # the 4-bit base (check, dequantized form) and the 16-bit one: about a quantised load
        stages.start("loading the base model", eta_s=model_prepare_eta(event.get("base", ""), quantized=True),
                     note=str(event.get("base", "")))
    elif name == "merge":
        stages.start(f"merging into the {event.get('base_form')} weights (fp32)")
    elif name == "references":
        stages.start("loading the unmerged adapter on each base form (the check's references)")
    elif name == "logits":
        stages.start("check: comparing logits on the check prompts")
    elif name == "generate":
        stages.start(f"check: greedy SQL of {event.get('model')}")
    elif name == "save":
        stages.start("saving and reloading the checkpoint", note=str(event.get("out_dir", "")))
    else:
        stages.start(" ".join([name, *(str(v) for k, v in event.items() if k not in ("event", "stage"))]).strip())


def print_merge_result(result) -> None:
    if result.comparisons:
        table = Table(title=f"{result.n_questions} check question(s), {result.dtype}; saved: merged_{result.base_form}")
        table.add_column("model", no_wrap=True)
        table.add_column("vs", no_wrap=True)
        for name in ("same SQL", "max|Δ|", "mean|Δ|", "top-1"):
            table.add_column(name, justify="right", no_wrap=True)
        for c in result.comparisons:
            mark = " *" if c.model == f"merged_{result.base_form}" and c.reference == result.reference else ""
            table.add_row(f"{c.model}{mark}", c.reference, "-" if c.sql_agreement is None else f"{c.sql_agreement:.0%}", f"{c.logits.max_abs:.4f}",
                          f"{c.logits.mean_abs:.5f}", f"{c.logits.top1_agreement:.1%}")
        console.print(table)
        tol = result.tolerance
        console.print(f"merged_*: saved weights computed in fp32; adapter_original/_dequantized: the unmerged adapter in fp32; "
                      f"adapter_nf4: the adapter as trained. logits: |Δ| over every prompt position and vocabulary entry; "
                      f"top-1: same next token. * must stay within mean {tol.logits_mean_abs:g}, max {tol.logits_max_abs:g}"
                      f", same SQL >= {tol.sql_agreement:.0%}", highlight=False)
    if result.passed is None:
        console.print("[yellow]equivalence not checked[/] (--n-check 0)")
    elif result.passed:
        console.print("[green]equivalence check passed[/]")
    else:
        console.print(f"[bold red]equivalence check failed:[/] {'; '.join(result.failures)}", highlight=False)
    console.print(f"merged checkpoint ({result.base_form} base, {result.dtype}): {result.out_dir}", highlight=False)
    console.print(f"run {result.run_id}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("merge")(merge_command)
