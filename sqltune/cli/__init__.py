"""The `sqltune` command line: thin commands over the library, one module per pipeline stage.

Each `sqltune/cli/<stage>.py` registers its commands through `register(app)`. The root group imports a
stage's module only when one of its commands runs or shows its own help (`COMMANDS` says which module
holds which command, the help panel it is listed under and its one-line summary), so `sqltune --help`
imports no stage, and no command's module imports FastAPI, torch or sqlglot before the command runs
(tests/test_cli_imports.py). Commands parse options, call one library function and print; `main` turns
any `SqltuneError` into one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import importlib
import logging
import sys
from difflib import get_close_matches
from typing import Any, NamedTuple

import typer
from rich.text import Text
from typer.core import TyperGroup

from sqltune.cli.console import CliConsole
from sqltune.cli.help import sectioned
from sqltune.core.errors import SqltuneError
from sqltune.core.progress import plain_progress_unless_terminal


class CommandEntry(NamedTuple):
    module: str  # sqltune/cli/<module>.py registers the command
    panel: str  # the help panel `sqltune --help` lists it under
    summary: str  # the first sentence of its help, shown in that list


MAIN_JOB = "The main job"
WAREHOUSE = "Your warehouse and pairs"
TRAINING = "Training"
EVALUATION = "Evaluation, merge and serving"

# Every command, in the order `sqltune --help` lists them (tests/test_cli_imports.py checks each summary
# against the command's own help).
COMMANDS: dict[str, CommandEntry] = {
    "run": CommandEntry("pipeline", MAIN_JOB, "Build the fixture, train a QLoRA adapter, evaluate prompt-only vs adapter vs merged, and report."),
    "fixture": CommandEntry("fixture", MAIN_JOB, "Build the fixture warehouses (Harbor retail + logistics, large multi-domain schema, ports seaport operations)."),
    "check": CommandEntry("schema", WAREHOUSE, "Can sqltune reach the warehouse --db?"),
    "schema": CommandEntry("schema", WAREHOUSE, "Inspect warehouse schemas and the schema text prompts show."),
    "data": CommandEntry("data", WAREHOUSE, "Question/SQL pairs: validate against a warehouse, split into train/test, augment by swapping values."),
    "model": CommandEntry("model", TRAINING, "Base models: the embedded default and local checkpoints."),
    "plan": CommandEntry("plan", TRAINING, "Estimate peak training memory before training (no weights are loaded)."),
    "train": CommandEntry("train", TRAINING, "Train a LoRA adapter on a 4-bit NF4 base (QLoRA) with the loss on the SQL only."),
    "registry": CommandEntry("registry", TRAINING, "Run records (train, merge, eval) kept in $SQLTUNE_HOME/registry.sqlite."),
    "eval": CommandEntry("evaluate", EVALUATION, "Evaluate a model (`sqltune eval --model ...`) or predicted SQL (`sqltune eval score ...`) by execution accuracy."),
    "merge": CommandEntry("merge", EVALUATION, "Merge a LoRA adapter into its base, save a standard checkpoint, and check it answers as the adapter does."),
    "serve": CommandEntry("serve", EVALUATION, "Serve the model over HTTP: POST /v1/sql, OpenAI-compatible /v1/chat/completions, docs at /docs, playground at /."),
    "export": CommandEntry("export", EVALUATION, "Hand a trained adapter to another server (vLLM): check it suits, print the command."),
}


class LazyStageGroup(TyperGroup):
    """The root command. `sqltune --help` lists `COMMANDS` from their summaries, under their panels;
    any other use of a command (running it, its own help) imports its stage module and builds it then."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if cmd_name not in self.commands:
            self._load(entry.module)
        return self.commands.get(cmd_name)

    def _load(self, module_name: str) -> None:
        module = importlib.import_module(f"sqltune.cli.{module_name}")
        stage = typer.Typer(rich_markup_mode=None)
        module.register(stage)
        for name, command in typer.main.get_group(sectioned(stage)).commands.items():
            command.rich_help_panel = COMMANDS[name].panel  # type: ignore[attr-defined]
            self.add_command(command, name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-") and not ctx.resilient_parsing:
            matches = get_close_matches(name, list(COMMANDS))  # every command, loaded or not
            ctx.fail(f"No such command {name!r}." + (f" Did you mean {', '.join(map(repr, matches))}?" if matches else ""))
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        panels: dict[str, list[tuple[str, str]]] = {}
        for name, entry in COMMANDS.items():
            panels.setdefault(entry.panel, []).append((name, entry.summary))
        for panel, rows in panels.items():
            with formatter.section(panel):
                formatter.write_dl(rows)


app = typer.Typer(
    name="sqltune",
    help="Fine-tune a general LLM into a text-to-SQL model for one warehouse (QLoRA).",
    cls=LazyStageGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain output: a usage error is the usage line, a hint and one error line
)

err_console = CliConsole(stderr=True)


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
