"""Render a `Schema` as compact DDL-like text for prompts.

Two styles. `ddl` (the default) below; `columns` lists only names, one line per table,
`orders(order_id, customer_id, status)`: about 2.5x fewer tokens than `ddl` without comments, so
a small budget shows several times more tables. It suits a model fine-tuned on the warehouse,
which learns types, keys and values from its pairs, on hardware where every prompt token counts.

Prompt length drives training time on CPU, so the text is terse by design: lower-case keywords
and short type names (each a single token for common tokenizers), key constraints inline when
they cover one column, comments and sample values as trailing `--` remarks. Output is a pure
function of the schema and the options, so the same warehouse always gives the same prompt.

    CREATE TABLE orders ( -- Orders placed online
      order_id int primary key,
      customer_id int references customers(customer_id),
      status text -- e.g. 'shipped', 'returned'
    );
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from sqltune.schema.model import Column, Schema, Table
from sqltune.schema.samples import is_text_type


@dataclass(frozen=True)
class RenderOptions:
    """What goes into the schema text. Hashable: caches key on it."""

    include_comments: bool = True
    samples_per_column: int = 2
    include_row_counts: bool = False
    compact_types: bool = True
    include_not_null: bool = False
    style: str = "ddl"  # ddl | columns


STYLES = ("ddl", "columns")


# Short names for common types. Lengths and precisions are dropped: they never change the SQL a
# question needs, and they cost several tokens per column.
_SHORT_TYPES = {
    short: short
    for short in ("int", "bigint", "smallint", "decimal", "double", "float", "boolean", "timestamp", "date", "time", "text")
}
for _short, _aliases in {
    "int": "integer int4 int32 signed mediumint serial uinteger",
    "bigint": "int8 int64 long hugeint uhugeint ubigint bigserial int128",
    "smallint": "int2 int16 tinyint int1 smallserial usmallint utinyint byteint",
    "decimal": "numeric number dec money",
    "double": "float8 float64 double_precision",
    "float": "real float4 float32",
    "boolean": "bool",
    "timestamp": "datetime datetime2 smalldatetime timestamp_s timestamp_ms timestamp_ns timestamp_without_time_zone",
    "timestamptz": "timestamptz datetimeoffset timestamp_with_time_zone",
    "text": "varchar char string character character_varying nvarchar nchar bpchar clob longtext mediumtext "
    "tinytext ntext citext",
}.items():
    _SHORT_TYPES.update({name: _short for name in _aliases.split()})
_PARAMS = re.compile(r"\(.*?\)")
_ENUM = re.compile(r"^\s*enum\s*\(", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_CASE_FOLDING_DIALECTS = {"postgres", "redshift", "materialize", "risingwave"}


def compact_type(type_text: str) -> str:
    """A short lower-case type name (`VARCHAR(100)` -> `text`); unknown types are lower-cased."""
    if _ENUM.match(type_text):
        return "enum" + type_text.strip()[4:]
    base = _WHITESPACE.sub("_", _PARAMS.sub("", type_text).strip().lower())
    return _SHORT_TYPES.get(base, type_text.strip().lower())


@functools.lru_cache(maxsize=65536)
def quote_name(name: str, dialect: str = "duckdb") -> str:
    """`name` as a query must spell it in `dialect`: quoted only when it has to be."""
    from sqlglot import exp

    text = exp.to_identifier(name).sql(dialect=dialect)
    if not text.startswith('"') and dialect in _CASE_FOLDING_DIALECTS and name != name.lower():
        text = '"' + name.replace('"', '""') + '"'
    return text


def quote_table_name(name: str, dialect: str = "duckdb") -> str:
    """Quote each part of a possibly `schema.table` qualified name."""
    return ".".join(quote_name(part, dialect) for part in name.split("."))


def render_schema(schema: Schema, options: RenderOptions = RenderOptions()) -> str:
    """All tables of `schema`, in schema order, one block each."""
    return "\n".join(render_table(t, options, schema.dialect) for t in schema.tables)


def render_table(table: Table, options: RenderOptions = RenderOptions(), dialect: str = "duckdb") -> str:
    """One `CREATE TABLE` block (composite keys get their own constraint lines), or one
    `table(col, ...)` line in the `columns` style."""
    if options.style == "columns":
        return f"{quote_table_name(table.name, dialect)}({', '.join(quote_name(c.name, dialect) for c in table.columns)})"
    if options.style != "ddl":
        raise ValueError(f"unknown schema style {options.style!r}; expected one of {', '.join(STYLES)}")
    single_fk = {fk.columns[0].lower(): fk for fk in table.foreign_keys if len(fk.columns) == 1}
    single_pk = table.primary_key[0].lower() if len(table.primary_key) == 1 else None
    items: list[tuple[str, str]] = []  # (definition, trailing remark)
    for column in table.columns:
        definition = f"{quote_name(column.name, dialect)} {_type(column, options)}"
        if column.name.lower() == single_pk:
            definition += " primary key"
        elif options.include_not_null and not column.nullable:
            definition += " not null"
        fk = single_fk.get(column.name.lower())
        if fk is not None:
            definition += f" references {quote_table_name(fk.ref_table, dialect)}({_names(fk.ref_columns, dialect)})"
        items.append((definition, _column_remark(column, options)))
    if len(table.primary_key) > 1:
        items.append((f"primary key ({_names(table.primary_key, dialect)})", ""))
    for fk in table.foreign_keys:
        if len(fk.columns) > 1:
            ref = f"{quote_table_name(fk.ref_table, dialect)}({_names(fk.ref_columns, dialect)})"
            items.append((f"foreign key ({_names(fk.columns, dialect)}) references {ref}", ""))

    header = f"CREATE TABLE {quote_table_name(table.name, dialect)} ("
    remark = _table_remark(table, options)
    lines = [f"{header} -- {remark}" if remark else header]
    for i, (definition, col_remark) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        lines.append(f"  {definition}{comma} -- {col_remark}" if col_remark else f"  {definition}{comma}")
    lines.append(");")
    return "\n".join(lines)


def _type(column: Column, options: RenderOptions) -> str:
    return compact_type(column.type) if options.compact_types else column.type


def _names(names: tuple[str, ...], dialect: str) -> str:
    return ", ".join(quote_name(n, dialect) for n in names)


def _one_line(text: str | None) -> str:
    return _WHITESPACE.sub(" ", text or "").strip()


def _table_remark(table: Table, options: RenderOptions) -> str:
    parts = []
    if options.include_comments and table.comment:
        parts.append(_one_line(table.comment))
    if options.include_row_counts and table.row_count is not None:
        parts.append(f"{table.row_count} rows")
    return "; ".join(parts)


def _column_remark(column: Column, options: RenderOptions) -> str:
    comment = _one_line(column.comment) if options.include_comments else ""
    shown = []
    if options.samples_per_column > 0 and is_text_type(column.type):
        # Values the comment already spells out ("One of ground, express, freight.") add nothing.
        lowered = comment.lower()
        shown = [v for v in column.samples[: options.samples_per_column] if v.lower() not in lowered]
    if not shown:
        return comment
    examples = "e.g. " + ", ".join(_sql_string(v) for v in shown)
    if not comment:
        return examples
    return f"{comment} {examples}" if comment[-1] in ".;:!?" else f"{comment}; {examples}"


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
