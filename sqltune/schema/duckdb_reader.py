"""Read a DuckDB warehouse file into a `Schema` (tables, views, keys, comments, samples, row counts).

DuckDB's own catalog functions (`duckdb_tables()`, `duckdb_columns()`, `duckdb_constraints()`)
carry the comments that `information_schema` leaves out, so they are the source here. Tables
outside the `main` schema keep a `schema.table` name, the way a query has to spell them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqltune.errors import SchemaSourceError
from sqltune.schema._common import first_line
from sqltune.schema.model import Column, ForeignKey, Schema, Table
from sqltune.schema.samples import SampleOptions, clean_samples, sample_sql, sampleable

log = logging.getLogger(__name__)


def read_duckdb(path: str | Path, *, samples: SampleOptions = SampleOptions()) -> Schema:
    """Open `path` read-only and read its schema; any failure is a `SchemaSourceError`."""
    import duckdb

    path = Path(path)
    if not path.is_file():
        raise SchemaSourceError(str(path), "no such file")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise SchemaSourceError(str(path), first_line(exc)) from exc
    try:
        return schema_from_duckdb(con, name=path.stem, samples=samples)
    except duckdb.Error as exc:
        raise SchemaSourceError(str(path), first_line(exc)) from exc
    finally:
        con.close()


def schema_from_duckdb(con, *, name: str, samples: SampleOptions = SampleOptions()) -> Schema:
    """Read the schema of the current database of an open DuckDB connection (no writes)."""
    relations = con.execute(
        """
        SELECT schema_name, table_name, comment, false AS is_view, table_oid AS oid
        FROM duckdb_tables() WHERE database_name = current_database() AND NOT internal AND NOT temporary
        UNION ALL
        SELECT schema_name, view_name, comment, true, view_oid
        FROM duckdb_views() WHERE database_name = current_database() AND NOT internal AND NOT temporary
        ORDER BY is_view, oid
        """
    ).fetchall()
    columns: dict[tuple[str, str], list[Column]] = {}
    for schema_name, table_name, col, dtype, nullable, comment in con.execute(
        """
        SELECT schema_name, table_name, column_name, data_type, is_nullable, comment
        FROM duckdb_columns() WHERE database_name = current_database() AND NOT internal
        ORDER BY schema_name, table_name, column_index
        """
    ).fetchall():
        columns.setdefault((schema_name, table_name), []).append(
            Column(col, dtype, bool(nullable), comment or None)
        )
    pks: dict[tuple[str, str], tuple[str, ...]] = {}
    fks: dict[tuple[str, str], list[ForeignKey]] = {}
    for schema_name, table_name, kind, cols, ref_table, ref_cols in con.execute(
        """
        SELECT schema_name, table_name, constraint_type, constraint_column_names,
               referenced_table, referenced_column_names
        FROM duckdb_constraints()
        WHERE database_name = current_database() AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
        ORDER BY schema_name, table_name, constraint_index
        """
    ).fetchall():
        key = (schema_name, table_name)
        if kind == "PRIMARY KEY":
            pks[key] = tuple(cols)
        else:
            fks.setdefault(key, []).append(
                ForeignKey(tuple(cols), _display_name(schema_name, ref_table), tuple(ref_cols))
            )

    tables = []
    for schema_name, table_name, comment, is_view, _oid in relations:
        key = (schema_name, table_name)
        table_sql = f"{_quote(schema_name)}.{_quote(table_name)}"
        cols = columns.get(key, [])
        if samples.count > 0:
            for col in cols:
                if sampleable(col.type):
                    rows = con.execute(sample_sql(table_sql, _quote(col.name), samples)).fetchall()
                    col.samples = clean_samples((r[0] for r in rows), samples)
        row_count = None if is_view else con.execute(f"SELECT count(*) FROM {table_sql}").fetchone()[0]
        tables.append(
            Table(
                name=_display_name(schema_name, table_name),
                columns=cols,
                primary_key=pks.get(key, ()),
                foreign_keys=fks.get(key, []),
                comment=comment or None,
                row_count=row_count,
            )
        )
    log.info("read %d tables from DuckDB database %s", len(tables), name)
    return Schema(name=name, tables=tables, dialect="duckdb")


def _display_name(schema_name: str, table_name: str) -> str:
    return table_name if schema_name == "main" else f"{schema_name}.{table_name}"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
