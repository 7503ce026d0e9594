"""The steps of one /v1/sql request: validate it, generate (with candidates when the model runs
them), then guard-check or execute the chosen SQL in the sandbox. Each step raises `ApiError`
for the request's own faults and overload; what happened to the SQL goes into the 200 body."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqltune.core.errors import SqltuneError
from sqltune.serve.errors import ApiError, overloaded, unicode_problem
from sqltune.serve.jsonable import jsonable_rows
from sqltune.serve.pool import BoundedPool, Overloaded, StartTimeout
from sqltune.serve.schemas import SqlFailure, SqlRequest

if TYPE_CHECKING:
    from sqltune.serve.settings import ServeSettings, SqlGenerator
    from sqltune.execution.execute import ExecutionResult, Warehouse


def validated_request(body: SqlRequest, settings: "ServeSettings", generator: "SqlGenerator",
                      warehouse: "Warehouse | None") -> tuple[str, str | None]:
    """The question (stripped) and the adapter to answer with, or the ApiError saying what is wrong."""
    for field, text in (("question", body.question), ("adapter", body.adapter or "")):
        problem = unicode_problem(field, text)
        if problem is not None:
            raise problem
    question = body.question.strip()
    if not question:
        raise ApiError(422, "empty_question", "the question is empty")
    if len(body.question) > settings.max_question_chars:
        raise ApiError(413, "question_too_long", f"question has {len(body.question)} characters; the limit is {settings.max_question_chars}")
    adapter = settings.default_adapter if body.adapter is None else body.adapter
    if adapter and adapter not in generator.adapters:
        known = ", ".join(generator.adapters) or "none"
        raise ApiError(404, "unknown_adapter", f"unknown adapter {adapter!r}; loaded adapters: {known}")
    if body.execute and warehouse is None:
        raise ApiError(422, "execution_unavailable", "this server has no warehouse attached (start it with --db)")
    return question, adapter


@dataclass
class Generated:
    """The chosen SQL and, for a model that runs candidates, how many ran and agreed, and the
    result the chosen SQL's own run produced (served as it is: the query does not run again)."""

    sql: str
    candidates: int | None = None
    candidates_ran: int | None = None
    candidates_agreeing: int | None = None
    choice_reason: str | None = None
    result: "ExecutionResult | None" = None
    runs: list[Any] = field(default_factory=list)  # every distinct candidate's CandidateRun
    parsed: Any = None  # the chosen SQL's parse from decoding (ParsedSql), when it made one

    def fields(self) -> dict[str, Any]:
        if self.candidates is None:
            return {}
        return {"candidates": self.candidates, "candidates_ran": self.candidates_ran,
                "candidates_agreeing": self.candidates_agreeing, "choice_reason": self.choice_reason}

    def audited_runs(self) -> list[dict[str, Any]]:
        """Each candidate's SQL and the guard's verdict on it ("passed", its refusal code, or None
        when it was never checked), with how its run went: for the audit line, not the response."""
        audited = []
        for run in self.runs:
            result = getattr(run, "result", None)
            verdict = None if result is None else (result.guard_code or "passed")
            audited.append({**run.describe(), "verdict": verdict})
        return audited


def _blocking_generate(generator: "SqlGenerator", question: str, adapter: str | None, deadline: float,
                       execute: bool) -> Generated:
    answer = getattr(generator, "answer", None)
    if callable(answer):  # candidates run in the warehouse's sandbox, all within the request's deadline
        item = answer(question, adapter=adapter, deadline=deadline, execute=execute)
        result, runs = getattr(item, "result", None), list(getattr(item, "runs", None) or [])
        parsed = getattr(item, "parsed", None)
        if item.candidates <= 1 and not item.candidates_ran:  # one greedy answer: nothing ran, nothing to report
            return Generated(str(item.sql), result=result, runs=runs, parsed=parsed)
        return Generated(str(item.sql), item.candidates, item.candidates_ran, item.candidates_agreeing, item.choice_reason,
                         result=result, runs=runs, parsed=parsed)
    generated = generator.generate_sql(question, adapter=adapter)
    return Generated(generated if isinstance(generated, str) else str(generated))


def request_timed_out(settings: "ServeSettings") -> ApiError:
    return ApiError(504, "request_timeout", f"no answer within the request's time limit ({settings.request_timeout_s:g} s, "
                                            "queueing, generation and the query included)")


async def generate(pool: BoundedPool, generator: "SqlGenerator", settings: "ServeSettings", question: str,
                   adapter: str | None, deadline: float, *, execute: bool = True) -> Generated:
    """Generate in the bounded pool; 503 when it is full or the request cannot start in time, 504
    when the answer is not there by `deadline` (a generator that overruns it is not waited for)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise request_timed_out(settings)
    try:
        return await asyncio.wait_for(
            pool.run(lambda: _blocking_generate(generator, question, adapter, deadline, execute),
                     start_within=min(settings.queue_timeout_s, left)),
            timeout=left)
    except asyncio.TimeoutError:
        raise request_timed_out(settings) from None
    except StartTimeout:
        raise overloaded(
            settings.retry_after_s, "queue_timeout",
            f"the request could not start generating within {settings.queue_timeout_s:g} s; "
            f"retry in {settings.retry_after_s} s",
        ) from None
    except Overloaded:
        raise overloaded(settings.retry_after_s) from None
    except SqltuneError as exc:  # the model's own user-facing errors (e.g. a broken adapter)
        raise ApiError(500, "generation_failed", str(exc)) from None


def row_limit(settings: "ServeSettings", max_rows: int | None) -> int:
    return min(max_rows or settings.max_rows, settings.max_rows)


def reusable_result(generated: Generated, limit: int, settings: "ServeSettings") -> "ExecutionResult | None":
    """The chosen SQL's result from its candidate run, cut to `limit` rows, when it answers the
    request as a run now would: it returned rows (enough of them), or the guard or the engine refused
    it. A candidate stopped by a candidate's limits (time, rows, bytes) or one that kept fewer rows
    than asked for runs again, once, under the server's limits."""
    import dataclasses

    result = generated.result
    if result is None:
        return None
    if not result.ok:  # a candidate's limits (time, rows) differ from the server's: those failures run again
        return None if str(result.error_kind or "") in ("timeout", "too_large", "memory") else result
    if result.truncated and len(result.rows) < limit:
        return None
    return dataclasses.replace(result, rows=list(result.rows[:limit]), truncated=result.truncated or len(result.rows) > limit)


async def execute(warehouse: "Warehouse", pool: BoundedPool, settings: "ServeSettings", sql: str,
                  max_rows: int | None, deadline: float | None = None) -> "ExecutionResult":
    """Guard and run `sql` in a sandbox worker; it must start within the query timeout (503 if
    not), and runs for at most what is left of the request's time limit (504 when nothing is)."""
    from sqltune.execution.execute import ExecutionResult
    from sqltune.execution.sandbox import GRACE_S

    limit = row_limit(settings, max_rows)
    timeout = settings.query_timeout_s
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0.05:
            raise request_timed_out(settings)
        timeout = min(timeout, left)
    # Once started, a query answers within its timeout (the sandbox kills it GRACE_S later); the
    # backstop also bounds a wait for a replacement worker still starting after a kill.
    finish_within = timeout + GRACE_S + 0.5
    try:
        future = pool.submit(lambda: warehouse.execute(sql, max_rows=limit, timeout_s=timeout))
    except Overloaded:
        raise overloaded(settings.retry_after_s) from None
    waiting = asyncio.wrap_future(future)
    done, _ = await asyncio.wait({waiting}, timeout=timeout)
    if not done and future.cancel():
        raise overloaded(settings.retry_after_s, "queue_timeout", f"no query slot came free within {timeout:g} s; "
                         f"retry in {settings.retry_after_s} s")
    try:
        return await asyncio.wait_for(asyncio.shield(waiting), finish_within)
    except asyncio.TimeoutError:  # the thread finishes on its own: the sandbox ends every query
        return ExecutionResult.failure("timeout", f"no answer within {finish_within:g} s (query timeout "
                                       f"{timeout:g} s, waiting for a sandbox worker included)")


async def check(warehouse: "Warehouse | None", pool: BoundedPool, settings: "ServeSettings", sql: str, dialect: str,
                parsed: Any = None):
    """The guard's verdict: in a sandbox worker under the query timeout when a warehouse is attached
    (it reads `sql` again there: the security boundary), else in a thread (the guard's length
    limit bounds the parse), from `parsed` when decoding already read `sql` in `dialect`."""
    from sqltune.execution.guard import check_sql
    from sqltune.execution.parsed import ParsedSql, guard_verdict

    if warehouse is None:
        if isinstance(parsed, ParsedSql) and parsed.sql == sql and parsed.dialect == dialect:
            return await asyncio.to_thread(guard_verdict, parsed)
        return await asyncio.to_thread(check_sql, sql, dialect)
    timeout = settings.query_timeout_s
    try:
        return await pool.run(lambda: warehouse.check(sql, timeout_s=timeout), start_within=timeout)
    except StartTimeout:
        raise overloaded(settings.retry_after_s, "queue_timeout", f"no query slot came free within {timeout:g} s; "
                         f"retry in {settings.retry_after_s} s") from None
    except Overloaded:
        raise overloaded(settings.retry_after_s) from None


def result_fields(result: "ExecutionResult") -> dict:
    """Response fields for an execution: a guard refusal is a validation error, the rest execution's."""
    if result.guard_code is not None:
        reason = (result.error or "rejected").removeprefix(f"{result.guard_code}: ")
        return {"valid": False, "executed": False, "validation_error": SqlFailure(code=result.guard_code, message=reason)}
    if not result.ok:
        return {"valid": True, "executed": False,
                "execution_error": SqlFailure(code=str(result.error_kind or "runtime"), message=result.error or "query failed")}
    return {"valid": True, "executed": True, "columns": list(result.columns), "rows": jsonable_rows(result.rows),
            "truncated": bool(result.truncated)}


def deadline_for(settings: "ServeSettings", started_monotonic: float) -> float:
    """The `time.monotonic()` time by which generation and candidate runs must be done."""
    return started_monotonic + settings.request_timeout_s


def elapsed_ms(started_perf: float) -> float:
    return round((time.perf_counter() - started_perf) * 1000, 2)
