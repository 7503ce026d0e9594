"""Refuse SQL that is not one read-only query over the user's own tables, before it reaches a database.

The check walks sqlglot's AST and works by allow-list: the statement's root must be a query
(SELECT, a set operation, WITH ... SELECT); every function called must be on the dialect's list of
known pure functions (`sqltune.execution.guard_functions`), so user-defined functions and anything that
takes SQL text, reads files or settings are refused by name; table-valued functions must be pure
generators; tables in the system catalog (``pg_catalog``, ``information_schema``, ``pg_*``,
``duckdb_*``, ``sqlite_*``) are refused unless the policy allows them. A deny-list of statement
kinds gives precise reasons for writes and settings anywhere in the tree (a data-modifying CTE
hides a DELETE under a SELECT). The sandbox (`sqltune.execution.execute`) is the second line of defence.

Codes: ``empty``, ``too_long``, ``syntax_error``, ``too_deeply_nested``, ``multiple_statements``,
``not_a_query``, ``write_statement``, ``forbidden_function``, ``catalog_access``.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqltune.execution.guard_functions import allowed_functions, allowed_table_functions


class _DropCommandFallbackWarning(logging.Filter):
    """sqlglot warns when it parses unknown syntax as a Command; the guard rejects those anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_DropCommandFallbackWarning())


@dataclass(frozen=True)
class GuardPolicy:
    """What the guard lets through beyond its defaults (all off: the safe setting)."""

    allow_catalog: bool = False  # system catalog tables and views (pg_catalog, information_schema, duckdb_*)
    functions: frozenset[str] = field(default_factory=frozenset)  # extra function names the user vouches for
    max_chars: int = 100_000  # longer SQL is refused before parsing (parse time grows with length)


DEFAULT_POLICY = GuardPolicy()


@dataclass(frozen=True)
class GuardVerdict:
    """Whether `sql` may run; `code` and `reason` say why not."""

    ok: bool
    code: str | None = None
    reason: str | None = None


# Statement kinds that write, change settings, reach other databases or run arbitrary commands,
# and the read-only commands (SHOW, DESCRIBE, SUMMARIZE) that are not queries: refused anywhere in
# the tree, since DuckDB runs ``(SHOW x)`` or ``(DESCRIBE t)`` as a subquery.
_WRITE_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "DDL", "DML", "Create", "Drop", "Alter", "Insert", "Update", "Delete", "Merge", "Copy",
        "TruncateTable", "Attach", "Detach", "Install", "Command", "Pragma", "Set", "Use",
        "Transaction", "Commit", "Rollback", "Grant", "Revoke", "Analyze", "LoadData", "Export",
        "Refresh", "Cache", "Uncache", "Kill", "Comment", "Declare", "Execute", "Put", "Get",
        "Into", "Lock", "Show", "Describe", "Summarize",
    )
    if hasattr(exp, name)
)

# Commands sqlglot cannot parse that read only; still not queries, so refused as such.
_READ_ONLY_COMMANDS = frozenset({"EXPLAIN", "SHOW", "DESCRIBE", "DESC", "SUMMARIZE"})

# Words that open a statement which is not a query. Right after "(" sqlglot may read them as a
# table or column name ("(SHOW x)" as table SHOW with alias x) where DuckDB runs the statement.
_COMMAND_WORDS = frozenset({*_READ_ONLY_COMMANDS, "PRAGMA", "CALL"})

# Typed sqlglot nodes that come from grammar (operators, CAST, CASE, [..] literals), not from a
# function name: pure by construction.
_SYNTAX_CLASSES: frozenset[type] = frozenset(
    getattr(exp, name)
    for name in (
        "And", "Or", "Xor", "Not", "Cast", "TryCast", "Extract", "Case", "If", "Coalesce", "Nullif",
        "Greatest", "Least", "Exists", "Any", "All", "Array", "Struct", "ToMap", "VarMap", "Map",
        "CurrentDate", "CurrentTime", "CurrentTimestamp", "Localtime", "Localtimestamp", "AtTimeZone",
        "Columns", "Unnest", "Explode", "GenerateSeries", "ExplodingGenerateSeries", "JSONExtract",
        "JSONExtractScalar", "JSONBExtract", "JSONBExtractScalar", "JSONBContains", "JSONBContainsTopKey",
        "JSONBContainsAnyTopKeys", "JSONBContainsAllTopKeys", "JSONArrayContains", "ArrayContains",
        "ArrayContainsAll", "ArrayContainedBy", "ArrayOverlaps", "RegexpLike", "RegexpILike",
        "RegexpFullMatch", "StartsWith", "StrPosition", "Substring", "Trim", "Overlay", "Pow",
        "Transform", "Filter", "Grouping", "GroupingId", "Collate", "PercentileCont", "PercentileDisc", "MatchAgainst",
    )
    if hasattr(exp, name)
)

_FREE_NAMED = tuple(getattr(exp, n) for n in ("Anonymous", "AnonymousAggFunc") if hasattr(exp, n))

# Argument shapes tried when finding which sqlglot node a function name parses into.
_PROBE_ARGS = ("()", "(a)", "(a, b)", "(a, b, c)", "('day', a)", "(a, 'day')")

_class_cache: dict[tuple[str, bool], frozenset[type]] = {}
_class_lock = threading.Lock()


def _allowed_classes(dialect: str, table: bool = False) -> frozenset[type]:
    """The typed sqlglot nodes the dialect's allowed function names (scalar, or table-valued when
    `table`) parse into; built once per dialect."""
    with _class_lock:
        cached = _class_cache.get((dialect, table))
        if cached is not None:
            return cached
        parser = sqlglot.Dialect.get_or_raise(dialect).parser_class
        classes: set[type] = set()
        for name in allowed_table_functions(dialect) if table else allowed_functions(dialect):
            upper = name.upper()
            builder = parser.FUNCTIONS.get(upper)
            owner = getattr(builder, "__self__", None)
            if isinstance(owner, type) and issubclass(owner, exp.Func) and upper not in parser.FUNCTION_PARSERS:
                classes.add(owner)
                continue
            if builder is None and upper not in parser.FUNCTION_PARSERS:
                continue  # parses as an anonymous call, checked by name
            for args in _PROBE_ARGS:
                try:
                    tree = sqlglot.parse_one(f"SELECT {name}{args}", read=dialect)
                except Exception:  # wrong arity or a keyword-shaped name: try the next shape
                    continue
                node = tree.expressions[0].unalias() if isinstance(tree, exp.Select) and tree.expressions else None
                if isinstance(node, exp.Func) and not isinstance(node, _FREE_NAMED):
                    classes.add(type(node))
        result = frozenset(classes)
        _class_cache[(dialect, table)] = result
        return result


_TABLE_SYNTAX_CLASSES: frozenset[type] = frozenset(
    getattr(exp, n) for n in ("Unnest", "Explode", "GenerateSeries", "ExplodingGenerateSeries") if hasattr(exp, n)
)


def _function_refusal(node: exp.Func, dialect: str, policy: GuardPolicy, *, table: bool = False) -> str | None:
    """The name of the function `node` calls when it is not allowed (in FROM when `table`), or None."""
    names = allowed_table_functions(dialect) if table else allowed_functions(dialect)
    if isinstance(node, _FREE_NAMED):
        name = str(node.name).lower()
        return None if name in names or name in policy.functions else name
    if type(node) in (_TABLE_SYNTAX_CLASSES if table else _SYNTAX_CLASSES) or type(node) in _allowed_classes(dialect, table):
        return None
    spellings = [n.lower() for n in node.sql_names()]
    if any(n in names or n in policy.functions for n in spellings):
        return None
    return spellings[0] if spellings else node.key


# Quoted table names that DuckDB would treat as a file to scan ("FROM '/etc/passwd'").
_FILE_LIKE_TABLE = re.compile(r"[/\\:]|\.[A-Za-z0-9]{1,8}(\.gz|\.zst)?$|^~")

_CATALOG_SCHEMAS = {
    "postgres": frozenset({"pg_catalog", "information_schema", "pg_toast"}),
    "duckdb": frozenset({"pg_catalog", "information_schema"}),
}
_GENERIC_CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema", "performance_schema", "mysql", "sys"})
_CATALOG_DATABASES = {"duckdb": frozenset({"system", "temp"})}
_CATALOG_TABLE_PREFIXES = {
    "postgres": ("pg_",),
    "duckdb": ("duckdb_", "pragma_", "sqlite_", "pg_"),
}
_GENERIC_CATALOG_PREFIXES = ("pg_", "sqlite_")


def _catalog_refusal(table: exp.Table, dialect: str, ctes: set[str]) -> str | None:
    """Why `table` is part of the system catalog, or None when it is an ordinary table."""
    schema, database, name = table.db.lower(), table.catalog.lower(), table.name.lower()
    if database in _CATALOG_DATABASES.get(dialect, frozenset()):
        return f"catalog {database!r}"
    if schema in _CATALOG_SCHEMAS.get(dialect, _GENERIC_CATALOG_SCHEMAS) or schema.startswith("pg_temp"):
        return f"schema {schema!r}"
    if not schema and name not in ctes and name.startswith(_CATALOG_TABLE_PREFIXES.get(dialect, _GENERIC_CATALOG_PREFIXES)):
        return f"system view {name!r}"
    return None


def _syntax_message(error: Exception) -> str:
    if isinstance(error, ParseError) and error.errors:
        first = error.errors[0]
        where = f" at line {first.get('line')}, column {first.get('col')}"
        context = (first.get("highlight") or "").strip()
        near = f" near {context!r}" if context else ""
        return f"{first.get('description', 'cannot parse')}{near}{where}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _reject(code: str, reason: str) -> GuardVerdict:
    return GuardVerdict(ok=False, code=code, reason=reason)


def _catalog_hint() -> str:
    return "system catalog access is off (GuardPolicy(allow_catalog=True) turns it on)"


def _forbidden_node(tree: exp.Expression, dialect: str, policy: GuardPolicy) -> GuardVerdict | None:
    """The first forbidden thing anywhere in `tree`, as a rejection; None when the tree is clean."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for node in tree.walk():
        if isinstance(node, _WRITE_NODES):
            kind = str(node.this).upper() if isinstance(node, exp.Command) else node.key.upper()
            if kind in _READ_ONLY_COMMANDS:
                return _reject("not_a_query", f"{kind} is not a query; only SELECT queries are allowed")
            if isinstance(node, exp.Lock):
                return _reject("write_statement", "row locks (FOR UPDATE/SHARE) are not allowed")
            if isinstance(node, exp.Into):
                return _reject("write_statement", "SELECT ... INTO creates a table; not allowed")
            return _reject("write_statement", f"{kind} statements are not allowed, only queries")
        if isinstance(node, exp.Table):
            source = node.this
            if isinstance(source, exp.Func):
                name = _function_refusal(source, dialect, policy, table=True)
                if name is not None:
                    return _reject(
                        "forbidden_function",
                        f"table function {name}() is not allowed "
                        f"(allowed in FROM: {', '.join(sorted(allowed_table_functions(dialect)))})",
                    )
            elif not isinstance(source, exp.Identifier):
                shown = source.sql(dialect=dialect)[:40]
                return _reject("forbidden_function", f"{shown} cannot stand in FROM: only tables and "
                               f"{', '.join(sorted(allowed_table_functions(dialect)))}() can")
            else:
                alias = node.args.get("alias")
                if isinstance(alias, exp.TableAlias) and alias.columns and not alias.name:
                    # "FROM name(1)": sqlglot reads a table with column names, a database reads a call
                    return _reject("forbidden_function", f"table function {source.name.lower()}() is not allowed "
                                   f"(allowed in FROM: {', '.join(sorted(allowed_table_functions(dialect)))})")
                if source.quoted and _FILE_LIKE_TABLE.search(source.name):
                    return _reject("forbidden_function", f"table name {source.name!r} looks like a file path")
                where = None if policy.allow_catalog else _catalog_refusal(node, dialect, ctes)
                if where is not None:
                    return _reject("catalog_access", f"{node.sql(dialect=dialect)} is in the {where}; {_catalog_hint()}")
        elif isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func) and isinstance(node.this, (exp.Identifier, exp.Column)):
            qualifier = node.this.name.lower()
            if not (dialect == "postgres" and qualifier == "pg_catalog"):
                called = node.expression.name or node.expression.key
                return _reject(
                    "forbidden_function",
                    f"qualified function call {qualifier}.{called}() is not allowed (it may name a "
                    f"user-defined function in schema {qualifier!r}); call a built-in function unqualified",
                )
        elif isinstance(node, exp.ObjectIdentifier) and node.name.lower().startswith("reg") and not policy.allow_catalog:
            return _reject("catalog_access", f"a cast to {node.name.lower()} looks up the system catalog; {_catalog_hint()}")
        if isinstance(node, exp.Func) and not isinstance(node.parent, exp.Table):
            name = _function_refusal(node, dialect, policy)
            if name is not None:
                return _reject(
                    "forbidden_function",
                    f"function {name}() is not allowed: only known pure {dialect} functions may be called",
                )
    return None


def _token_refusal(sql: str, dialect: str) -> GuardVerdict | None:
    """What the token stream shows and sqlglot's tree hides: a command opening a parenthesis (F2 of
    issue 27), and on PostgreSQL a quoted function name that keeps its case ("Upper"(x) calls a
    function named Upper, not upper, whatever node sqlglot makes of it)."""
    from sqlglot.tokens import TokenType

    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    for i, token in enumerate(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if after is None:
            break
        if (token.token_type == TokenType.L_PAREN and after.text.upper() in _COMMAND_WORDS
                and not after.token_type.name.endswith("STRING") and after.token_type != TokenType.IDENTIFIER):
            return _reject("not_a_query", f"{after.text.upper()} is not a query, in parentheses neither; "
                                          "only SELECT queries are allowed (quote a column of that name)")
        if (dialect == "postgres" and token.token_type == TokenType.IDENTIFIER and after.token_type == TokenType.L_PAREN
                and token.text != token.text.lower() and not _names_a_relation(tokens, i)):
            return _reject("forbidden_function", f'function "{token.text}"() is not allowed: a quoted name keeps its '
                                                 f"case in PostgreSQL, so this is not {token.text.lower()}()")
    return None


def _names_a_relation(tokens: list, i: int) -> bool:
    """Whether the quoted name at `i`, followed by "(", is an alias with column names
    (``AS "T"(a)``, ``t "T"(a)``) or a CTE (``WITH "Q"(a) AS (``), not a call."""
    from sqlglot.tokens import TokenType

    before = tokens[i - 1].token_type if i > 0 else None
    if before in (TokenType.ALIAS, TokenType.VAR, TokenType.IDENTIFIER, TokenType.R_PAREN):
        return True
    depth, j = 0, i + 1
    while j < len(tokens):  # the token after the matching ")"
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(tokens[j].token_type, 0)
        j += 1
        if depth == 0:
            break
    rest = [t.text.upper() for t in tokens[j:j + 2]]
    return rest[:1] == ["AS"] and (rest[1:] == ["("] or rest[1:] in (["MATERIALIZED"], ["NOT"]))


def _is_query(root: exp.Expression) -> bool:
    while isinstance(root, exp.Subquery):
        root = root.this
    return isinstance(root, (exp.Select, exp.SetOperation, exp.Values, exp.Pivot))


def check_sql(sql: str, dialect: str = "duckdb", policy: GuardPolicy | None = None) -> GuardVerdict:
    """Decide whether `sql` is exactly one read-only query that touches nothing but the user's tables.

    Parse time grows with the length of `sql`; callers that need a hard time limit run this in a
    sandbox worker (`Warehouse.check`), which is killed when the limit passes. A caller that
    already holds the parse (`sqltune.execution.parsed`) checks it with `check_tree`.
    """
    return _fail_closed(_check, sql, dialect, policy or DEFAULT_POLICY)


def check_tree(tree: exp.Expression, sql: str, dialect: str = "duckdb", policy: GuardPolicy | None = None) -> GuardVerdict:
    """The verdict of `check_sql` on `sql` already parsed: `tree` is its one statement (as
    `parse_statements` read it, in `dialect`; the caller counted the statements). The text is
    still needed: the length limit, and what only its tokens show. Fails closed as `check_sql`."""
    return _fail_closed(_check_tree, tree, sql, dialect, policy or DEFAULT_POLICY)


def refusal(error: BaseException) -> GuardVerdict:
    """What the guard answers when reading or checking SQL raised `error`: it fails closed."""
    if isinstance(error, (RecursionError, SystemError)):
        # sqlglot's parser and tree walks recurse once per nesting level: thousands of nested
        # parentheses (a degenerate generation, or an attack) exhaust Python's stack. Near the
        # limit, under a sandbox worker's memory cap, CPython can report this as SystemError
        # ("error return without exception set") instead of RecursionError: seen in CI.
        return _reject("too_deeply_nested", "the SQL is nested too deeply to check")
    first = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return _reject("check_failed", f"the SQL could not be checked ({type(error).__name__}: {first})")


def _fail_closed(check, *args) -> GuardVerdict:
    try:
        return check(*args)
    except Exception as error:  # noqa: BLE001 - a guard fails closed: what it cannot check, it refuses
        return refusal(error)


def parse_statements(sql: str, dialect: str, policy: GuardPolicy | None = None) -> list[exp.Expression] | GuardVerdict:
    """The statements of `sql` as the guard reads them (sqlglot, in `dialect`; a trailing comment
    is no statement), or its refusal when there is nothing to read: empty, too long (refused
    before any parse: parse time grows with length) or a syntax error. Whatever else the parser
    raises is raised (`refusal` says what the guard answers to it)."""
    policy = policy or DEFAULT_POLICY
    if sql is None or not sql.strip().strip(";").strip():
        return _reject("empty", "no SQL given")
    if len(sql) > policy.max_chars:
        return _too_long(sql, policy)
    try:
        parsed = sqlglot.parse(sql, read=dialect)
    except (ParseError, TokenError) as error:
        return _reject("syntax_error", _syntax_message(error))
    # A trailing comment after the last ';' parses as a bare Semicolon node: not a statement.
    return [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]


def _too_long(sql: str, policy: GuardPolicy) -> GuardVerdict:
    return _reject("too_long", f"the SQL has {len(sql):,} characters; the limit is {policy.max_chars:,}")


def _check(sql: str, dialect: str, policy: GuardPolicy) -> GuardVerdict:
    statements = parse_statements(sql, dialect, policy)
    if isinstance(statements, GuardVerdict):
        return statements
    return check_statements(statements, sql, dialect, policy)


def check_statements(statements: list[exp.Expression], sql: str, dialect: str, policy: GuardPolicy | None = None) -> GuardVerdict:
    """The verdict on `sql` from its statements (`parse_statements`): exactly one, and it passes `check_tree`."""
    if not statements:
        return _reject("empty", "no SQL statement found")
    if len(statements) > 1:
        return _reject("multiple_statements", f"exactly one statement allowed, found {len(statements)}")
    return check_tree(statements[0], sql, dialect, policy)


def _check_tree(tree: exp.Expression, sql: str, dialect: str, policy: GuardPolicy) -> GuardVerdict:
    if sql is None or not sql.strip().strip(";").strip():
        return _reject("empty", "no SQL given")
    if len(sql) > policy.max_chars:
        return _too_long(sql, policy)
    forbidden = _forbidden_node(tree, dialect, policy) or _token_refusal(sql, dialect)
    if forbidden is not None:
        return forbidden
    if not _is_query(tree):
        shown = tree.sql(dialect=dialect)[:60]
        return _reject("not_a_query", f"only SELECT queries are allowed, got {tree.key.upper()}: {shown!r}")
    return GuardVerdict(ok=True)


def count_statements(sql: str, dialect: str) -> int:
    """Statements in `sql`, by sqlglot's tokenizer (strings and comments cannot fool it)."""
    from sqlglot.tokens import TokenType

    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    count, pending = 0, False
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            count += pending
            pending = False
        else:
            pending = True
    return count + pending


def starts_with_query(sql: str, dialect: str) -> bool:
    """Whether the first token of `sql` opens a query (SELECT, WITH, VALUES, TABLE or "("), by
    sqlglot's tokenizer: comments before it change nothing (F8 of issue 27)."""
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except Exception:  # noqa: BLE001 - untokenizable: not known to be a query
        return False
    first = next((t for t in tokens if t.token_type != TokenType.SEMICOLON), None)
    return first is not None and (first.token_type in (TokenType.SELECT, TokenType.WITH, TokenType.VALUES, TokenType.L_PAREN)
                                  or first.text.upper() == "TABLE")


def allowed_class_names(dialect: str) -> dict[str, list[str]]:
    """The derived node tables by class name, to hand to a sandbox worker (`warm`)."""
    return {kind: sorted(c.__name__ for c in _allowed_classes(dialect, table=kind == "table")) for kind in ("scalar", "table")}


def warm(dialect: str, class_names: dict[str, list[str]] | None = None) -> None:
    """Build the dialect's tables now (a sandbox worker does this before its first query); with
    `class_names` from `allowed_class_names` in the parent, without probing the parser again."""
    if class_names is not None:
        with _class_lock:
            for kind, names in class_names.items():
                classes = frozenset(getattr(exp, n) for n in names if hasattr(exp, n))
                _class_cache.setdefault((dialect, kind == "table"), classes)
    _allowed_classes(dialect)
    _allowed_classes(dialect, table=True)
    check_sql("SELECT 1", dialect)
