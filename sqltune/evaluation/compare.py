"""Decide whether a predicted query answers like the gold one (execution match) or reads like it
(exact match of normalised SQL).

The field disagrees on the rules (Spider: multiset rows, order only when the gold orders, columns
may be permuted; BIRD: row sets; defog: drops duplicates, ignores order), so each disagreement is
a switch in `MatchRules`, and `MatchRules.describe()` is recorded with every score.

Cells are compared by value: 3 == 3.0 == Decimal("3"), floats within a relative tolerance,
NULL == NULL (and NaN == NaN), a date equals its ISO string, nested lists/structs element-wise.
Booleans are not numbers here (TRUE != 1).
Length (~560 lines): every rule of `MatchRules` (row order, column permutation, column subsets,
the row cap, value equality) is decided here, together, so the rules cannot disagree.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import itertools
import logging
import math
import re
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from sqltune.core.config import setting
from sqltune.core.errors import ConfigError, InputError
from sqltune.schema.model import Schema

if TYPE_CHECKING:  # annotations only: importing the executor (and sqlglot) is left to the scoring run
    from sqltune.execution.execute import ExecutionResult

log = logging.getLogger(__name__)

_ORDER_RULES = ("auto", "ignore", "strict")
_DUPLICATE_RULES = ("multiset", "set")
_COLUMN_RULES = ("strict", "match_by_name_then_permute")
_COLUMN_SET_RULES = ("strict", "subset")
DEFAULT_MAX_ROWS = 10_000
_MAX_PERMUTATIONS = 720  # 6! column orders at most, after pruning by column contents
_MAX_GREEDY_ROWS = 500  # rows alike but for numbers, paired one by one (quadratic) up to this many


@dataclass(frozen=True)
class MatchRules:
    """How two result sets are compared. Defaults follow Spider's test-suite evaluator, plus a
    float tolerance (Spider has none) so 2/3 computed two ways still matches."""

    order: str = setting("auto", choices=_ORDER_RULES, flag="--order",
                         help="Row order: auto (checked only when the gold's outermost query has ORDER BY), ignore, strict.")
    duplicates: str = setting("multiset", choices=_DUPLICATE_RULES, flag="--duplicates", help="Rows as a multiset (Spider) or a set (BIRD: duplicates dropped).")
    float_tolerance: float = setting(1e-6, flag="--float-tolerance", help="Relative tolerance for floats (math.isclose rel_tol).", min=0.0)
    column_order: str = setting("match_by_name_then_permute", choices=_COLUMN_RULES, flag="--column-order",
                                help="Columns matched by name, else permuted; strict: compared by position.")
    abs_tolerance: float = setting(1e-9, flag="--abs-tolerance", help="Absolute tolerance for floats, so 0.0 vs 1e-12 counts as equal.", min=0.0)
    columns: str = setting("strict", choices=_COLUMN_SET_RULES, flag="--columns",
                           help="strict: the prediction returns gold's columns; subset (defog sql-eval): it may return more, "
                                "if every gold column is among them with the same values; a gold SELECT {a, b} then accepts "
                                "any non-empty subset of a, b.")
    max_rows: int = setting(DEFAULT_MAX_ROWS, flag="--max-rows", min=1,
                            help="Rows fetched per query. When gold and prediction both reach it the verdict is "
                                 "'undecided at the row cap' and counts as wrong: raise it to decide.")

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("order", self.order, _ORDER_RULES),
            ("duplicates", self.duplicates, _DUPLICATE_RULES),
            ("column_order", self.column_order, _COLUMN_RULES),
            ("columns", self.columns, _COLUMN_SET_RULES),
        ):
            if value not in allowed:
                raise ConfigError(f"match rule {name}={value!r}: expected one of {', '.join(allowed)}")
        if self.float_tolerance < 0 or self.abs_tolerance < 0:
            raise ConfigError("match rule tolerances must be >= 0")
        if self.max_rows < 1:
            raise ConfigError("match rule max_rows must be >= 1")

    def describe(self) -> str:
        order = {
            "auto": "order checked only when the gold's outermost query has ORDER BY (ties in any order)",
            "ignore": "order ignored",
            "strict": "order always checked",
        }[self.order]
        rows = "rows as multisets" if self.duplicates == "multiset" else "rows as sets (duplicates dropped)"
        columns = "columns by position" if self.column_order == "strict" else "columns matched by name, else permuted"
        if self.columns == "subset":
            columns += "; extra predicted columns allowed (sql-eval subset rule, duplicates dropped)"
        return (
            f"execution match: {rows}; {order}; floats rel_tol={self.float_tolerance:g}; "
            f"{columns}; NULL equals NULL; any listed gold query may match; "
            f"results cut at {self.max_rows} rows (both cut: undecided, counted wrong)"
        )


@dataclass
class MatchVerdict:
    match: bool
    reason: str  # why "different", or which alignment made them "same"
    undecided: bool = False  # both results were cut at the row cap: nothing can be said


UNDECIDED_REASON = "undecided at the row cap"


def gold_variants(gold_sql: str, rules: MatchRules = MatchRules()) -> list[str]:
    """The gold queries `gold_sql` stands for. Under the subset rule, as in defog sql-eval: each
    ';'-separated query is an alternative, and the first `{a, b, ...}` in one stands for every
    non-empty subset of the listed columns (with `GROUP BY {}` given the same columns)."""
    if rules.columns != "subset":
        return [gold_sql]
    variants: list[str] = []
    for query in _split_statements(gold_sql):
        start = query.find("{")
        end = query.find("}", start + 1) if start >= 0 else -1
        inner = query[start + 1:end] if end > start >= 0 else ""
        if not inner.strip() or any(c in inner for c in ":'\""):  # no braces, or a struct literal
            variants.append(query)
            continue
        options = [o.strip() for o in inner.split(",") if o.strip()]
        left, right = query[:start], query[end + 1:]
        for size in range(1, len(options) + 1):
            for combination in itertools.combinations(options, size):
                columns = ", ".join(combination)
                variants.append(left + columns + right.replace("GROUP BY {}", f"GROUP BY {columns}"))
    return variants or [gold_sql]


def _split_statements(sql: str) -> list[str]:
    """`sql` split at semicolons outside quotes, blank parts dropped."""
    parts, current, quote = [], [], None
    for char in sql:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ";":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


# -- cells -----------------------------------------------------------------------------------------
def _canon(value: Any) -> Any:
    """A comparable, hashable form of one cell: numbers stay numbers, dates become ISO strings."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return value
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return math.nan
        integral = value == value.to_integral_value()
        return int(value) if integral and value.is_finite() else float(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, _dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return ("interval", value.total_seconds())
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("bytes", bytes(value))
    if isinstance(value, dict):
        return ("struct", tuple((str(k), _canon(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_canon(v) for v in value))
    return value if isinstance(value, str) else str(value)


def _sort_key(cell: Any) -> tuple:
    if cell is None:
        return (0, 0)
    if isinstance(cell, (int, float)):
        return (1, -math.inf if math.isnan(cell) else cell)
    if isinstance(cell, str):
        return (2, cell)
    return (3, repr(cell))


def _signature_key(cell: Any) -> Any:
    """Like the cell, with floats rounded, so columns can be paired by their contents."""
    if isinstance(cell, float):
        return "nan" if math.isnan(cell) else float(f"{cell:.5g}")
    return cell


def _cells_equal(a: Any, b: Any, rules: MatchRules) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rules.float_tolerance, abs_tol=rules.abs_tolerance)
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return all(_cells_equal(x, y, rules) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _rows_equal(a: tuple, b: tuple, rules: MatchRules) -> bool:
    return len(a) == len(b) and all(_cells_equal(x, y, rules) for x, y in zip(a, b))


# -- row sets --------------------------------------------------------------------------------------
def _dedupe(rows: list[tuple]) -> list[tuple]:
    seen: set = set()
    kept = []
    for row in rows:
        try:
            hash(row)
            key = row
        except TypeError:  # unhashable cell (should not happen after _canon): fall back to text
            key = repr(row)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def _compare_ordered(gold: list[tuple], pred: list[tuple], rules: MatchRules, keys: list[int] | None = None) -> str | None:
    """Row by row; with the ORDER BY's output columns known (`keys`), rows that tie on them may
    come in any order (SQL leaves ties unordered), so each run of ties is compared as a multiset."""
    if keys is None:
        for index, (g, p) in enumerate(zip(gold, pred)):
            if not _rows_equal(g, p, rules):
                return f"row {index + 1} differs: gold {_show(g)} vs predicted {_show(p)}"
        return None
    start = 0
    while start < len(gold):
        key = tuple(gold[start][k] for k in keys)
        end = start + 1
        while end < len(gold) and _rows_equal(tuple(gold[end][k] for k in keys), key, rules):
            end += 1
        for index in range(start, end):
            if not _rows_equal(tuple(pred[index][k] for k in keys), key, rules):
                return f"row {index + 1} out of order: gold {_show(gold[index])} vs predicted {_show(pred[index])}"
        if end - start > 1 and _compare_unordered(gold[start:end], pred[start:end], rules) is not None:
            return f"rows {start + 1}-{end} (tied on the ORDER BY) differ"
        if end - start == 1 and not _rows_equal(gold[start], pred[start], rules):
            return f"row {start + 1} differs: gold {_show(gold[start])} vs predicted {_show(pred[start])}"
        start = end
    return None


def _bucket_key(cell: Any) -> Any:
    """The cell with every number blanked: rows that can only differ within tolerance share it."""
    if isinstance(cell, (int, float)):
        return "<number>"
    if isinstance(cell, tuple):
        return tuple(_bucket_key(c) for c in cell)
    return cell


def _compare_unordered(gold: list[tuple], pred: list[tuple], rules: MatchRules) -> str | None:
    def key(row: tuple) -> tuple:
        return tuple(_sort_key(c) for c in row)

    gold_sorted, pred_sorted = sorted(gold, key=key), sorted(pred, key=key)
    if all(_rows_equal(g, p, rules) for g, p in zip(gold_sorted, pred_sorted)):
        return None
    # Sorting can separate rows that are equal within tolerance (3 vs 2.9999999 next to 3.0000001);
    # match again inside buckets of rows that agree on everything but their numbers.
    buckets: dict[Any, list[tuple]] = defaultdict(list)
    for row in pred_sorted:
        buckets[_bucket_key(row)].append(row)
    for g in gold_sorted:
        bucket = buckets.get(_bucket_key(g))
        if not bucket:
            return f"gold row {_show(g)} has no match in the prediction"
        if len(bucket) > _MAX_GREEDY_ROWS:  # too many to pair one by one: sorted order decided
            return f"gold row {_show(g)} has no match in the prediction (sorted comparison)"
        hit = next((i for i, p in enumerate(bucket) if _rows_equal(g, p, rules)), None)
        if hit is None:
            return f"gold row {_show(g)} has no match in the prediction"
        bucket.pop(hit)
    return None


def _show(row: tuple, limit: int = 120) -> str:
    text = repr(row)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- columns ---------------------------------------------------------------------------------------
def _column_orders(gold: ExecutionResult, pred: ExecutionResult, gold_rows, pred_rows, rules) -> list[tuple[str, tuple[int, ...]]]:
    """Candidate ways to line predicted columns up with gold's: (how, permutation of pred indices)."""
    width = len(gold.columns)
    identity = tuple(range(width))
    if rules.column_order == "strict":
        return [("by position", identity)]
    candidates: list[tuple[str, tuple[int, ...]]] = []
    gold_names = [c.lower() for c in gold.columns]
    pred_names = [c.lower() for c in pred.columns]
    if len(set(gold_names)) == width and sorted(gold_names) == sorted(pred_names):
        by_name = tuple(pred_names.index(n) for n in gold_names)
        candidates.append(("columns matched by name", by_name))
    if identity not in (c[1] for c in candidates):
        candidates.append(("by position", identity))

    def signature(rows: list[tuple], j: int) -> Counter:
        return Counter(_signature_key(r[j]) for r in rows)

    gold_sigs = [signature(gold_rows, j) for j in range(width)]
    pred_sigs = [signature(pred_rows, j) for j in range(width)]
    options = [[k for k in range(width) if pred_sigs[k] == gold_sigs[j]] for j in range(width)]
    limit = _MAX_PERMUTATIONS if len(gold_rows) <= 1_000 else 24  # each candidate is a full comparison
    seen = {c[1] for c in candidates}
    for perm in _permutations(options, limit + len(seen)):
        if perm not in seen:
            candidates.append(("columns permuted by content", perm))
            if len(candidates) - len(seen) >= limit:
                break
    return candidates


def _permutations(options: list[list[int]], limit: int, budget: int = 20_000) -> Iterator[tuple[int, ...]]:
    """Up to `limit` assignments of distinct predicted columns, one from each gold column's options,
    by backtracking with a bounded number of steps (wide all-alike results cannot blow up)."""
    chosen: list[int] = []
    used: set[int] = set()
    steps = 0
    found = 0

    def walk(j: int) -> Iterator[tuple[int, ...]]:
        nonlocal steps, found
        if j == len(options):
            found += 1
            yield tuple(chosen)
            return
        for k in options[j]:
            steps += 1
            if steps > budget or found >= limit:
                return
            if k in used:
                continue
            chosen.append(k)
            used.add(k)
            yield from walk(j + 1)
            chosen.pop()
            used.discard(k)

    yield from walk(0)


# -- public API ------------------------------------------------------------------------------------
def _outermost(gold_sql: str, dialect: str):
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(gold_sql, read=dialect)
    except Exception:
        return None
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    return tree


def gold_is_ordered(gold_sql: str, dialect: str = "duckdb") -> bool:
    """Whether the outermost query of `gold_sql` has ORDER BY (subquery ORDER BYs do not count)."""
    tree = _outermost(gold_sql, dialect)
    if tree is None:  # unparseable gold: look for an ORDER BY outside parentheses
        depth, text = 0, ""
        for ch in re.sub(r"'[^']*'", "''", gold_sql):
            depth += ch == "("
            depth -= ch == ")"
            text += ch if depth == 0 else " "
        return re.search(r"\border\s+by\b", text, re.IGNORECASE) is not None
    return tree.args.get("order") is not None


def order_key_columns(gold_sql: str, columns: list[str], dialect: str = "duckdb") -> list[int] | None:
    """Result-column positions of the gold's outermost ORDER BY terms; None when any term is not
    an output column (ordering by an unselected column: then only the full row order can be checked)."""
    from sqlglot import exp

    tree = _outermost(gold_sql, dialect)
    order = tree.args.get("order") if tree is not None else None
    if order is None:
        return None
    names = [c.lower() for c in columns]
    selects = list(getattr(tree, "selects", []) or [])
    if len(selects) != len(columns) or any(isinstance(s, exp.Star) for s in selects):
        selects = []
    keys = []
    for term in order.expressions:
        target = term.this
        index = None
        if isinstance(target, exp.Literal) and not target.is_string and target.name.isdigit():
            index = int(target.name) - 1
        elif isinstance(target, exp.Column) and target.name.lower() in names and names.count(target.name.lower()) == 1:
            index = names.index(target.name.lower())
        else:
            text = target.sql(dialect=dialect).lower()
            matches = [i for i, s in enumerate(selects) if s.unalias().sql(dialect=dialect).lower() == text]
            index = matches[0] if len(matches) == 1 else None
        if index is None or not 0 <= index < len(columns):
            return None
        keys.append(index)
    return keys


def execution_match(
    gold: ExecutionResult,
    pred: ExecutionResult,
    *,
    gold_sql: str,
    rules: MatchRules = MatchRules(),
    dialect: str = "duckdb",
) -> MatchVerdict:
    """Whether `pred` returned the same answer as `gold` under `rules`; the reason says why not."""
    if not gold.ok:
        return MatchVerdict(False, f"gold query failed ({gold.error_kind}): {gold.error}")
    if not pred.ok:
        return MatchVerdict(False, f"prediction failed ({pred.error_kind}): {pred.error}")
    wider = rules.columns == "subset" and len(pred.columns) > len(gold.columns)
    if len(gold.columns) != len(pred.columns) and not wider:
        return MatchVerdict(False, f"column count differs: gold {len(gold.columns)} vs predicted {len(pred.columns)}")
    if gold.truncated and pred.truncated:
        return MatchVerdict(False, f"{UNDECIDED_REASON}: both results have more than {len(gold.rows)} rows; "
                                   "raise --max-rows to compare them", undecided=True)
    if gold.truncated != pred.truncated:
        return MatchVerdict(False, "row count differs: only one result was cut at the row cap")
    gold_rows = [tuple(_canon(c) for c in r) for r in gold.rows]
    pred_rows = [tuple(_canon(c) for c in r) for r in pred.rows]
    if wider:
        return _subset_match(gold, gold_rows, pred_rows, gold_sql=gold_sql, rules=rules, dialect=dialect)
    verdict = _same_width_match(gold, pred, gold_rows, pred_rows, gold_sql=gold_sql, rules=rules, dialect=dialect)
    if not verdict.match and rules.columns == "subset":
        subset = _subset_match(gold, gold_rows, pred_rows, gold_sql=gold_sql, rules=rules, dialect=dialect)
        if subset.match:
            return subset
    return verdict


def _subset_match(gold: ExecutionResult, gold_rows: list[tuple], pred_rows: list[tuple], *, gold_sql: str,
                  rules: MatchRules, dialect: str) -> MatchVerdict:
    """defog sql-eval's `subset_df`: every gold column, in turn, takes the first unused predicted
    column holding the same values (sorted, so the row counts must agree); the predicted rows cut
    to those columns must then equal gold's, duplicates dropped. An empty gold never matches."""
    if not gold_rows:
        return MatchVerdict(False, "gold result is empty: extra predicted columns cannot be checked against it")
    if len(gold_rows) != len(pred_rows):
        return MatchVerdict(False, f"row count differs: gold {len(gold_rows)} vs predicted {len(pred_rows)}")
    width = len(pred_rows[0])
    unused = list(range(width))
    chosen: list[int] = []
    for j in range(len(gold_rows[0])):
        gold_column = sorted((r[j] for r in gold_rows), key=_sort_key)
        hit = next((k for k in unused if all(
            _cells_equal(a, b, rules) for a, b in zip(gold_column, sorted((r[k] for r in pred_rows), key=_sort_key))
        )), None)
        if hit is None:
            name = gold.columns[j] if j < len(gold.columns) else str(j + 1)
            return MatchVerdict(False, f"gold column {name!r} has no predicted column with the same values")
        unused.remove(hit)
        chosen.append(hit)
    gold_set = _dedupe(gold_rows)
    pred_set = _dedupe([tuple(r[k] for k in chosen) for r in pred_rows])
    if len(gold_set) != len(pred_set):
        return MatchVerdict(False, f"distinct row count differs on gold's columns: gold {len(gold_set)} vs predicted {len(pred_set)}")
    ordered = rules.order == "strict" or (rules.order == "auto" and gold_is_ordered(gold_sql, dialect))
    reason = _compare_ordered(gold_set, pred_set, rules) if ordered else _compare_unordered(gold_set, pred_set, rules)
    if reason is not None:
        return MatchVerdict(False, f"{reason} (on the predicted columns matching gold's)")
    extra = width - len(chosen)
    return MatchVerdict(True, f"same on gold's {len(chosen)} column(s), {extra} extra predicted column(s) "
                              f"(subset rule), {len(gold_set)} distinct rows")


def _same_width_match(gold: ExecutionResult, pred: ExecutionResult, gold_rows: list[tuple], pred_rows: list[tuple], *,
                      gold_sql: str, rules: MatchRules, dialect: str) -> MatchVerdict:
    if rules.duplicates == "set":
        gold_rows, pred_rows = _dedupe(gold_rows), _dedupe(pred_rows)
    if len(gold_rows) != len(pred_rows):
        return MatchVerdict(False, f"row count differs: gold {len(gold_rows)} vs predicted {len(pred_rows)}")
    ordered = rules.order == "strict" or (rules.order == "auto" and gold_is_ordered(gold_sql, dialect))
    keys = order_key_columns(gold_sql, gold.columns, dialect) if ordered and rules.order == "auto" else None
    first_reason = None
    for how, perm in _column_orders(gold, pred, gold_rows, pred_rows, rules):
        aligned = [tuple(r[k] for k in perm) for r in pred_rows]
        if ordered:
            reason = _compare_ordered(gold_rows, aligned, rules, keys)
        else:
            reason = _compare_unordered(gold_rows, aligned, rules)
        if reason is None:
            return MatchVerdict(True, f"same: {len(gold_rows)} rows, {how}, {'ordered' if ordered else 'unordered'}")
        first_reason = first_reason or f"{reason} ({how})"
    return MatchVerdict(False, first_reason or "different")


def normalize_sql(sql: str, *, dialect: str = "duckdb", schema: Schema | None = None) -> str:
    """Canonical text of `sql`: sqlglot's formatting, lower-case unquoted identifiers, columns
    qualified when `schema` is given, table aliases renamed t1, t2, ... when no alias repeats."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except Exception as error:
        raise InputError(f"cannot parse SQL: {str(error).splitlines()[0]}") from error
    if tree is None:
        raise InputError("cannot parse SQL: empty")
    tree = normalize_identifiers(tree, dialect=dialect)
    if schema is not None:
        from sqlglot.optimizer.qualify import qualify

        mapping = {t.name.lower(): {c.name.lower(): c.type for c in t.columns} for t in schema.tables}
        try:
            tree = qualify(tree, schema=mapping, dialect=dialect, quote_identifiers=False, validate_qualify_columns=False)
        except Exception as error:  # unknown columns etc.: the unqualified form is still comparable
            log.debug("cannot qualify %r: %s", sql, error)
    _rename_table_aliases(tree, exp)
    return tree.sql(dialect=dialect, normalize=True, comments=False)


def _rename_table_aliases(tree, exp) -> None:
    aliases = [t.alias for t in tree.find_all(exp.Table) if t.alias]
    if not aliases or len(set(aliases)) != len(aliases):
        return  # an alias reused across scopes could point at two tables: not safe to rename
    order = {a: f"t{i + 1}" for i, a in enumerate(aliases)}
    taken = {t.name for t in tree.find_all(exp.Table)} | {c.name for c in tree.find_all(exp.Column)}
    if taken & set(order.values()):
        return
    for table in tree.find_all(exp.Table):
        if table.alias in order:
            table.args["alias"].set("this", exp.to_identifier(order[table.alias]))
    for column in tree.find_all(exp.Column):
        if column.table in order:
            column.set("table", exp.to_identifier(order[column.table]))


def exact_match(gold_sql: str, pred_sql: str, *, dialect: str = "duckdb", schema: Schema | None = None) -> bool:
    """Whether the two queries are the same text after `normalize_sql` (raw match if either fails to parse)."""
    try:
        return normalize_sql(gold_sql, dialect=dialect, schema=schema) == normalize_sql(
            pred_sql, dialect=dialect, schema=schema
        )
    except (InputError, RecursionError):  # RecursionError: nested too deeply for sqlglot
        return raw_match(gold_sql, pred_sql)


def raw_match(gold_sql: str, pred_sql: str) -> bool:
    """Stricter than exact match: same text after collapsing whitespace and dropping trailing ';'."""

    def squash(text: str) -> str:
        return re.sub(r"\s+", " ", text).strip().rstrip(";").rstrip()

    return squash(gold_sql) == squash(pred_sql)
