"""One SQL text parsed once: `ParsedSql` (its statements as the guard reads them, or why it has
none) and `ParseOnce`, the parses of one answer.

The decoding process (eval and serve, where the model runs) reads each SQL text of an answer once,
here, and hands the tree to whatever checks it: the whole-query name check
(`sqltune.schema.query_names.unknown_names(tree=)`), the value check and value repair
(`sqltune.execution.values.ValueIndex`) and, where serving checks an answer without a warehouse,
the guard (`guard_verdict`, through `sqltune.execution.guard.check_tree`). The parse is the
guard's own (`guard.parse_statements`): the length limit before any parse, and a parser that
raises gives the guard's refusal, not an exception. Trees are shared: whoever changes one
(value repair) copies it first.

This is not the security boundary. A query that runs is checked again, from its text, by the
guard in the sandbox worker that runs it (`sqltune.execution.sandbox_worker`): another process,
under the query's time limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from sqltune.execution.guard import (DEFAULT_POLICY, GuardPolicy, GuardVerdict, check_sql, check_statements,
                                     parse_statements, refusal)


@dataclass(eq=False)
class ParsedSql:
    """`sql` read in `dialect`: its statements, or the guard's `refused` verdict when it has none
    to read (empty, too long, a syntax error, nested too deeply)."""

    sql: str
    dialect: str
    statements: tuple[exp.Expression, ...] = ()
    refused: GuardVerdict | None = None
    tree: exp.Expression | None = None  # the one statement (several: a Block of copies, as sqlglot.parse_one reads them)

    @classmethod
    def of_tree(cls, sql: str, dialect: str, tree: exp.Expression) -> "ParsedSql":
        """`sql` whose parse is `tree` already (value repair writes `sql` from `tree`): not parsed again."""
        statements = tuple(tree.expressions) if isinstance(tree, exp.Block) else (tree,)
        return cls(sql, dialect, statements, tree=tree)

    @property
    def error(self) -> str | None:
        """Why nothing was parsed (None: it was)."""
        return None if self.refused is None else self.refused.reason


def parse_sql(sql: str, dialect: str, policy: GuardPolicy | None = None) -> ParsedSql:
    """Read `sql` once, as the guard does (`guard.parse_statements`), never raising."""
    try:
        found = parse_statements(sql, dialect, policy)
    except Exception as error:  # noqa: BLE001 - the guard's answer to a parser that breaks
        return ParsedSql(sql, dialect, refused=refusal(error))
    if isinstance(found, GuardVerdict):
        return ParsedSql(sql, dialect, refused=found)
    if not found:
        return ParsedSql(sql, dialect, refused=GuardVerdict(False, "empty", "no SQL statement found"))
    tree = found[0] if len(found) == 1 else exp.Block(expressions=[s.copy() for s in found])
    return ParsedSql(sql, dialect, tuple(found), tree=tree)


def guard_verdict(parsed: ParsedSql, policy: GuardPolicy | None = None) -> GuardVerdict:
    """The verdict of `check_sql(parsed.sql, parsed.dialect, policy)`, from the parse at hand."""
    policy = policy or DEFAULT_POLICY
    if parsed.refused is None:
        return check_statements(list(parsed.statements), parsed.sql, parsed.dialect, policy)
    if parsed.refused.code == "too_long" and len(parsed.sql) <= policy.max_chars:
        return check_sql(parsed.sql, parsed.dialect, policy)  # left unread under a tighter limit than this policy's
    return parsed.refused


class ParseOnce:
    """The parses of one answer's SQL texts, in one dialect: `parse(sql)` reads each distinct text
    once (`parse_sql`) and gives the same `ParsedSql` after."""

    def __init__(self, dialect: str, policy: GuardPolicy | None = None):
        self.dialect = dialect
        self.policy = policy
        self.by_text: dict[str, ParsedSql] = {}

    def __call__(self, sql: str) -> ParsedSql:
        found = self.by_text.get(sql)
        if found is None:
            found = self.by_text[sql] = parse_sql(sql, self.dialect, self.policy)
        return found

    def get(self, sql: str) -> ParsedSql | None:
        """The parse of `sql` when it was read (nothing is parsed here)."""
        return self.by_text.get(sql)

    def add(self, parsed: ParsedSql) -> ParsedSql:
        """Keep a parse made elsewhere (a repaired query and its tree); a text read before keeps its first parse."""
        return self.by_text.setdefault(parsed.sql, parsed)


def text_of(sql: Any) -> str:
    """The SQL text of `sql`: a `ParsedSql`'s, or `sql` itself."""
    return sql.sql if isinstance(sql, ParsedSql) else sql


__all__ = ["ParseOnce", "ParsedSql", "guard_verdict", "parse_sql", "text_of"]
