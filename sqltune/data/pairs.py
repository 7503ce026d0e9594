"""Question/SQL pairs: load (JSONL or CSV), validate against a warehouse, split, hash, write.

Loading reads the file one record at a time, so a large file streams in constant memory
(`streaming=True` returns the iterator), and checks every record as it goes: a malformed line is
an `InputError` naming the file and the line number. `pairs_dataset` hands the same checked
records to the `datasets` library for the training stage. (`datasets`' own JSON reader is not
used on the raw file: it fails on blank lines and on ids that are numbers in one line and strings
in another, with a pandas error that names no line.)

Content hashes are order-independent: the pairs are sorted by id before hashing, so re-ordering
a file keeps its hash and changing any field of any pair changes it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import random
import re
import tempfile
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from sqltune.core.errors import InputError

if TYPE_CHECKING:
    from sqltune.warehouse.execute import Warehouse

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total)
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv", ".tsv")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


@dataclass(frozen=True)
class Pair:
    """One natural-language question and its gold SQL."""

    id: str
    question: str
    sql: str
    db: str | None = None
    difficulty: str | None = None
    tags: tuple[str, ...] = ()
    allow_empty: bool = False  # the gold answer is legitimately empty (or only NULLs)

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record: defaults left out, key order fixed."""
        record: dict[str, Any] = {"id": self.id, "question": self.question, "sql": self.sql}
        if self.db is not None:
            record["db"] = self.db
        if self.difficulty is not None:
            record["difficulty"] = self.difficulty
        if self.tags:
            record["tags"] = list(self.tags)
        if self.allow_empty:
            record["allow_empty"] = True
        return record


def pair_id(question: str, sql: str) -> str:
    """A stable id for a pair that has none: a hash of its question and SQL."""
    digest = hashlib.sha256(f"{question}\x1f{sql}".encode()).hexdigest()
    return f"p-{digest[:12]}"


# -- loading ---------------------------------------------------------------------------------------
def _field_str(record: dict, key: str, source: str, line: int, *, required: bool) -> str | None:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError(f"missing or empty {key!r}", source=source, line=line)
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{key!r} must be a string, got {type(value).__name__}", source=source, line=line)
    return str(value).strip()


def _tags(value: Any, source: str, line: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # CSV cells: "join;date" or "join,date"
        return tuple(t.strip() for t in re.split(r"[;,|]", value) if t.strip())
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return tuple(t.strip() for t in value if t.strip())
    raise InputError("'tags' must be a list of strings", source=source, line=line)


def _flag(value: Any, source: str, line: int) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InputError(f"'allow_empty' must be true or false, got {value!r}", source=source, line=line)


def _pair_from_record(record: Any, source: str, line: int) -> tuple[Pair, bool]:
    """The checked pair and whether its id was given in the file."""
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object, got {type(record).__name__}", source=source, line=line)
    question = _field_str(record, "question", source, line, required=True)
    sql = _field_str(record, "sql", source, line, required=True)
    given = _field_str(record, "id", source, line, required=False)
    pair = Pair(
        id=given or pair_id(question, sql),
        question=question,
        sql=sql,
        db=_field_str(record, "db", source, line, required=False),
        difficulty=_field_str(record, "difficulty", source, line, required=False),
        tags=_tags(record.get("tags"), source, line),
        allow_empty=_flag(record.get("allow_empty"), source, line),
    )
    return pair, given is not None


def _jsonl_records(path: Path) -> Iterator[tuple[int, Any]]:
    source = str(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise InputError(f"not UTF-8 text ({error.reason})", source=source, line=number) from error
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as error:
                raise InputError(f"malformed JSON: {error.msg} (column {error.colno})", source=source, line=number) from error


def _csv_records(path: Path) -> Iterator[tuple[int, Any]]:
    source = str(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason})", source=source, line=1) from error
    with handle:
        if header is None:
            return
        names = [h.strip().lower() for h in header]
        missing = [c for c in ("question", "sql") if c not in names]
        if missing:
            raise InputError(f"CSV header lacks column(s) {', '.join(missing)} (has: {', '.join(names)})", source=source, line=1)
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as error:
                raise InputError(f"not UTF-8 text ({error.reason})", source=source, line=start) from error
            except csv.Error as error:
                raise InputError(f"malformed CSV: {error}", source=source, line=start) from error
            if row and any(cell.strip() for cell in row):
                if len(row) > len(names):
                    raise InputError(f"expected at most {len(names)} fields, got {len(row)}", source=source, line=start)
                yield start, dict(zip(names, row))  # short rows: the missing trailing fields are empty
            start = reader.line_num + 1


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _jsonl_records(path)
    if suffix in CSV_SUFFIXES:
        return _csv_records(path)
    with path.open("rb") as handle:  # unknown suffix: JSON lines start with '{'
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return _jsonl_records(path) if head.startswith(b"{") else _csv_records(path)


def _iter_pairs(path: Path) -> Iterator[Pair]:
    source = str(path)
    first_line: dict[str, int] = {}
    generated: Counter[str] = Counter()
    for line, record in _records(path):
        pair, given = _pair_from_record(record, source, line)
        if given:
            if pair.id in first_line:
                raise InputError(f"duplicate id {pair.id!r} (first on line {first_line[pair.id]})", source=source, line=line)
        else:
            generated[pair.id] += 1
            if generated[pair.id] > 1:  # the same question and SQL again: keep ids unique
                pair = Pair(**{**asdict(pair), "id": f"{pair.id}-{generated[pair.id]}"})
        first_line[pair.id] = line
        yield pair


def load_pairs(path: str | os.PathLike, *, streaming: bool = False) -> list[Pair] | Iterator[Pair]:
    """Pairs from a JSONL or CSV file (fields: question, sql; optional id, db, difficulty, tags,
    allow_empty). Ids default to a hash of question and SQL. `streaming=True`: an iterator that
    reads as it goes (errors surface when the bad line is reached)."""
    file = Path(path)
    if not file.is_file():
        raise InputError("no such file", source=str(file))
    pairs = _iter_pairs(file)
    return pairs if streaming else list(pairs)


def pairs_dataset(path: str | os.PathLike, *, streaming: bool = True):
    """The checked pairs as a `datasets` IterableDataset (streaming) or Dataset, tags as lists."""
    import datasets

    def rows() -> Iterator[dict]:
        for pair in load_pairs(path, streaming=True):
            yield {**asdict(pair), "tags": list(pair.tags)}

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "question": datasets.Value("string"),
            "sql": datasets.Value("string"),
            "db": datasets.Value("string"),
            "difficulty": datasets.Value("string"),
            "tags": datasets.Sequence(datasets.Value("string")),
            "allow_empty": datasets.Value("bool"),
        }
    )
    if streaming:
        return datasets.IterableDataset.from_generator(rows, features=features)
    return datasets.Dataset.from_list(list(rows()), features=features)


def write_pairs(path: str | os.PathLike, pairs: Iterable[Pair]) -> Path:
    """Write pairs as JSONL atomically (temp file in the same folder, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for pair in pairs:
                handle.write(json.dumps(pair.to_dict(), ensure_ascii=False) + "\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def content_hash(pairs: Iterable[Pair]) -> str:
    """sha256 over the canonical JSON of the pairs, sorted by id: independent of file order."""
    digest = hashlib.sha256()
    for pair in sorted(pairs, key=lambda p: p.id):
        digest.update(json.dumps(pair.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


# -- validation ------------------------------------------------------------------------------------
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


def normalize_question(text: str) -> str:
    """Lower-case, whitespace collapsed, trailing punctuation dropped: how duplicates are spotted."""
    return re.sub(r"\s+", " ", text).strip().lower().rstrip("?.! ")


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


# -- splitting -------------------------------------------------------------------------------------
@dataclass
class Split:
    """A train/test split; `strata` maps each stratum to (train count, test count)."""

    train: list[Pair]
    test: list[Pair]
    test_fraction: float
    seed: int
    stratify: tuple[str, ...]
    strata: dict[str, tuple[int, int]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "train": {"count": len(self.train), "content_hash": content_hash(self.train)},
            "test": {"count": len(self.test), "content_hash": content_hash(self.test)},
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "stratify": list(self.stratify),
            "strata": {k: {"train": v[0], "test": v[1]} for k, v in sorted(self.strata.items())},
            "hash_note": "sha256 over canonical JSON of the pairs sorted by id (file order does not matter)",
        }


STRATIFY_KEYS = ("difficulty", "tags", "db")


def _stratum(pair: Pair, stratify: Sequence[str]) -> str:
    parts = []
    for key in stratify:
        if key == "tags":
            parts.append("tags=" + ("+".join(sorted(pair.tags)) or "-"))
        else:
            parts.append(f"{key}={getattr(pair, key) or '-'}")
    return ",".join(parts) or "all"


def split_pairs(
    pairs: Iterable[Pair],
    *,
    test_fraction: float = 0.1,
    seed: int = 0,
    stratify: Sequence[str] = ("difficulty",),
) -> Split:
    """Deterministic stratified split. Pairs that share a question stay on one side (no leaks);
    each stratum gives its share of the test set (largest remainder, so the total is
    round(n * test_fraction)). The result does not depend on the input order."""
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"test fraction must be in [0, 1), got {test_fraction}")
    unknown = [k for k in stratify if k not in STRATIFY_KEYS]
    if unknown:
        raise InputError(f"cannot stratify by {', '.join(unknown)} (choose from {', '.join(STRATIFY_KEYS)})")
    items = sorted(pairs, key=lambda p: p.id)
    groups: dict[str, list[Pair]] = defaultdict(list)
    for pair in items:
        groups[normalize_question(pair.question)].append(pair)
    strata: dict[str, list[list[Pair]]] = defaultdict(list)
    for members in groups.values():
        strata[_stratum(members[0], stratify)].append(members)
    rng = random.Random(seed)
    for name in sorted(strata):
        rng.shuffle(strata[name])
    # Test quota per stratum, in groups, by largest remainder over the exact shares.
    total_groups = sum(len(g) for g in strata.values())
    target = round(total_groups * test_fraction)
    exact = {name: len(g) * test_fraction for name, g in strata.items()}
    quota = {name: int(share) for name, share in exact.items()}
    for name in sorted(exact, key=lambda n: (-(exact[n] - quota[n]), n))[: target - sum(quota.values())]:
        quota[name] += 1
    train: list[Pair] = []
    test: list[Pair] = []
    counts: dict[str, tuple[int, int]] = {}
    for name in sorted(strata):
        chosen, rest = strata[name][: quota[name]], strata[name][quota[name]:]
        test_pairs = [p for g in chosen for p in g]
        train_pairs = [p for g in rest for p in g]
        test.extend(test_pairs)
        train.extend(train_pairs)
        counts[name] = (len(train_pairs), len(test_pairs))
    train.sort(key=lambda p: p.id)
    test.sort(key=lambda p: p.id)
    return Split(train, test, test_fraction, seed, tuple(stratify), counts)


def write_split(split: Split, out_dir: str | os.PathLike) -> Path:
    """train.jsonl, test.jsonl and split.json, all written into a temporary folder first and then
    moved into `out_dir` (split.json last), so a failure leaves no half-written split."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_pairs(staging / "train.jsonl", split.train)
        write_pairs(staging / "test.jsonl", split.test)
        (staging / "split.json").write_text(json.dumps(split.summary(), indent=2) + "\n", encoding="utf-8")
        if not out.exists():
            os.replace(staging, out)
            return out
        if not out.is_dir():
            raise InputError("exists and is not a folder", source=str(out))
        for name in ("train.jsonl", "test.jsonl", "split.json"):
            os.replace(staging / name, out / name)
        return out
    finally:
        if staging.exists():
            for leftover in staging.iterdir():
                leftover.unlink()
            staging.rmdir()
