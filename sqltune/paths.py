"""Where sqltune keeps its caches: the imported default model, built fixtures, the registry."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """`$SQLTUNE_HOME`, else `~/.cache/sqltune`. Created on first use."""
    root = Path(os.environ.get("SQLTUNE_HOME") or Path.home() / ".cache" / "sqltune")
    root.mkdir(parents=True, exist_ok=True)
    return root
