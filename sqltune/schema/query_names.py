"""Which tables and columns a finished SQL query names that its schema lacks.

The check of a whole query, after decoding: the schema constraint (`sqltune.inference.constrain`)
follows the text token by token and cannot see what a name means until the query is complete
(an unqualified column of a table the FROM clause never reads; a table name used as a qualifier
after the query aliased it; a column of a subquery that does not select it). Here the query is
parsed in its dialect (sqlglot), every qualifier is resolved to the FROM item of its scope (or an
enclosing scope: correlated subqueries), and every column is looked up in what that item provides.

Only names the warehouse would refuse are reported; what cannot be resolved statically (table
functions, struct fields, ``*`` of an unknown source) is given the benefit of the doubt. A query
sqlglot cannot parse is reported once as unparsable (`NameCheck.parsed` False), without names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqltune.schema.model import Schema, Table

_CASE_SENSITIVE_QUOTES = ("postgres", "postgresql", "redshift")
_NESTED_TYPES = ("STRUCT", "MAP", "JSON", "ROW", "UNION", "VARIANT", "OBJECT", "RECORD")


@dataclass
class NameCheck:
    """The verdict on one query: `problems` names each unknown table or column, with the reason."""

    parsed: bool
    problems: list[str] = field(default_factory=list)
    error: str | None = None  # why it did not parse

    @property
    def ok(self) -> bool:
        return self.parsed and not self.problems

    def reason(self) -> str | None:
        if not self.parsed:
            return f"does not parse: {self.error}"
        return "; ".join(self.problems) or None


class _Names:
    """Schema lookups under the dialect's identifier rules."""

    def __init__(self, schema: Schema, dialect: str):
        self.sensitive = dialect in _CASE_SENSITIVE_QUOTES
        self.tables: dict[str, Table] = {}
        for table in schema.tables:
            for name in {table.name, table.name.split(".")[-1]}:
                self.tables.setdefault(name.lower(), table)

    def key(self, identifier) -> str:
        """How the warehouse reads a name: quoted names keep their case where quotes are case-sensitive."""
        return identifier.this if self.sensitive and identifier.quoted else identifier.this.lower()

    def table(self, identifier) -> Table | None:
        found = self.tables.get(identifier.this.lower())
        if found is None or not self.sensitive:
            return found
        wanted = self.key(identifier)  # PostgreSQL: an unquoted name folds to lower case
        return found if found.name.split(".")[-1] == wanted or found.name == wanted else None

    def has_column(self, table: Table, identifier) -> bool:
        if not self.sensitive:
            return table.column(identifier.this) is not None
        wanted = self.key(identifier)
        return any(c.name == wanted for c in table.columns)

    def nested(self, table: Table, name: str) -> bool:
        column = table.column(name)
        return column is not None and any(t in (column.type or "").upper() for t in _NESTED_TYPES)


def _output_names(expression) -> tuple[set[str], bool]:
    """The column names a subquery or CTE provides, and whether it selects `*` (anything)."""
    from sqlglot import exp

    while isinstance(expression, (exp.Union, exp.Intersect, exp.Except)):
        expression = expression.this  # a set operation takes its names from the first query
    if isinstance(expression, exp.Subquery):
        return _output_names(expression.this)
    if not isinstance(expression, exp.Select):
        return set(), True
    star = any(isinstance(e, exp.Star) or isinstance(e, exp.Column) and isinstance(e.this, exp.Star)
               for e in expression.expressions)
    return {n.lower() for n in expression.named_selects}, star


def _source_columns(source) -> tuple[set[str], bool]:
    """What a scope source (a CTE or derived table's scope) provides; an alias's column list wins."""
    from sqlglot import exp

    expression = source.expression
    parent = expression.parent
    alias = parent.args.get("alias") if isinstance(parent, (exp.Subquery, exp.CTE)) else None
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return {c.name.lower() for c in alias.columns}, False
    return _output_names(expression)


def unknown_names(sql: str, schema: Schema, dialect: str | None = None, *, tree=None) -> NameCheck:
    """Parse `sql` in `dialect` (default: the schema's) and name every table the schema lacks and
    every column its table (or subquery) lacks, resolving aliases and qualifiers per scope.
    `tree`: `sql` already parsed in `dialect` (`sqltune.execution.parsed`), not parsed again here;
    it is read, never changed."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.scope import traverse_scope

    dialect = dialect or schema.dialect or "duckdb"
    if tree is None:
        try:
            tree = sqlglot.parse_one(sql, read=dialect)
        except Exception as error:  # sqlglot raises several error types; any of them means "cannot read"
            return NameCheck(False, error=str(error).splitlines()[0][:200])
    if tree is None:
        return NameCheck(False, error="empty")
    try:
        scopes = traverse_scope(tree)
    except Exception as error:  # odd set operations and the like: scopes cannot be built
        return NameCheck(False, error=f"scopes: {str(error).splitlines()[0][:200]}")
    names = _Names(schema, dialect)
    problems: list[str] = []
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}

    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or table.name.lower() in ctes:
            continue  # a table function (range(3), unnest(...)) or a CTE
        if names.table(table.this) is None:
            problems.append(f"unknown table {table.name}")

    by_node = {id(scope.expression): scope for scope in scopes}
    for scope in scopes:
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        aliases = {a.alias.lower() for a in select.expressions if isinstance(a, exp.Alias)}
        for column in select.find_all(exp.Column):
            if _owner(column, by_node) is not scope or isinstance(column.this, exp.Star):
                continue
            if _lambda_variable(column):
                continue
            problem = _check_column(column, scope, aliases, names)
            if problem and problem not in problems:
                problems.append(problem)
    return NameCheck(True, problems)


def _owner(node, by_node: dict):
    """The scope whose query directly holds `node` (not a subquery inside it)."""
    parent = node.parent
    while parent is not None:
        scope = by_node.get(id(parent))
        if scope is not None:
            return scope
        parent = parent.parent
    return None


def _lambda_variable(column) -> bool:
    from sqlglot import exp

    lam = column.find_ancestor(exp.Lambda)
    while lam is not None:
        if column.name.lower() in {v.name.lower() for v in lam.expressions}:
            return True
        lam = lam.find_ancestor(exp.Lambda)
    return False


def _lookup(scope, qualifier: str):
    """The FROM item `qualifier` names in `scope` or an enclosing one (None: nowhere)."""
    while scope is not None:
        for name, source in scope.sources.items():
            if name.lower() == qualifier:
                return source
        scope = scope.parent
    return None


def _check_column(column, scope, aliases: set[str], names: _Names) -> str | None:
    from sqlglot import exp

    name = column.name
    lname = name.lower()
    qualifier = column.table.lower() if column.table else ""
    if qualifier:
        source = _lookup(scope, qualifier)
        if source is None:
            if _nested_field(scope, qualifier, names):
                return None
            return f"unknown table or alias {column.table} (in {column.sql()})"
        if isinstance(source, exp.Table):
            table = names.table(source.this) if isinstance(source.this, exp.Identifier) else None
            if table is None or names.has_column(table, column.this):
                return None
            shown = f"{column.table}.{name}" if column.table.lower() == table.name.lower() else f"{column.table}.{name} ({column.table} is {table.name})"
            return f"unknown column {shown}: {table.name} has no column {name}"
        provided, anything = _source_columns(source)
        if anything or lname in provided:
            return None
        return f"unknown column {column.table}.{name}: the subquery {column.table} does not select {name}"
    if lname in aliases:
        return None
    level = scope
    while level is not None:
        for source_name, source in level.sources.items():
            if isinstance(source, exp.Table):
                table = names.table(source.this) if isinstance(source.this, exp.Identifier) else None
                if table is None or names.has_column(table, column.this):
                    return None
            else:
                provided, anything = _source_columns(source)
                if anything or lname in provided:
                    return None
            if source_name.lower() == lname:
                return None  # DuckDB: a FROM item's name used as a value (its row)
        level = level.parent
    read = sorted({(s.name if isinstance(s, exp.Table) else n) for n, s in scope.sources.items()})
    return f"unknown column {name}: not a column of {', '.join(read) or 'any FROM item'}"


def _nested_field(scope, qualifier: str, names: _Names) -> bool:
    """Whether `qualifier.x` can read a field of a nested (struct, map, JSON) column `qualifier`."""
    from sqlglot import exp

    level = scope
    while level is not None:
        for source in level.sources.values():
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                table = names.table(source.this)
                if table is not None and names.nested(table, qualifier):
                    return True
        level = level.parent
    return False


__all__ = ["NameCheck", "unknown_names"]
