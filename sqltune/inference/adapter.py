"""The adapter folder: peft's own files plus `sqltune_adapter.json`, the prompt settings it was trained with.

Evaluation, merging and serving read the prompt settings from here, so a model is always asked
questions the way it was trained to answer them.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqltune.core.paths import atomic_write_text
from sqltune.prompts import PromptConfig

ADAPTER_META = "sqltune_adapter.json"


def write_meta(folder: str | Path, meta: dict) -> None:
    atomic_write_text(Path(folder) / ADAPTER_META, json.dumps(meta, indent=2, default=str))


def read_meta(folder: str | Path) -> dict | None:
    path = Path(folder) / ADAPTER_META
    return json.loads(path.read_text()) if path.exists() else None


def read_prompt_config(folder: str | Path) -> PromptConfig | None:
    meta = read_meta(folder)
    if not meta or "prompt" not in meta:
        return None
    from sqltune.core.config import from_dict

    return from_dict(PromptConfig, meta["prompt"], str(Path(folder) / ADAPTER_META))


def read_example_index(folder: str | Path):
    """The pairs `folder`'s prompts retrieve examples from (an `ExampleIndex`, checked against the
    hash recorded at training), or None when its prompts show no examples."""
    meta = read_meta(folder)
    if not meta or not meta.get("examples"):
        return None
    from sqltune.retrieval import ExampleIndex

    return ExampleIndex.load(folder, meta["examples"])
