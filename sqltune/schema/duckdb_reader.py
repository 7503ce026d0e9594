"""Read a DuckDB warehouse file into a `Schema` (tables, views, keys, comments, samples, row counts).

DuckDB's own catalog functions (`duckdb_tables()`, `duckdb_columns()`, `duckdb_constraints()`)
carry the comments that `information_schema` leaves out, so they are the source here. Tables
outside the `main` schema keep a `schema.table` name, the way a query has to spell them. Order:
tables before views, `main` first, then by name (catalog ids do not keep creation order).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqltune.core.errors import SchemaSourceError
from sqltune.schema._common import first_line
from sqltune.schema.model import Column, ForeignKey, Schema, Table
from sqltune.schema.samples import SampleOptions, clean_samples, sampleable, value_list

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
        SELECT schema_name, table_name, comment, false AS is_view
        FROM duckdb_tables() WHERE database_name = current_database() AND NOT internal AND NOT temporary
        UNION ALL
        SELECT schema_name, view_name, comment, true
        FROM duckdb_views() WHERE database_name = current_database() AND NOT internal AND NOT temporary
        ORDER BY is_view, schema_name <> 'main', schema_name, table_name
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
    for schema_name, table_name, comment, is_view in relations:
        key = (schema_name, table_name)
        table_sql = f"{_quote(schema_name)}.{_quote(table_name)}"
        cols = columns.get(key, [])
        if samples.count > 0:
            _add_samples(con, table_sql, [c for c in cols if sampleable(c.type)], samples)
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


def _add_samples(con, table_sql: str, columns: list[Column], samples: SampleOptions) -> None:
    """Fill `samples` and `values` of `columns` with one query per table (per column: ~10x slower).

    Values are compared as text: most frequent first, ties by text, so the choice is stable.
    """
    if not columns:
        return
    picked = ", ".join(f"{_quote(c.name)} AS c{i}" for i, c in enumerate(columns))
    unions = " UNION ALL ".join(f"SELECT {i} AS i, CAST(c{i} AS VARCHAR) AS v FROM s" for i in range(len(columns)))
    rows = con.execute(
        f"""
        WITH s AS (SELECT {picked} FROM {table_sql} LIMIT {samples.scan_rows}),
        u AS ({unions}),
        g AS (SELECT i, v, count(*) AS n FROM u WHERE v IS NOT NULL AND length(v) <= {samples.longest} GROUP BY i, v)
        SELECT i, v FROM (SELECT i, v, n, row_number() OVER (PARTITION BY i ORDER BY n DESC, v) AS r FROM g)
        WHERE r <= {samples.fetch} ORDER BY i, r
        """
    ).fetchall()
    values: dict[int, list[str]] = {}
    for i, v in rows:
        values.setdefault(i, []).append(v)
    for i, column in enumerate(columns):
        column.samples = clean_samples(values.get(i, []), samples)
        column.values = value_list(values.get(i, []), column.type, samples)


def _display_name(schema_name: str, table_name: str) -> str:
    return table_name if schema_name == "main" else f"{schema_name}.{table_name}"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
