"""An evaluation's headline figures into the MLflow run the adapter was trained in, so one run
holds the losses and the execution accuracy they bought.

The run is found in the folder a form answers from (`sqltune_adapter.json`'s `tracking`, written by
`sqltune train --report-to mlflow` and carried into a merged checkpoint), or given (`mlflow_run_id`).
Forms are typed `Any`: this module is imported by harness.py, which defines `ModelForm`."""

from __future__ import annotations

from typing import Any

from sqltune.core.errors import ConfigError
from sqltune.core.tracking import MlflowRun, log_mlflow, require_tracker

# the headline figures (scoring.HEADLINE_METRICS) and the count they are over
FIGURES = ("execution_accuracy", "executable_rate", "exact_match_spider", "exact_match_normalized", "raw_match", "n")


def tracking_runs(forms: list[Any], config: Any) -> dict[str, MlflowRun]:
    """The MLflow run each form's figures go to, by label (empty unless `config.report_to` is mlflow).
    Fails, naming the form, when a run is asked for and none is recorded."""
    if config.report_to != "mlflow":
        return {}
    require_tracker("mlflow")
    from sqltune.inference.adapter import read_meta

    runs = {}
    for form in forms:
        if config.mlflow_run_id:
            runs[form.label] = MlflowRun(config.mlflow_run_id, None)
            continue
        folder = form.adapter or form.merged or form.prompt_source
        run = MlflowRun.from_dict((read_meta(folder) or {}).get("tracking")) if folder else None
        if run is None:
            where = f"{folder} records no MLflow run (trained without --report-to mlflow)" if folder else "it has no adapter"
            raise ConfigError(f"--report-to mlflow: no run to log {form.label}'s figures into: {where}; pass --mlflow-run-id")
        runs[form.label] = run
    return runs


def log_reports(forms: list[Any], reports: list[Any], runs: dict[str, MlflowRun]) -> None:
    """Each report's headline figures as `eval/<label>/<figure>` in its form's run."""
    for form, report in zip(forms, reports):
        run = runs.get(form.label)
        if run is None:
            continue
        log_mlflow(run, {f"eval/{report.label}/{name}": getattr(report, name) for name in FIGURES})
