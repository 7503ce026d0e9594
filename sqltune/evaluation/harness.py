"""The evaluation harness: which model forms answer which questions under which decoding.

Small-model text-to-SQL scores move by tens of points with the prompt and the scoring rules, so
the harness fixes both and records them with every score (`EvalReport.setup`, `.rules`).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqltune.core.config import setting
from sqltune.core.errors import ConfigError, InputError, MissingOptionError
from sqltune.evaluation.compare import MatchRules
from sqltune.evaluation.tracking import log_reports, tracking_runs
from sqltune.inference.generate import DecodeConfig
from sqltune.schema.roles import ALLOW_PRIVILEGED_ROLE_HELP

log = logging.getLogger(__name__)

SPOT_CHECK_PROMPTS = (
    "What is the capital of France?",
    "Write one sentence about the ocean.",
    "What is 12 times 7?",
    "Explain in one sentence what a primary key is in a database.",
)


@dataclass
class EvalConfig:
    """What a model evaluation asks, of which warehouse, under which limits and match rules."""

    data: str | None = setting(None, help="Question/SQL pairs to evaluate on (JSONL or CSV).")
    db: str | None = setting(None, help="Warehouse the SQL runs on: a DuckDB file or an SQLAlchemy URL.")
    limit: int | None = setting(None, help="Evaluate N questions, evenly spaced through the file (every template and slice).", min=1)
    workers: int = setting(2, flag="--exec-workers", help="SQL queries executed in parallel while the model generates.", min=1)
    timeout_s: float = setting(10.0, flag="--timeout", help="Seconds each query may run.", min=0.1)
    rules: MatchRules = setting(default_factory=MatchRules, help="How result sets are compared.")
    decode: DecodeConfig = setting(default_factory=DecodeConfig, help="How SQL is generated.")
    prompt_only_prefix: str = setting("SELECT", help="Answer prefix for the prompt-only base (an untuned base answers in prose otherwise).")
    same_answer_prefix: bool = setting(True, help="When the prompt-only base is compared, every form (adapter, merged) answers after the same prefix, so the forms differ only in their weights; off: only the base gets it (the adapters answer unprefixed, as served).")
    spot_checks: bool = setting(True, help="Ask each form a few general questions, to see the adapter kept the base's chat ability.")
    register: bool = setting(True, help="Add an eval record per model form to the registry.")
    allow_dialect_mismatch: bool = setting(False, help="Evaluate a model trained for another SQL dialect than the warehouse's.")
    allow_invalid: bool = setting(False, help="Evaluate without the pairs that fail validation (default: refuse, listing every problem by line).")
    allow_privileged_role: bool = setting(False, help=ALLOW_PRIVILEGED_ROLE_HELP)
    compare_decoding: bool = setting(False, help="Also evaluate each form with plain greedy decoding (no schema constraint, one candidate), side by side.")
    report_to: str = setting("none", choices=("none", "mlflow"), help="mlflow: log each form's headline figures (EX, executable rate, exact match) into the MLflow run its adapter was trained in (recorded in the adapter folder by `sqltune train --report-to mlflow`), or --mlflow-run-id.")
    mlflow_run_id: str | None = setting(None, help="With --report-to mlflow: the MLflow run to log into, instead of the one the adapter records (MLFLOW_TRACKING_URI says where it is).")


@dataclass
class ModelForm:
    """One way of answering: the base alone, base + adapter (on the NF4 base it was trained on), or merged."""

    label: str
    base: str = "default"
    adapter: str | None = None
    merged: str | None = None
    quantized: bool = False
    prompt_source: str | None = None  # adapter/merged dir whose prompt settings to use (for prompt-only)
    extra: dict = field(default_factory=dict)


EvalProgress = Callable[[str, int, int | None], None]


def spread_subset(items: list, limit: int | None) -> list:
    """`limit` items evenly spaced through `items` (all of them when limit is None or larger)."""
    if not limit or limit >= len(items):
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def decoding_variants(label: str, decode: DecodeConfig, compare: bool) -> list[tuple[str, DecodeConfig]]:
    """(label, decoding) pairs to evaluate a form with: `decode`, and with `compare` plain greedy first."""
    if not compare:
        return [(label, decode)]
    return [(f"{label} greedy", decode.as_greedy()), (f"{label} guided", decode)]


def is_prompt_only(form: ModelForm) -> bool:
    return not (form.adapter or form.merged)


def answer_prefix(form: ModelForm, compared: list[ModelForm], config: EvalConfig) -> str:
    """The prefilled start of `form`'s answers in a comparison of the forms `compared`: the prompt-only
    base answers after `prompt_only_prefix` (an untuned base answers in prose otherwise); with
    `same_answer_prefix`, so does every other form compared with it, so that a score difference is
    the weights' and not the prefix's (an under-trained adapter that still starts in prose would
    otherwise read as a regression against a base that was handed the SELECT). Without a base in
    the comparison, or with the option off, a trained form answers unprefixed, as it is served."""
    if is_prompt_only(form) or (config.same_answer_prefix and any(is_prompt_only(f) for f in compared)):
        return config.prompt_only_prefix
    return ""


def evaluate_forms(
    forms: list[ModelForm],
    config: EvalConfig,
    *,
    out_dir: str | Path | None = None,
    progress: EvalProgress | None = None,
    learning_curve: list[dict] | None = None,
    evaluated_before: dict[str, Any] | None = None,
    compared_with: list[ModelForm] | None = None,
) -> tuple[list[Any], Any]:
    """Evaluate each form on the same questions and write one report comparing them
    (with the adapter's `learning_curve`, held-out loss against training minutes, when given).
    `evaluated_before` maps a form's label to its report on these same questions under this config
    (the job's timed first batch, when that batch is the whole evaluation): it is not answered again.
    `compared_with`: the whole comparison `forms` belong to, when they are a part of it (a timed
    batch, learning-curve snapshots), so each form answers after the prefix it has in the whole
    (`answer_prefix`; default: `forms` are the comparison)."""
    from sqltune.inference.adapter import read_prompt_config
    from sqltune.data.validate import require_valid_pairs
    from sqltune.evaluation.scoring import evaluate_model
    from sqltune.execution.execute import Warehouse
    from sqltune.inference.generate import load_sql_model
    from sqltune.evaluation.report import write_report
    from sqltune.schema import load_schema
    from sqltune.core.connections import mask_url

    if not config.data or not config.db:
        raise MissingOptionError("evaluation needs --data (the questions with their gold SQL) and --db (the warehouse they run on)")
    if not Path(config.data).exists():
        raise InputError("question file not found", source=config.data)
    db = config.db
    if "{db}" in db or Path(db).is_dir():
        raise ConfigError(f"--db {db}: a model is evaluated on one database; a folder or {{db}} template of several "
                          "is read by `sqltune eval score` (score predictions made per database)")
    # The same checks as `sqltune data validate`: refuse bad gold pairs (all listed by line) unless allow_invalid.
    pairs = require_valid_pairs(
        config.data, db, allow_invalid=config.allow_invalid, workers=config.workers, timeout_s=config.timeout_s,
        subset=lambda items: spread_subset(items, config.limit),
        progress=(lambda done, total: progress("validating", done, total)) if progress else None,
        allow_privileged_role=config.allow_privileged_role,
    )
    runs = tracking_runs(forms, config)  # before any question is answered: a run that cannot be found fails now
    schema = load_schema(db)
    rules = config.rules
    reports, spot_answers, evaluated = [], {}, []
    with Warehouse.open(db, timeout_s=config.timeout_s, max_rows=rules.max_rows,
                        allow_privileged_role=config.allow_privileged_role) as warehouse:
        for form in forms:
            prompt = read_prompt_config(form.prompt_source) if form.prompt_source else None
            prefix = answer_prefix(form, compared_with if compared_with is not None else forms, config)
            # An untuned base rambles on after its query: stop it at a statement end or a blank line.
            stops = (";", "\n\n") if prefix else (";",)
            decode = dataclasses.replace(config.decode, answer_prefix=prefix, stop_strings=stops)
            variants = decoding_variants(form.label, decode, config.compare_decoding)
            if evaluated_before and not config.spot_checks and all(label in evaluated_before for label, _ in variants):
                # every report of this form is already in hand and no spot check asks it: no model to load
                reports.extend(evaluated_before[label] for label, _ in variants)
                evaluated.extend(form for _ in variants)
                continue
            sql_model = load_sql_model(
                form.base, schema=schema, adapters={form.label: form.adapter} if form.adapter else None,
                merged=form.merged, quantized=form.quantized, prompt=prompt, decode=decode, label=form.label,
                warehouse=warehouse,  # execution-guided decoding runs candidates here
                examples_from=form.prompt_source,  # asked as the adapter is: with its retrieved examples
                db=db, allow_dialect_mismatch=config.allow_dialect_mismatch,
            )
            for label, variant in variants:
                sql_model.decode, sql_model.label = variant, label
                if evaluated_before and label in evaluated_before:
                    reports.append(evaluated_before[label])
                    evaluated.append(form)
                    continue
                report = evaluate_model(
                    sql_model, pairs, warehouse, rules=rules, workers=config.workers,
                    progress=(lambda done, total, label=label: progress(label, done, total)) if progress else None,
                )
                report.setup.update({"form": asdict(form), "data": config.data, "n_questions": len(pairs), "db": mask_url(db),
                                     "answer_prefix": prefix})
                reports.append(report)
                evaluated.append(form)
            if config.spot_checks:
                spot_answers[form.label] = sql_model.chat(list(SPOT_CHECK_PROMPTS))
            del sql_model
            gc.collect()
    spot_checks = [
        {"prompt": prompt, "answers": {label: answers[i] for label, answers in spot_answers.items()}}
        for i, prompt in enumerate(SPOT_CHECK_PROMPTS)
    ] if spot_answers else None
    paths = write_report(reports, out_dir, spot_checks=spot_checks, learning_curve=learning_curve) if out_dir is not None else None
    if config.register:
        _register(evaluated, reports, config, paths, pairs)
    if runs:
        log_reports(evaluated, reports, runs)
    return reports, paths


def _register(forms: list[ModelForm], reports: list[Any], config: EvalConfig, paths: Any, pairs: list[Any]) -> None:
    from sqltune.data import content_hash
    from sqltune.core.registry import Registry, RunRecord, new_run_id, now_iso

    registry = Registry()
    for form, report in zip(forms, reports):
        registry.add(RunRecord(
            run_id=new_run_id("eval"), kind="eval", created_at=now_iso(), base_model=form.base,
            adapter_dir=form.adapter, output_dir=str(paths.directory) if paths else None, status="completed",
            config={"form": asdict(form), "eval": asdict(config), "rules": report.rules},
            data_hashes={"questions": content_hash(pairs)},
            metrics={"label": report.label, "n": report.n, "execution_accuracy": report.execution_accuracy,
                     "executable_rate": report.executable_rate, "exact_match_spider": report.exact_match_spider,
                     "exact_match_normalized": report.exact_match_normalized,
                     "raw_match": report.raw_match, "categories": dict(report.categories)},
        ))
