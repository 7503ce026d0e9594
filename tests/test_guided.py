"""Execution-guided choice: majority vote over result sets, ties by likelihood, clear reasons when
every candidate fails, nothing outside the sandbox, the request's time limit; the value index."""

from __future__ import annotations

import pytest

from sqltune.inference.guided import Candidate, choose_candidate
from sqltune.warehouse.execute import ExecutionResult, Warehouse
from sqltune.warehouse.results import result_key
from sqltune.warehouse.values import ValueIndex


def rows(*values) -> ExecutionResult:
    return ExecutionResult(ok=True, columns=["x"], rows=[(v,) for v in values])


class FakeWarehouse:
    """SQL text -> result; records every (sql, timeout) it is asked to run."""

    def __init__(self, answers: dict[str, ExecutionResult]):
        self.answers = answers
        self.calls: list[tuple[str, float]] = []

    def __call__(self, sql: str, timeout_s: float) -> ExecutionResult:
        self.calls.append((sql, timeout_s))
        return self.answers.get(sql, ExecutionResult.failure("runtime", f"unknown query {sql}"))


def test_vote_picks_the_majority_result():
    run = FakeWarehouse({
        "SELECT a": rows(1, 2), "SELECT b": rows(2, 1), "SELECT c": rows(2.0, 1),  # same rows, any order and type
        "SELECT d": rows(9),
    })
    cands = [Candidate("SELECT d", -0.5), Candidate("SELECT a", -3.0), Candidate("SELECT b", -2.0), Candidate("SELECT c", -4.0)]
    choice = choose_candidate(cands, run)
    assert choice.sql == "SELECT b"  # the likeliest of the majority, not the likeliest overall
    assert (choice.candidates, choice.ran, choice.agreeing, choice.reason) == (4, 4, 3, None)


def test_ties_go_to_the_likelier_candidate_and_copies_count_once_run():
    run = FakeWarehouse({"SELECT a": rows(1), "SELECT b": rows(2)})
    choice = choose_candidate([Candidate("SELECT a", -2.0), Candidate("SELECT b", -1.0)], run)
    assert choice.sql == "SELECT b" and choice.agreeing == 1
    choice = choose_candidate([Candidate("SELECT a", -2.0), Candidate("SELECT  a ", -2.5), Candidate("SELECT b", -1.0)], run)
    assert choice.sql == "SELECT a" and choice.agreeing == 2
    assert [sql for sql, _ in run.calls[-2:]] == ["SELECT b", "SELECT a"]  # the same text runs once


def test_failures_and_empty_results_are_dropped():
    run = FakeWarehouse({"SELECT ok": rows(3), "SELECT empty": rows(), "SELECT bad": ExecutionResult.failure("syntax", "boom")})
    cands = [Candidate("SELECT bad", -0.1), Candidate("SELECT empty", -0.2), Candidate("SELECT empty", -0.3), Candidate("SELECT ok", -5.0)]
    choice = choose_candidate(cands, run)
    assert choice.sql == "SELECT ok" and choice.agreeing == 1
    assert choose_candidate(cands, run, drop_empty=False).sql == "SELECT empty"


def test_every_candidate_failing_gives_the_likeliest_with_a_reason():
    run = FakeWarehouse({"SELECT a": ExecutionResult.failure("unknown_column", "no column foo"),
                         "SELECT b": ExecutionResult.failure("syntax", "bad")})
    choice = choose_candidate([Candidate("SELECT b", -3.0), Candidate("SELECT a", -1.0)], run)
    assert choice.sql == "SELECT a" and choice.agreeing == 0 and choice.ran == 2
    assert "none of 2" in choice.reason and "unknown_column: no column foo" in choice.reason


def test_the_deadline_bounds_every_run_and_stops_later_ones():
    now = [0.0]

    def slow(sql: str, timeout_s: float) -> ExecutionResult:
        calls.append((sql, timeout_s, deadline - now[0]))
        now[0] += timeout_s  # the query runs until its time limit
        return ExecutionResult.failure("timeout", "query ran past its time limit")

    calls: list = []
    deadline = 1.5
    cands = [Candidate(f"SELECT {i}", -float(i)) for i in range(4)]
    choice = choose_candidate(cands, slow, timeout_s=1.0, deadline=deadline, clock=lambda: now[0])
    assert [c[0] for c in calls] == ["SELECT 0", "SELECT 1"]
    assert all(timeout <= left for _, timeout, left in calls)  # no run was given more than the time left
    assert [r.error_kind for r in choice.runs] == ["timeout", "timeout", "deadline", "deadline"]
    assert "none of 4" in choice.reason


def test_slow_candidate_is_cut_at_its_time_limit(tiny_warehouse):
    slow = "SELECT COUNT(*) FROM range(100000000) a, range(100000000) b"
    with Warehouse.open(tiny_warehouse, timeout_s=5) as warehouse:
        choice = choose_candidate(
            [Candidate(slow, -0.1), Candidate("SELECT COUNT(*) FROM stores", -1.0)],
            lambda sql, timeout: warehouse.execute(sql, timeout_s=timeout), timeout_s=0.5,
        )
    assert choice.sql == "SELECT COUNT(*) FROM stores"
    assert choice.runs[0].error_kind == "timeout"


def test_candidates_that_write_or_read_files_never_run(tiny_warehouse, tmp_path):
    target = tmp_path / "out.csv"
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    hostile = [
        f"COPY (SELECT 1) TO '{target}'",
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM '{secret}'",
    ]
    with Warehouse.open(tiny_warehouse, timeout_s=5) as warehouse:
        choice = choose_candidate(
            [Candidate(sql, -0.1 * i) for i, sql in enumerate(hostile)] + [Candidate("SELECT city FROM stores", -9.0)],
            lambda sql, timeout: warehouse.execute(sql, timeout_s=timeout),
        )
    assert choice.sql == "SELECT city FROM stores"
    assert not target.exists()
    for run in choice.runs[:3]:
        assert not run.ok and run.error_kind == "rejected", run


def test_result_key_ignores_order_names_and_number_types():
    a = ExecutionResult(ok=True, columns=["n", "c"], rows=[(2, "x"), (1.0, "y")])
    b = ExecutionResult(ok=True, columns=["total", "city"], rows=[(1, "y"), (2.0000001, "x")])
    assert result_key(a) == result_key(b)
    assert result_key(a) != result_key(ExecutionResult(ok=True, columns=["n", "c"], rows=[(2, "x")]))


def test_value_index_names_literals_a_column_does_not_hold(tiny_warehouse):
    from sqltune.schema import load_schema

    schema = load_schema(str(tiny_warehouse))
    with Warehouse.open(tiny_warehouse, timeout_s=5) as warehouse:
        index = ValueIndex.build(warehouse, schema)
    assert index.values[("stores", "city")] == {"Boston", "Denver", "Austin"}
    assert index.unknown_literals("SELECT * FROM stores WHERE city = 'Boston'") == []
    problems = index.unknown_literals("SELECT * FROM stores s JOIN regions r ON s.region_id = r.region_id "
                                      "WHERE s.city IN ('Boston', 'Bostn') AND r.region_name = 'longest'")
    assert len(problems) == 2 and "Bostn" in problems[0] and "longest" in problems[1]
    assert index.unknown_literals("SELECT * FROM sales WHERE CAST(amount AS VARCHAR) = 'x'") == []


def test_candidates_with_held_values_are_preferred(tiny_warehouse):
    from sqltune.schema import load_schema

    schema = load_schema(str(tiny_warehouse))
    with Warehouse.open(tiny_warehouse, timeout_s=5) as warehouse:
        index = ValueIndex.build(warehouse, schema)
        cands = [
            Candidate("SELECT COUNT(*) FROM stores WHERE city <> 'Bostn'", -0.1),  # runs, returns rows, wrong value
            Candidate("SELECT COUNT(*) FROM stores WHERE city <> 'Boston'", -2.0),
        ]
        execute = lambda sql, timeout: warehouse.execute(sql, timeout_s=timeout)  # noqa: E731
        assert choose_candidate(cands, execute).sql == cands[0].sql
        chosen = choose_candidate(cands, execute, unknown_values=index.unknown_literals)
    assert chosen.sql == cands[1].sql and chosen.runs[0].unknown_values


@pytest.fixture()
def tiny_schema(tiny_warehouse):
    from sqltune.schema import load_schema

    return load_schema(str(tiny_warehouse))


def test_sql_model_runs_candidates_when_a_warehouse_is_attached(tiny_model_dir, tiny_warehouse, tiny_schema):
    from sqltune.inference.generate import DecodeConfig, load_sql_model

    with Warehouse.open(tiny_warehouse, timeout_s=5) as warehouse:
        model = load_sql_model(str(tiny_model_dir), schema=tiny_schema, warehouse=warehouse,
                               decode=DecodeConfig(max_new_tokens=6, candidates=3, answer_prefix="SELECT", constrain_schema=True))
        assert model.guided and model.setup()["execution_guided_active"]
        (answer,) = model.generate(["How many stores are there?"])
        assert answer.candidates == 3 and 1 <= answer.candidates_ran <= 3
        assert answer.sql.startswith("SELECT")
        if answer.candidates_agreeing == 0:
            assert answer.choice_reason  # a random model's SQL rarely runs: the reason says so
        served = model.answer("How many stores are there?", deadline=None)
        assert served.candidates == 3
    greedy = load_sql_model(str(tiny_model_dir), schema=tiny_schema, decode=DecodeConfig.greedy(max_new_tokens=6))
    assert not greedy.guided and greedy.generate(["How many stores are there?"])[0].candidates == 1
