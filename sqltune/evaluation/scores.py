"""What an evaluation's scores are, as values: the verdict on one question (`QuestionResult`),
scores over a slice (`Breakdown`), one model form's report (`EvalReport`, built from its question
results, read back from its JSON) and several forms side by side (`Comparison`).

Apart from `sqltune.evaluation.scoring`, which runs the queries and produces these, so that what
reads or writes reports (`sqltune.evaluation.report`, the CLI's summary) needs no scorer.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from sqltune.evaluation.categories import CATEGORIES


@dataclass
class QuestionResult:
    """The verdict on one question. `category` is None when the prediction is correct."""

    id: str
    question: str
    gold_sql: str
    pred_sql: str
    difficulty: str | None
    tags: tuple[str, ...]
    executable: bool  # the prediction ran without error
    execution_match: bool
    exact_match_normalized: bool  # same SQL text after normalisation (compare.normalize_sql)
    exact_match_spider: bool  # same clause components as Spider's evaluator compares them (spider_exact)
    raw_match: bool
    category: str | None
    reason: str
    gold_rows: int | None  # None when the query failed
    pred_rows: int | None
    gold_elapsed_s: float
    pred_elapsed_s: float
    pred_error: str | None = None
    latency_s: float | None = None  # generation time, when the generator reported it
    db: str | None = None  # the row's database, when the rows span several
    undecided: bool = False  # both results were cut at the row cap (counted wrong)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "QuestionResult":
        values = _renamed(data)
        values.setdefault("exact_match_spider", False)
        return cls(**{**values, "tags": tuple(data.get("tags") or ())})


def _renamed(data: Mapping[str, Any]) -> dict[str, Any]:
    """Reports written before exact match was split into two figures called it `exact_match`."""
    values = dict(data)
    if "exact_match" in values:
        values.setdefault("exact_match_normalized", values.pop("exact_match"))
    return values


@dataclass
class Breakdown:
    """Scores over one slice of the questions (a difficulty, a tag)."""

    n: int
    execution_accuracy: float
    executable_rate: float
    exact_match_normalized: float
    exact_match_spider: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Breakdown":
        return cls(**_renamed(data))


def _rate(hits: int, n: int) -> float:
    return hits / n if n else 0.0


def _breakdown(results: Sequence[QuestionResult]) -> Breakdown:
    n = len(results)
    return Breakdown(
        n=n,
        execution_accuracy=_rate(sum(r.execution_match for r in results), n),
        executable_rate=_rate(sum(r.executable for r in results), n),
        exact_match_normalized=_rate(sum(r.exact_match_normalized for r in results), n),
        exact_match_spider=_rate(sum(r.exact_match_spider for r in results), n),
    )


UNLABELLED = "(none)"


@dataclass
class EvalReport:
    """Scores of one model form on one question set, with the rules and setup that produced them."""

    label: str
    n: int
    execution_accuracy: float
    executable_rate: float
    exact_match_spider: float  # Spider's exact match: clause components as sets, values masked
    exact_match_normalized: float  # the same SQL text after normalisation (stricter)
    raw_match: float
    by_difficulty: dict[str, Breakdown]
    by_tag: dict[str, Breakdown]
    categories: dict[str, int]  # error category -> count of wrong predictions
    rules: str  # MatchRules.describe()
    setup: dict[str, Any]  # model, adapter, prompt config, decoding: the harness behind the score
    results: list[QuestionResult]
    mean_latency_s: float | None = None
    created_at: str = ""
    by_db: dict[str, Breakdown] = field(default_factory=dict)  # per database, when the rows span several
    undecided: int = 0  # questions undecided at the row cap (counted wrong)

    @classmethod
    def from_results(
        cls, label: str, results: Sequence[QuestionResult], *, rules: str, setup: Mapping[str, Any] | None = None
    ) -> "EvalReport":
        results = list(results)
        overall = _breakdown(results)
        by_difficulty: dict[str, list[QuestionResult]] = defaultdict(list)
        by_tag: dict[str, list[QuestionResult]] = defaultdict(list)
        by_db: dict[str, list[QuestionResult]] = defaultdict(list)
        if len({r.db for r in results}) > 1:  # one database needs no breakdown
            for r in results:
                by_db[r.db or UNLABELLED].append(r)
        if any(r.difficulty for r in results):
            for r in results:
                by_difficulty[r.difficulty or UNLABELLED].append(r)
        for r in results:
            for tag in r.tags:
                by_tag[tag].append(r)
        counts = Counter(r.category for r in results if r.category)
        latencies = [r.latency_s for r in results if r.latency_s is not None]
        return cls(
            label=label,
            n=overall.n,
            execution_accuracy=overall.execution_accuracy,
            executable_rate=overall.executable_rate,
            exact_match_spider=overall.exact_match_spider,
            exact_match_normalized=overall.exact_match_normalized,
            raw_match=_rate(sum(r.raw_match for r in results), len(results)),
            by_difficulty={k: _breakdown(v) for k, v in sorted(by_difficulty.items(), key=_difficulty_key)},
            by_tag={k: _breakdown(v) for k, v in sorted(by_tag.items())},
            categories={c: counts[c] for c in CATEGORIES if counts[c]},
            rules=rules,
            setup=dict(setup or {}),
            results=results,
            mean_latency_s=sum(latencies) / len(latencies) if latencies else None,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            by_db={k: _breakdown(v) for k, v in sorted(by_db.items())},
            undecided=sum(r.undecided for r in results),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EvalReport":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in _renamed(data).items() if k in known}
        values.setdefault("exact_match_spider", 0.0)
        for key in ("by_difficulty", "by_tag", "by_db"):
            values[key] = {k: Breakdown.from_dict(v) for k, v in data.get(key, {}).items()}
        values["results"] = [QuestionResult.from_dict(r) for r in data.get("results", [])]
        return cls(**values)


_DIFFICULTY_ORDER = {name: i for i, name in enumerate(("easy", "simple", "medium", "moderate", "hard", "challenging", "extra", "extra_hard", "extra-hard"))}


def _difficulty_key(item: tuple[str, Any]) -> tuple[int, str]:
    """Known difficulty names in their natural order, others alphabetically after them."""
    name = item[0]
    return (_DIFFICULTY_ORDER.get(name.lower(), len(_DIFFICULTY_ORDER)), name)


HEADLINE_METRICS = (
    ("Execution accuracy", "execution_accuracy"),
    ("Executable rate", "executable_rate"),
    ("Exact match, Spider components (exact_match_spider)", "exact_match_spider"),
    ("Exact match, normalised SQL text (exact_match_normalized)", "exact_match_normalized"),
    ("Raw string match", "raw_match"),
)


@dataclass
class Comparison:
    """Several model forms scored on the same questions (prompt-only, adapter, merged, bf16 LoRA)."""

    reports: list[EvalReport]

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.reports]

    def get(self, label: str) -> EvalReport:
        for report in self.reports:
            if report.label == label:
                return report
        raise KeyError(label)

    def headline_rows(self) -> list[tuple[str, list[float]]]:
        """(metric name, value per report): the rows of the Harbor-style table."""
        return [(name, [getattr(r, attr) for r in self.reports]) for name, attr in HEADLINE_METRICS]

    def difficulties(self) -> list[str]:
        names = {d: None for r in self.reports for d in r.by_difficulty}
        return [name for name, _ in sorted(names.items(), key=_difficulty_key)]

    def tags(self) -> list[str]:
        return sorted({t for r in self.reports for t in r.by_tag})

    def databases(self) -> list[str]:
        return sorted({d for r in self.reports for d in r.by_db})

    def categories(self) -> list[str]:
        present = {c for r in self.reports for c in r.categories}
        return [c for c in CATEGORIES if c in present]

    def flips(self, before: str, after: str) -> tuple[list[str], list[str]]:
        """Question ids that `after` gets right and `before` wrong (fixed), and the reverse (broken)."""
        old = {r.id: r.execution_match for r in self.get(before).results}
        new = {r.id: r.execution_match for r in self.get(after).results}
        shared = [i for i in new if i in old]
        return [i for i in shared if new[i] and not old[i]], [i for i in shared if old[i] and not new[i]]

    def to_dict(self) -> dict[str, Any]:
        return {"reports": [r.to_dict() for r in self.reports]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Comparison":
        return cls([EvalReport.from_dict(r) for r in data["reports"]])
