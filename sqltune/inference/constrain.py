"""Schema-constrained decoding: identifiers the model writes must be names the prompt showed.

`SchemaConstraint` is a transformers `LogitsProcessor`. While the model writes SQL it follows the
text with a small lexer (`SqlLexer`: a state machine over characters, not a parser) that knows
where a name belongs:

- after FROM / JOIN / a comma in a FROM clause: a table of the shown schema, a CTE the query
  defined, or a table function (which must be called);
- after ``alias.`` or ``table.``: a column of that table (any shown column, or an alias, when the
  qualifier is a CTE, a subquery, or an alias of different tables in different scopes); once the
  FROM items are written, a column is no qualifier;
- anywhere else (SELECT, WHERE, GROUP BY, ORDER BY, ON, HAVING ...): a column or table of the
  shown schema, an alias or CTE the query defined, an SQL keyword, or an allowed function (which
  must then be called);
- before a query's FROM (its SELECT list, and subqueries inside that list), also any word followed
  by a dot: an alias the FROM not yet written may define, of any length or spelling (``T1``,
  ``CITYalias0``, even the name of a table or column). The lexer cannot know yet what such a
  qualifier names (that FROM may alias any table or subquery with it), so any name may follow
  the dot; ``qualifier.name`` is checked when the alias is defined (the table it names must have
  that column), when the FROM ends, and when the query ends; the query cannot end while such an
  alias is undefined;
- after a query's FROM items (WHERE, ON, GROUP BY ...): only columns of the tables its FROM (or
  an enclosing query's) reads, and those tables unaliased as qualifiers, unless one of them is a
  subquery, CTE or table function; a SELECT list's columns and ``table.`` qualifiers written
  before the FROM must belong to what it reads before the FROM ends (WHERE, GROUP BY, ``)``, the
  end: the model goes on with a JOIN instead);
- a definition (after AS, after a table in FROM, after WITH) is free: it defines an alias.

Where the lexer cannot decide, it lets the text through rather than refuse a query the warehouse
would run. What a token-by-token lexer cannot see (a column of a subquery that does not select
it, which of several scopes an alias reused across subqueries means) is left to the whole-query
check (`sqltune.schema.query_names`).

Unquoted names compare case-insensitively; double quotes (DuckDB, PostgreSQL; exact case in
PostgreSQL) and backticks (MySQL) quote a name. String literals, numbers and punctuation are left
alone. Text before the first SELECT/WITH and after the statement ends is free (`extract_sql`
drops it).

Per step the allowed tokens are computed without trying every vocabulary entry: each token's
string is decoded once per tokenizer (`vocab_index`, cached) and split into leading punctuation,
a word and a tail; tokens are grouped by their leading punctuation, and for each group the words
that continue a valid name prefix are looked up in a dict (cached per group, slot and prefix).
Only the few tokens with quotes or text after their word are simulated character by character.

Length (about 1,100 lines; the one module excepted from sqltune's 600-line limit): the lexer, the
name tables and the logits processor are one state machine over the SQL text, whose states must be
read together; the lexer's states are only meaningful to the processor that feeds it tokens.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from sqltune.inference.decoding_state import is_probe
from sqltune.schema.model import Schema

PUNCT = frozenset("!\"#%&'()*+,-./:;<=>?@[\\]^`{|}~")

# Words SQL syntax needs besides names and functions: clauses, operators, types (CAST), date parts.
KEYWORDS = frozenset("""
select from where group by order having limit offset as on join inner left right full outer cross natural
using and or not in is null like ilike between case when then else end distinct all any some exists union
intersect except with recursive asc desc nulls first last true false interval cast try_cast over partition
rows range groups preceding following unbounded current row filter within lateral qualify window escape
similar to collate fetch next only ties semi anti asof positional glob at time zone values array
integer int bigint smallint tinyint hugeint double float real decimal numeric varchar text boolean bool
char character varying date timestamp timestamptz precision signed unsigned
year years month months day days hour hours minute minutes second seconds week weeks quarter dow doy
epoch decade century millennium isodow isoyear millisecond milliseconds microsecond microseconds
div regexp rlike separator
""".split())

# Keywords that change the lexer's state when read; any other keyword followed by a dot is taken
# for a name used as a qualifier (a table or alias named `month`, `date`, `year` ...).
_STATE_KEYWORDS = frozenset({"select", "from", "join", "with", "recursive", "as", "where", "group", "order", "having",
                             "qualify", "window", "limit", "offset", "union", "intersect", "except", "on", "using"})

FREE, WORD, NUMBER, STRING, QIDENT, COMMENT = range(6)
PREAMBLE, SQL, ENDED = range(3)


def is_word_char(char: str) -> bool:
    return not (char in PUNCT or char.isspace())


def quote_chars(dialect: str) -> tuple[str, str]:
    """(identifier quotes, string quotes) of `dialect`."""
    if dialect in ("mysql", "bigquery", "spark", "databricks", "hive"):
        return "`", "'\""
    return '"', "'"


def _static(slot: tuple) -> tuple:
    """The key of a slot's fixed words: ("loose",), ("scoped", (tables, quals)), or the slot itself."""
    if slot[0] == "loose":
        return ("scoped", slot[2]) if len(slot) > 2 else ("loose",)
    return slot


def _prefixes(words: Iterable[str]) -> frozenset[str]:
    return frozenset(w[:k] for w in words for k in range(1, len(w) + 1))


@dataclass
class SchemaNames:
    """The names of one shown schema, prepared for fast prefix checks (all lower case unless quoted
    names are case-sensitive in the dialect)."""

    dialect: str
    tables: frozenset[str]
    columns: dict[str, frozenset[str]]
    all_columns: frozenset[str]
    quoted: dict[tuple, frozenset[str]]  # slot -> names as a quoted identifier may spell them there (lower case where case-insensitive)
    quoted_case_sensitive: bool
    functions: frozenset[str]
    table_functions: frozenset[str]
    static: dict[tuple, tuple[str, ...]] = field(default_factory=dict)  # slot -> words
    prefix: dict[tuple, frozenset[str]] = field(default_factory=dict)
    _scope_columns: dict[tuple, frozenset[str]] = field(default_factory=dict, repr=False)
    quoted_prefix: dict[tuple, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_schema(cls, schema: Schema, dialect: str | None = None) -> "SchemaNames":
        from sqltune.execution.guard_functions import allowed_functions, allowed_table_functions

        dialect = dialect or schema.dialect or "duckdb"
        plain = lambda name: bool(name) and not name[0].isdigit() and all(is_word_char(c) for c in name)  # noqa: E731
        columns = {t.name.lower(): frozenset(c.name.lower() for c in t.columns if plain(c.name)) for t in schema.tables}
        tables = frozenset(t.name.lower() for t in schema.tables if plain(t.name))
        all_columns = frozenset(c for cols in columns.values() for c in cols)
        sensitive = dialect in ("postgres", "postgresql", "redshift")
        spell = (lambda n: n) if sensitive else str.lower  # noqa: E731
        quoted_tables = frozenset(spell(t.name) for t in schema.tables)
        quoted_columns = {t.name.lower(): frozenset(spell(c.name) for c in t.columns) for t in schema.tables}
        every_column = frozenset(c for cols in quoted_columns.values() for c in cols)
        quoted = {("table",): quoted_tables, ("cols", None): every_column, ("loose",): quoted_tables | every_column,
                  **{("cols", table): cols for table, cols in quoted_columns.items()}}
        functions = allowed_functions(dialect)
        table_functions = frozenset(allowed_table_functions(dialect))
        names = cls(dialect, tables, columns, all_columns, quoted, sensitive, functions, table_functions)
        names.static[("table",)] = tuple(sorted(tables | table_functions | {"lateral"}))
        names.static[("cols", None)] = tuple(sorted(all_columns))
        for table, cols in columns.items():
            names.static[("cols", table)] = tuple(sorted(cols))
        names.static[("loose",)] = tuple(sorted(all_columns | tables | KEYWORDS | functions))
        names.prefix = {slot: _prefixes(words) for slot, words in names.static.items()}
        names.quoted_prefix = {slot: _prefixes(words) for slot, words in quoted.items()}
        return names

    def words(self, static: tuple) -> tuple[str, ...]:
        """The words a slot accepts; ("scoped", (tables, quals)): columns of those tables, the
        qualifiers, keywords and functions (built on first use)."""
        found = self.static.get(static)
        if found is None:
            tables, quals = static[1]
            found = tuple(sorted(self.scope_columns(static[1]) | quals | KEYWORDS | self.functions))
            if len(self.static) > 512:
                self._forget_scopes()
            self.static[static] = found
        return found

    def prefixes(self, static: tuple) -> frozenset[str]:
        found = self.prefix.get(static)
        if found is None:
            if static[0] != "scoped":
                return frozenset()
            found = _prefixes(self.words(static))
            self.prefix[static] = found
        return found

    def scope_columns(self, scope: tuple) -> frozenset[str]:
        """The columns of the tables in `scope` ((tables, quals))."""
        found = self._scope_columns.get(scope[0])
        if found is None:
            found = frozenset(c for t in scope[0] for c in self.columns.get(t, ()))
            self._scope_columns[scope[0]] = found
        return found

    def _forget_scopes(self) -> None:
        for key in [k for k in self.static if k[0] == "scoped"]:
            self.static.pop(key, None)
            self.prefix.pop(key, None)
        self._scope_columns.clear()

    def quoted_names(self, slot: tuple) -> frozenset[str]:
        """The names a quoted identifier may spell in `slot` (a table after FROM, a column of the
        qualifier's table after ``alias.``)."""
        return self.quoted.get(("loose",) if slot[0] == "loose" else slot, frozenset())


@lru_cache(maxsize=64)
def _names_for(key: tuple, dialect: str) -> SchemaNames:
    tables = [(t, cols) for t, cols in key]
    from sqltune.schema.model import Column, Table

    return SchemaNames.from_schema(Schema("shown", [Table(t, [Column(c, "") for c in cols]) for t, cols in tables], dialect), dialect)


def schema_names(schema: Schema, dialect: str | None = None) -> SchemaNames:
    """`SchemaNames` of `schema`, cached by its table and column names."""
    key = tuple((t.name, tuple(c.name for c in t.columns)) for t in schema.tables)
    return _names_for(key, dialect or schema.dialect or "duckdb")


class _Frame:
    """One parenthesis level: which clause the lexer is in, whether it is a query, and for a query
    what its FROM reads: `tables` (schema tables), `quals` (those usable as qualifiers: not aliased),
    `defined` (the aliases its FROM items define), `opaque` (a subquery, CTE or table function whose
    columns the lexer does not know), and the columns and table qualifiers its SELECT list used
    before the FROM was written."""

    __slots__ = ("clause", "query", "with_list", "tables", "quals", "defined", "opaque", "select_cols", "select_quals")

    def __init__(self, clause: str = "", query: bool = False, with_list: bool = False):
        self.clause, self.query, self.with_list = clause, query, with_list
        self.tables: frozenset[str] = frozenset()
        self.quals: frozenset[str] = frozenset()
        self.defined: frozenset[str] = frozenset()
        self.opaque = False
        self.select_cols: tuple[str, ...] = ()
        self.select_quals: tuple[str, ...] = ()

    def copy(self) -> "_Frame":
        other = _Frame(self.clause, self.query, self.with_list)
        other.tables, other.quals, other.defined, other.opaque = self.tables, self.quals, self.defined, self.opaque
        other.select_cols, other.select_quals = self.select_cols, self.select_quals
        return other

    def start_query(self, clause: str, with_list: bool = False) -> None:
        self.clause, self.query, self.with_list = clause, True, with_list
        self.tables, self.quals, self.defined, self.opaque = frozenset(), frozenset(), frozenset(), False
        self.select_cols, self.select_quals = (), ()


# Clauses after the FROM items: a column named there must belong to a table the FROM reads.
_AFTER_FROM = frozenset({"where", "group", "having", "qualify", "order", "window", "limit", "offset", "on", "using"})
_FROM_REGION = frozenset({"from", "on", "using"})
_LEAVE_FROM = frozenset({"where", "group", "order", "having", "qualify", "window", "limit", "offset", "union", "intersect",
                         "except"})


class SqlLexer:
    """Follows generated SQL character by character; `feed` says whether the text keeps every
    identifier within the schema's names (False: the text breaks the constraint)."""

    __slots__ = ("names", "phase", "mode", "buf", "slot", "frames", "expect", "aliases", "ctes", "pending",
                 "pending_cols", "last", "last_word", "must_follow", "quote", "prev", "broken", "tail", "_frames_shared")

    def __init__(self, names: SchemaNames):
        self.names = names
        self.phase = PREAMBLE
        self.mode = FREE
        self.buf = ""
        self.slot: tuple | None = None
        self.frames: list[_Frame] = [_Frame()]
        self._frames_shared = False
        self.expect: tuple | None = None  # ("def", kind, target) | ("qual", target) | ("fwd", qualifier) | None
        self.aliases: dict[str, str | None] = {}
        self.ctes: frozenset[str] = frozenset()
        self.pending: frozenset[str] = frozenset()  # names used as qualifiers (`T1.`) that a FROM must yet define
        # (qualifier, name, depth): a name used through a qualifier before a FROM (at query frame `depth`
        # or an enclosing one) settled what the qualifier means; checked there, or when the query ends
        self.pending_cols: tuple[tuple[str, str, int], ...] = ()
        self.last = ""
        self.last_word = ""
        self.must_follow: str | None = None
        self.quote = ""
        self.prev = ""
        self.broken = False
        self.tail = ""  # the last few characters (stop strings)

    def copy(self) -> "SqlLexer":
        other = SqlLexer.__new__(SqlLexer)
        other.names, other.phase, other.mode, other.buf, other.slot = self.names, self.phase, self.mode, self.buf, self.slot
        other.frames, other.expect, other.aliases, other.ctes = self.frames, self.expect, self.aliases, self.ctes
        other.pending, other.pending_cols, other.last, other.last_word = self.pending, self.pending_cols, self.last, self.last_word
        other.must_follow, other.quote, other.prev, other.broken = self.must_follow, self.quote, self.prev, self.broken
        other.tail = self.tail
        other._frames_shared = self._frames_shared = True  # copy on write
        return other

    def _own_frames(self) -> list[_Frame]:
        if self._frames_shared:
            self.frames = [f.copy() for f in self.frames]
            self._frames_shared = False
        return self.frames

    # -- what a word starting here may be ---------------------------------------------------------
    def current_slot(self) -> tuple | None:
        """The slot of a word that starts now: None (free), ("table",), ("cols", table), ("loose", in_select),
        or ("forward", qualifier): any name, after a qualifier that a FROM not yet written may define
        (it may name a table's column or a subquery's output: checked when the alias is defined,
        when the FROM ends and at the end)."""
        if self.phase != SQL:
            return None
        if self.expect is not None:
            if self.expect[0] == "fwd":
                return ("forward", self.expect[1])
            if self.expect[0] == "qual":
                return ("cols", self.expect[1])
            return None  # a definition
        frame = self.frames[-1]
        if frame.clause == "from" and self.last in ("kw:from", "kw:join", "punct:,"):
            return ("table",)
        query = next((f for f in reversed(self.frames) if f.query), frame)  # function parentheses: their query's clause
        if query.clause in _AFTER_FROM:
            scope = self.scope()
            if scope is not None and scope[0]:
                return ("loose", False, scope)  # after FROM: columns of the tables it reads
        return ("loose", query.clause == "select")

    def scope(self, upto: int | None = None) -> tuple[frozenset[str], frozenset[str]] | None:
        """(tables, qualifiers) the FROM clauses of the open queries read (up to frame `upto`);
        None when that is unknown: one reads a subquery, CTE or table function, or an enclosing
        query has not written its FROM yet (a correlated subquery in a SELECT list)."""
        frames = self.frames if upto is None else self.frames[: upto + 1]
        innermost = max((i for i, f in enumerate(frames) if f.query), default=-1)
        tables: frozenset[str] = frozenset()
        quals: frozenset[str] = frozenset()
        for i, frame in enumerate(frames):
            if frame.query:
                if frame.opaque or i < innermost and frame.clause == "select":
                    return None
                tables, quals = tables | frame.tables, quals | frame.quals
        return tables, quals

    def forward_ok(self) -> bool:
        """Whether a name may be an alias that a FROM not yet written defines: an open query (the
        innermost, or an enclosing one of a subquery in its SELECT list) has not reached its FROM."""
        return any(f.query and f.clause == "select" for f in self.frames)

    def _settled(self, qualifier: str) -> bool:
        """Whether `qualifier` surely names what it names now: the FROM of an open query defines it
        (or reads a table of that name unaliased), and no query inside that one can still define it."""
        for frame in reversed(self.frames):
            if not frame.query:
                continue
            if qualifier in frame.defined or qualifier in frame.quals:
                return True
            if frame.clause == "select":
                return False
        return False

    def _query_depth(self) -> int:
        """The index of the innermost query frame (0 when none is open)."""
        frames = self.frames
        return next((i for i in range(len(frames) - 1, -1, -1) if frames[i].query), 0)

    def _through_ok(self, qualifier: str, name: str) -> bool:
        """Whether `qualifier.name`, written before `qualifier` was defined, names something as the
        query stands now (True while the qualifier is still undefined: `pending` holds it)."""
        names = self.names
        if qualifier in self.aliases:
            target = self.aliases[qualifier]
            if target is None:  # a subquery or CTE (or the alias of different tables in different scopes)
                return name in names.all_columns or name in self.aliases
            return name in names.columns.get(target, ())
        if qualifier in names.columns:  # a table read under its own name
            return name in names.columns[qualifier]
        return True

    def _covered(self, at: int) -> bool:
        """Whether the columns and table qualifiers the SELECT list of query frame `at` used before
        its FROM belong to the tables that FROM (or an enclosing query's) reads, and names used
        through a qualifier before it was defined belong to what it names (once no enclosing query
        can still define it)."""
        frame = self.frames[at]
        if self.pending_cols and not any(f.query and f.clause == "select" for f in self.frames[:at]):
            if not all(self._through_ok(q, n) for q, n, depth in self.pending_cols if depth >= at):
                return False
        if not (frame.select_cols or frame.select_quals):
            return True
        scope = self.scope(at)
        if scope is None:
            return True
        columns = self.names.scope_columns(scope)
        return (all(c in columns or c in self.aliases for c in frame.select_cols)
                and all(q in scope[1] or q in self.aliases or q in self.ctes for q in frame.select_quals))

    def _query_frame(self) -> _Frame:
        """The innermost query frame, owned (safe to change)."""
        frames = self._own_frames()
        return next((f for f in reversed(frames) if f.query), frames[-1])

    def _from_item(self, lw: str) -> None:
        """A FROM item was read: a schema table (by name), or something whose columns are unknown."""
        frame = self._query_frame()
        if lw in self.names.columns and lw not in self.ctes:
            frame.tables, frame.quals = frame.tables | {lw}, frame.quals | {lw}
        else:
            frame.opaque = True

    def dynamic_names(self, slot: tuple | None) -> frozenset[str]:
        """Names the query defined that `slot` accepts (aliases, CTEs, aliases used before their FROM)."""
        if slot is None or slot[0] == "forward":
            return frozenset()
        if slot[0] == "table":
            return self.ctes
        if slot[0] == "cols":
            return frozenset(self.aliases) if slot[1] is None else frozenset()
        return frozenset(self.aliases) | self.ctes | self.pending

    def word_prefix_ok(self, word: str, slot: tuple | None) -> bool:
        if slot is None or slot[0] == "forward":
            return True
        lw = word.lower()
        if lw in self.names.prefixes(_static(slot)):
            return True
        if any(n.startswith(lw) for n in self.dynamic_names(slot)):
            return True
        return slot[0] == "loose" and self.forward_ok()  # any word may be an alias a FROM will define

    # -- feeding ----------------------------------------------------------------------------------
    def feed(self, text: str) -> bool:
        self.tail = (self.tail + text)[-8:]
        for char in text:
            if not self._char(char):
                return False
        return True

    def feed_ok(self, text: str) -> bool:
        """Whether `text` would keep the query valid (this lexer unchanged)."""
        return self.copy().feed(text)

    def end(self) -> bool:
        """Whether the query may end here (end of text)."""
        if self.phase != SQL or self.broken:
            return True
        if self.mode in (WORD, NUMBER, QIDENT):
            probe = self.copy()
            if not probe._finish_token(""):
                return False
            return probe.must_follow is None and probe.complete()
        return self.must_follow is None and self.complete()

    def complete(self) -> bool:
        """Whether the names read so far make a whole query: every alias used before its FROM is
        defined, and a column used through one that names a subquery is some name of the query."""
        if self.pending:
            return False
        if not all(self._covered(i) for i, f in enumerate(self.frames) if f.query and f.clause in _FROM_REGION | {"select"}):
            return False
        return all(self._through_ok(q, name) for q, name, _ in self.pending_cols)

    def _char(self, c: str) -> bool:
        if self.broken or self.phase == ENDED:
            return True
        prev, self.prev = self.prev, c
        mode = self.mode
        if mode == STRING:
            if c == self.quote:  # a doubled quote ('') closes and reopens: the same text either way
                self.mode = FREE
                self.last = "value"
            return True
        if mode == COMMENT:
            if c == "\n":
                self.mode = FREE
            return True
        if mode == QIDENT:
            if c == self.quote:
                return self._finish_quoted()
            content = self.buf + c
            if self.phase == SQL and self.slot is not None and self.slot[0] != "forward":
                check = content if self.names.quoted_case_sensitive else content.lower()
                static = ("loose",) if self.slot[0] == "loose" else self.slot
                if check not in self.names.quoted_prefix.get(static, ()) and not any(
                        n.startswith(check.lower()) for n in self.dynamic_names(self.slot)) and not (
                        self.slot[0] == "loose" and self.forward_ok()):
                    return False
            self.buf = content
            return True
        if mode == NUMBER:
            if c.isdigit() or c in "._":
                self.buf += c
                return True
            if is_word_char(c):
                return self.phase != SQL
            self.mode = FREE
            self.last = "value"
            return self._free(c, prev)
        if mode == WORD:
            if is_word_char(c):
                self.buf += c
                return self.phase != SQL or self.word_prefix_ok(self.buf, self.slot)
            if not self._finish_token(c):
                return False
            return self._free(c, prev)
        return self._free(c, prev)

    def _free(self, c: str, prev: str) -> bool:
        """`c` outside any token."""
        if c.isspace():
            return True
        if self.must_follow is not None:
            if c not in self.must_follow:
                return False
            self.must_follow = None
        if self.phase == PREAMBLE:
            if is_word_char(c):
                self.mode, self.buf, self.slot = WORD, c, None
            return True
        if is_word_char(c) and prev and is_word_char(prev) and self.mode == FREE:
            return False  # the prefilled SELECT ended its word: text glued to it would be another word
        _, string_quotes = quote_chars(self.names.dialect)
        ident_quotes, _ = quote_chars(self.names.dialect)
        if c in string_quotes:
            self.mode, self.quote, self.expect = STRING, c, None
            return True
        if c in ident_quotes:
            self.slot = self.current_slot()
            self.mode, self.quote, self.buf = QIDENT, c, ""
            return True
        if c == "`":  # a closing code fence
            self.phase = ENDED
            return True
        if is_word_char(c):
            if c.isdigit():
                self.mode, self.buf, self.expect = NUMBER, c, None
                return True
            self.slot = self.current_slot()
            self.mode, self.buf = WORD, c
            return self.word_prefix_ok(c, self.slot)
        return self._punct(c, prev)

    def _punct(self, c: str, prev: str) -> bool:
        frame = self.frames[-1]
        if c == "-" and prev == "-":
            self.mode = COMMENT
            return True
        if c == ";":
            if not self.complete():
                return False
            self.phase = ENDED
            return True
        if c == ".":
            q = self.last_word
            names = self.names
            known = q in self.aliases or q in names.columns or q in self.ctes
            name = self.last == "name"
            if not name and self.last.startswith("kw:") and q not in _STATE_KEYWORDS:
                name = known or self.forward_ok()  # a table or alias named like a keyword (`month.`)
            if name or self.last in ("table", "def", "qual"):
                if name and self.forward_ok() and not self._settled(q):
                    # Before its query's FROM any name may be (or become) an alias of any table or subquery:
                    # whatever follows the dot is checked when the alias is defined and when the query ends.
                    frame = self._query_frame()
                    if frame.clause == "select":
                        if self.last == "name" and frame.select_cols[-1:] == (q,):
                            frame.select_cols = frame.select_cols[:-1]  # `city.`: a qualifier, not the column
                        if q in names.columns and q not in self.aliases and q not in self.ctes:
                            frame.select_quals = frame.select_quals + (q,)  # `table.`: its FROM must read it, unaliased
                    if not known:
                        self.pending = self.pending | {q}
                    self.expect = ("fwd", q)
                elif name and not known:
                    if q not in self.pending:
                        return False  # `column.`: no FROM item of that name (struct fields are not names of the schema)
                    self.expect = ("fwd", q)
                else:
                    self.expect = ("qual", self.aliases[q] if q in self.aliases else (q if q in names.columns else None))
            else:
                self.expect = None
            self.last = "punct:."
            return True
        self.expect = None
        if c == "(":
            frames = self._own_frames()
            frames.append(_Frame("paren"))
        elif c == ")":
            closing = self.frames[-1]
            if closing.query and closing.clause in _FROM_REGION | {"select"} and not self._covered(len(self.frames) - 1):
                return False
            frames = self._own_frames()
            if len(frames) > 1:
                frames.pop()
            if closing.query and self.pending_cols:  # names used before a FROM of the closed query: the enclosing query's now
                depth = self._query_depth()
                self.pending_cols = tuple((q, n, min(d, depth)) for q, n, d in self.pending_cols)
            if frames[-1].clause == "from":
                self.expect = ("def", "bare", None)
                self._query_frame().opaque = True  # a subquery (or a table function's arguments) in FROM
        elif c == "," and frame.with_list:
            self.expect = ("def", "cte", None)
        self.last = f"punct:{c}"
        return True

    def _finish_quoted(self) -> bool:
        name = self.buf
        self.mode = FREE
        if self.phase != SQL:
            return True
        slot = self.slot
        if slot is None:
            return self._define(name.lower())
        if slot[0] == "forward":
            self.pending_cols = self.pending_cols + ((slot[1], name.lower(), self._query_depth()),)
            self._name_done(name.lower(), slot)
            return True
        check = name if self.names.quoted_case_sensitive else name.lower()
        ok = check in self.names.quoted_names(slot) or name.lower() in self.dynamic_names(slot)
        if not ok:
            if slot[0] == "loose" and self.forward_ok():  # an alias a FROM will define: a dot must follow
                self.must_follow = "."
                self.expect = None
                self.last, self.last_word = "name", name.lower()
                return True
            return False
        lw = name.lower()
        if slot[0] == "table":  # a quoted table reads like an unquoted one: an alias may follow
            self._from_item(lw)
            self.expect = ("def", "bare", lw if lw in self.names.columns else None)
            self.last, self.last_word = "table", lw
            return True
        self._name_done(lw, slot)
        return True

    def _finish_token(self, nxt: str) -> bool:
        """The word (or number) in `buf` ends before `nxt` ("" at the end of text)."""
        if self.mode == NUMBER:
            self.mode = FREE
            self.last = "value"
            return True
        if self.mode == QIDENT:
            return False  # an unclosed quoted name cannot end the query
        word, lw = self.buf, self.buf.lower()
        self.mode = FREE
        if self.phase == PREAMBLE:
            if lw in ("select", "with"):
                self.phase = SQL
                self._keyword(lw)
            return True
        slot = self.slot
        if slot is None:  # a definition, or a keyword ending a FROM item
            kind = self.expect[1] if self.expect else "bare"
            if kind == "bare" and lw in KEYWORDS or kind == "cte" and lw == "recursive":
                return self._keyword(lw)
            return self._define(lw)
        names = self.names
        if slot[0] == "table":
            if lw in names.tables or lw in self.ctes:
                self._from_item(lw)
                self.expect = ("def", "bare", lw if lw in names.tables and lw not in self.ctes else None)
                self.last, self.last_word = "table", lw
                return True
            if lw in names.table_functions:
                self._query_frame().opaque = True
                self.must_follow = "("
                self.last, self.last_word = "name", lw
                return True
            if lw == "lateral":
                self._query_frame().opaque = True
                return self._keyword(lw)
            return False
        if slot[0] == "forward":
            self.pending_cols = self.pending_cols + ((slot[1], lw, self._query_depth()),)
            self._name_done(lw, slot)
            return True
        if slot[0] == "cols":
            if lw in (names.all_columns if slot[1] is None else names.columns.get(slot[1], ())):
                self._name_done(lw, slot)
                return True
            if slot[1] is None and lw in self.aliases:
                self._name_done(lw, slot)
                return True
            return False
        # loose
        if lw in KEYWORDS:
            return self._keyword(lw)
        scope = slot[2] if len(slot) > 2 else None
        if scope is None:
            known = lw in names.all_columns or lw in names.tables
        else:  # after FROM: a column of a table it reads, or one of those tables (as a qualifier)
            known = lw in names.scope_columns(scope) or lw in scope[1]
        if known or lw in self.aliases or lw in self.ctes:
            if (slot[1] and scope is None and lw in names.all_columns and lw not in names.columns
                    and lw not in self.aliases and lw not in self.ctes):
                frame = self._query_frame()  # a column in a SELECT list: its FROM must read its table
                frame.select_cols = frame.select_cols + (lw,)
            self._name_done(lw, slot)
            return True
        follow = "." if lw in self.pending else ""
        if lw in names.functions:
            follow += "("
        if "." not in follow and self.forward_ok():  # an alias a FROM not yet written will define
            follow += "."
        if not follow:
            return False
        self.must_follow = follow
        self.expect = None
        self.last, self.last_word = "name", lw
        return True

    def _name_done(self, lw: str, slot: tuple) -> None:
        self.expect = None
        self.last, self.last_word = "name", lw

    def _define(self, lw: str) -> bool:
        kind, target = (self.expect[1], self.expect[2]) if self.expect and self.expect[0] == "def" else ("as", None)
        if target is not None and self.pending_cols and self.aliases.get(lw, target) == target:
            # An alias used before its FROM (in this query, or in a subquery of its SELECT list): the
            # table it names must have the columns it was used for. (An alias that names something
            # else elsewhere is left to the end: DuckDB binds a column the inner table lacks through
            # the outer one.)
            depth = self._query_depth()
            columns = self.names.columns.get(target, frozenset())
            if any(q == lw and d >= depth and col not in columns for q, col, d in self.pending_cols):
                return False
            self.pending_cols = tuple(e for e in self.pending_cols if not (e[0] == lw and e[2] >= depth))
        if kind == "cte":
            self.ctes = self.ctes | {lw}
            target = None
        else:
            frame = self._query_frame()
            if target is not None:
                frame.quals = frame.quals - {target}  # an aliased table is named by its alias only
            if frame.query and frame.clause == "from":
                frame.defined = frame.defined | {lw}
        if lw in self.aliases and self.aliases[lw] != target:
            target = None  # the same alias for different things in different scopes: either may be meant
        self.aliases = {**self.aliases, lw: target}
        if lw in self.pending:
            self.pending = self.pending - {lw}
        self.expect = None
        self.last, self.last_word = "def", lw
        return True

    def _keyword(self, kw: str) -> bool:
        """Read keyword `kw`; False when it would end a FROM that leaves a SELECT-list column without its table."""
        frame = self.frames[-1]
        expect = None
        if frame.query and kw in _LEAVE_FROM and frame.clause in _FROM_REGION | {"select"} and not self._covered(len(self.frames) - 1):
            return False
        if kw == "select":
            self._own_frames()[-1].start_query("select")
        elif kw in ("from", "join"):
            if frame.query:
                self._own_frames()[-1].clause = "from"
        elif kw == "with":
            self._own_frames()[-1].start_query("with", with_list=True)
            expect = ("def", "cte", None)
        elif kw == "recursive" and self.expect and self.expect[1] == "cte":
            expect = self.expect
        elif kw == "as":
            if not (frame.with_list and frame.clause == "with"):  # `name AS (` inside WITH: the name is defined
                target = self.expect[2] if self.expect and self.expect[0] == "def" else None
                expect = ("def", "as", target)
        elif kw in ("where", "having", "qualify", "on", "using", "limit", "offset", "window", "group", "order",
                    "union", "intersect", "except") and frame.query:
            self._own_frames()[-1].clause = kw
        self.expect = expect
        self.last, self.last_word = f"kw:{kw}", kw
        return True


# -- the vocabulary, once per tokenizer ---------------------------------------------------------------
_TOKEN_SHAPE = re.compile(r"^((?:[\s!\"#%&'()*+,\-./:;<=>?@\[\\\]^`{|}~])*)([^\s!\"#%&'()*+,\-./:;<=>?@\[\\\]^`{|}~]*)(.*)$", re.S)


@dataclass
class VocabIndex:
    """Each token's text once, grouped for fast masks (see the module notes)."""

    size: int
    strings: list[str]
    special: frozenset[int]
    groups: dict[str, dict[str, list[int]]]  # leading punctuation -> lower-case word -> token ids (no tail)
    digit_tokens: dict[str, list[int]]  # leading punctuation -> ids whose word starts with a digit
    punct_only: dict[tuple[str, bool], list[int]]  # (first non-space char, has ';') -> ids
    complex: list[int]  # quotes, comment marks or text after the word: simulated
    quote_free: dict[str, Any]  # quote char -> bool mask of tokens without it
    newline_free: Any  # tokens that cannot end a -- comment, plus those that end it with no word after
    by_text: dict[str, list[int]]  # exact token text -> ids (quoted names)
    by_lower_text: dict[str, list[int]]
    _cache: dict = field(default_factory=dict, repr=False)


_VOCAB_CACHE: "weakref.WeakKeyDictionary[Any, VocabIndex]" = weakref.WeakKeyDictionary()
_VOCAB_LOCK = threading.Lock()


def token_strings(tokenizer: Any) -> list[str]:
    """The text each vocabulary id adds when it follows other text (leading spaces kept)."""
    anchor = tokenizer.encode("a", add_special_tokens=False)[:1]
    base = tokenizer.decode(anchor)
    size = len(tokenizer)
    texts = tokenizer.batch_decode([anchor + [i] for i in range(size)], skip_special_tokens=False,
                                   clean_up_tokenization_spaces=False)
    return [t[len(base):] if t.startswith(base) else t for t in texts]


def vocab_index(tokenizer: Any) -> VocabIndex:
    """The `VocabIndex` of `tokenizer`, built once (about a second for a 50k vocabulary)."""
    with _VOCAB_LOCK:
        cached = _VOCAB_CACHE.get(tokenizer)
        if cached is not None:
            return cached
    import numpy as np

    strings = token_strings(tokenizer)
    size = len(strings)
    special = frozenset(int(i) for i in tokenizer.all_special_ids) | frozenset(
        int(i) for i in getattr(tokenizer, "added_tokens_decoder", {}) if int(i) < size)
    groups: dict[str, dict[str, list[int]]] = {}
    digits: dict[str, list[int]] = {}
    punct_only: dict[tuple[str, bool], list[int]] = {}
    complex_ids: list[int] = []
    quotes = "'\"`"
    for i, s in enumerate(strings):
        if i in special:
            continue
        lead, word, tail = _TOKEN_SHAPE.match(s).groups()
        if tail or any(q in lead for q in quotes) or "--" in lead:
            complex_ids.append(i)
            continue
        if not word:
            stripped = lead.lstrip()
            punct_only.setdefault((stripped[:1], ";" in lead), []).append(i)
            continue
        if word[0].isdigit():  # starts a number, or goes on with a word (t1)
            digits.setdefault(lead, []).append(i)
        groups.setdefault(lead, {}).setdefault(word.lower(), []).append(i)
    quote_free = {}
    for q in quotes:
        mask = np.ones(size, dtype=bool)
        mask[[i for i, s in enumerate(strings) if q in s]] = False
        quote_free[q] = mask
    newline_free = np.ones(size, dtype=bool)
    newline_free[[i for i, s in enumerate(strings) if "\n" in s and (
        any(is_word_char(c) or c in quotes for c in s.rsplit("\n", 1)[1]))]] = False
    for mask in (*quote_free.values(), newline_free):
        mask[list(special)] = False
    by_text: dict[str, list[int]] = {}
    by_lower_text: dict[str, list[int]] = {}
    for i, s in enumerate(strings):
        if i not in special and s:
            by_text.setdefault(s, []).append(i)
            by_lower_text.setdefault(s.lower(), []).append(i)
    index = VocabIndex(size, strings, special, groups, digits, punct_only, complex_ids, quote_free, newline_free,
                       by_text, by_lower_text)
    with _VOCAB_LOCK:
        _VOCAB_CACHE[tokenizer] = index
    return index


# -- allowed tokens for one lexer state -----------------------------------------------------------
def _continuations(index: VocabIndex, lead: str, words: Iterable[str], prefix: str) -> list[int]:
    """Ids in group `lead` whose word extends `prefix` along one of `words`."""
    group = index.groups.get(lead)
    if not group:
        return []
    found: set[str] = set()
    n = len(prefix)
    for w in words:
        if len(w) > n and w.startswith(prefix):
            for k in range(n + 1, len(w) + 1):
                piece = w[n:k]
                if piece in group:
                    found.add(piece)
    return [i for piece in found for i in group[piece]]


def _word_ids(index: VocabIndex, names: SchemaNames, lexer: SqlLexer, lead: str, slot: tuple | None, prefix: str) -> list[int]:
    """Ids of group `lead` that keep a word starting (or going on) in `slot` valid."""
    group = index.groups.get(lead)
    if not group:
        return []
    if slot is None or slot[0] == "forward" or slot[0] == "loose" and lexer.forward_ok():
        return [i for ids in group.values() for i in ids]  # free, or any word may be an alias a FROM will define
    static = _static(slot)
    key = ("w", lead, id(names), static, prefix)
    ids = index._cache.get(key)
    if ids is None:
        ids = _continuations(index, lead, names.words(static) if static[0] == "scoped" else names.static.get(static, ()), prefix)
        if len(index._cache) > 50_000:
            index._cache.clear()
        index._cache[key] = ids
    dynamic = lexer.dynamic_names(slot)
    if dynamic:
        ids = ids + _continuations(index, lead, dynamic, prefix)
    return ids


def allowed_mask(index: VocabIndex, lexer: SqlLexer, end_ids: Iterable[int]) -> Any | None:
    """A bool mask of the tokens that keep `lexer`'s text valid; None when every token is."""
    import numpy as np

    starting = lexer.phase == PREAMBLE and lexer.mode == WORD and lexer.buf.lower() in ("select", "with")
    if lexer.broken or lexer.phase == ENDED or lexer.phase == PREAMBLE and not starting:
        return None
    names = lexer.names
    mode = lexer.mode
    strings = index.strings
    mask = np.zeros(index.size, dtype=bool)
    ids: list[int] = []
    if mode == STRING:
        mask |= index.quote_free[lexer.quote]
        simulate = [i for i in index.complex if lexer.quote in strings[i]]
    elif mode == COMMENT:
        mask |= index.newline_free
        simulate = []
    elif mode == QIDENT:
        ids = _quoted_ids(index, lexer)
        simulate = [i for i in index.complex if lexer.quote in strings[i]]
    else:
        free_start = mode == FREE and lexer.must_follow is None
        if starting:  # "SELECT" may yet grow into another word of the preamble
            ids += [i for w in index.groups.get("", {}).values() for i in w]
        elif mode == WORD:
            ids += _word_ids(index, names, lexer, "", lexer.slot, lexer.buf.lower())
        elif mode == NUMBER or free_start:
            ids += index.digit_tokens.get("", [])
        if free_start:
            ids += _word_ids(index, names, lexer, "", lexer.current_slot(), "")
        for lead, group in index.groups.items():
            if not lead:
                continue
            probe = lexer.copy()
            if not probe.feed(lead):
                continue
            if probe.phase != SQL or probe.mode in (STRING, COMMENT):
                ids += [i for w in group.values() for i in w]
            elif probe.mode == FREE and probe.must_follow is None:
                ids += index.digit_tokens.get(lead, [])
                ids += _word_ids(index, names, probe, lead, probe.current_slot(), "")
            elif probe.mode == QIDENT:
                ids += [i for w in group.values() for i in w if probe.feed_ok(strings[i][len(lead):])]
        for (first, semi), pids in index.punct_only.items():
            if lexer.feed_ok((first or " ") + (";" if semi else "")):
                ids += pids
        simulate = index.complex
    if ids:
        mask[ids] = True
    ok = [i for i in simulate if lexer.feed_ok(strings[i])]
    if ok:
        mask[ok] = True
    if lexer.end():
        mask[list(end_ids)] = True
    return mask


def _quoted_ids(index: VocabIndex, lexer: SqlLexer) -> list[int]:
    """Inside a quoted name: tokens (without the closing quote) that keep it a prefix of a name."""
    if lexer.slot is None or lexer.slot[0] == "forward" or lexer.slot[0] == "loose" and lexer.forward_ok():
        return [int(i) for i in index.quote_free[lexer.quote].nonzero()[0]]
    sensitive = lexer.names.quoted_case_sensitive
    table = index.by_text if sensitive else index.by_lower_text
    buf = lexer.buf if sensitive else lexer.buf.lower()
    n = len(buf)
    pieces = set()
    for name in list(lexer.names.quoted_names(lexer.slot)) + [d for d in lexer.dynamic_names(lexer.slot)]:
        if len(name) > n and name.startswith(buf):
            pieces.update(name[n:k] for k in range(n + 1, len(name) + 1))
    return [i for piece in pieces for i in table.get(piece, ())]


def start_lexer(names: SchemaNames, answer_prefix: str = "") -> SqlLexer:
    """A lexer that has read the prefilled start of the answer; a prefix ending in SELECT or WITH
    ends that word there (the answer is SQL from its first token)."""
    lexer = SqlLexer(names)
    lexer.feed(answer_prefix)
    if lexer.phase == PREAMBLE and lexer.mode == WORD and lexer.buf.lower() in ("select", "with"):
        lexer._finish_token("")
    return lexer


class SchemaConstraint:
    """A transformers `LogitsProcessor`: tokens that would write a name outside the shown schema
    get -inf. `names[i]` constrains the rows of prompt i (`rows_per_prompt` rows each: sampled
    sequences or beams). Works under beam reordering: states are keyed by the generated ids.

    Per row and step only the `top_k` best-scored tokens are checked, best first, until `keep`
    valid ones are found (1 for greedy: the best valid token is the greedy choice; more for
    sampling or beams); the rest get -inf. When none of the top tokens is valid, the full mask of
    valid tokens is computed (`allowed_mask`)."""

    def __init__(self, tokenizer: Any, names: list[SchemaNames], *, rows_per_prompt: int = 1, answer_prefix: str = "",
                 end_ids: Iterable[int] = (), keep: int | None = 1, top_k: int = 64, stop_strings: Iterable[str] = ()):
        self.index = vocab_index(tokenizer)
        self.names = names
        self.rows_per_prompt = max(1, rows_per_prompt)
        self.answer_prefix = answer_prefix
        self.end_ids = sorted({int(i) for i in end_ids if i is not None})
        self.keep = keep
        self.stop_strings = tuple(s for s in stop_strings if s)
        self.top_k = max(1, top_k)
        self.prompt_len: int | None = None
        self._states: dict[tuple[int, tuple[int, ...]], SqlLexer] = {}
        self.seconds = 0.0
        self.rows = 0

    def _start(self, prompt: int) -> SqlLexer:
        return start_lexer(self.names[prompt], self.answer_prefix)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        started = time.perf_counter()
        if self.prompt_len is None:
            self.prompt_len = input_ids.shape[1]
        if is_probe(scores):
            return scores  # a draft's check, not a step: verification applies the constraint (see is_probe)
        generated = input_ids[:, self.prompt_len:].tolist()
        states: dict[tuple[int, tuple[int, ...]], SqlLexer] = {}
        k = min(self.top_k, scores.shape[1])
        best = torch.topk(scores, k, dim=1)
        top, top_scores = best.indices.tolist(), best.values.tolist()
        for row, ids in enumerate(generated):
            prompt = min(row // self.rows_per_prompt, len(self.names) - 1)
            key = (prompt, tuple(ids))
            lexer = states.get(key) or self._states.get(key)
            if lexer is None:
                parent = self._states.get((prompt, key[1][:-1])) if ids else None
                if parent is None:
                    lexer = self._start(prompt)
                    for token in ids:
                        self._advance(lexer, token)
                else:
                    lexer = parent.copy()
                    self._advance(lexer, ids[-1])
            states[key] = lexer
            if lexer.broken or lexer.phase == ENDED or (lexer.phase == PREAMBLE and not (
                    lexer.mode == WORD and lexer.buf.lower() in ("select", "with"))):
                continue
            valid = []
            for token, score in zip(top[row], top_scores[row]):
                if score == float("-inf"):
                    break
                if self._valid(lexer, token):
                    valid.append(token)
                    if self.keep is not None and len(valid) >= self.keep:
                        break
            row_scores = scores[row]
            if valid:
                kept = row_scores[valid].clone()
                row_scores.fill_(float("-inf"))
                row_scores[valid] = kept
                continue
            mask = allowed_mask(self.index, lexer, self.end_ids)
            if mask is not None and mask.any():
                allowed = torch.from_numpy(mask[: row_scores.shape[0]]).to(row_scores.device)
                if allowed.shape[0] < row_scores.shape[0]:  # model vocab padded beyond the tokenizer's
                    allowed = torch.cat([allowed, allowed.new_zeros(row_scores.shape[0] - allowed.shape[0])])
                row_scores.masked_fill_(~allowed, float("-inf"))
        self._states = states
        self.seconds += time.perf_counter() - started
        self.rows += len(generated)
        return scores

    def _valid(self, lexer: SqlLexer, token: int) -> bool:
        if token in self.end_ids:
            return lexer.end()
        if token >= self.index.size or token in self.index.special:
            return False
        text = self.index.strings[token]
        probe = lexer.copy()
        if not probe.feed(text):
            return False
        if self.stop_strings and any(stop in probe.tail for stop in self.stop_strings):
            return probe.end()  # a stop string ends the answer: only where the query may end
        return True

    def _advance(self, lexer: SqlLexer, token: int) -> None:
        if token in self.end_ids or token >= self.index.size:
            return
        if token in self.index.special or not lexer.feed(self.index.strings[token]):
            lexer.broken = True  # a token outside the mask (no valid choice was left): stop constraining


__all__ = ["KEYWORDS", "SchemaConstraint", "SchemaNames", "SqlLexer", "allowed_mask", "schema_names", "start_lexer",
           "vocab_index"]
