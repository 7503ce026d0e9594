"""Estimate peak training memory before training: QLoRA vs bf16 LoRA vs full fine-tuning.

Parameters are counted from layer shapes: the model is built from its config on PyTorch's
`meta` device, so no weight is read or allocated. Which layers are quantised follows
transformers' own rule (`get_keys_to_not_convert`): every `nn.Linear` becomes 4-bit except the
output embedding (`lm_head`) and tied weights; embeddings and norms are not `nn.Linear` and stay
16-bit.

Byte counts per component (bytes/param unless stated):

* base weights -- QLoRA: 0.5 for each quantised linear weight, plus its absmax scales: one fp32
  per 64-weight block, or with double quantisation one uint8 per block plus one fp32 per 256
  blocks (and the small code tables). Everything else at 2 (bf16). LoRA and full: 2 for all.
* adapter -- `r * (in + out)` per targeted linear, at 4: peft's default `autocast_adapter_dtype`
  keeps adapter weights in fp32 even on a bf16/4-bit base.
* gradients -- same dtype as the trainable weights (adapter fp32; full fine-tuning bf16).
* optimizer -- AdamW keeps two fp32 moments (8); 8-bit AdamW keeps two uint8 moments plus one
  fp32 absmax per 256-value block and state. Paged optimisers have the same size but can spill to
  CPU memory under pressure, so the figure is an upper bound on accelerator memory there.
* activations -- see `activation_bytes`.
* logits -- `batch * seq * vocab * (2 + 4 + 4)`: the lm_head output in bf16, its fp32 upcast kept
  for the loss, and the fp32 gradient of that upcast at the start of backward. For small models
  with large vocabularies this term often dominates.

Full fine-tuning is costed as bf16 weights + bf16 gradients + fp32 optimizer moments (no fp32
master copy). Framework overhead (CUDA context, allocator fragmentation, kernels' workspaces) is
not included: leave ~0.5-1 GiB of headroom on a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from sqltune.errors import ConfigError

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
    from sqltune.models import resolve_base

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
    lora_layers: Sequence[LinearLayer] = (),
    lora_r: int = 0,
    dtype_bytes: int = BF16,
) -> int:
    """Tensors saved for backward by the decoder stack (logits excluded), for a Llama-like block.

    Per layer and token, with h = hidden, i = intermediate, kv = key/value width, a = dtype bytes:
      norms       2 * 4h            (RMSNorm upcasts its input to fp32 and keeps it)
      attention   a * (3h + 2kv)    (normed input, q, k, v, attention output; SDPA/flash attention
                                     keeps no seq x seq matrix -- eager attention would add
                                     2 * heads * seq * a)
      MLP         a * (h + 3i)      (normed input, gate, up, act(gate) * up)
      LoRA        4 * (in + r)      per targeted linear: peft casts the input to the fp32 adapter
                                     dtype and keeps it, plus the r-wide intermediate
    plus the final norm's fp32 input (4h) and the labels (8 bytes).
    With gradient checkpointing only each layer's input is kept (a * h per layer and token) and one
    layer's activations are rebuilt at a time during backward.
    """
    tokens = batch_size * seq_len
    h, i, kv = shape.hidden_size, shape.intermediate_size, shape.kv_dim
    per_layer = 2 * FP32 * h + dtype_bytes * (3 * h + 2 * kv) + dtype_bytes * (h + 3 * i)
    per_layer += FP32 * (sum(ln.in_features for ln in lora_layers) + lora_r * len(lora_layers)) / shape.num_layers
    outside = FP32 * h + 8
    if gradient_checkpointing:
        kept = shape.num_layers * dtype_bytes * h + per_layer
    else:
        kept = shape.num_layers * per_layer
    return int(tokens * (kept + outside))


def logits_bytes(shape: ModelShape, *, batch_size: int, seq_len: int, dtype_bytes: int = BF16) -> int:
    return batch_size * seq_len * shape.vocab_size * (dtype_bytes + FP32 + FP32)


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
) -> MemoryEstimate:
    """Peak training memory for one method ("qlora", "lora" or "full"); see the module docstring."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    for label, value in (("batch size", batch_size), ("sequence length", seq_len), ("LoRA rank", lora_r)):
        if value < 1:
            raise ConfigError(f"{label} must be at least 1, got {value}")
    shape = model_config if isinstance(model_config, ModelShape) else model_shape(model_config)
    settings = dict(
        lora_r=lora_r, lora_targets=lora_targets if isinstance(lora_targets, str) else list(lora_targets),
        batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=gradient_checkpointing,
        optimizer=optimizer, double_quant=double_quant,
    )
    if method == "full":
        trainable = shape.total_params
        base = BF16 * shape.total_params
        adapter, gradients = 0, BF16 * trainable
        acts = activation_bytes(shape, batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=gradient_checkpointing)
    else:
        layers = shape.targets(lora_targets)
        trainable = sum(lora_r * (ln.in_features + ln.out_features) for ln in layers)
        if method == "qlora":
            base = BF16 * shape.kept_params + sum(nf4_weight_bytes(ln.params, double_quant=double_quant) for ln in shape.quantizable)
        else:
            base = BF16 * shape.total_params
        adapter = gradients = FP32 * trainable
        acts = activation_bytes(
            shape, batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=gradient_checkpointing,
            lora_layers=layers, lora_r=lora_r,
        )
    return MemoryEstimate(
        method=method,
        base_weights=base,
        adapter=adapter,
        gradients=gradients,
        optimizer=optimizer_bytes(trainable, optimizer),
        activations=acts,
        logits=logits_bytes(shape, batch_size=batch_size, seq_len=seq_len),
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
