"""Score predicted SQL against gold SQL by execution, and say how each wrong answer is wrong.

`PredictionScorer` executes gold and predicted queries in a thread pool as predictions arrive (so a
generator can keep producing later batches while earlier SQL runs), caches gold results by SQL
text, compares them with `sqltune.evaluation.compare` and sorts every miss into one error category.
`score_predictions` is the batch form for predictions produced elsewhere (a file, another tool);
`score_files` reads a benchmark's files, rows spread over several databases (a folder of database
files or a URL template, one database per row's `db`) scored in one report.
A row may list several gold queries: the prediction is correct when it matches any of them.
The result is an `EvalReport` (`sqltune.evaluation.scores`): headline figures, breakdowns, category counts, the match rules and
the harness `setup` (model, adapter, prompt, decoding) that every score must carry.
How a miss is categorised lives in `sqltune.evaluation.categories`; how a predictions file is read,
in `sqltune.evaluation.predictions` (`Prediction` and `load_predictions` are importable from here too).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqltune.evaluation.categories import categorize, column_difference
from sqltune.evaluation.compare import MatchRules, MatchVerdict, exact_match, execution_match, gold_variants, raw_match
from sqltune.evaluation.predictions import Prediction, load_predictions
from sqltune.evaluation.scores import EvalReport, QuestionResult
from sqltune.evaluation.spider_exact import spider_exact_match
from sqltune.core.errors import InputError
from sqltune.execution.execute import ExecutionResult
from sqltune.schema.model import Schema

if TYPE_CHECKING:
    from sqltune.data import Pair
    from sqltune.execution.execute import Warehouse
    from sqltune.inference.generate import SqlModel

log = logging.getLogger(__name__)


Progress = Callable[[int, "int | None"], None]


# -- scoring ---------------------------------------------------------------------------------------
class PredictionScorer:
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
                future.set_result(self.warehouse.execute(sql, max_rows=self.rules.max_rows))
            except BaseException as error:
                future.set_exception(error)
        return future.result()

    def _judge(self, pair: "Pair", pred: ExecutionResult) -> tuple[str, ExecutionResult, MatchVerdict]:
        """(gold SQL, its result, verdict): the first gold the prediction matches, else the first gold
        that ran (the one a miss is explained against)."""
        golds = [variant for gold in pair.golds for variant in gold_variants(gold, self.rules)]
        reference: tuple[str, ExecutionResult, MatchVerdict] | None = None
        for gold_sql in golds:
            gold = self._gold_result(gold_sql)
            verdict = execution_match(gold, pred, gold_sql=gold_sql, rules=self.rules, dialect=self.dialect)
            if verdict.match:
                return gold_sql, gold, verdict
            if reference is None or (not reference[1].ok and gold.ok):
                reference = (gold_sql, gold, verdict)
            if not pred.ok and reference[1].ok:
                break  # a failed prediction matches no gold: one that ran is enough to explain it
        assert reference is not None
        if len(golds) > 1:
            gold_sql, gold, verdict = reference
            position = golds.index(gold_sql) + 1
            note = f"none of the {len(golds)} gold queries matched; against gold {position}: {verdict.reason}"
            reference = (gold_sql, gold, MatchVerdict(False, note, undecided=verdict.undecided))
        return reference

    def _score(self, pair: "Pair", prediction: Prediction) -> QuestionResult:
        pred_sql = prediction.sql or ""
        if pred_sql.strip():
            pred = self.warehouse.execute(pred_sql, max_rows=self.rules.max_rows)
        else:
            pred = ExecutionResult.failure("syntax", "empty prediction")
        gold_sql, gold, verdict = self._judge(pair, pred)
        category = categorize(gold_sql, pred_sql, gold, pred, verdict, self.schema, dialect=self.dialect, rules=self.rules)
        reason = verdict.reason
        if category == "wrong_columns":
            reason = f"{column_difference(gold, pred)}; {reason}"
        answered = bool(pred_sql.strip())
        # The prediction is parsed here (exact match) only when the sandbox's guard parsed it within
        # its size and time limits: one it refused (too long, nested too deeply, unparseable, ...) is
        # never parsed in this process, where nothing bounds the time.
        parseable = answered and pred.guard_code is None and pred.error_kind != "syntax"
        golds = pair.golds
        result = QuestionResult(
            id=pair.id,
            question=pair.question,
            gold_sql=gold_sql,
            pred_sql=pred_sql,
            difficulty=pair.difficulty,
            tags=tuple(pair.tags),
            executable=pred.ok,
            execution_match=verdict.match,
            exact_match_normalized=parseable and any(
                exact_match(g, pred_sql, dialect=self.dialect, schema=self.schema) for g in golds),
            exact_match_spider=parseable and any(
                spider_exact_match(g, pred_sql, dialect=self.dialect, schema=self.schema) for g in golds),
            raw_match=any(raw_match(g, pred_sql) for g in golds),
            category=category,
            reason=reason,
            gold_rows=len(gold.rows) if gold.ok else None,
            pred_rows=len(pred.rows) if pred.ok else None,
            gold_elapsed_s=gold.elapsed_s,
            pred_elapsed_s=pred.elapsed_s,
            pred_error=pred.error,
            latency_s=prediction.latency_s,
            db=pair.db,
            undecided=verdict.undecided,
        )
        if self.on_result is not None:
            self.on_result(result)
        if self.progress is not None:
            with self._lock:
                self._done += 1
                done = self._done
            self.progress(done, self.total)
        return result

    def __enter__(self) -> "PredictionScorer":
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
    scorer = PredictionScorer(
        warehouse, rules=rules, schema=schema, workers=workers, label=label, setup=setup, progress=progress, total=len(pairs)
    )
    with scorer:
        for pair, prediction in zip(pairs, aligned):
            scorer.submit(pair, prediction)
        return scorer.finish()


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
    allow_privileged_role: bool = False,
) -> EvalReport:
    """Score a predictions file against a gold pairs file (`sqltune eval score`). The warehouse is
    one database, or a collection (a folder, or a template with `{db}`): then each row's `db`
    names its database, and the rows of each database are scored on it, all in one report."""
    from sqltune.core.errors import SqltuneError
    from sqltune.data import numbered_pairs

    numbered = list(numbered_pairs(gold_path))
    if not numbered:
        blank = not Path(gold_path).read_bytes().strip()
        raise InputError("the gold file is empty: no questions to score" if blank else
                         "the gold file holds no questions (a header or an empty array only)", source=str(gold_path))
    pairs = [pair for _, pair in numbered]
    predictions = align_predictions(pairs, load_predictions(pred_path), source=str(pred_path))
    setup = {"gold": str(gold_path), "predictions": str(pred_path), "warehouse": str(warehouse_source),
             "timeout_s": timeout_s, "max_rows": rules.max_rows}
    sources = database_sources(numbered, warehouse_source, gold_path=str(gold_path))
    total = len(pairs)
    results: list[QuestionResult | None] = [None] * total
    done_before = 0
    for source, indices in sources.items():
        def report_progress(done: int, _total: int | None, offset: int = done_before) -> None:
            if progress is not None:
                progress(offset + done, total)

        try:
            partial = _score_on(source, [pairs[i] for i in indices], [predictions[i] for i in indices],
                                rules=rules, workers=workers, timeout_s=timeout_s, label=label, progress=report_progress,
                                allow_privileged_role=allow_privileged_role)
        except SqltuneError as error:
            if len(sources) == 1:
                raise
            line, first = numbered[indices[0]]  # a template names databases that may not open: say which row
            raise InputError(f"row {first.id!r}: database {first.db!r} ({source}): {error}", source=str(gold_path),
                             line=line) from error
        for index, result in zip(indices, partial):
            results[index] = result
        done_before += len(indices)
    return EvalReport.from_results(label, [r for r in results if r is not None], rules=rules.describe(), setup=setup)


def _score_on(source: str, pairs: list["Pair"], predictions: list[Prediction], *, rules: MatchRules, workers: int,
              timeout_s: float, label: str, progress: Progress, allow_privileged_role: bool = False) -> list[QuestionResult]:
    """Score some rows on one database; results in the rows' order."""
    from sqltune.execution.execute import Warehouse

    schema = _schema_or_none(source)
    with Warehouse.open(source, timeout_s=timeout_s, max_rows=rules.max_rows, processes=max(1, workers),
                        allow_privileged_role=allow_privileged_role) as warehouse:
        scorer = PredictionScorer(warehouse, rules=rules, schema=schema, workers=workers, label=label,
                                  progress=progress, total=len(pairs))
        with scorer:
            for pair, prediction in zip(pairs, predictions):
                scorer.submit(pair, prediction)
            return scorer.finish().results


def database_sources(numbered: Sequence[tuple[int, "Pair"]], location: str | Path, *, gold_path: str) -> dict[str, list[int]]:
    """Database source -> indices of the rows that run on it. With one database every row runs on
    it (rows naming two or more different databases are an error: they cannot all be right); with
    a collection each row's `db` must name a database that exists (else an error naming the row)."""
    from sqltune.core.errors import SqltuneError
    from sqltune.execution.execute import is_database_collection, locate_database

    if not is_database_collection(location):
        named = sorted({pair.db for _, pair in numbered if pair.db})
        if len(named) > 1:
            shown = ", ".join(named[:5]) + (", ..." if len(named) > 5 else "")
            raise InputError(
                f"the rows name {len(named)} databases ({shown}) but --db is one database; give a folder of "
                "database files (<db>.duckdb, <db>.sqlite or <db>/<db>.sqlite) or a template with {db}",
                source=gold_path,
            )
        return {str(location): list(range(len(numbered)))}
    groups: dict[str, list[int]] = {}
    located: dict[str, str] = {}
    for index, (line, pair) in enumerate(numbered):
        if not pair.db:
            raise InputError(f"row {pair.id!r} has no 'db' (or 'db_id'): with a folder or a {{db}} template as --db, "
                             "each row names its database", source=gold_path, line=line)
        if pair.db not in located:
            try:
                found, looked = locate_database(location, pair.db)
            except SqltuneError as error:
                raise InputError(f"row {pair.id!r}: {error}", source=gold_path, line=line) from None
            if found is None:
                raise InputError(f"row {pair.id!r}: database {pair.db!r} not found (looked for {', '.join(looked)})",
                                 source=gold_path, line=line)
            located[pair.db] = found
        groups.setdefault(located[pair.db], []).append(index)
    return groups


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
    scorer = PredictionScorer(
        warehouse, rules=rules, schema=sql_model.schema, workers=workers, label=sql_model.label,
        setup=setup, progress=progress, total=len(pairs),
    )

    drawn = {"candidates": 0, "topped_up": 0, "questions_topped_up": 0}

    def submit(indices: list[int], generated: list[Any]) -> None:
        for i, item in zip(indices, generated):
            drawn["candidates"] += getattr(item, "candidates", 1)
            drawn["topped_up"] += getattr(item, "topped_up", 0)
            drawn["questions_topped_up"] += bool(getattr(item, "topped_up", 0))
            scorer.submit(pairs[i], Prediction(id=pairs[i].id, sql=item.sql, raw_output=item.raw_output, latency_s=item.latency_s))

    with scorer:
        sql_model.generate([p.question for p in pairs], adapter=adapter, on_batch=submit)
        scorer.setup["decode_drawn"] = drawn  # candidates generated in all, and those sampled beyond the set number
        report = scorer.finish()
    # PredictionScorer.finish keeps submission order (`batch_order`); report in pair order.
    order = {pair.id: i for i, pair in enumerate(pairs)}
    report.results.sort(key=lambda r: order.get(r.id, 0))
    return report
