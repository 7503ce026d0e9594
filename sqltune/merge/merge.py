"""Merge a LoRA adapter into its base for serving, and prove the merged checkpoint answers as the
adapter does.

    result = merge_adapter("runs/adapter", "runs/merged")

1. The base is loaded in fp32 from its 16-bit checkpoint, never as the 4-bit copy: merging into a
   4-bit model re-quantises W + BA and changes answers. Two forms of W are offered:
     original     the checkpoint's own weights;
     dequantized  the NF4-dequantised weights a QLoRA adapter was trained against (read from the
                  same 4-bit load training used, so they are the very numbers the adapter saw).
   The adapter is attached, `merge_and_unload()` runs in fp32, and the sum is rounded once to
   bf16 or fp16.
2. The equivalence check, on check questions (default: up to 16 from the adapter's training file):
   the merged checkpoint (its saved weights, computed in fp32) against the unmerged adapter on the
   same base weights in fp32 (`adapter_dequantized` or `adapter_original`): greedy SQL must be
   identical and the logits must agree within the tolerance of the saved dtype. The only
   difference between the two is where rounding happens (W + BA rounded once to 16 bits versus
   W x + B(A x) in fp32), so the check isolates the merge itself.
   Reported beside it: the merged checkpoint against the adapter as trained and evaluated
   (`adapter_nf4`, on the 4-bit base in its compute dtype), and the NF4 quantisation gap
   (`adapter_nf4` vs `adapter_original`) for scale. `auto` saves the form whose logits are closer
   to the adapter as trained.
3. The chosen form is saved as a standard Hugging Face checkpoint (safetensors, tokenizer, chat
   template, generation config) with `sqltune_adapter.json` (the prompt settings) and `merge.json`
   (this result), atomically, and recorded in the registry as a "merge" run.

Serving then computes in its own dtype (bf16 on CPU): that rounding is the serving precision's,
not the merge's, and the evaluation report shows its effect (merged vs adapter execution accuracy).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqltune.inference.adapter import ADAPTER_META, read_meta, read_prompt_config
from sqltune.core.errors import ConfigError, InputError, ModelError
from sqltune.core.paths import atomic_write_text
from sqltune.inference.models import QuantConfig, load_model, load_tokenizer, resolve_base
from sqltune.prompts import PromptConfig

if TYPE_CHECKING:
    from sqltune.inference.generate import DecodeConfig
    from sqltune.schema.model import Schema

log = logging.getLogger(__name__)

MERGE_JSON = "merge.json"
DTYPES = {"bf16": "bfloat16", "fp16": "float16"}
BASE_FORMS = ("original", "dequantized")
DEFAULT_N_CHECK = 16
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
    "bf16": Tolerance(logits_mean_abs=0.1, logits_max_abs=1.5),
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
class Comparison:
    """One model against one reference on the check questions."""

    model: str  # merged_original | merged_dequantized | adapter_nf4
    reference: str  # adapter_original | adapter_dequantized | adapter_nf4
    sql_agreement: float | None  # fraction of questions with identical greedy SQL; None: logits only
    logits: LogitsDiff
    differing: list[dict] = field(default_factory=list)  # up to MAX_EXAMPLES {question, sql, reference_sql}


@dataclass
class MergeResult:
    out_dir: str
    adapter_dir: str
    base: str
    dtype: str  # bf16 | fp16
    base_form: str  # the form saved: original | dequantized
    base_form_requested: str  # auto | original | dequantized
    trained_on: str  # nf4 | 16-bit | unknown: the base the adapter was trained against
    reference: str | None  # the unmerged fp32 model the saved form must reproduce
    n_questions: int
    questions_source: str | None
    comparisons: list[Comparison]
    tolerance: Tolerance
    passed: bool | None  # None: no equivalence check was run (n_check=0)
    failures: list[str]
    reload_exact: bool  # the saved checkpoint reloads with every tensor equal to the merged model
    wall_s: float
    run_id: str
    parent_run_id: str | None

    def comparison(self, model: str, reference: str) -> Comparison:
        for item in self.comparisons:
            if item.model == model and item.reference == reference:
                return item
        raise KeyError(f"no comparison of {model} with {reference}")

    @property
    def sql_agreement(self) -> dict[str, float]:
        return {f"{c.model} vs {c.reference}": c.sql_agreement for c in self.comparisons if c.sql_agreement is not None}

    def to_dict(self) -> dict:
        return asdict(self)


# -- the adapter folder -------------------------------------------------------------------------


@dataclass
class AdapterInfo:
    """What merging needs to know about an adapter folder, read once."""

    dir: Path
    base_name: str  # as recorded or given ('default', a path, a hub id)
    base_path: str  # resolved
    trained_on: str  # nf4 | 16-bit | unknown
    quant: QuantConfig
    prompt: PromptConfig
    peft_config: dict
    run: dict  # run.json, {} when absent


def read_adapter(adapter_dir: str | Path, base: str | None = None) -> AdapterInfo:
    """Check the folder is a PEFT adapter and find its base, training quantisation and prompt settings."""
    folder = Path(adapter_dir)
    if not folder.is_dir():
        raise ModelError(f"adapter folder not found: {folder}")
    config_path = folder / "adapter_config.json"
    if not config_path.exists():
        raise ModelError(f"{folder} is not a PEFT adapter folder (no adapter_config.json)")
    peft_config = _read_json(config_path)
    if not any((folder / name).exists() for name in ("adapter_model.safetensors", "adapter_model.bin")):
        raise ModelError(f"{folder} has no adapter weights (adapter_model.safetensors)")
    meta = read_meta(folder) or {}
    run = _read_json(folder / "run.json") if (folder / "run.json").exists() else {}

    candidates = [base] if base else [meta.get("base_model"), run.get("base_path"), peft_config.get("base_model_name_or_path")]
    base_name, base_path = _resolve_first([c for c in candidates if c], folder)

    method = meta.get("method") or run.get("method")
    trained_on = {"qlora": "nf4", "lora": "16-bit"}.get(method or "", "unknown")
    quant = QuantConfig()
    if run.get("quant_config"):
        from sqltune.core.config import from_dict

        quant = from_dict(QuantConfig, run["quant_config"], f"{folder / 'run.json'}: quant_config")
    return AdapterInfo(
        dir=folder,
        base_name=base_name,
        base_path=base_path,
        trained_on=trained_on,
        quant=quant,
        prompt=read_prompt_config(folder) or PromptConfig(),
        peft_config=peft_config,
        run=run,
    )


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def _resolve_first(candidates: list[str], folder: Path) -> tuple[str, str]:
    if not candidates:
        raise ModelError(f"{folder}: no base model recorded; pass --base")
    errors = []
    for name in candidates:
        try:
            return name, resolve_base(name)
        except ModelError as exc:
            errors.append(str(exc))
    if len(candidates) == 1:
        raise ModelError(errors[0])
    raise ModelError(f"{folder}: none of the recorded base models can be found ({'; '.join(errors)}); pass --base")


# -- merging ------------------------------------------------------------------------------------


def nf4_weights(nf4_model: Any) -> dict[str, Any]:
    """The dequantised weight of every 4-bit linear layer, by module name: the numbers the model
    computes with, in its compute dtype."""
    import bitsandbytes as bnb

    weights = {}
    for name, module in nf4_model.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            weights[name] = bnb.functional.dequantize_4bit(module.weight.data, module.weight.quant_state).detach().cpu()
    if not weights:
        raise ModelError("the 4-bit load has no NF4 linear layers to dequantise")
    return weights


def unmerged(base_path: str, adapter_dir: Path, weights: dict[str, Any] | None = None) -> Any:
    """The fp32 base (optionally with `weights` swapped in) with the adapter attached, unmerged."""
    import torch

    model = load_model(base_path, dtype=torch.float32)
    if weights:
        for name, weight in weights.items():
            target = model.get_submodule(name).weight
            if target.shape != weight.shape:
                raise ModelError(f"{name}: NF4 weight shape {tuple(weight.shape)} != base {tuple(target.shape)}")
            with torch.no_grad():
                target.copy_(weight.to(torch.float32))
    return _attach(model, adapter_dir)


def merge_into(base_path: str, adapter_dir: Path, dtype: Any, weights: dict[str, Any] | None = None) -> Any:
    """Base (fp32, optionally with `weights` swapped in) + adapter, merged in fp32, rounded once to `dtype`."""
    merged = unmerged(base_path, adapter_dir, weights).merge_and_unload(safe_merge=True)
    return merged.to(dtype).eval()


def _attach(model: Any, adapter_dir: Path) -> Any:
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(adapter_dir)).eval()
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"adapter {adapter_dir} does not fit the base model: {first}") from None


# -- the equivalence check ----------------------------------------------------------------------


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
            raise ConfigError(f"{adapter.dir}: run.json names no warehouse for the check prompts; pass --db")
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
               progress: ProgressFn | None = None) -> dict[str, list[str]]:
    """Each model's greedy SQL for the check questions."""
    from sqltune.inference.generate import SqlModel

    answers = {}
    for name, model in models.items():
        _emit(progress, "generate", model=name)
        sql_model = SqlModel(model, tokenizer, check.schema, prompt, decode, label=name)
        answers[name] = [g.sql for g in sql_model.generate(check.questions)]
    return answers


def sql_comparison(a: str, b: str, answers: dict[str, list[str]], questions: list[str], logits: LogitsDiff) -> Comparison:
    same = [x == y for x, y in zip(answers[a], answers[b])]
    differing = [
        {"question": q, "sql": x, "reference_sql": y}
        for q, x, y, ok in zip(questions, answers[a], answers[b], same) if not ok
    ][:MAX_EXAMPLES]
    return Comparison(a, b, sum(same) / len(same), logits, differing)


def reference_for(form: str) -> str:
    """The unmerged fp32 model computing with the same base weights as a merged form."""
    return f"adapter_{form}"


def trained_reference(trained_on: str) -> str:
    """The adapter as trained: on the NF4 base (QLoRA) or on the 16-bit original weights (LoRA)."""
    return "adapter_nf4" if trained_on == "nf4" else "adapter_original"


def choose_form(comparisons: list[Comparison], trained_on: str) -> str:
    """The merged form closest to the model the adapter was trained on (lower mean logits
    difference). Unknown training: the original weights (standard LoRA)."""
    if trained_on == "unknown":
        return "original"
    ref = trained_reference(trained_on)
    scores = {c.model.removeprefix("merged_"): c.logits.mean_abs
              for c in comparisons if c.reference == ref and c.model.startswith("merged_")}
    return min(scores, key=scores.get)


def judge(comparisons: list[Comparison], form: str, tolerance: Tolerance) -> list[str]:
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
              base_form: str, decode: "DecodeConfig", progress: ProgressFn | None = None) -> tuple[str, list[Comparison]]:
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
    prompter = SqlModel(references["adapter_nf4"], tokenizer, check.schema, adapter.prompt, decode)
    prompts = [tokenizer(prompter.prompt_for(q), return_tensors="pt", add_special_tokens=False)["input_ids"]
               for q in check.questions]
    logits = compare_logits(models, pairs, prompts)
    comparisons = [Comparison(a, b, None, diff) for (a, b), diff in logits.items()]
    chosen = base_form if base_form != "auto" else choose_form(comparisons, adapter.trained_on)

    judged = (f"merged_{chosen}", reference_for(chosen))
    served = (f"merged_{chosen}", "adapter_nf4")
    names = dict.fromkeys(judged + served)
    answers = greedy_sql({n: models[n] for n in names}, tokenizer, check, adapter.prompt, decode, progress)
    by_pair = {(c.model, c.reference): i for i, c in enumerate(comparisons)}
    for pair in (judged, served):
        comparisons[by_pair[pair]] = sql_comparison(*pair, answers, check.questions, logits[pair])
    return chosen, comparisons


def _emit(progress: ProgressFn | None, stage: str, **fields: Any) -> None:
    log.info("merge: %s %s", stage, fields or "")
    if progress is not None:
        progress({"event": "stage", "stage": stage, **fields})


# -- the whole stage ----------------------------------------------------------------------------


def merge_adapter(
    adapter_dir: str | Path,
    out_dir: str | Path,
    *,
    base: str | None = None,
    dtype: str = "bf16",
    base_form: str = "auto",
    check_questions: list[str] | None = None,
    n_check: int = DEFAULT_N_CHECK,
    schema: "Schema | str | None" = None,
    logits_tolerance: float | None = None,
    tolerance: Tolerance | None = None,
    decode: "DecodeConfig | None" = None,
    force: bool = False,
    register: bool = True,
    progress: ProgressFn | None = None,
) -> MergeResult:
    """Merge `adapter_dir` into its base and save a standard checkpoint at `out_dir`.

    base_form: auto | original | dequantized (see the module docstring). check_questions: the
    questions of the equivalence check (default: the adapter's training questions), of which
    `n_check` evenly spaced ones are used; n_check=0 skips the check. schema: Schema or warehouse
    source for the check prompts (default: the warehouse the adapter was trained on).
    logits_tolerance overrides the mean-abs logits tolerance of the dtype's default `Tolerance`.
    """
    import torch

    from sqltune.inference.generate import DecodeConfig

    started = time.time()
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if base_form not in ("auto", *BASE_FORMS):
        raise ConfigError(f"base_form must be auto, original or dequantized, got {base_form!r}")
    adapter = read_adapter(adapter_dir, base)
    out = _check_out_dir(Path(out_dir), adapter, force)
    check = check_set(adapter, check_questions, n_check, schema)
    torch_dtype = getattr(torch, DTYPES[dtype])

    _emit(progress, "load", base=adapter.base_path)
    tokenizer = load_tokenizer(adapter.base_path)
    if check is not None:
        forms = list(BASE_FORMS)  # both are measured, whichever is saved
    else:
        forms = [base_form if base_form != "auto" else ("dequantized" if adapter.trained_on == "nf4" else "original")]
    nf4_base = load_model(adapter.base_path, quant=adapter.quant) if check is not None or "dequantized" in forms else None
    weights = nf4_weights(nf4_base) if "dequantized" in forms else None

    merged = {}
    for form in forms:
        _emit(progress, "merge", base_form=form)
        merged[form] = merge_into(adapter.base_path, adapter.dir, torch_dtype, weights if form == "dequantized" else None)

    comparisons: list[Comparison] = []
    failures: list[str] = []
    if check is not None:
        _emit(progress, "references")
        references = {
            "adapter_original": unmerged(adapter.base_path, adapter.dir),
            "adapter_dequantized": unmerged(adapter.base_path, adapter.dir, weights),
            "adapter_nf4": _attach(nf4_base, adapter.dir),
        }
        # Upcasting the rounded weights to fp32 is exact, and so is the way back before saving.
        views = {form: model.float() for form, model in merged.items()}
        chosen, comparisons = run_check(views, references, tokenizer, check, adapter, base_form,
                                        decode or DecodeConfig(batch_size=8), progress)
        merged = {form: model.to(torch_dtype) for form, model in views.items()}
        del references, views
    else:
        chosen = forms[0]
    del weights
    tol = tolerance or DEFAULT_TOLERANCE[dtype]
    if logits_tolerance is not None:
        tol = Tolerance(logits_tolerance, max(tol.logits_max_abs, logits_tolerance), tol.sql_agreement)
    if comparisons:
        failures = judge(comparisons, chosen, tol)
        if failures and dtype == "bf16":
            # bf16 keeps 8 significant bits: an adapter update smaller than half a unit of W is lost
            # in W + BA (measured: a 3-step adapter differs by mean 0.12, a trained one by 0.03).
            failures.append("bf16 rounding can swamp small adapter updates; --dtype fp16 keeps 3 more bits")
    model = merged.pop(chosen)
    merged.clear()
    nf4_base = None

    from sqltune.core.registry import new_run_id

    run_id = new_run_id("merge")
    _emit(progress, "save", out_dir=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _save_checkpoint(model, tokenizer, adapter, tmp)
        reload_exact = _reloads_exactly(model, tmp, torch_dtype)
        if not reload_exact:
            failures.append("the saved checkpoint does not reload to the merged weights")
        result = MergeResult(
            out_dir=str(out),
            adapter_dir=str(adapter.dir),
            base=adapter.base_name,
            dtype=dtype,
            base_form=chosen,
            base_form_requested=base_form,
            trained_on=adapter.trained_on,
            reference=reference_for(chosen) if check is not None else None,
            n_questions=len(check.questions) if check else 0,
            questions_source=check.source if check else None,
            comparisons=comparisons,
            tolerance=tol,
            passed=(not failures) if check is not None else None,
            failures=failures,
            reload_exact=reload_exact,
            wall_s=0.0,
            run_id=run_id,
            parent_run_id=None,
        )
        if register:
            result.parent_run_id = _registered_parent(adapter.run.get("run_id"))
        result.wall_s = time.time() - started
        _write_json(tmp / MERGE_JSON, result.to_dict())
        _replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if register:
        _record(result, adapter, check)
    return result


def _check_out_dir(out: Path, adapter: AdapterInfo, force: bool) -> Path:
    resolved = out.resolve()
    protected = [adapter.dir.resolve()] + ([Path(adapter.base_path).resolve()] if Path(adapter.base_path).exists() else [])
    for keep in protected:
        if resolved == keep or resolved in keep.parents:
            raise ConfigError(f"--out {out} would overwrite {keep}; choose another output folder")
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder")
    return out


def _save_checkpoint(model: Any, tokenizer: Any, adapter: AdapterInfo, folder: Path) -> None:
    """A plain HF checkpoint: weights, config, generation config, tokenizer with chat template."""
    gen = model.generation_config
    if gen.pad_token_id is None:
        gen.pad_token_id = tokenizer.pad_token_id
    if gen.eos_token_id is None:
        gen.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    if (adapter.dir / ADAPTER_META).exists():
        shutil.copy2(adapter.dir / ADAPTER_META, folder / ADAPTER_META)
    # mkdtemp and safetensors create owner-only files; give the folder the user's usual modes.
    umask = _umask()
    os.chmod(folder, 0o777 & ~umask)
    for path in folder.iterdir():
        if path.is_file():
            os.chmod(path, 0o666 & ~umask)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _reloads_exactly(model: Any, folder: Path, dtype: Any) -> bool:
    """Reload the saved folder with plain transformers and compare every tensor."""
    import torch
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
    saved = reloaded.state_dict()
    own = model.state_dict()
    if set(saved) != set(own):
        log.warning("reloaded keys differ: %s", sorted(set(saved) ^ set(own))[:5])
        return False
    return all(torch.equal(saved[k].cpu(), own[k].cpu()) for k in own)


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str))


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished folder into place; an existing `out` (force) is swapped out, then deleted."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _registered_parent(run_id: str | None) -> str | None:
    """The training run's id when the registry holds it (the column is a foreign key)."""
    if not run_id:
        return None
    from sqltune.core.registry import Registry, RegistryError

    try:
        return run_id if Registry().get(run_id).run_id == run_id else None
    except RegistryError:
        return None


def _record(result: MergeResult, adapter: AdapterInfo, check: CheckSet | None) -> None:
    from sqltune.core.registry import Registry, RunRecord, now_iso

    metrics: dict[str, Any] = {"passed": result.passed, "reload_exact": result.reload_exact, "wall_s": result.wall_s,
                               "n_questions": result.n_questions}
    for c in result.comparisons:
        key = f"{c.model}~{c.reference}"
        metrics[f"{key}.sql_agreement"] = c.sql_agreement
        metrics[f"{key}.logits_mean_abs"] = c.logits.mean_abs
        metrics[f"{key}.logits_max_abs"] = c.logits.max_abs
    questions_hash = hashlib.sha256("\n".join(check.questions).encode()).hexdigest()[:16] if check else None
    Registry().add(
        RunRecord(
            run_id=result.run_id,
            kind="merge",
            created_at=now_iso(),
            base_model=adapter.base_name,
            adapter_dir=str(adapter.dir.resolve()),
            output_dir=str(Path(result.out_dir).resolve()),
            status="failed" if result.passed is False else "completed",
            config={
                "dtype": result.dtype,
                "base_form": result.base_form,
                "base_form_requested": result.base_form_requested,
                "trained_on": result.trained_on,
                "tolerance": asdict(result.tolerance),
                "adapter_run_id": adapter.run.get("run_id"),
            },
            quant_config=asdict(adapter.quant),
            lora_config={k: adapter.peft_config.get(k) for k in ("r", "lora_alpha", "target_modules", "peft_type")},
            data_hashes={"check_questions": questions_hash} if questions_hash else {},
            metrics=metrics,
            parent_run_id=result.parent_run_id,
        )
    )
