"""Questions -> SQL with any model form: base (prompt-only), base + adapter(s), or merged.

Generation is batched and stops at the end-of-turn token; prompts come from `sqltune.prompts`,
the same function training used, with the prompt settings recorded beside the adapter. One base
in memory can carry several named adapters (tenants), switched per call.

Decoding (`DecodeConfig`): greedy, with identifiers constrained to the shown schema
(`sqltune.inference.constrain`); with a warehouse attached, also sampled candidates that run in
the sandbox and are chosen by vote over their results (`sqltune.inference.guided`), preferring
candidates whose string literals are values of the compared column (`sqltune.execution.values`).
How each question's answer is chosen from its candidates, and when more are drawn, is
`sqltune.inference.answer_choice`.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqltune.inference.adapter import read_example_index, read_meta, read_prompt_config
from sqltune.retrieval import ExampleIndex
from sqltune.core.config import setting
from sqltune.core.errors import ModelError
from sqltune.prompts import PromptConfig, build_prompt, make_token_counter, prompt_text
from sqltune.schema.model import Schema

from sqltune.inference.answer import Answer, extract_sql
from sqltune.inference.decoding_state import LoglikRecorder, Prefill, cache_argument

log = logging.getLogger(__name__)

# What plain greedy decoding turns off: the constraint, the candidates and every check on them.
PLAIN_GREEDY = dict(constrain_schema=False, execution_guided=False, ground_values=False, repair_values=False, candidates=1,
                    check_names=False, topup_candidates=0)


BATCHED = 16  # questions per batch where one at a time would not draft (a GPU, or prompts without examples)


def batch_order(lengths: Sequence[int], batch_size: int, seed: int = 0) -> list[list[int]]:
    """Batches of prompts of similar length (little padding), taken in a shuffled order: the
    questions answered so far are then a sample of all of them, so the rate a progress line
    reports, and the time left it says, hold for the rest (in length order the short prompts,
    often the easy questions, came first and the time left ran short by more than half)."""
    order, size = sorted(range(len(lengths)), key=lambda i: lengths[i]), max(batch_size, 1)
    batches = [order[start : start + size] for start in range(0, len(order), size)]
    random.Random(seed).shuffle(batches)
    return batches


def decode_batch_size(decode: "DecodeConfig", prompt: PromptConfig, *, on_cpu: bool) -> int:
    """Questions per generate() call: the setting, else one at a time where prompt lookup drafts
    from retrieved examples on a CPU (2-core AVX-512 BF16 EPYC, Harbor, 64 questions: 1.10 s a
    question against 1.32 s in batches of 16, same EX), else BATCHED."""
    if decode.batch_size:
        return decode.batch_size
    return 1 if on_cpu and decode.prompt_lookup and prompt.examples else BATCHED


DEFAULT_ANSWER_TOKENS = 200  # the token limit for a model whose training SQL lengths are not recorded


def answer_token_limit(longest_sql_tokens: int | None) -> int:
    """The default token limit for an adapter whose longest training SQL (with its end) had this
    many tokens: room for a quarter more, never under the old default, at most 1,024."""
    if not longest_sql_tokens:
        return DEFAULT_ANSWER_TOKENS
    return min(1024, max(DEFAULT_ANSWER_TOKENS, int(longest_sql_tokens * 1.25)))


@dataclass
class DecodeConfig:
    """Decoding settings, recorded with every score (small models are sensitive to them)."""

    max_new_tokens: int | None = setting(None, flag="--max-new-tokens", help="Longest SQL generated, in tokens (default: 1.25x the longest SQL the adapter was trained on, 200 to 1,024; 200 for a model without that record).", min=1)
    batch_size: int | None = setting(None, flag="--batch-size", help="Questions generated per batch (default: one at a time on a CPU when prompt lookup can draft from retrieved examples, measured quicker there than batches; else 16).", min=1)
    answer_prefix: str = setting("", cli=False, help="Prefilled start of the answer, e.g. SELECT for a prompt-only base.")
    stop_strings: tuple[str, ...] = setting((";",), cli=False, help="Besides end-of-turn: where an answer ends (one SQL statement).")
    constrain_schema: bool = setting(True, flag="--constrain-schema", help="Identifiers the model writes must be names of the schema the prompt showed or aliases the query defines.")
    execution_guided: bool = setting(True, flag="--execution-guided", help="With a warehouse attached: run the candidates (guarded, sandboxed) and pick by majority vote over their results.")
    greedy_first: bool = setting(True, flag="--greedy-first", help="Execution-guided: run the greedy answer first and sample the other candidates only for a question whose greedy answer names something the schema lacks, fails, returns no rows or compares a column with a value it does not hold (--no-greedy-first: sample every question's candidates up front and vote).")
    candidates: int = setting(4, flag="--candidates", help="Candidates per question when execution-guided: the greedy answer plus sampled ones.", min=1, max=64)
    temperature: float = setting(0.7, flag="--temperature", help="Sampling temperature of the extra candidates.", min=0.01)
    candidate_timeout_s: float = setting(2.0, flag="--candidate-timeout", help="Seconds each candidate query may run.", min=0.01)
    drop_empty: bool = setting(True, flag="--drop-empty", help="Prefer candidates that return rows over those that return none.")
    ground_values: bool = setting(True, flag="--ground-values", help="With a warehouse attached: prefer candidates whose string literals are values the compared column holds.")
    repair_values: bool = setting(True, flag="--repair-values", help="Execution-guided, with --ground-values: when the choice returns no rows or compares a column with a string it does not hold, each such candidate is also run with the column's value closest to that string (one the question names, else the most similar spelling).")
    check_names: bool = setting(True, flag="--check-names", help="Check each finished query's tables and columns against the warehouse's schema (aliases and qualifiers resolved): execution-guided decoding does not run a candidate that names an unknown one; otherwise such an answer is decoded again with beam search and the best-scoring beam that passes is taken.")
    check_beams: int = setting(4, flag="--check-beams", help="Beams decoded for an answer that fails the name check (without execution-guided decoding).", min=2, max=16)
    topup_candidates: int = setting(8, flag="--topup-candidates", help="Execution-guided: when no candidate runs, sample up to this many more, a round of --candidates at a time, within the request's time limit (0: never).", min=0, max=64)
    topup_when_empty: bool = setting(True, flag="--topup-when-empty", help="Execution-guided, with --topup-candidates: also sample more when every candidate that runs returns no rows.")
    prompt_lookup: int = setting(20, flag="--prompt-lookup", help="Answers to one question at a time (serving; eval on a CPU): draft up to this many tokens by copying from the prompt (its retrieved example's SQL, its schema) and keep those the model would have written itself; the same answer in fewer forward passes (0: off).", min=0, max=64)
    check_time_ratio: float = setting(2.0, flag="--check-time-ratio", help="Execution-guided: sampled candidates, top-up rounds and their runs stop once they have taken this many times what the greedy pass of the same questions took (an adapter whose answers all fail no longer samples long degenerate candidates for minutes a question); 0: no bound but the request's deadline.", min=0.0)

    @classmethod
    def greedy(cls, **changes: Any) -> "DecodeConfig":
        """Plain greedy decoding: no constraint, one candidate, nothing run."""
        return cls(**{**PLAIN_GREEDY, **changes})

    def as_greedy(self) -> "DecodeConfig":
        """These settings (batch size, token limit, ...) with plain greedy decoding."""
        return dataclasses.replace(self, **PLAIN_GREEDY)


@dataclass
class SqlModel:
    """A loaded model ready to answer questions about one schema."""

    model: Any
    tokenizer: Any
    schema: Schema
    prompt: PromptConfig = field(default_factory=PromptConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    label: str = "model"
    adapters: list[str] = field(default_factory=list)
    adapter_prompts: dict[str, PromptConfig] = field(default_factory=dict)  # each tenant is asked as it was trained
    examples: ExampleIndex | None = None  # the pairs the prompts' retrieved examples come from
    answer_tokens: dict[str, int] = field(default_factory=dict)  # adapter name ("" merged) -> its default token limit
    adapter_examples: dict[str, ExampleIndex] = field(default_factory=dict)  # each tenant's own pairs
    warehouse: Any = None  # a Warehouse: candidates run there (guarded, sandboxed) when execution-guided
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _values: Any = field(default=None, repr=False)
    _limit: int | None = field(default=None, repr=False)  # the token limit of the call in progress
    _prefill: "Prefill | None" = field(default=None, repr=False)  # the greedy pass's prompt cache, for the call in progress
    _stops: dict = field(default_factory=dict, repr=False)  # stop strings -> their criteria, built once
    _row_s: float = field(default=0.0, repr=False)  # how long the call in progress took to decode one row (its last)

    def __post_init__(self) -> None:
        self.tokenizer.padding_side = "left"
        self._count = make_token_counter(self.tokenizer)

    def _stopping(self, stop_strings: Sequence[str]) -> Any:
        """Stopping criteria for `stop_strings`, built once per model: transformers rebuilds them from
        the whole vocabulary on every generate() given `stop_strings` (measured: about 2% of a
        served answer's time)."""
        from transformers import StopStringCriteria, StoppingCriteriaList

        key = tuple(stop_strings)
        if not key:
            return StoppingCriteriaList()
        if key not in self._stops:
            self._stops[key] = StopStringCriteria(self.tokenizer, list(key))
        return StoppingCriteriaList([self._stops[key]])

    def attach_warehouse(self, warehouse: Any) -> None:
        """Candidates run on `warehouse` (its guard and sandbox) from now on."""
        self.warehouse = warehouse
        self._values = None

    @property
    def guided(self) -> bool:
        """Whether answers are chosen by running candidates (a warehouse is attached and asked for)."""
        return self.warehouse is not None and self.decode.execution_guided and self.decode.candidates > 1

    def prompt_config(self, adapter: str | None = None) -> PromptConfig:
        """The prompt settings of `adapter` (None: the first adapter; "": the bare base)."""
        name = (self.adapters[0] if self.adapters else None) if adapter is None else adapter
        return self.adapter_prompts.get(name, self.prompt) if name else self.prompt

    def max_new_tokens(self, adapter: str | None = None) -> int:
        """The answer's token limit: the decode setting, else what the adapter's training SQL needs."""
        if self.decode.max_new_tokens is not None:
            return self.decode.max_new_tokens
        name = (self.adapters[0] if self.adapters else "") if adapter is None else adapter
        return self.answer_tokens.get(name, DEFAULT_ANSWER_TOKENS)

    def example_index(self, adapter: str | None = None) -> ExampleIndex | None:
        """The pairs `adapter`'s prompts retrieve examples from (None: the first adapter; "": the bare base)."""
        name = (self.adapters[0] if self.adapters else None) if adapter is None else adapter
        return self.adapter_examples.get(name, self.examples) if name else self.examples

    def prompt_for(self, question: str, adapter: str | None = None) -> str:
        return self._prompt(question, adapter)[0]

    def _prompt(self, question: str, adapter: str | None) -> tuple[str, Schema]:
        """The model input for `question` and the (pruned) schema it shows."""
        messages, shown = build_prompt(self.schema, question, self.prompt_config(adapter), count_tokens=self._count,
                                       examples=self.example_index(adapter))
        return prompt_text(self.tokenizer, messages) + self.decode.answer_prefix, shown

    @property
    def dialect(self) -> str:
        return getattr(self.warehouse, "dialect", None) or self.schema.dialect or self.prompt.dialect

    def generate(
        self,
        questions: Sequence[str],
        *,
        adapter: str | None = None,
        on_batch: Callable[[list[int], list[Answer]], None] | None = None,
    ) -> list[Answer]:
        """SQL for each question, in input order. Batches group prompts of similar length."""
        import torch

        entries = [self._prompt(q, adapter) for q in questions]
        prompts = [e[0] for e in entries]
        lengths = [len(self.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        results: list[Answer | None] = [None] * len(prompts)
        bs = decode_batch_size(self.decode, self.prompt_config(adapter) if self.example_index(adapter) else PromptConfig(),
                               on_cpu=self.model.device.type == "cpu")
        with self._lock, torch.inference_mode(), self._adapter_context(adapter):
            self._limit = self.max_new_tokens(adapter)
            for idx in batch_order(lengths, bs):
                done = self._answer_batch([questions[i] for i in idx], [entries[i] for i in idx], deadline=None)
                for i, item in zip(idx, done):
                    results[i] = item
                if on_batch is not None:
                    on_batch(idx, done)
        return [r for r in results if r is not None]

    def answer(self, question: str, *, adapter: str | None = None, deadline: float | None = None,
               execute: bool = True) -> Answer:
        """One question -> its Answer; `deadline` (a `time.monotonic()` time) bounds generation and
        candidate runs together (the serving protocol). `execute=False`: no candidate runs on the
        warehouse (the constraint and the name check still apply)."""
        import torch

        entry = self._prompt(question, adapter)
        with self._lock, torch.inference_mode(), self._adapter_context(adapter):
            self._limit = self.max_new_tokens(adapter)
            return self._answer_batch([question], [entry], deadline=deadline, run_candidates=execute)[0]

    def _answer_batch(self, questions: Sequence[str], entries: Sequence[tuple[str, Schema]], *,
                      deadline: float | None, run_candidates: bool = True) -> list[Answer]:
        guided = self.guided and run_candidates
        started = time.time()
        prompts = [e[0] for e in entries]
        shown = [e[1] for e in entries]
        stats: dict[str, float] = {"seconds": 0.0, "rows": 0}
        try:
            return self._answer_prefilled(questions, prompts, shown, guided, started, deadline=deadline, stats=stats)
        finally:
            self._prefill, self._row_s = None, 0.0  # the cache and the row time are this batch's alone

    def _answer_prefilled(self, questions: Sequence[str], prompts: Sequence[str], shown: Sequence[Schema], guided: bool,
                          started: float, *, deadline: float | None, stats: dict[str, float]) -> list[Answer]:
        from sqltune.inference.answer_choice import checked_answers, guided_answers

        decode = self.decode
        # the greedy pass keeps its prompts' cache when candidates may be sampled after it: each
        # sampled continuation then starts from it instead of reading its prompt again
        greedy_began = time.monotonic()
        greedy = self._decode(prompts, shown, n=1, sample=False, deadline=deadline, stats=stats, keep_prefill=guided)
        self._row_s = time.monotonic() - greedy_began if len(prompts) == 1 else 0.0
        sampling_deadline = deadline
        if guided and decode.check_time_ratio > 0:
            # sampling (candidates, top-up rounds) may take a bounded multiple of the greedy pass;
            # candidate runs keep the request's deadline, so the greedy answer always runs
            now = time.monotonic()
            bound = now + decode.check_time_ratio * (now - greedy_began)
            sampling_deadline = bound if deadline is None else min(deadline, bound)
        extra: list[list[tuple[str, float]]] = [[] for _ in prompts]
        if guided and not decode.greedy_first and (sampling_deadline is None or time.monotonic() < sampling_deadline):
            extra = self._decode(prompts, shown, n=decode.candidates - 1, sample=True, deadline=sampling_deadline, stats=stats)
        cands = [self._candidates(first + more) for first, more in zip(greedy, extra)]
        if guided:
            out = guided_answers(self, questions, prompts, shown, cands, deadline=deadline, stats=stats,
                                 sampling_deadline=sampling_deadline)
        else:
            out = checked_answers(self, questions, prompts, shown, cands, deadline=deadline, stats=stats)
        per_step = stats["seconds"] / stats["rows"] if stats["rows"] else None
        per_item = (time.time() - started) / max(1, len(out))
        for item in out:
            item.latency_s = per_item
            item.constrain_s_per_step = per_step
        return out

    def _candidates(self, decoded: Sequence[tuple[str, float]]) -> list[Any]:
        from sqltune.inference.guided import Candidate

        prefix = self.decode.answer_prefix
        return [Candidate(extract_sql(prefix + text), score, prefix + text) for text, score in decoded]

    def parse(self, sql: str) -> Any:
        """`sql` read once in the model's dialect (`sqltune.execution.parsed.parse_sql`)."""
        from sqltune.execution.parsed import parse_sql

        return parse_sql(sql, self.dialect)

    def name_check(self, sql: Any) -> str | None:
        """Why `sql` (a text, or its `ParsedSql`) names a table or column the warehouse's schema
        lacks (None: it does not, or it does not parse, which execution reports better)."""
        from sqltune.schema.query_names import unknown_names

        parsed = self.parse(sql) if isinstance(sql, str) else sql
        if parsed.tree is None:
            return None
        check = unknown_names(parsed.sql, self.schema, parsed.dialect, tree=parsed.tree)
        return check.reason() if check.parsed and check.problems else None

    def _run_candidate(self, sql: str, timeout_s: float) -> Any:
        """One candidate through the warehouse's guard and sandbox (never anywhere else): the
        sandbox worker checks its text again, in its own process under the time limit."""
        return self.warehouse.execute(sql, max_rows=1000, timeout_s=timeout_s)

    def _value_check(self) -> Callable[[Any], list[str]] | None:
        """What names a candidate's string literals its columns do not hold (`ValueIndex.unknown_literals`,
        given a text or its `ParsedSql`); None when values are not grounded."""
        if not self.decode.ground_values or self.warehouse is None:
            return None
        if self._values is None:
            from sqltune.execution.values import ValueIndex

            self._values = ValueIndex.for_warehouse(self.warehouse, self.schema)
        return self._values.unknown_literals

    def _decode(self, texts: Sequence[str], shown: Sequence[Schema], *, n: int, sample: bool, deadline: float | None,
                stats: dict[str, float], beams: bool = False, keep_prefill: bool = False) -> list[list[tuple[str, float]]]:
        """`n` continuations per prompt (greedy, sampled, or the `n` best beams), each with its score:
        the log-likelihood under the model (greedy, sampled) or the beam score (beams, best first).
        `keep_prefill`: keep these prompts' cache (`Prefill`); later calls of the same batch on any
        of them start from it (beams excepted)."""
        from transformers import LogitsProcessorList, TemperatureLogitsWarper

        decode = self.decode
        if sample and n > 1 and len(texts) == 1 and decode.prompt_lookup and not beams:
            # one prompt's sampled candidates, one row at a time from its shared prefill: each row
            # drafts from the prompt (prompt lookup needs a single row), and under a deadline the rows
            # that fit finish, where n rows decoded together would all be cut. A row is not begun
            # when the time left is less than the last one took: it would be cut.
            rows: list[tuple[str, float]] = []
            for _ in range(n):
                if deadline is not None and deadline - time.monotonic() < self._row_s:
                    break
                began = time.monotonic()
                rows += self._decode(texts, shown, n=1, sample=True, deadline=deadline, stats=stats)[0]
                self._row_s = time.monotonic() - began
            return [rows]
        prefill = self._prefill if not beams and self._prefill is not None and self._prefill.holds(texts) else None
        kwargs: dict[str, Any] = {}
        if prefill is not None:
            batch, kwargs[cache_argument()] = prefill.take(texts, n)
            returned = 1  # the rows are already repeated, each with its copy of the cache
        else:
            batch = self.tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=False)
            batch = {k: v.to(self.model.device) for k, v in batch.items()}
            returned = n
        keep_prefill = keep_prefill and prefill is None and not beams and n == 1 and batch["input_ids"].shape[1] > 1
        end_ids = [self.tokenizer.eos_token_id]
        # prompt lookup (transformers' assisted decoding) needs one row: greedy, or sampled (each
        # drafted token is kept only where it is the token sampled there)
        lookup = decode.prompt_lookup if not beams and batch["input_ids"].shape[0] * returned == 1 else 0
        if lookup:
            kwargs["prompt_lookup_num_tokens"] = lookup
        recorder = LoglikRecorder(end_ids, lookahead=lookup) if self.guided and not beams else None  # likelihoods only rank candidates
        processors = LogitsProcessorList([recorder] if recorder is not None else [])
        constraint = None
        if decode.constrain_schema:
            from sqltune.inference.constrain import SchemaConstraint, schema_names

            constraint = SchemaConstraint(
                self.tokenizer, [schema_names(s, self.dialect) for s in shown], rows_per_prompt=n,
                answer_prefix=decode.answer_prefix, end_ids=end_ids,
                keep=2 * n if beams else (None if sample else 1),  # beam search picks among 2 tokens per beam
                stop_strings=decode.stop_strings,
            )
            processors.append(constraint)
        if sample:
            processors.append(TemperatureLogitsWarper(decode.temperature))
            kwargs.update(temperature=1.0, top_k=0, top_p=1.0)
        if beams:
            kwargs.update(num_beams=n, early_stopping=True, return_dict_in_generate=True, output_scores=True)
        if keep_prefill:
            kwargs.update(return_dict_in_generate=True)
        if deadline is not None:
            kwargs["max_time"] = max(0.01, deadline - time.monotonic())
        out = self.model.generate(
            **batch,
            max_new_tokens=self._limit or self.max_new_tokens(),
            do_sample=sample,
            num_return_sequences=returned,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            stopping_criteria=self._stopping(decode.stop_strings),
            logits_processor=processors,
            **({"num_beams": 1} | kwargs),
        )
        sequences = out.sequences if beams or keep_prefill else out
        if keep_prefill:
            self._prefill = Prefill.keep(texts, batch, getattr(out, cache_argument(), None))
        if recorder is not None:
            recorder.finish(sequences)
        if constraint is not None:
            stats["seconds"] += constraint.seconds
            stats["rows"] += constraint.rows
        generated = sequences[:, batch["input_ids"].shape[1]:]
        decoded = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        if beams and getattr(out, "sequences_scores", None) is not None:
            scores = [float(v) for v in out.sequences_scores.tolist()]
        elif recorder is not None and len(recorder.loglik) == len(decoded):
            scores = recorder.loglik
        else:
            scores = [0.0] * len(decoded)
        rows = [[(decoded[p * n + j], scores[p * n + j]) for j in range(n)] for p in range(len(texts))]
        if sample:
            # a sampled candidate cut by the deadline or the token limit is no query (often a bare
            # "SELECT", whose few tokens make it the likeliest): only finished ones are candidates
            ended = [self._ended(ids, text) for ids, text in zip(generated.tolist(), decoded)]
            rows = [[row for j, row in enumerate(found) if ended[p * n + j]] for p, found in enumerate(rows)]
        return rows

    def _ended(self, ids: Sequence[int], text: str) -> bool:
        """Whether a generated row ended as an answer ends, not cut: end of turn (a row that ended
        before others of its batch is padded after it), or a stop string (generation stops at the
        token that completes the first one, so any in the text ended it)."""
        if self.tokenizer.eos_token_id in ids or self.tokenizer.pad_token_id in ids:
            return True
        return any(stop and stop in text for stop in self.decode.stop_strings)

    def chat(self, prompts: Sequence[str], *, max_new_tokens: int = 60) -> list[str]:
        """Plain chat answers with no schema and no SQL extraction: the general-capability spot check."""
        import torch

        texts = [self.tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
                 for p in prompts]
        with self._lock, torch.inference_mode(), self._adapter_context(None):
            return [t.strip() for t in self._greedy(texts, max_new_tokens)]

    def _greedy(self, texts: Sequence[str], max_new_tokens: int, stop_strings: Sequence[str] = ()) -> list[str]:
        """Greedy continuations of already-rendered prompts (left-padded batch), decoded."""
        batch = self.tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=False)
        batch = {k: v.to(self.model.device) for k, v in batch.items()}
        out = self.model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            stopping_criteria=self._stopping(stop_strings),
        )
        return self.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)

    def generate_sql(self, question: str, *, adapter: str | None = None) -> str:
        """One question -> SQL."""
        return self.generate([question], adapter=adapter)[0].sql

    def _adapter_context(self, adapter: str | None) -> Any:
        """Activate a named adapter (None: the first one); "" answers with the bare base model."""
        from contextlib import nullcontext

        if not self.adapters:
            if adapter:
                raise ModelError(f"unknown adapter {adapter!r}: this model has no adapters")
            return nullcontext()
        if adapter == "":
            return self.model.disable_adapter()
        name = adapter or self.adapters[0]
        if name not in self.adapters:
            raise ModelError(f"unknown adapter {name!r}; known: {self.adapters}")
        self.model.set_adapter(name)
        return nullcontext()

    def setup(self) -> dict:
        """What produced these answers, recorded with every score."""
        return {"label": self.label, "prompt": asdict(self.prompt), "decode": asdict(self.decode), "adapters": self.adapters,
                "adapter_prompts": {name: asdict(p) for name, p in self.adapter_prompts.items()},
                "execution_guided_active": self.guided}


def load_sql_model(
    base: str = "default",
    *,
    schema: Schema,
    adapters: dict[str, str | Path] | None = None,
    merged: str | Path | None = None,
    quantized: bool = False,
    prompt: PromptConfig | None = None,
    decode: DecodeConfig | None = None,
    label: str | None = None,
    db: str | None = None,
    allow_dialect_mismatch: bool = False,
    warehouse: Any = None,
    examples_from: str | Path | None = None,
) -> SqlModel:
    """Load the base (16-bit by default, 4-bit NF4 with `quantized`), a merged checkpoint, or the
    base with named adapters. The prompt settings default to those the (first) adapter was trained
    with; the pairs its prompts retrieve examples from come from its folder (or `examples_from`,
    the folder `prompt` was read from, e.g. to ask the bare base as the adapter is asked).

    A merged model or adapter trained for another SQL dialect than `schema`'s is refused (before
    any weights load) unless `allow_dialect_mismatch`."""
    from sqltune.inference.models import QuantConfig, load_model, load_tokenizer
    from sqltune.prompts import check_dialect

    where = db or schema.name
    if prompt is not None:
        check_dialect(prompt.dialect, schema.dialect, model="the prompt settings", db=where, allow=allow_dialect_mismatch)
    for folder in [merged] if merged is not None else list((adapters or {}).values()):
        trained = read_prompt_config(folder) if Path(folder).is_dir() else None
        if trained is not None:
            check_dialect(trained.dialect, schema.dialect, model=str(folder), db=where, allow=allow_dialect_mismatch)

    names: list[str] = []
    adapter_prompts: dict[str, PromptConfig] = {}
    adapter_examples: dict[str, ExampleIndex] = {}
    answer_tokens: dict[str, int] = {}
    examples = read_example_index(examples_from) if examples_from is not None else None
    if merged is not None:
        model = load_model(str(merged))
        tokenizer = load_tokenizer(str(merged))
        prompt = prompt or read_prompt_config(merged)
        examples = examples or read_example_index(merged)
        answer_tokens[""] = answer_token_limit((read_meta(merged) or {}).get("completion_tokens_max"))
    else:
        tokenizer = load_tokenizer(base)
        model = load_model(base, quant=QuantConfig() if quantized else None)
        for name, folder in (adapters or {}).items():
            folder = Path(folder)
            if not (folder / "adapter_config.json").exists():
                raise ModelError(f"{folder} is not a PEFT adapter folder (no adapter_config.json)")
            if not names:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(folder), adapter_name=name)
            else:
                model.load_adapter(str(folder), adapter_name=name)
            names.append(name)
            adapter_prompts[name] = prompt or read_prompt_config(folder) or PromptConfig()
            index = examples if examples_from is not None else read_example_index(folder)
            if index is not None:
                adapter_examples[name] = index
            answer_tokens[name] = answer_token_limit((read_meta(folder) or {}).get("completion_tokens_max"))
        prompt = prompt or (adapter_prompts[names[0]] if names else None)
    model.eval()
    return SqlModel(
        model=model,
        tokenizer=tokenizer,
        schema=schema,
        prompt=prompt or PromptConfig(),
        decode=decode or DecodeConfig(),
        label=label or ("merged" if merged else ("adapter" if names else "prompt-only")),
        adapters=names,
        adapter_prompts=adapter_prompts,
        examples=examples,
        adapter_examples=adapter_examples,
        answer_tokens=answer_tokens,
        warehouse=warehouse,
    )


def load_generator(base: str | None, adapters: dict[str, str], merged: str | None = None, *, db: str,
                   allow_dialect_mismatch: bool = False, decode: DecodeConfig | None = None) -> SqlModel:
    """The serving generator: one base with named adapters, or a merged checkpoint (the server
    attaches its warehouse, where candidates run)."""
    from sqltune.schema import load_schema

    return load_sql_model(base or "default", schema=load_schema(db), adapters=adapters or None, merged=merged, db=db,
                          allow_dialect_mismatch=allow_dialect_mismatch, decode=decode)
