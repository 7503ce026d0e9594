"""Load the real model and run the server: what `sqltune serve` calls."""

from __future__ import annotations

import logging
from pathlib import Path

from sqltune.core.errors import ConfigError, InputError
from sqltune.serve.app import ServeSettings, SqlGenerator, serve

log = logging.getLogger(__name__)


def parse_adapter_specs(specs: list[str]) -> dict[str, str]:
    """`["harbor=runs/a/adapter", ...]` -> `{"harbor": "runs/a/adapter"}`, checked."""
    adapters: dict[str, str] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        name, folder = name.strip(), folder.strip()
        if not sep or not name or not folder:
            raise InputError(f"--adapter expects NAME=DIR, got {spec!r}")
        if name in adapters:
            raise InputError(f"adapter name {name!r} given twice")
        if not Path(folder).is_dir():
            raise InputError(f"adapter folder for {name!r} not found: {folder}")
        adapters[name] = folder
    return adapters


def load_generator(base: str | None, adapters: dict[str, str], merged: str | None, *, db: str,
                   allow_dialect_mismatch: bool = False, decode: object = None) -> SqlGenerator:
    """The real model behind the server (imported lazily: torch and transformers are heavy)."""
    if merged and adapters:
        raise ConfigError("give either --merged or --adapter, not both: a merged model already contains its adapter")
    try:
        from sqltune.inference.generate import load_generator as load
    except ImportError as exc:
        raise ConfigError(f"model serving is not available: {exc}") from None
    return load(base, adapters, merged, db=db, allow_dialect_mismatch=allow_dialect_mismatch, decode=decode)


def launch(
    settings: ServeSettings,
    *,
    base: str | None = None,
    adapters: dict[str, str] | None = None,
    merged: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Load the model (base + named adapters, or a merged checkpoint) and serve it until interrupted."""
    if not settings.db:
        raise ConfigError("serve needs a warehouse (--db) for the schema in the prompt")
    settings.validate()  # fail on bad limits before spending time on the model
    adapters = adapters or {}
    generator = load_generator(base, adapters, merged, db=settings.db, allow_dialect_mismatch=settings.allow_dialect_mismatch,
                               decode=settings.decode)
    if settings.default_adapter is None and generator.adapters:
        settings.default_adapter = generator.adapters[0]
    log.info("serving %s on http://%s:%d", merged or base or "default base", host, port)
    serve(settings, generator, host=host, port=port)
