"""Values grounded in the warehouse: which strings a low-cardinality text column holds.

A query that compares a column with a string the column never holds returns no rows (a model
writes 'longest' or a name of another kind of thing as a value). `ValueIndex` lists the distinct
values of every text column with at most `max_values` of them, built once per warehouse (one
DISTINCT query per text column, in the sandbox) and cached on disk for DuckDB files, keyed by the
file's path, size and modification time. `ValueIndex.unknown_literals(sql)` names each string
literal compared (=, <>, IN) with an indexed column that is not one of its values; `repaired`
replaces them with the values meant. Both take the query's parse (`sqltune.execution.parsed`)
when the caller holds it, so decoding reads each SQL text once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqltune.core.paths import atomic_write_text, home
from sqltune.schema.model import Schema
from sqltune.schema.samples import is_text_type

if TYPE_CHECKING:
    from sqltune.execution.execute import Warehouse
    from sqltune.execution.parsed import ParsedSql

log = logging.getLogger(__name__)

_MEMORY: dict[str, "ValueIndex"] = {}
_LOCK = threading.Lock()


def _quote(name: str, dialect: str) -> str:
    if dialect == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def _cache_key(source: str, max_values: int) -> str | None:
    """A key that changes when the warehouse file changes; None for a server (not cached on disk)."""
    if "://" in source:
        return None
    try:
        stat = os.stat(source)
    except OSError:
        return None
    text = f"{Path(source).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{max_values}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class ValueIndex:
    """Distinct values of low-cardinality text columns, by lower-case (table, column)."""

    values: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    dialect: str = "duckdb"
    columns: dict[str, frozenset[str]] = field(default_factory=dict)  # every column of every table

    @classmethod
    def build(cls, warehouse: "Warehouse", schema: Schema, *, max_values: int = 200, timeout_s: float = 10.0) -> "ValueIndex":
        """Query the distinct values of every text column of `schema` (columns with more than
        `max_values` are left out: not low-cardinality; one that times out is left out too)."""
        dialect = getattr(warehouse, "dialect", schema.dialect)
        index = cls(dialect=dialect, columns=_columns(schema))
        for table in schema.tables:
            for column in table.columns:
                if not is_text_type(column.type):
                    continue
                sql = (f"SELECT DISTINCT {_quote(column.name, dialect)} FROM {_quote(table.name, dialect)} "
                       f"WHERE {_quote(column.name, dialect)} IS NOT NULL LIMIT {max_values + 1}")
                result = warehouse.execute(sql, max_rows=max_values + 1, timeout_s=timeout_s)
                if not result.ok or len(result.rows) > max_values:
                    continue
                index.values[(table.name.lower(), column.name.lower())] = frozenset(str(r[0]) for r in result.rows)
        return index

    @classmethod
    def for_warehouse(cls, warehouse: "Warehouse", schema: Schema, *, max_values: int = 200) -> "ValueIndex":
        """The index of `warehouse`: from memory, from the disk cache (DuckDB files), or built."""
        source = str(warehouse.source)
        key = _cache_key(source, max_values)
        memory_key = key or f"{source}|{max_values}"
        with _LOCK:
            if memory_key in _MEMORY:
                return _MEMORY[memory_key]
        path = home() / "cache" / "values" / f"{key}.json" if key else None
        index = None
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                index = cls({(t, c): frozenset(v) for t, c, v in data["values"]}, data["dialect"], _columns(schema))
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("ignoring unreadable value index cache %s", path)
        if index is None:
            index = cls.build(warehouse, schema, max_values=max_values)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, json.dumps({"dialect": index.dialect, "values": [
                    [t, c, sorted(v)] for (t, c), v in sorted(index.values.items())]}))
        with _LOCK:
            _MEMORY[memory_key] = index
        return index

    def unknown_literals(self, sql: "str | ParsedSql") -> list[str]:
        """One line per string literal compared with an indexed column that does not hold it.
        `sql`: the text, or its parse (`ParsedSql`, read once by the caller)."""
        tree = self._tree(sql)
        problems = []
        for column, literals, held in self._compared_strings(tree):
            for lit in literals:
                if lit.this not in held:
                    shown = ", ".join(sorted(held)[:5])
                    problems.append(f"{column.sql(dialect=self.dialect)} = '{lit.this}': not a value of the column "
                                    f"(it holds {shown}{', ...' if len(held) > 5 else ''})")
        return problems

    def repair(self, sql: "str | ParsedSql", question: str = "", *, cutoff: float = 0.6) -> str | None:
        """`sql` with each string literal that an indexed column does not hold (compared with =, <>
        or IN) replaced by the value of that column closest to it: one the question names, else the
        most similar spelling (difflib ratio, case-folded, at least `cutoff`: difflib's own default).
        None when no literal could be replaced."""
        fixed = self.repaired(sql, question, cutoff=cutoff)
        return None if fixed is None else fixed.sql

    def repaired(self, sql: "str | ParsedSql", question: str = "", *, cutoff: float = 0.6) -> "ParsedSql | None":
        """`repair`, with the repaired query's parse: its tree is the repaired copy of `sql`'s tree
        (which stays as it was), so the new text is not parsed again."""
        from sqlglot import exp

        from sqltune.execution.parsed import ParsedSql

        tree = self._tree(sql)
        if tree is None:
            return None
        tree = tree.copy()  # the caller's tree is shared: repair a copy
        asked = question.casefold()
        changed = False
        for _, literals, held in list(self._compared_strings(tree)):
            for lit in literals:
                if lit.this in held:
                    continue
                best = _closest_value(lit.this, held, asked, cutoff)
                if best is not None:
                    lit.replace(exp.Literal.string(best))
                    changed = True
        return ParsedSql.of_tree(tree.sql(dialect=self.dialect), self.dialect, tree) if changed else None

    def _tree(self, sql: "str | ParsedSql"):
        """The tree of `sql`: its parse when given in this index's dialect, else read here (None: it does not parse)."""
        from sqltune.execution.parsed import ParsedSql, parse_sql

        parsed = sql if isinstance(sql, ParsedSql) and sql.dialect == self.dialect else None
        if parsed is None:  # unparsable SQL fails on execution anyway
            parsed = parse_sql(sql.sql if isinstance(sql, ParsedSql) else sql, self.dialect)
        return parsed.tree

    def _compared_strings(self, tree) -> Iterator[tuple[Any, list[Any], frozenset[str]]]:
        """(column, its string literal nodes, the values it holds) for each indexed column that a
        query compares with strings (=, <>, IN)."""
        from sqlglot import exp

        if tree is None:
            return
        tables: dict[str, str] = {}
        for table in tree.find_all(exp.Table):
            tables[(table.alias_or_name or "").lower()] = table.name.lower()
            tables.setdefault(table.name.lower(), table.name.lower())
        for node in tree.find_all(exp.EQ, exp.NEQ, exp.In):
            if isinstance(node, exp.In):
                column, literals = node.this, node.expressions
            else:
                column, literals = node.left, [node.right]
                if not isinstance(column, exp.Column):
                    column, literals = node.right, [node.left]
            if not isinstance(column, exp.Column):
                continue
            strings = [lit for lit in literals if isinstance(lit, exp.Literal) and lit.is_string]
            held = self._column_values(column, tables) if strings else None
            if held is not None:
                yield column, strings, held

    def _column_values(self, column, tables: dict[str, str]) -> frozenset[str] | None:
        name = column.name.lower()
        qualifier = (column.table or "").lower()
        if qualifier:
            owner = tables.get(qualifier)
            return self.values.get((owner, name)) if owner else None
        owners = [t for t in set(tables.values()) if name in self.columns.get(t, ())]
        if len(owners) != 1:
            return None  # no column of that name in the query's tables (an alias?), or ambiguous
        return self.values.get((owners[0], name))


def _closest_value(text: str, held: frozenset[str], question: str, cutoff: float) -> str | None:
    """The held value meant by `text`: the same but for case, else one the question names (as whole
    words; three characters at least, so a code such as 'A' does not match a word), else the most
    similar spelling at least `cutoff` alike."""
    import difflib
    import re

    folded = text.casefold()
    same = sorted(v for v in held if v.casefold() == folded)
    if same:
        return same[0]
    named = [v for v in held if len(v) >= 3 and re.search(r"(?<!\w)" + re.escape(v.casefold()) + r"(?!\w)", question)]
    if named:
        # a value the question names, preferring the one most like what the model wrote
        return max(named, key=lambda v: (difflib.SequenceMatcher(None, folded, v.casefold()).ratio(), len(v), v))
    scored = [(difflib.SequenceMatcher(None, folded, v.casefold()).ratio(), v) for v in held]
    ratio, value = max(scored, default=(0.0, None))
    return value if ratio >= cutoff else None


def _columns(schema: Schema) -> dict[str, frozenset[str]]:
    return {t.name.lower(): frozenset(c.name.lower() for c in t.columns) for t in schema.tables}
