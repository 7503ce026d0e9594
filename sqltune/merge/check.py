"""The equivalence check: the merged checkpoint against the unmerged adapter over the same base
weights (both in fp32), logits over every prompt position and greedy SQL, judged by a tolerance
per saved dtype; the adapter as trained and the NF4 quantisation gap reported beside it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqltune.core.errors import ConfigError, InputError, MissingOptionError
from sqltune.core.secrets import MASK
from sqltune.merge.weights import AdapterInfo
from sqltune.prompts import PromptConfig

if TYPE_CHECKING:
    from sqltune.inference.generate import DecodeConfig
    from sqltune.schema.model import Schema

log = logging.getLogger(__name__)

MAX_EXAMPLES = 5  # differing answers kept per comparison

ProgressFn = Callable[[dict], None]


@dataclass
class Tolerance:
    """How close the saved checkpoint must stay to the unmerged adapter over the same base weights,
    both computed in fp32. Logits differences are absolute, over every prompt position and every
    vocabulary entry."""

    logits_mean_abs: float
    logits_max_abs: float
    # Fraction of check questions whose greedy SQL must be identical.
    sql_agreement: float = 1.0
    # Scale-free guard: the difference may be at most this share of the NF4 quantisation gap
    # (adapter on NF4 vs on the original weights). Merging into the other form's weights reads ~1.0.
    max_gap_fraction: float = 0.5


# MEASURED_TOLERANCE_NOTE
DEFAULT_TOLERANCE = {
    # bf16 rounding flips near-ties in greedy decoding: a 15-minute Harbor adapter's merge gave
    # identical SQL on 15 of 16 check questions with logits within mean 0.038 / max 0.47, so the
    # logits carry the proof and identical SQL is asked of 90% of the questions, not all.
    "bf16": Tolerance(logits_mean_abs=0.1, logits_max_abs=1.5, sql_agreement=0.9),
    "fp16": Tolerance(logits_mean_abs=0.02, logits_max_abs=0.3),
}


@dataclass
class LogitsDiff:
    """|a - b| over all prompt positions and vocabulary entries, and how often the top token agrees."""

    max_abs: float
    mean_abs: float
    top1_agreement: float
    n_positions: int


@dataclass
class FormAgreement:
    """One model against one reference on the check questions."""

    model: str  # merged_original | merged_dequantized | adapter_nf4
    reference: str  # adapter_original | adapter_dequantized | adapter_nf4
    sql_agreement: float | None  # fraction of questions with identical greedy SQL; None: logits only
    logits: LogitsDiff
    differing: list[dict] = field(default_factory=list)  # up to MAX_EXAMPLES {question, sql, reference_sql}


@dataclass
class CheckSet:
    questions: list[str]
    schema: "Schema"
    source: str


def spread(items: list[str], n: int) -> list[str]:
    """Up to `n` distinct items, evenly spaced over the list (not just its head)."""
    distinct = list(dict.fromkeys(item.strip() for item in items if item and item.strip()))
    if len(distinct) <= n:
        return distinct
    step = len(distinct) / n
    return [distinct[int(i * step)] for i in range(n)]


def check_set(adapter: AdapterInfo, questions: list[str] | None, n_check: int, schema: "Schema | str | None") -> CheckSet | None:
    """The questions and schema of the equivalence check; None when n_check is 0."""
    if n_check <= 0:
        return None
    if questions is not None:
        source = "given"
    else:
        train_file = (adapter.run.get("data") or {}).get("train_file") or (adapter.run.get("train_config") or {}).get("train_file")
        if not train_file or not Path(train_file).is_file():
            raise ConfigError(
                f"{adapter.dir}: no check questions (run.json names no readable training file{f', {train_file} is missing' if train_file else ''}); "
                "pass --data FILE, or --n-check 0 to skip the equivalence check"
            )
        from sqltune.data import load_pairs

        questions = [pair.question for pair in load_pairs(train_file)]
        source = str(train_file)
    picked = spread(questions, n_check)
    if not picked:
        raise InputError("no questions to check the merge with", source=source)
    if schema is None:
        schema = adapter.run.get("schema_source")
        if not schema:
            raise MissingOptionError(f"{adapter.dir}: run.json names no warehouse for the check prompts; pass --db")
        if MASK in str(schema):
            # run.json never keeps a password: a URL that had one cannot connect again as recorded.
            raise MissingOptionError(
                f"{adapter.dir}: the warehouse it was trained on is recorded without its password ({schema}); "
                "pass --db with the warehouse (an env:VAR or profile:NAME reference keeps the password off the "
                "command line, and is recorded as written so that the next merge needs no --db), "
                "or --n-check 0 to skip the equivalence check"
            )
    elif isinstance(schema, (str, Path)) and MASK in str(schema):
        raise ConfigError(f"--db {schema}: the password is masked (***); give the real URL, env:VAR or profile:NAME")
    if isinstance(schema, (str, Path)):
        from sqltune.schema import load_schema

        schema = load_schema(str(schema))
    return CheckSet(picked, schema, source)


class _DiffAccumulator:
    def __init__(self) -> None:
        self.max_abs = 0.0
        self.sum_abs = 0.0
        self.n_values = 0
        self.top1_same = 0
        self.n_positions = 0

    def add(self, a: Any, b: Any) -> None:
        diff = (a - b).abs()
        self.max_abs = max(self.max_abs, float(diff.max()))
        self.sum_abs += float(diff.sum(dtype=diff.dtype))
        self.n_values += diff.numel()
        self.top1_same += int((a.argmax(-1) == b.argmax(-1)).sum())
        self.n_positions += a.shape[0]

    def result(self) -> LogitsDiff:
        return LogitsDiff(
            max_abs=self.max_abs,
            mean_abs=self.sum_abs / max(self.n_values, 1),
            top1_agreement=self.top1_same / max(self.n_positions, 1),
            n_positions=self.n_positions,
        )


def compare_logits(models: dict[str, Any], pairs: list[tuple[str, str]], prompts: list[Any]) -> dict[tuple[str, str], LogitsDiff]:
    """Next-token logits of each (model, reference) pair over every position of the check prompts."""
    import torch

    diffs = {pair: _DiffAccumulator() for pair in pairs}
    with torch.inference_mode():
        for ids in prompts:
            logits = {name: model(input_ids=ids.to(model.device)).logits[0].float().cpu() for name, model in models.items()}
            for a, b in pairs:
                diffs[(a, b)].add(logits[a], logits[b])
    return {pair: acc.result() for pair, acc in diffs.items()}


def greedy_sql(models: dict[str, Any], tokenizer: Any, check: CheckSet, prompt: PromptConfig, decode: "DecodeConfig",
               progress: ProgressFn | None = None, examples: Any = None) -> dict[str, list[str]]:
    """Each model's greedy SQL for the check questions."""
    from sqltune.inference.generate import SqlModel

    answers = {}
    for name, model in models.items():
        _emit(progress, "generate", model=name)
        sql_model = SqlModel(model, tokenizer, check.schema, prompt, decode, label=name, examples=examples)
        answers[name] = [g.sql for g in sql_model.generate(check.questions)]
    return answers


def sql_comparison(a: str, b: str, answers: dict[str, list[str]], questions: list[str], logits: LogitsDiff) -> FormAgreement:
    same = [x == y for x, y in zip(answers[a], answers[b])]
    differing = [
        {"question": q, "sql": x, "reference_sql": y}
        for q, x, y, ok in zip(questions, answers[a], answers[b], same) if not ok
    ][:MAX_EXAMPLES]
    return FormAgreement(a, b, sum(same) / len(same), logits, differing)


def reference_for(form: str) -> str:
    """The unmerged fp32 model computing with the same base weights as a merged form."""
    return f"adapter_{form}"


def trained_reference(trained_on: str) -> str:
    """The adapter as trained: on the NF4 base (QLoRA) or on the 16-bit original weights (LoRA)."""
    return "adapter_nf4" if trained_on == "nf4" else "adapter_original"


def choose_form(comparisons: list[FormAgreement], trained_on: str) -> str:
    """The merged form closest to the model the adapter was trained on (lower mean logits
    difference). Unknown training: the original weights (standard LoRA)."""
    if trained_on == "unknown":
        return "original"
    ref = trained_reference(trained_on)
    scores = {c.model.removeprefix("merged_"): c.logits.mean_abs
              for c in comparisons if c.reference == ref and c.model.startswith("merged_")}
    return min(scores, key=scores.get)


def judge(comparisons: list[FormAgreement], form: str, tolerance: Tolerance) -> list[str]:
    """Reasons the saved form fails to reproduce its unmerged reference; empty when it passes."""
    ref = reference_for(form)
    c = next(c for c in comparisons if c.model == f"merged_{form}" and c.reference == ref)
    failures = []
    if c.logits.mean_abs > tolerance.logits_mean_abs:
        failures.append(f"mean |logits diff| vs {ref} {c.logits.mean_abs:.4g} > {tolerance.logits_mean_abs:g}")
    if c.logits.max_abs > tolerance.logits_max_abs:
        failures.append(f"max |logits diff| vs {ref} {c.logits.max_abs:.4g} > {tolerance.logits_max_abs:g}")
    gap = next((g.logits.mean_abs for g in comparisons if (g.model, g.reference) == ("adapter_nf4", "adapter_original")), None)
    if gap and c.logits.mean_abs > tolerance.max_gap_fraction * gap:
        failures.append(f"mean |logits diff| vs {ref} {c.logits.mean_abs:.4g} is over {tolerance.max_gap_fraction:g} "
                        f"of the NF4 quantisation gap {gap:.4g}")
    if c.sql_agreement is not None and c.sql_agreement < tolerance.sql_agreement:
        failures.append(f"identical SQL vs {ref} {c.sql_agreement:.0%} < {tolerance.sql_agreement:.0%}")
    return failures


def run_check(merged: dict[str, Any], references: dict[str, Any], tokenizer: Any, check: CheckSet, adapter: AdapterInfo,
              base_form: str, decode: "DecodeConfig", progress: ProgressFn | None = None) -> tuple[str, list[FormAgreement]]:
    """Compare the merged forms with the unmerged references; returns the form to save and the comparisons.

    merged: {form: merged model in fp32 (its saved weights upcast, exactly)}; references:
    {"adapter_original", "adapter_dequantized" (fp32, unmerged), "adapter_nf4" (as trained)}.
    Logits for every pair (cheap), greedy SQL only for the saved form and its references.
    """
    from sqltune.inference.generate import SqlModel

    models = {f"merged_{form}": model for form, model in merged.items()} | references
    pairs = [(f"merged_{form}", ref) for form in merged for ref in (reference_for(form), "adapter_nf4")]
    pairs += [("adapter_nf4", "adapter_original"), ("adapter_nf4", "adapter_dequantized")]
    _emit(progress, "logits")
    prompter = SqlModel(references["adapter_nf4"], tokenizer, check.schema, adapter.prompt, decode, examples=adapter.examples)
    prompts = [tokenizer(prompter.prompt_for(q), return_tensors="pt", add_special_tokens=False)["input_ids"]
               for q in check.questions]
    logits = compare_logits(models, pairs, prompts)
    comparisons = [FormAgreement(a, b, None, diff) for (a, b), diff in logits.items()]
    chosen = base_form if base_form != "auto" else choose_form(comparisons, adapter.trained_on)

    judged = (f"merged_{chosen}", reference_for(chosen))
    served = (f"merged_{chosen}", "adapter_nf4")
    names = dict.fromkeys(judged + served)
    answers = greedy_sql({n: models[n] for n in names}, tokenizer, check, adapter.prompt, decode, progress,
                         examples=adapter.examples)
    by_pair = {(c.model, c.reference): i for i, c in enumerate(comparisons)}
    for pair in (judged, served):
        comparisons[by_pair[pair]] = sql_comparison(*pair, answers, check.questions, logits[pair])
    return chosen, comparisons


def _emit(progress: ProgressFn | None, stage: str, **fields: Any) -> None:
    log.info("merge: %s %s", stage, fields or "")
    if progress is not None:
        progress({"event": "stage", "stage": stage, **fields})


