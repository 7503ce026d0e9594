"""A judge of answers for training: predicted SQL against each pair's gold queries, by execution.

Training keeps the adapter whose held-out answers are right most often (`select_by_execution`,
sqltune/training/selection.py); how an answer is judged belongs to evaluation, so the caller of
`train()` passes this judge in. It applies the same match rules as `sqltune eval`, and runs each
gold query once per run (gold results are cached), each prediction once per check.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from sqltune.evaluation.compare import MatchRules, execution_match

if TYPE_CHECKING:
    from sqltune.training.config import TrainConfig


class ExecutionJudge:
    """Counts right and executable predictions on an open `Warehouse` (guarded, sandboxed)."""

    def __init__(self, warehouse: Any, rules: MatchRules = MatchRules(), dialect: str | None = None) -> None:
        self.warehouse = warehouse
        self.rules = rules
        self.dialect = dialect or getattr(warehouse, "dialect", None) or "duckdb"
        self._gold: dict[str, Any] = {}

    def _gold_result(self, sql: str) -> Any:
        if sql not in self._gold:
            self._gold[sql] = self.warehouse.execute(sql, max_rows=self.rules.max_rows)
        return self._gold[sql]

    def __call__(self, golds: Sequence[Sequence[str]], predictions: Sequence[str]) -> tuple[int, int]:
        right = executable = 0
        for gold_sqls, predicted in zip(golds, predictions):
            result = self.warehouse.execute(predicted, max_rows=self.rules.max_rows) if predicted.strip() else None
            if result is None or not result.ok:
                continue
            executable += 1
            if any(execution_match(self._gold_result(g), result, gold_sql=g, rules=self.rules, dialect=self.dialect).match
                   for g in gold_sqls):
                right += 1
        return right, executable


@contextlib.contextmanager
def judge_for_training(config: "TrainConfig", *, timeout_s: float = 10.0) -> Iterator[ExecutionJudge | None]:
    """The judge a `TrainConfig` asks for (None without `select_by_execution`), on its warehouse."""
    if not getattr(config, "select_by_execution", 0):
        yield None
        return
    from sqltune.execution.execute import Warehouse

    with Warehouse.open(config.db, timeout_s=timeout_s,
                        allow_privileged_role=getattr(config, "allow_privileged_role", False)) as warehouse:
        yield ExecutionJudge(warehouse)


__all__ = ["ExecutionJudge", "judge_for_training"]
