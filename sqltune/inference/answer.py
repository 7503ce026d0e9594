"""What decoding hands downstream: a question's `Answer` (the chosen SQL, its candidates' runs,
why the choice is doubtful) and `extract_sql`, the SQL statement in a model's raw text.

Apart from `generate.py` so that the model (`sqltune.inference.generate`), the choice among
candidates (`sqltune.inference.answer_choice`), serving and evaluation share them without
importing one another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    """A question's answer, from decoding to the response and the report: the chosen SQL, the
    result its run already produced (when candidates ran), what happened to every candidate, and
    the chosen SQL's parse, so nothing downstream runs the query again or parses it again."""

    question: str
    sql: str
    raw_output: str
    latency_s: float
    candidates: int = 1  # generated
    candidates_ran: int = 0  # executed in the sandbox
    candidates_agreeing: int = 0  # returned the chosen result
    choice_reason: str | None = None  # why the choice is doubtful (every candidate failed, ...)
    topped_up: int = 0  # candidates sampled beyond `DecodeConfig.candidates` because none ran (or none returned rows)
    constrain_s_per_step: float | None = None  # schema-constraint time per generated token and row
    result: Any = field(default=None, repr=False)  # the chosen SQL's ExecutionResult from its candidate run (None: it did not run)
    runs: list[Any] = field(default_factory=list, repr=False)  # every distinct candidate's CandidateRun: its verdict and rows
    parsed: Any = field(default=None, repr=False)  # the chosen SQL's one parse (ParsedSql) when a check read it, else None

    @property
    def tree(self) -> Any:
        """The chosen SQL's sqlglot tree, from the parse decoding made (None: not parsed, or it does
        not parse). Shared with the checks that read it: copy it before changing it."""
        return None if self.parsed is None else self.parsed.tree


_FENCE = re.compile(r"```(?:sql)?\s*(.*?)(?:```|$)", re.S | re.I)
_START = re.compile(r"\b(SELECT|WITH)\b", re.I)


def extract_sql(text: str) -> str:
    """The first SQL statement in a model answer: code fences, leading prose and trailing text removed."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    match = _START.search(text)
    if match is None:
        return text.strip()
    text = text[match.start():]
    end = text.find(";")
    if end >= 0:
        text = text[:end]
    return text.strip()
