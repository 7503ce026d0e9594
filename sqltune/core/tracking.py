"""Experiment trackers: which ones a run may report to, and the MLflow calls sqltune makes itself.

Training reports its losses through transformers' own integrations (`report_to`); sqltune adds the
run record's final figures to the training's MLflow run, records where that run is in the adapter
folder, and an evaluation logs its headline figures into the same run. MLflow reads its own
environment (`MLFLOW_TRACKING_URI`, `MLFLOW_EXPERIMENT_NAME`); nothing here imports it until used.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqltune.core.errors import ConfigError

TRACKERS = ("none", "mlflow", "tensorboard", "wandb")
# the module each tracker needs, and the package that brings it
_NEEDS = {"mlflow": ("mlflow", "mlflow-skinny"), "tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb")}
_METRIC_NAME = re.compile(r"[^0-9A-Za-z_\-. :/]")


def require_tracker(name: str) -> None:
    """Fail before any work when the tracker's package is not installed."""
    if name not in TRACKERS:
        raise ConfigError(f"report_to must be one of {', '.join(TRACKERS)}, got {name!r}")
    if name == "none":
        return
    module, package = _NEEDS[name]
    if importlib.util.find_spec(module) is None and not (name == "tensorboard" and importlib.util.find_spec("tensorboardX")):
        raise ConfigError(f"--report-to {name} needs the {module} package: pip install {package}")


@dataclass(frozen=True)
class MlflowRun:
    """Where a training's MLflow run is: its id and, when it can be written down, its tracking URI."""

    run_id: str
    tracking_uri: str | None

    def to_dict(self) -> dict:
        return {"report_to": "mlflow", "mlflow_run_id": self.run_id, "mlflow_tracking_uri": self.tracking_uri}

    @classmethod
    def from_dict(cls, data: dict | None) -> "MlflowRun | None":
        if not data or not data.get("mlflow_run_id"):
            return None
        return cls(str(data["mlflow_run_id"]), data.get("mlflow_tracking_uri"))


def active_mlflow_run() -> MlflowRun | None:
    """The MLflow run open in this process (the one transformers' callback started), if any."""
    import mlflow

    run = mlflow.active_run()
    if run is None:
        return None
    return MlflowRun(run.info.run_id, recordable_uri(mlflow.get_tracking_uri()))


def recordable_uri(uri: str | None) -> str | None:
    """The tracking URI, unless it holds a password (then it is not written into an adapter folder,
    and a later evaluation reads MLFLOW_TRACKING_URI instead)."""
    if not uri:
        return None
    try:
        return None if urlsplit(uri).password else uri
    except ValueError:
        return None


def metric_name(*parts: str) -> str:
    """`eval/adapter greedy/execution_accuracy`: MLflow's allowed characters only."""
    return "/".join(_METRIC_NAME.sub("_", part) for part in parts)


def log_mlflow(run: MlflowRun, metrics: dict[str, float], *, tags: dict[str, str] | None = None, step: int = 0) -> None:
    """Log `metrics` (and `tags`) into an existing run, open or finished."""
    import time

    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=run.tracking_uri) if run.tracking_uri else MlflowClient()
    now = int(time.time() * 1000)
    client.log_batch(run.run_id, metrics=[Metric(metric_name(k), float(v), now, step) for k, v in metrics.items() if v is not None],
                     tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()])
