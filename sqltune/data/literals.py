"""The literals of a pair's SQL that augmentation may swap ("slots"), found with sqlglot.

A slot is a literal compared with one table column (resolved through the query's aliases, scope by
scope) that the question names word for word; see `sqltune.data.augment` for the whole rule. Split
from augment.py: finding slots reads only the pair and the schema's column names, never the
warehouse's values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqltune.data.pairs import Pair

_CASE_SENSITIVE_BELOW = 3  # string literals shorter than this must be named with the same case


@dataclass(frozen=True)
class _Target:
    """A table column a literal is compared with: the table node as the SQL names it, the column's identifier."""

    key: tuple[str, ...]  # lower-case (catalog, db, table, column): one value read per key
    table: Any  # exp.Table without alias
    column: Any  # exp.Identifier

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.column.name}"


@dataclass(frozen=True)
class _Slot:
    """A literal of one pair that may be swapped: its text, its kind, where the SQL and the question hold it."""

    text: str  # the value: a string literal's content, or a number as written
    is_string: bool
    target: _Target
    like: bool  # compared with LIKE somewhere: new values must hold no wildcard
    mentions: tuple[tuple[int, int], ...]  # (start, end) spans in the question


def _parse(sql: str, dialect: str):
    import sqlglot

    try:
        return sqlglot.parse_one(sql, read=dialect)
    except Exception:  # sqlglot's ParseError, TokenError and the odd bug on strange input
        return None


def _literal_key(node) -> tuple[bool, str]:
    return (bool(node.is_string), str(node.this))


def _compared_column(literal) -> Any:
    """The column `literal` is compared with (=, IN, LIKE without wildcards), or None."""
    from sqlglot import exp

    parent = literal.parent
    if isinstance(parent, exp.EQ):
        other = parent.right if parent.left is literal else parent.left
        return other if isinstance(other, exp.Column) else None
    if isinstance(parent, exp.In) and literal in parent.expressions and not parent.args.get("query"):
        return parent.this if isinstance(parent.this, exp.Column) else None
    if isinstance(parent, (exp.Like, exp.ILike)) and parent.expression is literal and literal.is_string:
        if "%" in literal.this or "_" in literal.this:
            return None
        return parent.this if isinstance(parent.this, exp.Column) else None
    return None


class _Resolver:
    """Resolves a column to the table it reads, scope by scope (aliases, then outer scopes);
    an unqualified column in a scope of several tables is looked up in the tables' columns."""

    def __init__(self, tree, columns_of):
        from sqlglot.optimizer.scope import traverse_scope

        self.scopes = {id(scope.expression): scope for scope in traverse_scope(tree)}
        self.columns_of = columns_of  # exp.Table -> set of lower-case column names, or None when unknown

    def _scope_of(self, node):
        parent = node.parent
        while parent is not None:
            scope = self.scopes.get(id(parent))
            if scope is not None:
                return scope
            parent = parent.parent
        return None

    def target(self, column) -> _Target | None:
        from sqlglot import exp

        scope = self._scope_of(column)
        if scope is None or not isinstance(column.this, exp.Identifier):
            return None
        qualifier = column.table.lower()
        while scope is not None:
            sources = {name.lower(): source for name, source in scope.sources.items()}
            if qualifier:
                if qualifier in sources:
                    return self._table_target(sources[qualifier], column)
            else:
                tables = [s for s in sources.values() if isinstance(s, exp.Table)]
                if len(sources) == 1 and len(tables) == 1:
                    return self._table_target(tables[0], column)
                owners = [t for t in tables if self._has_column(t, column.name)]
                if len(owners) == 1 and len(tables) == len(sources):
                    return self._table_target(owners[0], column)
                if sources:
                    return None  # ambiguous, or a derived table may hold it
            scope = scope.parent
        return None

    def _has_column(self, table, name: str) -> bool:
        names = self.columns_of(table) if self.columns_of else None
        return names is not None and name.lower() in names

    @staticmethod
    def _table_target(source, column) -> _Target | None:
        from sqlglot import exp

        if not isinstance(source, exp.Table) or not isinstance(source.this, exp.Identifier):
            return None  # a derived table, a CTE's scope, a table function
        table = exp.Table(this=source.this.copy(), db=_copy(source.args.get("db")), catalog=_copy(source.args.get("catalog")))
        key = (source.catalog.lower(), source.db.lower(), source.name.lower(), column.name.lower())
        return _Target(key, table, column.this.copy())


def _copy(node):
    return node.copy() if node is not None else None


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _mention_pattern(text: str, is_string: bool) -> re.Pattern:
    body = re.escape(text)
    if is_string:
        flags = 0 if len(text) < _CASE_SENSITIVE_BELOW else re.IGNORECASE
        return re.compile(rf"(?<!\w){body}(?!\w)", flags)
    return re.compile(rf"(?<![\w.]){body}(?!\w|\.\d)")


def _mentions(question: str, text: str, is_string: bool) -> list[tuple[int, int]]:
    if not text.strip():
        return []
    return [m.span() for m in _mention_pattern(text, is_string).finditer(question)]


def _compared_targets(tree, resolver: "_Resolver") -> dict[tuple[bool, str], tuple[_Target, bool] | None]:
    """Per literal (kind, text) of `tree`: the one column every occurrence is compared with, and
    whether LIKE compares it; None where an occurrence is not such a comparison, the columns
    differ, or a literal has no position to splice at."""
    from sqlglot import exp

    groups: dict[tuple[bool, str], list[Any]] = {}
    for literal in tree.find_all(exp.Literal):
        groups.setdefault(_literal_key(literal), []).append(literal)
    found: dict[tuple[bool, str], tuple[_Target, bool] | None] = {}
    for key, literals in groups.items():
        found[key] = None
        if not key[0] and not _NUMBER.fullmatch(key[1]):
            continue
        if any(literal.meta.get("start") is None for literal in literals):
            continue
        columns = [_compared_column(literal) for literal in literals]
        if any(column is None for column in columns):
            continue
        targets = [resolver.target(column) for column in columns]
        if any(t is None for t in targets) or len({t.key for t in targets}) != 1:
            continue
        found[key] = (targets[0], any(isinstance(literal.parent, (exp.Like, exp.ILike)) for literal in literals))
    return found


def _targets_of(sql: str, dialect: str, columns_of, tree=None) -> dict[tuple[bool, str], tuple[_Target, bool] | None]:
    tree = tree if tree is not None else _parse(sql, dialect)
    if tree is None:
        return {}
    try:
        resolver = _Resolver(tree, columns_of)
    except Exception:  # sqlglot's scope analysis refuses some queries
        return {}
    return _compared_targets(tree, resolver)


def find_slots(pair: Pair, dialect: str, columns_of=None) -> list[_Slot]:
    """The swappable literals of `pair` (see the module docstring), in the order the SQL holds them.
    `columns_of(table node)` gives a table's lower-case column names (for unqualified columns in a
    join); without it such columns are not resolved."""
    targets = _targets_of(pair.sql, dialect, columns_of)
    spans = {key: _mentions(pair.question, key[1], key[0]) for key in targets}
    slots = []
    for (is_string, text), found in targets.items():
        mine = spans[(is_string, text)]
        if found is None or not mine:
            continue
        others = [s for key, located in spans.items() if key != (is_string, text) for s in located]
        if any(a < d and c < b and not (a <= c and d <= b and (a, b) != (c, d)) for a, b in mine for c, d in others):
            continue  # a mention inside another literal's (FRANCISCO in SAN FRANCISCO), or across it
        slots.append(_Slot(text, is_string, found[0], found[1], tuple(mine)))
    return slots
