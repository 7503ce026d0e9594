"""Generation: SQL extraction, batched greedy answers in input order, adapter selection per call."""

from __future__ import annotations

import pytest
import torch

from sqltune.core.errors import ModelError
from sqltune.inference.answer import extract_sql
from sqltune.inference.generate import DecodeConfig, load_sql_model


@pytest.mark.parametrize(
    "text, sql",
    [
        ("SELECT COUNT(*) FROM stores", "SELECT COUNT(*) FROM stores"),
        ("```sql\nSELECT 1\n```\nThis counts.", "SELECT 1"),
        ("Here is the query: SELECT a FROM t; SELECT b FROM u", "SELECT a FROM t"),
        ("WITH x AS (SELECT 1) SELECT * FROM x;", "WITH x AS (SELECT 1) SELECT * FROM x"),
        ("I cannot answer that.", "I cannot answer that."),
    ],
)
def test_extract_sql(text, sql):
    assert extract_sql(text) == sql


@pytest.fixture()
def schema(tiny_warehouse):
    from sqltune.schema import load_schema

    return load_schema(str(tiny_warehouse))


def _adapter(tmp_path, tiny_model_dir, name: str, seed: int):
    """A random (non-identity) LoRA adapter saved as a PEFT folder."""
    from peft import LoraConfig, get_peft_model

    from sqltune.inference.models import load_model

    torch.manual_seed(seed)
    model = get_peft_model(load_model(str(tiny_model_dir)), LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    out = tmp_path / name
    model.save_pretrained(out)
    return out


def test_batched_generation_keeps_input_order(tiny_model_dir, schema):
    questions = ["How many stores are there?", "List every city", "Total amount sold in Boston last year by region?"]
    batched = load_sql_model(str(tiny_model_dir), schema=schema, decode=DecodeConfig(max_new_tokens=8, batch_size=3))
    one_by_one = load_sql_model(str(tiny_model_dir), schema=schema, decode=DecodeConfig(max_new_tokens=8, batch_size=1))
    a = batched.generate(questions)
    b = one_by_one.generate(questions)
    assert [g.question for g in a] == questions
    assert [g.raw_output for g in a] == [g.raw_output for g in b]
    assert batched.label == "prompt-only" and batched.setup()["decode"]["max_new_tokens"] == 8


def test_answer_prefix_is_part_of_the_answer(tiny_model_dir, schema):
    model = load_sql_model(str(tiny_model_dir), schema=schema, decode=DecodeConfig(max_new_tokens=4, answer_prefix="SELECT"))
    (answer,) = model.generate(["How many stores are there?"])
    assert answer.raw_output.startswith("SELECT") and answer.sql.startswith("SELECT")


def test_adapters_are_chosen_per_call(tmp_path, tiny_model_dir, schema):
    first = _adapter(tmp_path, tiny_model_dir, "tenant_a", seed=1)
    second = _adapter(tmp_path, tiny_model_dir, "tenant_b", seed=2)
    decode = DecodeConfig(max_new_tokens=6)
    model = load_sql_model(str(tiny_model_dir), schema=schema, adapters={"a": first, "b": second}, decode=decode)
    base = load_sql_model(str(tiny_model_dir), schema=schema, decode=decode)
    question = ["How many stores are there?"]
    out_a = model.generate(question, adapter="a")[0].raw_output
    out_b = model.generate(question, adapter="b")[0].raw_output
    out_base = model.generate(question, adapter="")[0].raw_output
    assert model.adapters == ["a", "b"] and model.label == "adapter"
    assert out_base == base.generate(question)[0].raw_output
    assert len({out_a, out_b, out_base}) > 1
    assert model.generate(question)[0].raw_output == out_a  # default: the first adapter
    with pytest.raises(ModelError, match="unknown adapter"):
        model.generate(question, adapter="c")
    with pytest.raises(ModelError, match="no adapters"):
        base.generate(question, adapter="a")


def test_missing_adapter_folder_is_a_clean_error(tmp_path, tiny_model_dir, schema):
    with pytest.raises(ModelError, match="not a PEFT adapter folder"):
        load_sql_model(str(tiny_model_dir), schema=schema, adapters={"x": tmp_path})


def test_each_adapter_is_asked_with_its_own_prompt_settings(tmp_path, tiny_model_dir, schema, monkeypatch):
    """Two tenants trained with different prompt settings, served by one base: each request is
    built with the settings recorded beside the adapter it names (not the first adapter's)."""
    from sqltune.inference.adapter import write_meta
    from sqltune.inference.generate import SqlModel
    from sqltune.prompts import PromptConfig

    first = _adapter(tmp_path, tiny_model_dir, "tenant_a", seed=1)
    second = _adapter(tmp_path, tiny_model_dir, "tenant_b", seed=2)
    write_meta(first, {"prompt": {**PromptConfig().__dict__, "system": "Tenant A writes {dialect}.", "schema_style": "ddl"}})
    write_meta(second, {"prompt": {**PromptConfig().__dict__, "system": "Tenant B writes {dialect}.", "schema_style": "columns"}})
    model = load_sql_model(str(tiny_model_dir), schema=schema, adapters={"a": first, "b": second},
                           decode=DecodeConfig(max_new_tokens=2))
    seen: list[str] = []
    real = SqlModel._decode
    monkeypatch.setattr(SqlModel, "_decode", lambda self, texts, *a, **k: seen.extend(texts) or real(self, texts, *a, **k))
    model.generate_sql("How many stores are there?", adapter="b")
    model.generate_sql("How many stores are there?", adapter="a")
    model.generate_sql("How many stores are there?", adapter=None)
    assert "Tenant B writes DuckDB." in seen[0] and "stores(" in seen[0]  # columns style: table(col, ...)
    assert "Tenant A writes DuckDB." in seen[1] and "CREATE TABLE" in seen[1]
    assert "Tenant A writes DuckDB." in seen[2]  # no adapter named: the first one, with its own settings
    assert model.setup()["adapter_prompts"]["b"]["schema_style"] == "columns"


def test_batch_size_follows_the_device_where_prompt_lookup_can_draft():
    """Unset, a CPU answers one question at a time when prompt lookup drafts from retrieved examples
    (one row only); a GPU, prompts without examples or lookup off keep batches; a set size wins."""
    from sqltune.inference.generate import BATCHED, decode_batch_size
    from sqltune.prompts import PromptConfig

    with_examples, plain = PromptConfig(examples=1), PromptConfig()
    assert decode_batch_size(DecodeConfig(), with_examples, on_cpu=True) == 1
    assert decode_batch_size(DecodeConfig(), with_examples, on_cpu=False) == BATCHED
    assert decode_batch_size(DecodeConfig(), plain, on_cpu=True) == BATCHED
    assert decode_batch_size(DecodeConfig(prompt_lookup=0), with_examples, on_cpu=True) == BATCHED
    assert decode_batch_size(DecodeConfig(batch_size=4), with_examples, on_cpu=True) == 4


def test_batches_group_similar_lengths_and_come_in_a_spread_order():
    """Little padding within a batch, and the first batches answered are not the shortest prompts:
    a progress line's rate so far holds for the rest (in length order its time left ran short)."""
    from sqltune.inference.generate import batch_order

    lengths = [1000 - 7 * i for i in range(100)]          # the file's first question the longest
    for size in (1, 4):
        batches = batch_order(lengths, size)
        assert sorted(i for batch in batches for i in batch) == list(range(100))
        assert all(len(batch) == size for batch in batches)
        assert all(max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 7 * (size - 1) for b in batches)
        first_fifth = sorted(lengths[i] for batch in batches[: len(batches) // 5] for i in batch)
        median = sorted(lengths)[50]
        assert first_fifth[0] < median < first_fifth[-1]   # short and long prompts among the first answered
        assert batch_order(lengths, size) == batches       # the same order every run


def test_generate_answers_in_the_batch_order(tiny_model_dir, schema):
    from sqltune.inference.generate import batch_order

    questions = ["How many stores are there?", "List every city", "Total amount sold in Boston last year by region?",
                 "Which store sold the most?", "Count the cities"]
    model = load_sql_model(str(tiny_model_dir), schema=schema, decode=DecodeConfig(max_new_tokens=4, batch_size=1))
    seen: list[list[int]] = []
    answers = model.generate(questions, on_batch=lambda idx, _done: seen.append(list(idx)))
    lengths = [len(model.tokenizer(model._prompt(q, None)[0], add_special_tokens=False)["input_ids"]) for q in questions]
    assert seen == batch_order(lengths, 1)
    assert [a.question for a in answers] == questions


def test_answer_token_limit_follows_the_longest_training_sql():
    from sqltune.inference.generate import DEFAULT_ANSWER_TOKENS, DecodeConfig, SqlModel, answer_token_limit

    assert answer_token_limit(None) == DEFAULT_ANSWER_TOKENS == 200
    assert answer_token_limit(100) == 200  # never under the old default
    assert answer_token_limit(480) == 600  # long SQL (ATIS: half its gold queries are over 240 tokens)
    assert answer_token_limit(5000) == 1024

    class Tok:
        padding_side = "right"

    model = SqlModel(model=None, tokenizer=Tok(), schema=None, adapters=["a", "b"], answer_tokens={"a": 600, "": 300})
    assert model.max_new_tokens() == 600 and model.max_new_tokens("a") == 600
    assert model.max_new_tokens("b") == 200  # no record for b
    assert model.max_new_tokens("") == 300
    explicit = SqlModel(model=None, tokenizer=Tok(), schema=None, decode=DecodeConfig(max_new_tokens=64), adapters=["a"],
                        answer_tokens={"a": 600})
    assert explicit.max_new_tokens("a") == 64  # a setting given wins


def test_the_default_model_is_imported_once_when_two_commands_start_together(tmp_path, monkeypatch):
    """Two commands on a fresh machine: one converts, the other waits and finds the finished folder
    (seen: the second read a folder the first was replacing, and failed to load its tokenizer)."""
    import threading
    import time

    from sqltune.inference import models

    calls = []

    def slow_import(out):
        calls.append(out)
        time.sleep(0.3)
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        return out

    monkeypatch.setattr(models, "_import_default", slow_import)
    out = tmp_path / "models" / "default"
    found = []
    threads = [threading.Thread(target=lambda: found.append(models.import_default(out))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [out] and found == [out, out]


def test_stop_string_criteria_are_built_once_per_model(tiny_model_dir, schema, monkeypatch):
    """transformers rebuilds stop-string criteria from the whole vocabulary on each generate() given
    `stop_strings`; the model builds them once and passes them as stopping criteria."""
    import transformers

    built = []
    real = transformers.StopStringCriteria

    class Counting(real):
        def __init__(self, *args, **kwargs):
            built.append(args[1:] or kwargs.get("stop_strings"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(transformers, "StopStringCriteria", Counting)
    model = load_sql_model(str(tiny_model_dir), schema=schema, decode=DecodeConfig(max_new_tokens=4, batch_size=1))
    model.generate(["How many stores are there?", "List every city"])
    model.generate(["Total amount sold in Boston?"])
    assert len(built) == 1, built


def _recorded(calls, sequences, end_ids=(9,), lookahead=0):
    from sqltune.inference.decoding_state import LoglikRecorder

    recorder = LoglikRecorder(list(end_ids), lookahead=lookahead)
    for ids, scores in calls:
        recorder(torch.tensor([ids]), scores)
    recorder.finish(torch.tensor([sequences]))
    return recorder.loglik[0]


def test_loglik_of_drafted_decoding_equals_step_by_step():
    """Prompt lookup scores drafted tokens the model may reject: only the kept tokens count, each by
    the scores of the call that predicted it from the kept prefix."""
    import torch

    torch.manual_seed(0)
    prompt = [1, 2]
    answer = [5, 6, 7, 9]  # 9 ends the answer
    logits = {n: torch.randn(1, 12) for n in range(2, 7)}  # the scores predicting position n (from the kept prefix)
    step_by_step = [(prompt + answer[:i], logits[2 + i]) for i in range(len(answer))]
    # round 1 drafts [5, 8, 8]: 5 is kept, 6 replaces the first 8; its scores at 4 and 5 saw a wrong prefix
    junk = torch.randn(1, 12)
    drafted = [(prompt, logits[2]), (prompt + [5], logits[3]), (prompt + [5, 8], junk), (prompt + [5, 8, 8], junk),
               # round 2 starts after [5, 6]: drafts [7, 9], both kept
               (prompt + [5, 6], logits[4]), (prompt + [5, 6, 7], logits[5])]
    expected = sum(torch.log_softmax(logits[2 + i], -1)[0, t].item() for i, t in enumerate(answer))
    assert _recorded(step_by_step, prompt + answer) == pytest.approx(expected)
    assert _recorded(drafted, prompt + answer, lookahead=3) == pytest.approx(expected)
    # tokens after the end do not count
    assert _recorded(step_by_step + [(prompt + answer, logits[6])], prompt + answer + [3]) == pytest.approx(expected)


@pytest.mark.parametrize("constrain", [False, True])
def test_prompt_lookup_gives_the_greedy_answer(tiny_model_dir, schema, monkeypatch, constrain):
    """Drafting from the prompt changes how many forward passes an answer takes, not the answer."""
    import transformers

    questions = ["How many stores are there?", "List every city", "Total amount sold in Boston last year by region?"]
    answers = {}
    for lookup in (0, 10):
        decode = DecodeConfig(max_new_tokens=12, batch_size=1, prompt_lookup=lookup, constrain_schema=constrain,
                              execution_guided=False, ground_values=False, repair_values=False, check_names=False,
                              candidates=1, topup_candidates=0)
        model = load_sql_model(str(tiny_model_dir), schema=schema, decode=decode)
        seen = []
        real = type(model.model).generate
        monkeypatch.setattr(type(model.model), "generate",
                            lambda self, *a, **k: seen.append(k.get("prompt_lookup_num_tokens")) or real(self, *a, **k))
        answers[lookup] = [model.answer(q).raw_output for q in questions]
        monkeypatch.undo()
        assert set(seen) == ({None} if lookup == 0 else {10}), seen
    assert answers[10] == answers[0]
