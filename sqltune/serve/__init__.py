"""HTTP serving: FastAPI app factory, settings, the generator protocol it serves.

The names load on first use, so `sqltune serve --help` (which reads only the settings) imports no FastAPI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "ServeSettings", "SqlGenerator", "create_app", "serve"]

_HOMES = {"ApiError": "sqltune.serve.errors", "ServeSettings": "sqltune.serve.settings",
          "SqlGenerator": "sqltune.serve.settings", "create_app": "sqltune.serve.app", "serve": "sqltune.serve.app"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'sqltune.serve' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)
