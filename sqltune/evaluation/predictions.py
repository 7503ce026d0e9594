"""Prediction files: a model's answers written by another tool, read by their content.

`load_predictions` reads JSON lines, a JSON array, BIRD's JSON object of id -> SQL, CSV or TSV with
an SQL column, or one SQL query per line (see `PREDICTION_FORMATS`); `sqltune.evaluation.scoring`
scores what it returns.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqltune.core.errors import InputError


@dataclass
class Prediction:
    """One model answer for one question; `id` empty when predictions are matched by order."""

    id: str
    sql: str
    raw_output: str | None = None
    latency_s: float | None = None


PREDICTION_FORMATS = (
    "JSON lines (one object per line with `sql` or `pred`, and `id`), a JSON array (of such objects "
    "or of SQL strings), a JSON object of id -> SQL (BIRD), CSV or TSV with a `sql` or `pred` column "
    "(alone or with `id`), or one SQL query per line in gold order"
)
_SQL_FIELDS = ("sql", "pred", "predicted_sql", "query", "SQL")
_BIRD_SEPARATOR = "\t----- bird -----\t"


def load_predictions(path: str | Path) -> list[Prediction]:
    """Predictions from a file whose format is read from its content (see `PREDICTION_FORMATS`);
    a file named .json/.jsonl that is not JSON is an error, not a file of raw SQL lines."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise InputError(f"cannot read predictions ({error.strerror or error})", source=source) from error
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason})", source=source) from error
    head = text.lstrip()
    if not head:
        raise InputError(f"the predictions file is empty; expected {PREDICTION_FORMATS}", source=source)
    lines = text.splitlines()
    if head.startswith("["):
        return _json_array_predictions(text, source)
    if head.startswith("{"):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None  # several lines, each an object: JSON lines
        record_keys = (*_SQL_FIELDS, "id", "question_id")
        if isinstance(whole, dict) and not any(k in whole for k in record_keys) and all(isinstance(v, str) for v in whole.values()):
            return _mapping_predictions(whole, source)
        return list(_jsonl_predictions(lines, source))
    if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        raise InputError(f"named like JSON but line 1 is not a JSON object or array; expected {PREDICTION_FORMATS}",
                         source=source, line=1)
    delimiter = "\t" if "\t" in lines[0] and (path.suffix.lower() == ".tsv" or "," not in lines[0]) else ","
    header = [c.strip().lower() for c in next(csv.reader([lines[0]], delimiter=delimiter), [])]
    sql_fields = {f.lower() for f in _SQL_FIELDS}
    # a header naming an SQL field, even alone (a one-column CSV): no query is the bare word `sql`
    if (len(header) > 1 and sql_fields & set(header)) or (len(header) == 1 and header[0] in sql_fields):
        return _csv_predictions(text, source, delimiter)
    return [Prediction(id="", sql=line.split("\t")[0].strip()) for line in lines]


def _prediction_from_record(record: Any, source: str, line: int) -> Prediction:
    if isinstance(record, str):
        return Prediction(id="", sql=record.split(_BIRD_SEPARATOR)[0])
    if not isinstance(record, dict):
        raise InputError(f"each prediction must be a JSON object or an SQL string, got {type(record).__name__}",
                         source=source, line=line)
    key = next((k for k in _SQL_FIELDS if k in record), None)
    if key is None:
        raise InputError("no 'sql' (or 'pred') field", source=source, line=line)
    sql = record[key]
    if sql is None:
        sql = ""
    if not isinstance(sql, str):
        raise InputError(f"'{key}' must be a string, got {type(sql).__name__}", source=source, line=line)
    latency = record.get("latency_s")
    ident = record.get("id", record.get("question_id"))
    return Prediction(
        id="" if ident is None else str(ident),
        sql=sql,
        raw_output=record.get("raw_output"),
        latency_s=float(latency) if isinstance(latency, (int, float)) else None,
    )


def _jsonl_predictions(lines: Iterable[str], source: str) -> Iterable[Prediction]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"not valid JSON ({error.msg}); expected {PREDICTION_FORMATS}", source=source, line=number) from None
        if not isinstance(record, dict):
            raise InputError("each line must be a JSON object", source=source, line=number)
        yield _prediction_from_record(record, source, number)


def _json_array_predictions(text: str, source: str) -> list[Prediction]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"not valid JSON ({error.msg})", source=source, line=error.lineno) from None
    if not isinstance(items, list):
        raise InputError(f"expected {PREDICTION_FORMATS}", source=source)
    return [_prediction_from_record(item, source, index) for index, item in enumerate(items, 1)]


def _mapping_predictions(mapping: dict[str, str], source: str) -> list[Prediction]:
    """BIRD's predict file: {"0": "SQL\t----- bird -----\tdb_id", ...}; numeric keys are positions."""
    if all(k.isdigit() for k in mapping):
        ordered = sorted(mapping.items(), key=lambda item: int(item[0]))
        return [Prediction(id="", sql=sql.split(_BIRD_SEPARATOR)[0]) for _, sql in ordered]
    return [Prediction(id=k, sql=sql.split(_BIRD_SEPARATOR)[0]) for k, sql in mapping.items()]


def _csv_predictions(text: str, source: str, delimiter: str = ",") -> list[Prediction]:
    """CSV/TSV read by its header; a row with more fields than the header is an error (an SQL query
    with an unquoted comma), not a query cut at the comma."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    separator = "a tab" if delimiter == "\t" else "a comma"
    try:
        names = [str(name).strip().lower() for name in next(reader)]
        predictions = []
        start = reader.line_num + 1
        for row in reader:
            if row:  # blank lines are skipped; an empty prediction is written as ""
                if len(row) > len(names):
                    raise InputError(f"{len(row)} fields where the header names {len(names)}: quote SQL that holds "
                                     f"{separator}", source=source, line=start)
                predictions.append(_prediction_from_record(dict(zip(names, row)), source, start))
            start = reader.line_num + 1
    except csv.Error as error:
        raise InputError(f"malformed CSV: {error}", source=source, line=reader.line_num) from None
    return predictions


__all__ = ["PREDICTION_FORMATS", "Prediction", "load_predictions"]
