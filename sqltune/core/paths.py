"""Where sqltune keeps its caches: the imported default model, built fixtures, the registry."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def home() -> Path:
    """`$SQLTUNE_HOME`, else `~/.cache/sqltune`. Created on first use."""
    root = Path(os.environ.get("SQLTUNE_HOME") or Path.home() / ".cache" / "sqltune")
    root.mkdir(parents=True, exist_ok=True)
    return root


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write beside `path`, then rename over it: readers see the old file or the new, never half.
    A plain open, so the file mode follows the umask."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
