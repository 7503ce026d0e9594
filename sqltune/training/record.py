"""What a training run leaves behind besides the adapter: memory measured while it ran, the run
record (run.json and the registry), with the figures a later reader needs.
Its functions take train.py's dataclasses (TrainConfig, LoadedModel, ...) typed as Any: this module
is imported by train.py and must not import it back."""

from __future__ import annotations

import json
import os
import resource
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqltune.core.paths import atomic_write_text
from sqltune.inference.models import device

if TYPE_CHECKING:
    from sqltune.training.config import TrainConfig


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int | None:
    """Resident memory now (Linux /proc); None where it cannot be read."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


_LIBC: Any = None


def _glibc() -> Any:
    """The C library when it is glibc (loaded once; mallinfo2 and malloc_trim are glibc's), else None."""
    global _LIBC
    if _LIBC is None:
        import ctypes

        class Mallinfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                               "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallinfo2.restype = Mallinfo2
            _LIBC = libc
        except (OSError, AttributeError):  # not glibc (macOS, musl), or one older than 2.33
            _LIBC = False
    return _LIBC or None


def allocated_bytes() -> int | None:
    """Bytes the C heap has handed out and not had back (glibc's mallinfo2: in-use heap chunks plus
    mmapped blocks): what live tensors and other native objects take, without the freed memory
    the allocator keeps mapped or the library code pages the RSS also counts. None off glibc."""
    libc = _glibc()
    if libc is None:
        return None
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)


def return_freed_memory_at_once(threshold: int = 256 * 1024) -> bool:
    """From now on blocks of `threshold` bytes or more are mapped on their own and unmapped when
    freed, and free memory above the heap's top is trimmed past `threshold` (glibc's mallopt; fixed
    values also stop glibc raising them as it sees large blocks freed). Training allocates and frees
    activations of varying shape every step; with glibc's defaults the freed memory stays resident
    (RSS 1.4-2x the heap in use), with this RSS follows the heap in use but each step page-faults its
    fresh blocks (measured ~1.6x the step time on an AVX2 CPU, ~2x on an Intel Xeon with AMX in bf16).
    False off glibc (nothing done)."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD, threshold))


def release_freed_memory() -> None:
    """Hand the heap's freed pages back to the OS. glibc keeps freed memory mapped for reuse, so
    what loading and 4-bit quantising a model (or caching the lower layers) allocated and freed
    would stay resident through training, in the process's RSS and in the measured training memory."""
    import gc

    gc.collect()
    libc = _glibc()
    if libc is not None:  # elsewhere there is nothing to do
        libc.malloc_trim(0)


class RssSampler:
    """Samples resident memory every `interval` seconds in a thread, for the peak while training
    runs (the process's lifetime peak can come from model loading instead)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = current_rss_bytes()
        self.peak_allocated = allocated_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = current_rss_bytes()
            if now is not None and (self.peak is None or now > self.peak):
                self.peak = now
            held = allocated_bytes()
            if held is not None and (self.peak_allocated is None or held > self.peak_allocated):
                self.peak_allocated = held

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def run_record(config: "TrainConfig", base_path: str, loaded: Any, data_facts: dict, trainer: Any,
               run: Any, step0: dict | None, eval_loss: float | None, reporter: Any,
               budget: Any | None, out: Path, processes: int = 1) -> dict:
    """Everything needed to compare this run with another: settings, data, speed, memory, losses.
    `processes`: how many trained together (each step took a batch on each; memory is rank 0's)."""
    import torch

    history = trainer.state.log_history
    train_tokens = trainer._total_train_tokens
    rss_before = loaded.rss_before_model
    plan = budget.planner.plan if budget else None
    return {
        "kind": "train",
        "method": config.method,
        "base_model": config.base,
        "base_path": base_path,
        "schema_source": config.db,
        "device": device(),
        "compute_dtype": _dtype_name(loaded.dtype),
        "adapter_dtype": sorted({_dtype_name(p.dtype) for p in trainer.model.parameters() if p.requires_grad}),
        "dtype_probe": loaded.dtype_probe,
        "quant_config": asdict(config.quant) if config.method == "qlora" else None,
        "lora_config": asdict(config.lora),
        "lora_layers": loaded.layers_to_transform,
        "prompt_config": asdict(config.prompt),
        "train_config": asdict(config),
        "data": data_facts,
        "steps": trainer.state.global_step,
        "resumed_from": str(run.resumed_from) if run.resumed_from else None,
        "wall_s": run.wall_s,
        "train_tokens": train_tokens,
        "tokens_per_s": train_tokens / run.wall_s if run.wall_s > 0 else None,
        "processes": processes,
        "pairs_per_minute": (60 * trainer.state.global_step * config.batch_size * config.grad_accum * processes / run.wall_s
                             if run.wall_s > 0 else None),
        "time_budget_s": budget.planner.budget_s if budget else None,
        "budget_plan": plan.to_dict() if plan else None,
        "peak_rss_bytes": _peak_rss_bytes(),
        # Comparable with the estimate: peak while training minus what the process held before the
        # model was loaded (Python, torch, tokenizer, data); the estimate counts model state only.
        "training_peak_rss_bytes": run.training_peak_rss,
        "rss_before_model_bytes": rss_before,
        "model_training_rss_bytes": run.training_peak_rss - rss_before if run.training_peak_rss and rss_before else None,
        # the same peak counted in bytes the heap handed out (live tensors): RSS adds what glibc keeps
        # mapped after frees and the code pages of the libraries training touches
        "model_training_allocated_bytes": (run.training_peak_allocated - loaded.allocated_before_model
                                           if run.training_peak_allocated and loaded.allocated_before_model else None),
        "peak_cuda_bytes": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
        "estimated_peak_bytes": _estimate_peak(base_path, config, trainer, data_facts, loaded),
        "largest_batch": asdict(trainer.largest_batch) if hasattr(trainer, "largest_batch") else None,
        "trainable_params": loaded.trainable,
        "total_params": loaded.total,
        "step0_loss": step0,
        "final_train_loss": run.output.training_loss,
        "eval_loss": eval_loss,
        "loss_history": [{"step": h["step"], "loss": h["loss"]} for h in history if "loss" in h],
        "eval_history": [{"step": h["step"], "eval_loss": h["eval_loss"]} for h in history if "eval_loss" in h],
        # held-out loss against minutes since training began (model loading included)
        "learning_curve": reporter.curve,
        "adapter_bytes": (out / "adapter_model.safetensors").stat().st_size,
    }


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def _final_eval_loss(trainer: Any) -> float:
    """The eval loss at the last step: the periodic eval's when it ran there, else a fresh one."""
    last = [h for h in trainer.state.log_history if "eval_loss" in h]
    if last and last[-1].get("step") == trainer.state.global_step:
        return last[-1]["eval_loss"]
    return trainer.evaluate()["eval_loss"]


def _estimate_peak(base_path: str, config: "TrainConfig", trainer: Any, data_facts: dict, loaded: Any) -> int | None:
    """`sqltune plan`'s estimate for this run, at the largest batch it trained on (the longest
    padded sequence, the most completion tokens), so that it is compared with this run's peak."""
    from transformers import AutoConfig

    from sqltune.training.plan import estimate_for_training

    largest = getattr(trainer, "largest_batch", None)
    if largest is not None and largest.rows:
        seq_len, completion = largest.seq_len, largest.completion_tokens()
    else:
        seq_len = data_facts.get("tokens_per_example_max") or config.max_seq_len
        completion = data_facts.get("completion_tokens_max")
    est = estimate_for_training(AutoConfig.from_pretrained(base_path), config, seq_len=seq_len,
                                completion_tokens=completion, dtype_bytes=loaded.dtype.itemsize)
    cached = (data_facts.get("lower_cache") or {}).get("cached_bytes", 0)  # the lower layers' outputs, kept all run
    return int(est.total) + int(cached)


def _record_run(record: dict, out: Path, register: bool) -> str:
    from sqltune.core.connections import mask_in
    from sqltune.core.registry import Registry, RunRecord, new_run_id, now_iso

    run_id = new_run_id("train")
    record = mask_in({"run_id": run_id, **record})  # no warehouse password in run.json or the registry
    atomic_write_text(out / "run.json", json.dumps(record, indent=2, default=str))
    if register:
        Registry().add(
            RunRecord(
                run_id=run_id,
                kind="train",
                created_at=now_iso(),
                base_model=record["base_model"],
                adapter_dir=str(out.resolve()),
                output_dir=str(out.resolve()),
                status="completed",
                config=record["train_config"],
                quant_config=record["quant_config"],
                lora_config=record["lora_config"],
                data_hashes={"train_pairs": record["data"]["train_pairs_hash"],
                             "train_examples": record["data"]["train_examples_hash"]},
                metrics={k: record[k] for k in ("steps", "wall_s", "tokens_per_s", "peak_rss_bytes",
                                                 "estimated_peak_bytes", "final_train_loss", "eval_loss",
                                                 "trainable_params", "adapter_bytes")},
            )
        )
    return run_id
