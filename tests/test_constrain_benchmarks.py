"""Constrained decoding never refuses gold SQL: every distinct gold query of the human-written
benchmarks (shared/benchmarks: restaurants and ATIS from text2sql-data, `sql` and every `alt_sql`,
train and test) and of the Harbor and Ports fixture corpora (eval/) passes the schema constraint's
lexer and the whole-query name check, and, token by token, the real logits processor lets every
gold token of a sample through.

The benchmark databases are built with the benchmarks' own script (`build.py NAME --db-only`, a
few seconds) and read with sqltune's schema reader, as a user would. Neither the lexer nor the name
check reads the contents of string literals or numbers, so queries that differ only there (most
ATIS variants: other cities, dates, flight numbers) share a verdict and are checked once.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sqltune.inference.constrain import SchemaConstraint, allowed_mask, schema_names, start_lexer, vocab_index
from sqltune.schema import load_schema
from sqltune.schema.query_names import unknown_names

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO.parent / "shared" / "benchmarks"
FIXTURE_CORPORA = {"harbor": ["eval/train.jsonl", "eval/test.jsonl"], "ports": ["eval/ports/train.jsonl", "eval/ports/test.jsonl"]}

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def gold_queries(files: list[Path]) -> list[str]:
    """Every distinct gold query (`sql` and `alt_sql`) of the JSONL pair files, in file order."""
    found: dict[str, None] = {}
    for path in files:
        with path.open() as f:
            for line in f:
                row = json.loads(line)
                for sql in [row["sql"], *row.get("alt_sql", [])]:
                    found.setdefault(sql, None)
    return list(found)


def shapes(queries: list[str]) -> list[str]:
    """The queries with every string literal emptied and every number made 0, deduplicated."""
    return list(dict.fromkeys(_NUMBER.sub("0", _STRING.sub("''", q)) for q in queries))


def lexer_refusal(names, sql: str) -> str | None:
    """Where the constraint's lexer refuses `sql` (None: it accepts the whole query)."""
    lexer = start_lexer(names)
    for i, char in enumerate(sql):
        if not lexer.feed(char):
            return f"at char {i}: {sql[max(0, i - 60):i]!r} + {char!r}"
    return None if lexer.end() else "at the end"


def assert_all_pass(schema, queries: list[str], label: str) -> None:
    names = schema_names(schema)
    refused = [(sql, why) for sql in queries if (why := lexer_refusal(names, sql))]
    assert not refused, f"{label}: the lexer refuses {len(refused)} of {len(queries)}, e.g. {refused[0][1]} in {refused[0][0]}"
    checks = [(sql, unknown_names(sql, schema)) for sql in queries]
    failed = [(sql, check.reason()) for sql, check in checks if not check.ok]
    assert not failed, f"{label}: the name check refuses {len(failed)} of {len(queries)}, e.g. {failed[0][1]} in {failed[0][0]}"


# -- the benchmarks ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["restaurants", "atis"])
def benchmark(request, tmp_path_factory):
    """(name, schema, distinct gold queries) of one benchmark, its database built in a temp folder."""
    name = request.param
    if not (BENCHMARKS / "build.py").exists():
        pytest.skip(f"the benchmarks folder {BENCHMARKS} is absent (it sits beside the repository, in shared/)")
    out = tmp_path_factory.mktemp(f"bench-{name}")
    subprocess.run([sys.executable, str(BENCHMARKS / "build.py"), name, "--out", str(out), "--db-only"], check=True,
                   capture_output=True, text=True, timeout=120)
    schema = load_schema(str(out / f"{name}.duckdb"))
    queries = gold_queries([BENCHMARKS / name / "train.jsonl", BENCHMARKS / name / "test.jsonl"])
    assert queries
    return name, schema, queries


def test_every_benchmark_gold_query_passes_the_lexer_and_the_name_check(benchmark):
    name, schema, queries = benchmark
    assert_all_pass(schema, shapes(queries), name)


@pytest.mark.parametrize("kind", sorted(FIXTURE_CORPORA))
def test_every_fixture_gold_query_passes_the_lexer_and_the_name_check(kind):
    schema = load_schema(str(REPO / "warehouse_fixtures" / "specs" / f"{kind}.sql"))
    queries = gold_queries([REPO / f for f in FIXTURE_CORPORA[kind]])
    assert len(queries) > 1000
    assert_all_pass(schema, shapes(queries), kind)


def sample(queries: list[str], n: int) -> list[str]:
    """`n` distinct queries spread evenly from the shortest to the longest."""
    ordered = sorted(queries, key=lambda q: (len(q), q))
    if len(ordered) <= n:
        return ordered
    return list(dict.fromkeys(ordered[round(i * (len(ordered) - 1) / (n - 1))] for i in range(n)))


def forced_refusals(tokenizer, names, sql: str, *, answer_prefix: str = "SELECT", mask_every: int = 0, offset: int = 0) -> list[str]:
    """Teacher-force `sql` through `SchemaConstraint`: at each step the gold token gets the best
    score, and is refused if the processor masks it (then the end of the answer, likewise). Every
    `mask_every` steps the full mask (`allowed_mask`) must allow it too. Returns the refused steps."""
    import torch

    assert sql.startswith(answer_prefix)
    rest = sql[len(answer_prefix):]
    ids = tokenizer.encode(rest, add_special_tokens=False)
    index = vocab_index(tokenizer)
    assert "".join(index.strings[i] for i in ids) == rest
    eos = tokenizer.eos_token_id
    constraint = SchemaConstraint(tokenizer, [names], answer_prefix=answer_prefix, end_ids=[eos])
    lexer = start_lexer(names, answer_prefix)
    refused = []
    for step, gold in enumerate([*ids, eos]):
        scores = torch.zeros(1, index.size)
        scores[0, gold] = 1.0
        out = constraint(torch.tensor([[eos, *ids[:step]]]), scores)
        where = f"step {step} ({answer_prefix + rest[:len(''.join(index.strings[i] for i in ids[:step]))]!r} + {index.strings[gold]!r})"
        if out[0, gold] == float("-inf"):
            refused.append(where)
        if mask_every and step % mask_every == offset % mask_every:
            mask = allowed_mask(index, lexer, [eos])
            if mask is not None and not mask[gold]:
                refused.append("full mask, " + where)
        if gold != eos:
            lexer.feed(index.strings[gold])
    return refused


def test_the_logits_processor_lets_every_gold_token_through(benchmark, tiny_model_dir):
    """Token level, on 30 queries per benchmark (from the shortest to the longest)."""
    import torch
    from transformers import AutoTokenizer

    name, schema, queries = benchmark
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    names = schema_names(schema)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: thread hand-offs would cost more than the work
    try:
        refused = {sql: bad for i, sql in enumerate(sample(queries, 30))
                   if (bad := forced_refusals(tokenizer, names, sql, mask_every=25, offset=i))}
    finally:
        torch.set_num_threads(threads)
    assert not refused, f"{name}: gold tokens refused in {len(refused)} queries, e.g. {next(iter(refused.items()))}"
