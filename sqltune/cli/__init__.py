"""The `sqltune` command line: thin commands over the library, one module per pipeline stage.

Each `sqltune/cli/<stage>.py` registers its commands on `app` through `register(app)`. Commands
parse options, call one library function and print; `main` turns any `SqltuneError` into one
line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click
import typer
from rich.console import Console
from rich.text import Text

from sqltune.core.errors import SqltuneError

app = typer.Typer(
    name="sqltune",
    help="Fine-tune a general LLM into a text-to-SQL model for one warehouse (QLoRA).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Stages in pipeline order; each module is optional until its stage lands.
STAGES = ["fixture", "schema", "data", "model", "plan", "train", "registry", "evaluate", "merge", "serve", "pipeline"]

err_console = Console(stderr=True)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _register_stages() -> None:
    for stage in STAGES:
        try:
            module = importlib.import_module(f"sqltune.cli.{stage}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sqltune.cli.{stage}":
                continue
            raise
        module.register(app)


_register_stages()


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        # With standalone_mode=False click returns (not raises) the code of a `typer.Exit(n)`.
        result = command.main(args=argv, prog_name="sqltune", standalone_mode=False)
        if isinstance(result, int) and result:
            return result
    except SqltuneError as exc:
        # The message is user data (paths, SQL, brackets): print it as plain text, unwrapped.
        err_console.print(Text("error: ", style="bold red") + Text(str(exc)), highlight=False, soft_wrap=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    return 0


def run() -> None:
    sys.exit(main())
