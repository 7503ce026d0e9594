"""Validate pairs against a warehouse: every gold SQL parses, passes the guard, names known tables,
executes and returns rows; no duplicate questions; no leaks into another split."""

from __future__ import annotations

import logging
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from sqltune.data.pairs import Pair, Progress, content_hash, normalize_question

if TYPE_CHECKING:
    from sqltune.warehouse.execute import Warehouse

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Problem:
    """One thing wrong with one pair. `kind` is machine-readable."""

    pair_id: str
    kind: str  # parse_error | unsafe_sql | missing_table | execution_error | timeout | empty_result
    #            duplicate_question | duplicate_pair | leak_question | leak_pair
    message: str


@dataclass
class ValidationReport:
    """What `validate_pairs` found; `ok` only when there is no problem at all."""

    total: int
    executed: int = 0
    problems: list[Problem] = field(default_factory=list)
    shared_sql_with_other: int = 0  # pairs whose SQL also appears in `against` (paraphrases: not a leak)
    content_hash: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        return dict(Counter(p.kind for p in self.problems))

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "executed": self.executed,
            "ok": self.ok,
            "counts": self.counts(),
            "shared_sql_with_other": self.shared_sql_with_other,
            "content_hash": self.content_hash,
            "problems": [asdict(p) for p in self.problems],
        }


def _sql_key(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").strip().lower()


def referenced_tables(sql: str, dialect: str = "duckdb") -> set[str]:
    """Lower-case names of the real tables `sql` reads (CTE names and table functions left out).
    Raises sqlglot's ParseError when `sql` does not parse."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read=dialect)
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    names = set()
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # range(), unnest(), ...
        name = table.name.lower()
        if not table.db and name in ctes:
            continue
        names.add(f"{table.db}.{name}".lower() if table.db else name)
    return names


def _static_problems(pair: Pair, known_tables: set[str], dialect: str) -> list[Problem]:
    from sqlglot.errors import ParseError, TokenError

    from sqltune.warehouse.guard import check_sql

    verdict = check_sql(pair.sql, dialect)
    if not verdict.ok:
        kind = "parse_error" if verdict.code == "syntax_error" else "unsafe_sql"
        return [Problem(pair.id, kind, f"{verdict.code}: {verdict.reason}")]
    try:
        tables = referenced_tables(pair.sql, dialect)
    except (ParseError, TokenError) as error:
        return [Problem(pair.id, "parse_error", str(error).splitlines()[0])]
    missing = sorted(t for t in tables if t not in known_tables)
    if missing:
        return [Problem(pair.id, "missing_table", f"references table(s) not in the warehouse: {', '.join(missing)}")]
    return []


def _execution_problem(pair: Pair, warehouse: "Warehouse") -> Problem | None:
    result = warehouse.execute(pair.sql)
    if not result.ok:
        kind = "timeout" if result.error_kind == "timeout" else "execution_error"
        return Problem(pair.id, kind, f"{result.error_kind}: {result.error}")
    if pair.allow_empty:
        return None
    if not result.rows:
        return Problem(pair.id, "empty_result", "returns no rows (mark allow_empty if that is the answer)")
    if len(result.rows) == 1 and all(v is None for v in result.rows[0]):
        return Problem(pair.id, "empty_result", "returns a single row of NULLs (mark allow_empty if that is the answer)")
    return None


class _QuestionIndex:
    """Pairs by normalised question and by (question, SQL), to find repeats of a pair."""

    def __init__(self) -> None:
        self.by_question: dict[str, Pair] = {}
        self.by_pair: dict[tuple[str, str], Pair] = {}
        self.sqls: set[str] = set()

    def add(self, pair: Pair) -> None:
        q, s = normalize_question(pair.question), _sql_key(pair.sql)
        self.by_question.setdefault(q, pair)
        self.by_pair.setdefault((q, s), pair)
        self.sqls.add(s)

    def repeat_of(self, pair: Pair) -> tuple[str, Pair] | None:
        """("pair", first) for the same question and SQL, ("question", first) for the same question."""
        q, s = normalize_question(pair.question), _sql_key(pair.sql)
        if (q, s) in self.by_pair:
            return "pair", self.by_pair[(q, s)]
        if q in self.by_question:
            return "question", self.by_question[q]
        return None


_REPEAT_TEXT = {"pair": "same question and SQL as", "question": "same question as"}


def _duplicate_problems(pairs: Sequence[Pair]) -> list[Problem]:
    problems, index = [], _QuestionIndex()
    for pair in pairs:
        repeat = index.repeat_of(pair)
        if repeat is not None:
            kind, first = repeat
            problems.append(Problem(pair.id, f"duplicate_{kind}", f"{_REPEAT_TEXT[kind]} {first.id}"))
        index.add(pair)
    return problems


def _leak_problems(pairs: Sequence[Pair], against: Sequence[Pair]) -> tuple[list[Problem], int]:
    index = _QuestionIndex()
    for other in against:
        index.add(other)
    problems, shared_sql = [], 0
    for pair in pairs:
        repeat = index.repeat_of(pair)
        if repeat is not None:
            kind, first = repeat
            problems.append(Problem(pair.id, f"leak_{kind}", f"{_REPEAT_TEXT[kind]} {first.id} in the other file"))
        elif _sql_key(pair.sql) in index.sqls:
            shared_sql += 1
    return problems, shared_sql


def validate_pairs(
    pairs: Iterable[Pair],
    warehouse: "Warehouse",
    *,
    dialect: str | None = None,
    progress: Progress | None = None,
    against: Sequence[Pair] | None = None,
    workers: int = 2,
) -> ValidationReport:
    """Check every gold SQL parses, is a safe query, references only existing tables, executes,
    and returns rows (unless `allow_empty`); find duplicates within `pairs` and, with `against`
    (the other split), questions that leak between the two."""
    items = list(pairs)
    dialect = dialect or warehouse.dialect
    report = ValidationReport(total=len(items), content_hash=content_hash(items))
    known = warehouse.table_names()
    static = {p.id: _static_problems(p, known, dialect) for p in items}
    runnable = [p for p in items if not static[p.id]]
    executed: dict[str, Problem | None] = {}
    done = len(items) - len(runnable)
    if progress:
        progress(done, len(items))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for pair, problem in zip(runnable, pool.map(lambda p: _execution_problem(p, warehouse), runnable)):
            executed[pair.id] = problem
            done += 1
            if progress:
                progress(done, len(items))
    report.executed = len(runnable)
    for pair in items:  # problems in file order
        report.problems.extend(static[pair.id])
        if executed.get(pair.id) is not None:
            report.problems.append(executed[pair.id])
    report.problems.extend(_duplicate_problems(items))
    if against is not None:
        leaks, report.shared_sql_with_other = _leak_problems(items, against)
        report.problems.extend(leaks)
    return report


