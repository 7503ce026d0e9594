"""`sqltune serve`: question -> SQL over HTTP, with guarded execution and a playground page."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def serve_command(
    db: str = typer.Option(..., "--db", help="Warehouse: DuckDB file or SQLAlchemy URL (schema for prompts, execution)."),
    base: str = typer.Option(None, "--base", help="Base model (default: the embedded SmolLM2-135M-Instruct)."),
    adapter: list[str] = typer.Option([], "--adapter", help="NAME=DIR of a LoRA adapter; repeat for several."),
    merged: Path = typer.Option(None, "--merged", help="A merged checkpoint to serve instead of base + adapters."),
    default_adapter: str = typer.Option(None, "--default-adapter", help="Adapter for requests that name none (default: the first)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port"),
    audit_log: Path = typer.Option(None, "--audit-log", help="Append one JSON line per request to this file."),
    workers: int = typer.Option(1, "--workers", help="Generation threads."),
    max_queue: int = typer.Option(8, "--max-queue", help="Requests that may wait; beyond: 503 + Retry-After."),
    max_rows: int = typer.Option(100, "--max-rows", help="Most rows returned per request."),
    timeout: float = typer.Option(5.0, "--timeout", help="Query time limit in seconds."),
    queue_timeout: float = typer.Option(30.0, "--queue-timeout", help="Seconds a request may wait to start generating; then 503."),
    allow_privileged_role: bool = typer.Option(
        False, "--allow-privileged-role",
        help="Run generated SQL even as a PostgreSQL superuser or a role that can write (not recommended).",
    ),
) -> None:
    """Serve the model over HTTP: POST /v1/sql, GET /healthz, docs at /docs, playground at /."""
    from sqltune.serve.app import ServeSettings
    from sqltune.serve.launch import launch, parse_adapter_specs

    settings = ServeSettings(
        db=db, default_adapter=default_adapter, workers=workers, max_queue=max_queue, max_rows=max_rows,
        query_timeout_s=timeout, queue_timeout_s=queue_timeout, audit_log=str(audit_log) if audit_log else None,
        allow_privileged_role=allow_privileged_role,
    )
    adapters = parse_adapter_specs(adapter)
    console = Console(stderr=True)
    console.print(f"sqltune: loading the model, then serving on http://{host}:{port}  (playground /, API docs /docs)", highlight=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print("[yellow]note:[/] listening beyond localhost; there is no authentication", highlight=False)
    launch(settings, base=base, adapters=adapters, merged=str(merged) if merged else None, host=host, port=port)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
