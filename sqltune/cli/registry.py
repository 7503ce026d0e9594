"""`sqltune registry list|show`: the run records of train, merge and eval runs."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from sqltune.cli.console import CliConsole

registry_app = typer.Typer(help="Run records (train, merge, eval) kept in $SQLTUNE_HOME/registry.sqlite.", no_args_is_help=True, rich_markup_mode=None)

REGISTRY_OPTION = typer.Option(None, "--registry", help="Registry database file (default: $SQLTUNE_HOME/registry.sqlite).")


def _scalar_metrics(metrics: dict, limit: int = 4) -> str:
    parts = []
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
        if len(parts) == limit:
            break
    return " ".join(parts)


@registry_app.command("list")
def list_runs(
    kind: str = typer.Option(None, "--kind", help="Only runs of this kind: train, merge or eval."),
    limit: int = typer.Option(50, "--limit", help="At most this many runs, newest first."),
    registry: Path = REGISTRY_OPTION,
) -> None:
    """List runs, newest first."""
    from sqltune.core.registry import Registry

    runs = Registry(registry).list(kind=kind, limit=limit)
    table = Table(title=f"{len(runs)} run(s)")
    for column in ("run id", "kind", "created", "status", "base model", "parent", "metrics"):
        table.add_column(column, overflow="fold")
    for run in runs:
        table.add_row(
            run.run_id, run.kind, run.created_at, run.status, Path(run.base_model).name or run.base_model,
            run.parent_run_id or "", _scalar_metrics(run.metrics),
        )
    CliConsole().print(table)


@registry_app.command("show")
def show_run(
    run_id: str = typer.Argument(..., help="A run id, or a unique prefix of one."),
    registry: Path = REGISTRY_OPTION,
) -> None:
    """Print one run record as JSON."""
    from sqltune.core.registry import Registry

    record = Registry(registry).get(run_id)
    CliConsole().print_json(json.dumps(record.to_dict(), default=str))


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")
