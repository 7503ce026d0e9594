"""Refuse SQL that is not one read-only query before it reaches a database.

The check walks sqlglot's AST and works by allow-list where it can: the statement's root must be
a query (SELECT, a set operation, WITH ... SELECT); table-valued functions must be on a short
list of generators; a deny-list of node types and function-name patterns catches writes, settings
and anything that reaches files, the network or other databases anywhere in the tree (a
data-modifying CTE hides a DELETE under a SELECT). The sandbox in `execute.py` is the second
line of defence; this check is the first and gives a precise reason.

Codes: ``empty``, ``syntax_error``, ``multiple_statements``, ``not_a_query``,
``write_statement``, ``forbidden_function``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqltune.core.errors import SqlRejected


class _DropCommandFallbackWarning(logging.Filter):
    """sqlglot warns when it parses unknown syntax as a Command; the guard rejects those anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_DropCommandFallbackWarning())


@dataclass(frozen=True)
class GuardVerdict:
    """Whether `sql` may run; `statement` is the parsed query re-rendered by sqlglot when ok."""

    ok: bool
    code: str | None = None
    reason: str | None = None
    statement: str | None = None


# Statement kinds that write, change settings, reach other databases or run arbitrary commands.
_WRITE_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "DDL", "DML", "Create", "Drop", "Alter", "Insert", "Update", "Delete", "Merge", "Copy",
        "TruncateTable", "Attach", "Detach", "Install", "Command", "Pragma", "Set", "Use",
        "Transaction", "Commit", "Rollback", "Grant", "Revoke", "Analyze", "LoadData", "Export",
        "Refresh", "Cache", "Uncache", "Kill", "Comment", "Declare", "Execute", "Put", "Get",
        "Into", "Lock",
    )
    if hasattr(exp, name)
)

# Commands sqlglot cannot parse that read only; still not queries, so refused as such.
_READ_ONLY_COMMANDS = frozenset({"EXPLAIN", "SHOW", "DESCRIBE", "DESC", "SUMMARIZE"})

# Table-valued functions a query may select FROM: pure generators that touch nothing outside.
TABLE_FUNCTION_ALLOW = frozenset({"range", "generate_series", "exploding_generate_series", "unnest", "explode"})

# Functions that read files or URLs, scan other databases, run SQL from strings, read or change
# settings, touch sequences, large objects or server internals. Matched on the lower-case name.
_FORBIDDEN_FUNCTION = re.compile(
    r"""^(
        read_\w+ | \w+_scan | scan_\w+ | glob | sniff_csv | parquet_\w+ | to_file
      | query | query_table | query_to_xml\w* | table_to_xml\w* | cursor_to_xml\w* | database_to_xml\w*
      | current_setting | set_config | getenv | which_secret | load_extension
      | duckdb_\w+ | pragma_\w+ | sqlite_\w+ | postgres_\w+ | mysql_\w+ | iceberg_\w+ | delta_\w+
      | http\w* | url\w*_get
      | pg_\w+ | lo_\w+ | dblink\w* | nextval | setval | txid_\w+ | copy\w*
    )$""",
    re.VERBOSE,
)

# Quoted table names that DuckDB would treat as a file to scan ("FROM '/etc/passwd'").
_FILE_LIKE_TABLE = re.compile(r"[/\\:]|\.[A-Za-z0-9]{1,8}(\.gz|\.zst)?$|^~")


def _function_names(node: exp.Func) -> set[str]:
    if isinstance(node, exp.Anonymous):
        return {str(node.name).lower()}
    return {name.lower() for name in node.sql_names()}


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


def _forbidden_node(tree: exp.Expression) -> GuardVerdict | None:
    """The first forbidden thing anywhere in `tree`, as a rejection; None when the tree is clean."""
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
                names = _function_names(source)
                if not names & TABLE_FUNCTION_ALLOW:
                    shown = sorted(names)[0]
                    return _reject(
                        "forbidden_function",
                        f"table function {shown}() is not allowed "
                        f"(allowed: {', '.join(sorted(TABLE_FUNCTION_ALLOW))})",
                    )
            elif isinstance(source, exp.Identifier) and source.quoted and _FILE_LIKE_TABLE.search(source.name):
                return _reject("forbidden_function", f"table name {source.name!r} looks like a file path")
        if isinstance(node, exp.Func):
            for name in _function_names(node):
                if _FORBIDDEN_FUNCTION.match(name):
                    return _reject("forbidden_function", f"function {name}() is not allowed")
    return None


def _is_query(root: exp.Expression) -> bool:
    while isinstance(root, exp.Subquery):
        root = root.this
    return isinstance(root, (exp.Select, exp.SetOperation, exp.Values, exp.Pivot))


def check_sql(sql: str, dialect: str = "duckdb") -> GuardVerdict:
    """Decide whether `sql` is exactly one read-only query that touches nothing outside the tables."""
    try:
        return _check(sql, dialect)
    except RecursionError:
        # sqlglot's parser and tree walks recurse once per nesting level: thousands of nested
        # parentheses (a degenerate generation, or an attack) exhaust Python's stack.
        return _reject("too_deeply_nested", "the SQL is nested too deeply to check")


def _check(sql: str, dialect: str) -> GuardVerdict:
    if sql is None or not sql.strip().strip(";").strip():
        return _reject("empty", "no SQL given")
    try:
        parsed = sqlglot.parse(sql, read=dialect)
        # A trailing comment after the last ';' parses as a bare Semicolon node: not a statement.
        statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    except (ParseError, TokenError) as error:
        return _reject("syntax_error", _syntax_message(error))
    if not statements:
        return _reject("empty", "no SQL statement found")
    if len(statements) > 1:
        return _reject("multiple_statements", f"exactly one statement allowed, found {len(statements)}")
    tree = statements[0]
    forbidden = _forbidden_node(tree)
    if forbidden is not None:
        return forbidden
    if not _is_query(tree):
        shown = tree.sql(dialect=dialect)[:60]
        return _reject("not_a_query", f"only SELECT queries are allowed, got {tree.key.upper()}: {shown!r}")
    try:
        normalised = tree.sql(dialect=dialect)
    except Exception as error:  # sqlglot cannot render some parsed trees back; keep the input then
        logging.getLogger(__name__).debug("cannot re-render SQL: %s", error)
        normalised = sql.strip().rstrip(";").strip()
    return GuardVerdict(ok=True, statement=normalised)


def ensure_safe(sql: str, dialect: str = "duckdb") -> str:
    """The normalised statement, or `SqlRejected` with the verdict's code and reason."""
    verdict = check_sql(sql, dialect)
    if not verdict.ok:
        raise SqlRejected(verdict.reason or "rejected", code=verdict.code or "sql_rejected")
    return verdict.statement or sql
