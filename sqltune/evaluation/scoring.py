"""Score predicted SQL against gold SQL by execution, and say how each wrong answer is wrong.

`Scorer` executes gold and predicted queries in a thread pool as predictions arrive (so a
generator can keep producing later batches while earlier SQL runs), caches gold results by SQL
text, compares them with `sqltune.evaluation.compare` and sorts every miss into one error category.
`score_predictions` is the batch form for predictions produced elsewhere (a file, another tool).
The result is an `EvalReport`: headline figures, breakdowns, category counts, the match rules and
the harness `setup` (model, adapter, prompt, decoding) that every score must carry.

Error categories, checked in this order (the first that applies wins):

1. ``gold_error``: the gold query itself failed; the item is broken, not the model.
2. ``timeout``: the prediction ran past the time limit.
3. ``rejected``: the guard or the sandbox refused the prediction (writes, files, settings...).
4. ``syntax_error``: the prediction is empty or does not parse.
5. ``hallucinated_schema``: it names a table or column the warehouse does not have.
6. ``runtime_error``: it failed any other way (type errors, bad function arguments...).
7. ``wrong_join_keys``: same tables as gold, but the column equalities joining them differ
   (compared as sets of table.column pairs, with aliases resolved).
8. ``wrong_aggregation``: aggregate functions, GROUP BY or HAVING differ from gold's (date
   predicates inside them set aside: a different year in ``SUM(CASE WHEN ...)`` is a date error).
9. ``wrong_date_filter``: once predicates on date/time columns or date literals are set aside,
   the query has gold's shape, and those predicates differ.
10. ``wrong_rows``: anything else that ran but returned different rows.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqltune.evaluation.compare import MatchRules, MatchVerdict, exact_match, execution_match, raw_match
from sqltune.core.errors import InputError
from sqltune.warehouse.execute import ExecutionResult
from sqltune.schema.model import Schema

if TYPE_CHECKING:
    from sqltune.data import Pair
    from sqltune.warehouse.execute import Warehouse
    from sqltune.inference.generate import SqlModel

log = logging.getLogger(__name__)

CATEGORIES = (
    "gold_error",
    "timeout",
    "rejected",
    "syntax_error",
    "hallucinated_schema",
    "runtime_error",
    "wrong_join_keys",
    "wrong_aggregation",
    "wrong_date_filter",
    "wrong_rows",
)

Progress = Callable[[int, "int | None"], None]


# -- values between stages -------------------------------------------------------------------------
@dataclass
class Prediction:
    """One model answer for one question; `id` empty when predictions are matched by order."""

    id: str
    sql: str
    raw_output: str | None = None
    latency_s: float | None = None


@dataclass
class QuestionResult:
    """The verdict on one question. `category` is None when the prediction is correct."""

    id: str
    question: str
    gold_sql: str
    pred_sql: str
    difficulty: str | None
    tags: tuple[str, ...]
    executable: bool  # the prediction ran without error
    execution_match: bool
    exact_match: bool
    raw_match: bool
    category: str | None
    reason: str
    gold_rows: int | None  # None when the query failed
    pred_rows: int | None
    gold_elapsed_s: float
    pred_elapsed_s: float
    pred_error: str | None = None
    latency_s: float | None = None  # generation time, when the generator reported it

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "QuestionResult":
        return cls(**{**data, "tags": tuple(data.get("tags") or ())})


@dataclass
class Breakdown:
    """Scores over one slice of the questions (a difficulty, a tag)."""

    n: int
    execution_accuracy: float
    executable_rate: float
    exact_match: float


def _rate(hits: int, n: int) -> float:
    return hits / n if n else 0.0


def _breakdown(results: Sequence[QuestionResult]) -> Breakdown:
    n = len(results)
    return Breakdown(
        n=n,
        execution_accuracy=_rate(sum(r.execution_match for r in results), n),
        executable_rate=_rate(sum(r.executable for r in results), n),
        exact_match=_rate(sum(r.exact_match for r in results), n),
    )


UNLABELLED = "(none)"


@dataclass
class EvalReport:
    """Scores of one model form on one question set, with the rules and setup that produced them."""

    label: str
    n: int
    execution_accuracy: float
    executable_rate: float
    exact_match: float
    raw_match: float
    by_difficulty: dict[str, Breakdown]
    by_tag: dict[str, Breakdown]
    categories: dict[str, int]  # error category -> count of wrong predictions
    rules: str  # MatchRules.describe()
    setup: dict[str, Any]  # model, adapter, prompt config, decoding: the harness behind the score
    results: list[QuestionResult]
    mean_latency_s: float | None = None
    created_at: str = ""

    @classmethod
    def from_results(
        cls, label: str, results: Sequence[QuestionResult], *, rules: str, setup: Mapping[str, Any] | None = None
    ) -> "EvalReport":
        results = list(results)
        overall = _breakdown(results)
        by_difficulty: dict[str, list[QuestionResult]] = defaultdict(list)
        by_tag: dict[str, list[QuestionResult]] = defaultdict(list)
        if any(r.difficulty for r in results):
            for r in results:
                by_difficulty[r.difficulty or UNLABELLED].append(r)
        for r in results:
            for tag in r.tags:
                by_tag[tag].append(r)
        counts = Counter(r.category for r in results if r.category)
        latencies = [r.latency_s for r in results if r.latency_s is not None]
        return cls(
            label=label,
            n=overall.n,
            execution_accuracy=overall.execution_accuracy,
            executable_rate=overall.executable_rate,
            exact_match=overall.exact_match,
            raw_match=_rate(sum(r.raw_match for r in results), len(results)),
            by_difficulty={k: _breakdown(v) for k, v in sorted(by_difficulty.items(), key=_difficulty_key)},
            by_tag={k: _breakdown(v) for k, v in sorted(by_tag.items())},
            categories={c: counts[c] for c in CATEGORIES if counts[c]},
            rules=rules,
            setup=dict(setup or {}),
            results=results,
            mean_latency_s=sum(latencies) / len(latencies) if latencies else None,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EvalReport":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["by_difficulty"] = {k: Breakdown(**v) for k, v in data.get("by_difficulty", {}).items()}
        values["by_tag"] = {k: Breakdown(**v) for k, v in data.get("by_tag", {}).items()}
        values["results"] = [QuestionResult.from_dict(r) for r in data.get("results", [])]
        return cls(**values)


_DIFFICULTY_ORDER = {name: i for i, name in enumerate(("easy", "simple", "medium", "moderate", "hard", "challenging", "extra", "extra_hard", "extra-hard"))}


def _difficulty_key(item: tuple[str, Any]) -> tuple[int, str]:
    """Known difficulty names in their natural order, others alphabetically after them."""
    name = item[0]
    return (_DIFFICULTY_ORDER.get(name.lower(), len(_DIFFICULTY_ORDER)), name)


HEADLINE_METRICS = (
    ("Execution accuracy", "execution_accuracy"),
    ("Executable rate", "executable_rate"),
    ("Exact SQL match", "exact_match"),
    ("Raw string match", "raw_match"),
)


@dataclass
class Comparison:
    """Several model forms scored on the same questions (prompt-only, adapter, merged, bf16 LoRA)."""

    reports: list[EvalReport]

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.reports]

    def get(self, label: str) -> EvalReport:
        for report in self.reports:
            if report.label == label:
                return report
        raise KeyError(label)

    def headline_rows(self) -> list[tuple[str, list[float]]]:
        """(metric name, value per report): the rows of the Harbor-style table."""
        return [(name, [getattr(r, attr) for r in self.reports]) for name, attr in HEADLINE_METRICS]

    def difficulties(self) -> list[str]:
        names = {d: None for r in self.reports for d in r.by_difficulty}
        return [name for name, _ in sorted(names.items(), key=_difficulty_key)]

    def tags(self) -> list[str]:
        return sorted({t for r in self.reports for t in r.by_tag})

    def categories(self) -> list[str]:
        present = {c for r in self.reports for c in r.categories}
        return [c for c in CATEGORIES if c in present]

    def flips(self, before: str, after: str) -> tuple[list[str], list[str]]:
        """Question ids that `after` gets right and `before` wrong (fixed), and the reverse (broken)."""
        old = {r.id: r.execution_match for r in self.get(before).results}
        new = {r.id: r.execution_match for r in self.get(after).results}
        shared = [i for i in new if i in old]
        return [i for i in shared if new[i] and not old[i]], [i for i in shared if old[i] and not new[i]]

    def to_dict(self) -> dict[str, Any]:
        return {"reports": [r.to_dict() for r in self.reports]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Comparison":
        return cls([EvalReport.from_dict(r) for r in data["reports"]])


# -- error categories ------------------------------------------------------------------------------
_DATE_TYPE = re.compile(r"\b(date|time|timestamp\w*|datetime|interval)\b", re.I)
_DATE_NAME_EDGE = re.compile(r"^(date|time)|(date|time|timestamp)$")
_DATE_NAME_TOKENS = frozenset(
    {"date", "time", "datetime", "timestamp", "year", "yr", "month", "mon", "quarter", "qtr", "week", "day", "fiscal", "fy", "period", "ts", "dt"}
)
_DATE_NAME_SUFFIXES = frozenset({"at", "on"})
_DATE_LITERAL = re.compile(r"^\d{4}-\d{2}(-\d{2})?([ T]\d{2}:\d{2}(:\d{2})?)?")
_DATE_FUNCTION_NODES = frozenset({"Extract", "Year", "Month", "Quarter", "Week", "Day", "DayOfWeek", "DayOfMonth", "DayOfYear", "WeekOfYear"})


def _parse(sql: str, dialect: str):
    import sqlglot

    try:
        return sqlglot.parse_one(sql, read=dialect)
    except Exception:  # sqlglot raises several error types; any of them means "cannot read"
        return None


def _is_date_column_name(name: str) -> bool:
    """order_date, orderdate, date_key, created_at, fiscal_year, ship_ts: yes; lifetime_value: no."""
    name = name.lower()
    tokens = [t for t in re.split(r"[^a-z0-9]+", name) if t]
    if not tokens:
        return False
    return (
        _DATE_NAME_EDGE.search(name) is not None
        or bool(_DATE_NAME_TOKENS.intersection(tokens))
        or tokens[-1] in _DATE_NAME_SUFFIXES
    )


def _date_columns(schema: Schema | None) -> set[str]:
    """Lower-case names of columns the schema types as dates or times."""
    if schema is None:
        return set()
    return {c.name.lower() for t in schema.tables for c in t.columns if _DATE_TYPE.search(c.type or "")}


def _is_date_predicate(node, date_columns: set[str]) -> bool:
    from sqlglot import exp

    for sub in node.walk():
        kind = type(sub).__name__
        if isinstance(sub, exp.Column) and (sub.name.lower() in date_columns or _is_date_column_name(sub.name)):
            return True
        if isinstance(sub, exp.Literal) and sub.is_string and _DATE_LITERAL.match(sub.this):
            return True
        if isinstance(sub, exp.DataType) and _DATE_TYPE.search(sub.sql()):
            return True
        if "Date" in kind or "Time" in kind or "Interval" in kind or kind in _DATE_FUNCTION_NODES:
            return True
    return False


def _conjuncts(node) -> list:
    from sqlglot import exp

    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        return _conjuncts(node.this)
    return [node]


def _plain_sql(node, dialect: str) -> str:
    """`node` as text with table qualifiers, table aliases and output aliases dropped, lower-cased."""
    from sqlglot import exp

    def strip(n):
        if isinstance(n, exp.Column) and n.args.get("table") is not None:
            return exp.column(n.args["this"].copy())
        if isinstance(n, exp.Table) and n.args.get("alias") is not None:
            n = n.copy()
            n.set("alias", None)
            return n
        if isinstance(n, exp.Alias):
            return n.this
        return n

    return node.copy().transform(strip).sql(dialect=dialect, normalize=True, comments=False).lower()


_DATE_MASK = "__date_predicate__"


def _is_join_condition(node) -> bool:
    from sqlglot import exp

    return isinstance(node, exp.EQ) and isinstance(node.this, exp.Column) and isinstance(node.expression, exp.Column)


def _date_masked(tree, dialect: str, date_columns: set[str]):
    """A copy of `tree` without its date predicates, and those predicates as plain text.

    Date conjuncts of WHERE and JOIN ... ON are removed (so a missing date filter leaves the same
    shape); date comparisons elsewhere (CASE WHEN, HAVING) become a placeholder. Column = column
    equalities are join conditions, never date predicates, even on date keys."""
    from sqlglot import exp

    tree = tree.copy()
    removed: list[str] = []
    holders = [(w, "this") for w in tree.find_all(exp.Where)] + [
        (j, "on") for j in tree.find_all(exp.Join) if j.args.get("on") is not None
    ]
    for holder, key in holders:
        kept = []
        for conjunct in _conjuncts(holder.args[key]):
            if not _is_join_condition(conjunct) and _is_date_predicate(conjunct, date_columns):
                removed.append(_plain_sql(conjunct, dialect))
            else:
                kept.append(conjunct)
        if kept:
            holder.set(key, exp.and_(*kept, copy=False))
        elif isinstance(holder, exp.Where):
            holder.pop()
        else:
            holder.set(key, exp.true())
    comparisons = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In)
    for node in list(tree.find_all(*comparisons)):
        inner = [n for n in node.walk() if n is not node]
        if any(isinstance(n, (*comparisons, exp.AggFunc, exp.Select)) for n in inner):
            continue  # mask only the innermost comparisons, so aggregates around them stay visible
        if not _is_join_condition(node) and _is_date_predicate(node, date_columns):
            removed.append(_plain_sql(node, dialect))
            node.replace(exp.column(_DATE_MASK))
    return tree, tuple(sorted(removed))


def _aggregation_signature(tree, dialect: str) -> tuple:
    """Aggregates, GROUP BY keys and HAVING conditions, order-insensitive, aliases dropped."""
    from sqlglot import exp

    aggregates = sorted(_plain_sql(a, dialect) for a in tree.find_all(exp.AggFunc))
    groups = sorted(tuple(sorted(_plain_sql(e, dialect) for e in g.expressions)) for g in tree.find_all(exp.Group))
    having = sorted(_plain_sql(h.this, dialect) for h in tree.find_all(exp.Having))
    return (tuple(aggregates), tuple(groups), tuple(having))


def _scopes(tree):
    from sqlglot.optimizer.scope import traverse_scope

    try:
        return traverse_scope(tree)
    except Exception:  # sqlglot cannot build scopes for some queries (odd set operations etc.)
        return []


def _resolve_source(scope, qualifier: str) -> str | None:
    """The real table an alias or table name stands for in `scope` (or an enclosing one)."""
    from sqlglot import exp

    while scope is not None:
        source = scope.sources.get(qualifier)
        if isinstance(source, exp.Table):
            return source.name.lower()
        if source is not None:
            return f"({qualifier})"  # a CTE or derived table: its name is the best identity we have
        scope = scope.parent
    return None


def _scope_tables(scope) -> list[str]:
    from sqlglot import exp

    return [s.name.lower() for s in scope.sources.values() if isinstance(s, exp.Table)]


def _column_owner(column, scope, schema: Schema | None) -> str:
    if column.table:
        return _resolve_source(scope, column.table) or column.table.lower()
    if schema is not None:  # unqualified: the one table in scope that has such a column
        owners = [t for t in _scope_tables(scope) if (st := schema.table(t)) and st.column(column.name)]
        if len(owners) == 1:
            return owners[0]
    return "?"


def _tables(tree) -> frozenset[str]:
    from sqlglot import exp

    scopes = _scopes(tree)
    if scopes:
        return frozenset(t for s in scopes for t in _scope_tables(s))
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return frozenset(t.name.lower() for t in tree.find_all(exp.Table) if t.name.lower() not in ctes)


def join_pairs(tree, schema: Schema | None = None) -> frozenset[frozenset[str]]:
    """Column equalities that link two different tables (JOIN ... ON, USING, or WHERE), as
    {"table.column", "table.column"} sets with aliases resolved to table names."""
    from sqlglot import exp

    pairs: set[frozenset[str]] = set()
    for scope in _scopes(tree):
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        conditions = [(j.args.get("on"), True) for j in select.args.get("joins") or []]
        conditions.append((select.args.get("where"), False))
        for condition, in_join in conditions:
            if condition is None:
                continue
            for eq in condition.find_all(exp.EQ):
                if eq.find_ancestor(exp.Select) is not select:
                    continue  # belongs to a subquery, which has its own scope
                left, right = eq.this, eq.expression
                if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
                    continue
                owners = (_column_owner(left, scope, schema), _column_owner(right, scope, schema))
                # Two known, different tables; or an unresolvable side inside JOIN ... ON.
                if owners[0] != owners[1] and "?" not in owners or in_join and "?" in owners:
                    pairs.add(frozenset((f"{owners[0]}.{left.name.lower()}", f"{owners[1]}.{right.name.lower()}")))
        for join in select.args.get("joins") or []:
            for name in join.args.get("using") or []:
                pairs.add(frozenset((f"using.{name.name.lower()}",)))
    return frozenset(pairs)


def _unknown_names(tree, schema: Schema) -> list[str]:
    """Tables the schema lacks, and columns a known table lacks (qualified, or unqualified where
    every source in scope is a known table and no output alias has that name)."""
    from sqlglot import exp

    known_tables = {t.name.lower() for t in schema.tables} | {t.name.lower().split(".")[-1] for t in schema.tables}
    unknown = [t for t in sorted(_tables(tree)) if t not in known_tables]
    for scope in _scopes(tree):
        tables = {name: schema.table(s.name) for name, s in scope.sources.items() if isinstance(s, exp.Table)}
        all_known = len(tables) == len(scope.sources) and all(tables.values())
        aliases = {e.alias.lower() for e in getattr(scope.expression, "expressions", []) if isinstance(e, exp.Alias)}
        for column in scope.columns:
            name = column.name
            if not name or name.lower() in aliases:
                continue
            if column.table:
                table = tables.get(column.table)
                if table is not None and table.column(name) is None:
                    unknown.append(f"{table.name}.{name}")
            elif all_known and tables and not any(t.column(name) for t in tables.values()):
                unknown.append(name)
    return unknown


def categorize(
    gold_sql: str,
    pred_sql: str,
    gold_res: ExecutionResult,
    pred_res: ExecutionResult,
    verdict: MatchVerdict,
    schema: Schema | None = None,
    *,
    dialect: str = "duckdb",
) -> str | None:
    """The error category of a prediction (see the module docstring for the order), None if correct."""
    if verdict.match:
        return None
    if not gold_res.ok:
        return "gold_error"
    kind = pred_res.error_kind
    if kind in ("timeout", "rejected"):
        return kind
    pred_tree = _parse(pred_sql, dialect) if pred_sql.strip() else None
    if kind == "syntax" or pred_tree is None:
        return "syntax_error"
    if kind in ("unknown_table", "unknown_column"):
        return "hallucinated_schema"
    if not pred_res.ok:
        if schema is not None and _unknown_names(pred_tree, schema):
            return "hallucinated_schema"
        return "runtime_error"
    gold_tree = _parse(gold_sql, dialect)
    if gold_tree is None:
        return "wrong_rows"  # nothing to compare the prediction's structure with
    gold_pairs, pred_pairs = join_pairs(gold_tree, schema), join_pairs(pred_tree, schema)
    if gold_pairs and pred_pairs and gold_pairs != pred_pairs and _tables(gold_tree) == _tables(pred_tree):
        return "wrong_join_keys"
    date_columns = _date_columns(schema)
    gold_masked, gold_dates = _date_masked(gold_tree, dialect, date_columns)
    pred_masked, pred_dates = _date_masked(pred_tree, dialect, date_columns)
    if _aggregation_signature(gold_masked, dialect) != _aggregation_signature(pred_masked, dialect):
        return "wrong_aggregation"
    if gold_dates != pred_dates and _plain_sql(gold_masked, dialect) == _plain_sql(pred_masked, dialect):
        return "wrong_date_filter"
    return "wrong_rows"


# -- scoring ---------------------------------------------------------------------------------------
class Scorer:
    """Executes and scores predictions as they are submitted; `finish()` waits and reports.

    Thread-safe: `submit` may be called from a generation loop while earlier queries run.
    Gold queries run once per distinct SQL text, however many questions share them.
    """

    def __init__(
        self,
        warehouse: "Warehouse",
        *,
        rules: MatchRules = MatchRules(),
        schema: Schema | None = None,
        workers: int = 2,
        label: str = "predictions",
        setup: Mapping[str, Any] | None = None,
        on_result: Callable[[QuestionResult], None] | None = None,
        progress: Progress | None = None,
        total: int | None = None,
    ):
        self.warehouse = warehouse
        self.rules = rules
        self.schema = schema
        self.label = label
        self.setup = dict(setup or {})
        self.on_result = on_result
        self.progress = progress
        self.total = total
        self.dialect = getattr(warehouse, "dialect", "duckdb")
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sqltune-eval")
        self._futures: list[Future[QuestionResult]] = []
        self._gold: dict[str, Future[ExecutionResult]] = {}
        self._lock = threading.Lock()
        self._done = 0

    def submit(self, pair: "Pair", prediction: Prediction) -> Future[QuestionResult]:
        future = self._pool.submit(self._score, pair, prediction)
        self._futures.append(future)
        return future

    def finish(self) -> EvalReport:
        """Wait for every submitted prediction and build the report (in submission order)."""
        try:
            results = [f.result() for f in self._futures]
        finally:
            self._pool.shutdown(wait=True)
        return EvalReport.from_results(self.label, results, rules=self.rules.describe(), setup=self.setup)

    def _gold_result(self, sql: str) -> ExecutionResult:
        """The gold result for `sql`: the first thread to ask runs it, later ones wait for it."""
        with self._lock:
            future = self._gold.get(sql)
            owner = future is None
            if owner:
                future = self._gold[sql] = Future()
        if owner:
            try:
                future.set_result(self.warehouse.execute(sql))
            except BaseException as error:
                future.set_exception(error)
        return future.result()

    def _score(self, pair: "Pair", prediction: Prediction) -> QuestionResult:
        gold = self._gold_result(pair.sql)
        pred_sql = prediction.sql or ""
        if pred_sql.strip():
            pred = self.warehouse.execute(pred_sql)
        else:
            pred = ExecutionResult.failure("syntax", "empty prediction")
        verdict = execution_match(gold, pred, gold_sql=pair.sql, rules=self.rules, dialect=self.dialect)
        category = categorize(pair.sql, pred_sql, gold, pred, verdict, self.schema, dialect=self.dialect)
        result = QuestionResult(
            id=pair.id,
            question=pair.question,
            gold_sql=pair.sql,
            pred_sql=pred_sql,
            difficulty=pair.difficulty,
            tags=tuple(pair.tags),
            executable=pred.ok,
            execution_match=verdict.match,
            exact_match=bool(pred_sql.strip()) and exact_match(pair.sql, pred_sql, dialect=self.dialect, schema=self.schema),
            raw_match=raw_match(pair.sql, pred_sql),
            category=category,
            reason=verdict.reason,
            gold_rows=len(gold.rows) if gold.ok else None,
            pred_rows=len(pred.rows) if pred.ok else None,
            gold_elapsed_s=gold.elapsed_s,
            pred_elapsed_s=pred.elapsed_s,
            pred_error=pred.error,
            latency_s=prediction.latency_s,
        )
        if self.on_result is not None:
            self.on_result(result)
        if self.progress is not None:
            with self._lock:
                self._done += 1
                done = self._done
            self.progress(done, self.total)
        return result

    def __enter__(self) -> "Scorer":
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def align_predictions(pairs: Sequence["Pair"], predictions: Sequence[Prediction], *, source: str = "predictions") -> list[Prediction]:
    """Predictions in pair order: by id when every prediction has one, else by position."""
    if predictions and all(p.id for p in predictions):
        by_id: dict[str, Prediction] = {}
        for p in predictions:
            if p.id in by_id:
                raise InputError(f"prediction id {p.id!r} appears twice", source=source)
            by_id[p.id] = p
        unknown = sorted(set(by_id) - {pair.id for pair in pairs})
        if unknown:
            raise InputError(f"{len(unknown)} prediction id(s) not in the gold set: {', '.join(unknown[:5])}", source=source)
        missing = [pair.id for pair in pairs if pair.id not in by_id]
        if missing:
            raise InputError(f"no prediction for {len(missing)} gold question(s): {', '.join(missing[:5])}", source=source)
        return [by_id[pair.id] for pair in pairs]
    if any(p.id for p in predictions):
        raise InputError("some predictions have an id and some do not: give every one an id, or none", source=source)
    if len(predictions) != len(pairs):
        raise InputError(
            f"{len(predictions)} predictions without ids for {len(pairs)} gold questions: "
            "without ids they are matched by position, so the counts must be equal",
            source=source,
        )
    return list(predictions)


def score_predictions(
    pairs: Sequence["Pair"],
    predictions: Sequence[Prediction],
    warehouse: "Warehouse",
    *,
    rules: MatchRules = MatchRules(),
    schema: Schema | None = None,
    workers: int = 2,
    label: str = "predictions",
    setup: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> EvalReport:
    """Execute gold and predicted SQL for every pair, compare and categorise: the whole score."""
    aligned = align_predictions(pairs, predictions)
    scorer = Scorer(
        warehouse, rules=rules, schema=schema, workers=workers, label=label, setup=setup, progress=progress, total=len(pairs)
    )
    with scorer:
        for pair, prediction in zip(pairs, aligned):
            scorer.submit(pair, prediction)
        return scorer.finish()


def load_predictions(path: str | Path) -> list[Prediction]:
    """Predictions from JSONL (`id` and `sql` or `pred` per line) or a plain file of one query per
    line in gold order (the format Spider's evaluator reads; blank lines count as empty answers)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read predictions ({error.strerror or error})", source=str(path)) from error
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason})", source=str(path)) from error
    lines = text.splitlines()
    if path.suffix.lower() not in (".jsonl", ".json", ".ndjson"):
        return [Prediction(id="", sql=line.split("\t")[0].strip()) for line in lines]
    return list(_jsonl_predictions(lines, str(path)))


def _jsonl_predictions(lines: Iterable[str], source: str) -> Iterable[Prediction]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"not valid JSON ({error.msg})", source=source, line=number) from None
        if not isinstance(record, dict):
            raise InputError("each line must be a JSON object", source=source, line=number)
        sql = record.get("sql", record.get("pred"))
        if sql is None:
            raise InputError("no 'sql' (or 'pred') field", source=source, line=number)
        if not isinstance(sql, str):
            raise InputError(f"'sql' must be a string, got {type(sql).__name__}", source=source, line=number)
        latency = record.get("latency_s")
        yield Prediction(
            id=str(record.get("id") or ""),
            sql=sql,
            raw_output=record.get("raw_output"),
            latency_s=float(latency) if isinstance(latency, (int, float)) else None,
        )


def score_files(
    gold_path: str | Path,
    pred_path: str | Path,
    warehouse_source: str | Path,
    *,
    rules: MatchRules = MatchRules(),
    label: str = "predictions",
    workers: int = 2,
    timeout_s: float = 10.0,
    progress: Progress | None = None,
) -> EvalReport:
    """Score a predictions file against a gold pairs file on a warehouse (`sqltune eval score`)."""
    from sqltune.data import load_pairs
    from sqltune.warehouse.execute import Warehouse
    from sqltune.inference.generate import SqlModel

    pairs = load_pairs(gold_path)
    predictions = load_predictions(pred_path)
    schema = _schema_or_none(warehouse_source)
    setup = {"gold": str(gold_path), "predictions": str(pred_path), "warehouse": str(warehouse_source), "timeout_s": timeout_s}
    with Warehouse.open(warehouse_source, timeout_s=timeout_s) as warehouse:
        return score_predictions(
            pairs, predictions, warehouse, rules=rules, schema=schema, workers=workers, label=label, setup=setup, progress=progress
        )


def _schema_or_none(source: str | Path) -> Schema | None:
    """The warehouse schema (sharper exact match and categories), or None when it cannot be read."""
    from sqltune.core.errors import SqltuneError
    from sqltune.schema import load_schema

    try:
        return load_schema(source, samples_per_column=0)
    except SqltuneError as error:
        log.warning("scoring without a schema: %s", error)
        return None


# -- model evaluation ------------------------------------------------------------------------------
def evaluate_model(
    sql_model: "SqlModel",
    pairs: Sequence["Pair"],
    warehouse: "Warehouse",
    *,
    rules: MatchRules = MatchRules(),
    workers: int = 2,
    progress: Progress | None = None,
    adapter: str | None = None,
) -> EvalReport:
    """Generate SQL for every pair with `sql_model` and score it; SQL of one batch executes while
    the next batch generates, so evaluation takes little longer than generation alone."""
    setup = {**sql_model.setup(), "rules": rules.describe()}
    scorer = Scorer(
        warehouse, rules=rules, schema=sql_model.schema, workers=workers, label=sql_model.label,
        setup=setup, progress=progress, total=len(pairs),
    )

    def submit(indices: list[int], generated: list[Any]) -> None:
        for i, item in zip(indices, generated):
            scorer.submit(pairs[i], Prediction(id=pairs[i].id, sql=item.sql, raw_output=item.raw_output, latency_s=item.latency_s))

    with scorer:
        sql_model.generate([p.question for p in pairs], adapter=adapter, on_batch=submit)
        report = scorer.finish()
    # Scorer.finish keeps submission order, which follows prompt length; report in pair order.
    order = {pair.id: i for i, pair in enumerate(pairs)}
    report.results.sort(key=lambda r: order.get(r.id, 0))
    return report
