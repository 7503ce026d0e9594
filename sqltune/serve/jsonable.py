"""Query results as JSON: DuckDB and PostgreSQL hand back Decimals, dates, bytes, NaN, nested lists."""

from __future__ import annotations

import base64
import datetime as dt
import math
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    """A JSON-safe form of one cell: numbers stay numbers, NaN/inf and binary become strings."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return jsonable(float(value)) if value.is_finite() else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "base64:" + base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)  # timedelta, UUID, intervals, anything else


def jsonable_rows(rows: list[tuple]) -> list[list[Any]]:
    return [[jsonable(v) for v in row] for row in rows]
