"""Keep the adapter whose held-out execution accuracy is best, and stop when it stops rising.

Held-out loss goes on falling after answers stop improving, and it rewards a memorised query of
the wrong shape. So at each held-out point of the run (the budget's learning-curve points) the
adapter answers a slice of the user's own held-out pairs greedily; a `Judge` runs the answers on
the warehouse and counts the right ones. The adapter with the best execution accuracy is what the
run leaves (ties go to the later point, which has seen more), and the run stops after `patience`
points without a rise.

Training does not know how answers are judged (that is the evaluation stage's, above it): the
caller passes the judge (`sqltune.evaluation.judge.execution_judge` in `sqltune train`).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Protocol, Sequence

if TYPE_CHECKING:
    from sqltune.training.config import TrainConfig

log = logging.getLogger(__name__)

BEST_DIR = "best-by-execution"  # inside the checkpoints folder: the best adapter so far
MIN_SELECTION_QUESTIONS = 8  # fewer held-out answers than this cannot tell one point from another


class Judge(Protocol):
    """Scores predicted SQL against each pair's gold queries on the warehouse."""

    def __call__(self, golds: Sequence[Sequence[str]], predictions: Sequence[str]) -> tuple[int, int]:
        """(right, executable) over the predictions."""
        ...


@dataclass
class ExecutionPoint:
    step: int
    minutes: float
    execution_accuracy: float
    executable: float
    questions: int
    seconds: float  # what answering and judging the slice took

    def line(self) -> str:
        return (f"step {self.step}: held-out execution accuracy {self.execution_accuracy:.1%} "
                f"({self.executable:.0%} executable, {self.questions} questions, {self.seconds:.0f} s)")


class ExecutionSelection:
    """The held-out execution check of one run: answers, judges, keeps the best adapter, stops."""

    def __init__(self, answer: Callable[[Any], list[str]], golds: Sequence[Sequence[str]], judge: Judge, *,
                 best_dir: Path, patience: int, started: float,
                 whole_model: Callable[[], ContextManager] = contextlib.nullcontext,
                 progress: Callable[[dict], None] | None = None) -> None:
        self.answer = answer  # model -> greedy SQL for the slice's questions
        self.golds = [list(g) for g in golds]
        self.judge = judge
        self.best_dir = Path(best_dir)
        self.patience = patience
        self.started = started
        self.whole_model = whole_model  # restores layers a cached run swapped out
        self.progress = progress
        self.points: list[ExecutionPoint] = []
        self.best: ExecutionPoint | None = None
        self.stopped_early = False

    def check(self, step: int, model: Any) -> ExecutionPoint:
        began = time.monotonic()
        with self.whole_model():
            predictions = self.answer(model)
        right, executable = self.judge(self.golds, predictions)
        n = max(len(predictions), 1)
        point = ExecutionPoint(step, (time.monotonic() - self.started) / 60, right / n, executable / n, len(predictions),
                               time.monotonic() - began)
        self.points.append(point)
        if self.best is None or point.execution_accuracy >= self.best.execution_accuracy:
            self.best = point
            self.best_dir.mkdir(parents=True, exist_ok=True)
            model.save_pretrained(str(self.best_dir))
        log.info("%s", point.line())
        if self.progress:
            self.progress({"event": "note", "line": point.line() + (" (best so far)" if self.best is point else "")})
        return point

    def should_stop(self) -> bool:
        """`patience` points in a row without a rise over the best."""
        if self.patience <= 0 or self.best is None:
            return False
        since = len(self.points) - 1 - self.points.index(self.best)
        return since >= self.patience

    def callback(self) -> Any:
        from transformers import TrainerCallback

        selection = self

        class HeldOutExecution(TrainerCallback):
            def on_evaluate(self, args, state, control, model=None, **kwargs):
                if model is None:
                    return
                selection.check(state.global_step, model)
                if selection.should_stop():
                    selection.stopped_early = True
                    control.should_training_stop = True
                    if selection.progress:
                        selection.progress({"event": "note", "line": f"stopping: held-out execution accuracy has not risen "
                                                                       f"for {selection.patience} points"})

        return HeldOutExecution()

    def keep_best(self, out: Path) -> bool:
        """Put the best adapter's weights in `out` (the run's adapter folder) when a later point was
        worse; returns whether it did."""
        if self.best is None or not self.points or self.best is self.points[-1]:
            return False
        for name in ("adapter_model.safetensors", "adapter_config.json"):
            if (self.best_dir / name).exists():
                shutil.copy2(self.best_dir / name, Path(out) / name)
        return True

    def record(self) -> dict:
        return {"points": [asdict(p) for p in self.points], "best_step": self.best.step if self.best else None,
                "best_execution_accuracy": self.best.execution_accuracy if self.best else None,
                "stopped_early": self.stopped_early, "patience": self.patience}


def execution_selection(config: "TrainConfig", model: Any, tokenizer: Any, schema: Any, index: Any, held_out: list[Any],
                        judge: Judge, out: Path, started: float, progress: Callable[[dict], None] | None,
                        whole_model: Any) -> ExecutionSelection | None:
    """The held-out execution check: the first `select_by_execution` held-out pairs, answered
    greedily with the prompts of this run, as evaluation and serving will ask them. None when the
    run asks for no check, or (with a note) when too few held-out pairs would be answered."""
    from sqltune.inference.generate import DecodeConfig, SqlModel

    slice_ = held_out[: config.select_by_execution]
    if not config.select_by_execution:
        return None
    if len(slice_) < MIN_SELECTION_QUESTIONS:
        if progress:
            progress({"event": "note", "line": f"held-out execution check off: {len(slice_)} held-out questions to "
                                                 f"answer, it needs {MIN_SELECTION_QUESTIONS} to tell one point from "
                                                 "another (more pairs, a larger --eval-fraction or --select-by-execution)"})
        return None
    questions = [p.question for p in slice_]
    longest = max(len(tokenizer(p.sql, add_special_tokens=False)["input_ids"]) for p in slice_)

    def answer(current: Any) -> list[str]:
        side, was_training = tokenizer.padding_side, current.training
        current.eval()
        try:
            decode = DecodeConfig.greedy(max_new_tokens=max(64, int(longest * 1.25)), batch_size=config.batch_size)
            asker = SqlModel(current, tokenizer, schema, config.prompt, decode, examples=index)
            return [g.sql for g in asker.generate(questions)]
        finally:
            tokenizer.padding_side = side
            current.train(was_training)

    return ExecutionSelection(answer, [p.golds for p in slice_], judge, best_dir=out / "checkpoints" / BEST_DIR,
                              patience=config.execution_patience, started=started, whole_model=whole_model,
                              progress=progress)
