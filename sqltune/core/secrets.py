"""Passwords out of everything shown or stored: URLs (`scheme://user:pw@host`) and `password=...`."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# scheme://user:password@host  ->  scheme://user:***@host (any scheme, in any text)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<password>[^\s@/'\"]+)(?P<at>@)")
# key=value passwords in DSNs and driver messages: password=secret, PGPASSWORD=secret
_KV_PASSWORD = re.compile(r"(?P<head>\b(?:password|passwd|pwd|pgpassword)=['\"]?)(?P<password>[^\s'\",;&]+)", re.I)


def mask_secrets(text: str) -> str:
    """`text` with every password in a URL (`scheme://user:pw@`) or `password=...` replaced by ***."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", text)
    return _KV_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


def mask_url(url: str) -> str:
    """A URL fit to show or store: its password replaced by ***."""
    return mask_secrets(str(url))


def mask_in(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings) with every string masked."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: mask_in(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_in(v) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_in(v) for v in value)
    return value


