"""Estimate peak training memory before training: QLoRA vs bf16 LoRA vs full fine-tuning.

Parameters are counted from layer shapes: the model is built from its config on PyTorch's
`meta` device, so no weight is read or allocated. Which layers are quantised follows
transformers' own rule (`get_keys_to_not_convert`): every `nn.Linear` becomes 4-bit except the
output embedding (`lm_head`) and tied weights; embeddings and norms are not `nn.Linear` and stay
16-bit.

Byte counts per component (bytes/param unless stated), as sqltune's trainer builds the model:

* base weights -- QLoRA: 0.5 for each quantised linear weight, plus its absmax scales: one fp32
  per 64-weight block, or with double quantisation one uint8 per block plus one fp32 per 256
  blocks (and the small code tables). The other weights (embeddings, norms, lm_head) at the
  compute dtype's width (`dtype_bytes`: 2 for bf16, 4 where training runs in fp32), or at 4 when
  they are upcast (`upcast_non_quantized`, peft's fp16 safeguard). LoRA and full: `dtype_bytes`.
* adapter -- `r * (in + out)` per targeted linear, in the compute dtype: sqltune casts the
  adapter weights to it (`adapter_dtype_bytes` overrides; peft alone would keep them fp32).
* gradients -- same dtype as the trainable weights.
* optimizer -- AdamW keeps two moments in the adapter's dtype (torch's AdamW allocates them like
  the parameter; fp32 for full fine-tuning); 8-bit AdamW keeps two uint8 moments plus one fp32 absmax per 256-value
  block and state. Paged optimisers have the same size but can spill to CPU memory under
  pressure, so the figure is an upper bound on accelerator memory there.
* activations -- what the forward pass leaves for backward in the decoder stack: see
  `activation_bytes` (eager attention keeps each layer's [batch, heads, L, L] score matrices).
* logits -- the LM head's working set at the start of backward: the fp32 log-softmax output,
  the loss gradient and the log-softmax input gradient, 12 bytes per scored token and vocabulary
  entry. With the completion-only loss only the completion's tokens are scored (`completion_tokens`);
  with a whole-sequence loss every position is. For small models with large vocabularies this
  term often dominates.
* one layer in backward -- the working set of backward through one decoder layer: its gradients
  and, with gradient checkpointing, its rebuilt activations (`layer_backward_bytes`). It comes
  after the logits' gradients are freed, so the peak holds the larger of the two, not both.

Total peak = base weights + adapter + gradients + optimizer + activations
             + max(logits, one layer in backward).

Full fine-tuning is costed as 16-bit weights + 16-bit gradients + fp32 optimizer moments (no fp32
master copy). Framework overhead (CUDA context, allocator caching and fragmentation, kernels'
workspaces) is not included: leave ~0.5-1 GiB of headroom on a GPU; on CPU the run record
compares the estimate with the resident memory training added.
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

    from sqltune.training.config import TrainConfig

METHODS = ("qlora", "lora", "full")
ATTENTIONS = ("eager", "sdpa")
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
    num_heads: int
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
    layer_backward: int
    trainable_params: int
    total_params: int
    settings: dict = field(default_factory=dict)

    @property
    def static(self) -> int:
        """Held for the whole run: weights, adapter, gradients, optimizer state."""
        return self.base_weights + self.adapter + self.gradients + self.optimizer

    @property
    def total(self) -> int:
        """The peak: the logits' gradients are freed before backward reaches the decoder layers."""
        return self.static + self.activations + max(self.logits, self.layer_backward)

    def rows(self) -> dict[str, int]:
        return {
            "base weights": self.base_weights,
            "adapter": self.adapter,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "activations": self.activations,
            "logits": self.logits,
            "one layer in backward": self.layer_backward,
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
        num_heads=heads,
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


def optimizer_bytes(trainable: int, optimizer: str, param_bytes: int = FP32) -> int:
    """Optimizer state for `trainable` parameters of `param_bytes` each; names follow transformers' `optim` values."""
    name = optimizer.lower()
    if not name.startswith(("adamw", "paged_adamw", "adam")):
        raise ConfigError(f"unknown optimizer {optimizer!r}: expected an AdamW variant (adamw_torch, adamw_8bit, paged_adamw_8bit, ...)")
    if "8bit" in name:
        return 2 * trainable + 2 * math.ceil(trainable / ADAM8_BLOCK) * FP32
    return 2 * param_bytes * trainable


def _kept_input_widths(shape: ModelShape, trainable: Sequence[LinearLayer], attention: str) -> list[int]:
    """Widths of the distinct inputs the trainable linears keep. Linears under one parent with the
    same input width read one tensor (q/k/v the normed hidden state, gate/up theirs), except the
    parent's last linear (o_proj, down_proj), which reads the parent's own result. Under SDPA the
    attention output that o_proj reads is the tensor SDPA keeps anyway (counted with attention)."""
    last = {ln.parent: ln.name for ln in shape.quantizable}
    keys = set()
    for ln in trainable:
        if last.get(ln.parent) != ln.name:
            keys.add((ln.parent, ln.in_features))
        elif not (attention == "sdpa" and _is_attention(ln.parent)):
            keys.add((ln.name, ln.in_features))
    return [width for _, width in keys]


def _is_attention(module_name: str) -> bool:
    return module_name.rsplit(".", 1)[-1] in ("self_attn", "attn", "attention", "self_attention")


def _layer_bytes_per_token(
    shape: ModelShape, *, seq_len: int, trainable: Sequence[LinearLayer], lora_r: int, stream_bytes: int,
    trainable_bytes: int, norms_trainable: bool, attention: str, active: int,
) -> float:
    """What one decoder layer keeps for backward, per token (see `activation_bytes`)."""
    h, i, kv, a = shape.hidden_size, shape.intermediate_size, shape.kv_dim, stream_bytes
    eager = attention == "eager"
    kept_kv = h if eager and kv < h else kv  # eager's repeat_kv copies k and v out to every head
    attention_bytes = a * (h + 2 * kept_kv) + (0 if eager else a * h)  # q, k, v (+ SDPA's output)
    if eager:
        # softmax's fp32 output, and its copy in the stream dtype that multiplies v
        attention_bytes += shape.num_heads * seq_len * (FP32 + (a if a != FP32 else 0))
    fixed = 2 * FP32 * h + attention_bytes + a * 3 * i
    if lora_r and trainable_bytes != stream_bytes:
        inputs = trainable_bytes * sum(ln.in_features for ln in trainable)
    else:
        inputs = stream_bytes * sum(_kept_input_widths(shape, trainable, attention))
    inputs += trainable_bytes * lora_r * len(trainable)
    return fixed + inputs / active + (2 * stream_bytes * h if norms_trainable else 0)


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
    attention: str = "sdpa",
) -> int:
    """Tensors the forward pass leaves for backward in the decoder stack (logits excluded),
    Llama-like block.

    Per layer and token, with h = hidden, i = intermediate, kv = key/value width, H = heads,
    L = sequence length and a = bytes of the residual stream (the compute dtype's; 4 when the
    embeddings were upcast to fp32):
      norms       2 * 4h           RMSNorm upcasts its input to fp32 and keeps it
      attention   SDPA: a * (2h + 2kv), q, k, v and its output (no L x L matrix);
                  eager: a * 3h for q and k, v repeated out to every head, plus the scores:
                  H * L * (4 + a), softmax's fp32 output and its copy in the stream dtype
      MLP         a * 3i           gate, act(gate), up
      inputs      the inputs of trainable linears (a frozen linear keeps none): with LoRA weights
                  in another dtype than the stream peft copies each targeted layer's input to
                  it (trainable_bytes * in, per target); otherwise each distinct input tensor once
                  (`_kept_input_widths`)
      LoRA        trainable_bytes * r per target (the low-rank intermediate)
    plus the final norm's fp32 input (4h) and the labels (8 bytes). When the norm weights train too
    (full fine-tuning) each norm also keeps its normalised output (a * h), and lm_head its input.
    With gradient checkpointing only each layer's input is kept (a * h per layer and token); the
    layer rebuilt in backward is `layer_backward_bytes`. `active_layers`: how many of the upper
    layers backward reaches (LoRA on the upper layers only); below them nothing is kept.
    Checked against autograd's saved tensors on a tiny Llama in tests/test_plan.py.
    """
    if attention not in ATTENTIONS:
        raise ConfigError(f"attention must be one of {', '.join(ATTENTIONS)}, got {attention!r}")
    tokens = batch_size * seq_len
    layers = shape.num_layers
    active = layers if active_layers is None else max(1, min(active_layers, layers))
    per_layer = _layer_bytes_per_token(
        shape, seq_len=seq_len, trainable=trainable, lora_r=lora_r, stream_bytes=stream_bytes,
        trainable_bytes=trainable_bytes, norms_trainable=norms_trainable, attention=attention, active=active,
    )
    kept = active * stream_bytes * shape.hidden_size if gradient_checkpointing else active * per_layer
    outside = FP32 * shape.hidden_size + 8 + (2 * stream_bytes * shape.hidden_size if norms_trainable else 0)
    return int(tokens * (kept + outside))


def layer_backward_bytes(
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
    attention: str = "sdpa",
) -> int:
    """Working set of backward through one decoder layer, beyond what `activation_bytes` counts:
    with gradient checkpointing the layer's rebuilt activations; always the gradients alive at
    once inside it -- the MLP's (a * 2i per token: the gradients of act(gate) * up and of its two
    factors) and, with eager attention, the scores' (H * L * 8 per token: softmax's input and
    output gradients in fp32)."""
    tokens = batch_size * seq_len
    layers = shape.num_layers
    active = layers if active_layers is None else max(1, min(active_layers, layers))
    rebuilt = 0.0
    if gradient_checkpointing:
        rebuilt = _layer_bytes_per_token(
            shape, seq_len=seq_len, trainable=trainable, lora_r=lora_r, stream_bytes=stream_bytes,
            trainable_bytes=trainable_bytes, norms_trainable=norms_trainable, attention=attention, active=active,
        )
    grads = stream_bytes * 2 * shape.intermediate_size
    if attention == "eager":
        grads += 2 * FP32 * shape.num_heads * seq_len
    return int(tokens * (rebuilt + grads))


def logits_bytes(shape: ModelShape, *, batch_size: int, scored_tokens: int) -> int:
    """The LM head's working set at the start of backward: log-softmax's fp32 output, the loss
    gradient and the log-softmax input gradient, for every scored token of the batch (12 bytes
    per token and vocabulary entry, whatever the stream dtype: the loss upcasts to fp32)."""
    return batch_size * scored_tokens * shape.vocab_size * 3 * FP32


def estimate_memory(
    model_config: "PretrainedConfig | ModelShape",
    *,
    method: str = "qlora",
    lora_r: int = 16,
    lora_targets: str | Sequence[str] = DEFAULT_TARGETS,
    batch_size: int = 4,
    seq_len: int = 512,
    completion_tokens: int | None = None,
    attention: str = "sdpa",
    gradient_checkpointing: bool = True,
    optimizer: str = "adamw_torch",
    double_quant: bool = True,
    upcast_non_quantized: bool = True,
    dtype_bytes: int = BF16,
    adapter_dtype_bytes: int | None = None,
    lora_layers: Sequence[int] | None = None,
) -> MemoryEstimate:
    """Peak training memory for one method ("qlora", "lora" or "full"); see the module docstring.

    `completion_tokens`: tokens per sequence the loss scores through the LM head (sqltune's
    completion-only loss: the SQL's); None scores every position (a whole-sequence loss).
    `attention`: "eager" (what sqltune trains with on CPU) or "sdpa"."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    if attention not in ATTENTIONS:
        raise ConfigError(f"attention must be one of {', '.join(ATTENTIONS)}, got {attention!r}")
    for label, value in (("batch size", batch_size), ("sequence length", seq_len), ("LoRA rank", lora_r)):
        if value < 1:
            raise ConfigError(f"{label} must be at least 1, got {value}")
    if completion_tokens is not None and not 1 <= completion_tokens <= seq_len:
        raise ConfigError(f"completion tokens must be between 1 and the sequence length ({seq_len}), got {completion_tokens}")
    for label, value in (("dtype_bytes", dtype_bytes), ("adapter_dtype_bytes", adapter_dtype_bytes)):
        if value is not None and value not in (BF16, FP32):
            raise ConfigError(f"{label} must be 2 (bf16/fp16) or 4 (fp32), got {value}")
    shape = model_config if isinstance(model_config, ModelShape) else model_shape(model_config)
    settings = dict(
        lora_r=lora_r, lora_targets=lora_targets if isinstance(lora_targets, str) else list(lora_targets),
        batch_size=batch_size, seq_len=seq_len, completion_tokens=completion_tokens, attention=attention,
        gradient_checkpointing=gradient_checkpointing, optimizer=optimizer, double_quant=double_quant,
        upcast_non_quantized=upcast_non_quantized, dtype_bytes=dtype_bytes, adapter_dtype_bytes=adapter_dtype_bytes,
        lora_layers=list(lora_layers) if lora_layers else None,
    )
    stream = dtype_bytes
    if method == "full":
        layers = list(shape.quantizable)
        trainable = shape.total_params
        base = dtype_bytes * shape.total_params
        rank, trainable_bytes = 0, dtype_bytes
        adapter = 0
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
        rank, trainable_bytes = lora_r, adapter_dtype_bytes or dtype_bytes
        adapter = trainable_bytes * trainable
    stack = dict(
        batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=gradient_checkpointing, trainable=layers,
        lora_r=rank, stream_bytes=stream, trainable_bytes=trainable_bytes, norms_trainable=method == "full",
        active_layers=shape.num_layers - min(lora_layers) if lora_layers and method != "full" else None,
        attention=attention,
    )
    return MemoryEstimate(
        method=method,
        base_weights=base,
        adapter=adapter,
        gradients=trainable_bytes * trainable,
        optimizer=optimizer_bytes(trainable, optimizer, FP32 if method == "full" else trainable_bytes),
        activations=activation_bytes(shape, **stack),
        logits=logits_bytes(shape, batch_size=batch_size, scored_tokens=completion_tokens or seq_len),
        layer_backward=layer_backward_bytes(shape, **stack),
        trainable_params=trainable,
        total_params=shape.total_params,
        settings=settings,
    )


def upper_layers(num_layers: int, top_layers: int | None) -> list[int] | None:
    """The decoder layers that get adapters: the upper `top_layers`, or None for every layer."""
    if top_layers is None or top_layers >= num_layers:
        return None
    return list(range(num_layers - top_layers, num_layers))


def upcasts_non_quantized(config: "TrainConfig") -> bool:
    """Whether a run keeps norms and embeddings in fp32 (peft's fp16 safeguard; not under bf16)."""
    import torch

    if config.fp32_non_quantized is not None:
        return config.fp32_non_quantized
    return config.method == "qlora" and config.quant.torch_compute_dtype() == torch.float16


def estimate_for_training(model_config: "PretrainedConfig | ModelShape", config: "TrainConfig", *, seq_len: int,
                          completion_tokens: int | None, dtype_bytes: int) -> MemoryEstimate:
    """The estimate for one `sqltune train` run, at a batch of `config.batch_size` sequences of
    `seq_len` tokens whose completions have `completion_tokens` tokens. The run record, `sqltune
    plan` and the main job's plan all read a run's settings through `training_settings`, so they
    state one figure for one run."""
    shape = model_config if isinstance(model_config, ModelShape) else model_shape(model_config)
    return estimate_memory(shape, method=config.method, **training_settings(
        shape, config, seq_len=seq_len, completion_tokens=completion_tokens, dtype_bytes=dtype_bytes))


def training_settings(shape: ModelShape, config: "TrainConfig", *, seq_len: int, completion_tokens: int | None,
                      dtype_bytes: int, upcast_non_quantized: bool | None = None) -> dict[str, Any]:
    """`estimate_memory`'s settings (all but the method) for a run of `config`; `upcast_non_quantized`
    None: as the run decides it (`upcasts_non_quantized`)."""
    from sqltune.inference.models import attention_implementation
    from sqltune.training.trainer import choose_optimizer

    return dict(
        lora_r=config.lora.r,
        lora_targets=list(config.lora.target_modules),
        batch_size=config.batch_size,
        seq_len=seq_len,
        completion_tokens=min(completion_tokens, seq_len) if config.completion_only_loss and completion_tokens else None,
        attention=attention_implementation(config.attention) or "sdpa",
        gradient_checkpointing=config.gradient_checkpointing,
        optimizer=choose_optimizer(config.optimizer),
        double_quant=config.quant.double_quant,
        upcast_non_quantized=upcasts_non_quantized(config) if upcast_non_quantized is None else upcast_non_quantized,
        dtype_bytes=dtype_bytes,
        lora_layers=upper_layers(shape.num_layers, config.lora.top_layers),
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
