"""Read `CREATE TABLE` DDL files (one .sql file or a directory of them) into a `Schema`, via sqlglot.

Understood: column types, NOT NULL, PRIMARY KEY and FOREIGN KEY / REFERENCES (inline,
table-level, or added later by `ALTER TABLE [ONLY] t ADD [CONSTRAINT c] PRIMARY KEY|FOREIGN KEY`
as pg_dump writes them), `COMMENT ON TABLE|COLUMN ... IS '...'`, inline `COMMENT '...'` (MySQL
style), and a `-- comment` written after a column definition.

Dumps read as they come: `pg_dump -s` (psql meta-commands such as `\restrict` skipped, SET and
`set_config` ignored, the `public.` schema left off table names) and `mysqldump --no-data`
(its `/*!...*/` version comments ignored); the dialect is taken from the dump's header.
`CREATE [MATERIALIZED] VIEW name [(columns)] AS query` (pg_dump's `WITH NO DATA` and `WITH CHECK
OPTION` tails included) is read as a table of the schema, as the database readers read views:
its columns are the names of the query's SELECT list (aliases, column names, `*` and `t.*`
expanded from tables defined in the DDL), typed as the table column they pass through when the
query names one, else `unknown`; `COMMENT ON VIEW` and `COMMENT ON COLUMN view.column` apply.
Statements that carry nothing for a prompt (indexes, sequences, types, functions, grants,
owners, inserts) are ignored by kind; any other statement, and any view column that cannot be
named, is reported (a warning, and `Schema.skipped`), never dropped silently. DDL carries no data,
so tables have no samples and no row counts.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
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
        statements, builder.dialect = _parse(text, str(file), dialect or dump_dialect(text))
        builder.add(statements, str(file))
    if not builder.tables:
        raise SchemaSourceError(str(path), "no CREATE TABLE statements found")
    return builder.schema(path.stem)


def parse_ddl(text: str, *, source: str = "<ddl>", dialect: str | None = None, name: str = "ddl") -> Schema:
    """Parse DDL text (for callers that hold the text rather than a file)."""
    statements, used_dialect = _parse(text, source, dialect or dump_dialect(text))
    builder = _SchemaBuilder(used_dialect)
    builder.add(statements, source)
    return builder.schema(name)


def dump_dialect(text: str) -> str | None:
    """postgres for a pg_dump file, mysql for mysqldump / mariadb-dump, from their header lines."""
    head = text[:2000]
    if "PostgreSQL database dump" in head or head.lstrip().startswith("\\restrict"):
        return "postgres"
    if re.search(r"^-- (MySQL|MariaDB) dump", head, re.M) or "/*M!999999" in head:
        return "mysql"
    return None


def sniff_dialect(path: str | Path) -> str | None:
    """The dialect of a DDL file or directory when its header says (a dump), else None."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".sql") if path.is_dir() else [path]
    for file in files[:1]:
        try:
            with file.open(encoding="utf-8", errors="replace") as handle:
                return dump_dialect(handle.read(2000))
        except OSError:
            return None
    return None


def _without_meta_commands(text: str) -> str:
    """psql meta-commands (`\\restrict KEY`, `\\connect db`, `\\unrestrict`) are not SQL: blank
    them, keeping line numbers for error messages."""
    return "\n".join("" if line.lstrip().startswith("\\") else line for line in text.split("\n"))


def _parse(text: str, source: str, dialect: str | None):
    """Parse with `dialect`, or with the first fallback dialect that accepts the text."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    text = _without_meta_commands(text)
    first_error: SchemaSourceError | None = None
    for candidate in (dialect,) if dialect else FALLBACK_DIALECTS:
        try:
            with _quiet_sqlglot():
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


@contextmanager
def _quiet_sqlglot():
    """sqlglot logs a warning per statement it parses as a bare Command; this reader reports those itself."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# Statement kinds that carry nothing a prompt shows: ignored on purpose (not "unknown").
_IGNORED_CREATE = {"INDEX", "SEQUENCE", "TYPE", "FUNCTION", "PROCEDURE", "EXTENSION", "SCHEMA", "TRIGGER",
                   "DOMAIN", "DATABASE", "ROLE", "USER", "AGGREGATE", "COLLATION", "MACRO"}
_IGNORED_COMMANDS = re.compile(
    r"^\s*(ALTER\s+(TABLE|TYPE|FUNCTION|SEQUENCE|SCHEMA|VIEW|INDEX|DOMAIN|AGGREGATE|MATERIALIZED\s+VIEW|EXTENSION|DATABASE|DEFAULT\s+PRIVILEGES)\b.*\b(OWNER\s+TO|OWNED\s+BY|SET\s+DEFAULT|SET\s+SCHEMA|RESTART|ATTACH\s+PARTITION|REPLICA\s+IDENTITY|CLUSTER\s+ON|ENABLE|DISABLE|GRANT|REVOKE)"
    r"|GRANT|REVOKE|SET|RESET|LOCK|UNLOCK|USE|BEGIN|COMMIT|START\s+TRANSACTION|SELECT\s+pg_catalog\.|CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|TRIGGER|RULE|POLICY|PUBLICATION|SUBSCRIPTION|EVENT|CAST|OPERATOR|TEXT\s+SEARCH|FOREIGN\s+DATA|SERVER|STATISTICS|AGGREGATE|TYPE|DOMAIN|EXTENSION|SCHEMA|SEQUENCE|INDEX|UNIQUE\s+INDEX|LANGUAGE|CONVERSION|ACCESS\s+METHOD|COLLATION)"
    r"|COMMENT\s+ON\s+(?!TABLE|COLUMN)\w+|DROP|INSERT|COPY|ANALYZE|VACUUM|SECURITY\s+LABEL)\b",
    re.I | re.S,
)
# A view sqlglot could not parse whole (it falls back to a bare Command): pg_dump ends every
# materialized view with WITH NO DATA, and a view may end WITH [CASCADED|LOCAL] CHECK OPTION.
_VIEW_COMMAND = re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?((TEMP|TEMPORARY|MATERIALIZED)\s+)?VIEW\b", re.I)
_VIEW_TAIL = re.compile(r"\s+WITH\s+(NO\s+DATA|DATA|(CASCADED\s+|LOCAL\s+)?CHECK\s+OPTION)\s*;?\s*$", re.I)
UNKNOWN_TYPE = "unknown"


class _SchemaBuilder:
    """Collects tables from CREATE statements, then applies ALTER TABLE ... ADD constraints and
    COMMENT ON statements to them; remembers every statement it could not place."""

    def __init__(self, dialect: str | None) -> None:
        self.dialect = dialect
        self.tables: dict[str, Table] = {}
        self._comments: list[tuple[str, object, str]] = []
        self._constraints: list[tuple[object, str]] = []
        self._views: list[tuple[object, str]] = []
        self.skipped: list[str] = []

    def schema(self, name: str) -> Schema:
        tables = self.finish()
        if self.skipped:
            shown = "; ".join(self.skipped[:5]) + (f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else "")
            log.warning("%d DDL statement(s) not understood, left out of the schema: %s", len(self.skipped), shown)
        return Schema(name=name, tables=tables, dialect=self.dialect or FALLBACK_DIALECTS[0], skipped=list(self.skipped))

    def add(self, statements, source: str) -> None:
        from sqlglot import exp

        for statement in statements:
            if isinstance(statement, exp.Create) and str(statement.args.get("kind", "")).upper() == "TABLE":
                table = _table(statement, self.dialect)
                if table is not None:
                    self.tables[table.name.lower()] = table
            elif isinstance(statement, exp.Create) and str(statement.args.get("kind", "")).upper() == "VIEW":
                self._views.append((statement, source))
            elif isinstance(statement, exp.Command) and _VIEW_COMMAND.match(_command_text(statement)):
                view = _reparsed_view(statement, self.dialect)
                if view is not None:
                    self._views.append((view, source))
                else:
                    self.skipped.append(f"{source}: {_short(statement)}")
            elif isinstance(statement, exp.Comment):
                self._comments.append((str(statement.args.get("kind", "")).upper(), statement, source))
            elif isinstance(statement, exp.Alter) and str(statement.args.get("kind", "")).upper() == "TABLE":
                self._constraints.append((statement, source))
            elif not self._ignored(statement):
                self.skipped.append(f"{source}: {_short(statement)}")

    def _ignored(self, statement) -> bool:
        from sqlglot import exp

        names = ("Set", "Drop", "Insert", "Use", "Transaction", "Commit", "Semicolon", "Grant", "Revoke", "Copy", "Analyze")
        if isinstance(statement, tuple(getattr(exp, n) for n in names if hasattr(exp, n))):
            return True
        if isinstance(statement, exp.Create):
            return str(statement.args.get("kind", "")).upper() in _IGNORED_CREATE
        if isinstance(statement, exp.Select):  # pg_dump: SELECT pg_catalog.set_config('search_path', '', false)
            return statement.find(exp.Table) is None
        return bool(_IGNORED_COMMANDS.match(statement.sql(dialect=self.dialect, comments=False)))

    def _apply_constraints(self) -> None:
        """`ALTER TABLE [ONLY] t ADD [CONSTRAINT c] PRIMARY KEY (...) | FOREIGN KEY (...) REFERENCES ...`."""
        from sqlglot import exp

        for statement, source in self._constraints:
            table = self.tables.get(_table_name(statement.this).lower())
            actions = statement.args.get("actions") or []
            understood = True
            for action in actions:
                if isinstance(action, exp.AddConstraint) and table is not None:
                    for item in action.expressions:
                        for constraint in item.expressions if isinstance(item, exp.Constraint) else [item]:
                            if isinstance(constraint, exp.PrimaryKey):
                                table.primary_key = tuple(_ident(e) for e in constraint.expressions)
                                for column in table.columns:
                                    if column.name in table.primary_key:
                                        column.nullable = False
                            elif isinstance(constraint, exp.ForeignKey):
                                ref = _reference(constraint.args.get("reference"))
                                if ref is not None:
                                    table.foreign_keys.append(ForeignKey(tuple(_ident(e) for e in constraint.expressions), *ref))
                            # UNIQUE, CHECK, EXCLUDE: true of the data, not shown in a prompt
                elif isinstance(action, exp.ColumnDef) and table is not None:
                    column, is_pk, fk = _column(action, self.dialect)
                    table.columns.append(column)
                    if is_pk:
                        table.primary_key = (column.name,)
                    if fk is not None:
                        table.foreign_keys.append(fk)
                elif isinstance(action, (exp.AlterColumn, exp.AlterSet)) or _IGNORED_COMMANDS.match(statement.sql(dialect=self.dialect, comments=False)):
                    continue
                else:
                    understood = False
            if table is None:
                log.warning("%s: %s names a table not defined", source, _short(statement))
                self.skipped.append(f"{source}: {_short(statement)} (no such table)")
            elif not understood or not actions:
                self.skipped.append(f"{source}: {_short(statement)}")

    def finish(self) -> list[Table]:
        from sqlglot import exp

        self._apply_constraints()
        self._constraints = []
        self._add_views()

        for kind, statement, source in self._comments:
            target, text = statement.this, _literal(statement.expression)
            if kind in ("TABLE", "VIEW", "MATERIALIZED VIEW") and isinstance(target, exp.Table):
                table = self.tables.get(_table_name(target).lower())
                found = table is not None
                if found:
                    table.comment = text
            elif kind == "COLUMN" and isinstance(target, exp.Column):
                parts = [p.name for p in target.parts]
                if len(parts) == 3 and parts[0].lower() == "public":
                    parts = parts[1:]
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

    def _add_views(self) -> None:
        """Each view as a table (after the tables, in the order defined, so a view can read one
        defined before it); SELECT-list entries that cannot be named are listed in `skipped`."""
        for statement, source in self._views:
            table, problems = _view(statement, self.tables, self.dialect)
            self.skipped.extend(f"{source}: {problem}" for problem in problems)
            if table is not None and table.name.lower() in self.tables:
                self.skipped.append(f"{source}: view {table.name}: a table of that name is defined, left out")
            elif table is not None:
                self.tables[table.name.lower()] = table
        self._views = []

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


def _command_text(statement) -> str:
    return statement.sql(comments=False)


def _reparsed_view(command, dialect: str | None):
    """A view statement sqlglot kept as a bare Command, parsed again without the tail it does not
    know (`WITH NO DATA`, `WITH CHECK OPTION`); None when it still does not parse as a view."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    text = _VIEW_TAIL.sub("", _command_text(command).rstrip().rstrip(";"))
    try:
        with _quiet_sqlglot():
            parsed = sqlglot.parse_one(text, read=dialect)
    except (ParseError, TokenError):
        return None
    if isinstance(parsed, exp.Create) and str(parsed.args.get("kind", "")).upper() == "VIEW":
        return parsed
    return None


def _view(create, tables: dict[str, Table], dialect: str | None) -> tuple[Table | None, list[str]]:
    """A view as a Table: one column per SELECT-list entry that has a name (an alias, a column, or
    `*`/`t.*` over tables known here), typed as the table column it passes through, else unknown."""
    from sqlglot import exp

    target = create.this
    names = [_ident(e) for e in target.expressions] if isinstance(target, exp.Schema) else None
    name = _table_name(target.this if isinstance(target, exp.Schema) else target)
    query = create.expression
    while isinstance(query, exp.SetOperation):  # UNION ...: the first branch names the columns
        query = query.this
    if not isinstance(query, exp.Select):
        return None, [f"view {name}: its query is not a SELECT ({_short(create)})"]
    sources = _view_sources(query, tables)
    entries: list[tuple[str, str, str]] = []  # (name or "", type, SQL) per output column
    problems: list[str] = []
    for item in query.selects:
        expanded = _star_columns(item, sources)
        if expanded is not None:
            if not expanded:
                problems.append(f"view {name}: {item.sql(dialect=dialect)} selects from a table not defined here, left out")
            entries.extend((c.name, c.type, c.name) for c in expanded)
            continue
        inner = item.this if isinstance(item, exp.Alias) else item
        source = _source_column(inner, sources) if isinstance(inner, exp.Column) else None
        column_name = item.alias if isinstance(item, exp.Alias) else item.name if isinstance(item, exp.Column) else ""
        entries.append((column_name, source.type if source is not None and source.type else UNKNOWN_TYPE, item.sql(dialect=dialect)))
    if names is not None:  # CREATE VIEW v (a, b) AS ...: the list names the columns
        if len(names) != len(entries):
            return None, [*problems, f"view {name}: {len(names)} column names for {len(entries)} SELECT-list entries, left out"]
        entries = [(given, kind, sql) for given, (_, kind, sql) in zip(names, entries)]
    columns: list[Column] = []
    for position, (column_name, kind, sql) in enumerate(entries, start=1):
        if column_name:
            columns.append(Column(name=column_name, type=kind))
        else:
            problems.append(f"view {name}: column {position} ({sql[:40]}) has no name, left out")
    if not columns:
        return None, problems or [f"view {name}: no column could be named, left out"]
    return Table(name=name, columns=columns), problems


def _view_sources(select, tables: dict[str, Table]) -> dict[str, Table]:
    """The tables defined here that a view's SELECT reads directly (FROM and JOINs), by alias or
    name, in order (sqlglot's scope: derived tables and CTEs are not tables of the schema)."""
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.optimizer.scope import build_scope

    try:
        scope = build_scope(select)
    except SqlglotError:
        return {}
    sources: dict[str, Table] = {}
    for alias, source in (scope.sources if scope is not None else {}).items():
        table = tables.get(_table_name(source).lower()) if isinstance(source, exp.Table) else None
        if table is not None:
            sources[alias.lower()] = table
    return sources


def _star_columns(item, sources: dict[str, Table]) -> list[Column] | None:
    """The columns `*` or `t.*` stands for (empty: over a table not known); None: not a star."""
    from sqlglot import exp

    if isinstance(item, exp.Star):
        return [c for table in sources.values() for c in table.columns]
    if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
        table = sources.get(item.table.lower())
        return list(table.columns) if table is not None else []
    return None


def _source_column(column, sources: dict[str, Table]) -> Column | None:
    """The table column a view column passes through: by its qualifier, else the one source that has it."""
    if column.table:
        table = sources.get(column.table.lower())
        return table.column(column.name) if table is not None else None
    found = [c for c in (t.column(column.name) for t in sources.values()) if c is not None]
    return found[0] if len(found) == 1 else None


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
    """`schema.table` when the DDL qualifies it, else the bare name; PostgreSQL's default schema
    `public` (which pg_dump writes on every name) is left off, as a query would leave it off."""
    parts = [p.name for p in table.parts]
    if len(parts) == 2 and parts[0].lower() == "public":
        parts = parts[1:]
    return ".".join(parts)


def _short(statement) -> str:
    text = " ".join(statement.sql(comments=False).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _ident(node) -> str:
    return node.name if hasattr(node, "name") else str(node)


def _literal(node) -> str | None:
    if node is None:
        return None
    text = node.name if hasattr(node, "name") else str(node)
    return text or None
