"""Token lengths of training pairs per warehouse: is a second corpus comparable in size to Harbor's?

    python bench/corpus_tokens.py                        # harbor and ports train files, harbor-cpu prompt
    python bench/corpus_tokens.py --limit 0 --style ddl --max-schema-tokens 1500

For each corpus it builds the prompt exactly as training does (`sqltune.prompts.build_messages` and
the tokenizer's chat template, with the recipe's prompt settings) and prints percentiles of prompt
tokens, gold SQL tokens (plus end-of-turn) and their sum, the whole schema's size in the chosen style (above the
budget, prompts are pruned per question) and the share of prompts that show every table the gold
SQL reads. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sqltune.data import referenced_tables
from warehouse_fixtures import ensure_fixture
from sqltune.inference.models import load_tokenizer
from sqltune.prompts import (PromptConfig, build_messages, make_token_counter, prepare_questions, prompt_text,
                             schema_for_question)
from sqltune.schema import load_schema
from sqltune.schema.render import render_schema
from sqltune.training.examples import completion_text

from _machine import cpu_name  # bench/ is on sys.path when a bench script runs

REPO = Path(__file__).resolve().parents[1]
CORPORA = {"harbor": REPO / "eval" / "train.jsonl", "ports": REPO / "eval" / "ports" / "train.jsonl"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="default", help="model whose tokenizer counts (default: the embedded SmolLM2)")
    parser.add_argument("--style", default="columns", help="schema style: columns (harbor-cpu recipe) or ddl")
    parser.add_argument("--max-schema-tokens", type=int, default=200)
    parser.add_argument("--comments", action="store_true", help="include comments (the recipe leaves them out)")
    parser.add_argument("--samples", type=int, default=0, help="sample values per column (the recipe shows none)")
    parser.add_argument("--limit", type=int, default=800, help="pairs per corpus, evenly spaced (0 = all)")
    args = parser.parse_args()

    tokenizer = load_tokenizer(args.base)
    count = make_token_counter(tokenizer)
    config = PromptConfig(schema_style=args.style, max_schema_tokens=args.max_schema_tokens,
                          include_comments=args.comments, samples_per_column=args.samples)
    print(f"tokenizer: {args.base}; prompt: style={args.style}, budget={args.max_schema_tokens}, "
          f"comments={args.comments}, samples={args.samples}; CPU: {cpu_name()}")
    print(f"{'corpus':8} {'pairs':>6} {'schema':>7} | {'prompt p50':>10} {'p95':>5} | {'sql p50':>7} {'p95':>5} {'max':>5} "
          f"| {'total p50':>9} {'p95':>5} | {'gold shown':>10}")
    for kind, path in CORPORA.items():
        pairs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if args.limit and len(pairs) > args.limit:
            pairs = [pairs[int(i)] for i in np.linspace(0, len(pairs) - 1, args.limit)]
        schema = load_schema(ensure_fixture(kind), samples_per_column=args.samples)
        whole = count(render_schema(schema, config.render_options))
        prepare_questions(schema, [p["question"] for p in pairs], config, count_tokens=count)
        prompt, sql, shown = [], [], []
        known = {t.lower() for t in schema.table_names}
        for p in pairs:
            kept = {t.lower() for t in schema_for_question(schema, p["question"], config, count_tokens=count).kept}
            shown.append((referenced_tables(p["sql"], schema.dialect) & known) <= kept)
            messages = build_messages(schema, p["question"], config, count_tokens=count)
            prompt.append(len(tokenizer(prompt_text(tokenizer, messages), add_special_tokens=False)["input_ids"]))
            sql.append(len(tokenizer(completion_text(p["sql"], tokenizer), add_special_tokens=False)["input_ids"]))
        prompt_a, sql_a = np.array(prompt), np.array(sql)
        total = prompt_a + sql_a

        def pct(a, q):
            return int(np.percentile(a, q))

        print(f"{kind:8} {len(pairs):>6} {whole:>7} | {pct(prompt_a, 50):>10} {pct(prompt_a, 95):>5} | "
              f"{pct(sql_a, 50):>7} {pct(sql_a, 95):>5} {sql_a.max():>5} | {pct(total, 50):>9} {pct(total, 95):>5} | "
              f"{np.mean(shown):>10.1%}")


if __name__ == "__main__":
    main()
