"""The `sqltune` command line: thin commands over the library, one module per pipeline stage.

Each `sqltune/cli/<stage>.py` registers its commands on `app` through `register(app)`. Commands
parse options, call one library function and print; `main` turns any `SqltuneError` into one
line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer
from rich.console import Console
from rich.text import Text

from sqltune.core.errors import SqltuneError
from sqltune.core.progress import plain_progress_unless_terminal

app = typer.Typer(
    name="sqltune",
    help="Fine-tune a general LLM into a text-to-SQL model for one warehouse (QLoRA).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click output: a usage error is the usage line, a hint and one error line
)

# Stages in pipeline order; each module is optional until its stage lands.
STAGES = ["fixture", "schema", "data", "model", "plan", "train", "registry", "evaluate", "merge", "serve", "pipeline"]

err_console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"sqltune {version('sqltune')}")
        except PackageNotFoundError:
            typer.echo("sqltune (not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_mask_log_record)
    if not verbose:
        quiet_library_warnings()
    plain_progress_unless_terminal()  # a log file gets sqltune's stage lines, not redrawn tqdm bars


def _mask_log_record(record: logging.LogRecord) -> bool:
    """No log line shows a database password (URLs in messages and arguments are masked)."""
    from sqltune.core.connections import mask_secrets

    record.msg = mask_secrets(record.getMessage())
    record.args = None
    return True


def quiet_library_warnings() -> None:
    """Warnings meant for library developers (deprecations, optional kernels), not for a user."""
    import warnings

    for category in (FutureWarning, DeprecationWarning, UserWarning):
        for module in ("transformers", "peft", "trl", "torch", "bitsandbytes", "accelerate", "datasets", "sqlalchemy"):
            warnings.filterwarnings("ignore", category=category, module=module)
    # sqlglot warns per statement it parses loosely (sqltune reports what it skips itself); the ML
    # libraries log advice for their developers (cache settings, deprecated arguments, tokenizer forks).
    for name in ("bitsandbytes", "transformers", "accelerate", "peft", "trl", "datasets", "sqlglot"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
    """Run the CLI; returns the exit code. Usage errors: click's usage line, hint and one error line,
    exit 2. A `SqltuneError`: one line, its own exit code. Anything else is a bug: a traceback."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="sqltune", standalone_mode=True)
    except SqltuneError as exc:
        # The message is user data (paths, SQL, brackets): print it as plain text, unwrapped.
        from sqltune.core.connections import mask_secrets

        err_console.print(Text("error: ", style="bold red") + Text(mask_secrets(str(exc))), highlight=False, soft_wrap=True)
        return exc.exit_code
    except SystemExit as exc:  # click's standalone mode exits with the command's code (2 for usage errors)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def run() -> None:
    sys.exit(main())
