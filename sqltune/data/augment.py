"""Value-swapped augmentation: new question/SQL pairs from a user's pairs, with one literal swapped.

Where a literal of a pair's SQL is written word for word in its question and compared with a
column (``col = 'x'``, ``'x' = col``, ``col IN (..., 'x', ...)``, ``col LIKE 'x'`` without
wildcards), it is replaced, in the question and in the SQL, by another distinct value of that
column read from the warehouse. A new pair is kept only when its SQL runs (guarded, read-only,
time-limited, as gold queries run in `validate`) and returns at least one row.

What counts as a swappable literal (a "slot"):
- a string literal, or a number (an integer or decimal written in the SQL) where the question
  names it as a whole word (a year, a flight number);
- every occurrence of the same literal in the SQL is such a comparison, with columns that resolve
  (through the query's aliases, scope by scope, with sqlglot) to the same table column: a value
  used twice for two columns (a city and a state both 'WASHINGTON') or outside a comparison is
  left alone;
- the question names it as whole words, case-insensitively (literals under three characters must
  match case too, so the code 'A' is not the word "a" and 'US' is not "us"), and no mention
  lies inside or across the mention of another literal of the SQL ('FRANCISCO' inside "SAN
  FRANCISCO" is left alone; 'SAN FRANCISCO' may be swapped, the other literal's mention with it).

The replacement keeps the question's casing of each mention (upper if it was upper, lower if it
was lower, else the value as stored) and the SQL's text (the literal is spliced in at its token's
position, so formatting survives); the new SQL's AST equals the original's once the swapped
literal is mapped back, or the candidate is refused. A new value is another distinct value of
the column (read once per column, at most `max_values`, in a stable pseudo-random order), not a
value the SQL already holds, not one the question already names, and never the same but for case.

Deterministic: each source pair draws from its own generator seeded by (`seed`, pair id), so the
result does not depend on threads or on the order of the other pairs. Never emits a pair whose
question (normalised as `normalize_question`) equals an input question or an earlier new one.
"""

from __future__ import annotations

import decimal
import logging
import math
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from sqltune.core.errors import InputError
from sqltune.data.literals import _NUMBER, _Slot, _Target, _copy, _literal_key, _mentions, _parse, _targets_of, find_slots
from sqltune.data.pairs import Pair, Progress, normalize_question

if TYPE_CHECKING:
    from sqltune.execution.execute import Warehouse

log = logging.getLogger(__name__)

AUGMENTED_TAG = "augmented"
FROM_TAG = "augmented_from:"
ID_SUFFIX = "~aug"
MAX_VALUE_CHARS = 100  # longer values (descriptions, addresses) do not make questions


# -- the result ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Augmented:
    """One new pair and the swap that made it."""

    pair: Pair
    source: Pair
    column: str  # the compared column, "TABLE.COLUMN" as the SQL names them
    old: str  # the literal's value as written in the source SQL
    new: str  # the value put in its place
    old_literal: str  # the literal's SQL text, e.g. 'BOSTON'
    new_literal: str


@dataclass
class AugmentResult:
    """What `augment_pairs` made and refused. Every candidate tried ends as exactly one of
    kept, no_rows, failed or duplicate_question."""

    augmented: list[Augmented] = field(default_factory=list)
    sources: int = 0  # pairs considered
    swappable: int = 0  # pairs with at least one swappable literal
    tried: int = 0  # candidates (pair, literal, new value) built
    no_rows: int = 0  # ran but returned no rows (or one row of NULLs)
    failed: int = 0  # did not run (error, timeout), or the SQL's structure changed
    duplicate_question: int = 0  # the new question equals an input question or an earlier new one
    columns_read: int = 0  # distinct-value reads, one per column
    alt_sql_dropped: int = 0  # alternative golds left out: no swap for them, or no rows after it

    @property
    def pairs(self) -> list[Pair]:
        return [a.pair for a in self.augmented]

    @property
    def kept(self) -> int:
        return len(self.augmented)

    def counts(self) -> dict[str, int]:
        return {
            "sources": self.sources, "swappable": self.swappable, "tried": self.tried, "kept": self.kept,
            "no_rows": self.no_rows, "failed": self.failed, "duplicate_question": self.duplicate_question,
            "columns_read": self.columns_read, "alt_sql_dropped": self.alt_sql_dropped,
        }

    def samples(self, n: int = 5) -> list[Augmented]:
        """Up to `n` new pairs spread evenly over the result (the first always among them)."""
        if n <= 0 or not self.augmented:
            return []
        if len(self.augmented) <= n:
            return list(self.augmented)
        step = len(self.augmented) / n
        return [self.augmented[int(i * step)] for i in range(n)]


# -- new values ------------------------------------------------------------------------------------
def _value_text(value: Any, slot: _Slot) -> str | None:
    """`value` as the text of a literal like the slot's, or None when it cannot stand in for it."""
    if value is None:
        return None
    if slot.is_string:
        text = value if isinstance(value, str) else str(value)
        if not text.strip() or len(text) > MAX_VALUE_CHARS or any(ord(c) < 32 for c in text):
            return None
        if slot.like and ("%" in text or "_" in text):
            return None
        return text
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value < 0:
        return None
    integral = "." not in slot.text
    if integral:
        if value != int(value):
            return None
        return str(int(value))
    text = format(value, "f") if isinstance(value, decimal.Decimal) else repr(float(value))
    return text if _NUMBER.fullmatch(text) else None


def _options(slot: _Slot, values: Sequence[Any], pair: Pair, sql_literals: set[tuple[bool, str]]) -> list[str]:
    """The values that may replace the slot's literal in `pair`, in the column's read order."""
    taken = {text.casefold() for is_string, text in sql_literals if is_string == slot.is_string}
    out, seen = [], set()
    for value in values:
        text = _value_text(value, slot)
        if text is None or text.casefold() in taken or text.casefold() in seen:
            continue
        if _mentions(pair.question, text, True):  # the question already names it
            continue
        seen.add(text.casefold())
        out.append(text)
    return out


def _styled(mention: str, value: str) -> str:
    if mention.isupper():
        return value.upper()
    if mention.islower():
        return value.lower()
    return value


def _swap_question(question: str, slot: _Slot, new: str) -> str:
    out = question
    for start, end in sorted(slot.mentions, reverse=True):
        out = out[:start] + _styled(question[start:end], new) + out[end:]
    return out


def _literal_sql(text: str, is_string: bool, dialect: str) -> str:
    from sqlglot import exp

    node = exp.Literal.string(text) if is_string else exp.Literal.number(text)
    return node.sql(dialect=dialect)


def _swap_sql(sql: str, slot: _Slot, new: str, dialect: str, tree=None) -> str | None:
    """`sql` (parsed: `tree`) with every occurrence of the slot's literal replaced by `new`, spliced
    into the text at the literals' token positions; None when the result's AST is not the
    original's once the literal is mapped back (or a literal cannot be found the same way again)."""
    from sqlglot import exp

    tree = tree if tree is not None else _parse(sql, dialect)
    if tree is None:
        return None
    key = (slot.is_string, slot.text)
    literals = [lit for lit in tree.find_all(exp.Literal) if _literal_key(lit) == key]
    if not literals:
        return None
    spans = sorted((lit.meta["start"], lit.meta["end"] + 1) for lit in literals if lit.meta.get("start") is not None)
    if len(spans) != len(literals):
        return None
    replacement = _literal_sql(new, slot.is_string, dialect)
    out = sql
    for start, end in reversed(spans):
        out = out[:start] + replacement + out[end:]
    return out if _same_structure(tree, out, slot, new, dialect) else None


def _same_structure(original, new_sql: str, slot: _Slot, new: str, dialect: str) -> bool:
    """Whether `new_sql` parses to `original` once each literal `new` is put back to the slot's."""
    from sqlglot import exp

    tree = _parse(new_sql, dialect)
    if tree is None:
        return False
    back = exp.Literal.string(slot.text) if slot.is_string else exp.Literal.number(slot.text)
    for literal in list(tree.find_all(exp.Literal)):
        if _literal_key(literal) == (slot.is_string, new):
            literal.replace(back.copy())
    return tree == original


class _Parsed:
    """One pair's SQL texts (gold and alternatives), each parsed and analysed once: the trees are
    only read, never changed."""

    def __init__(self, dialect: str, columns_of):
        self.dialect = dialect
        self.columns_of = columns_of
        self.trees: dict[str, Any] = {}
        self.targets: dict[str, dict] = {}

    def tree(self, sql: str):
        if sql not in self.trees:
            self.trees[sql] = _parse(sql, self.dialect)
        return self.trees[sql]

    def targets_of(self, sql: str) -> dict:
        if sql not in self.targets:
            self.targets[sql] = _targets_of(sql, self.dialect, self.columns_of, self.tree(sql))
        return self.targets[sql]


def _swap_alt(alt: str, slot: _Slot, new: str, parsed: _Parsed) -> str | None:
    """An alternative gold with the same swap, where it compares the same literal with the same column."""
    found = parsed.targets_of(alt).get((slot.is_string, slot.text))
    if found is None or found[0].key != slot.target.key or (found[1] and not slot.like and ("%" in new or "_" in new)):
        return None
    return _swap_sql(alt, replace(slot, like=found[1]), new, parsed.dialect, parsed.tree(alt))


# -- reading a column's values ---------------------------------------------------------------------
def _values_sql(target: _Target, dialect: str, limit: int) -> str:
    """Distinct non-NULL values of the column, in a stable pseudo-random order where the dialect
    has md5 (so a cap does not keep only the alphabet's start), else in value order."""
    from sqlglot import exp

    column = exp.Column(this=target.column.copy())
    query = exp.select(column.copy()).from_(target.table.copy()).where(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())))
    query = query.group_by(column.copy())
    if dialect in ("duckdb", "postgres"):
        query = query.order_by(exp.Ordered(this=exp.MD5(this=exp.cast(column.copy(), "TEXT"))), column.copy())
    else:
        query = query.order_by(column.copy())
    return query.limit(limit).sql(dialect=dialect)


def _has_rows(result) -> bool:
    """Rows as `validate` counts them: at least one, and not a single row of NULLs (read with max_rows=1)."""
    if not result.ok or not result.rows:
        return False
    return result.truncated or not all(v is None for v in result.rows[0])


# -- the work for one pair -------------------------------------------------------------------------
@dataclass
class _Outcome:
    made: list[Augmented] = field(default_factory=list)
    swappable: bool = False
    tried: int = 0
    no_rows: int = 0
    failed: int = 0
    duplicate_question: int = 0
    alt_sql_dropped: int = 0


def _candidates(slots: list[_Slot], options: dict[int, list[str]], rng: random.Random) -> Iterable[tuple[_Slot, str]]:
    """(slot, new value) pairs, round-robin over the slots in a random order, each slot's values shuffled."""
    order = [i for i in range(len(slots)) if options[i]]
    rng.shuffle(order)
    queues = {}
    for i in order:
        values = list(options[i])
        rng.shuffle(values)
        queues[i] = values
    while any(queues.values()):
        for i in order:
            if queues[i]:
                yield slots[i], queues[i].pop(0)


def _augment_one(pair: Pair, slots: list[_Slot], values: dict[tuple[str, ...], list[Any]], warehouse: "Warehouse",
                 existing: set[str], *, per_pair: int, max_tries: int, seed: int, dialect: str, columns_of) -> _Outcome:
    from sqlglot import exp

    outcome = _Outcome(swappable=bool(slots))
    if not slots:
        return outcome
    parsed = _Parsed(dialect, columns_of)
    tree = parsed.tree(pair.sql)
    literals = {_literal_key(lit) for lit in tree.find_all(exp.Literal)} if tree is not None else set()
    options = {i: _options(slot, values.get(slot.target.key, ()), pair, literals) for i, slot in enumerate(slots)}
    rng = random.Random(f"{seed}\x1f{pair.id}")
    questions = set()
    for slot, new in _candidates(slots, options, rng):
        if len(outcome.made) >= per_pair or outcome.tried >= max_tries:
            break
        outcome.tried += 1
        question = _swap_question(pair.question, slot, new)
        normalized = normalize_question(question)
        if normalized in existing or normalized in questions:
            outcome.duplicate_question += 1
            continue
        sql = _swap_sql(pair.sql, slot, new, dialect, parsed.tree(pair.sql))
        if sql is None:
            outcome.failed += 1
            continue
        result = warehouse.execute(sql, max_rows=1)
        if not result.ok:
            outcome.failed += 1
            continue
        if not _has_rows(result):
            outcome.no_rows += 1
            continue
        alts = []
        for alt in pair.alt_sql:
            swapped = _swap_alt(alt, slot, new, parsed)
            if swapped is not None and _has_rows(warehouse.execute(swapped, max_rows=1)):
                alts.append(swapped)
            else:
                outcome.alt_sql_dropped += 1
        questions.add(normalized)
        made = replace(
            pair, question=question, sql=sql, alt_sql=tuple(alts), allow_empty=False,
            tags=tuple(t for t in pair.tags if t != AUGMENTED_TAG and not t.startswith(FROM_TAG)) + (AUGMENTED_TAG, f"{FROM_TAG}{pair.id}"),
        )
        outcome.made.append(Augmented(made, pair, slot.target.label, slot.text, new,
                                      _literal_sql(slot.text, slot.is_string, dialect), _literal_sql(new, slot.is_string, dialect)))
    return outcome


# -- the entry point -------------------------------------------------------------------------------
def augment_pairs(
    pairs: Iterable[Pair],
    db: "str | Path | Warehouse",
    *,
    per_pair: int = 2,
    seed: int = 0,
    max_tries: int | None = None,
    max_values: int = 1000,
    timeout_s: float = 10.0,
    workers: int = 2,
    progress: Progress | None = None,
    allow_privileged_role: bool = False,
) -> AugmentResult:
    """New pairs from `pairs`, each with one literal swapped for another value of its column
    (see the module docstring for which literals and values), at most `per_pair` per source pair,
    trying at most `max_tries` candidates per source pair (default 5 x `per_pair`).

    `db` is a warehouse source (a DuckDB or SQLite file, a PostgreSQL URL, env:/profile:) or an
    open `Warehouse`; every new SQL runs there (guarded, read-only, each within `timeout_s`, up to
    `workers` at once) and must return a row; `allow_privileged_role` as in `Warehouse.open`. Each compared column's distinct values are read once
    (at most `max_values`). `progress(done, total)` is called as columns are read and pairs done.
    New ids are `<source id>~aug<N>`; tags add `augmented` and `augmented_from:<source id>`."""
    from sqltune.execution.execute import Warehouse, can_execute

    if per_pair < 1:
        raise InputError(f"per_pair must be at least 1, got {per_pair}")
    items = list(pairs)
    if isinstance(db, Warehouse):
        return _augment(items, db, per_pair=per_pair, seed=seed, max_tries=max_tries, max_values=max_values,
                        timeout_s=timeout_s, workers=workers, progress=progress)
    if not can_execute(db):
        raise InputError("augmenting needs a warehouse sqltune can query (a DuckDB or SQLite file, a PostgreSQL URL): "
                         "every new pair's SQL is run", source=str(db))
    with Warehouse.open(db, timeout_s=timeout_s, connect_timeout_s=timeout_s, processes=max(1, workers),
                        allow_privileged_role=allow_privileged_role) as warehouse:
        return _augment(items, warehouse, per_pair=per_pair, seed=seed, max_tries=max_tries, max_values=max_values,
                        timeout_s=timeout_s, workers=workers, progress=progress)


def _augment(items: list[Pair], warehouse: "Warehouse", *, per_pair: int, seed: int, max_tries: int | None,
             max_values: int, timeout_s: float, workers: int, progress: Progress | None) -> AugmentResult:
    dialect = warehouse.dialect
    result = AugmentResult(sources=len(items))
    columns_of = _TableColumns(warehouse, timeout_s)
    slots = {pair.id: find_slots(pair, dialect, columns_of) for pair in items}
    targets = {slot.target.key: slot.target for found in slots.values() for slot in found}
    total = len(targets) + len(items)
    done = 0
    if progress:
        progress(done, total)

    def read(target: _Target) -> list[Any]:
        reply = warehouse.execute(_values_sql(target, dialect, max_values), max_rows=max_values, timeout_s=timeout_s)
        if not reply.ok:
            log.info("cannot read the values of %s: %s", target.label, reply.error)
            return []
        return [row[0] for row in reply.rows]

    values: dict[tuple[str, ...], list[Any]] = {}
    existing = {normalize_question(p.question) for p in items}
    tries = max_tries if max_tries is not None else 5 * per_pair
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        keys = sorted(targets)
        for key, found in zip(keys, pool.map(lambda k: read(targets[k]), keys)):
            values[key] = found
            done += 1
            if progress:
                progress(done, total)
        result.columns_read = len(keys)

        def one(pair: Pair) -> _Outcome:
            return _augment_one(pair, slots[pair.id], values, warehouse, existing, per_pair=per_pair, max_tries=tries,
                                seed=seed, dialect=dialect, columns_of=columns_of)

        outcomes = []
        for outcome in pool.map(one, items):
            outcomes.append(outcome)
            done += 1
            if progress:
                progress(done, total)
    _collect(result, items, outcomes)
    return result


def _collect(result: AugmentResult, items: list[Pair], outcomes: list[_Outcome]) -> None:
    """Counts, and the new pairs in source order: a question already made for an earlier pair is
    refused; ids numbered per source, never one the input uses."""
    seen_questions: set[str] = set()
    ids = {p.id for p in items}
    for pair, outcome in zip(items, outcomes):
        result.swappable += outcome.swappable
        result.tried += outcome.tried
        result.no_rows += outcome.no_rows
        result.failed += outcome.failed
        result.duplicate_question += outcome.duplicate_question
        result.alt_sql_dropped += outcome.alt_sql_dropped
        number = 0
        for made in outcome.made:
            normalized = normalize_question(made.pair.question)
            if normalized in seen_questions:
                result.duplicate_question += 1
                continue
            seen_questions.add(normalized)
            number += 1
            while f"{pair.id}{ID_SUFFIX}{number}" in ids:
                number += 1
            new_id = f"{pair.id}{ID_SUFFIX}{number}"
            ids.add(new_id)
            result.augmented.append(replace(made, pair=replace(made.pair, id=new_id)))


class _TableColumns:
    """A table's lower-case column names, read once per table (a guarded ``SELECT * ... LIMIT 0``)."""

    def __init__(self, warehouse: "Warehouse", timeout_s: float):
        self.warehouse = warehouse
        self.timeout_s = timeout_s
        self.known: dict[tuple[str, ...], set[str] | None] = {}
        self.lock = threading.Lock()

    def __call__(self, table) -> set[str] | None:
        from sqlglot import exp

        key = (table.catalog.lower(), table.db.lower(), table.name.lower())
        with self.lock:
            if key in self.known:
                return self.known[key]
            bare = exp.Table(this=table.this.copy(), db=_copy(table.args.get("db")), catalog=_copy(table.args.get("catalog")))
            sql = exp.select(exp.Star()).from_(bare).limit(0).sql(dialect=self.warehouse.dialect)
        reply = self.warehouse.execute(sql, max_rows=1, timeout_s=self.timeout_s)
        with self.lock:
            self.known[key] = {c.lower() for c in reply.columns} if reply.ok else None
            return self.known[key]
