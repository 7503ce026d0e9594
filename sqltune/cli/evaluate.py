"""`sqltune eval score`: execution accuracy of predicted SQL against gold SQL on a warehouse."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

eval_app = typer.Typer(help="Evaluate text-to-SQL predictions by execution accuracy.", no_args_is_help=True)

console = Console()


def print_summary(report, paths=None) -> None:
    """The headline figures, error categories and report paths of one `EvalReport`."""
    from sqltune.evaluate import HEADLINE_METRICS

    table = Table(title=f"{report.label}: {report.n} question(s)")
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    for name, attr in HEADLINE_METRICS:
        table.add_row(name, f"{100 * getattr(report, attr):.1f}%")
    for category, count in report.categories.items():
        table.add_row(f"[dim]error: {category}[/]", str(count))
    console.print(table)
    console.print(f"[dim]{report.rules}[/]", highlight=False)
    if paths is not None:
        for kind in ("html", "markdown", "json"):
            console.print(f"{kind:>8}: {getattr(paths, kind)}", highlight=False)


@eval_app.command("score")
def score(
    gold: Path = typer.Option(..., "--gold", help="Gold pairs (JSONL/CSV with question and sql)."),
    pred: Path = typer.Option(
        ..., "--pred", help="Predictions: JSONL with id and sql (or pred), or one query per line in gold order."
    ),
    db: str = typer.Option(..., "--db", help="Warehouse: a DuckDB file or a PostgreSQL SQLAlchemy URL."),
    out: Path = typer.Option(None, "--out", help="Write report.json, report.md and report.html here."),
    label: str = typer.Option("predictions", "--label", help="Name of this model form in the report."),
    order: str = typer.Option("auto", "--order", help="Row order: auto (only when gold has ORDER BY), ignore, strict."),
    duplicates: str = typer.Option("multiset", "--duplicates", help="Rows as a multiset (Spider) or a set (BIRD)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Queries executed in parallel."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds each query may run."),
) -> None:
    """Score predicted SQL against gold SQL by executing both on the warehouse."""
    from rich.progress import Progress

    from sqltune.compare import MatchRules
    from sqltune.evaluate import score_files
    from sqltune.report import write_report

    rules = MatchRules(order=order, duplicates=duplicates)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("executing", total=None)
        report = score_files(
            gold, pred, db, rules=rules, label=label, workers=workers, timeout_s=timeout,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    paths = write_report([report], out) if out is not None else None
    print_summary(report, paths)


# -- `sqltune eval run` (generate with a model, then score) goes here; it shares `eval_app`. --


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
