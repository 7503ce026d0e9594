"""Train the upper layers on the frozen lower layers' outputs, computed once per pair and reused.

With adapters on the upper N decoder layers only (`lora.top_layers`), nothing below them changes
during training: the output of the lower layers for a pair is the same at every epoch. So it is
computed once, without gradients (`cache_lower_outputs`), and every training step runs the upper
layers alone on it (`upper_layers_only` puts a pass-through in place of each lower layer, so
parameter names, checkpoints and the saved adapter are those of the whole model).

A step then costs the upper layers' forward and backward plus the LM head on the SQL positions:
on SmolLM2-135M with 8 of 30 layers trained, about a third of a whole-model step. Within a time
budget that buys epochs, so the run trains on as many pairs as fit `reuse_epochs` passes
(`pairs_that_fit`); the lower layers' outputs of those pairs are held in memory
(`cache_bytes`: tokens x hidden size x 2 bytes in bf16).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqltune.training.trainer import completion_loss

if TYPE_CHECKING:
    from sqltune.training.config import TrainConfig

log = logging.getLogger(__name__)


def decoder_layers(model: Any) -> Any:
    """The decoder's layer list of a (PEFT-wrapped) causal LM."""
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    return core.base_model.layers


def _pass_through() -> Any:
    import torch

    class PassThrough(torch.nn.Module):
        """Stands in for a frozen lower layer whose output is already in the inputs."""

        def forward(self, hidden_states, *args, **kwargs):
            return hidden_states

    return PassThrough()


@contextlib.contextmanager
def upper_layers_only(model: Any, cut: int) -> Iterator[Callable[[], Any]]:
    """Within the block, layers [0, cut) are pass-throughs: the model reads `inputs_embeds` as the
    output of layer cut-1 and runs the upper layers only. Yields a context factory that puts the
    lower layers back for a while (answering questions from token ids mid-run)."""
    layers = decoder_layers(model)
    lower = [layers[i] for i in range(cut)]
    passes = [_pass_through() for _ in range(cut)]

    @contextlib.contextmanager
    def whole_model() -> Iterator[None]:
        try:
            for i, layer in enumerate(lower):
                layers[i] = layer
            yield
        finally:
            for i, layer in enumerate(passes):
                layers[i] = layer

    try:
        for i, layer in enumerate(passes):
            layers[i] = layer
        yield whole_model
    finally:
        for i, layer in enumerate(lower):
            layers[i] = layer


@contextlib.contextmanager
def lower_layers_only(model: Any, cut: int) -> Iterator[None]:
    """Within the block, the decoder runs layers [0, cut) and skips the rest and the final norm:
    its last hidden state is the lower layers' output."""
    import torch

    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = core.base_model
    layers = backbone.layers
    upper = [layers[i] for i in range(cut, len(layers))]
    norm = backbone.norm
    try:
        for i in range(cut, len(layers)):
            layers[i] = _pass_through()
        backbone.norm = torch.nn.Identity()
        yield
    finally:
        for offset, layer in enumerate(upper):
            layers[cut + offset] = layer
        backbone.norm = norm


def cache_lower_outputs(model: Any, sequences: list[list[int]], cut: int, *, pad_token_id: int,
                        batch_size: int = 16, pad_to_multiple_of: int = 1,
                        progress: Callable[[int, int], None] | None = None) -> list[Any]:
    """The lower layers' output for every token sequence (one [len, hidden] tensor each, in the
    model's dtype), computed without gradients in batches of similar length, each padded up to
    `pad_to_multiple_of` (see `TrainConfig.pad_to_multiple_of`)."""
    import torch

    from sqltune.training.examples import padded_length

    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    outputs: list[Any] = [None] * len(sequences)
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    device = next(p for p in model.parameters()).device
    with torch.no_grad(), lower_layers_only(model, cut):
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            width = padded_length(max(len(sequences[i]) for i in chunk), pad_to_multiple_of)
            ids = torch.full((len(chunk), width), pad_token_id, dtype=torch.long, device=device)
            for row, i in enumerate(chunk):
                ids[row, :len(sequences[i])] = torch.tensor(sequences[i], device=device)
            # right padding under the causal mask: no real token sees a pad
            hidden = core.base_model(input_ids=ids, use_cache=False).last_hidden_state
            for row, i in enumerate(chunk):
                outputs[i] = hidden[row, :len(sequences[i])].clone()
            if progress:
                progress(min(start + batch_size, len(order)), len(order))
    return outputs


def cache_bytes(tokens: int, hidden_size: int, dtype_bytes: int) -> int:
    """Memory the cached lower-layer outputs take."""
    return tokens * hidden_size * dtype_bytes


@dataclass(frozen=True)
class ReusePlan:
    """How many pairs the run caches and trains on, from measured costs."""

    pairs: int
    of_pairs: int
    cache_s_per_pair: float
    step_s_per_pair: float
    epochs: float
    held_out: int | None = None  # held-out pairs cached and evaluated (None: all of them)

    def summary(self) -> str:
        return (f"{self.pairs:,} of {self.of_pairs:,} pairs, lower layers cached once "
                f"({self.cache_s_per_pair * 1000:.0f} ms/pair), about {self.epochs:.1f} epochs of upper-layer "
                f"steps ({self.step_s_per_pair * 1000:.0f} ms/pair)")


def pairs_that_fit(*, budget_left_s: float, total_pairs: int, cache_s_per_pair: float, step_s_per_pair: float,
                   epochs: float, min_pairs: int = 1) -> ReusePlan:
    """The most pairs whose caching plus `epochs` passes of training fit the time left; all of
    them when that leaves more than `epochs` passes."""
    per_pair = cache_s_per_pair + epochs * step_s_per_pair
    fit = int(budget_left_s / per_pair) if per_pair > 0 else total_pairs
    pairs = max(min(total_pairs, fit), min(min_pairs, total_pairs))
    left_for_steps = max(budget_left_s - pairs * cache_s_per_pair, 0.0)
    achieved = left_for_steps / (pairs * step_s_per_pair) if pairs and step_s_per_pair > 0 else epochs
    return ReusePlan(pairs, total_pairs, cache_s_per_pair, step_s_per_pair, achieved)


def held_out_to_keep(held_out: int, pairs: int, of_pairs: int, min_keep: int) -> int:
    """Held-out pairs in proportion to the training pairs a budget allows: a run that trains on
    105 of 3,868 pairs should not cache and evaluate 77 held-out ones (measured: 3 of 15 minutes
    with a schema in the prompt), but keeps at least `min_keep` for its loss curve."""
    if held_out <= 0 or pairs >= of_pairs:
        return held_out
    return min(held_out, max(min_keep, math.ceil(held_out * pairs / max(of_pairs, 1))))


def held_out_seconds(held_out: int, cache_s_per_pair: float, step_s_per_pair: float, evaluations: int) -> float:
    """What the held-out pairs cost the budget: caching them once, and each held-out evaluation
    (a forward pass of the upper layers, about a third of a training step's work)."""
    return held_out * (cache_s_per_pair + evaluations * step_s_per_pair / 3)


def time_costs(model: Any, sequences: list[list[int]], labels: list[list[int]], cut: int, *, pad_token_id: int,
               batch_size: int, pad_to_multiple_of: int = 1) -> tuple[float, float, list[Any]]:
    """Seconds per pair to cache the lower layers and to train the upper ones, measured on the
    first `batch_size` pairs (whose cached outputs are returned, to be kept) and scaled to the
    whole set by length: both costs grow with the tokens processed, and a handful of pairs can be
    much shorter or longer than the rest. Caching runs in batches of similar length
    (little padding): a pair costs the mean length there. A training batch is drawn at random and
    padded to its longest pair: a pair costs the expected longest of `batch_size` pairs. The timed
    training step's gradients are discarded: the adapter is unchanged. (The trainer must train
    the adapter in the same dtype, see `train.keep_adapter_dtype`, or this underestimates its steps.)
    Lengths count as padded up to `pad_to_multiple_of`, as every batch is."""
    from sqltune.training.examples import padded_length

    sample = list(range(min(batch_size, len(sequences))))
    width = padded_length(max(len(sequences[i]) for i in sample), pad_to_multiple_of)
    padded = len(sample) * width
    began = time.monotonic()
    cached = cache_lower_outputs(model, [sequences[i] for i in sample], cut, pad_token_id=pad_token_id,
                                 batch_size=batch_size, pad_to_multiple_of=pad_to_multiple_of)
    cache_s_per_token = (time.monotonic() - began) / padded
    batch = pad_cached(cached, [labels[i] for i in sample], pad_to_multiple_of)
    with upper_layers_only(model, cut):
        timings = []
        for _ in range(2):  # the first pass pays one-off allocations
            began = time.monotonic()
            completion_loss(model, batch)[0].backward()
            timings.append(time.monotonic() - began)
            model.zero_grad(set_to_none=True)
    step_s_per_token = timings[-1] / padded
    lengths = [padded_length(len(s), pad_to_multiple_of) for s in sequences]
    mean_length = sum(lengths) / len(lengths)
    return (cache_s_per_token * mean_length, step_s_per_token * expected_batch_width(lengths, batch_size), cached)


def expected_batch_width(lengths: list[int], batch_size: int) -> float:
    """The expected longest sequence of a batch of `batch_size` drawn at random without
    replacement from `lengths`: what a random batch is padded to, per row. Exact: the k-th
    shortest is the longest of the batch with probability C(k-1, b-1) / C(n, b)."""
    n = len(lengths)
    if n == 0:
        return 0.0
    b = max(1, min(batch_size, n))
    ordered = sorted(lengths)
    weighted = sum(ordered[k - 1] * math.comb(k - 1, b - 1) for k in range(b, n + 1))
    return weighted / math.comb(n, b)


def pad_cached(hidden: list[Any], labels: list[list[int]], pad_to_multiple_of: int = 1) -> dict:
    """A right-padded batch of cached lower-layer outputs with their labels (-100 on padding),
    its width the longest row's rounded up to `pad_to_multiple_of`."""
    import torch

    from sqltune.training.examples import padded_length

    width = padded_length(max(h.shape[0] for h in hidden), pad_to_multiple_of)
    embeds = torch.zeros((len(hidden), width, hidden[0].shape[-1]), dtype=hidden[0].dtype)
    out_labels = torch.full((len(hidden), width), -100, dtype=torch.long)
    mask = torch.zeros((len(hidden), width), dtype=torch.long)
    for row, (h, lab) in enumerate(zip(hidden, labels)):
        embeds[row, :h.shape[0]] = h
        out_labels[row, :len(lab)] = torch.tensor(lab)
        mask[row, :h.shape[0]] = 1
    return {"inputs_embeds": embeds, "labels": out_labels, "attention_mask": mask}


class CachedCollator:
    """Batches of cached lower-layer outputs (by each example's `example_index`) with their labels."""

    def __init__(self, hidden: list[Any], pad_to_multiple_of: int = 1) -> None:
        self.hidden = hidden
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, examples: list[dict]) -> dict:
        # trl turns completion_mask into labels (-100 on the prompt) while it prepares the dataset
        return pad_cached([self.hidden[ex["example_index"]] for ex in examples],
                          [ex["labels"] if "labels" in ex else loss_labels(ex["input_ids"], ex["completion_mask"])
                           for ex in examples], self.pad_to_multiple_of)


def cut_layer(num_layers: int, top_layers: int | None) -> int:
    """Index of the first trained layer (0: every layer trains, nothing to cache)."""
    if top_layers is None or top_layers >= num_layers:
        return 0
    return num_layers - top_layers


def loss_labels(input_ids: list[int], completion_mask: list[int]) -> list[int]:
    return [t if m else -100 for t, m in zip(input_ids, completion_mask)]


@dataclass
class LowerCache:
    """What the trainer needs from the cache: the layer the upper part starts at, the plan, and
    the epochs the budget planner may run up to."""

    cut: int
    plan: ReusePlan
    epochs_cap: float
    cache_s: float
    cached_tokens: int
    cached_bytes: int

    def record(self) -> dict:
        return {"first_trained_layer": self.cut, "pairs": self.plan.pairs, "of_pairs": self.plan.of_pairs,
                "planned_epochs": round(self.plan.epochs, 3), "cache_s": round(self.cache_s, 1),
                "cache_ms_per_pair": round(self.plan.cache_s_per_pair * 1000, 1),
                "step_ms_per_pair": round(self.plan.step_s_per_pair * 1000, 1),
                "cached_tokens": self.cached_tokens, "cached_bytes": self.cached_bytes}


PLAN_FILE = "lower_cache_plan.json"


def prepare_lower_cache(config: "TrainConfig", loaded: Any, tokenizer: Any, train_ds: Any, eval_ds: Any, data_facts: dict,
                        out: Any, resume: bool, started: float, progress: Callable[[dict], None] | None = None,
                        *, pad_to_multiple_of: int = 1, budget_s: float | None = None) -> tuple[Any, Any, Any, LowerCache | None]:
    """Choose the pairs (as many as fit --epochs passes of the time budget, `budget_s` seconds),
    cache their lower-layer outputs (and the held-out pairs'), and return the datasets and
    collator the trainer reads (collator and cache None when the adapters cover every layer); a
    resumed run keeps the stored choice. Every batch is padded up to `pad_to_multiple_of` (the
    run's `batch_multiple`, decided by the caller with its collator)."""
    import json
    from pathlib import Path

    from sqltune.core.errors import ConfigError
    from sqltune.core.paths import atomic_write_text
    from sqltune.training.budget import format_duration

    model = loaded.model
    num_layers = len(decoder_layers(model))
    cut = cut_layer(num_layers, config.lora.top_layers)
    if config.lora.top_layers is None:
        raise ConfigError("cache_lower_layers needs lora.top_layers (adapters on the upper layers only: "
                          "the frozen layers below them are what is cached)")
    if cut == 0:
        # a recipe written for a deeper model: every layer trains, there is nothing to cache
        log.warning("cache_lower_layers: lora.top_layers=%d covers all %d layers; training the whole model",
                    config.lora.top_layers, num_layers)
        if progress:
            progress({"event": "note", "line": f"lora.top_layers={config.lora.top_layers} covers all {num_layers} "
                                                 "layers: nothing below the adapters to cache, training every layer"})
        return train_ds, eval_ds, None, None
    sequences = list(train_ds["input_ids"])
    labels = [loss_labels(ids, mask) for ids, mask in zip(sequences, train_ds["completion_mask"])]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    stored = Path(out) / PLAN_FILE
    began = time.monotonic()
    first: list[Any] = []
    if resume and stored.exists():
        plan = ReusePlan(**json.loads(stored.read_text()))
    elif budget_s is not None:
        cache_s, step_s, first = time_costs(model, sequences, labels, cut, pad_token_id=pad, batch_size=config.batch_size,
                                            pad_to_multiple_of=pad_to_multiple_of)
        # what the budget leaves after loading, minus the planner's reserve and the held-out evaluations
        left = (budget_s - (time.monotonic() - started)) * 0.9 - min(30.0, 0.02 * budget_s)
        # fit_pairs_to_budget: as many pairs as fit --epochs passes; else every pair, unless not even
        # one pass fits (then the planner's passes are over what does)
        epochs = max(config.num_epochs, 1e-3) if config.fit_pairs_to_budget else min(max(config.num_epochs, 1e-3), 1.0)
        held_out = len(eval_ds) if eval_ds is not None else 0
        min_pairs = config.batch_size * config.grad_accum

        def plan_for(kept: int) -> ReusePlan:
            spare = left - held_out_seconds(kept, cache_s, step_s, max(config.budget_evals, 1))
            return pairs_that_fit(budget_left_s=spare, total_pairs=len(sequences), cache_s_per_pair=cache_s,
                                  step_s_per_pair=step_s, epochs=epochs, min_pairs=min_pairs)

        plan = plan_for(held_out)
        kept = held_out_to_keep(held_out, plan.pairs, plan.of_pairs, min_keep=config.batch_size)
        if kept < held_out:  # the plan's cost is that of the held-out pairs it keeps
            plan = dataclasses.replace(plan_for(kept), held_out=kept)
        # the passes it says are those the run makes: --epochs stays their bound (plan_budget's cap)
        plan = dataclasses.replace(plan, epochs=min(plan.epochs, max(config.num_epochs, 1e-3)))
        if plan.pairs < plan.of_pairs and not config.fit_pairs_to_budget:
            log.warning("time budget %s: one pass over all %d pairs does not fit; training on %d of them",
                        config.time_budget, plan.of_pairs, plan.pairs)
            if progress:
                progress({"event": "note", "line": f"warning: one pass over all {plan.of_pairs:,} pairs does not fit the "
                                                     f"{config.time_budget} budget on this machine; training on "
                                                     f"{plan.pairs:,} of them (a longer --time-budget trains on all)"})
    else:
        plan = ReusePlan(len(sequences), len(sequences), 0.0, 0.0, config.num_epochs)
    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write_text(stored, json.dumps(plan.__dict__))
    log.info("lower-layer cache: %s", plan.summary())
    if progress:
        progress({"event": "note", "line": f"lower layers 0-{cut - 1} cached once, layers {cut}-{num_layers - 1} "
                                             f"trained: {plan.summary()}"})
    n = plan.pairs
    if eval_ds is not None and plan.held_out is not None and plan.held_out < len(eval_ds):
        if progress:
            progress({"event": "note", "line": f"held-out loss on {plan.held_out:,} of the {len(eval_ds):,} held-out "
                                                 f"pairs (in proportion to the {n:,} trained)"})
        eval_ds = eval_ds.select(range(plan.held_out))
        data_facts["eval_pairs"] = plan.held_out
    eval_sequences = list(eval_ds["input_ids"]) if eval_ds is not None else []

    def report(done: int, total: int) -> None:
        if progress and (done == total or done % (16 * 10) < 16):
            progress({"event": "note", "line": f"caching lower layers: {done:,}/{total:,} pairs "
                                                 f"({format_duration(time.monotonic() - began)})"})

    kept = first[:n]  # the pairs timed while planning are already cached
    hidden = kept + cache_lower_outputs(model, sequences[len(kept):n] + eval_sequences, cut, pad_token_id=pad,
                                        batch_size=max(config.batch_size, 16),
                                        pad_to_multiple_of=pad_to_multiple_of, progress=report)
    train_part = train_ds.select(range(n)).add_column("example_index", list(range(n)))
    eval_part = (eval_ds.add_column("example_index", list(range(n, n + len(eval_sequences))))
                 if eval_ds is not None else None)
    data_facts["pairs_available"] = data_facts["train_pairs"]
    data_facts["train_pairs"] = n
    tokens = sum(h.shape[0] for h in hidden)
    cache = LowerCache(cut, plan, epochs_cap=max(config.num_epochs, 1e-3), cache_s=time.monotonic() - began,
                       cached_tokens=tokens, cached_bytes=cache_bytes(tokens, hidden[0].shape[-1], hidden[0].element_size()))
    return train_part, eval_part, CachedCollator(hidden, pad_to_multiple_of), cache
