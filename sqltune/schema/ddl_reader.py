"""Read `CREATE TABLE` DDL files (one .sql file or a directory of them) into a `Schema`, via sqlglot.

Understood: column types, NOT NULL, PRIMARY KEY and FOREIGN KEY / REFERENCES (inline or
table-level), `COMMENT ON TABLE|COLUMN ... IS '...'`, inline `COMMENT '...'` (MySQL style), and a
`-- comment` written after a column definition. Other statements (indexes, inserts, views) are
skipped. DDL carries no data, so tables have no samples and no row counts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqltune.core.errors import SchemaSourceError
from sqltune.schema.model import Column, ForeignKey, Schema, Table

log = logging.getLogger(__name__)

# Dialects tried in order when the caller gives none: DDL in the wild is mostly one of these.
FALLBACK_DIALECTS = ("duckdb", "postgres", "mysql")


def read_ddl(path: str | Path, *, dialect: str | None = None) -> Schema:
    """Read a .sql file, or every .sql file of a directory (sorted by name), into one Schema."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".sql" and p.is_file())
        if not files:
            raise SchemaSourceError(str(path), "directory holds no .sql files")
    elif path.is_file():
        files = [path]
    else:
        raise SchemaSourceError(str(path), "no such file or directory")
    builder = _SchemaBuilder(dialect)
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SchemaSourceError(str(file), f"cannot read file ({exc})") from exc
        statements, builder.dialect = _parse(text, str(file), dialect)
        builder.add(statements, str(file))
    if not builder.tables:
        raise SchemaSourceError(str(path), "no CREATE TABLE statements found")
    return Schema(name=path.stem, tables=builder.finish(), dialect=builder.dialect or FALLBACK_DIALECTS[0])


def parse_ddl(text: str, *, source: str = "<ddl>", dialect: str | None = None, name: str = "ddl") -> Schema:
    """Parse DDL text (for callers that hold the text rather than a file)."""
    statements, used_dialect = _parse(text, source, dialect)
    builder = _SchemaBuilder(used_dialect)
    builder.add(statements, source)
    return Schema(name=name, tables=builder.finish(), dialect=used_dialect)


def _parse(text: str, source: str, dialect: str | None):
    """Parse with `dialect`, or with the first fallback dialect that accepts the text."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    first_error: SchemaSourceError | None = None
    for candidate in (dialect,) if dialect else FALLBACK_DIALECTS:
        try:
            return [s for s in sqlglot.parse(text, read=candidate) if s is not None], candidate
        except ParseError as exc:
            detail = exc.errors[0] if exc.errors else {}
            line = detail.get("line")
            where = f"{source}:{line}" if line else source
            cause = detail.get("description") or str(exc).splitlines()[0]
            first_error = first_error or SchemaSourceError(where, f"invalid DDL: {cause}")
        except TokenError as exc:
            first_error = first_error or SchemaSourceError(source, f"invalid DDL: {exc}")
    assert first_error is not None
    raise first_error


class _SchemaBuilder:
    """Collects tables from CREATE statements, then applies COMMENT ON statements to them."""

    def __init__(self, dialect: str | None) -> None:
        self.dialect = dialect
        self.tables: dict[str, Table] = {}
        self._comments: list[tuple[str, object, str]] = []

    def add(self, statements, source: str) -> None:
        from sqlglot import exp

        for statement in statements:
            if isinstance(statement, exp.Create) and str(statement.args.get("kind", "")).upper() == "TABLE":
                table = _table(statement, self.dialect)
                if table is not None:
                    self.tables[table.name.lower()] = table
            elif isinstance(statement, exp.Comment):
                self._comments.append((str(statement.args.get("kind", "")).upper(), statement, source))

    def finish(self) -> list[Table]:
        from sqlglot import exp

        for kind, statement, source in self._comments:
            target, text = statement.this, _literal(statement.expression)
            if kind == "TABLE" and isinstance(target, exp.Table):
                table = self.tables.get(_table_name(target).lower())
                found = table is not None
                if found:
                    table.comment = text
            elif kind == "COLUMN" and isinstance(target, exp.Column):
                parts = [p.name for p in target.parts]
                table = self.tables.get(".".join(parts[:-1]).lower())
                column = table.column(parts[-1]) if table is not None else None
                found = column is not None
                if found:
                    column.comment = text
            else:
                continue
            if not found:
                log.warning("%s: COMMENT ON %s %s names nothing defined", source, kind, target.sql())
        for table in self.tables.values():
            table.foreign_keys = [self._resolve(fk) for fk in table.foreign_keys]
        return list(self.tables.values())

    def _resolve(self, fk: ForeignKey) -> ForeignKey:
        """`REFERENCES t` without columns means t's primary key."""
        if fk.ref_columns:
            return fk
        target = self.tables.get(fk.ref_table.lower())
        ref_columns = target.primary_key if target is not None and target.primary_key else fk.columns
        return ForeignKey(fk.columns, fk.ref_table, ref_columns)


def _table(create, dialect: str | None) -> Table | None:
    from sqlglot import exp

    schema = create.this
    if not isinstance(schema, exp.Schema):  # CREATE TABLE ... AS SELECT: no column list
        log.info("skipping %s: no column definitions", create.sql()[:60])
        return None
    name = _table_name(schema.this)
    columns: list[Column] = []
    pk: tuple[str, ...] = ()
    fks: list[ForeignKey] = []
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            column, is_pk, fk = _column(item, dialect)
            columns.append(column)
            if is_pk:
                pk = (column.name,)
            if fk is not None:
                fks.append(fk)
            continue
        for constraint in [item] if not isinstance(item, exp.Constraint) else item.expressions:
            if isinstance(constraint, exp.PrimaryKey):
                pk = tuple(_ident(e) for e in constraint.expressions)
            elif isinstance(constraint, exp.ForeignKey):
                ref = _reference(constraint.args.get("reference"))
                if ref is not None:
                    fks.append(ForeignKey(tuple(_ident(e) for e in constraint.expressions), *ref))
    for column in columns:
        if column.name in pk:
            column.nullable = False
    comment = None
    for prop in (create.args.get("properties") or exp.Properties(expressions=[])).expressions:
        if isinstance(prop, exp.SchemaCommentProperty):
            comment = _literal(prop.this)
    return Table(name=name, columns=columns, primary_key=pk, foreign_keys=fks, comment=comment)


def _column(coldef, dialect: str | None) -> tuple[Column, bool, ForeignKey | None]:
    from sqlglot import exp

    name = coldef.name
    kind = coldef.args.get("kind")
    nullable, is_pk, fk, comment = True, False, None, None
    for constraint in coldef.args.get("constraints") or []:
        ckind = constraint.args.get("kind")
        if isinstance(ckind, exp.NotNullColumnConstraint) and not ckind.args.get("allow_null"):
            nullable = False
        elif isinstance(ckind, exp.PrimaryKeyColumnConstraint):
            is_pk, nullable = True, False
        elif isinstance(ckind, exp.Reference):
            ref = _reference(ckind)
            if ref is not None:
                ref_table, ref_cols = ref
                fk = ForeignKey((name,), ref_table, ref_cols)
        elif isinstance(ckind, exp.CommentColumnConstraint):
            comment = _literal(ckind.this)
    if comment is None and coldef.comments:
        comment = " ".join(c.strip() for c in coldef.comments if c.strip()) or None
    type_text = kind.sql(dialect=dialect) if kind is not None else ""
    return Column(name=name, type=type_text, nullable=nullable, comment=comment), is_pk, fk


def _reference(reference) -> tuple[str, tuple[str, ...]] | None:
    from sqlglot import exp

    if reference is None:
        return None
    target = reference.this
    if isinstance(target, exp.Schema):
        return _table_name(target.this), tuple(_ident(e) for e in target.expressions)
    if isinstance(target, exp.Table):
        return _table_name(target), ()
    return None


def _table_name(table) -> str:
    """`schema.table` when the DDL qualifies it, else the bare name."""
    return ".".join(p.name for p in table.parts)


def _ident(node) -> str:
    return node.name if hasattr(node, "name") else str(node)


def _literal(node) -> str | None:
    if node is None:
        return None
    text = node.name if hasattr(node, "name") else str(node)
    return text or None
