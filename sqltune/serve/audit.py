"""Append-only JSONL audit log: one line per request, safe to share between threads."""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


AUDITED_PATHS = ("/v1/sql", "/v1/chat/completions")  # the routes that answer questions: one audit line per request


class AuditLog:
    """Each `write` appends one complete JSON line (O_APPEND, one write call, under a lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Opened once; O_APPEND keeps lines whole even with other processes appending too.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, entry: dict[str, Any]) -> None:
        record = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **entry}
        line = (json.dumps(record, default=str, ensure_ascii=False) + "\n").encode("utf-8", "replace")
        with self._lock:
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class NullAuditLog:
    """Used when no audit file is configured."""

    def write(self, entry: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass
