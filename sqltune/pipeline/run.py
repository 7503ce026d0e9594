"""The main job, end to end on one warehouse: fixture -> train -> evaluate -> merge -> report.

A recipe (YAML, see sqltune/recipes/) names every setting; the steps call the stage functions in
the one-way order and leave everything in one run folder: adapter/, merged/, report/.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqltune.core.config import setting
from sqltune.core.errors import ConfigError
from sqltune.evaluation.harness import EvalConfig, ModelForm, evaluate_forms
from sqltune.merge.config import DTYPES as MERGE_DTYPES
from sqltune.schema.roles import ALLOW_PRIVILEGED_ROLE_HELP
from sqltune.training.train import TrainConfig

if TYPE_CHECKING:
    from sqltune.training.inputs import TrainingPairs

log = logging.getLogger(__name__)

RECIPES = Path(__file__).parent / "recipes"


@dataclass
class PipelineConfig:
    """The main job's recipe: one warehouse, one training run, its evaluation and merge."""

    out_dir: str = setting("runs/harbor", flag="--out", help="Run folder (adapter/, merged/, report/).")
    fixture: str | None = setting(None, help="A fixture warehouse to build and use with its corpus (e.g. harbor); train/eval data and db left empty come from it.")
    train: TrainConfig = setting(default_factory=TrainConfig, help="The training run.")
    eval: EvalConfig = setting(default_factory=EvalConfig, help="The evaluation of every model form.")
    lora_baseline: bool = setting(False, help="Also train a 16-bit LoRA on the same data and steps, and evaluate it.")
    merge: bool = setting(True, help="Merge the adapter into a 16-bit checkpoint and evaluate it too.")
    merge_dtype: str = setting("bf16", choices=tuple(MERGE_DTYPES), help="dtype of the merged checkpoint.")
    eval_budget: str | None = setting(None, help="Wall-clock budget for all evaluations (e.g. 6m): one timed batch measures s/question, then eval.limit is lowered to fit; default: eval.limit as given.")
    allow_privileged_role: bool = setting(False, help=ALLOW_PRIVILEGED_ROLE_HELP + " Sets train.allow_privileged_role and eval.allow_privileged_role.")
    curve_questions: int = setting(16, help="Held-out questions the adapter answers (greedy) at each point of its learning curve, for execution accuracy against training minutes (0: held-out loss only). Counted in eval_budget.", min=0)


@dataclass
class PipelineResult:
    out_dir: Path
    adapter_dir: Path
    merged_dir: Path | None
    reports: list[Any]
    report_paths: Any
    train_record: dict
    merge_result: Any
    wall_s: float
    job_plan: "JobPlan | None" = None
    stage_s: dict | None = None   # measured seconds per stage, beside the plan's expectations


Event = Callable[[str, dict], None]


def recipe_path(name: str) -> Path:
    """A recipe file: a path, or the name of one shipped in sqltune/recipes/."""
    path = Path(name)
    if path.exists():
        return path
    shipped = RECIPES / (name if name.endswith(".yaml") else f"{name}.yaml")
    if shipped.exists():
        return shipped
    known = ", ".join(p.stem for p in sorted(RECIPES.glob("*.yaml")))
    raise ConfigError(f"recipe not found: {name} (shipped recipes: {known})")


def run_pipeline(config: PipelineConfig, *, on_event: Event | None = None, resume: bool = False) -> PipelineResult:
    emit = on_event or (lambda stage, info: None)
    started = time.time()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage_s: dict[str, float] = {}

    _attach_fixture(config, emit)
    if config.allow_privileged_role:
        config.train.allow_privileged_role = config.eval.allow_privileged_role = True
    from sqltune.training.inputs import training_pairs

    # the pairs, read and validated once, before the plan and the model: train() takes them as they are
    checked = _from_fixture_corpus(config.train.train_file, config)
    if not checked:
        emit("validate", {"data": config.train.train_file})
    pairs = training_pairs(config.train, checked=checked, out_dir=out)

    from sqltune.inference.models import import_default, resolve_base

    if config.train.base in ("default", None):
        emit("model", {"path": str(import_default())})
    resolve_base(config.train.base)

    job = plan_job(config, pairs.pairs)
    emit("plan", {"lines": job.lines(), "total_s": job.total_s})

    adapter_dir = out / "adapter"
    config.train.output_dir = str(adapter_dir)
    if config.curve_questions:
        config.train.curve_snapshots = True  # the adapter at each held-out evaluation, scored below
    emit("train", {"method": config.train.method, "output_dir": str(adapter_dir)})
    began = time.time()
    trained = _train_or_reuse(config.train, pairs, resume, lambda e: emit("train-progress", e))
    stage_s["train"] = time.time() - began
    emit("trained", trained)

    forms = [
        ModelForm("prompt-only", base=config.train.base, prompt_source=str(adapter_dir)),
        ModelForm("qlora-adapter", base=config.train.base, adapter=str(adapter_dir), quantized=True),
    ]
    if config.lora_baseline:
        import dataclasses

        lora_cfg = dataclasses.replace(config.train, method="lora", output_dir=str(out / "lora-adapter"))
        emit("train", {"method": "lora", "output_dir": lora_cfg.output_dir})
        _train_or_reuse(lora_cfg, pairs, resume, lambda e: emit("train-progress", e))
        forms.append(ModelForm("bf16-lora-adapter", base=config.train.base, adapter=lora_cfg.output_dir))

    merged_dir, merge_result = None, None
    if config.merge:
        from sqltune.merge import merge_adapter

        merged_dir = out / "merged"
        emit("merge", {"out_dir": str(merged_dir)})
        began = time.time()
        if not (merged_dir / "config.json").exists():
            merge_result = merge_adapter(adapter_dir, merged_dir, dtype=config.merge_dtype, schema=config.train.db)
        stage_s["merge"] = time.time() - began
        forms.append(ModelForm("merged", merged=str(merged_dir)))

    curve = trained.get("learning_curve") or []
    if config.curve_questions and any(p.get("adapter") for p in curve):
        began = time.time()
        emit("curve", {"points": sum(1 for p in curve if p.get("adapter")), "questions": config.curve_questions})
        curve = score_learning_curve(config, adapter_dir, curve, compared_with=forms)
        stage_s["learning-curve"] = time.time() - began
        emit("curve-scored", {"points": [p for p in curve if "execution_accuracy" in p]})
    probed: dict[str, Any] = {}
    if config.eval_budget is not None:
        began = time.time()
        sizing = size_evaluation(config, forms[1], spent_s=stage_s.get("learning-curve", 0.0), compared_with=forms)
        stage_s["eval-probe"] = time.time() - began
        probed = sizing.pop("evaluated", {})
        emit("eval-plan", sizing)
    emit("evaluate", {"forms": [f.label for f in forms], "data": config.eval.data, "limit": config.eval.limit})
    began = time.time()
    reports, paths = evaluate_forms(
        forms, config.eval, out_dir=out / "report", progress=lambda label, done, total: emit("eval-progress", {"label": label, "done": done, "total": total}),
        learning_curve=curve, evaluated_before=probed,
    )
    stage_s["evaluate"] = time.time() - began
    stage_s["job"] = time.time() - started
    _write_job_record(out, job, stage_s, curve)
    return PipelineResult(out, adapter_dir, merged_dir, reports, paths, trained, merge_result, time.time() - started,
                          job, stage_s)


# -- the whole job's plan ----------------------------------------------------------------------------
@dataclass
class JobStage:
    name: str
    expected_s: float
    note: str


@dataclass
class JobPlan:
    """What the job will do and how long each part should take on this machine, said before it starts."""

    stages: list[JobStage]
    gflops: dict
    train_memory_bytes: int | None = None  # sqltune plan's estimate of the training run's peak

    @property
    def total_s(self) -> float:
        return sum(s.expected_s for s in self.stages)

    def lines(self) -> list[str]:
        from sqltune.training.budget import format_duration

        width = max(len(s.name) for s in self.stages)
        rows = [f"{s.name:<{width}}  ~{format_duration(s.expected_s):>6}  {s.note}" for s in self.stages]
        return rows + [f"{'whole job':<{width}}  ~{format_duration(self.total_s):>6}"]

    def to_dict(self) -> dict:
        return {"stages": [vars(s) for s in self.stages], "total_s": self.total_s, "gflops": self.gflops,
                "train_memory_bytes": self.train_memory_bytes}


# Shares of the matmul ceiling reached, measured on the default model (README: training that fits).
TRAIN_EFFICIENCY = 0.6
MERGE_FIXED_S = 30.0          # loading, dequantising, merging and saving the 135M default
PROMPT_OVERHEAD_TOKENS = 60   # system message, chat markup and the question around the schema text
COMPLETION_TOKENS = 40        # a typical SQL answer, where no pairs are at hand to measure
MODEL_LOAD_S = 10.0           # loading the 4-bit base with an adapter, once per scored snapshot


def plan_job(config: PipelineConfig, pairs: list | None = None) -> JobPlan:
    """The job's plan before it starts: training (its budget, or its steps at the speed the matmul
    probe predicts, on the pairs as train() will tokenize them), each evaluation form at a
    predicted s/question, and the merge. `pairs`: the training pairs, when read already (else the
    plan reads `train.train_file`)."""
    from sqltune.inference.models import dtype_probe, measure_decoding, resolve_base
    from sqltune.training.budget import format_duration, parse_duration
    from sqltune.training.plan import load_model_config, model_shape

    probe = dtype_probe()
    gflops = probe.gflops[probe.choice]
    shape = model_shape(load_model_config(resolve_base(config.train.base)))
    tc = config.train
    prompt_tokens = (tc.prompt.max_schema_tokens if tc.prompt.shows_schema else 0) + PROMPT_OVERHEAD_TOKENS
    plan_pairs = _plan_pairs(tc, pairs)  # the memory estimate, the step cost and the decode cost all measure them
    examples = _plan_examples(config, plan_pairs)
    n_pairs = len(pairs) if pairs is not None else _count_pairs(tc.train_file)
    cost = training_cost(tc, shape, gflops, examples, n_pairs)
    step_s = cost.step_s
    stages = []
    if tc.time_budget:
        budget_s = parse_duration(tc.time_budget)
        # the run stops at its step cap (--epochs passes, --max-steps) when that comes first, unless
        # it chooses its pairs to fill the budget (fit_pairs_to_budget)
        fills = cost.cached and tc.fit_pairs_to_budget
        capped_s = cost.seconds() if cost.steps and not fills else None
        expected = min(budget_s, capped_s) if capped_s is not None else budget_s
        steps = int(max(budget_s - MODEL_LOAD_S - cost.cache_s, 0.0) // step_s)
        if cost.steps:
            steps = min(steps, cost.steps)
        if capped_s is not None and capped_s < budget_s:
            note = (f"time budget {format_duration(budget_s)}: ends before it, after {cost.describe_cap(tc)} "
                    f"at a predicted {step_s:.3g} s/step")
        elif cost.cached:
            note = (f"time budget {format_duration(budget_s)}: the upper {tc.lora.top_layers} layers trained on the lower "
                    f"layers' outputs, cached once per pair, over as many pairs as fit {tc.num_epochs:g} passes "
                    "(costs measured on its first pairs, then planned)")
        else:
            note = (f"time budget {format_duration(budget_s)}: about {steps} steps x {tc.batch_size * tc.grad_accum} "
                    f"pairs at a predicted {step_s:.3g} s/step (measured in its first steps, then planned)")
        stages.append(JobStage("training", expected, note))
    else:
        steps = cost.steps
        stages.append(JobStage("training", cost.seconds() if steps else 0.0,
                               f"{cost.describe_cap(tc)} at a predicted {step_s:.3g} s/step" if steps
                               else "epochs over all pairs (set train.time_budget for a planned length)"))
    memory = training_memory(config, shape, examples)
    if memory is not None:
        stages[0].note += f"; model + training memory up to ~{memory / 2**20:,.0f} MiB (sqltune plan, at its longest pairs)"
    # decoding is timed on the 4-bit base (what the adapter answers with), a batch of the eval's size
    batch = eval_batch_size(config)
    prefill_s, token_s = measure_decoding(resolve_base(tc.base), quantized=tc.method == "qlora", batch_size=batch,
                                          prompt_tokens=prompt_tokens)
    # a batch decodes until its longest answer ends: the expected longest SQL of `batch` pairs
    s_per_question = (prefill_s + answer_steps(plan_pairs, batch) * token_s) / batch

    def answering(questions: int) -> float:
        """Seconds to answer `questions` in batches: a batch that is not full takes as long as a full one."""
        return math.ceil(questions / batch) * batch * s_per_question

    if config.merge:
        from sqltune.merge.config import DEFAULT_N_CHECK

        # the equivalence check answers its questions with three models (merged, adapter on the same
        # weights, adapter as trained), in fp32: costed at the fp32 matmul speed
        check_s = 3 * DEFAULT_N_CHECK * s_per_question * gflops / max(probe.gflops["float32"], 1e-3)
        stages.append(JobStage("merge", MERGE_FIXED_S + check_s, f"into a {config.merge_dtype} checkpoint, equivalence check on "
                                                                 f"{DEFAULT_N_CHECK} questions x 3 models in fp32"))
    forms = ["prompt-only", "qlora-adapter"] + (["bf16-lora-adapter"] if config.lora_baseline else []) + (["merged"] if config.merge else [])
    n = config.eval.limit or _count_pairs(config.eval.data)
    decode = config.eval.decode
    curve_s = 0.0
    if config.curve_questions:
        points = tc.budget_evals if tc.time_budget else 1
        curve_s = points * (answering(config.curve_questions) + MODEL_LOAD_S)
        stages.append(JobStage("learning curve", curve_s, f"{points} adapter snapshots x {config.curve_questions} questions, "
                                                          f"greedy, at a predicted {s_per_question:.1f} s/question"))
    topup_note = ""
    if decode.execution_guided and decode.candidates > 1:
        # each question samples its candidates and runs them: measured ~4x greedy's time with 4
        # candidates (bench/guided_decoding.py), so cost it as one greedy answer per candidate (with
        # greedy_first only questions whose greedy answer is doubtful sample: this is their bound)
        greedy_s = s_per_question
        s_per_question *= decode.candidates
        if decode.topup_candidates:
            # the top-up samples more only for questions none of whose candidates runs (or, with
            # topup_when_empty, returns rows): how many is unknown before the model answers, so the
            # plan states its bound; the eval budget's timed batch measures the real rate
            topup_note = (f"; up to {greedy_s * (decode.candidates + decode.topup_candidates):.1f} s for a question "
                          f"that needs all {decode.topup_candidates} top-up candidates")
    if config.eval_budget:
        fit = max(int(max(parse_duration(config.eval_budget) - curve_s, 0.0) // (len(forms) * s_per_question)), 1)
        n = min(n, fit) if n else fit
    for form in forms:  # each form loads its model, then answers in batches
        stages.append(JobStage(f"eval {form}", MODEL_LOAD_S + answering(n) if n else 0.0,
                               f"{n} questions at a predicted {s_per_question:.1f} s/question{topup_note}"
                               + (f" (eval budget {config.eval_budget}: measured on one batch before, then sized)" if config.eval_budget else "")))
    return JobPlan(stages, {k: round(v, 1) for k, v in probe.gflops.items()} | {"choice": probe.choice}, memory)


@dataclass
class TrainingCost:
    """What the job plan predicts of the training run: a step's seconds at the matmul probe's speed
    on the pairs as tokenized, the steps its cap allows (--max-steps, else --epochs passes over the
    training pairs; None when the pairs are not there) and, with cached lower layers, the caching."""

    step_s: float
    steps: int | None
    train_pairs: int | None
    cache_s: float = 0.0
    cached: bool = False

    def seconds(self) -> float:
        """Loading, caching and the capped steps."""
        return MODEL_LOAD_S + self.cache_s + (self.steps or 0) * self.step_s

    def describe_cap(self, tc: TrainConfig) -> str:
        """`12 steps x 4 pairs (2 passes over 24 pairs)`."""
        text = f"{self.steps} steps x {tc.batch_size * tc.grad_accum} pairs"
        if tc.max_steps > 0 or not self.train_pairs:
            return text
        return f"{text} ({tc.num_epochs:g} passes over {self.train_pairs:,} pairs)"


def training_cost(tc: TrainConfig, shape: Any, gflops: float, examples: list | None, n_pairs: int | None) -> TrainingCost:
    """A training step's seconds: its pairs' tokens, padded as batches are (similar lengths
    together with group_by_length, else a random batch's longest), at the tokens/s the matmul
    ceiling predicts (`prior_tokens_per_s`: the forward, backward through the trained layers and
    checkpointing's recompute; with cached lower layers, the upper layers alone, and the caching
    once per pair). `n_pairs` pairs less the held-out share train (as build_datasets splits them)."""
    from sqltune.training.budget import prior_tokens_per_s
    from sqltune.training.examples import batch_multiple, padded_length
    from sqltune.training.lower_cache import expected_batch_width

    body = shape.total_params - shape.vocab_size * shape.hidden_size
    share = min(tc.lora.top_layers, shape.num_layers) / shape.num_layers if tc.lora.top_layers else 1.0
    cached = bool(tc.cache_lower_layers and tc.lora.top_layers and share < 1.0)
    if cached:
        tokens_per_s = prior_tokens_per_s(body_params=int(body * share), gflops=gflops, trained_share=1.0,
                                          gradient_checkpointing=tc.gradient_checkpointing, efficiency=TRAIN_EFFICIENCY)
    else:
        tokens_per_s = prior_tokens_per_s(body_params=body, gflops=gflops, trained_share=share,
                                          gradient_checkpointing=tc.gradient_checkpointing, efficiency=TRAIN_EFFICIENCY)
    lengths = [len(ex.input_ids) for ex in examples] if examples else []
    if lengths:
        grouped = tc.group_by_length and not cached
        width = sum(lengths) / len(lengths) if grouped else expected_batch_width(lengths, tc.batch_size)
        width = padded_length(math.ceil(width), batch_multiple(tc.pad_to_multiple_of, _training_dtype_bytes(tc)))
    else:
        width = (tc.prompt.max_schema_tokens if tc.prompt.shows_schema else 0) + PROMPT_OVERHEAD_TOKENS + COMPLETION_TOKENS
    step_s = tc.batch_size * tc.grad_accum * width / tokens_per_s
    train_pairs = None
    if n_pairs:
        n_pairs = min(n_pairs, tc.max_examples) if tc.max_examples else n_pairs
        train_pairs = n_pairs - (int(n_pairs * tc.eval_fraction) if n_pairs >= 20 else 0)
    steps = tc.max_steps if tc.max_steps > 0 else None
    if steps is None and train_pairs:
        steps = max(1, math.ceil(tc.num_epochs * math.ceil(train_pairs / (tc.batch_size * tc.grad_accum))))
    cache_s = 0.0
    if cached and n_pairs and lengths:
        # the lower layers' forward, once per pair (a forward: 2 FLOPs per weight and token)
        cache_s = n_pairs * sum(lengths) / len(lengths) * 2 * body * (1 - share) / (TRAIN_EFFICIENCY * gflops * 1e9)
    return TrainingCost(step_s, steps, train_pairs, cache_s, cached)


MEMORY_PLAN_PAIRS = 500  # pairs tokenized to find the longest (evenly spaced through the file)


def _plan_pairs(tc: TrainConfig, pairs: list | None = None) -> tuple[list, Any] | None:
    """What the plan measures: up to about MEMORY_PLAN_PAIRS training pairs (`pairs`, else the
    file's, read once), evenly spaced, and the base's tokenizer; None when the file is not there."""
    from sqltune.data import load_pairs
    from sqltune.inference.models import load_tokenizer, resolve_base

    if pairs is None:
        if not tc.train_file or not Path(tc.train_file).exists():
            return None
        pairs = list(load_pairs(tc.train_file))
    return pairs[:: max(1, len(pairs) // MEMORY_PLAN_PAIRS)], load_tokenizer(resolve_base(tc.base))


def answer_steps(plan_pairs: tuple[list, Any] | None, batch: int) -> float:
    """Token steps one decode batch takes: the expected longest gold SQL (in tokens, plus its end)
    of `batch` pairs drawn from the training pairs; COMPLETION_TOKENS when they are not there."""
    from sqltune.training.lower_cache import expected_batch_width

    if plan_pairs is None:
        return float(COMPLETION_TOKENS)
    sample, tokenizer = plan_pairs
    lengths = [len(tokenizer(p.sql, add_special_tokens=False)["input_ids"]) + 1 for p in sample]
    return expected_batch_width(lengths, batch) if lengths else float(COMPLETION_TOKENS)


def _plan_examples(config: PipelineConfig, plan_pairs: tuple[list, Any] | None) -> list | None:
    """The sampled training pairs tokenized as train() tokenizes them (the warehouse's schema, in
    its dialect, with retrieved examples): what the memory estimate and the step cost measure; None
    when the pairs or the warehouse are not there."""
    from sqltune.prompts import prompt_for_warehouse
    from sqltune.schema import load_schema
    from sqltune.training.examples import tokenize_pairs

    tc = config.train
    if plan_pairs is None or not tc.db:
        return None
    sample, tokenizer = plan_pairs
    index = None
    if tc.prompt.examples:  # the sample's own pairs stand in for the training pairs the run retrieves from
        from sqltune.retrieval import Example, ExampleIndex

        index = ExampleIndex([Example(p.question, p.sql) for p in sample], tc.prompt.example_retrieval)
    prompt = prompt_for_warehouse(tc.prompt, tc.db)  # as train() builds its prompts: in the warehouse's dialect
    examples, _ = tokenize_pairs(sample, load_schema(tc.db), tokenizer, prompt, max_seq_len=tc.max_seq_len,
                                 example_index=index)
    return examples or None


def _training_dtype_bytes(tc: TrainConfig) -> int:
    from sqltune.inference.models import compute_dtype

    return (tc.quant.torch_compute_dtype() if tc.method == "qlora" else compute_dtype()).itemsize


def training_memory(config: PipelineConfig, shape: Any, examples: list | None) -> int | None:
    """The training run's peak by `sqltune plan`'s estimate (`estimate_for_training`, which the run
    record uses too), at the largest batch its tokenized `examples` can make; None without them."""
    from sqltune.training.examples import batch_multiple, largest_batch_shape
    from sqltune.training.plan import estimate_for_training

    tc = config.train
    if not examples:
        return None
    dtype_bytes = _training_dtype_bytes(tc)
    seq_len, completion = largest_batch_shape(examples, tc.batch_size, batch_multiple(tc.pad_to_multiple_of, dtype_bytes))
    return estimate_for_training(shape, tc, seq_len=seq_len, completion_tokens=completion, dtype_bytes=dtype_bytes).total


def _count_pairs(path: str | None) -> int | None:
    if not path or not Path(path).exists():
        return None
    from sqltune.data import load_pairs

    return sum(1 for _ in load_pairs(path))


def size_evaluation(config: PipelineConfig, form: ModelForm, *, spent_s: float = 0.0,
                    compared_with: list[ModelForm] | None = None) -> dict:
    """Time one decode batch of `form`, then lower eval.limit so every form's evaluation fits what
    `eval_budget` leaves after `spent_s` (the learning curve's scoring; never below one batch).
    The batch's report says its answers' seconds a question; the rest of its time (loading the
    model, checking the questions) every form pays once, not once a question.
    `evaluated` holds the timed batch's report when that batch is the whole evaluation; the batch is
    answered as in the comparison `compared_with` (its answer prefix), so it can stand for it."""
    import dataclasses

    from sqltune.training.budget import parse_duration

    n_forms = 2 + int(config.lora_baseline) + int(config.merge)
    batch = eval_batch_size(config)
    probe_n = batch if batch > 1 else PROBE_QUESTIONS
    probe_cfg = dataclasses.replace(config.eval, limit=probe_n, spot_checks=False, register=False)
    began = time.time()
    reports, _ = evaluate_forms([form], probe_cfg, out_dir=None, compared_with=compared_with)
    wall_s = time.time() - began
    n = reports[0].n if reports else probe_n
    answer_s = getattr(reports[0], "mean_latency_s", None) if reports else None  # generation, a question
    if answer_s:
        s_per_question, form_s = answer_s, max(wall_s - n * answer_s, 0.0)
    else:
        s_per_question, form_s = wall_s / max(n, 1), 0.0
    budget_s = max(parse_duration(config.eval_budget) - spent_s - (time.time() - began), 0.0)
    fit = max(int(max(budget_s - n_forms * form_s, 0.0) // (n_forms * s_per_question)) // batch * batch, probe_n)
    if fit < 2 * probe_n:
        # under two batches: a few questions more than the timed batch would cost a second batch for
        # every form, where the timed batch, kept as its form's evaluation, costs that form nothing
        fit = probe_n
    total = config.eval.limit or _count_pairs(config.eval.data) or fit
    limit = min(total, fit)
    config.eval.limit = limit
    # when the timed batch is the whole evaluation (the same questions), its report is the form's
    reuse = limit == probe_n and reports and not config.eval.compare_decoding
    answering_s = math.ceil(limit / batch) * batch * s_per_question  # a batch that is not full takes a full one's time
    return {"s_per_question": round(s_per_question, 2), "limit": limit, "forms": n_forms,
            "expected_s": round((n_forms - int(bool(reuse))) * (form_s + answering_s)), "budget_s": budget_s,
            "probe_questions": n, "reused": form.label if reuse else None,
            "evaluated": {form.label: reports[0]} if reuse else {}}


PROBE_QUESTIONS = 8  # questions timed to size the evaluation when they are answered one at a time


def eval_batch_size(config: PipelineConfig) -> int:
    """The evaluation's questions per batch, as the eval will resolve it on this machine."""
    import torch

    from sqltune.inference.generate import decode_batch_size

    return decode_batch_size(config.eval.decode, config.train.prompt, on_cpu=not torch.cuda.is_available())


def _write_job_record(out: Path, job: JobPlan, stage_s: dict, curve: list[dict] | None = None) -> None:
    import json

    from sqltune.core.paths import atomic_write_text

    atomic_write_text(out / "job.json", json.dumps({"plan": job.to_dict(), "measured_s": stage_s,
                                                    "learning_curve": curve or []}, indent=2))


def score_learning_curve(config: PipelineConfig, adapter_dir: Path, curve: list[dict],
                         compared_with: list[ModelForm] | None = None) -> list[dict]:
    """Execution accuracy at each point of the learning curve: the adapter saved at that held-out
    evaluation answers `curve_questions` held-out questions (evenly spaced, greedy decoding, so the
    points compare with each other whatever the job's decoding), each point's figure added to it.
    Each snapshot answers after the prefix the adapter has in the comparison `compared_with`."""
    import dataclasses

    points = [p for p in curve if p.get("adapter") and Path(p["adapter"]).is_dir()]
    if not points:
        return curve
    probe = dataclasses.replace(config.eval, limit=config.curve_questions, spot_checks=False, register=False,
                                compare_decoding=False, decode=config.eval.decode.as_greedy())
    forms = [ModelForm(f"step {p['step']}", base=config.train.base, adapter=p["adapter"], quantized=True,
                       prompt_source=str(adapter_dir)) for p in points]
    reports, _ = evaluate_forms(forms, probe, out_dir=None, compared_with=[*(compared_with or []), *forms])
    scored = {id(p): r for p, r in zip(points, reports)}
    out = []
    for p in curve:
        r = scored.get(id(p))
        out.append(p if r is None else {**p, "execution_accuracy": r.execution_accuracy, "ex_questions": r.n})
    return out


def _attach_fixture(config: PipelineConfig, emit: Event) -> None:
    """The recipe's fixture warehouse and its question corpus (built once, cached under
    $SQLTUNE_HOME, so the job runs from any directory) fill the warehouse and pair files it leaves empty."""
    if config.fixture:
        from warehouse_fixtures import ensure_corpus, ensure_fixture

        db = str(ensure_fixture(config.fixture))
        needs_corpus = not config.train.train_file or not config.eval.data
        corpus = ensure_corpus(config.fixture) if needs_corpus else None
        emit("fixture", {"kind": config.fixture, "db": db, **({"corpus": str(corpus)} if corpus else {})})
        config.train.db = config.train.db or db
        if corpus is not None:
            config.train.train_file = config.train.train_file or str(corpus / "train.jsonl")
            config.eval.data = config.eval.data or str(corpus / "test.jsonl")
    config.eval.db = config.eval.db or config.train.db
    if not config.train.db or not config.train.train_file or not config.eval.data:
        raise ConfigError("the recipe names no warehouse or no pairs: set fixture, or train.db, train.train_file and eval.data")


def _from_fixture_corpus(path: str | None, config: PipelineConfig) -> bool:
    """The fixture's own corpus is generated and checked against its warehouse when built."""
    if not config.fixture or not path:
        return False
    from sqltune.core.paths import home

    try:
        Path(path).resolve().relative_to(home().resolve())
    except ValueError:
        return False
    return True


def _train_or_reuse(config: TrainConfig, pairs: "TrainingPairs", resume: bool, progress: Callable[[dict], None]) -> dict:
    """Train on `pairs`, or with `resume` reuse a finished adapter / continue an interrupted run."""
    import json

    from sqltune.training.train import train

    record_file = Path(config.output_dir) / "run.json"
    if resume and record_file.exists():
        return json.loads(record_file.read_text())
    from sqltune.evaluation.judge import judge_for_training

    with judge_for_training(config) as judge:
        return train(config, resume=resume, progress=progress, judge=judge, pairs=pairs).record
