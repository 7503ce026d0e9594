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



def is_probe(scores: Any) -> bool:
    """Whether these are the uniform scores transformers' prompt lookup passes the logits processors
    to ask which drafted tokens are forbidden, not a model's. A constraint that keeps only its top
    valid token would forbid every draft there; letting each through is safe, because the drafts
    are then verified against the model's constrained scores and kept only where they are its choice."""
    return bool((scores.amax(dim=-1) == scores.amin(dim=-1)).all())


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
    Rows keep their place between steps (greedy and sampling; not beam search). Each call's
    log-probabilities are kept by the position they predict, and a later call at the same position
    replaces them: prompt-lookup decoding scores drafted tokens that the model may then reject."""

    def __init__(self, end_ids: Sequence[int], lookahead: int = 0):
        self.end_ids = {int(i) for i in end_ids if i is not None}
        self.lookahead = lookahead  # drafted tokens a call may score ahead of what is kept
        self.prompt_len: int | None = None
        self.loglik: list[float] = []
        self._logp: dict[int, Any] = {}  # the position a call predicted -> its log-softmax
        self._gain: dict[int, list[float]] = {}  # position -> each row's log-probability of its token there

    def _take(self, input_ids: Any, position: int) -> None:
        logp = self._logp.get(position)
        if logp is None or input_ids.shape[1] <= position:
            return
        chosen = input_ids[:, position]
        self._gain[position] = logp.gather(1, chosen.unsqueeze(1)).squeeze(1).tolist()

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        length = input_ids.shape[1]
        if self.prompt_len is None:
            self.prompt_len = length
        if is_probe(scores):
            return scores  # prompt lookup's uniform probe of its drafts, not a model's scores
        self._take(input_ids, length - 1)
        # what was scored at or past this position belonged to drafts the model did not keep
        for stale in [p for p in self._gain if p >= length]:
            del self._gain[stale]
        self._logp[length] = torch.log_softmax(scores.float(), dim=-1)
        for old in [p for p in self._logp if p < length - 1 - self.lookahead or p > length]:
            del self._logp[old]
        return scores

    def finish(self, sequences: Any) -> None:
        """Count the last generated token (no step follows it) and sum each row's tokens up to its end."""
        if self.prompt_len is None:
            return
        if sequences.shape[1] > self.prompt_len:
            self._take(sequences, sequences.shape[1] - 1)
        rows = sequences.shape[0]
        self.loglik = [0.0] * rows
        done = [False] * rows
        tokens = sequences[:, self.prompt_len:].tolist()
        for offset in range(sequences.shape[1] - self.prompt_len):
            gains = self._gain.get(self.prompt_len + offset)
            if gains is None:
                continue
            for row in range(rows):
                if not done[row]:
                    self.loglik[row] += float(gains[row])
                    done[row] = tokens[row][offset] in self.end_ids
