"""What one batch's decoding keeps between its calls: the prompts' key/value cache from the greedy
pass (`Prefill`) and each candidate's log-likelihood (`LoglikRecorder`). Apart from
`generate.py` so that the model-facing SqlModel stays one step per method."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@functools.cache
def cache_argument() -> str:
    """What generate calls the cache it takes and returns: `cache` from transformers 5, before it `past_key_values`."""
    try:
        from transformers.generation.utils import GenerateDecoderOnlyOutput
    except ImportError:
        return "past_key_values"
    return "cache" if "cache" in getattr(GenerateDecoderOnlyOutput, "__dataclass_fields__", {}) else "past_key_values"



@dataclass
class Prefill:
    """The key/value cache of a batch of prompts, as the greedy pass left it, cut back to all but
    each prompt's last token: a later continuation of any of these prompts (the sampled candidates,
    the top-up rounds) starts from it and reads only that token, instead of its whole prompt again.
    On a CPU a prompt with retrieved examples costs more to read than its SQL costs to write."""

    rows: dict[str, int]
    input_ids: Any
    attention_mask: Any
    cache: Any

    @classmethod
    def keep(cls, texts: Sequence[str], batch: dict[str, Any], cache: Any) -> "Prefill | None":
        if cache is None or not hasattr(cache, "crop") or not hasattr(cache, "batch_select_indices"):
            return None
        extra = cache.get_seq_length() - (batch["input_ids"].shape[1] - 1)
        if extra > 0:
            cache.crop(-extra)  # a negative count removes that many tokens (transformers 4 and 5 alike)
        return cls({t: i for i, t in enumerate(texts)}, batch["input_ids"], batch["attention_mask"], cache)

    def holds(self, texts: Sequence[str]) -> bool:
        return all(t in self.rows for t in texts)

    def take(self, texts: Sequence[str], n: int) -> tuple[dict[str, Any], Any]:
        """The rows of `texts`, each repeated `n` times, with a copy of their cache."""
        import copy

        import torch

        index = torch.tensor([self.rows[t] for t in texts], device=self.input_ids.device)
        batch = {"input_ids": self.input_ids[index].repeat_interleave(n, dim=0),
                 "attention_mask": self.attention_mask[index].repeat_interleave(n, dim=0)}
        cache = copy.deepcopy(self.cache)
        cache.batch_select_indices(index)
        cache.batch_repeat_interleave(n)
        return batch, cache


class LoglikRecorder:
    """A logits processor placed first: sums, per row, the log-probability the model (before any
    constraint, temperature or truncation) gave each token it generated, until end of answer.
    Rows keep their place between steps (greedy and sampling; not beam search)."""

    def __init__(self, end_ids: Sequence[int]):
        self.end_ids = {int(i) for i in end_ids if i is not None}
        self.prompt_len: int | None = None
        self.loglik: list[float] = []
        self._done: list[bool] = []
        self._prev: Any = None

    def _take(self, input_ids: Any) -> None:
        if self._prev is None:
            return
        chosen = input_ids[:, -1]
        gained = self._prev.gather(1, chosen.unsqueeze(1)).squeeze(1).tolist()
        for row, (token, value) in enumerate(zip(chosen.tolist(), gained)):
            if not self._done[row]:
                self.loglik[row] += float(value)
                self._done[row] = token in self.end_ids
        self._prev = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self.prompt_len is None:
            self.prompt_len = input_ids.shape[1]
            self.loglik = [0.0] * input_ids.shape[0]
            self._done = [False] * input_ids.shape[0]
        self._take(input_ids)
        self._prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, sequences: Any) -> None:
        """Count the last generated token (no step follows it)."""
        if self.prompt_len is not None and sequences.shape[1] > self.prompt_len:
            self._take(sequences)
