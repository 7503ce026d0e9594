"""Execution-guided choice among SQL candidates: run each (guarded, sandboxed, time-limited),
drop those that are refused or fail, and pick by majority vote over their result sets.

Self-consistency over execution results: candidates that return the same rows agree, whatever
their text. Candidates with the same text run once and count once per copy. Ties go to the
candidate the model found likelier (sum of token log-probabilities). Empty results, and results
of queries comparing a column with a string it never holds, count only when nothing better ran.
A candidate that names a table or column the schema lacks (`check_names`) is rejected before it
runs: the warehouse would refuse it, and its time is better spent on the others. The name and
value checks read each candidate's parse (`parse`, one per distinct text for the whole answer).
The whole choice keeps a deadline: a candidate runs only with the time left, and none runs after.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqltune.execution.execute import ExecutionResult
from sqltune.execution.results import result_key

if TYPE_CHECKING:
    from sqltune.execution.parsed import ParsedSql


@dataclass
class Candidate:
    """One generated answer: its SQL and the model's log-likelihood of it."""

    sql: str
    loglik: float = 0.0
    raw_output: str = ""


@dataclass
class CandidateRun:
    """What happened to one distinct candidate query."""

    sql: str
    copies: int
    loglik: float
    ran: bool = False
    ok: bool = False
    rows: int | None = None
    error: str | None = None
    error_kind: str | None = None
    unknown_values: list[str] = field(default_factory=list)
    key: tuple | None = field(default=None, repr=False)
    result: ExecutionResult | None = field(default=None, repr=False)  # what its run (or the guard) returned
    parsed: "ParsedSql | None" = field(default=None, repr=False)  # its ParsedSql, when a check read it (sqltune.execution.parsed)

    def describe(self) -> dict:
        return {"sql": self.sql, "copies": self.copies, "loglik": round(self.loglik, 3), "ran": self.ran, "ok": self.ok,
                "rows": self.rows, "error_kind": self.error_kind, "error": self.error, "unknown_values": self.unknown_values}


@dataclass
class GuidedChoice:
    """The chosen SQL, how many candidates ran and agreed with it, and why when none succeeded."""

    sql: str
    candidates: int
    ran: int
    agreeing: int
    reason: str | None
    runs: list[CandidateRun]
    result: ExecutionResult | None = field(default=None, repr=False)

    @property
    def succeeded(self) -> bool:
        """Whether some candidate ran without error (the choice is one of those)."""
        return self.result is not None

    @property
    def empty(self) -> bool:
        """Whether the chosen candidate ran and returned no rows."""
        return self.result is not None and not self.result.rows


Execute = Callable[[str, float], ExecutionResult]


def _same_text(sql: str) -> str:
    return re.sub(r"\s+", " ", sql.strip().rstrip(";")).strip()


def choose_candidate(
    candidates: Sequence[Candidate],
    execute: Execute,
    *,
    timeout_s: float = 2.0,
    deadline: float | None = None,
    drop_empty: bool = True,
    unknown_values: Callable[["ParsedSql"], list[str]] | None = None,
    check_names: Callable[["ParsedSql"], str | None] | None = None,
    ran_before: dict[str, ExecutionResult] | None = None,
    parse: Callable[[str], "ParsedSql"] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> GuidedChoice:
    """Run the candidates (likeliest first) through `execute(sql, timeout_s)` and vote.

    `execute` must guard and sandbox (`Warehouse.execute` does). `deadline` is a `clock()` time:
    each run gets at most the time left, and candidates left when it passes do not run.
    `check_names(parsed)` says why a candidate names something the schema lacks (None: it does
    not); such a candidate does not run. `unknown_values(parsed)` names the string literals of a
    candidate that ran that its columns do not hold. Both get the candidate's `parse(sql)`
    (a `ParsedSql`; default: `ParseOnce` in DuckDB's dialect, for this call), made only when one of
    them needs it and kept on its run; pass one `ParseOnce` to every choice of an answer and each
    distinct text is read once. `ran_before` maps SQL already run (an earlier choice among fewer
    candidates) to its result, which is reused; new results are added to it.
    """
    if not candidates:
        raise ValueError("choose_candidate needs at least one candidate")
    if parse is None and (check_names is not None or unknown_values is not None):
        from sqltune.execution.parsed import ParseOnce

        parse = ParseOnce("duckdb")
    runs: dict[str, CandidateRun] = {}
    for cand in candidates:
        text = _same_text(cand.sql)
        run = runs.get(text)
        if run is None:
            runs[text] = CandidateRun(sql=cand.sql.strip(), copies=1, loglik=cand.loglik)
        else:
            run.copies += 1
            run.loglik = max(run.loglik, cand.loglik)
    ordered = sorted(runs.values(), key=lambda r: -r.loglik)
    results: dict[int, ExecutionResult] = {}
    for i, run in enumerate(ordered):
        if not run.sql:
            run.error, run.error_kind = "empty answer", "syntax"
            continue
        problem = None
        if check_names is not None:
            run.parsed = parse(run.sql)
            problem = check_names(run.parsed)
        if problem:
            run.error, run.error_kind = problem, "unknown_name"
            continue
        result = ran_before.get(run.sql) if ran_before is not None else None
        if result is None:
            left = None if deadline is None else deadline - clock()
            if left is not None and left <= 0:
                run.error, run.error_kind = "not run: the request's time limit was reached", "deadline"
                continue
            result = execute(run.sql, timeout_s if left is None else min(timeout_s, left))
            if ran_before is not None:
                ran_before[run.sql] = result
        run.ran = result.guard_code is None  # the guard refused it before it ran
        run.result = result
        if not result.ok:
            run.error, run.error_kind = result.error or "failed", str(result.error_kind or "runtime")
            continue
        run.ok, run.rows, run.key = True, len(result.rows), result_key(result)
        results[i] = result
        if unknown_values is not None:
            run.parsed = run.parsed or parse(run.sql)
            run.unknown_values = unknown_values(run.parsed)
    ran = sum(r.ran for r in ordered)  # ran in the sandbox (guard refusals not counted)
    ok = [i for i, r in enumerate(ordered) if r.ok]
    if not ok:
        best = ordered[0]
        kinds = ", ".join(f"{r.error_kind}: {r.error}" for r in ordered[:3])
        reason = f"none of {len(ordered)} distinct candidates ran successfully ({ran} ran); likeliest failed with {kinds}"
        return GuidedChoice(best.sql, len(candidates), ran, 0, reason, ordered)
    pool = ok
    if drop_empty and any(ordered[i].rows for i in pool):
        pool = [i for i in pool if ordered[i].rows]
    if any(not ordered[i].unknown_values for i in pool):
        pool = [i for i in pool if not ordered[i].unknown_values]
    votes: dict[tuple, list[int]] = {}
    for i in pool:
        votes.setdefault(ordered[i].key, []).append(i)

    def strength(members: list[int]) -> tuple:
        return (sum(ordered[i].copies for i in members), max(ordered[i].loglik for i in members))

    winners = max(votes.values(), key=strength)
    chosen = max(winners, key=lambda i: ordered[i].loglik)
    run = ordered[chosen]
    reason = None
    if not run.rows and drop_empty:
        reason = "every candidate that ran returned no rows"
    elif run.unknown_values:
        reason = "every candidate that ran compares a column with a value it does not hold: " + run.unknown_values[0]
    return GuidedChoice(run.sql, len(candidates), ran, strength(winners)[0], reason, ordered, results[chosen])
