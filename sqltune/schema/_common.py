"""Small helpers shared by the schema readers."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message: driver errors are often multi-line."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
