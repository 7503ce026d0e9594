"""Estimate peak training memory before training: QLoRA vs bf16 LoRA vs full fine-tuning.

Parameters are counted from layer shapes: the model is built from its config on PyTorch's
`meta` device, so no weight is read or allocated. Which layers are quantised follows
transformers' own rule (`get_keys_to_not_convert`): every `nn.Linear` becomes 4-bit except the
output embedding (`lm_head`) and tied weights; embeddings and norms are not `nn.Linear` and stay
16-bit.

Byte counts per component (bytes/param unless stated):

* base weights -- QLoRA: 0.5 for each quantised linear weight, plus its absmax scales: one fp32
  per 64-weight block, or with double quantisation one uint8 per block plus one fp32 per 256
  blocks (and the small code tables). The other weights (embeddings, norms, lm_head) at 4:
  peft's `prepare_model_for_kbit_training`, which sqltune's trainer calls, casts every
  non-4-bit weight to fp32 (`upcast_non_quantized=False` for 2, as loaded). LoRA and full: 2 for
  all (`dtype_bytes`: 4 where the CPU lacks bf16 and training runs in fp32).
* adapter -- `r * (in + out)` per targeted linear, at 4: peft's default `autocast_adapter_dtype`
  keeps adapter weights in fp32 even on a bf16/4-bit base.
* gradients -- same dtype as the trainable weights (adapter fp32; full fine-tuning 2).
* optimizer -- AdamW keeps two fp32 moments (8); 8-bit AdamW keeps two uint8 moments plus one
  fp32 absmax per 256-value block and state. Paged optimisers have the same size but can spill to
  CPU memory under pressure, so the figure is an upper bound on accelerator memory there.
* activations -- see `activation_bytes`.
* logits -- `batch * seq * vocab * (4 + 4 [+ 2])`: transformers' loss upcasts the logits to
  fp32 and keeps them, backward adds their fp32 gradient, and a bf16 residual stream adds the
  bf16 lm_head output. For small models with large vocabularies this term often dominates.

Full fine-tuning is costed as 16-bit weights + 16-bit gradients + fp32 optimizer moments (no fp32
master copy). Framework overhead (CUDA context, allocator fragmentation, kernels' workspaces) is
not included: leave ~0.5-1 GiB of headroom on a GPU.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from sqltune.core.errors import ConfigError

if TYPE_CHECKING:
    from transformers import PretrainedConfig

METHODS = ("qlora", "lora", "full")
BF16 = 2
FP32 = 4
QUANT_BLOCK = 64          # bitsandbytes 4-bit blocksize
NESTED_BLOCK = 256        # double quantisation: blocks of absmax values
ADAM8_BLOCK = 256         # bitsandbytes 8-bit optimiser blocksize
DEFAULT_TARGETS = "all-linear"


@dataclass(frozen=True)
class LinearLayer:
    name: str
    in_features: int
    out_features: int

    @property
    def parent(self) -> str:
        return self.name.rpartition(".")[0]

    @property
    def params(self) -> int:
        return self.in_features * self.out_features


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs from a model, read from its config and its layers' shapes."""

    name: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    vocab_size: int
    kv_dim: int
    total_params: int
    quantizable: tuple[LinearLayer, ...]  # linears bitsandbytes turns into 4-bit
    kept_params: int  # parameters left in 16-bit under 4-bit loading (embeddings, norms, lm_head, biases)

    def targets(self, lora_targets: str | Sequence[str]) -> list[LinearLayer]:
        """The linears a LoRA `target_modules` value matches (peft's suffix rule, or "all-linear")."""
        if isinstance(lora_targets, str):
            if lora_targets == "all-linear":
                return list(self.quantizable)
            lora_targets = [lora_targets]
        keys = list(lora_targets)
        found = [ln for ln in self.quantizable if any(ln.name == k or ln.name.endswith("." + k) for k in keys)]
        if not found:
            names = sorted({ln.name.rsplit(".", 1)[-1] for ln in self.quantizable})
            raise ConfigError(f"LoRA targets {keys} match no linear layer of {self.name}; available: {names}")
        return found


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak training memory of one method, by component, in bytes."""

    method: str
    base_weights: int
    adapter: int
    gradients: int
    optimizer: int
    activations: int
    logits: int
    trainable_params: int
    total_params: int
    settings: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.base_weights + self.adapter + self.gradients + self.optimizer + self.activations + self.logits

    def rows(self) -> dict[str, int]:
        return {
            "base weights": self.base_weights,
            "adapter": self.adapter,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "activations": self.activations,
            "logits": self.logits,
            "total peak": self.total,
        }


def load_model_config(model: "str | Path | PretrainedConfig | None") -> "PretrainedConfig":
    """A config object from a `PretrainedConfig`, a local checkpoint dir, or None (the default base)."""
    from transformers import AutoConfig, PretrainedConfig

    if isinstance(model, PretrainedConfig):
        return model
    from sqltune.inference.models import resolve_base

    where = resolve_base(None if model is None else str(model))
    try:
        return AutoConfig.from_pretrained(where, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read a model config from {where}: {exc}") from None


def model_shape(model_config: "PretrainedConfig") -> ModelShape:
    """Count parameters by building the model on the meta device (no memory, no weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(model_config)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"cannot build a causal LM from config {type(model_config).__name__}: {exc}") from None
    skip = set(_modules_not_quantized(model))
    quantizable = tuple(
        LinearLayer(name, mod.in_features, mod.out_features)
        for name, mod in model.named_modules()
        if isinstance(mod, torch.nn.Linear) and not any(name == s or name.startswith(s + ".") for s in skip)
    )
    total = sum(p.numel() for p in model.parameters())
    text = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    hidden = text.hidden_size
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or hidden // heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    return ModelShape(
        name=getattr(model_config, "_name_or_path", "") or type(model_config).__name__,
        hidden_size=hidden,
        intermediate_size=getattr(text, "intermediate_size", None) or 4 * hidden,
        num_layers=text.num_hidden_layers,
        vocab_size=text.vocab_size,
        kv_dim=kv_heads * head_dim,
        total_params=total,
        quantizable=quantizable,
        kept_params=total - sum(ln.params for ln in quantizable),
    )


def _modules_not_quantized(model: Any) -> list[str]:
    try:
        from transformers.quantizers.base import get_keys_to_not_convert

        return list(get_keys_to_not_convert(model))
    except (ImportError, AttributeError):
        out = model.get_output_embeddings()
        return [n for n, m in model.named_modules() if out is not None and m is out]


def layer_index(name: str) -> int | None:
    """The decoder layer a module belongs to (`model.layers.3.mlp.up_proj` -> 3), None outside them."""
    match = re.search(r"\.layers\.(\d+)\.", "." + name)
    return int(match.group(1)) if match else None


def nf4_weight_bytes(params: int, *, double_quant: bool) -> int:
    """Bytes of one 4-bit linear weight: packed nibbles + absmax scales + code tables."""
    blocks = math.ceil(params / QUANT_BLOCK)
    packed = math.ceil(params / 2)
    if double_quant:
        scales = blocks + math.ceil(blocks / NESTED_BLOCK) * FP32 + FP32  # uint8 absmax, fp32 nested absmax, offset
        tables = (16 + 256) * FP32  # NF4 code + the dynamic map of the nested quantisation
    else:
        scales = blocks * FP32
        tables = 16 * FP32
    return packed + scales + tables


def optimizer_bytes(trainable: int, optimizer: str) -> int:
    """Optimizer state for `trainable` parameters; names follow transformers' `optim` values."""
    name = optimizer.lower()
    if not name.startswith(("adamw", "paged_adamw", "adam")):
        raise ConfigError(f"unknown optimizer {optimizer!r}: expected an AdamW variant (adamw_torch, adamw_8bit, paged_adamw_8bit, ...)")
    if "8bit" in name:
        return 2 * trainable + 2 * math.ceil(trainable / ADAM8_BLOCK) * FP32
    return 2 * FP32 * trainable


def activation_bytes(
    shape: ModelShape,
    *,
    batch_size: int,
    seq_len: int,
    gradient_checkpointing: bool,
    trainable: Sequence[LinearLayer] = (),
    lora_r: int = 0,
    stream_bytes: int = BF16,
    trainable_bytes: int = FP32,
    norms_trainable: bool = False,
    active_layers: int | None = None,
) -> int:
    """Tensors autograd keeps for backward in the decoder stack (logits excluded), Llama-like block.

    Per layer and token, with h = hidden, i = intermediate, kv = key/value width and a = bytes of
    the residual stream (2 for bf16; 4 when the embeddings were upcast to fp32):
      norms       2 * 4h           RMSNorm upcasts its input to fp32 and keeps it
      attention   a * (2h + 2kv)   q, k, v and the attention output (SDPA/flash attention keeps
                                   no seq x seq matrix; eager attention would add 2*heads*seq*a)
      MLP         a * 3i           gate, act(gate), up
      inputs      the inputs of trainable linears (a frozen linear keeps none): with LoRA weights
                  in another dtype than the stream peft copies each targeted layer's input to
                  it (trainable_bytes * in, per target); otherwise linears under one parent with
                  the same input width share one kept input (stream_bytes * in)
      LoRA        trainable_bytes * r per target (the low-rank intermediate)
    plus the final norm's fp32 input (4h) and the labels (8 bytes). When the norm weights train too
    (full fine-tuning) each norm also keeps its normalised output (a * h), and lm_head its input.
    With gradient checkpointing only each layer's input is kept (a * h per layer and token) and
    one layer's activations are rebuilt at a time during backward. `active_layers`: how many of
    the upper layers backward reaches (LoRA on the upper layers only); below them nothing is kept.
    Checked against autograd's saved tensors on a tiny Llama in tests/test_plan.py.
    """
    tokens = batch_size * seq_len
    h, i, kv, layers = shape.hidden_size, shape.intermediate_size, shape.kv_dim, shape.num_layers
    active = layers if active_layers is None else max(1, min(active_layers, layers))
    fixed = 2 * FP32 * h + stream_bytes * (2 * h + 2 * kv) + stream_bytes * 3 * i
    if lora_r and trainable_bytes != stream_bytes:
        inputs = trainable_bytes * sum(ln.in_features for ln in trainable)
    else:
        inputs = stream_bytes * sum(width for _, width in {(ln.parent, ln.in_features) for ln in trainable})
    inputs += trainable_bytes * lora_r * len(trainable)
    per_layer = fixed + inputs / active + (2 * stream_bytes * h if norms_trainable else 0)
    kept = active * stream_bytes * h + per_layer if gradient_checkpointing else active * per_layer
    outside = FP32 * h + 8 + (2 * stream_bytes * h if norms_trainable else 0)
    return int(tokens * (kept + outside))


def logits_bytes(shape: ModelShape, *, batch_size: int, seq_len: int, stream_bytes: int = BF16) -> int:
    """fp32 logits kept for the loss + their fp32 gradient (+ the 16-bit lm_head output)."""
    extra = stream_bytes if stream_bytes != FP32 else 0
    return batch_size * seq_len * shape.vocab_size * (FP32 + FP32 + extra)


def estimate_memory(
    model_config: "PretrainedConfig | ModelShape",
    *,
    method: str = "qlora",
    lora_r: int = 16,
    lora_targets: str | Sequence[str] = DEFAULT_TARGETS,
    batch_size: int = 4,
    seq_len: int = 512,
    gradient_checkpointing: bool = True,
    optimizer: str = "adamw_torch",
    double_quant: bool = True,
    upcast_non_quantized: bool = True,
    dtype_bytes: int = BF16,
    lora_layers: Sequence[int] | None = None,
) -> MemoryEstimate:
    """Peak training memory for one method ("qlora", "lora" or "full"); see the module docstring."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    for label, value in (("batch size", batch_size), ("sequence length", seq_len), ("LoRA rank", lora_r)):
        if value < 1:
            raise ConfigError(f"{label} must be at least 1, got {value}")
    if dtype_bytes not in (BF16, FP32):
        raise ConfigError(f"dtype_bytes must be 2 (bf16/fp16) or 4 (fp32), got {dtype_bytes}")
    shape = model_config if isinstance(model_config, ModelShape) else model_shape(model_config)
    settings = dict(
        lora_r=lora_r, lora_targets=lora_targets if isinstance(lora_targets, str) else list(lora_targets),
        batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=gradient_checkpointing,
        optimizer=optimizer, double_quant=double_quant, upcast_non_quantized=upcast_non_quantized,
        dtype_bytes=dtype_bytes, lora_layers=list(lora_layers) if lora_layers else None,
    )
    stream = dtype_bytes
    if method == "full":
        layers = list(shape.quantizable)
        trainable = shape.total_params
        base = dtype_bytes * shape.total_params
        adapter, gradients, rank, trainable_bytes = 0, dtype_bytes * trainable, 0, dtype_bytes
    else:
        layers = shape.targets(lora_targets)
        if lora_layers is not None:
            layers = [ln for ln in layers if layer_index(ln.name) in set(lora_layers)]
        trainable = sum(lora_r * (ln.in_features + ln.out_features) for ln in layers)
        if method == "qlora":
            kept_bytes = FP32 if upcast_non_quantized else dtype_bytes
            stream = kept_bytes  # the (upcast) embedding sets the residual stream's dtype
            base = kept_bytes * shape.kept_params + sum(
                nf4_weight_bytes(ln.params, double_quant=double_quant) for ln in shape.quantizable
            )
        else:
            base = dtype_bytes * shape.total_params
        adapter = gradients = FP32 * trainable
        rank, trainable_bytes = lora_r, FP32
    acts = activation_bytes(
        shape, batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=gradient_checkpointing,
        trainable=layers, lora_r=rank, stream_bytes=stream, trainable_bytes=trainable_bytes,
        norms_trainable=method == "full",
        active_layers=shape.num_layers - min(lora_layers) if lora_layers and method != "full" else None,
    )
    return MemoryEstimate(
        method=method,
        base_weights=base,
        adapter=adapter,
        gradients=gradients,
        optimizer=optimizer_bytes(trainable, optimizer),
        activations=acts,
        logits=logits_bytes(shape, batch_size=batch_size, seq_len=seq_len, stream_bytes=stream),
        trainable_params=trainable,
        total_params=shape.total_params,
        settings=settings,
    )


def plan_table(model_config: "PretrainedConfig | ModelShape", **kwargs: Any) -> list[MemoryEstimate]:
    """The three methods side by side with the same settings (QLoRA, bf16 LoRA, full)."""
    shape = model_config if isinstance(model_config, ModelShape) else model_shape(model_config)
    return [estimate_memory(shape, method=m, **kwargs) for m in METHODS]


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
