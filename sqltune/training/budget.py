"""Fit a training run into a wall-clock budget.

A user chooses how long they can wait; the number of steps that fits depends on the machine
(10x apart between an AVX2 laptop and a GPU). So the run measures its own speed:

1. calibration: the first few optimizer steps are timed (the first step, with its one-off
   allocations, is left out of the average);
2. plan: `plan_steps` turns the measured seconds per step into the number of steps that ends
   training (periodic held-out evaluations and checkpoints included) inside the budget, and
   sets the evaluation and checkpoint cadence from it; the learning-rate schedule follows the
   plan (`ScheduleShape` reads its length from the plan);
3. re-plan once, a quarter of the way in, if the throughput moved by more than 10%;
4. a guard stops early if a step would end past the budget anyway.

The arithmetic is pure (`BudgetPlanner` takes the clock readings as arguments) so it is tested
with a fake clock; `budget_callback` wires it into a transformers Trainer. The plan is written
beside the checkpoints, so a resumed run keeps it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqltune.core.errors import ConfigError
from sqltune.core.paths import atomic_write_text

log = logging.getLogger(__name__)

PLAN_FILE = "budget_plan.json"
REPLAN_TOLERANCE = 0.10     # re-plan when the measured s/step moved by more than this share
EVAL_SHARE_LIMIT = 0.20     # periodic held-out evaluations take at most this share of the budget
_DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*(h|m|min|s|sec)?", re.IGNORECASE)
_UNIT_S = {"h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0, "sec": 1.0, None: 1.0}


def parse_duration(text: str | float | int) -> float:
    """Seconds in "15m", "900s", "1h", "1h30m", "90" (plain numbers are seconds)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        spec = str(text).strip().replace(" ", "")
        pos, seconds = 0, 0.0
        while pos < len(spec):
            match = _DURATION.match(spec, pos)
            if not match or match.end() == pos:
                raise ConfigError(f"cannot read a duration from {text!r}: write e.g. 15m, 900s, 1h or 1h30m")
            seconds += float(match.group(1)) * _UNIT_S[match.group(2).lower() if match.group(2) else None]
            pos = match.end()
        if not spec:
            raise ConfigError("empty duration: write e.g. 15m, 900s or 1h")
    if not seconds > 0:
        raise ConfigError(f"a time budget must be positive, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """3m10s, 1h02m, 45s."""
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


@dataclass
class StepPlan:
    """How many optimizer steps fit, and the cadence of evaluations and checkpoints."""

    budget_s: float
    max_steps: int
    eval_steps: int
    save_steps: int
    warmup_steps: int
    s_per_step: float
    pairs_per_step: int
    train_pairs: int
    eval_s: float            # expected seconds of one held-out evaluation
    n_evals: int             # held-out evaluations (the final one included)
    planned_at_step: int
    planned_at_s: float      # seconds into the budget when this plan was made
    source: str = "calibration"   # calibration | replan | prior | resumed
    history: list[dict] = field(default_factory=list)  # earlier plans (max_steps, s_per_step, at step)

    @property
    def pairs(self) -> int:
        return self.max_steps * self.pairs_per_step

    @property
    def epochs(self) -> float:
        return self.pairs / max(self.train_pairs, 1)

    def evals_from(self, step: int, last: int | None = None) -> int:
        """Held-out evaluations still to run once optimizer step `step` has ended (its own
        included: the Trainer logs a step before it evaluates there), when training stops after
        step `last` (default: the plan's end): one at each multiple of `eval_steps`, and a final
        one at `last` when it is not a multiple."""
        if not self.n_evals:
            return 0
        last = self.max_steps if last is None else last
        every = max(self.eval_steps, 1)
        return max(last // every - (step - 1) // every + (1 if last % every else 0), 0)

    @property
    def expected_s(self) -> float:
        """Seconds into the budget at which training should end under this plan (the evaluations
        it runs from here on included, not those before a re-plan)."""
        remaining = max(self.max_steps - self.planned_at_step, 0)
        return (self.planned_at_s + remaining * self.s_per_step
                + self.evals_from(max(self.planned_at_step, 1)) * self.eval_s)

    def summary(self) -> str:
        return (f"time budget {format_duration(self.budget_s)}: {self.s_per_step:.2f} s/step measured -> "
                f"{self.max_steps} steps = {self.pairs:,} pairs = {self.epochs:.2f} epochs of {self.train_pairs:,}; "
                f"held-out loss every {self.eval_steps} steps, checkpoint every {self.save_steps}; "
                f"training ends at about {format_duration(self.expected_s)}")

    def to_dict(self) -> dict:
        return {**asdict(self), "pairs": self.pairs, "epochs": self.epochs, "expected_s": self.expected_s}

    @classmethod
    def from_dict(cls, data: dict) -> "StepPlan":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def plan_steps(
    *,
    budget_s: float,
    elapsed_s: float,
    steps_done: int,
    s_per_step: float,
    pairs_per_step: int,
    train_pairs: int,
    max_steps_cap: int | None = None,
    eval_s: float = 0.0,
    evals: int = 4,
    saves: int = 5,
    save_s: float = 0.0,
    reserve_s: float = 0.0,
    warmup_steps: int = 0,
    source: str = "calibration",
) -> StepPlan:
    """The steps that end training inside `budget_s`, given `steps_done` after `elapsed_s` seconds.

    Time left is spent on steps, `evals` held-out evaluations (fewer when they would take more
    than EVAL_SHARE_LIMIT of the budget; the final one is always counted) and `saves`
    checkpoints; `reserve_s` is kept for the work after the last step (writing the adapter).
    Never fewer than one step in all, and never fewer than already done.
    """
    if s_per_step <= 0:
        raise ValueError(f"s_per_step must be positive, got {s_per_step}")
    left = budget_s - elapsed_s - reserve_s - saves * save_s
    n_evals = 0
    if eval_s > 0 and evals > 0:
        n_evals = max(1, min(evals, int(EVAL_SHARE_LIMIT * budget_s // eval_s)))
    left -= n_evals * eval_s
    more = max(int(left // s_per_step), 0)
    total = steps_done + more
    if max_steps_cap is not None and max_steps_cap > 0:
        total = min(total, max_steps_cap)
    total = max(total, steps_done, 1)
    eval_every = max(1, math.ceil(total / n_evals)) if n_evals else total
    return StepPlan(
        budget_s=budget_s,
        max_steps=total,
        eval_steps=eval_every,
        save_steps=max(1, math.ceil(total / max(saves, 1))),
        warmup_steps=min(warmup_steps, total // 5),
        s_per_step=s_per_step,
        pairs_per_step=pairs_per_step,
        train_pairs=train_pairs,
        eval_s=eval_s,
        n_evals=n_evals,
        planned_at_step=steps_done,
        planned_at_s=elapsed_s,
        source=source,
    )


def prior_tokens_per_s(*, body_params: int, gflops: float, trained_share: float = 1.0,
                       gradient_checkpointing: bool = True, efficiency: float = 0.6) -> float:
    """A guess at training tokens/s before any step ran, from the matmul ceiling.

    A forward costs 2 FLOPs per weight and token; backward through the part that trains
    (`trained_share` of the layers) costs as much again, and checkpointing recomputes that part's
    forward. `efficiency` is the share of the ceiling a LoRA step reaches: measured 0.6 on the
    default model (44 tokens/s against 46 GFLOP/s fp32 on a 2-core AVX2 CPU).
    """
    flops_per_token = 2 * body_params * (1 + trained_share * (1 + (1 if gradient_checkpointing else 0)))
    return efficiency * gflops * 1e9 / max(flops_per_token, 1)


class BudgetPlanner:
    """Calibrate, plan, re-plan once, guard the deadline. Times are seconds since the budget began
    (the caller's clock), so the logic runs the same under a fake clock."""

    def __init__(self, budget_s: float, *, pairs_per_step: int, train_pairs: int, max_steps_cap: int | None,
                 calibration_steps: int = 3, evals: int = 4, saves: int = 5, has_eval: bool = True,
                 warmup_steps: int = 0, reserve_s: float = 0.0, eval_step_ratio: float = 1.0,
                 plan: StepPlan | None = None) -> None:
        self.budget_s = budget_s
        self.pairs_per_step = pairs_per_step
        self.train_pairs = train_pairs
        self.max_steps_cap = max_steps_cap
        self.calibration_steps = max(2, calibration_steps)
        self.evals = evals if has_eval else 0
        self.saves = saves
        self.warmup_steps = warmup_steps
        self.reserve_s = reserve_s
        self.eval_step_ratio = eval_step_ratio  # one evaluation ~ this many steps, until one is measured
        self.plan = plan
        # (step, time) the s/step was last checked from: set by the plan this run makes, so a
        # resumed run keeps its stored plan unchecked
        self._checked: tuple[int, float] | None = None
        self.guard = plan is None           # ... and its time so far is not on this clock
        self._first_step_at: float | None = None
        self._first_step: int | None = None
        self._train_began: float | None = None   # when the Trainer began (after loading and caching)
        self._stop_step: int | None = None        # the step after which training was told to stop
        self._paused_s = 0.0          # evaluations and saves since the last plan
        self._eval_times: list[float] = []
        self._save_times: list[float] = []

    # -- measurements fed by the callback ---------------------------------------------------------
    def train_began(self, now: float) -> None:
        """The Trainer starts its first step at `now`: the first step's own time is measured from
        here, not from when the budget began (validating the pairs and loading the model)."""
        self._train_began = now

    def paused(self, kind: str, seconds: float) -> None:
        """An evaluation or a checkpoint save took `seconds` (not step time)."""
        self._paused_s += seconds
        (self._eval_times if kind == "eval" else self._save_times).append(seconds)

    @property
    def eval_s(self) -> float:
        if self._eval_times:
            return max(self._eval_times)
        s_per_step = self.plan.s_per_step if self.plan is not None else 0.0
        return self.eval_step_ratio * s_per_step

    @property
    def save_s(self) -> float:
        return max(self._save_times) if self._save_times else 0.0

    def _s_per_step(self, step: int, now: float, since_step: int, since: float) -> float | None:
        if step <= since_step:
            return None
        return max(now - since - self._paused_s, 1e-9) / (step - since_step)

    def _next_step_s(self, measured: float | None, now: float) -> float:
        """While calibrating: what one more step, and the final held-out evaluation after it, would
        take; after the first step alone, that step's own time (once counted as nothing, and a
        60 s budget ran a second step to 70 s)."""
        step_s = measured if measured is not None else self._first_step_s(now)
        return step_s * (1.0 + (self.eval_step_ratio if self.evals else 0.0))

    def _first_step_s(self, now: float) -> float:
        """The first step's own seconds, what a plan made before a second step ended has (a budget
        spent by the first step, a cap of one step): from when the Trainer began (`train_began`),
        not from when the budget began, so validating and loading are not read as step time."""
        since = self._train_began if self._train_began is not None else 0.0
        return max(now - since, 1e-9)

    def _new_plan(self, step: int, now: float, s_per_step: float, source: str) -> StepPlan:
        eval_s = 0.0
        if self.evals:
            eval_s = max(self._eval_times) if self._eval_times else self.eval_step_ratio * s_per_step
        plan = plan_steps(
            budget_s=self.budget_s, elapsed_s=now, steps_done=step, s_per_step=s_per_step,
            pairs_per_step=self.pairs_per_step, train_pairs=self.train_pairs, max_steps_cap=self.max_steps_cap,
            eval_s=eval_s, evals=self.evals, saves=self.saves, save_s=self.save_s, reserve_s=self.reserve_s,
            warmup_steps=self.warmup_steps, source=source,
        )
        if self.plan is not None:
            plan.history = [*self.plan.history, {k: getattr(self.plan, k) for k in
                                                 ("max_steps", "s_per_step", "planned_at_step", "planned_at_s", "source")}]
            plan.warmup_steps = self.plan.warmup_steps  # the schedule's warm-up is already under way
        return plan

    def step_end(self, step: int, now: float) -> tuple[str | None, bool]:
        """After optimizer step `step` at time `now`: returns (what happened: None, "planned" or
        "replanned"; whether training must stop now)."""
        event, stop = self._step_end(step, now)
        if stop:
            self._stop_step = step
        return event, stop

    def _step_end(self, step: int, now: float) -> tuple[str | None, bool]:
        if self._first_step_at is None:
            self._first_step_at, self._first_step = now, step
            self._paused_s = 0.0
        event = None
        if self.plan is None:
            measured = self._s_per_step(step, now, self._first_step, self._first_step_at)
            at_cap = self.max_steps_cap is not None and step >= self.max_steps_cap
            if at_cap or (measured is not None and step - self._first_step + 1 >= self.calibration_steps):
                # a cap reached while calibrating: plan on what was measured (the first step, if only it)
                self.plan = self._new_plan(step, now, measured or self._first_step_s(now), "calibration")
                self._checked, self._paused_s = (step, now), 0.0
                event = "planned"
            elif now + self._next_step_s(measured, now) + self.reserve_s > self.budget_s:
                # the budget ends while calibrating (the first step alone may use it): stop here,
                # with a plan that says so
                self.plan = self._new_plan(step, now, measured or self._first_step_s(now), "calibration")
                return "planned", True
        elif self._checked is not None and step - self._checked[0] >= max(
                self.calibration_steps, (self.plan.max_steps - self._checked[0]) // 4):
            # the s/step of the steps since the last check (each a quarter of the steps then left):
            # a machine that speeds up or slows down at any point gets a plan for what is left, so
            # the budget is used and the time left the lines say holds
            measured = self._s_per_step(step, now, *self._checked)
            self._checked = (step, now)
            if measured is not None and abs(measured - self.plan.s_per_step) > REPLAN_TOLERANCE * self.plan.s_per_step:
                self.plan = self._new_plan(step, now, measured, "replan")
                event = "replanned"
            self._paused_s = 0.0
        if self.plan is not None:
            if step >= self.plan.max_steps:
                return event, True
            if not self.guard:
                return event, False
            step_s = self.plan.s_per_step
            final_eval = self.eval_s if self.evals else 0.0
            if now + step_s + final_eval + self.reserve_s > self.budget_s:
                return event, True  # the guard: the next step would end past the budget
        return event, False

    def expected_left(self, step: int, now: float | None = None) -> float | None:
        """Seconds of training expected after `step` (None while calibrating): the plan's steps
        left (to the stop, once one is decided) and the evaluations from this step's on. With
        `now` (seconds into the budget), never past the deadline the guard keeps."""
        if self.plan is None:
            return None
        last = self.plan.max_steps if self._stop_step is None else min(self.plan.max_steps, self._stop_step)
        left = (max(last - step, 0) * self.plan.s_per_step
                + self.plan.evals_from(step, last) * (self.eval_s if self.evals else 0.0))
        if now is not None and self.guard and self._stop_step is None:
            left = min(left, max(self.budget_s - self.reserve_s - now, 0.0))
        return left


class ScheduleShape:
    """The learning-rate multiplier at a step, with the schedule's length read from a mutable plan
    (`total_steps`), so re-planning stretches or shrinks the cosine instead of cutting it off.

    A callable object (not a function): torch's LambdaLR saves its attributes with the
    checkpoint, so a resumed run continues the same schedule.
    """

    KINDS = ("cosine", "linear", "constant", "constant_with_warmup")

    def __init__(self, kind: str, total_steps: int, warmup_steps: int) -> None:
        if kind not in self.KINDS:
            raise ConfigError(f"a time budget needs lr_scheduler in {', '.join(self.KINDS)}, got {kind!r}")
        self.kind = kind
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        if self.kind != "constant" and step < self.warmup_steps:
            return float(step + 1) / float(self.warmup_steps + 1) if self.warmup_steps else 1.0
        if self.kind in ("constant", "constant_with_warmup"):
            return 1.0
        span = max(self.total_steps - self.warmup_steps, 1)
        progress = min(max((step - self.warmup_steps) / span, 0.0), 1.0)
        if self.kind == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def save_plan(plan: StepPlan, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PLAN_FILE
    atomic_write_text(path, json.dumps(plan.to_dict(), indent=2))
    return path


def load_plan(folder: Path) -> StepPlan | None:
    path = folder / PLAN_FILE
    if not path.exists():
        return None
    try:
        return StepPlan.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"unreadable training plan {path}: {exc}") from None


def progress_line(step: int, total: int | None, loss: float | None, elapsed_s: float, left_s: float | None) -> str:
    """`step 40/280 loss 0.812 elapsed 3m10s left 9m50s`: readable in a log file, not only a terminal."""
    parts = [f"step {step}/{total if total else '?'}"]
    if loss is not None:
        parts.append(f"loss {loss:.3f}")
    parts.append(f"elapsed {format_duration(elapsed_s)}")
    parts.append(f"left {format_duration(left_s)}" if left_s is not None else "left ? (calibrating)")
    return " ".join(parts)


def budget_callback(planner: BudgetPlanner, *, schedule: ScheduleShape | None, plan_dir: Path,
                    started_at: float, clock: Callable[[], float] = time.monotonic,
                    on_plan: Callable[[StepPlan, str], None] | None = None,
                    decide: Callable[[Callable[[], Any]], Any] | None = None, is_main: bool = True) -> Any:
    """A TrainerCallback that drives the Trainer from `planner`: sets max_steps and the eval/save
    cadence when a plan is made, stretches `schedule`, stops training at the plan's end.

    Several processes (distributed.py): `decide(fn)` runs `fn` on rank 0 and hands every rank its
    value, so each step's plan and stop are rank 0's, measured on rank 0's clock, and every rank
    stops at the same step; only rank 0 (`is_main`) saves the plan and announces it."""
    from transformers import TrainerCallback

    def step_end(step: int) -> tuple[str | None, bool, dict | None]:
        event, stop = planner.step_end(step, clock() - started_at)
        return event, stop, planner.plan.to_dict() if planner.plan is not None else None

    def apply(plan: StepPlan, state: Any) -> None:
        state.max_steps = plan.max_steps
        state.eval_steps = plan.eval_steps
        state.save_steps = plan.save_steps
        if schedule is not None:
            schedule.total_steps = plan.max_steps
            schedule.warmup_steps = plan.warmup_steps

    class TimeBudget(TrainerCallback):
        def __init__(self) -> None:
            self._pause_began: float | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            if planner.plan is not None:  # resumed: keep the stored plan
                apply(planner.plan, state)
            elif is_main:  # rank 0 measures the steps (the others never read their clock)
                planner.train_began(clock() - started_at)

        def on_step_end(self, args, state, control, **kwargs):
            step = state.global_step
            event, stop, plan = decide(lambda: step_end(step)) if decide is not None else step_end(step)
            if plan is not None and not is_main:
                planner.plan = StepPlan.from_dict(plan)
            if event is not None:
                apply(planner.plan, state)
                if is_main:
                    save_plan(planner.plan, plan_dir)
                    if on_plan is not None:
                        on_plan(planner.plan, event)
            if stop:
                state.max_steps = state.global_step
                control.should_training_stop = True
                control.should_save = args.save_strategy != "no"
            elif event is not None:
                # the default flow ran before this callback with the old cadence: redo its decisions
                control.should_evaluate = (args.eval_strategy != "no" and state.global_step % state.eval_steps == 0)
                control.should_save = args.save_strategy != "no" and state.global_step % state.save_steps == 0
            if is_main and (control.should_evaluate or control.should_save):  # pauses are timed where plans are made
                self._pause_began = clock()
            return control

        def on_evaluate(self, args, state, control, **kwargs):
            if self._pause_began is not None:
                end = clock()
                planner.paused("eval", end - self._pause_began)
                self._pause_began = end

        def on_save(self, args, state, control, **kwargs):
            if self._pause_began is not None:
                planner.paused("save", clock() - self._pause_began)
                self._pause_began = None

        def on_step_begin(self, args, state, control, **kwargs):
            self._pause_began = None

    return TimeBudget()
