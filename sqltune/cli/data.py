"""`sqltune data ...`: validate question/SQL pair files against a warehouse, split them, augment them.

The pairs are `--data FILE` (the old positional FILE still works), gold-query workers `--exec-workers`
(old spelling `--workers`), as in `train` and `eval`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from sqltune.cli.console import CliConsole
from sqltune.cli.options import exec_workers, option_or_positional
from sqltune.schema.roles import ALLOW_PRIVILEGED_ROLE_HELP

console = CliConsole()


def _stratify_option(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Question/SQL pairs: validate against a warehouse, split into train/test, augment by swapping values.", no_args_is_help=True, rich_markup_mode=None)

    @sub.command("validate")
    def validate(
        file_arg: Path = typer.Argument(None, hidden=True, metavar="FILE", help="Old spelling of --data."),
        file: Path = typer.Option(None, "--data", help="Pairs: JSONL or CSV with question and sql (id, db, difficulty, tags optional)."),
        db: str = typer.Option(..., "--db", help="Warehouse: a DuckDB file, a database URL, env:VAR or profile:NAME (SQL runs on DuckDB and PostgreSQL; others: schema checks only)."),
        against: Path = typer.Option(None, "--against", help="The other split: report questions that appear in both."),
        timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds each gold query may run."),
        workers: int = typer.Option(None, "--exec-workers", min=1, show_default="2", help="Gold queries executed in parallel."),
        workers_old: int = typer.Option(None, "--workers", min=1, hidden=True, help="Old spelling of --exec-workers."),
        show: int = typer.Option(20, "--show", min=0, help="How many problems to list."),
        as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON instead of a table."),
        allow_privileged_role: bool = typer.Option(False, "--allow-privileged-role", help=ALLOW_PRIVILEGED_ROLE_HELP),
    ) -> None:
        """Check every gold SQL parses, runs, returns rows and names real tables; find duplicates and leaks.
        Exits non-zero when anything is wrong."""
        from rich.progress import Progress

        from sqltune.data.validate import validate_file

        file = option_or_positional(file, file_arg, "--data")
        workers = exec_workers(workers, workers_old)

        with Progress(console=CliConsole(stderr=True), transient=True) as bar:
            task = bar.add_task("validating", total=None)
            report, _ = validate_file(
                file, db, against=against, workers=workers, timeout_s=timeout,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                allow_privileged_role=allow_privileged_role,
            )
        if as_json:
            console.print_json(json.dumps(report.to_dict()))
        else:
            _print_report(file, report, show)
        if not report.ok:
            raise typer.Exit(1)

    @sub.command("split")
    def split(
        file_arg: Path = typer.Argument(None, hidden=True, metavar="FILE", help="Old spelling of --data."),
        file: Path = typer.Option(None, "--data", help="Pairs to split (JSONL or CSV)."),
        out: Path = typer.Option(..., "--out", help="Folder for train.jsonl, test.jsonl and split.json."),
        test_fraction: float = typer.Option(0.1, "--test-fraction", min=0.0, max=0.99, help="Share of questions in the test split."),
        seed: int = typer.Option(0, "--seed", help="Shuffle seed; the same seed and pairs give the same split."),
        stratify: str = typer.Option("difficulty", "--stratify", help="Comma-separated: difficulty, tags, db (empty: none)."),
        db: str = typer.Option(None, "--db", help="Warehouse to validate the gold SQL on first (without: only records and duplicates are checked)."),
        allow_invalid: bool = typer.Option(False, "--allow-invalid", help="Split without the pairs that fail validation instead of refusing."),
        timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds each gold query may run."),
        allow_privileged_role: bool = typer.Option(False, "--allow-privileged-role", help=ALLOW_PRIVILEGED_ROLE_HELP),
    ) -> None:
        """Validate, then a stratified, leak-free train/test split (pairs sharing a question stay together)."""
        from sqltune.data import split_pairs, write_split
        from sqltune.data.validate import require_valid_pairs

        file = option_or_positional(file, file_arg, "--data")

        pairs = require_valid_pairs(file, db, allow_invalid=allow_invalid, timeout_s=timeout,
                                    allow_privileged_role=allow_privileged_role)
        if db is None:
            CliConsole(stderr=True).print("[dim]gold SQL not executed: pass --db to check it on the warehouse[/]")
        result = split_pairs(pairs, test_fraction=test_fraction, seed=seed, stratify=_stratify_option(stratify))
        target = write_split(result, out)
        summary = result.summary()
        table = Table(title=f"split of {file} (seed {seed})")
        for name in ("stratum", "train", "test"):
            table.add_column(name, justify="left" if name == "stratum" else "right")
        for name, counts in summary["strata"].items():
            table.add_row(name, str(counts["train"]), str(counts["test"]))
        table.add_row("[bold]total[/]", str(len(result.train)), str(len(result.test)))
        console.print(table)
        console.print(f"train {summary['train']['content_hash'][:16]}  test {summary['test']['content_hash'][:16]}  -> {target}", highlight=False)

    @sub.command("augment")
    def augment(
        file_arg: Path = typer.Argument(None, hidden=True, metavar="FILE", help="Old spelling of --data."),
        file: Path = typer.Option(None, "--data", help="Pairs to augment (JSONL or CSV)."),
        db: str = typer.Option(..., "--db", help="Warehouse the values are read from and every new SQL runs on (DuckDB, SQLite, PostgreSQL)."),
        out: Path = typer.Option(..., "--out", help="JSONL file for the new pairs (written atomically)."),
        per_pair: int = typer.Option(2, "--per-pair", min=1, help="New pairs at most per source pair."),
        seed: int = typer.Option(0, "--seed", help="The same seed, pairs and warehouse give the same new pairs."),
        include_originals: bool = typer.Option(False, "--include-originals", help="Write each source pair too, followed by its new pairs."),
        timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds each query may run."),
        workers: int = typer.Option(None, "--exec-workers", min=1, show_default="2", help="Queries executed in parallel."),
        workers_old: int = typer.Option(None, "--workers", min=1, hidden=True, help="Old spelling of --exec-workers."),
        allow_privileged_role: bool = typer.Option(False, "--allow-privileged-role", help=ALLOW_PRIVILEGED_ROLE_HELP),
    ) -> None:
        """New pairs with a value swapped: where the question names a literal the SQL compares with a
        column, put another value of that column in both; kept only when the new SQL returns rows."""
        from rich.progress import Progress

        from sqltune.data import load_pairs, write_pairs
        from sqltune.data.augment import augment_pairs

        file = option_or_positional(file, file_arg, "--data")
        workers = exec_workers(workers, workers_old)

        pairs = load_pairs(file)
        with Progress(console=CliConsole(stderr=True), transient=True) as bar:
            task = bar.add_task("augmenting", total=None)
            result = augment_pairs(
                pairs, db, per_pair=per_pair, seed=seed, timeout_s=timeout, workers=workers,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                allow_privileged_role=allow_privileged_role,
            )
        if include_originals:
            made: dict[str, list] = {}
            for item in result.augmented:
                made.setdefault(item.source.id, []).append(item.pair)
            written = [p for source in pairs for p in (source, *made.get(source.id, ()))]
        else:
            written = result.pairs
        target = write_pairs(out, written)
        _print_augment(file, result, target, len(written))

    app.add_typer(sub, name="data")


def _print_report(file: Path, report, show: int) -> None:
    status = "[bold green]ok[/]" if report.ok else f"[bold red]{len(report.problems)} problem(s)[/]"
    console.print(f"{file}: {report.total} pairs, {report.executed} executed, {status}", highlight=False)
    if report.shared_sql_with_other:
        console.print(f"[dim]{report.shared_sql_with_other} pair(s) share their SQL with the other file under a different question (paraphrases; not a leak)[/]")
    if report.ok:
        return
    counts = Table(title="problems by kind")
    counts.add_column("kind")
    counts.add_column("count", justify="right")
    for kind, count in sorted(report.counts().items()):
        counts.add_row(kind, str(count))
    console.print(counts)
    if show:
        listing = Table(title=f"first {min(show, len(report.problems))} problem(s)", show_lines=False)
        listing.add_column("where", no_wrap=True)
        listing.add_column("id")
        listing.add_column("kind")
        listing.add_column("message", overflow="fold")
        for problem in report.problems[:show]:
            where = f"{Path(problem.source).name}:{problem.line}" if problem.source and problem.line else problem.where
            listing.add_row(where, problem.pair_id, problem.kind, Text(problem.message))
        console.print(listing)


def _print_augment(file: Path, result, target: Path, written: int) -> None:
    counts = result.counts()
    console.print(
        f"{file}: {counts['sources']} pairs, {counts['swappable']} with a swappable value; "
        f"{counts['tried']} tried, [bold]{counts['kept']} kept[/], refused: {counts['no_rows']} no rows, "
        f"{counts['failed']} failed, {counts['duplicate_question']} duplicate question",
        highlight=False,
    )
    samples = result.samples(5)
    if samples:
        table = Table(title=f"{len(samples)} of {counts['kept']} new pair(s)", show_lines=True)
        table.add_column("id", no_wrap=True)
        table.add_column("question: before -> after", overflow="fold")
        table.add_column("SQL: the literal swapped", overflow="fold")
        for item in samples:
            table.add_row(
                Text(item.pair.id),
                Text(f"{item.source.question}\n-> {item.pair.question}"),
                Text(f"{item.column}: {item.old_literal} -> {item.new_literal}"),
            )
        console.print(table)
    console.print(f"{written} pair(s) -> {target}", highlight=False)
