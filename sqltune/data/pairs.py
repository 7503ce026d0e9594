"""Question/SQL pairs: load (JSONL, a JSON array or CSV), validate against a warehouse, split, hash, write.

Loading reads the file one record at a time, so a large file streams in constant memory
(`streaming=True` returns the iterator), and checks every record as it goes: a malformed line is
an `InputError` naming the file and the line number. `pairs_dataset` hands the same checked
records to the `datasets` library for the training stage. (`datasets`' own JSON reader is not
used on the raw file: it fails on blank lines and on ids that are numbers in one line and strings
in another, with a pandas error that names no line.)

The format comes from the content, never the extension: a file that starts with '[' is a JSON
array of objects (Spider's and BIRD's files), one that starts with '{' is JSON lines, anything
else must be CSV (or TSV) with a header naming the question and SQL columns. Benchmark spellings
are read too: `query` (Spider) or `SQL` (BIRD) for `sql`, `db_id` for `db`, `question_id` for `id`;
a row with several acceptable gold queries gives them as a list in `sql`/`gold_sql` or in `alt_sql`.

Content hashes are order-independent: the pairs are sorted by id before hashing, so re-ordering
a file keeps its hash and changing any field of any pair changes it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from sqltune.core.errors import InputError

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total)
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
    alt_sql: tuple[str, ...] = ()  # further acceptable gold queries: a prediction matching any is correct

    @property
    def golds(self) -> tuple[str, ...]:
        """Every acceptable gold query, the main one first."""
        return (self.sql, *self.alt_sql)

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record: defaults left out, key order fixed (that of the shipped eval/ files)."""
        record: dict[str, Any] = {"id": self.id, "question": self.question, "sql": self.sql}
        if self.difficulty is not None:
            record["difficulty"] = self.difficulty
        if self.tags:
            record["tags"] = list(self.tags)
        if self.db is not None:
            record["db"] = self.db
        if self.allow_empty:
            record["allow_empty"] = True
        if self.alt_sql:
            record["alt_sql"] = list(self.alt_sql)
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


SQL_KEYS = ("sql", "gold_sql", "query", "SQL")  # ours, then Spider's (query) and BIRD's (SQL)
_ID_KEYS = ("id", "question_id")
_DB_KEYS = ("db", "db_id")


def _first_key(record: dict, keys: tuple[str, ...]) -> str:
    return next((k for k in keys if record.get(k) not in (None, "")), keys[0])


def _sql_list(value: Any, key: str, source: str, line: int) -> list[str]:
    """A gold field as a list of queries: a string, a list of strings, or (a CSV cell) a JSON list."""
    if isinstance(value, str) and value.lstrip().startswith("[") and value.rstrip().endswith("]"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass  # an SQL text that happens to start with '[' (a quoted identifier)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise InputError(f"{key!r} must be a string or a list of strings, got {type(value).__name__}", source=source, line=line)


def _pair_from_record(record: Any, source: str, line: int) -> tuple[Pair, bool]:
    """The checked pair and whether its id was given in the file."""
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object, got {type(record).__name__}", source=source, line=line)
    question = _field_str(record, "question", source, line, required=True)
    # Spider's files hold the parsed query, a dict, under "sql" and the text under "query".
    texts = {k: v for k, v in record.items() if k in SQL_KEYS and not isinstance(v, dict)}
    sql_key = _first_key(texts, SQL_KEYS) if texts else _first_key(record, SQL_KEYS)
    golds = _sql_list(record.get(sql_key), sql_key, source, line)
    if not golds:
        raise InputError(f"missing or empty 'sql' (or {', '.join(repr(k) for k in SQL_KEYS[1:])})", source=source, line=line)
    golds += [g for g in _sql_list(record.get("alt_sql"), "alt_sql", source, line) if g not in golds]
    sql = golds[0]
    given = _field_str(record, _first_key(record, _ID_KEYS), source, line, required=False)
    pair = Pair(
        id=given or pair_id(question, sql),
        question=question,
        sql=sql,
        db=_field_str(record, _first_key(record, _DB_KEYS), source, line, required=False),
        difficulty=_field_str(record, "difficulty", source, line, required=False),
        tags=_tags(record.get("tags"), source, line),
        allow_empty=_flag(record.get("allow_empty"), source, line),
        alt_sql=tuple(golds[1:]),
    )
    return pair, given is not None


def _json_array_records(path: Path) -> Iterator[tuple[int, Any]]:
    """The elements of a JSON array file, each with the line it starts on."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text ({error.reason})", source=source, line=line) from error
    decoder = json.JSONDecoder()
    space = re.compile(r"\s*")

    def line_of(position: int) -> int:
        return text.count("\n", 0, position) + 1

    position = space.match(text, 0).end() + 1  # past the '['
    expect_item = True
    while True:
        position = space.match(text, position).end()
        if position >= len(text):
            raise InputError("malformed JSON array: the file ends before its closing ']'", source=source, line=line_of(position))
        char = text[position]
        if char == "]":
            if text[position + 1:].strip():
                raise InputError("malformed JSON: text after the array's closing ']'", source=source, line=line_of(position + 1))
            return
        if not expect_item:
            if char != ",":
                raise InputError(f"malformed JSON array: expected ',' or ']', got {char!r}", source=source, line=line_of(position))
            position += 1
            expect_item = True
            continue
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise InputError(f"malformed JSON: {error.msg} (column {error.colno})", source=source, line=error.lineno) from error
        yield line_of(position), value
        position, expect_item = end, False


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
    try:
        with path.open(encoding="utf-8-sig", newline="") as peek:
            first = peek.readline()
        delimiter = "\t" if "\t" in first and (path.suffix.lower() == ".tsv" or "," not in first) else ","
        handle = path.open(encoding="utf-8-sig", newline="")
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason})", source=source, line=1) from error
    with handle:
        if header is None:
            return
        names = [h.strip().lower() for h in header]
        missing = [c for c in ("question", "sql") if c not in names and not (c == "sql" and {k.lower() for k in SQL_KEYS} & set(names))]
        if missing:
            raise InputError(
                f"CSV header lacks column(s) {', '.join(missing)} (has: {', '.join(names)[:200]}); expected JSON lines "
                "(one object per line), a JSON array of objects, or CSV/TSV with a header naming question and sql",
                source=source, line=1,
            )
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


def sniff_format(path: Path) -> str:
    """"json_array", "jsonl" or "csv", from the file's first non-blank character (not its name)."""
    with path.open("rb") as handle:
        head = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if head.startswith(b"["):
        return "json_array"
    if head.startswith(b"{"):
        return "jsonl"
    return "csv"


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    kind = sniff_format(path)
    if kind == "json_array":
        return _json_array_records(path)
    return _jsonl_records(path) if kind == "jsonl" else _csv_records(path)


def _iter_pairs(path: Path) -> Iterator[Pair]:
    return (pair for _, pair in _numbered(path))


def numbered_pairs(path: str | os.PathLike) -> Iterator[tuple[int, Pair]]:
    """(line the record starts on, pair) for every pair of a file: for errors that must name the row."""
    file = Path(path)
    if not file.is_file():
        raise InputError("no such file", source=str(file))
    return _numbered(file)


def _numbered(path: Path) -> Iterator[tuple[int, Pair]]:
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
        yield line, pair


def load_pairs(path: str | os.PathLike, *, streaming: bool = False) -> list[Pair] | Iterator[Pair]:
    """Pairs from a JSONL, JSON array or CSV file (fields: question, sql; optional id, db, difficulty,
    tags, allow_empty, alt_sql; see the module docstring for benchmark spellings). Ids default to a hash of question and SQL. `streaming=True`: an iterator that
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
            yield {**asdict(pair), "tags": list(pair.tags), "alt_sql": list(pair.alt_sql)}

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "question": datasets.Value("string"),
            "sql": datasets.Value("string"),
            "db": datasets.Value("string"),
            "difficulty": datasets.Value("string"),
            "tags": datasets.Sequence(datasets.Value("string")),
            "allow_empty": datasets.Value("bool"),
            "alt_sql": datasets.Sequence(datasets.Value("string")),
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


def normalize_question(text: str) -> str:
    """Lower-case, whitespace collapsed, trailing punctuation dropped: how duplicates are spotted."""
    return re.sub(r"\s+", " ", text).strip().lower().rstrip("?.! ")


# -- reading every problem at once -----------------------------------------------------------------
def _is_jsonl(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return True
    if suffix in CSV_SUFFIXES:
        return False
    with path.open("rb") as handle:  # .json or unknown: JSON lines start with '{' (a JSON array does not)
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def _tolerant_records(path: Path, errors: list[InputError]) -> Iterator[tuple[int, Any]]:
    """Records of `path`; a malformed JSON line is added to `errors` and reading goes on. Other
    formats stop at their first structural error (a CSV quote left open spans the rest)."""
    source = str(path)
    if not _is_jsonl(path):
        try:
            yield from _records(path)
        except InputError as error:
            errors.append(error)
        return
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                errors.append(InputError(f"not UTF-8 text ({error.reason})", source=source, line=number))
                continue
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as error:
                errors.append(InputError(f"malformed JSON: {error.msg} (column {error.colno})", source=source, line=number))


def scan_pairs(path: str | os.PathLike) -> tuple[list[tuple[int, Pair]], list[InputError]]:
    """Every readable pair of `path` with its line number, and every malformed record (each an
    `InputError` naming file and line), in one pass: what `load_pairs` would stop at, all of it."""
    file = Path(path)
    if not file.is_file():
        raise InputError("no such file", source=str(file))
    source = str(file)
    errors: list[InputError] = []
    pairs: list[tuple[int, Pair]] = []
    first_line: dict[str, int] = {}
    generated: Counter[str] = Counter()
    for line, record in _tolerant_records(file, errors):
        try:
            pair, given = _pair_from_record(record, source, line)
        except InputError as error:
            errors.append(error)
            continue
        if given:
            if pair.id in first_line:
                errors.append(InputError(f"duplicate id {pair.id!r} (first on line {first_line[pair.id]})", source=source, line=line))
                continue
        else:
            generated[pair.id] += 1
            if generated[pair.id] > 1:
                pair = Pair(**{**asdict(pair), "id": f"{pair.id}-{generated[pair.id]}"})
        first_line[pair.id] = line
        pairs.append((line, pair))
    return pairs, errors
