"""`sqltune export vllm`: does vLLM's LoRA loader take the adapter; if so, the `vllm serve` command."""

from __future__ import annotations

import typer

from sqltune.cli.console import CliConsole
from sqltune.cli.options import config_options
from sqltune.export.vllm import VllmExportConfig

console = CliConsole()
export_app = typer.Typer(help="Hand a trained adapter to another server (vLLM): check it suits, print the command.",
                         no_args_is_help=True, rich_markup_mode=None)


@export_app.command("vllm")
@config_options(VllmExportConfig)
def vllm_command(*, overrides: dict) -> None:
    """Check that vLLM's LoRA loader takes the adapter (naming every reason it would not) and print `vllm serve ...`."""
    from sqltune.cli.options import MissingOption
    from sqltune.core.config import load_config
    from sqltune.export.vllm import check_for_vllm, write_script

    config = load_config(VllmExportConfig, None, overrides)
    if not config.adapter:
        raise MissingOption("--adapter")
    export = check_for_vllm(config)
    if not export.ok:
        console.print(f"vLLM's LoRA loader would refuse {export.adapter_dir}:", highlight=False)
        for reason in export.reasons:
            console.print(f"  - {reason.message} [{reason.code}]", highlight=False, markup=False)
        raise typer.Exit(1)
    console.print(export.command_line(), highlight=False, markup=False, soft_wrap=True)
    console.print("")
    for line in export.notes:
        console.print(f"note: {line}", highlight=False, markup=False)
    if export.prompt:
        import json

        console.print("prompt settings: " + json.dumps(export.prompt, sort_keys=True), highlight=False, markup=False)
    if config.out:
        console.print(f"written: {write_script(export, config.out)}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
