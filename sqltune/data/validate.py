"""Validate pairs against a warehouse: every gold SQL parses, passes the guard, names known tables,
executes and returns rows; no duplicate questions; no leaks into another split."""

from __future__ import annotations

import logging
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from sqltune.core.errors import InputError
from sqltune.data.pairs import Pair, Progress, content_hash, normalize_question

if TYPE_CHECKING:
    from sqltune.execution.execute import Warehouse

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Problem:
    """One thing wrong with one pair. `kind` is machine-readable."""

    pair_id: str
    kind: str  # malformed | parse_error | unsafe_sql | missing_table | execution_error | timeout | empty_result
    #            duplicate_question | duplicate_pair | leak_question | leak_pair
    message: str
    source: str | None = None  # the pairs file
    line: int | None = None  # its line (1-based) where the pair starts

    @property
    def where(self) -> str:
        if self.source is None:
            return self.pair_id
        return f"{self.source}:{self.line}" if self.line is not None else self.source

    def __str__(self) -> str:
        name = f" {self.pair_id}" if self.pair_id and self.source is not None else ""
        return f"{self.where}:{name} {self.kind}: {self.message}"


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

    from sqltune.execution.guard import check_sql

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
    warehouse: "Warehouse | None",
    *,
    dialect: str | None = None,
    progress: Progress | None = None,
    against: Sequence[Pair] | None = None,
    workers: int = 2,
    known_tables: set[str] | None = None,
) -> ValidationReport:
    """Check every gold SQL parses, is a safe query, references only existing tables, executes,
    and returns rows (unless `allow_empty`); find duplicates within `pairs` and, with `against`
    (the other split), questions that leak between the two.

    Without a warehouse (a DDL file, a database sqltune cannot query in its sandbox) the SQL is
    checked against `known_tables` and `dialect` but not executed."""
    items = list(pairs)
    dialect = dialect or (warehouse.dialect if warehouse is not None else "duckdb")
    report = ValidationReport(total=len(items), content_hash=content_hash(items))
    known = warehouse.table_names() if warehouse is not None else {t.lower() for t in known_tables or ()}
    static = {p.id: _static_problems(p, known, dialect) for p in items}
    runnable = [p for p in items if not static[p.id]] if warehouse is not None else []
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
    _add_cross_pair_problems(report, items, against)
    return report


def _add_cross_pair_problems(report: "ValidationReport", pairs: Sequence[Pair], against: Sequence[Pair] | None) -> None:
    """Problems no single pair shows: duplicates within `pairs`, and SQL shared with `against` (a leak)."""
    report.problems.extend(_duplicate_problems(pairs))
    if against is not None:
        leaks, report.shared_sql_with_other = _leak_problems(pairs, against)
        report.problems.extend(leaks)


# -- validation wherever pairs enter (split, train, eval) -------------------------------------------
class InvalidPairsError(InputError):
    """Pairs failed validation; the message lists every problem by file and line."""

    def __init__(self, source: str, problems: Sequence[Problem], total: int):
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:MAX_LISTED])
        more = f"\n  ... and {len(self.problems) - MAX_LISTED} more" if len(self.problems) > MAX_LISTED else ""
        super().__init__(
            f"{len(self.problems)} problem(s) in {total} pair(s); fix them, or pass --allow-invalid to go on "
            f"without the pairs that have them:\n{shown}{more}",
            source=source,
        )


MAX_LISTED = 200


def validate_file(
    path: str | Path,
    db: str | None = None,
    *,
    against: str | Path | None = None,
    workers: int = 2,
    timeout_s: float = 10.0,
    progress: Progress | None = None,
    subset: Callable[[list[Pair]], list[Pair]] | None = None,
    allow_privileged_role: bool = False,
) -> tuple[ValidationReport, list[Pair]]:
    """Validate the pairs file `path` in one pass: every malformed record and every problem of
    `validate_pairs`, each with the file and line of its pair. With no `db` only the checks that
    need no warehouse run (records, duplicates, leaks). `subset` picks the pairs that are checked
    against the warehouse (an evaluation's `--limit`). An empty file is an error.
    `allow_privileged_role`: run the gold SQL as a PostgreSQL role that can write (see `Warehouse.open`).

    Returns the report and the pairs (of the subset) that have no problem."""
    from sqltune.data.pairs import scan_pairs

    source = str(path)
    scanned, errors = scan_pairs(path)
    if not scanned and not errors:
        raise InputError("no question/SQL pairs in the file", source=source)
    lines = {pair.id: line for line, pair in scanned}
    pairs = [pair for _, pair in scanned]
    if subset is not None:
        pairs = subset(pairs)
    other = list(load_pairs_lenient(against)) if against is not None else None
    report = _validate_against(pairs, db, workers=workers, timeout_s=timeout_s, progress=progress, against=other,
                               allow_privileged_role=allow_privileged_role)
    located = [Problem("", "malformed", _bare_message(e), source, e.line) for e in errors]
    for problem in report.problems:
        first = _first_of(problem, lines)
        message = f"{problem.message} (line {first})" if first is not None else problem.message
        located.append(Problem(problem.pair_id, problem.kind, message, source, lines.get(problem.pair_id)))
    located.sort(key=lambda p: (p.line is None, p.line or 0))
    report.problems = located
    report.total = len(pairs) + len(errors)
    bad = {p.pair_id for p in located if p.pair_id}
    return report, [p for p in pairs if p.id not in bad]


def require_valid_pairs(
    path: str | Path,
    db: str | None,
    *,
    allow_invalid: bool = False,
    workers: int = 2,
    timeout_s: float = 10.0,
    progress: Progress | None = None,
    subset: Callable[[list[Pair]], list[Pair]] | None = None,
    allow_privileged_role: bool = False,
) -> list[Pair]:
    """The pairs of `path` if every one passes validation; else `InvalidPairsError` listing every
    problem by line, or with `allow_invalid` the pairs without a problem (a warning says how many
    were left out)."""
    report, good = validate_file(path, db, workers=workers, timeout_s=timeout_s, progress=progress, subset=subset,
                                 allow_privileged_role=allow_privileged_role)
    if not report.ok:
        _refuse_or_leave_out(path, report, good, allow_invalid)
    return good


def _refuse_or_leave_out(path: str | Path, report: ValidationReport, good: list[Pair], allow_invalid: bool) -> None:
    if not allow_invalid:
        raise InvalidPairsError(str(path), report.problems, report.total)
    if not good:
        raise InputError(f"no valid pairs left: all {report.total} have problems", source=str(path))
    log.warning("%s: left out %d of %d pair(s) with problems (--allow-invalid): %s", path, report.total - len(good),
                report.total, "; ".join(str(p) for p in report.problems[:5]) + (" ..." if len(report.problems) > 5 else ""))


def load_pairs_lenient(path: str | Path) -> list[Pair]:
    from sqltune.data.pairs import scan_pairs

    return [pair for _, pair in scan_pairs(path)[0]]


def _bare_message(error: InputError) -> str:
    text = str(error)
    prefix = f"{error.source}:{error.line}: " if error.line is not None else f"{error.source}: "
    return text[len(prefix):] if text.startswith(prefix) else text


_FIRST_ID = re.compile(r"same (?:question(?: and SQL)? as) (\S+)$")


def _first_of(problem: Problem, lines: dict[str, int]) -> int | None:
    """The line of the first pair a duplicate repeats."""
    if not problem.kind.startswith("duplicate_"):
        return None
    match = _FIRST_ID.search(problem.message)
    return lines.get(match.group(1)) if match else None


def _validate_against(pairs: list[Pair], db: str | None, *, workers: int, timeout_s: float, progress: Progress | None,
                      against: Sequence[Pair] | None, allow_privileged_role: bool = False) -> ValidationReport:
    """`validate_pairs` on the warehouse at `db`: executed where sqltune can query it (DuckDB,
    PostgreSQL), else checked against its schema only."""
    from sqltune.execution.execute import Warehouse, can_execute

    if db is None:
        report = ValidationReport(total=len(pairs), content_hash=content_hash(pairs))
        _add_cross_pair_problems(report, pairs, against)
        return report
    if can_execute(db):
        with Warehouse.open(db, timeout_s=timeout_s, connect_timeout_s=timeout_s,
                            allow_privileged_role=allow_privileged_role) as warehouse:
            return validate_pairs(pairs, warehouse, progress=progress, against=against, workers=workers)
    from sqltune.schema import load_schema, source_dialect

    schema = load_schema(db, samples_per_column=0, timeout_s=timeout_s)
    log.warning("%s: gold SQL checked against the schema only, not executed (sqltune executes on DuckDB and PostgreSQL)", db)
    return validate_pairs(pairs, None, dialect=source_dialect(db) or schema.dialect, progress=progress, against=against,
                          known_tables={t.name.lower() for t in schema.tables})


def validated_pairs(path: str | Path, db: str | None, out_dir: str | Path, *, allow_invalid: bool = False,
                    workers: int = 2, timeout_s: float = 10.0, progress: Progress | None = None,
                    allow_privileged_role: bool = False) -> tuple[list[Pair], str]:
    """The pairs of `path` after `data validate`'s checks (the file read once), and the file the run
    names for them: `path` when every pair passes; with `allow_invalid`, the valid pairs, written
    to `out_dir/valid_pairs.jsonl`; else `InvalidPairsError`."""
    from sqltune.data.pairs import write_pairs

    report, good = validate_file(path, db, workers=workers, timeout_s=timeout_s, progress=progress,
                                 allow_privileged_role=allow_privileged_role)
    if report.ok:
        return good, str(path)
    _refuse_or_leave_out(path, report, good, allow_invalid)
    return good, str(write_pairs(Path(out_dir) / "valid_pairs.jsonl", good))
