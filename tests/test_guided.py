"""Execution-guided choice: majority vote over result sets, ties by likelihood, clear reasons when
every candidate fails, nothing outside the sandbox, the request's time limit; the value index."""

from __future__ import annotations

import pytest

from sqltune.inference.guided import Candidate, choose_candidate
from sqltune.execution.execute import ExecutionResult, Warehouse
from sqltune.execution.results import result_key
from sqltune.execution.values import ValueIndex


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


def test_value_repair_takes_the_held_value_meant(tiny_warehouse):
    from sqltune.schema import load_schema

    with Warehouse.open(tiny_warehouse, timeout_s=5) as warehouse:
        index = ValueIndex.build(warehouse, load_schema(str(tiny_warehouse)))
    # case, then spelling
    assert "city = 'Boston'" in index.repair("SELECT COUNT(*) FROM stores WHERE city = 'boston'")
    assert "'Boston'" in index.repair("SELECT * FROM stores AS s WHERE s.city IN ('Denver', 'Bostn')")
    # a word that is no value: replaced only by a value the question names
    longest = "SELECT * FROM stores AS s JOIN regions AS r ON s.region_id = r.region_id WHERE r.region_name = 'longest'"
    assert index.repair(longest, "Which stores sold the longest?") is None
    assert "r.region_name = 'South'" in index.repair(longest, "Which stores of the south region sold the longest?")
    # nothing to repair: held values, columns the index does not hold, no literal
    assert index.repair("SELECT * FROM stores WHERE city = 'Boston'") is None
    assert index.repair("SELECT * FROM sales WHERE CAST(amount AS VARCHAR) = 'x'") is None
    assert index.repair("SELECT COUNT(*) FROM stores") is None


def test_sql_model_repairs_values_of_an_empty_choice(tiny_model_dir, tiny_warehouse, tiny_schema, monkeypatch):
    """Every candidate compares city with a spelling it does not hold and returns nothing: the
    repaired candidate runs in the warehouse and wins; with repair off the empty answer stays."""
    import dataclasses

    from sqltune.inference.generate import DecodeConfig, load_sql_model

    wrong = "SELECT COUNT(*) FROM stores WHERE city = 'BOSTON'"
    with Warehouse.open(tiny_warehouse, timeout_s=5) as warehouse:
        model = load_sql_model(str(tiny_model_dir), schema=tiny_schema, warehouse=warehouse,
                               decode=DecodeConfig(candidates=2, answer_prefix="", topup_candidates=0))
        ran = []
        real_run = model._run_candidate
        monkeypatch.setattr(model, "_run_candidate", lambda sql, t: ran.append(sql) or real_run(sql, t))
        monkeypatch.setattr(model, "_decode", lambda texts, shown, *, n, **kw: [[(wrong, -1.0)] * n for _ in texts])
        (answer,) = model.generate(["How many stores are in Boston?"])
        assert answer.sql == "SELECT COUNT(*) FROM stores WHERE city = 'Boston'"
        assert "replaced" in answer.choice_reason and wrong in answer.choice_reason  # the user sees what the model wrote
        assert ran == [wrong, answer.sql]  # each distinct query once, both through the warehouse
        model.decode = dataclasses.replace(model.decode, repair_values=False)
        (answer,) = model.generate(["How many stores are in Boston?"])
    assert answer.sql == wrong and answer.choice_reason


@pytest.fixture()
def tiny_schema(tiny_warehouse):
    from sqltune.schema import load_schema

    return load_schema(str(tiny_warehouse))


def test_sql_model_runs_candidates_when_a_warehouse_is_attached(tiny_model_dir, tiny_warehouse, tiny_schema, monkeypatch):
    from sqltune.inference.generate import DecodeConfig, SqlModel, load_sql_model

    # a random model's sampled rows rarely end within 6 tokens, and unfinished ones are dropped:
    # here every row counts as finished, so that all of them run
    monkeypatch.setattr(SqlModel, "_ended", lambda self, ids, text: True)

    with Warehouse.open(tiny_warehouse, timeout_s=5) as warehouse:
        model = load_sql_model(str(tiny_model_dir), schema=tiny_schema, warehouse=warehouse,
                               decode=DecodeConfig(max_new_tokens=6, candidates=3, answer_prefix="SELECT", constrain_schema=True, check_names=False,
                                                   topup_candidates=0, greedy_first=False, check_time_ratio=0.0))
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


# -- the whole-query name check before running, and the top-up of candidates ----------------------------
def test_candidates_naming_unknown_columns_never_run():
    run = FakeWarehouse({"SELECT good": rows(1), "SELECT bad": rows(2)})
    check = lambda parsed: "unknown column bad" if "bad" in parsed.sql else None  # noqa: E731 - a check reads the parse
    choice = choose_candidate([Candidate("SELECT bad", -0.1), Candidate("SELECT good", -3.0)], run, check_names=check)
    assert choice.sql == "SELECT good"
    assert [sql for sql, _ in run.calls] == ["SELECT good"]
    assert choice.runs[0].error_kind == "unknown_name" and not choice.runs[0].ran
    choice = choose_candidate([Candidate("SELECT bad", -0.1)], run, check_names=check)
    assert not choice.succeeded and "unknown column bad" in choice.reason


def test_results_run_before_are_reused():
    run = FakeWarehouse({"SELECT a": rows(1), "SELECT b": rows(1)})
    before: dict = {}
    choose_candidate([Candidate("SELECT a", -1.0)], run, ran_before=before)
    choice = choose_candidate([Candidate("SELECT a", -1.0), Candidate("SELECT b", -2.0)], run, ran_before=before)
    assert [sql for sql, _ in run.calls] == ["SELECT a", "SELECT b"]  # a ran once
    assert choice.agreeing == 2 and choice.ran == 2


class _Clock:
    """Stands in for `time` in sqltune.inference.generate and .answer_choice: decoding moves it forward."""

    def __init__(self):
        import time

        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@pytest.fixture()
def scripted_model(tiny_model_dir, tiny_schema, monkeypatch):
    """A SqlModel whose decoding and candidate runs are scripted: `script(prompt_index, call, sample)`
    gives the SQL texts of one decode call; a candidate runs when its SQL contains 'good'
    (returns rows) or 'empty' (returns none)."""
    from sqltune.inference import answer_choice as answer_choice_module
    from sqltune.inference import generate as generate_module
    from sqltune.inference.generate import DecodeConfig, load_sql_model

    model = load_sql_model(str(tiny_model_dir), schema=tiny_schema, warehouse=object(),
                           decode=DecodeConfig(candidates=3, ground_values=False, answer_prefix="", topup_candidates=0, check_names=False,
                                                     topup_when_empty=False, greedy_first=False, check_time_ratio=0.0))
    clock = _Clock()
    monkeypatch.setattr(generate_module, "time", clock)
    monkeypatch.setattr(answer_choice_module, "time", clock)
    model.decode_calls = []
    model.script = lambda i, call, sample: ["SELECT bad"]
    model.decode_seconds = 0.0
    model.greedy_seconds = 0.0

    def fake_decode(texts, shown, *, n, sample, deadline, stats, beams=False, keep_prefill=False):
        model.decode_calls.append({"prompts": len(texts), "n": n, "sample": sample, "beams": beams, "deadline": deadline})
        call = len(model.decode_calls) - 1
        out = []
        for p in range(len(texts)):
            script = model.script(p, call, sample)
            out.append([(script[j % len(script)], -float(j + call)) for j in range(n)])
        clock.now += model.decode_seconds if sample else model.greedy_seconds
        return out

    def fake_run(sql, timeout_s):
        if "good" in sql:
            return rows(1)
        if "empty" in sql:
            return rows()
        return ExecutionResult.failure("runtime", "no")

    monkeypatch.setattr(model, "_decode", fake_decode)
    monkeypatch.setattr(model, "_run_candidate", fake_run)
    model.clock = clock
    return model


def test_no_top_up_when_a_candidate_runs(scripted_model):
    import dataclasses

    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_candidates=9)
    scripted_model.script = lambda i, call, sample: ["SELECT good"]
    (answer,) = scripted_model.generate(["q"])
    assert len(scripted_model.decode_calls) == 2  # greedy, then the sampled candidates: nothing more
    assert answer.topped_up == 0 and answer.candidates == 3


def test_top_up_draws_until_one_runs_and_only_for_questions_that_need_it(scripted_model):
    import dataclasses

    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_candidates=9)
    # question 0 never has a runnable candidate until the second top-up round; question 1 runs at once
    scripted_model.script = lambda i, call, sample: ["SELECT good"] if i == 1 or call >= 3 else ["SELECT bad"]
    first, second = scripted_model.generate(["q0", "q1"])
    top_ups = scripted_model.decode_calls[2:]
    assert [c["prompts"] for c in top_ups] == [1, 1] and all(c["sample"] and c["n"] == 3 for c in top_ups)
    assert (first.topped_up, first.candidates, first.sql) == (6, 9, "SELECT good")
    assert (second.topped_up, second.candidates) == (0, 3)


def test_top_up_stops_at_its_bound(scripted_model):
    import dataclasses

    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_candidates=5)
    (answer,) = scripted_model.generate(["q"])
    assert [c["n"] for c in scripted_model.decode_calls[2:]] == [3, 2]
    assert answer.topped_up == 5 and answer.candidates == 8 and answer.choice_reason
    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_candidates=0)
    scripted_model.decode_calls.clear()
    assert scripted_model.generate(["q"])[0].topped_up == 0 and len(scripted_model.decode_calls) == 2


def test_top_up_ends_when_a_round_finishes_no_candidate(scripted_model):
    """A round that finishes no candidate in the time left (decoding drops cut ones) ends the top-up."""
    import dataclasses

    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_candidates=9)
    real = scripted_model._decode

    def nothing_finishes_when_topping_up(texts, shown, **kwargs):
        out = real(texts, shown, **kwargs)
        return [[] for _ in out] if len(scripted_model.decode_calls) > 2 else out

    scripted_model._decode = nothing_finishes_when_topping_up
    (answer,) = scripted_model.generate(["q"])
    assert len(scripted_model.decode_calls) == 3 and answer.candidates == 3 and answer.choice_reason


def test_top_up_on_empty_results_only_when_asked(scripted_model):
    import dataclasses

    scripted_model.script = lambda i, call, sample: ["SELECT empty"] if call < 2 else ["SELECT good"]
    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_candidates=6)
    assert scripted_model.generate(["q"])[0].sql == "SELECT empty"
    scripted_model.decode_calls.clear()
    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_when_empty=True)
    answer = scripted_model.generate(["q"])[0]
    assert answer.sql == "SELECT good" and answer.topped_up == 3


def test_top_up_keeps_the_request_time_limit(scripted_model):
    import dataclasses

    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_candidates=30)
    scripted_model.decode_seconds = 4.0  # each sampling call takes 4 s of the request's 10
    deadline = scripted_model.clock.now + 10.0
    answer = scripted_model.answer("q", deadline=deadline)
    samples = [c for c in scripted_model.decode_calls if c["sample"]]
    assert len(samples) == 3  # the candidates (0-4 s), one top-up (4-8 s), one more started at 8 s; none after 12 s
    assert all(c["deadline"] == deadline for c in scripted_model.decode_calls)
    assert answer.topped_up == 6 and answer.choice_reason


@pytest.mark.parametrize("greedy,doubtful", [
    ("SELECT good", False), ("SELECT bad", True), ("SELECT empty", True), ("SELECT good unknown_name", True)])
def test_greedy_first_samples_only_when_the_greedy_answer_is_doubtful(scripted_model, greedy, doubtful):
    """Greedy first (the default): an answer that runs and returns rows is taken as it is, with one
    decode call and one query; one that fails, names what the schema lacks or returns nothing draws
    the other candidates, which run and are voted on with it (its run reused)."""
    import dataclasses

    scripted_model.decode = dataclasses.replace(scripted_model.decode, greedy_first=True, check_names=True)
    scripted_model.name_check = lambda parsed: "unknown column unknown_name" if "unknown_name" in parsed.sql else None
    ran = []
    run = scripted_model._run_candidate
    scripted_model._run_candidate = lambda sql, t: ran.append(sql) or run(sql, t)
    scripted_model.script = lambda i, call, sample: ["SELECT good sampled"] if sample else [greedy]
    (answer,) = scripted_model.generate(["q"])
    samples = [c for c in scripted_model.decode_calls if c["sample"]]
    if not doubtful:
        assert answer.sql == greedy and answer.candidates == 1 and not samples
        assert ran == [greedy]
    else:
        assert [c["n"] for c in samples] == [2]  # the rest of the 3 candidates, in one call
        assert answer.sql == "SELECT good sampled" and answer.candidates == 3
        assert ran.count("SELECT good sampled") == 1 and all(ran.count(sql) <= 1 for sql in ran)  # nothing runs twice


def test_greedy_first_draws_candidates_only_for_the_doubtful_questions_of_a_batch(scripted_model):
    import dataclasses

    scripted_model.decode = dataclasses.replace(scripted_model.decode, greedy_first=True)
    scripted_model.script = lambda i, call, sample: ["SELECT good"] if sample or i == 0 else ["SELECT bad"]
    first, second = scripted_model.generate(["q0", "q1"])
    samples = [c for c in scripted_model.decode_calls if c["sample"]]
    assert [c["prompts"] for c in samples] == [1]
    assert (first.candidates, second.candidates) == (1, 3) and second.sql == "SELECT good"


def test_constrained_answers_failing_the_name_check_take_the_best_passing_beam(scripted_model):
    import dataclasses

    scripted_model.warehouse = None  # not execution-guided: nothing runs
    scripted_model.decode = dataclasses.replace(scripted_model.decode, check_names=True, check_beams=3)
    beams = ["SELECT colour FROM stores", "SELECT s.city FROM stores s", "SELECT city FROM stores"]
    scripted_model.script = lambda i, call, sample: beams if call else (["SELECT amount FROM stores"] if i == 0 else ["SELECT city FROM stores"])
    first, second = scripted_model.generate(["q0", "q1"])
    assert [c["beams"] for c in scripted_model.decode_calls] == [False, True]
    assert scripted_model.decode_calls[1]["prompts"] == 1 and scripted_model.decode_calls[1]["n"] == 3
    assert first.sql == "SELECT s.city FROM stores s" and first.candidates == 4 and first.choice_reason is None
    assert second.sql == "SELECT city FROM stores" and second.candidates == 1
    scripted_model.decode_calls.clear()
    scripted_model.script = lambda i, call, sample: ["SELECT amount FROM stores"]
    (answer,) = scripted_model.generate(["q"])
    assert answer.sql == "SELECT amount FROM stores" and "amount" in answer.choice_reason


def test_beams_come_best_first(tiny_model_dir, tiny_schema):
    from sqltune.inference.generate import DecodeConfig, load_sql_model

    model = load_sql_model(str(tiny_model_dir), schema=tiny_schema,
                           decode=DecodeConfig(max_new_tokens=6, answer_prefix="SELECT", constrain_schema=True))
    prompts = [model.prompt_for("How many stores are there?"), model.prompt_for("List the cities.")]
    import torch

    with torch.inference_mode():
        out = model._decode(prompts, [tiny_schema] * 2, n=3, sample=False, beams=True, deadline=None, stats={"seconds": 0.0, "rows": 0})
    assert [len(found) for found in out] == [3, 3]
    for found in out:
        scores = [score for _, score in found]
        assert scores == sorted(scores, reverse=True) and all(score < 0 for score in scores)


def test_the_score_records_the_candidates_drawn(scripted_model, tiny_warehouse):
    import dataclasses

    from sqltune.data.pairs import Pair
    from sqltune.evaluation.scoring import evaluate_model

    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_candidates=2)
    scripted_model.script = lambda i, call, sample: ["SELECT good"] if i == 0 else ["SELECT bad"]
    pairs = [Pair("a", "How many stores are there?", "SELECT COUNT(*) FROM stores"),
             Pair("b", "How many regions exist?", "SELECT COUNT(*) FROM regions")]
    with Warehouse.open(tiny_warehouse, timeout_s=5) as warehouse:
        report = evaluate_model(scripted_model, pairs, warehouse)
    assert report.setup["decode"]["topup_candidates"] == 2
    assert report.setup["decode_drawn"] == {"candidates": 3 + 5, "topped_up": 2, "questions_topped_up": 1}


def test_continuations_from_the_greedy_prefill_equal_those_that_read_the_prompt_again(tiny_model_dir, tiny_schema):
    """The sampled candidates start from the greedy pass's prompt cache (`Prefill`): a greedy
    continuation taken from it is the greedy answer itself, for prompts of different lengths in one
    left-padded batch, and a subset of the batch takes its own rows."""
    from sqltune.inference.generate import DecodeConfig, load_sql_model

    model = load_sql_model(str(tiny_model_dir), schema=tiny_schema,
                           decode=DecodeConfig.greedy(max_new_tokens=8, answer_prefix="SELECT"))
    questions = ["How many stores are there?", "What is the total amount of sales in each city, largest first?"]
    prompts = [model.prompt_for(q) for q in questions]
    shown = [model._prompt(q, None)[1] for q in questions]
    stats = {"seconds": 0.0, "rows": 0}
    import torch

    with torch.inference_mode():
        model._limit = 8
        plain = model._decode(prompts, shown, n=1, sample=False, deadline=None, stats=stats, keep_prefill=True)
        assert model._prefill is not None and model._prefill.holds(prompts)
        again = model._decode(prompts[::-1], shown[::-1], n=2, sample=False, deadline=None, stats=stats)
        alone = model._decode(prompts[1:], shown[1:], n=1, sample=False, deadline=None, stats=stats)
        model._prefill = None
        fresh = model._decode(prompts[1:], shown[1:], n=1, sample=False, deadline=None, stats=stats)
    assert [text for text, _ in again[0]] == [plain[1][0][0]] * 2
    assert [text for text, _ in again[1]] == [plain[0][0][0]] * 2
    assert alone[0][0][0] == plain[1][0][0] == fresh[0][0][0]


def test_one_questions_sampled_candidates_draft_from_the_prompt_one_row_at_a_time(tiny_model_dir, tiny_schema, monkeypatch):
    """Prompt lookup needs a single row: one question's sampled candidates are decoded one at a time,
    each from a copy of the greedy pass's prefill and drafting from the prompt; several questions'
    candidates stay one batch, which drafts nothing."""
    import torch

    from sqltune.inference.decoding_state import cache_argument
    from sqltune.inference.generate import DecodeConfig, load_sql_model

    model = load_sql_model(str(tiny_model_dir), schema=tiny_schema,
                           decode=DecodeConfig.greedy(max_new_tokens=8, answer_prefix="SELECT", prompt_lookup=10))
    questions = ["How many stores are there?", "What is the total amount of sales in each city, largest first?"]
    prompts = [model.prompt_for(q) for q in questions]
    shown = [model._prompt(q, None)[1] for q in questions]
    calls = []
    real = type(model.model).generate

    def counting(self, *args, **kwargs):
        calls.append((kwargs["input_ids"].shape[0], kwargs.get("num_return_sequences"), kwargs.get("do_sample"),
                      kwargs.get("prompt_lookup_num_tokens"), cache_argument() in kwargs))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(model.model), "generate", counting)
    stats = {"seconds": 0.0, "rows": 0}
    with torch.inference_mode():
        model._limit = 8
        model._decode(prompts[:1], shown[:1], n=1, sample=False, deadline=None, stats=stats, keep_prefill=True)
        one = model._decode(prompts[:1], shown[:1], n=3, sample=True, deadline=None, stats=stats)
        both = model._decode(prompts, shown, n=2, sample=True, deadline=None, stats=stats)
    assert calls[0] == (1, 1, False, 10, False)
    assert calls[1:4] == [(1, 1, True, 10, True)] * 3  # one row each, from the prefill, drafting
    assert calls[4:] == [(2, 2, True, None, False)]  # two questions: one batch of 2 x 2 rows
    assert len(one) == 1 and len(both) == 2  # per question (a random model's rows rarely finish: those are dropped)


def test_a_sampled_row_cut_before_its_end_is_no_candidate(tiny_model_dir, tiny_schema):
    """A sampled row ends at the end of turn, after padding (it ended before its batch) or at a stop
    string; one cut by the token limit or the deadline (a bare "SELECT") is dropped; and one question's
    rows are not begun when the time left is less than a row took."""
    import time

    import torch

    from sqltune.inference.generate import DecodeConfig, load_sql_model

    model = load_sql_model(str(tiny_model_dir), schema=tiny_schema, decode=DecodeConfig.greedy(max_new_tokens=8, prompt_lookup=10))
    eos, pad = model.tokenizer.eos_token_id, model.tokenizer.pad_token_id
    assert model._ended([5, 6, eos], "x") and model._ended([5, pad, pad], "x")
    assert model._ended([5, 6], "SELECT 1;") and not model._ended([5, 6], "SELECT a, b FROM")
    prompt = model.prompt_for("How many stores are there?")
    shown = [model._prompt("How many stores are there?", None)[1]]
    with torch.inference_mode():
        model._limit = 1  # one token: no row of a random model ends there unless it ends the answer
        cut = model._decode([prompt] * 2, shown * 2, n=3, sample=True, deadline=None, stats={"seconds": 0.0, "rows": 0})
        model._row_s = 5.0  # a row took 5 s; 1 s is left: none is begun
        none = model._decode([prompt], shown, n=3, sample=True, deadline=time.monotonic() + 1, stats={"seconds": 0.0, "rows": 0})
    assert none == [[]]
    for found in cut:
        assert all(";" in text or not text.strip() for text, _ in found), found  # ended: a stop string, or nothing after an end


def test_sampling_stops_at_a_multiple_of_the_greedy_pass(scripted_model):
    """An adapter whose answers all fail: with check_time_ratio 2 and a greedy pass of 3 s, sampling
    may go on for 6 s more: the candidates (4 s) and one top-up round started at 4 s, none after;
    the greedy answer still ran. 0: only the request's deadline bounds it."""
    import dataclasses

    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_candidates=30, check_time_ratio=2.0)
    scripted_model.greedy_seconds, scripted_model.decode_seconds = 3.0, 4.0
    ran = []
    run = scripted_model._run_candidate
    scripted_model._run_candidate = lambda sql, t: ran.append(sql) or run(sql, t)
    (answer,) = scripted_model.generate(["q"])
    samples = [c for c in scripted_model.decode_calls if c["sample"]]
    assert len(samples) == 2 and answer.topped_up == 3 and answer.choice_reason
    assert ran and ran[0] == "SELECT bad"
    scripted_model.decode_calls.clear()
    scripted_model.decode = dataclasses.replace(scripted_model.decode, topup_candidates=9, check_time_ratio=0.0)
    scripted_model.generate(["q"])
    assert len([c for c in scripted_model.decode_calls if c["sample"]]) == 4  # the candidates and 3 top-up rounds


# -- each SQL text of an answer is parsed once ----------------------------------------------------------
@pytest.fixture()
def parse_counts(monkeypatch):
    """A counting parser: every sqlglot parse (parse, parse_one and the guard's alike go through
    `Dialect.parse`), counted per SQL text."""
    from collections import Counter

    from sqlglot.dialects.dialect import Dialect

    counts: Counter = Counter()
    real = Dialect.parse

    def counting(self, sql, **opts):
        counts[sql] += 1
        return real(self, sql, **opts)

    monkeypatch.setattr(Dialect, "parse", counting)
    return counts


@pytest.mark.parametrize("case", ["greedy passes", "names an unknown column", "value repaired", "beams"])
def test_each_sql_text_is_parsed_once_per_answer(scripted_model, tiny_schema, parse_counts, case):
    """The name check, the value check and value repair read one parse of each SQL text, through
    every round of the answer; the answer carries the chosen SQL's tree; a repaired query's tree is
    the repaired copy (its text is not parsed, the original's tree is not changed); the guard's
    verdict from that tree parses nothing."""
    import dataclasses

    scripted_model._values = ValueIndex({("stores", "city"): frozenset({"Boston", "Denver", "Austin"})}, "duckdb",
                                        {"stores": frozenset({"store_id", "city", "region_id"})})
    scripted_model.decode = dataclasses.replace(scripted_model.decode, greedy_first=True, check_names=True,
                                                ground_values=True, repair_values=True)
    passing = "SELECT city AS good FROM stores WHERE city = 'Boston'"
    sampled = "SELECT city AS good FROM stores WHERE city = 'Denver'"
    unknown = "SELECT colour AS good FROM stores"
    misspelt = "SELECT COUNT(*) AS good FROM stores WHERE city = 'boston'"
    repaired = "SELECT COUNT(*) AS good FROM stores WHERE city = 'Boston'"
    greedy, chosen, read = {
        "greedy passes": (passing, passing, [passing]),
        "names an unknown column": (unknown, sampled, [unknown, sampled]),
        "value repaired": (misspelt, repaired, [misspelt]),
        "beams": (unknown, "SELECT s.city FROM stores AS s", [unknown, "SELECT colour FROM stores AS s", "SELECT s.city FROM stores AS s"]),
    }[case]
    if case == "beams":  # nothing runs: an answer failing the name check is decoded again with beams
        scripted_model.warehouse = None
        beams = [unknown, "SELECT colour FROM stores AS s", "SELECT s.city FROM stores AS s"]  # the first is the greedy answer again
        scripted_model.script = lambda i, call, sample: beams if call else [greedy]
    else:
        scripted_model.script = lambda i, call, sample: [sampled] if sample else [greedy]
    parse_counts.clear()
    (answer,) = scripted_model.generate(["q"])
    assert answer.sql == chosen
    asked = {sql: n for sql, n in parse_counts.items() if sql in read + [chosen]}
    assert asked == {sql: 1 for sql in read}, asked  # each text once; a repaired text not at all
    assert set(parse_counts.values()) == {1}, parse_counts  # nothing else read twice either
    assert answer.tree is not None and answer.parsed.sql == chosen and answer.tree.sql(dialect="duckdb") == chosen
    if case == "value repaired":
        assert "replaced" in answer.choice_reason
        first = next(run for run in answer.runs if run.sql == misspelt)
        assert first.parsed.tree.sql(dialect="duckdb") == misspelt  # the tree repair read stays as it was parsed
    from sqltune.execution.guard import check_sql
    from sqltune.execution.parsed import guard_verdict

    parse_counts.clear()
    assert guard_verdict(answer.parsed) == check_sql(chosen) and guard_verdict(answer.parsed).ok
    assert parse_counts[chosen] == 1  # check_sql's own parse: the verdict from the tree parsed nothing
