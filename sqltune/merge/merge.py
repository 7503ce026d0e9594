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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqltune.core.errors import ConfigError
from sqltune.core.paths import atomic_write_text
from sqltune.inference.adapter import ADAPTER_META
from sqltune.retrieval import EXAMPLES_FILE
from sqltune.inference.models import load_model, load_tokenizer
from sqltune.merge.config import BASE_FORMS, DEFAULT_N_CHECK, DTYPES, MergeConfig
from sqltune.merge.check import (
    DEFAULT_TOLERANCE, CheckSet, FormAgreement, ProgressFn, Tolerance, _emit, check_set, judge, reference_for, run_check,
)
from sqltune.merge.weights import AdapterInfo, attach, merge_into, nf4_weights, read_adapter, unmerged

if TYPE_CHECKING:
    from sqltune.inference.generate import DecodeConfig
    from sqltune.schema.model import Schema

log = logging.getLogger(__name__)

MERGE_JSON = "merge.json"


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
    comparisons: list[FormAgreement]
    tolerance: Tolerance
    passed: bool | None  # None: no equivalence check was run (n_check=0)
    failures: list[str]
    reload_exact: bool  # the saved checkpoint reloads with every tensor equal to the merged model
    wall_s: float
    run_id: str
    parent_run_id: str | None

    def comparison(self, model: str, reference: str) -> FormAgreement:
        for item in self.comparisons:
            if item.model == model and item.reference == reference:
                return item
        raise KeyError(f"no comparison of {model} with {reference}")

    @property
    def sql_agreement(self) -> dict[str, float]:
        return {f"{c.model} vs {c.reference}": c.sql_agreement for c in self.comparisons if c.sql_agreement is not None}

    def to_dict(self) -> dict:
        return asdict(self)


# -- the whole stage ----------------------------------------------------------------------------


def run_merge(config: MergeConfig, *, progress: ProgressFn | None = None) -> MergeResult:
    """`merge_adapter` as `config` says: the check asks `config.check_data`'s questions when given
    (else the adapter's training questions), greedy, up to `max_new_tokens` tokens."""
    from sqltune.core.errors import MissingOptionError
    from sqltune.inference.generate import DecodeConfig

    missing = [flag for flag, value in (("--adapter", config.adapter), ("--out", config.out_dir)) if not value]
    if missing:
        raise MissingOptionError(f"merge needs {' and '.join(missing)} (the adapter and the folder for the merged checkpoint)")
    check_questions = None
    if config.check_data is not None:
        from sqltune.data import load_pairs

        check_questions = [pair.question for pair in load_pairs(config.check_data)]
    return merge_adapter(
        config.adapter, config.out_dir, base=config.base, dtype=config.dtype, base_form=config.base_form,
        check_questions=check_questions, n_check=config.n_check, schema=config.db,
        decode=DecodeConfig(max_new_tokens=config.max_new_tokens, batch_size=8), force=config.force, progress=progress,
    )


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

    comparisons: list[FormAgreement] = []
    failures: list[str] = []
    if check is not None:
        _emit(progress, "references")
        references = {
            "adapter_original": unmerged(adapter.base_path, adapter.dir),
            "adapter_dequantized": unmerged(adapter.base_path, adapter.dir, weights),
            "adapter_nf4": attach(nf4_base, adapter.dir),
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
    for name in (ADAPTER_META, EXAMPLES_FILE):  # the prompt settings and the pairs its prompts retrieve from
        if (adapter.dir / name).exists():
            shutil.copy2(adapter.dir / name, folder / name)
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
