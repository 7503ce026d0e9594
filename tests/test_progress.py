"""What a budgeted training run says of its time agrees with what happens: the plan's s/step and
"training ends at about", and the time left in every progress line, against the end of a run on
a fake clock. The real callbacks (transformers' DefaultFlowCallback, ProgressReporter's, the time
budget's) are driven in the order a Trainer calls them; nothing sleeps and no model runs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from sqltune.training.budget import BudgetPlanner, ScheduleShape, budget_callback, parse_duration
from sqltune.training.progress import ProgressReporter

TOLERANCE = 0.25


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Run:
    end_s: float                      # when training ended (its final evaluation included), since the command began
    steps: int
    plans: list[tuple[float, str]] = field(default_factory=list)    # (printed at, summary) as `sqltune train` prints them
    lines: list[dict] = field(default_factory=list)                  # the progress events of the log lines
    step_s: list[float] = field(default_factory=list)                # each step's seconds


def run_budgeted(tmp_path, *, budget_s: float, before_s: float, step_s: Callable[[int], float], batch: int = 8,
                 train_pairs: int = 2000, held_out: int = 0, cap: int | None = None, logging_steps: int = 5,
                 save_s: float = 0.0, eval_share: float = 0.3) -> Run:
    """A time-budgeted run as train() wires it (plan_budget's planner settings), on a fake clock:
    `before_s` seconds of validating and loading, then step k takes step_s(k) seconds; a held-out
    evaluation of `held_out` pairs takes `eval_share` of a step per batch of `batch` (the planner
    assumes a third until it has measured one), a checkpoint `save_s`."""
    from transformers import TrainerControl, TrainerState, TrainingArguments
    from transformers.trainer_callback import CallbackHandler, DefaultFlowCallback

    clock = FakeClock()
    started = clock.t
    clock.t += before_s
    eval_batches = math.ceil(held_out / batch)
    cap = cap or 10**6
    planner = BudgetPlanner(budget_s, pairs_per_step=batch, train_pairs=train_pairs, max_steps_cap=cap, evals=4,
                            has_eval=held_out > 0, reserve_s=min(30.0, 0.02 * budget_s), eval_step_ratio=eval_batches / 3)
    run = Run(0.0, 0)
    reporter = ProgressReporter(lambda e: run.lines.append(e) if e["event"] == "log" else None, started, planner,
                                clock=clock)
    budget = budget_callback(planner, schedule=ScheduleShape("cosine", cap, 0), plan_dir=tmp_path, started_at=started,
                             clock=clock, on_plan=lambda plan, event: run.plans.append((clock() - started, plan.summary())))
    args = TrainingArguments(output_dir=str(tmp_path / "out"), save_strategy="steps", report_to=[],
                             eval_strategy="steps" if held_out else "no", logging_steps=logging_steps)
    handler = CallbackHandler([DefaultFlowCallback(), reporter.callback(), budget], None, None, None, None)
    state, control = TrainerState(), TrainerControl()
    state.max_steps, state.logging_steps, state.eval_steps, state.save_steps = cap, logging_steps, 500, 500
    control = handler.on_train_begin(args, state, control)
    evaluated_at = None

    def evaluate() -> None:
        nonlocal evaluated_at
        clock.t += eval_batches * eval_share * step_s(max(state.global_step, 1))
        evaluated_at = state.global_step
        handler.on_evaluate(args, state, control, metrics={"eval_loss": 1.0})

    while not control.should_training_stop:  # Trainer's loop: step, callbacks, then log, evaluate, save
        control = handler.on_step_begin(args, state, control)
        state.global_step += 1
        run.step_s.append(step_s(state.global_step))
        clock.t += run.step_s[-1]
        control = handler.on_step_end(args, state, control)
        if control.should_log:
            control = handler.on_log(args, state, control, logs={"loss": 1.0})
        if control.should_evaluate:
            evaluate()
        if control.should_save:
            clock.t += save_s
            control = handler.on_save(args, state, control)
        assert state.global_step < 100_000
    if held_out and evaluated_at != state.global_step:
        evaluate()  # train(): the final held-out loss when the last step was not evaluated
    run.end_s, run.steps = clock.t - started, state.global_step
    return run


def planned_end(summary: str) -> float:
    return parse_duration(re.search(r"training ends at about (\S+)", summary).group(1))


def planned_steps(summary: str) -> tuple[float, int]:
    match = re.search(r"([\d.]+) s/step measured -> (\d+) steps", summary)
    return float(match.group(1)), int(match.group(2))


def check_progress_lines(run: Run) -> None:
    """Every progress line's time left within 25% of the time that was left (and one step, the
    granularity of a step count), once the run has a plan."""
    planned = [line for line in run.lines if line["left_s"] is not None]
    assert planned, "no progress line said a time left"
    for line in planned:
        actual = run.end_s - line["elapsed_s"]
        slack = TOLERANCE * actual + run.step_s[line["step"] - 1]
        assert abs(line["left_s"] - actual) <= slack, (line["line"], f"actual time left {actual:.0f} s")


def test_a_budget_spent_before_the_first_step_ends_plans_that_step(tmp_path):
    """The case of issue 28: `--time-budget 1m`, 40 s of validating and loading, then one step of
    43 s on long prompts. The plan (printed once that step ends) says 1 step at that step's time and
    an end within 25% of the run's, never the whole command's 83 s as one step's time or 53 minutes."""
    run = run_budgeted(tmp_path, budget_s=60, before_s=40, step_s=lambda k: 43.0, train_pairs=60, held_out=20)
    assert run.steps == 1
    [(printed_at, summary)] = run.plans
    s_per_step, steps = planned_steps(summary)
    assert steps == 1
    assert abs(s_per_step - 43.0) <= TOLERANCE * 43.0, summary
    assert abs(planned_end(summary) - run.end_s) <= TOLERANCE * run.end_s, (summary, run.end_s)


SCENARIOS = {
    "steady": dict(step_s=lambda k: 2.0),
    "slow first step": dict(step_s=lambda k: 25.0 if k == 1 else 2.0),
    "slows before the re-plan": dict(step_s=lambda k: 2.0 if k <= 60 else 3.0),
    "slows after the re-plan": dict(step_s=lambda k: 2.0 if k <= 200 else 3.0),
    "speeds up after the re-plan": dict(step_s=lambda k: 3.0 if k <= 150 else 2.0),
    "slow steps": dict(step_s=lambda k: 40.0),
    "epochs cap ends it early": dict(step_s=lambda k: 0.5, train_pairs=640, cap=80),
    "checkpoints take time": dict(step_s=lambda k: 2.0, save_s=4.0),
    # 5 steps: held-out loss every 2 steps runs 2 evaluations after the plan, not the 4 asked for
    "a few steps, fewer evaluations than asked": dict(step_s=lambda k: 10.0, train_pairs=40, cap=5),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_plans_and_progress_lines_agree_with_the_run(tmp_path, name):
    """A 15-minute budget after 30 s of loading, 40 held-out pairs: "training ends at about" within
    25% of the end, and each line's time left within 25% of what was left."""
    settings = {"budget_s": 900, "before_s": 30, "held_out": 40, **SCENARIOS[name]}
    run = run_budgeted(tmp_path, **settings)
    assert run.plans
    for printed_at, summary in run.plans:
        assert abs(planned_end(summary) - run.end_s) <= TOLERANCE * run.end_s, (summary, run.end_s)
    check_progress_lines(run)
    assert run.end_s <= 900 * 1.02  # and the run kept its budget


def test_the_time_left_counts_the_evaluation_after_the_last_step(tmp_path):
    """The Trainer logs a step before it evaluates there: the line of the last step still has the
    final held-out evaluation ahead (main said "left 0s")."""
    run = run_budgeted(tmp_path, budget_s=900, before_s=30, step_s=lambda k: 3.0, train_pairs=640, cap=80,
                       held_out=200, logging_steps=10)
    last = run.lines[-1]
    assert last["step"] == run.steps == 80
    assert last["left_s"] > 0 and abs(last["left_s"] - (run.end_s - last["elapsed_s"])) <= 1.0


def test_a_machine_that_speeds_up_late_still_uses_its_budget(tmp_path):
    """Steps 50% quicker from step 150 on (other work on the machine ended): the plan made at 3 s a
    step would end about 3 minutes early with the lines saying the old time left; the s/step is
    checked again each quarter of the steps left, so the run trains until its budget's end."""
    run = run_budgeted(tmp_path, budget_s=900, before_s=30, step_s=lambda k: 3.0 if k <= 150 else 2.0, held_out=40)
    assert run.end_s >= 0.9 * 900, run.end_s
    assert len(run.plans) >= 2   # the calibration plan, then one for the quicker steps
    check_progress_lines(run)


def test_a_budget_nearly_spent_after_the_first_step_takes_no_second(tmp_path):
    """60 s budget, 20 s of loading, steps of 25 s: after the first step (45 s) a second would end
    at 70 s, past the budget; the planner counted one more step as nothing while calibrating."""
    run = run_budgeted(tmp_path, budget_s=60, before_s=20, step_s=lambda k: 25.0, train_pairs=60)
    assert run.steps == 1 and run.end_s <= 60, (run.steps, run.end_s)

