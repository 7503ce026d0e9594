"""The time budget's arithmetic under a fake clock: ends in time, never zero steps, re-plans once,
resume keeps the plan; the callback drives a Trainer's state; the LR schedule follows the plan."""

from __future__ import annotations

import math

import pytest

from sqltune.core.errors import ConfigError
from sqltune.training.budget import (
    BudgetPlanner,
    ScheduleShape,
    StepPlan,
    budget_callback,
    format_duration,
    load_plan,
    parse_duration,
    plan_steps,
    progress_line,
    save_plan,
)


def test_parse_duration():
    assert parse_duration("15m") == 900
    assert parse_duration("900s") == 900
    assert parse_duration("1h") == 3600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90") == 90
    assert parse_duration(45) == 45
    for bad in ("", "soon", "0m", "-5m", "15 parsecs"):
        with pytest.raises(ConfigError):
            parse_duration(bad)


def test_format_and_progress_line():
    assert format_duration(190) == "3m10s"
    assert format_duration(45) == "45s"
    assert format_duration(3720) == "1h02m"
    assert progress_line(40, 280, 0.8123, 190, 590) == "step 40/280 loss 0.812 elapsed 3m10s left 9m50s"
    assert "calibrating" in progress_line(2, None, 1.0, 5, None)


def test_plan_fills_the_budget_and_counts_evaluations():
    plan = plan_steps(budget_s=900, elapsed_s=60, steps_done=3, s_per_step=3.0, pairs_per_step=4,
                      train_pairs=4000, eval_s=20, evals=4)
    # 840 s left, 4 evals of 20 s: 760 s of steps -> 253 more
    assert plan.max_steps == 3 + 253
    assert plan.n_evals == 4 and plan.eval_steps == math.ceil(plan.max_steps / 4)
    assert plan.pairs == plan.max_steps * 4 and plan.epochs == pytest.approx(plan.pairs / 4000)
    assert plan.expected_s <= 900
    assert "pairs" in plan.summary() and "epochs" in plan.summary()


def test_plan_never_zero_steps_and_respects_the_cap():
    starved = plan_steps(budget_s=10, elapsed_s=50, steps_done=0, s_per_step=5.0, pairs_per_step=4, train_pairs=100)
    assert starved.max_steps == 1
    done = plan_steps(budget_s=10, elapsed_s=50, steps_done=3, s_per_step=5.0, pairs_per_step=4, train_pairs=100)
    assert done.max_steps == 3  # past the budget: stop where it is, never below what is done
    capped = plan_steps(budget_s=3600, elapsed_s=0, steps_done=2, s_per_step=0.1, pairs_per_step=4,
                        train_pairs=100, max_steps_cap=25)
    assert capped.max_steps == 25


def test_evaluations_are_limited_to_a_share_of_the_budget():
    plan = plan_steps(budget_s=600, elapsed_s=0, steps_done=3, s_per_step=1.0, pairs_per_step=4,
                      train_pairs=1000, eval_s=100, evals=4)
    assert plan.n_evals == 1 and plan.eval_steps == plan.max_steps  # only the final one fits


def simulate(planner: BudgetPlanner, step_s, *, first_step_s=0.0, start_s=0.0, eval_every=None, eval_s=0.0):
    """Drive `planner` with a fake clock: step k takes step_s(k) seconds; returns (steps, end time)."""
    now, step = start_s, 0
    while True:
        step += 1
        now += step_s(step) + (first_step_s if step == 1 else 0.0)
        event, stop = planner.step_end(step, now)
        if stop:
            return step, now
        plan = planner.plan
        every = plan.eval_steps if plan is not None else eval_every
        if every and eval_s and step % every == 0:
            now += eval_s
            planner.paused("eval", eval_s)
        assert step < 100_000


@pytest.mark.parametrize("step_s", [0.05, 1.0, 7.0, 40.0])
def test_training_ends_inside_the_budget(step_s):
    planner = BudgetPlanner(900, pairs_per_step=4, train_pairs=10**6, max_steps_cap=None, evals=4, eval_step_ratio=2)
    steps, end = simulate(planner, lambda k: step_s, first_step_s=5.0, start_s=30.0, eval_s=2 * step_s)
    assert steps >= 1
    assert end <= 900 * 1.10
    assert planner.plan is not None and steps == planner.plan.max_steps
    assert end >= 900 * 0.8 or step_s >= 40  # and the budget is used, not wasted


def test_replans_when_throughput_changes():
    planner = BudgetPlanner(900, pairs_per_step=4, train_pairs=10**6, max_steps_cap=None, has_eval=False)
    steps, end = simulate(planner, lambda k: 1.0 if k <= 20 else 2.0)  # the machine slows down
    assert planner.plan.source == "replan" and len(planner.plan.history) == 1
    assert planner.plan.history[0]["max_steps"] > planner.plan.max_steps
    # the re-plan averaged over a window that was half fast: the guard ends it inside the budget
    assert end <= 900 * 1.10 and planner.plan.max_steps * 0.95 <= steps <= planner.plan.max_steps


def test_steady_throughput_keeps_the_first_plan():
    planner = BudgetPlanner(600, pairs_per_step=4, train_pairs=10**6, max_steps_cap=None, has_eval=False)
    steps, end = simulate(planner, lambda k: 1.0)
    assert planner.plan.source == "calibration" and planner.plan.history == []
    assert end <= 600


def test_guard_stops_when_the_machine_slows_after_the_replan():
    planner = BudgetPlanner(300, pairs_per_step=4, train_pairs=10**6, max_steps_cap=None, has_eval=False)
    steps, end = simulate(planner, lambda k: 1.0 if k < 200 else 5.0)
    assert end <= 300 * 1.10
    assert steps < planner.plan.max_steps or end <= 300


def test_a_budget_smaller_than_one_step_still_trains_one_step():
    planner = BudgetPlanner(1, pairs_per_step=4, train_pairs=100, max_steps_cap=None, has_eval=False)
    steps, _ = simulate(planner, lambda k: 10.0)
    assert steps == 1 and planner.plan.max_steps == 1


def test_the_first_step_is_timed_from_when_training_began():
    """A budget spent before a second step ends (issue 28: 40 s of validating and loading, a 43-s
    step, a 1-minute budget): the plan's s/step is that step's own time, not the whole command's."""
    planner = BudgetPlanner(60, pairs_per_step=8, train_pairs=60, max_steps_cap=None, has_eval=True, eval_step_ratio=1.0,
                            reserve_s=1.2)
    planner.train_began(40.0)
    event, stop = planner.step_end(1, 83.0)
    assert event == "planned" and stop
    plan = planner.plan
    assert plan.max_steps == 1 and plan.s_per_step == pytest.approx(43.0)
    # ends after that step and its final held-out evaluation (a batch costed at a step's time)
    assert plan.expected_s == pytest.approx(83.0 + 43.0)
    assert planner.expected_left(1, 83.0) == pytest.approx(43.0)
    capped = BudgetPlanner(900, pairs_per_step=8, train_pairs=8, max_steps_cap=1, has_eval=False)
    capped.train_began(300.0)
    capped.step_end(1, 310.0)  # one step is all the pairs: 10 s, after 300 s of loading
    assert capped.plan.s_per_step == pytest.approx(10.0) and capped.plan.expected_s == pytest.approx(310.0)


def test_evaluations_still_to_run_are_counted_from_the_step_that_logs():
    """Evaluations at each multiple of eval_steps and a final one: the Trainer logs a step before
    it evaluates there, so a step's own evaluation is still ahead of it."""
    plan = plan_steps(budget_s=900, elapsed_s=10, steps_done=3, s_per_step=1.0, pairs_per_step=4, train_pairs=40,
                      max_steps_cap=10, eval_s=2.0, evals=4)
    assert plan.max_steps == 10 and plan.eval_steps == 3  # evaluations at 3, 6, 9 and the final one at 10
    assert [plan.evals_from(step) for step in (1, 3, 4, 9, 10)] == [4, 4, 3, 2, 1]
    assert plan.evals_from(4, last=7) == 2  # stopped early at 7: the one at 6 and a final one
    assert plan.expected_s == pytest.approx(10 + 7 * 1.0 + 4 * 2.0)
    few = plan_steps(budget_s=900, elapsed_s=10, steps_done=3, s_per_step=1.0, pairs_per_step=4, train_pairs=20,
                     max_steps_cap=5, eval_s=2.0, evals=4)
    assert few.eval_steps == 2 and few.evals_from(3) == 2  # at 4 and the final one at 5, not the 4 asked for
    assert few.expected_s == pytest.approx(10 + 2 * 1.0 + 2 * 2.0)


def test_resume_keeps_the_plan(tmp_path):
    planner = BudgetPlanner(900, pairs_per_step=4, train_pairs=10**6, max_steps_cap=None, has_eval=False)
    simulate(planner, lambda k: 1.0)
    save_plan(planner.plan, tmp_path)
    stored = load_plan(tmp_path)
    assert stored == planner.plan
    # resumed on a clock that starts again at 0 and a machine twice as slow: the plan's steps stand
    resumed = BudgetPlanner(900, pairs_per_step=4, train_pairs=10**6, max_steps_cap=None, has_eval=False, plan=stored)
    step, stop = stored.max_steps // 2, False
    now = 0.0
    while not stop:
        step += 1
        now += 2.0
        _, stop = resumed.step_end(step, now)
    assert step == stored.max_steps and resumed.plan is stored
    assert load_plan(tmp_path / "nothing") is None


def test_schedule_follows_the_plan():
    shape = ScheduleShape("cosine", total_steps=100, warmup_steps=10)
    assert shape(0) < shape(9) < 1.0
    assert shape(10) == pytest.approx(1.0)
    assert shape(100) == pytest.approx(0.0)
    shape.total_steps = 200  # re-planned longer: the cosine stretches instead of ending at 100
    assert shape(105) == pytest.approx(0.5)  # half-way through the 190 steps after warm-up
    assert ScheduleShape("constant", 10, 5)(0) == 1.0
    assert ScheduleShape("linear", 10, 0)(5) == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        ScheduleShape("polynomial", 10, 0)


def test_callback_sets_the_trainer_state(tmp_path):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    clock = iter(float(t) for t in range(0, 10**6, 2))  # every reading 2 s later
    planner = BudgetPlanner(100, pairs_per_step=4, train_pairs=1000, max_steps_cap=500, has_eval=False)
    schedule = ScheduleShape("cosine", 500, 0)
    plans = []
    callback = budget_callback(planner, schedule=schedule, plan_dir=tmp_path, started_at=0.0,
                               clock=lambda: next(clock), on_plan=lambda plan, event: plans.append(event))
    args = TrainingArguments(output_dir=str(tmp_path / "out"), save_strategy="steps", eval_strategy="no", report_to=[])
    state, control = TrainerState(), TrainerControl()
    state.max_steps, state.save_steps, state.eval_steps = 500, 50, 50
    callback.on_train_begin(args, state, control)
    while not control.should_training_stop:
        state.global_step += 1
        callback.on_step_end(args, state, control)
        assert state.global_step < 500
    assert plans and plans[0] == "planned"
    assert state.max_steps == state.global_step == planner.plan.max_steps
    assert schedule.total_steps == planner.plan.max_steps
    assert state.save_steps == planner.plan.save_steps
    assert control.should_save  # the last step is saved
    assert load_plan(tmp_path) == planner.plan
    assert isinstance(planner.plan, StepPlan)


def test_a_cap_reached_while_calibrating_still_records_a_plan():
    planner = BudgetPlanner(900, pairs_per_step=4, train_pairs=8, max_steps_cap=2, has_eval=False)
    steps, _ = simulate(planner, lambda k: 1.0)
    assert steps == 2 and planner.plan is not None and planner.plan.max_steps == 2
    assert planner.plan.epochs == pytest.approx(1.0)


def test_every_rank_follows_rank_0s_plan_and_stops_at_its_step(tmp_path):
    """Several processes: rank 0 decides each step (its clock, its plan); rank 1 adopts the decision
    without reading its own clock, and neither saves nor announces a plan."""
    from transformers import TrainerControl, TrainerState, TrainingArguments

    def make(rank: int, clock, decide):
        planner = BudgetPlanner(100, pairs_per_step=8, train_pairs=1000, max_steps_cap=500, has_eval=False)
        plans = []
        folder = tmp_path / f"rank{rank}"
        callback = budget_callback(planner, schedule=ScheduleShape("cosine", 500, 0), plan_dir=folder, started_at=0.0,
                                   clock=clock, on_plan=lambda plan, event: plans.append(event), decide=decide,
                                   is_main=rank == 0)
        return planner, callback, plans, folder

    decisions = []  # what rank 0 broadcast at each step
    ticks = iter(float(t) for t in range(0, 10**6, 2))

    def never():
        raise AssertionError("rank 1 read its own clock")

    main = make(0, lambda: next(ticks), lambda fn: decisions.append(fn()) or decisions[-1])
    other = make(1, never, lambda fn: decisions[-1])
    args = TrainingArguments(output_dir=str(tmp_path / "out"), save_strategy="steps", eval_strategy="no", report_to=[])
    states = [TrainerState(), TrainerState()]
    controls = [TrainerControl(), TrainerControl()]
    for state in states:
        state.max_steps, state.save_steps, state.eval_steps = 500, 50, 50
    while not controls[0].should_training_stop:
        for (planner, callback, _, _), state, control in zip((main, other), states, controls):
            state.global_step += 1
            callback.on_step_end(args, state, control)
        assert controls[1].should_training_stop == controls[0].should_training_stop
    assert states[0].global_step == states[1].global_step == main[0].plan.max_steps < 500
    assert other[0].plan == main[0].plan and states[1].save_steps == states[0].save_steps
    assert main[2] == ["planned"] and other[2] == []
    assert load_plan(main[3]) == main[0].plan and not other[3].exists()
