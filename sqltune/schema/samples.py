"""Sample values: a few short, frequent, distinct values per column, shared by every reader.

Samples go into prompts (e.g. `-- e.g. 'Boston', 'Denver'`), so they must be deterministic: the
same warehouse gives the same prompt at training, evaluation and serving time. Readers therefore
scan a bounded prefix of each table (storage order), rank values by frequency, break ties by value,
and drop anything long, multi-line or binary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Types whose values are never useful as prompt samples (binary, nested, documents, geometry).
_UNSAMPLEABLE = re.compile(
    r"blob|bytea|binary|bytes|\bbit\b|bitstring|json|xml|struct|map\(|union\(|\[\]|^array|\barray\b|geometry|geography"
    r"|interval|\bimage\b|\braw\b",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SampleOptions:
    """How readers pick sample values. `count=0` turns sampling off."""

    count: int = 3
    max_chars: int = 30
    scan_rows: int = 10_000

    @property
    def fetch(self) -> int:
        """Rows to fetch per column: a few spare for values that the filter drops."""
        return self.count * 4


def sampleable(type_name: str) -> bool:
    """Whether values of a column of this SQL type may be shown as samples."""
    return not _UNSAMPLEABLE.search(type_name or "")


def clean_samples(values, options: SampleOptions) -> tuple[str, ...]:
    """Distinct short one-line string forms of `values`, in the given order, at most `count`."""
    out: list[str] = []
    for value in values:
        if value is None or isinstance(value, (bytes, bytearray, memoryview)):
            continue
        text = str(value).strip()
        if not text or len(text) > options.max_chars or _CONTROL.search(text) or text in out:
            continue
        out.append(text)
        if len(out) == options.count:
            break
    return tuple(out)


def sample_sql(table_sql: str, column_sql: str, options: SampleOptions) -> str:
    """Plain SQL for the most frequent values of one column within the scanned prefix."""
    return (
        f"SELECT v FROM (SELECT {column_sql} AS v FROM {table_sql} LIMIT {options.scan_rows}) AS s "
        f"WHERE v IS NOT NULL GROUP BY v ORDER BY COUNT(*) DESC, v LIMIT {options.fetch}"
    )
