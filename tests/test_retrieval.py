"""Retrieved examples: the nearest training pairs in the prompt, never the pair itself at training
time, kept with the adapter (checked by hash), and the same prompt in training, evaluation and serving."""

from __future__ import annotations

import json

import pytest

from sqltune.core.errors import ConfigError, InputError
from sqltune.prompts import PromptConfig, build_messages, examples_for_question, user_message
from sqltune.retrieval import EXAMPLES_FILE, Example, ExampleIndex, examples_hash, question_key
from sqltune.schema.model import Column, Schema, Table

SCHEMA = Schema("air", [Table("flight", [Column("flight_id", "INTEGER"), Column("from_city", "VARCHAR"),
                                         Column("to_city", "VARCHAR")])], "duckdb")

PAIRS = [
    Example("show me flights from boston to denver", "SELECT flight_id FROM flight WHERE from_city = 'BOSTON' AND to_city = 'DENVER'"),
    Example("Show me flights from Boston to Denver!", "SELECT flight_id FROM flight WHERE from_city = 'BOSTON' AND to_city = 'DENVER'"),
    Example("flights from dallas to atlanta", "SELECT flight_id FROM flight WHERE from_city = 'DALLAS' AND to_city = 'ATLANTA'"),
    Example("how many flights leave denver", "SELECT COUNT(*) FROM flight WHERE from_city = 'DENVER'"),
    Example("list all cities with a departing flight", "SELECT DISTINCT from_city FROM flight"),
    Example("which flights go to boston", "SELECT flight_id FROM flight WHERE to_city = 'BOSTON'"),
]


@pytest.mark.parametrize("method", ["bm25", "embedding"])
def test_training_retrieval_never_returns_the_pair_or_its_duplicates(method):
    index = ExampleIndex(PAIRS, method)
    for pair in PAIRS:
        found = index.nearest(pair.question, k=len(PAIRS), exclude_same=True)
        assert found, pair
        assert all(question_key(e.question) != question_key(pair.question) for e in found), (pair, found)
    # without the exclusion (serving a question asked before) the pair itself is the nearest
    assert index.nearest(PAIRS[2].question, k=1) == [PAIRS[2]]


@pytest.mark.parametrize("method", ["bm25", "embedding"])
def test_nearest_examples_share_the_question_words(method):
    index = ExampleIndex(PAIRS, method)
    nearest = index.nearest("flights from boston to atlanta", k=2)
    assert len(nearest) == 2
    assert {e.question for e in nearest} & {PAIRS[0].question, PAIRS[1].question, PAIRS[2].question}
    assert PAIRS[4] not in nearest


def test_prompt_shows_examples_most_similar_last_within_the_token_budget():
    index = ExampleIndex(PAIRS)
    config = PromptConfig(schema_style="none", examples=3)
    question = "flights from dallas to atlanta please"
    chosen = examples_for_question(question, config, index)
    assert chosen[0] == PAIRS[2] and len(chosen) == 3
    user = build_messages(SCHEMA, question, config, examples=index)[1]["content"]
    assert user == user_message(None, question, chosen)
    assert user.startswith("Examples:\n") and user.endswith(f"Question: {question}")
    # the nearest example sits next to the question
    assert user.rindex(PAIRS[2].sql) > max(user.find(e.sql) for e in chosen[1:])
    # a small budget keeps the nearest examples only, never a cut one
    tight = PromptConfig(schema_style="none", examples=3, max_example_tokens=40)
    kept = examples_for_question(question, tight, index)
    assert 0 < len(kept) < 3 and kept == chosen[: len(kept)]
    # no examples asked: the prompt is the question alone
    assert build_messages(SCHEMA, question, PromptConfig(schema_style="none"))[1]["content"] == f"Question: {question}"


def test_prompts_with_examples_need_an_index():
    with pytest.raises(ConfigError, match="retrieved examples"):
        build_messages(SCHEMA, "flights to boston", PromptConfig(schema_style="none", examples=2))


def test_saved_index_loads_back_and_refuses_a_changed_or_missing_file(tmp_path):
    index = ExampleIndex(PAIRS + [PAIRS[0]])  # a repeated pair is kept once
    assert len(index) == len(PAIRS)
    recorded = index.save(tmp_path)
    assert recorded["hash"] == examples_hash(PAIRS) and recorded["pairs"] == len(PAIRS)
    loaded = ExampleIndex.load(tmp_path, recorded)
    assert loaded.examples == index.examples and loaded.hash == index.hash
    path = tmp_path / EXAMPLES_FILE
    path.write_text(path.read_text().replace("DENVER", "DALLAS", 1))
    with pytest.raises(InputError, match="changed since training"):
        ExampleIndex.load(tmp_path, recorded)
    path.write_text("{not json\n")
    with pytest.raises(InputError, match="line 1"):
        ExampleIndex.load(tmp_path, recorded)
    path.unlink()
    with pytest.raises(InputError, match="missing"):
        ExampleIndex.load(tmp_path, recorded)


def test_adapter_keeps_its_pairs_and_every_stage_builds_the_training_prompt(tmp_path, tiny_model_dir, tiny_warehouse,
                                                                           tiny_pairs_file):
    """Train with retrieved examples, then ask a held-out question as training did, as `sqltune eval`
    does (the harness) and as `sqltune serve` does (its generator): the prompts are the same text."""
    from sqltune.data import content_hash, load_pairs
    from sqltune.inference.adapter import read_meta
    from sqltune.inference.generate import load_generator, load_sql_model
    from sqltune.inference.models import load_tokenizer
    from sqltune.schema import load_schema
    from sqltune.training.train import build_datasets, train
    from tests.test_train import tiny_config

    config = tiny_config(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file, max_steps=2, step0_check=False,
                         eval_fraction=0.2)
    config.prompt = PromptConfig(schema_style="columns", examples=2)
    tokenizer = load_tokenizer(str(tiny_model_dir))
    schema = load_schema(str(tiny_warehouse))
    _, eval_ds, facts, index, _ = build_datasets(config, tokenizer, schema)
    result = train(config)

    meta = read_meta(result.adapter_dir)
    assert meta["prompt"]["examples"] == 2
    assert meta["examples"]["hash"] == index.hash == facts["examples"]["hash"]
    assert meta["examples"]["pairs"] == len(index) > 0
    saved = [json.loads(line) for line in (result.adapter_dir / EXAMPLES_FILE).read_text().splitlines()]
    assert [(r["question"], r["sql"]) for r in saved] == [(e.question, e.sql) for e in index.examples]
    # the index holds the training pairs only: no held-out question is among them
    all_pairs = list(load_pairs(str(tiny_pairs_file)))
    assert content_hash(all_pairs)  # the file itself is unchanged by training
    held_out_questions = {tokenizer.decode([t for t, m in zip(ids, mask) if not m]) for ids, mask in
                          zip(eval_ds["input_ids"], eval_ds["completion_mask"])}
    questions = [p.question for p in all_pairs if p.question not in {e.question for e in index.examples}]
    assert questions and len(held_out_questions) >= 1

    evaluated = load_sql_model(str(tiny_model_dir), schema=schema, adapters={"adapter": str(result.adapter_dir)}, quantized=True)
    from sqltune.inference.generate import answer_token_limit

    assert evaluated.max_new_tokens() == answer_token_limit(meta["completion_tokens_max"])
    served = load_generator(str(tiny_model_dir), {"mine": str(result.adapter_dir)}, db=str(tiny_warehouse))
    for question in questions:
        eval_prompt = evaluated.prompt_for(question)
        assert eval_prompt in held_out_questions, question
        assert served.prompt_for(question, "mine") == eval_prompt
        assert "Examples:\n" in eval_prompt

    # a changed pairs file is refused when the adapter loads
    path = result.adapter_dir / EXAMPLES_FILE
    path.write_text(path.read_text().replace("stores", "shops", 1))
    with pytest.raises(InputError, match="changed since training"):
        load_sql_model(str(tiny_model_dir), schema=schema, adapters={"adapter": str(result.adapter_dir)}, quantized=True)
