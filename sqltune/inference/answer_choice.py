"""Each question's `Answer` from the candidates decoding drew for it, for one batch of questions.

`guided_answers` (a warehouse attached): the candidates run and are voted on
(`sqltune.inference.guided`), doubtful questions draw their sampled candidates (greedy first) and
further top-up rounds, and a doubtful choice brings in candidates with values the warehouse holds.
`checked_answers` (nothing run): an answer that names something the schema lacks is decoded again
with beam search. Apart from `generate.py`, which owns the model and decoding, so that the rounds
of drawing, running and choosing read as one piece. `model` is the `SqlModel` answering: its
`decode` settings, and its `_decode`, `_candidates`, `_run_candidate`, `name_check` and value
index are what these functions call back (not imported here: generate.py imports this module).

Each question's SQL texts are parsed once for its whole answer (`ParseOnce`): the name check, the
value check and value repair read that parse, through every round, and the `Answer` carries the
chosen SQL's. A repaired query's parse is the repaired tree itself. The sandbox worker that runs a
candidate checks its text again in its own process: that is the security boundary.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqltune.execution.parsed import ParseOnce
from sqltune.inference.answer import Answer, extract_sql
from sqltune.inference.guided import Candidate, choose_candidate
from sqltune.schema.model import Schema


def checked_answers(model: Any, questions: Sequence[str], prompts: Sequence[str], shown: Sequence[Schema], cands: list[list[Any]],
                    *, deadline: float | None, stats: dict[str, float]) -> list[Answer]:
    """One answer per question, nothing run. With `check_names`, an answer that names a table or
    column the schema lacks is decoded again with beam search; the best-scoring beam that passes wins."""
    decode = model.decode
    drawn = [len(c) for c in cands]
    reasons: list[str | None] = [None] * len(cands)
    parses = [ParseOnce(model.dialect) for _ in cands]  # each question's texts, read once
    if decode.check_names:
        check = model.name_check
        reasons = [check(parse(c[0].sql)) for c, parse in zip(cands, parses)]
        failing = [i for i, reason in enumerate(reasons) if reason]
        if failing and (deadline is None or time.monotonic() < deadline):
            beams = model._decode([prompts[i] for i in failing], [shown[i] for i in failing], n=decode.check_beams,
                                  sample=False, beams=True, deadline=deadline, stats=stats)
            for i, found in zip(failing, beams):
                drawn[i] += len(found)
                passing = next((c for c in model._candidates(found) if c.sql and not check(parses[i](c.sql))), None)
                if passing is not None:
                    cands[i], reasons[i] = [passing], None
                else:
                    reasons[i] = f"every one of {len(found)} beams names something the schema lacks; the answer: {reasons[i]}"
    return [Answer(q, c[0].sql, c[0].raw_output, 0.0, candidates=n, choice_reason=reason, parsed=parse.get(c[0].sql))
            for q, c, n, reason, parse in zip(questions, cands, drawn, reasons, parses)]


def guided_answers(model: Any, questions: Sequence[str], prompts: Sequence[str], shown: Sequence[Schema], cands: list[list[Any]],
                   *, deadline: float | None, stats: dict[str, float], sampling_deadline: float | None = None) -> list[Answer]:
    """Candidates run and voted on; while a question has none that runs (or, with
    `topup_when_empty`, none that returns rows), more are sampled, up to `topup_candidates`.
    With `repair_values`, a doubtful choice (empty, or comparing a column with a string it does
    not hold) brings in those candidates with the held values (`ValueIndex.repair`), run and
    voted on with the rest."""
    decode = model.decode
    sampling = deadline if sampling_deadline is None else sampling_deadline  # when drawing more candidates stops
    check = model.name_check if decode.check_names else None
    unknown_values = model._value_check()
    ran_before: list[dict[str, Any]] = [{} for _ in cands]
    parses = [ParseOnce(model.dialect) for _ in cands]  # each question's texts, read once for all its rounds

    repaired: list[set[str]] = [set() for _ in cands]  # candidates whose values were already repaired
    fixes: list[list[Any]] = [[] for _ in cands]  # their repaired versions (not drawn from the model)

    def vote(i: int) -> Any:
        return choose_candidate(cands[i] + fixes[i], model._run_candidate, timeout_s=decode.candidate_timeout_s,
                                deadline=deadline, drop_empty=decode.drop_empty, unknown_values=unknown_values,
                                check_names=check, ran_before=ran_before[i], parse=parses[i])

    def choose(i: int) -> Any:
        choice = vote(i)
        if not (decode.repair_values and unknown_values is not None and choice.succeeded and choice.reason):
            return choice
        # the choice is empty or compares a column with a value it lacks: try the values held
        found = []
        for run in choice.runs:
            if run.ok and run.unknown_values and run.sql not in repaired[i]:
                repaired[i].add(run.sql)
                # the repaired text's parse is the repaired copy of this run's tree: not read again
                fixed = model._values.repaired(run.parsed or parses[i](run.sql), questions[i])
                if fixed is not None:
                    parses[i].add(fixed)
                    raw = next((c.raw_output for c in cands[i] if c.sql.strip() == run.sql), "")
                    found.extend(Candidate(fixed.sql, run.loglik, raw) for _ in range(run.copies))
        if not found:
            return choice
        fixes[i].extend(found)
        return vote(i)

    choices = [choose(i) for i in range(len(cands))]
    if decode.greedy_first:
        # only the greedy answer was drawn: a question whose answer ran, returned rows and holds
        # its values is done; the others draw the rest of their candidates, all in one batch
        doubtful = [i for i, choice in enumerate(choices) if not choice.succeeded or choice.reason]
        if doubtful and (sampling is None or time.monotonic() < sampling):
            more = model._decode([prompts[i] for i in doubtful], [shown[i] for i in doubtful], n=decode.candidates - 1,
                                 sample=True, deadline=sampling, stats=stats)
            for i, found in zip(doubtful, more):
                cands[i] = cands[i] + model._candidates(found)
                choices[i] = choose(i)
    topped = [0] * len(cands)

    def wanting(i: int) -> bool:
        choice = choices[i]
        return topped[i] < decode.topup_candidates and (not choice.succeeded or decode.topup_when_empty and choice.empty)

    need = [i for i in range(len(cands)) if wanting(i)]
    while need and (sampling is None or time.monotonic() < sampling):
        n = min(decode.candidates, decode.topup_candidates - topped[need[0]])  # every question in `need` drew as many
        more = model._decode([prompts[i] for i in need], [shown[i] for i in need], n=n, sample=True, deadline=sampling, stats=stats)
        if not any(more):
            break  # no candidate finished in the time left: another round would not either
        for i, found in zip(need, more):
            cands[i] = cands[i] + model._candidates(found)
            topped[i] += n
            choices[i] = choose(i)
        need = [i for i in need if wanting(i)]
    out = []
    for question, cand, fixed, choice, extra, parse in zip(questions, cands, fixes, choices, topped, parses):
        raw = next((c.raw_output for c in cand + fixed if c.sql.strip() == choice.sql), cand[0].raw_output)
        reason = choice.reason
        if reason is None and any(c.sql.strip() == choice.sql for c in fixed):
            # say so: the model did not write this query as shown
            reason = "string values replaced by ones the compared columns hold; the model wrote: " + extract_sql(raw)
        out.append(Answer(question, choice.sql, raw, 0.0, candidates=len(cand), candidates_ran=choice.ran,
                          candidates_agreeing=choice.agreeing, choice_reason=reason, topped_up=extra,
                          result=next((r.result for r in choice.runs if r.sql == choice.sql), None), runs=choice.runs,
                          parsed=parse.get(choice.sql)))
    return out
