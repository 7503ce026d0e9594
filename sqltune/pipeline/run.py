"""The main job, end to end on one warehouse: fixture -> train -> evaluate -> merge -> report.

A recipe (YAML, see sqltune/recipes/) names every setting; the steps call the stage functions in
the one-way order and leave everything in one run folder: adapter/, merged/, report/.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqltune.core.config import setting
from sqltune.core.errors import ConfigError
from sqltune.evaluation.harness import EvalConfig, ModelForm, evaluate_forms
from sqltune.training.train import TrainConfig

log = logging.getLogger(__name__)

RECIPES = Path(__file__).parent / "recipes"


@dataclass
class PipelineConfig:
    """The main job's recipe: one warehouse, one training run, its evaluation and merge."""

    out_dir: str = setting("runs/harbor", flag="--out", help="Run folder (adapter/, merged/, report/).")
    fixture: str | None = setting(None, help="A fixture warehouse to build and use with its corpus (e.g. harbor); train/eval data and db left empty come from it.")
    train: TrainConfig = setting(default_factory=TrainConfig, help="The training run.")
    eval: EvalConfig = setting(default_factory=EvalConfig, help="The evaluation of every model form.")
    lora_baseline: bool = setting(False, help="Also train a 16-bit LoRA on the same data and steps, and evaluate it.")
    merge: bool = setting(True, help="Merge the adapter into a 16-bit checkpoint and evaluate it too.")
    merge_dtype: str = setting("bf16", choices=("bf16", "fp16"), help="dtype of the merged checkpoint.")


@dataclass
class PipelineResult:
    out_dir: Path
    adapter_dir: Path
    merged_dir: Path | None
    reports: list[Any]
    report_paths: Any
    train_record: dict
    merge_result: Any
    wall_s: float


Event = Callable[[str, dict], None]


def recipe_path(name: str) -> Path:
    """A recipe file: a path, or the name of one shipped in sqltune/recipes/."""
    path = Path(name)
    if path.exists():
        return path
    shipped = RECIPES / (name if name.endswith(".yaml") else f"{name}.yaml")
    if shipped.exists():
        return shipped
    known = ", ".join(p.stem for p in sorted(RECIPES.glob("*.yaml")))
    raise ConfigError(f"recipe not found: {name} (shipped recipes: {known})")


def run_pipeline(config: PipelineConfig, *, on_event: Event | None = None, resume: bool = False) -> PipelineResult:
    emit = on_event or (lambda stage, info: None)
    started = time.time()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    _attach_fixture(config, emit)
    from sqltune.prompts import prompt_for_warehouse

    config.train.prompt = prompt_for_warehouse(config.train.prompt, config.train.db)
    if not _from_fixture_corpus(config.train.train_file, config):
        from sqltune.data.validate import validated_pairs_file

        emit("validate", {"data": config.train.train_file})
        config.train.train_file = validated_pairs_file(
            config.train.train_file, config.train.db, out, allow_invalid=config.train.allow_invalid,
        )

    from sqltune.inference.models import import_default, resolve_base

    if config.train.base in ("default", None):
        emit("model", {"path": str(import_default())})
    resolve_base(config.train.base)

    adapter_dir = out / "adapter"
    config.train.output_dir = str(adapter_dir)
    emit("train", {"method": config.train.method, "output_dir": str(adapter_dir)})
    trained = _train_or_reuse(config.train, resume, lambda e: emit("train-progress", e))
    emit("trained", trained)

    forms = [
        ModelForm("prompt-only", base=config.train.base, prompt_source=str(adapter_dir)),
        ModelForm("qlora-adapter", base=config.train.base, adapter=str(adapter_dir), quantized=True),
    ]
    if config.lora_baseline:
        import dataclasses

        lora_cfg = dataclasses.replace(config.train, method="lora", output_dir=str(out / "lora-adapter"))
        emit("train", {"method": "lora", "output_dir": lora_cfg.output_dir})
        _train_or_reuse(lora_cfg, resume, lambda e: emit("train-progress", e))
        forms.append(ModelForm("bf16-lora-adapter", base=config.train.base, adapter=lora_cfg.output_dir))

    merged_dir, merge_result = None, None
    if config.merge:
        from sqltune.merge import merge_adapter

        merged_dir = out / "merged"
        emit("merge", {"out_dir": str(merged_dir)})
        if not (merged_dir / "config.json").exists():
            merge_result = merge_adapter(adapter_dir, merged_dir, dtype=config.merge_dtype, schema=config.train.db)
        forms.append(ModelForm("merged", merged=str(merged_dir)))

    emit("evaluate", {"forms": [f.label for f in forms], "data": config.eval.data})
    reports, paths = evaluate_forms(
        forms, config.eval, out_dir=out / "report", progress=lambda label, done, total: emit("eval-progress", {"label": label, "done": done, "total": total})
    )
    return PipelineResult(out, adapter_dir, merged_dir, reports, paths, trained, merge_result, time.time() - started)


def _attach_fixture(config: PipelineConfig, emit: Event) -> None:
    """The recipe's fixture warehouse and its question corpus (built once, cached under
    $SQLTUNE_HOME, so the job runs from any directory) fill the warehouse and pair files it leaves empty."""
    if config.fixture:
        from sqltune.fixtures import ensure_corpus, ensure_fixture

        db = str(ensure_fixture(config.fixture))
        needs_corpus = not config.train.train_file or not config.eval.data
        corpus = ensure_corpus(config.fixture) if needs_corpus else None
        emit("fixture", {"kind": config.fixture, "db": db, **({"corpus": str(corpus)} if corpus else {})})
        config.train.db = config.train.db or db
        if corpus is not None:
            config.train.train_file = config.train.train_file or str(corpus / "train.jsonl")
            config.eval.data = config.eval.data or str(corpus / "test.jsonl")
    config.eval.db = config.eval.db or config.train.db
    if not config.train.db or not config.train.train_file or not config.eval.data:
        raise ConfigError("the recipe names no warehouse or no pairs: set fixture, or train.db, train.train_file and eval.data")


def _from_fixture_corpus(path: str | None, config: PipelineConfig) -> bool:
    """The fixture's own corpus is generated and checked against its warehouse when built."""
    if not config.fixture or not path:
        return False
    from sqltune.core.paths import home

    try:
        Path(path).resolve().relative_to(home().resolve())
    except ValueError:
        return False
    return True


def _train_or_reuse(config: TrainConfig, resume: bool, progress: Callable[[dict], None]) -> dict:
    """Train, or with `resume` reuse a finished adapter / continue an interrupted run."""
    import json

    from sqltune.training.train import train

    record_file = Path(config.output_dir) / "run.json"
    if resume and record_file.exists():
        return json.loads(record_file.read_text())
    return train(config, resume=resume, progress=progress).record
