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


_TEXT_TYPE = re.compile(r"char|text|string|clob|enum|uuid|^\s*name\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class SampleOptions:
    """How readers pick sample values. `count=0` turns sampling (and value lists) off.

    count, max_chars: samples per column (shown in prompts) and their longest allowed text.
    max_values, max_value_chars: a text column with at most `max_values` distinct values in the
    scanned rows keeps all of them in `Column.values` (matched against questions, never shown).
    scan_rows: rows read per table (a prefix in storage order, so results are stable).
    """

    count: int = 3
    max_chars: int = 30
    max_values: int = 50
    max_value_chars: int = 60
    scan_rows: int = 10_000

    @property
    def fetch(self) -> int:
        """Values to fetch per column: enough for the value list, or samples plus spares."""
        return max(self.count * 4, self.max_values + 1)

    @property
    def longest(self) -> int:
        return max(self.max_chars, self.max_value_chars)


def is_text_type(type_name: str) -> bool:
    """Whether a column holds text (only text columns get value lists and prompt samples)."""
    return bool(_TEXT_TYPE.search(type_name or ""))


def sampleable(type_name: str) -> bool:
    """Whether values of a column of this SQL type may be shown as samples."""
    return not _UNSAMPLEABLE.search(type_name or "")


def clean_samples(values, options: SampleOptions) -> tuple[str, ...]:
    """Distinct short one-line string forms of `values`, in the given order, at most `count`."""
    return _clean(values, options.count, options.max_chars)


def value_list(values, type_name: str, options: SampleOptions) -> tuple[str, ...]:
    """All `values` (fetched most frequent first) when a text column has few distinct ones, else ()."""
    values = list(values)
    if not is_text_type(type_name) or len(values) > options.max_values:
        return ()
    return _clean(values, options.max_values, options.max_value_chars)


def _clean(values, count: int, max_chars: int) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        if value is None or isinstance(value, (bytes, bytearray, memoryview)):
            continue
        text = str(value).strip()
        if not text or len(text) > max_chars or _CONTROL.search(text) or text in out:
            continue
        out.append(text)
        if len(out) == count:
            break
    return tuple(out)
