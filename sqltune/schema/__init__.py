"""Schema stage: read a warehouse into one typed model, prune it per question, render it.

`load_schema(source)` is the one entry point: a DuckDB file, a .sql file or a directory of them,
or a SQLAlchemy URL. Every failure to read is a `SchemaSourceError` naming the source and cause.
"""

from __future__ import annotations

from pathlib import Path

from sqltune.core.connections import resolve_source, url_dialect
from sqltune.core.errors import SchemaSourceError
from sqltune.schema.model import Column, ForeignKey, Schema, Table
from sqltune.schema.samples import SampleOptions

__all__ = ["Column", "ForeignKey", "SampleOptions", "Schema", "Table", "load_schema", "source_dialect", "source_kind"]

DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")
DEFAULT_TIMEOUT_S = 30.0


def source_dialect(source: str | Path) -> str | None:
    """The SQL dialect (sqlglot name) of the warehouse at `source`, without connecting: from a
    URL's scheme, a file's kind, or a dump's header (pg_dump, mysqldump). None when unknown."""
    text = resolve_source(source)
    if "://" in text and not text.startswith("duckdb://"):
        return url_dialect(text)
    kind = source_kind(text)
    if kind in ("duckdb", "sqlite"):
        return kind
    from sqltune.schema.ddl_reader import sniff_dialect

    return sniff_dialect(text)


def source_kind(source: str) -> str:
    """Which reader handles `source`: "duckdb", "ddl" or "sqlalchemy" (raises if it is none)."""
    if source.startswith("duckdb://"):
        return "duckdb"
    if "://" in source:
        return "sqlalchemy"
    path = Path(source)
    if path.is_dir():
        return "ddl"
    if not path.exists():
        raise SchemaSourceError(source, "no such file or directory")
    suffix = path.suffix.lower()
    if suffix == ".sql":
        return "ddl"
    header = _header(path)
    if header[8:12] == b"DUCK" or suffix in DUCKDB_SUFFIXES and not header.startswith(b"SQLite format 3"):
        return "duckdb"
    if header.startswith(b"SQLite format 3"):
        return "sqlite"
    raise SchemaSourceError(source, "not a DuckDB or SQLite file, a .sql file, a directory or a database URL")


def load_schema(
    source: str | Path,
    *,
    samples_per_column: int = 3,
    max_sample_chars: int = 30,
    db_schema: str | None = None,
    dialect: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Schema:
    """Read the schema at `source`, with up to `samples_per_column` sample values per column.

    `db_schema` picks the database schema for a URL source; `dialect` the sqlglot dialect for DDL.
    `timeout_s` bounds connecting and each statement of a database server. A source with no
    table is an error: nothing could be asked of it.
    """
    schema = _read(resolve_source(source), samples_per_column, max_sample_chars, db_schema, dialect, timeout_s)
    if not schema.tables:
        raise SchemaSourceError(str(source), "no tables found (check the database and schema name, and that the role may see them)")
    return schema


def _read(source: str, samples_per_column: int, max_sample_chars: int, db_schema: str | None, dialect: str | None,
          timeout_s: float) -> Schema:
    samples = SampleOptions(count=samples_per_column, max_chars=max_sample_chars)
    kind = source_kind(source)
    if kind == "duckdb":
        from sqltune.schema.duckdb_reader import read_duckdb

        path = source.split("://", 1)[1].removeprefix("/") if "://" in source else source
        if not path or path == ":memory:":
            raise SchemaSourceError(source, "an in-memory DuckDB database has no schema to read")
        return read_duckdb(path, samples=samples)
    if kind == "ddl":
        from sqltune.schema.ddl_reader import read_ddl

        return read_ddl(source, dialect=dialect)
    from sqltune.schema.sqlalchemy_reader import read_sqlalchemy

    url = f"sqlite:///{Path(source).resolve()}" if kind == "sqlite" else source
    return read_sqlalchemy(url, db_schema=db_schema, samples=samples, timeout_s=timeout_s)


def _header(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(16)
    except OSError as exc:
        raise SchemaSourceError(str(path), f"cannot open ({exc.strerror or exc})") from exc
