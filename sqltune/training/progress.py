"""Progress of a training run, as the trainer reports it: plain lines a log file can read, the
caller's progress events, and the learning curve (held-out loss against minutes, and with
snapshots the adapter at each of its points). Its own module: train.py wires the steps together."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqltune.training.budget import BudgetPlanner, format_duration, progress_line

log = logging.getLogger("sqltune.training.train")

ProgressFn = Callable[[dict], None]


class ProgressReporter:
    """Plain progress lines (`step 40/280 loss 0.812 elapsed 3m10s left 9m50s`) to the log and the
    caller's progress function, and the learning curve (held-out loss against minutes)."""

    def __init__(self, progress: ProgressFn | None, started: float, planner: BudgetPlanner | None,
                 kill_after_step: int | None = None, snapshot_dir: Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.progress = progress
        self.snapshot_dir = snapshot_dir
        self.started = started
        self.planner = planner
        self.kill_after_step = kill_after_step
        self.clock = clock  # the clock `started` was read on (a fake one in tests)
        self.curve: list[dict] = []
        self._first: tuple[int, float] | None = None

    def elapsed(self) -> float:
        return self.clock() - self.started

    def total(self, state: Any) -> int | None:
        if self.planner is not None and self.planner.plan is None:
            return None  # calibrating: the step count is not known yet
        return state.max_steps

    def left(self, step: int, total: int | None, now: float) -> float | None:
        if self.planner is not None:
            return self.planner.expected_left(step, now)
        if self._first is None or total is None or step <= self._first[0]:
            return None
        first_step, first_at = self._first
        return (now - first_at) / (step - first_step) * max(total - step, 0)

    def held_out(self, step: int, loss: float, model: Any = None) -> None:
        if self.curve and self.curve[-1]["step"] == step:
            return
        point = {"step": step, "minutes": round(self.elapsed() / 60, 3), "eval_loss": loss}
        if self.snapshot_dir is not None and model is not None:
            # the adapter as it is at this point (PEFT saves the adapter weights only: ~10 MB)
            folder = self.snapshot_dir / f"step-{step}"
            model.save_pretrained(str(folder))
            point["adapter"] = str(folder)
        self.curve.append(point)
        log.info("step %d: held-out loss %.4f at %s", step, loss, format_duration(self.elapsed()))
        if self.progress:
            self.progress({"event": "eval", **point})

    def callback(self) -> Any:
        from transformers import TrainerCallback

        reporter = self

        class Progress(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if reporter._first is None:
                    reporter._first = (state.global_step, reporter.elapsed())
                if reporter.progress:
                    reporter.progress({"event": "step", "step": state.global_step, "total": reporter.total(state)})
                if reporter.kill_after_step is not None and state.global_step >= reporter.kill_after_step:
                    os._exit(137)  # test hook: die like a SIGKILL, mid-run, after a checkpoint

            def on_log(self, args, state, control, logs=None, **kwargs):
                if not logs or "loss" not in logs:
                    return
                now = reporter.elapsed()
                total = reporter.total(state)
                left = reporter.left(state.global_step, total, now)
                line = progress_line(state.global_step, total, logs["loss"], now, left)
                log.info(line)
                if reporter.progress:
                    reporter.progress({"event": "log", "step": state.global_step, "total": total, **logs,
                                       "elapsed_s": now, "left_s": left, "line": line})

            def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
                if metrics and "eval_loss" in metrics:
                    reporter.held_out(state.global_step, metrics["eval_loss"], model)

        return Progress()
