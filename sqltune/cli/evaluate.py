"""`sqltune eval score`: execution accuracy of predicted SQL against gold SQL on a warehouse."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from sqltune.cli.console import CliConsole
from sqltune.cli.options import config_options
from sqltune.evaluation.compare import MatchRules
from sqltune.evaluation.harness import EvalConfig
from sqltune.schema.roles import ALLOW_PRIVILEGED_ROLE_HELP

eval_app = typer.Typer(
    help="Evaluate a model (`sqltune eval --model ...`) or predicted SQL (`sqltune eval score ...`) by execution accuracy.",
    invoke_without_command=True,
    rich_markup_mode=None,
)

console = CliConsole()


def print_summary(report, paths=None) -> None:
    """The headline figures, error categories and report paths of one `EvalReport`."""
    from sqltune.evaluation.scores import HEADLINE_METRICS

    table = Table(title=f"{report.label}: {report.n} question(s)")
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    for name, attr in HEADLINE_METRICS:
        table.add_row(name, f"{100 * getattr(report, attr):.1f}%")
    for name, part in report.by_db.items():
        table.add_row(f"[dim]db {name}: EX (n={part.n})[/]", f"{100 * part.execution_accuracy:.1f}%")
    for category, count in report.categories.items():
        table.add_row(f"[dim]error: {category}[/]", str(count))
    console.print(table)
    console.print(f"[dim]{report.rules}[/]", highlight=False)
    if paths is not None:
        for kind in ("html", "markdown", "json"):
            console.print(f"{kind:>8}: {getattr(paths, kind)}", highlight=False)
    if report.undecided:
        console.print(f"[yellow]{report.undecided} question(s) undecided at the row cap: counted wrong; "
                      "raise --max-rows to decide them[/]", highlight=False)


@eval_app.command("score")
@config_options(MatchRules, panels={"": "Match rules"})
def score(
    data: Path = typer.Option(..., "--data", help="Gold pairs: JSONL, a JSON array (Spider/BIRD) or CSV, read by content."),
    pred: Path = typer.Option(
        ..., "--pred", help="Predictions: JSONL/JSON with id and sql (or pred), CSV, or one query per line in gold order."
    ),
    db: str = typer.Option(
        ..., "--db", help="A DuckDB or SQLite file, or an SQLAlchemy URL; or several: a folder (each row's db names "
        "<db>.duckdb, <db>.sqlite or <db>/<db>.sqlite there) or a template with {db}."
    ),
    out: Path = typer.Option(None, "--out", help="Write report.json, report.md and report.html here."),
    label: str = typer.Option("predictions", "--label", help="Name of this model form in the report."),
    workers: int = typer.Option(2, "--exec-workers", min=1, help="Queries executed in parallel."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds each query may run."),
    allow_privileged_role: bool = typer.Option(False, "--allow-privileged-role", help=ALLOW_PRIVILEGED_ROLE_HELP),
    *,
    overrides: dict,
) -> None:
    """Score predicted SQL against gold SQL by executing both on the warehouse."""
    from rich.progress import Progress

    from sqltune.core.config import load_config
    from sqltune.evaluation.report import write_report
    from sqltune.evaluation.scoring import score_files

    rules = load_config(MatchRules, None, overrides)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("executing", total=None)
        report = score_files(
            data, pred, db, rules=rules, label=label, workers=workers, timeout_s=timeout,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            allow_privileged_role=allow_privileged_role,
        )
    paths = write_report([report], out) if out is not None else None
    print_summary(report, paths)


@eval_app.callback()
@config_options(EvalConfig, panels={"rules": "Match rules", "decode": "Decoding"})
def run(
    ctx: typer.Context,
    config: Path = typer.Option(None, "--config", help="An eval config (YAML) or a recipe (its eval section); flags override it."),
    model: str = typer.Option(None, "--model", help="Base model: 'default' (embedded SmolLM2-135M), a local dir or a hub id."),
    adapter: Path = typer.Option(None, "--adapter", help="PEFT adapter folder (evaluated on the NF4 base it was trained on)."),
    merged: Path = typer.Option(None, "--merged", help="Merged checkpoint folder (from `sqltune merge`)."),
    compare_base: bool = typer.Option(False, "--compare-base", help="Also evaluate the prompt-only base, for the Harbor table."),
    out: Path = typer.Option(Path("runs/eval"), "--out", help="Report directory (report.html, report.md, report.json)."),
    *,
    overrides: dict,
) -> None:
    """Generate SQL with a model for every question, execute gold and predicted SQL, and report."""
    if ctx.invoked_subcommand is not None:
        return
    if model is None and adapter is None and merged is None:
        console.print(ctx.get_help())
        raise typer.Exit(0)
    if adapter is not None and merged is not None:
        raise typer.BadParameter("give --adapter or --merged, not both")
    from rich.progress import Progress

    from sqltune.core.config import load_config
    from sqltune.evaluation.harness import ModelForm, evaluate_forms
    from sqltune.pipeline import recipe_path

    base = model or "default"
    forms = []
    if compare_base or (adapter is None and merged is None):
        forms.append(ModelForm("prompt-only", base=base, prompt_source=str(adapter or merged) if (adapter or merged) else None))
    if adapter is not None:
        forms.append(ModelForm("adapter", base=base, adapter=str(adapter), quantized=True))
    if merged is not None:
        forms.append(ModelForm("merged", merged=str(merged)))
    eval_config = load_config(EvalConfig, recipe_path(str(config)) if config else None, overrides, section="eval")
    plain = not console.is_terminal  # a log file gets a progress line now and then, not a redrawn bar
    with Progress(console=console, transient=True, disable=plain) as bar:
        tasks: dict[str, int] = {}
        lines = PlainProgress(console) if plain else None

        def report_progress(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)
            if lines is not None:
                lines(label, done, total)

        reports, paths = evaluate_forms(forms, eval_config, out_dir=out, progress=report_progress)
    for report in reports:
        print_summary(report)
    for kind in ("html", "markdown", "json"):
        console.print(f"{kind:>8}: {getattr(paths, kind)}", highlight=False)


class PlainProgress:
    """Progress for a log file: `adapter: 40/272 answered, 2.1 s a question, about 8m10s left`,
    at most every 30 s per label, and when a label finishes."""

    def __init__(self, out: CliConsole, every_s: float = 30.0) -> None:
        self.out = out
        self.every_s = every_s
        self.started: dict[str, tuple[float, int]] = {}
        self.last: dict[str, float] = {}

    def __call__(self, label: str, done: int, total: int | None) -> None:
        import time

        from sqltune.training.budget import format_duration

        now = time.monotonic()
        began, first = self.started.setdefault(label, (now, done))
        finished = total is not None and done >= total
        if not finished and now - self.last.get(label, began) < self.every_s:
            return
        self.last[label] = now
        rate = (now - began) / (done - first) if done > first else None
        parts = [f"{label}: {done}/{total if total is not None else '?'}"]
        if rate is not None:
            parts.append(f"{rate:.1f} s a question")
            if total is not None and not finished:
                parts.append(f"about {format_duration(rate * (total - done))} left")
        self.out.print(", ".join(parts), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
