"""Long stages name themselves, with an ETA: in the terminal (the progress bar's label) and as one
plain line per stage on stderr and in the log, so a redirected run shows what it is waiting for.

    stages = StageReporter(console, bar, task)
    stages.start("loading the model", eta_s=20)
    ...
    stages.start("training")       # ends the previous stage, printing how long it took
    stages.finish()
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger("sqltune.stages")


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class StageReporter:
    def __init__(self, console, bar=None, task=None):
        self.console = console
        self.bar = bar
        self.task = task
        self.name: str | None = None
        self.started = 0.0

    def start(self, name: str, eta_s: float | None = None, note: str = "") -> None:
        self.finish()
        self.name, self.started = name, time.monotonic()
        eta = f" (ETA ~{format_seconds(eta_s)})" if eta_s else ""
        line = f"stage: {name}{eta}{' - ' + note if note else ''}"
        log.info(line)
        self.console.print(f"[dim]{line}[/]", highlight=False)
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, description=f"{name}{eta}")

    def finish(self) -> None:
        if self.name is None:
            return
        line = f"stage: {self.name} done in {format_seconds(time.monotonic() - self.started)}"
        log.info(line)
        self.console.print(f"[dim]{line}[/]", highlight=False)
        self.name = None


def model_prepare_eta(model_dir: str, *, quantized: bool) -> float | None:
    """A rough ETA for importing torch/transformers and loading the checkpoint at `model_dir`
    (quantising it to NF4 when `quantized`): a few seconds of imports plus the checkpoint's size at
    ~150 MB/s (NF4: half that). The step-0 check after it costs the pairs' tokens, not the
    checkpoint's size: training announces it as a stage of its own, with its ETA
    (`step0_check_seconds`). None for a hub id (its size is not known before downloading)."""
    path = Path(model_dir)
    if not path.is_dir():
        return None
    size = sum(f.stat().st_size for f in path.glob("*.safetensors")) or sum(f.stat().st_size for f in path.glob("*.bin"))
    return 8.0 + size / (75e6 if quantized else 150e6)
