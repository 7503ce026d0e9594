"""`sqltune schema show --db SOURCE`: what sqltune reads from a warehouse, and what a prompt shows of it;
`sqltune check --db SOURCE`: can sqltune reach it (the source may also be given as the old positional argument)."""

from __future__ import annotations

import typer
from rich.table import Table as RichTable
from rich.text import Text

from sqltune.cli.console import CliConsole
from sqltune.cli.options import option_or_positional
from sqltune.schema.roles import ALLOW_PRIVILEGED_ROLE_HELP

console = CliConsole()

SOURCE_HELP = ("DuckDB/SQLite file, .sql file or directory of DDL (pg_dump -s, mysqldump --no-data), a database URL "
               "(postgresql://...), env:VAR (URL in an environment variable) or profile:NAME (~/.sqltune/profiles.yaml).")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Inspect warehouse schemas and the schema text prompts show.", no_args_is_help=True, rich_markup_mode=None)

    @sub.command("show")
    def show(
        source_arg: str = typer.Argument(None, hidden=True, metavar="SOURCE", help="Old spelling of --db."),
        source: str = typer.Option(None, "--db", help=SOURCE_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the schema model as JSON."),
        as_text: bool = typer.Option(False, "--text", help="Print the schema text a prompt would show."),
        question: str = typer.Option(None, "--question", "-q", help="Show the prompt schema for this question."),
        max_tokens: int = typer.Option(None, "--max-tokens", help="Schema token budget (default: PromptConfig's)."),
        samples: int = typer.Option(3, "--samples", help="Sample values read per column (0: none)."),
        db_schema: str = typer.Option(None, "--db-schema", help="Database schema to read from a URL source."),
        no_comments: bool = typer.Option(False, "--no-comments", help="Leave comments out of the schema text."),
        timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds to connect and to run each catalog query."),
    ) -> None:
        """Read the warehouse --db and print a summary, its JSON, its prompt text, or the pruned prompt for a question."""
        source = option_or_positional(source, source_arg, "--db")
        from sqltune.prompts import PromptConfig, approx_token_count, build_messages, schema_for_question
        from sqltune.schema import load_schema
        from sqltune.schema.render import render_schema

        schema = load_schema(source, samples_per_column=samples, db_schema=db_schema, timeout_s=timeout)
        config = PromptConfig(include_comments=not no_comments, dialect=schema.dialect)
        if max_tokens is not None:
            config.max_schema_tokens = max_tokens
        if as_json:
            typer.echo(schema.to_json())
            return
        if question:
            selected = schema_for_question(schema, question, config)
            state = "pruned" if selected.pruned else "whole schema fits"
            console.print(
                f"[bold]{len(selected.kept)}[/] of {len(schema.tables)} tables, ~{selected.tokens} tokens "
                f"(budget {config.max_schema_tokens}, {state}): {', '.join(selected.kept)}",
                highlight=False,
            )
            typer.echo(build_messages(schema, question, config)[1]["content"])
            return
        text = render_schema(schema, config.render_options)
        if as_text:
            typer.echo(text)
            return
        console.print(_summary(schema))
        console.print(
            f"{len(schema.tables)} tables, {sum(len(t.columns) for t in schema.tables)} columns, "
            f"dialect {schema.dialect}; schema text ~{approx_token_count(text)} tokens",
            highlight=False,
        )

    app.add_typer(sub, name="schema")

    @app.command("check")
    def check(
        db_arg: str = typer.Argument(None, hidden=True, metavar="DB", help="Old spelling of --db."),
        db: str = typer.Option(None, "--db", help=SOURCE_HELP),
        timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds each step may take (connect, schema, query)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        allow_privileged_role: bool = typer.Option(False, "--allow-privileged-role", help=ALLOW_PRIVILEGED_ROLE_HELP),
    ) -> None:
        """Can sqltune reach the warehouse --db? Connect, read the schema, run SELECT 1, and on PostgreSQL check the role can
        only read (as every command that runs SQL requires); report the dialect and each step's time."""
        import json

        from sqltune.schema.check import check_source

        db = option_or_positional(db, db_arg, "--db")
        result = check_source(db, timeout_s=timeout, allow_privileged_role=allow_privileged_role)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2))
        else:
            for step in result.steps:
                mark = "[green]ok[/]  " if step.ok else "[bold red]FAIL[/]"
                console.print(f"{mark} {step.name:<8} {step.seconds:7.3f} s  ", Text(step.detail), highlight=False)
            tables = "-" if result.tables is None else str(result.tables)
            console.print(f"{result.source}: {result.kind or '?'}, dialect {result.dialect or 'unknown'}, {tables} tables",
                          highlight=False, markup=False)
        if not result.ok:
            raise typer.Exit(1)


def _summary(schema) -> RichTable:
    table = RichTable(title=f"schema {schema.name}", show_lines=False)
    table.add_column("table", no_wrap=True)
    table.add_column("cols", justify="right", min_width=4)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("primary key", min_width=12, overflow="fold")
    table.add_column("references", min_width=12, overflow="fold")
    table.add_column("comment", overflow="fold")
    for t in schema.tables:
        refs = ", ".join(sorted({fk.ref_table for fk in t.foreign_keys}))
        rows = "" if t.row_count is None else f"{t.row_count:,}"
        comment = (t.comment or "").replace("\n", " ")
        table.add_row(t.name, str(len(t.columns)), rows, ", ".join(t.primary_key), refs, comment)
    return table
