"""A result set as a comparable key: equal keys mean the same rows, whatever the order and the
column names. Execution-guided decoding votes over these keys."""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from typing import Any

from sqltune.execution.execute import ExecutionResult


def _cell(value: Any, digits: int) -> Any:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float, decimal.Decimal)):
        number = float(value)
        if math.isnan(number):
            return (2, "nan")
        return (1, round(number, digits))
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return (3, value.isoformat())
    if isinstance(value, (bytes, bytearray, memoryview)):
        return (4, bytes(value).hex())
    return (5, str(value))


def result_key(result: ExecutionResult, *, digits: int = 6) -> tuple:
    """The rows of `result` as a sorted tuple of normalised cells (numbers rounded to `digits`
    places, so 2 and 2.0 and Decimal('2.000') agree); column names and row order do not count."""
    rows = sorted(tuple(_cell(v, digits) for v in row) for row in result.rows)
    return (len(result.columns), tuple(rows), bool(result.truncated))
