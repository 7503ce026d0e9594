"""Score predicted SQL against gold SQL by execution, and say how each wrong answer is wrong.

`Scorer` executes gold and predicted queries in a thread pool as predictions arrive (so a
generator can keep producing later batches while earlier SQL runs), caches gold results by SQL
text, compares them with `sqltune.evaluation.compare` and sorts every miss into one error category.
`score_predictions` is the batch form for predictions produced elsewhere (a file, another tool).
The result is an `EvalReport`: headline figures, breakdowns, category counts, the match rules and
the harness `setup` (model, adapter, prompt, decoding) that every score must carry.
How a miss is categorised lives in `sqltune.evaluation.categories`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqltune.evaluation.categories import CATEGORIES, categorize
from sqltune.evaluation.compare import MatchRules, exact_match, execution_match, raw_match
from sqltune.core.errors import InputError
from sqltune.warehouse.execute import ExecutionResult
from sqltune.schema.model import Schema

if TYPE_CHECKING:
    from sqltune.data import Pair
    from sqltune.warehouse.execute import Warehouse
    from sqltune.inference.generate import SqlModel

log = logging.getLogger(__name__)


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
