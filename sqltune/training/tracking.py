"""A training run's experiment tracking: transformers' integration (`report_to`) logs the losses as
they come; this keeps the MLflow run it opened, so the adapter folder and the run record can say
where it is (an evaluation logs into it later) and the run record's final figures join it."""

from __future__ import annotations

from typing import Any

from sqltune.core.tracking import MlflowRun, active_mlflow_run, log_mlflow

# the run record's figures that go into the MLflow run at the end of training
FINAL_FIGURES = ("steps", "wall_s", "tokens_per_s", "final_train_loss", "eval_loss", "trainable_params", "adapter_bytes",
                 "peak_rss_bytes")


class MlflowRunKeeper:
    """Remembers the MLflow run transformers' callback opens (it closes it when training ends)."""

    def __init__(self, report_to: str) -> None:
        self.enabled = report_to == "mlflow"
        self.run: MlflowRun | None = None

    def callback(self) -> Any:
        from transformers import TrainerCallback

        keeper = self

        class KeepRun(TrainerCallback):
            # after transformers' MLflowCallback, which opens the run in its own on_train_begin
            def on_train_begin(self, args, state, control, **kwargs):
                if keeper.enabled and state.is_world_process_zero and keeper.run is None:
                    keeper.run = active_mlflow_run()

            def on_log(self, args, state, control, **kwargs):  # a run opened lazily, on the first log
                self.on_train_begin(args, state, control)

        return KeepRun()

    def finish(self, record: dict, run_id: str, adapter_dir: str) -> None:
        """The run record's final figures and sqltune's run id into the MLflow run."""
        if self.run is None:
            return
        figures = {f"sqltune.{name}": record.get(name) for name in FINAL_FIGURES}
        log_mlflow(self.run, {k: v for k, v in figures.items() if isinstance(v, (int, float))},
                   tags={"sqltune.run_id": run_id, "sqltune.adapter_dir": adapter_dir})
