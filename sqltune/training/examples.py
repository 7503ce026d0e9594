"""Pairs -> tokenized training examples: the prompt (shared with inference) plus the SQL completion.

The completion is the gold SQL followed by the tokenizer's end-of-turn token, so the model learns
to stop; only completion tokens carry loss. The prompt text comes from `sqltune.prompts`, the same
function evaluation and serving call, and `check_template_parity` proves the training sequence is
exactly what the chat template renders at inference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqltune.core.errors import TrainingCheckFailed
from sqltune.prompts import PromptConfig, build_messages, make_token_counter, prepare_questions, prompt_text
from sqltune.retrieval import ExampleIndex
from sqltune.schema.model import Schema


@dataclass
class TokenizedExample:
    id: str
    prompt_ids: list[int]
    completion_ids: list[int]

    @property
    def input_ids(self) -> list[int]:
        return self.prompt_ids + self.completion_ids

    @property
    def completion_mask(self) -> list[int]:
        return [0] * len(self.prompt_ids) + [1] * len(self.completion_ids)


def end_of_turn(tokenizer: Any) -> str:
    """The token that closes an assistant turn (`<|im_end|>` for ChatML), i.e. where generation stops."""
    return tokenizer.eos_token


def completion_text(sql: str, tokenizer: Any) -> str:
    return sql.strip().rstrip(";").strip() + end_of_turn(tokenizer)


def tokenize_pairs(
    pairs: Sequence[Any],
    schema: Schema,
    tokenizer: Any,
    prompt_config: PromptConfig,
    *,
    max_seq_len: int,
    progress: Callable[[int], None] | None = None,
    example_index: ExampleIndex | None = None,
    exclude_same: bool = True,
) -> tuple[list[TokenizedExample], int]:
    """Tokenize pairs; returns (examples, number dropped because they would not fit `max_seq_len`).
    With retrieved examples (`prompt_config.examples`), each prompt shows the nearest pairs of
    `example_index`; `exclude_same` keeps a training pair from seeing itself or its duplicates.

    A pair too long for `max_seq_len` is never cut (a prompt cut from the left loses the
    instruction and the first tables): its prompt is rebuilt smaller, with fewer examples, then a
    smaller schema budget, and when even that does not fit the pair is dropped and counted."""
    count_tokens = make_token_counter(tokenizer)
    prepare_questions(schema, [p.question for p in pairs], prompt_config, count_tokens=count_tokens, examples=example_index)
    examples: list[TokenizedExample] = []
    dropped = 0
    for i, pair in enumerate(pairs):
        completion_ids = tokenizer(completion_text(pair.sql, tokenizer), add_special_tokens=False)["input_ids"]
        for config in smaller_prompts(prompt_config):
            messages = build_messages(schema, pair.question, config, count_tokens=count_tokens,
                                      examples=example_index, exclude_same=exclude_same)
            prompt_ids = tokenizer(prompt_text(tokenizer, messages), add_special_tokens=False)["input_ids"]
            if len(prompt_ids) + len(completion_ids) <= max_seq_len:
                examples.append(TokenizedExample(pair.id, prompt_ids, completion_ids))
                break
        else:
            dropped += 1
        if progress is not None:
            progress(i + 1)
    return examples, dropped


MIN_SCHEMA_TOKENS = 100


def smaller_prompts(config: PromptConfig) -> Iterator[PromptConfig]:
    """`config`, then the same with fewer retrieved examples, then with half the schema budget at a
    time (down to `MIN_SCHEMA_TOKENS`): the prompts to try, in order, for a pair too long to fit."""
    yield config
    for k in range(config.examples - 1, -1, -1):
        config = replace(config, examples=k)
        yield config
    if config.shows_schema and config.prune:
        budget = config.max_schema_tokens // 2
        while budget >= MIN_SCHEMA_TOKENS:
            yield replace(config, max_schema_tokens=budget)
            budget //= 2


PAD_MULTIPLE_16BIT = 32  # batches' length multiple when training computes in bf16/fp16


def batch_multiple(pad_to_multiple_of: int | None, dtype_bytes: int) -> int:
    """The multiple a batch's length is padded up to: `TrainConfig.pad_to_multiple_of` when set,
    else 32 when training computes in a 16-bit dtype and 1 (the longest pair) in fp32. In bf16 on
    an AVX-512/AMX CPU oneDNN builds and keeps kernels per matmul shape, so a new length every step
    grew the heap and slowed steps; fp32's matmuls keep no per-shape state, and padding only adds work."""
    if pad_to_multiple_of is not None:
        return pad_to_multiple_of
    return PAD_MULTIPLE_16BIT if dtype_bytes == 2 else 1


def padded_length(length: int, multiple: int = 1) -> int:
    """`length` rounded up to a multiple of `multiple`: the width training pads a batch to
    (`TrainConfig.pad_to_multiple_of`; 1 leaves it at the longest sequence)."""
    return -(-length // max(multiple, 1)) * max(multiple, 1)


def largest_batch_shape(examples: Sequence[TokenizedExample], batch_size: int,
                        pad_to_multiple_of: int = 1) -> tuple[int, int]:
    """(padded length, completion tokens per sequence) of the largest batch training can draw: the
    longest sequence (padded up to `pad_to_multiple_of`), and the mean of the `batch_size` longest
    completions (batches group pairs of similar length, and long SQL makes long sequences). What a
    memory plan sizes the peak by."""
    if not examples:
        raise ValueError("no examples")
    longest = padded_length(max(len(ex.prompt_ids) + len(ex.completion_ids) for ex in examples), pad_to_multiple_of)
    completions = sorted((len(ex.completion_ids) for ex in examples), reverse=True)[:batch_size]
    return longest, -(-sum(completions) // len(completions))


def check_template_parity(tokenizer: Any, schema: Schema, question: str, sql: str, prompt_config: PromptConfig,
                          example_index: ExampleIndex | None = None) -> None:
    """Fail unless prompt + completion is exactly the chat template's rendering of the full turn.

    Training builds the sequence as `prompt_text(...) + sql + end_of_turn`; inference feeds
    `prompt_text(...)` and stops at end_of_turn. If the template renders an assistant turn any
    other way, the model would be trained on a context it never sees at inference.
    """
    messages = build_messages(schema, question, prompt_config, count_tokens=make_token_counter(tokenizer),
                              examples=example_index, exclude_same=True)
    trained = prompt_text(tokenizer, messages) + completion_text(sql, tokenizer)
    full = tokenizer.apply_chat_template(
        messages + [{"role": "assistant", "content": sql.strip().rstrip(";").strip()}], tokenize=False
    )
    if not full.startswith(trained):
        raise TrainingCheckFailed(
            "chat template mismatch: the training sequence is not what the template renders at inference\n"
            f"  trained : {trained[-120:]!r}\n  template: {full[len(trained) - 120 : len(trained) + 20]!r}"
        )


def examples_hash(examples: list[TokenizedExample]) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(repr((ex.prompt_ids, ex.completion_ids)).encode())
    return h.hexdigest()
