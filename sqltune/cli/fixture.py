"""`sqltune fixture ...`: build the fixture warehouses used by tests, examples and benchmarks."""

from __future__ import annotations

from pathlib import Path

import typer

from sqltune.cli.console import CliConsole

console = CliConsole()


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Build the fixture warehouses (Harbor retail + logistics, large multi-domain schema, "
                           "ports seaport operations).",
                      no_args_is_help=True, rich_markup_mode=None)

    @sub.command("build")
    def build(
        path: Path = typer.Argument(..., help="DuckDB file to create."),
        kind: str = typer.Option("harbor", "--kind", help="harbor (28 tables), large (harbor + ~400 sparse tables) "
                                 "or ports (seaport operations, 17 tables)."),
        seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives identical content."),
        force: bool = typer.Option(False, "--force", help="Overwrite PATH if it exists."),
    ) -> None:
        """Build a fixture warehouse into PATH (atomically)."""
        import warehouse_fixtures as fixtures

        info = fixtures.build_fixture(path, kind=kind, seed=seed, overwrite=force)
        console.print(f"built [bold]{info.kind}[/] fixture (seed {info.seed}): {info.table_count} tables, "
                      f"{info.total_rows:,} rows -> {info.path}")

    @sub.command("path")
    def path_cmd(
        kind: str = typer.Option("harbor", "--kind", help="harbor, large or ports."),
        seed: int = typer.Option(0, "--seed"),
        build_missing: bool = typer.Option(False, "--ensure", help="Build the cached file if it is missing."),
    ) -> None:
        """Print the cache path of a fixture (under $SQLTUNE_HOME or ~/.cache/sqltune)."""
        import warehouse_fixtures as fixtures

        target = fixtures.ensure_fixture(kind, seed) if build_missing else fixtures.default_fixture_path(kind, seed)
        console.print(str(target), highlight=False, soft_wrap=True)

    @sub.command("corpus")
    def corpus_cmd(
        out: Path = typer.Option(None, "--out", help="Output folder (default: the repository's eval/; eval/ports/ for ports)."),
        seed: int = typer.Option(0, "--seed", help="Template sampling seed (the shipped files use 0)."),
        kind: str = typer.Option("harbor", "--kind",
                                 help="harbor (eval/*.jsonl, with the large-schema questions) or ports (eval/ports/)."),
    ) -> None:
        """Regenerate a fixture's question/SQL corpus: Harbor's (train, test, hard) and the large-schema
        questions, or the ports warehouse's (train, test)."""
        from warehouse_fixtures.corpus_files import generate_corpus

        counts = generate_corpus(out, seed=seed, kind=kind)
        if kind == "harbor":
            console.print(f"wrote {counts.train} train, {counts.test} test (incl. {counts.hard} hard), "
                          f"{counts.large} large-schema pairs")
        else:
            console.print(f"wrote {counts.train} train, {counts.test} test {kind} pairs")
        for name, digest in counts.files.items():
            console.print(f"  {name}  sha256 {digest[:16]}", highlight=False)

    app.add_typer(sub, name="fixture")
