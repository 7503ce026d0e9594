"""Questions -> SQL with any model form: base (prompt-only), base + adapter(s), or merged.

Generation is batched and greedy and stops at the end-of-turn token; prompts come from
`sqltune.prompts`, the same function training used, with the prompt settings recorded beside the
adapter. One base in memory can carry several named adapters (tenants), switched per call.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqltune.inference.adapter import read_prompt_config
from sqltune.core.config import setting
from sqltune.core.errors import ModelError
from sqltune.prompts import PromptConfig, build_messages, make_token_counter, prompt_text
from sqltune.schema.model import Schema

log = logging.getLogger(__name__)

@dataclass
class DecodeConfig:
    """Decoding settings, recorded with every score (small models are sensitive to them)."""

    max_new_tokens: int = setting(200, flag="--max-new-tokens", help="Longest SQL generated, in tokens.", min=1)
    batch_size: int = setting(16, flag="--batch-size", help="Questions generated per batch.", min=1)
    answer_prefix: str = setting("", cli=False, help="Prefilled start of the answer, e.g. SELECT for a prompt-only base.")
    stop_strings: tuple[str, ...] = setting((";",), cli=False, help="Besides end-of-turn: where an answer ends (one SQL statement).")


@dataclass
class GeneratedSql:
    question: str
    sql: str
    raw_output: str
    latency_s: float


_FENCE = re.compile(r"```(?:sql)?\s*(.*?)(?:```|$)", re.S | re.I)
_START = re.compile(r"\b(SELECT|WITH)\b", re.I)


def extract_sql(text: str) -> str:
    """The first SQL statement in a model answer: code fences, leading prose and trailing text removed."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    match = _START.search(text)
    if match is None:
        return text.strip()
    text = text[match.start():]
    end = text.find(";")
    if end >= 0:
        text = text[:end]
    return text.strip()


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
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.tokenizer.padding_side = "left"
        self._count = make_token_counter(self.tokenizer)

    def prompt_config(self, adapter: str | None = None) -> PromptConfig:
        """The prompt settings of `adapter` (None: the first adapter; "": the bare base)."""
        name = (self.adapters[0] if self.adapters else None) if adapter is None else adapter
        return self.adapter_prompts.get(name, self.prompt) if name else self.prompt

    def prompt_for(self, question: str, adapter: str | None = None) -> str:
        messages = build_messages(self.schema, question, self.prompt_config(adapter), count_tokens=self._count)
        return prompt_text(self.tokenizer, messages) + self.decode.answer_prefix

    def generate(
        self,
        questions: Sequence[str],
        *,
        adapter: str | None = None,
        on_batch: Callable[[list[int], list[GeneratedSql]], None] | None = None,
    ) -> list[GeneratedSql]:
        """Greedy SQL for each question, in input order. Batches group prompts of similar length."""
        import torch

        prompts = [self.prompt_for(q, adapter) for q in questions]
        lengths = [len(self.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: lengths[i])
        results: list[GeneratedSql | None] = [None] * len(prompts)
        bs = max(1, self.decode.batch_size)
        with self._lock, torch.inference_mode(), self._adapter_context(adapter):
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                started = time.time()
                texts = self._greedy([prompts[i] for i in idx], self.decode.max_new_tokens, self.decode.stop_strings)
                per_item = (time.time() - started) / len(idx)
                done = []
                for i, text in zip(idx, texts):
                    raw = self.decode.answer_prefix + text
                    results[i] = GeneratedSql(questions[i], extract_sql(raw), raw, per_item)
                    done.append(results[i])
                if on_batch is not None:
                    on_batch(idx, done)
        return [r for r in results if r is not None]

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
            stop_strings=list(stop_strings) or None,
            tokenizer=self.tokenizer,
        )
        return self.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)

    def generate_sql(self, question: str, *, adapter: str | None = None) -> str:
        """One question -> SQL (the serving protocol)."""
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
                "adapter_prompts": {name: asdict(p) for name, p in self.adapter_prompts.items()}}


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
) -> SqlModel:
    """Load the base (16-bit by default, 4-bit NF4 with `quantized`), a merged checkpoint, or the
    base with named adapters. The prompt settings default to those the (first) adapter was trained with.

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
    if merged is not None:
        model = load_model(str(merged))
        tokenizer = load_tokenizer(str(merged))
        prompt = prompt or read_prompt_config(merged)
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
    )


def load_generator(base: str | None, adapters: dict[str, str], merged: str | None = None, *, db: str,
                   allow_dialect_mismatch: bool = False) -> SqlModel:
    """The serving generator: one base with named adapters, or a merged checkpoint."""
    from sqltune.schema import load_schema

    return load_sql_model(base or "default", schema=load_schema(db), adapters=adapters or None, merged=merged, db=db,
                          allow_dialect_mismatch=allow_dialect_mismatch)
