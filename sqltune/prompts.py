"""The single place that turns (schema, question) into a prompt: training, evaluation and serving
all call `build_messages`, so a model is always asked in exactly the form it was trained on.

    messages = build_messages(schema, question, config, count_tokens=make_token_counter(tokenizer))
    text = prompt_text(tokenizer, messages)      # the tokenizer's own chat template

The user message is the (pruned) schema text followed by the question; the system message says
which dialect to answer in and to answer with SQL only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from sqltune.core.config import setting
from sqltune.core.errors import ConfigError, ModelError
from sqltune.retrieval import METHODS, Example, ExampleIndex
from sqltune.schema.model import Schema
from sqltune.schema.prune import PruneResult, prune_schema
from sqltune.schema.relevance import Scorer
from sqltune.schema.render import RenderOptions, render_schema

DIALECT_NAMES = {
    "duckdb": "DuckDB",
    "postgres": "PostgreSQL",
    "mysql": "MySQL",
    "sqlite": "SQLite",
    "tsql": "SQL Server",
    "snowflake": "Snowflake",
    "bigquery": "BigQuery",
}

DEFAULT_SYSTEM = "Write one {dialect} SQL query that answers the question. Reply with the SQL only, no explanation."


NO_SCHEMA = "none"


@dataclass
class PromptConfig:
    """How prompts are built. Saved with a run so evaluation and serving rebuild the same prompts.

    The default schema budget holds ~10 tables of median size (~150 tokens); measured with
    bench/prune_recall.py (SmolLM2 tokens), 1500 keeps 0.96-0.97 of gold tables on the 428-table and
    the 28-table fixtures, 800 only 0.80-0.89.
    """

    system: str = setting(DEFAULT_SYSTEM, help="System message; {dialect} is replaced by the dialect's display name.")
    max_schema_tokens: int = setting(1500, help="Token budget for the schema text; larger schemas are pruned per question.", min=0)
    include_comments: bool = setting(True, help="Show table and column comments in the schema text.")
    samples_per_column: int = setting(2, help="Sample values shown per text column.", min=0)
    prune: bool = setting(True, help="Prune the schema per question to fit the budget (off: always the whole schema).")
    dialect: str | None = setting(None, help="SQL dialect (sqlglot name) the model is asked to write (default: the warehouse's: duckdb, postgres, mysql, sqlite, ...).")
    schema_style: str = setting("ddl", choices=("ddl", "columns", "none"),
                                help="ddl: CREATE TABLE with types, keys, comments, samples; columns: table(col, ...) names only, ~2.5x fewer tokens; "
                                     "none: no schema text, the question alone (a single-warehouse adapter learns the schema from its pairs).")

    examples: int = setting(0, help="Retrieved examples: the k training pairs most similar to the question, shown before it "
                                     "(and trained with; the adapter keeps its pairs). 0: none.", min=0, max=20)
    example_retrieval: str = setting("bm25", choices=METHODS,
                                     help="How examples are found: bm25 over the questions' words, or embedding "
                                          "(the offline MiniLM sentence model's cosine similarity).")
    max_example_tokens: int = setting(800, help="Token budget for the examples; the least similar are left out "
                                                "until the rest fit.", min=0)

    def __post_init__(self) -> None:
        from sqltune.schema.render import STYLES

        if self.schema_style not in (*STYLES, NO_SCHEMA):
            raise ConfigError(f"prompt.schema_style must be one of {', '.join((*STYLES, NO_SCHEMA))}, got {self.schema_style!r}")

    @property
    def shows_schema(self) -> bool:
        return self.schema_style != NO_SCHEMA

    @property
    def render_options(self) -> RenderOptions:
        """How the schema is rendered where one is shown (with schema_style none: DDL, for `sqltune schema`)."""
        return RenderOptions(include_comments=self.include_comments, samples_per_column=self.samples_per_column,
                             style=self.schema_style if self.shows_schema else "ddl")

    def system_message(self, warehouse_dialect: str | None = None) -> str:
        """The system message; `warehouse_dialect` names the dialect when the config leaves it unset."""
        dialect = self.dialect or warehouse_dialect or "duckdb"
        return self.system.replace("{dialect}", DIALECT_NAMES.get(dialect, dialect))


def prompt_for_warehouse(config: PromptConfig, db: str | None) -> PromptConfig:
    """`config` with its dialect set from the warehouse at `db` (DuckDB file -> duckdb, a
    postgresql:// URL -> postgres, ...) unless the user set one. Training records the result with
    the adapter, so evaluation and serving can tell a warehouse of another dialect."""
    if config.dialect or not db:
        return config
    from dataclasses import replace

    from sqltune.schema import source_dialect

    return replace(config, dialect=source_dialect(db))


def check_dialect(trained: str | None, warehouse: str | None, *, model: str, db: str, allow: bool = False) -> None:
    """Refuse a warehouse whose SQL dialect differs from the one `model` was trained to write:
    its queries would use the wrong functions and quoting. `allow` proceeds (with a warning)."""
    if not trained or not warehouse or trained == warehouse:
        return
    import logging

    from sqltune.core.connections import mask_url
    from sqltune.core.errors import ConfigError

    message = (f"{model} was trained to write {DIALECT_NAMES.get(trained, trained)} SQL, but the warehouse "
               f"{mask_url(db)} speaks {DIALECT_NAMES.get(warehouse, warehouse)}")
    if allow:
        logging.getLogger(__name__).warning("%s (allowed)", message)
        return
    raise ConfigError(f"{message}; train on this warehouse, or pass --allow-dialect-mismatch to evaluate or serve anyway")


_APPROX_TOKEN = re.compile(r"[A-Za-z]+|[0-9]|[^\sA-Za-z0-9]")


def approx_token_count(text: str) -> int:
    """Tokenizer-free estimate: words, single digits and punctuation, plus 10%.

    Against the SmolLM2 tokenizer on rendered schemas it reads 0.97-1.10x the true count, so a
    budget enforced with it rarely overshoots.
    """
    return math.ceil(1.1 * len(_APPROX_TOKEN.findall(text)))


class TokenCounter:
    """Counts a tokenizer's tokens in a text (no special tokens).

    Two counters over the same tokenizer compare equal, so pruning caches keyed on the counter are
    shared by every caller that makes its own.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def __eq__(self, other) -> bool:
        return isinstance(other, TokenCounter) and other.tokenizer is self.tokenizer

    def __hash__(self) -> int:
        return hash(("TokenCounter", id(self.tokenizer)))


def make_token_counter(tokenizer) -> Callable[[str], int]:
    """A token counter for `tokenizer`; `None` gives the tokenizer-free estimate."""
    return approx_token_count if tokenizer is None else TokenCounter(tokenizer)


def schema_for_question(
    schema: Schema,
    question: str,
    config: PromptConfig = PromptConfig(),
    *,
    count_tokens: Callable[[str], int] | None = None,
    scorer: Scorer | None = None,
) -> PruneResult:
    """The part of `schema` the prompt for `question` shows (all of it when it fits or prune=False)."""
    question = clean_question(question)
    counter = count_tokens or approx_token_count
    if not config.prune:
        text = render_schema(schema, config.render_options)
        return PruneResult(schema, schema.table_names, {}, counter(text), pruned=False)
    return prune_schema(
        schema,
        question,
        max_tokens=config.max_schema_tokens,
        count_tokens=counter,
        scorer=scorer,
        options=config.render_options,
    )


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_question(question: str) -> str:
    """`question` with lone UTF-16 surrogates (valid in JSON as "\\ud800", not in UTF-8) replaced
    by U+FFFD: tokenizers cannot encode them."""
    return _LONE_SURROGATE.sub("\ufffd", question)


def example_text(example: Example) -> str:
    return f"Question: {' '.join(example.question.split())}\nSQL: {' '.join(example.sql.split())}"


def user_message(schema_text: str | None, question: str, examples: Sequence[Example] = ()) -> str:
    """The schema (when the prompt shows one), the examples (most similar last, next to the
    question) and the question."""
    parts = [f"Schema:\n{schema_text}"] if schema_text is not None else []
    if examples:
        parts.append("Examples:\n" + "\n\n".join(example_text(e) for e in reversed(examples)))
    parts.append(f"Question: {question.strip()}")
    return "\n\n".join(parts)


def examples_for_question(
    question: str,
    config: PromptConfig,
    index: ExampleIndex | None,
    *,
    count_tokens: Callable[[str], int] | None = None,
    exclude_same: bool = False,
) -> list[Example]:
    """The examples the prompt for `question` shows: the `config.examples` nearest pairs of
    `index`, most similar first, as many as fit `config.max_example_tokens`. `exclude_same`
    (training) leaves out the question itself and its duplicates."""
    if not config.examples:
        return []
    if index is None:
        raise ConfigError(f"these prompts show {config.examples} retrieved examples (prompt.examples), "
                          "but no example pairs were given to retrieve them from")
    counter = count_tokens or approx_token_count
    chosen, used = [], 0
    for example in index.nearest(question, config.examples, exclude_same=exclude_same):
        cost = counter(example_text(example)) + 2
        if used + cost > config.max_example_tokens:
            break
        chosen.append(example)
        used += cost
    return chosen


def build_messages(
    schema: Schema,
    question: str,
    config: PromptConfig = PromptConfig(),
    *,
    count_tokens: Callable[[str], int] | None = None,
    scorer: Scorer | None = None,
    examples: ExampleIndex | None = None,
    exclude_same: bool = False,
) -> list[dict[str, str]]:
    """[system, user] chat messages asking for the SQL that answers `question` on `schema`.

    Pass the model tokenizer's counter (`make_token_counter`) so the schema and example budgets
    are in real tokens; without it a tokenizer-free estimate is used. `examples` is the index the
    prompt's retrieved examples come from (needed when `config.examples` > 0); `exclude_same`
    is for training, where a pair must not see its own answer.
    """
    return build_prompt(schema, question, config, count_tokens=count_tokens, scorer=scorer, examples=examples,
                        exclude_same=exclude_same)[0]


def build_prompt(
    schema: Schema,
    question: str,
    config: PromptConfig = PromptConfig(),
    *,
    count_tokens: Callable[[str], int] | None = None,
    scorer: Scorer | None = None,
    examples: ExampleIndex | None = None,
    exclude_same: bool = False,
) -> tuple[list[dict[str, str]], Schema]:
    """`build_messages` and the (pruned) schema the messages show: constrained decoding keeps the
    answer's names within it."""
    question = clean_question(question)
    schema_text, shown = None, schema  # no schema text: the adapter may use every name of the warehouse
    if config.shows_schema:
        shown = schema_for_question(schema, question, config, count_tokens=count_tokens, scorer=scorer).schema
        schema_text = render_schema(shown, config.render_options)
    chosen = examples_for_question(question, config, examples, count_tokens=count_tokens, exclude_same=exclude_same)
    return [
        {"role": "system", "content": config.system_message(schema.dialect)},
        {"role": "user", "content": user_message(schema_text, question, chosen)},
    ], shown


def prepare_questions(
    schema: Schema,
    questions: list[str],
    config: PromptConfig = PromptConfig(),
    *,
    count_tokens: Callable[[str], int] | None = None,
    scorer: Scorer | None = None,
    examples: ExampleIndex | None = None,
) -> None:
    """Warm the pruning scorer and the example index for many questions at once (batched
    embeddings) before a loop of `build_messages` calls over a data set."""
    from sqltune.schema.prune import schema_tokens
    from sqltune.schema.relevance import default_scorer

    if config.examples and examples is not None:
        examples.prepare([clean_question(q) for q in questions])
    counter = count_tokens or approx_token_count
    if not config.shows_schema or not config.prune or schema_tokens(schema, counter, config.render_options) <= config.max_schema_tokens:
        return
    prepare = getattr(scorer or default_scorer(), "prepare", None)
    if prepare is not None:
        prepare(list(questions))


def prompt_text(tokenizer, messages: list[dict[str, str]]) -> str:
    """The model input for `messages`, rendered by the tokenizer's chat template, ready for the
    assistant's answer."""
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"tokenizer {type(tokenizer).__name__} has no chat template; cannot build a chat prompt")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


__all__ = [
    "DEFAULT_SYSTEM",
    "NO_SCHEMA",
    "PromptConfig",
    "TokenCounter",
    "approx_token_count",
    "build_messages",
    "check_dialect",
    "build_prompt",
    "clean_question",
    "examples_for_question",
    "make_token_counter",
    "prepare_questions",
    "prompt_for_warehouse",
    "prompt_text",
    "schema_for_question",
    "user_message",
]
