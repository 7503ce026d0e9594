"""`sqltune serve`: question -> SQL over HTTP, with guarded execution and a playground page."""

from __future__ import annotations

from pathlib import Path

import typer

from sqltune.cli.console import CliConsole
from sqltune.cli.options import config_options
from sqltune.serve.settings import ServeSettings  # sqltune/serve/__init__.py imports FastAPI: `serve --help` does too


@config_options(ServeSettings, panels={"": "Limits and wiring"})
def serve_command(
    model: str = typer.Option(None, "--model", help="Base model (default: the embedded SmolLM2-135M-Instruct)."),
    adapter: list[str] = typer.Option([], "--adapter", help="NAME=DIR of a LoRA adapter; repeat for several."),
    merged: Path = typer.Option(None, "--merged", help="A merged checkpoint to serve instead of base + adapters."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    *,
    overrides: dict,
) -> None:
    """Serve the model over HTTP: POST /v1/sql, OpenAI-compatible /v1/chat/completions, docs at /docs, playground at /."""
    from sqltune.core.config import load_config
    from sqltune.serve.launch import launch, parse_adapter_specs

    settings = load_config(ServeSettings, None, overrides)
    adapters = parse_adapter_specs(adapter)
    console = CliConsole(stderr=True)
    console.print(f"sqltune: loading the model, then serving on http://{host}:{port}  (playground /, API docs /docs)", highlight=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print("[yellow]note:[/] listening beyond localhost; there is no authentication", highlight=False)
    launch(settings, base=model, adapters=adapters, merged=str(merged) if merged else None, host=host, port=port)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
