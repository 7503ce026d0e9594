"""The trainer itself: trl's SFTTrainer with the loss (and the LM head) on the SQL completion only,
and the checks before training: only the LoRA weights train (exactly the analytic count), and the
step-0 check that a fresh adapter changes nothing."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqltune.core.errors import TrainingCheckFailed
from sqltune.inference.models import device
from sqltune.training.budget import ScheduleShape
from sqltune.training.config import LoraSettings


def causal_only_mask(attention_mask: Any) -> Any:
    """None when every row is right-padded: under a causal mask no real token can see a later pad,
    so the padding mask changes nothing the loss reads, and without it SDPA takes its fast causal
    kernel instead of materialising a masked bias (measured ~1.3x per step on CPU)."""
    if attention_mask is None:
        return None
    right_padded = bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())
    return None if right_padded else attention_mask


def completion_loss(model: Any, inputs: dict, num_items_in_batch: Any = None) -> tuple[Any, Any, Any]:
    """Mean cross-entropy over the completion positions, projecting only those through the LM head:
    (loss, their logits, their targets). Reads `inputs_embeds` instead of `input_ids` when given
    (cached lower-layer outputs, see lower_cache.py)."""
    import torch
    import torch.nn.functional as F

    labels = inputs["labels"]
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = core.base_model
    source = {"inputs_embeds": inputs["inputs_embeds"]} if "inputs_embeds" in inputs else {"input_ids": inputs["input_ids"]}
    hidden = backbone(**source, attention_mask=causal_only_mask(inputs.get("attention_mask")), use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    mask = targets != -100
    logits = core.get_output_embeddings()(hidden[:, :-1][mask]).float()
    picked = targets[mask]
    n_tokens = mask.sum() if num_items_in_batch is None else num_items_in_batch
    loss = F.cross_entropy(logits, picked, reduction="sum") / torch.as_tensor(n_tokens).clamp(min=1)
    return loss, logits, picked


def is_wrapped(model: Any) -> bool:
    """A model inside a DDP or DeepSpeed wrapper (several processes), not the PEFT model itself."""
    return not hasattr(model, "get_base_model") and hasattr(model, "module")


def _completion_only_trainer_class() -> type:
    import torch
    from trl import SFTTrainer

    class CompletionOnlySFTTrainer(SFTTrainer):
        """SFTTrainer whose loss projects only completion positions through the LM head.

        trl's fused head scores only label positions on Triton devices and every position
        elsewhere; this does the compact version on every device. Same loss, far fewer FLOPs
        when the prompt is most of the sequence.
        """

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if is_wrapped(model):
                # several processes: the forward must go through the DDP/DeepSpeed wrapper, which
                # synchronises the gradients; trl's loss (same value: mean over the SQL tokens)
                return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
            loss, logits, picked = completion_loss(model, inputs, num_items_in_batch)
            mode = "train" if model.training else "eval"
            with torch.no_grad():
                accuracy = (logits.argmax(-1) == picked).float().mean().item() if picked.numel() else 0.0
            self._metrics[mode]["mean_token_accuracy"].append(accuracy)
            if mode == "train":
                self._total_train_tokens += int(inputs["attention_mask"].sum().item())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            if return_outputs:
                return loss, {"logits": logits}
            return loss

    return CompletionOnlySFTTrainer


@dataclass
class LargestBatch:
    """The largest training batch seen: the shape the peak memory is set by (the run record's
    memory estimate is taken at it, so it is compared with the run's own measured peak)."""

    rows: int = 0
    seq_len: int = 0
    scored_tokens: int = 0  # positions whose logits the loss computes, over the whole batch

    def see(self, input_ids: Any, labels: Any, completion_only: bool) -> None:
        rows, seq_len = (int(n) for n in input_ids.shape)
        scored = int((labels[:, 1:] != -100).sum()) if completion_only and labels is not None else rows * seq_len
        self.rows = max(self.rows, rows)
        self.seq_len = max(self.seq_len, seq_len)
        self.scored_tokens = max(self.scored_tokens, scored)

    def completion_tokens(self) -> int | None:
        """Scored tokens per sequence (rounded up), None before any batch."""
        return -(-self.scored_tokens // self.rows) if self.rows else None


def _trainer_class(completion_only: bool) -> type:
    """SFTTrainer (completion-only head when asked) whose LR schedule can follow a time budget's
    plan: with `trainer.schedule` set, the scheduler is a LambdaLR over that `ScheduleShape`.
    It also keeps the largest training batch's shape (`largest_batch`)."""
    import torch
    from trl import SFTTrainer

    base = _completion_only_trainer_class() if completion_only else SFTTrainer

    class SqltuneTrainer(base):
        schedule: ScheduleShape | None = None

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.largest_batch = LargestBatch()

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training:
                # cached lower-layer outputs (lower_cache.py) come as inputs_embeds [rows, seq, hidden]
                tokens = inputs["input_ids"] if "input_ids" in inputs else inputs["inputs_embeds"][..., 0]
                self.largest_batch.see(tokens, inputs.get("labels"), completion_only)
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

        def _save_rng_state(self, output_dir):
            """Several processes: rank 0 writes every rank's RNG state file (each rank's own, gathered),
            so only rank 0 writes into a checkpoint and --resume still restores each rank's."""
            if self.args.world_size <= 1:
                return super()._save_rng_state(output_dir)
            import os
            import tempfile

            import torch.distributed as dist

            name = f"rng_state_{self.args.process_index}.pth"
            with tempfile.TemporaryDirectory(prefix="sqltune-rng-") as scratch:
                super()._save_rng_state(scratch)  # transformers' own choice of states, into a private folder
                state = torch.load(os.path.join(scratch, name), weights_only=False)
            states = [None] * self.args.world_size if self.args.process_index == 0 else None
            dist.gather_object(state, states, dst=0)
            if self.args.process_index == 0:
                os.makedirs(output_dir, exist_ok=True)
                for rank, rank_state in enumerate(states):
                    torch.save(rank_state, os.path.join(output_dir, f"rng_state_{rank}.pth"))

        def create_scheduler(self, num_training_steps, optimizer=None):
            if self.schedule is None:
                return super().create_scheduler(num_training_steps, optimizer)
            if self.lr_scheduler is None:
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, self.schedule)
                self._created_lr_scheduler = True
            return self.lr_scheduler

    return SqltuneTrainer


def keep_training_layout(model: Any) -> int:
    """Stop bitsandbytes from repacking 4-bit weights for its CPU inference kernel mid-training.

    bitsandbytes (0.50) repacks a Linear4bit's weight for its AVX512-BF16 inference kernel on the
    first eval-mode forward and never unpacks it when training resumes; that kernel has no
    autograd, so after a step-0 check or a periodic eval the gradient through every frozen
    layer would silently vanish. Returns how many layers were pinned.
    """
    pinned = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            pinned += 1
    return pinned


def with_loss_labels(dataset: Any, completion_only: bool) -> Any:
    """`input_ids` + `labels` (-100 on prompt tokens when `completion_only`), as the trainer scores them."""
    def label(ex: dict) -> dict:
        mask = ex["completion_mask"] if completion_only else [1] * len(ex["input_ids"])
        return {"labels": [t if m else -100 for t, m in zip(ex["input_ids"], mask)]}

    return dataset.map(label, remove_columns=[c for c in dataset.column_names if c != "input_ids"])


def step0_losses(model: Any, dataset: Any, collator: Any, n: int = 4) -> tuple[float, float]:
    """Loss with the fresh adapter and with the adapter disabled; LoRA's B=0 makes them equal."""
    import torch

    batch = collator([dataset[i] for i in range(min(n, len(dataset)))])
    batch = {k: v.to(model.device) for k, v in batch.items()}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        with_adapter = model(**batch).loss.item()
        with model.disable_adapter():
            frozen = model(**batch).loss.item()
    model.train(was_training)
    return with_adapter, frozen


STEP0_PASSES = 3          # two forward passes, the first paying about one more in one-off setup
STEP0_EFFICIENCY = 0.5    # the share of the matmul probe's GFLOP/s a whole-model NF4 forward reaches
# (both measured: 4 x 1,024 tokens through SmolLM2-135M in NF4, one thread, AVX-512 BF16 EPYC at 175
# bf16 GFLOP/s: 26 s, then 13 s; loading it took 8 s, as `sqltune train`'s loading ETA says)


def step0_check_seconds(lengths: list[int], params: int, probe: dict | None, pad_to_multiple_of: int = 1,
                        n: int = 4) -> float | None:
    """What the step-0 check should take on a CPU (None elsewhere, or without pairs): two forward
    passes (with the adapter and without) over the `n` shortest of the pairs' `lengths`, padded to
    the longest of them, at 2 FLOPs per weight (`params`, the LM head included: every position's
    logits are computed) and token, at the matmul `probe`'s GFLOP/s (STEP0_PASSES, STEP0_EFFICIENCY).
    Its cost is the pairs' tokens, not the checkpoint's size: with a 1,000-token schema in every
    prompt the check took most of the 40 s issue 28 saw where the loading ETA said 15 s."""
    from sqltune.training.examples import padded_length

    if not probe or not lengths:
        return None
    shortest = sorted(lengths)[:n]
    tokens = len(shortest) * padded_length(max(shortest), pad_to_multiple_of)
    gflops = probe["gflops"][probe["choice"]]
    return STEP0_PASSES * tokens * 2 * params / (STEP0_EFFICIENCY * gflops * 1e9)


# -- the checks before training: only the analytic LoRA weights train, and a fresh adapter changes nothing --
def lora_parameter_count(model: Any, lora: LoraSettings, layers: list[int] | None = None) -> int:
    """r * (in + out) for every targeted linear layer (in `layers` when given): what the adapter should train."""
    import re

    total = 0
    for name, module in model.named_modules():
        if name.split(".")[-1] in lora.target_modules and hasattr(module, "in_features"):
            index = re.search(r"\.layers\.(\d+)\.", name)
            if layers is not None and (index is None or int(index.group(1)) not in layers):
                continue
            total += lora.r * (module.in_features + module.out_features)
    return total


def parameter_count(param: Any) -> int:
    """Logical element count: a packed 4-bit tensor holds two weights per byte."""
    state = getattr(param, "quant_state", None)
    return int(state.shape.numel()) if state is not None else param.numel()


def check_trainable(model: Any, expected_lora: int, limit: float | None) -> tuple[int, int]:
    """Only LoRA weights may train, exactly as many as the analytic count, under the share limit."""
    trainable = [(n, p.numel()) for n, p in model.named_parameters() if p.requires_grad]
    total = sum(parameter_count(p) for p in model.parameters())
    not_lora = [n for n, _ in trainable if "lora_" not in n]
    if not_lora:
        raise TrainingCheckFailed(f"non-LoRA parameters are trainable (base not frozen): {not_lora[:5]}")
    n_trainable = sum(n for _, n in trainable)
    if n_trainable != expected_lora:
        raise TrainingCheckFailed(f"{n_trainable} trainable parameters, expected {expected_lora} for the LoRA config")
    base_params = total - n_trainable
    share = n_trainable / max(base_params, 1)
    threshold = limit if limit is not None else max(0.02, 1.5 * expected_lora / max(base_params, 1))
    if share > threshold:
        raise TrainingCheckFailed(f"trainable share {share:.2%} exceeds {threshold:.2%}")
    return n_trainable, total


def check_step0(with_adapter: float, frozen: float, vocab_size: int) -> None:
    if not math.isfinite(with_adapter) or not math.isfinite(frozen):
        raise TrainingCheckFailed(f"step-0 loss is not finite ({with_adapter}, {frozen})")
    if abs(with_adapter - frozen) > 1e-3 * max(1.0, frozen):
        raise TrainingCheckFailed(
            f"step-0 loss with the fresh adapter ({with_adapter:.4f}) differs from the frozen base ({frozen:.4f}): "
            "the adapter is not initialised to identity or the base is not the one trained on"
        )
    if frozen > 1.5 * math.log(vocab_size):
        raise TrainingCheckFailed(f"step-0 loss {frozen:.2f} is worse than uniform guessing: broken base or labels")


def choose_optimizer(name: str) -> str:
    """Paged 8-bit AdamW where bitsandbytes pages to a GPU; plain AdamW on CPU."""
    if name != "auto":
        return name
    return "paged_adamw_8bit" if device() == "cuda" else "adamw_torch"
