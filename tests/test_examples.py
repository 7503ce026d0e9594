"""Tokenized examples: prompt from sqltune.prompts, SQL + end-of-turn as the completion, template parity."""

from __future__ import annotations

import pytest

from sqltune.core.errors import TrainingCheckFailed
from sqltune.training.examples import check_template_parity, completion_text, tokenize_pairs
from sqltune.prompts import PromptConfig, build_messages, prompt_text


@pytest.fixture()
def tokenizer(tiny_model_dir):
    from sqltune.inference.models import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


@pytest.fixture()
def schema(tiny_warehouse):
    from sqltune.schema import load_schema

    return load_schema(str(tiny_warehouse))


def test_completion_ends_with_end_of_turn(tokenizer):
    assert completion_text(" SELECT 1; ", tokenizer) == "SELECT 1" + tokenizer.eos_token


def test_prompt_tokens_are_the_inference_prompt(tokenizer, schema):
    from sqltune.data import Pair

    pair = Pair(id="a", question="How many stores are there?", sql="SELECT COUNT(*) FROM stores")
    config = PromptConfig()
    (example,), dropped = tokenize_pairs([pair], schema, tokenizer, config, max_seq_len=4096)
    assert dropped == 0
    inference = prompt_text(tokenizer, build_messages(schema, pair.question, config))
    assert tokenizer.decode(example.prompt_ids) == inference
    assert example.completion_ids[-1] == tokenizer.eos_token_id
    assert example.completion_mask == [0] * len(example.prompt_ids) + [1] * len(example.completion_ids)


def test_too_long_pairs_are_dropped_not_cut_mid_sql(tokenizer, schema):
    from sqltune.data import Pair

    pair = Pair(id="a", question="How many stores are there?", sql="SELECT COUNT(*) FROM stores")
    examples, dropped = tokenize_pairs([pair], schema, tokenizer, PromptConfig(), max_seq_len=20)
    assert examples == [] and dropped == 1


def test_template_parity_passes_for_chatml_and_fails_for_a_drifting_template(tokenizer, schema):
    check_template_parity(tokenizer, schema, "How many stores?", "SELECT COUNT(*) FROM stores", PromptConfig())
    # A template that renders assistant turns with a prefix the generation prompt does not have.
    drifting = tokenizer.chat_template.replace(
        "message['content']", "(('Answer: ' if message['role'] == 'assistant' else '') + message['content'])"
    )
    assert drifting != tokenizer.chat_template
    tokenizer.chat_template = drifting
    with pytest.raises(TrainingCheckFailed, match="chat template mismatch"):
        check_template_parity(tokenizer, schema, "How many stores?", "SELECT COUNT(*) FROM stores", PromptConfig())


def test_a_long_pair_gets_a_smaller_prompt_never_a_cut_one(tokenizer, schema):
    """Too long with every retrieved example and the whole schema: the prompt is rebuilt with fewer
    examples and a smaller schema budget; it always starts with the system instruction."""
    from sqltune.data import Pair
    from sqltune.retrieval import Example, ExampleIndex

    index = ExampleIndex([Example(f"How many stores are in city number {i}?",
                                  f"SELECT COUNT(*) FROM stores WHERE city = 'city {i}' AND store_id > {i}") for i in range(6)])
    config = PromptConfig(schema_style="ddl", examples=4)
    pair = Pair(id="a", question="How many stores are in city number 9?", sql="SELECT COUNT(*) FROM stores WHERE city = 'city 9'")
    (full,), _ = tokenize_pairs([pair], schema, tokenizer, config, max_seq_len=4096, example_index=index)
    limit = len(full.input_ids) - 40  # too long for all four examples
    (smaller,), dropped = tokenize_pairs([pair], schema, tokenizer, config, max_seq_len=limit, example_index=index)
    text = tokenizer.decode(smaller.prompt_ids)
    assert dropped == 0 and len(smaller.input_ids) <= limit
    assert "Write one DuckDB SQL query" in text and text.rstrip().endswith("assistant")
    assert 1 <= text.count("Question:") - 1 < 4  # fewer examples, the question itself last
    assert smaller.completion_ids == full.completion_ids
    # so long that no smaller prompt fits: dropped and counted
    examples, dropped = tokenize_pairs([pair], schema, tokenizer, config, max_seq_len=len(full.completion_ids) + 5,
                                       example_index=index)
    assert examples == [] and dropped == 1
