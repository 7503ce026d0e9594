"""Why unknown names still get through the schema constraint: every hallucinated-name answer, explained.

Decodes with the schema constraint on (greedy, one candidate, nothing else) and runs each answer.
For every answer the warehouse refuses for an unknown table or column (the evaluation's
``hallucinated_schema`` category) it prints the question, the SQL, the warehouse's error, the
offending name as the whole-query check (`sqltune.schema.query_names`) names it, and why the
constraint let it pass:

- ``constraint broke at char N``: no token the constraint allowed was among the model's choices
  and the mask was empty, so the rest of the answer went unconstrained;
- ``cut by the token limit``: the answer ended mid-query (max new tokens);
- ``lexer accepts the whole query``: the token-by-token lexer has no rule against it (the
  whole-query check's reason says which rule is missing);
- ``lexer refuses the query``: it should not have been generated (a bug in the processor).

    .venv/bin/python bench/constraint_leaks.py --adapter /work/exp/e1_none_eager \
        --data eval/test.jsonl --db ~/.cache/warehouse_fixtures/harbor-seed0-2ec1dfb91e98.duckdb --limit 100
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import time
from pathlib import Path

from _machine import cpu_name  # bench/ is on sys.path when a bench script runs


def why_it_passed(raw: str, sql: str, names, answer_prefix: str, cut: bool) -> str:
    """Replay the constraint's lexer over the answer as generated."""
    from sqltune.inference.constrain import start_lexer

    lexer = start_lexer(names, answer_prefix)
    text = raw[len(answer_prefix):] if raw.startswith(answer_prefix) else raw
    for i, char in enumerate(text):
        if not lexer.feed(char):
            return f"constraint broke at char {i + len(answer_prefix)} ({text[max(0, i - 25):i]!r} + {char!r})"
    if cut:
        return "cut by the token limit"
    whole = start_lexer(names, "")
    if whole.feed(sql) and whole.end():
        return "lexer accepts the whole query"
    return "lexer refuses the query"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--data", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--limit", type=int, default=100, help="Questions, evenly spaced through the file.")
    parser.add_argument("--constrain", default="on", choices=("on", "off"), help="off: the same listing for plain greedy.")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--json", default=None, help="Also write every listed answer to this file.")
    args = parser.parse_args()

    from sqltune.data import load_pairs
    from sqltune.evaluation.harness import spread_subset
    from sqltune.inference.adapter import read_prompt_config
    from sqltune.inference.constrain import schema_names
    from sqltune.inference.generate import DecodeConfig, load_sql_model
    from sqltune.schema import load_schema
    from sqltune.schema.query_names import unknown_names
    from sqltune.execution.execute import Warehouse

    pairs = spread_subset(list(load_pairs(args.data)), args.limit)
    schema = load_schema(args.db)
    decode = dataclasses.replace(DecodeConfig.greedy(), constrain_schema=args.constrain == "on")
    if args.max_new_tokens:
        decode = dataclasses.replace(decode, max_new_tokens=args.max_new_tokens)
    if not args.adapter:
        decode = dataclasses.replace(decode, answer_prefix="SELECT", stop_strings=(";", "\n\n"))
    model = load_sql_model(args.model, schema=schema, adapters={"adapter": args.adapter} if args.adapter else None,
                           quantized=bool(args.adapter), prompt=read_prompt_config(args.adapter) if args.adapter else None,
                           decode=decode)
    started = time.perf_counter()
    generated = model.generate([p.question for p in pairs])
    seconds = time.perf_counter() - started
    listed, reasons, ran_ok = [], collections.Counter(), 0
    with Warehouse.open(args.db, timeout_s=10) as warehouse:
        for pair, item in zip(pairs, generated):
            result = warehouse.execute(item.sql, max_rows=1000, timeout_s=10)
            ran_ok += result.ok
            check = unknown_names(item.sql, schema, warehouse.dialect)
            refused = result.error_kind in ("unknown_table", "unknown_column")
            if not (refused or not result.ok and check.problems):
                continue
            shown = model._prompt(pair.question, None)[1]
            tokens = len(model.tokenizer(item.raw_output, add_special_tokens=False)["input_ids"])
            cut = tokens >= decode.max_new_tokens - 1 and not item.raw_output.rstrip().endswith(";")
            why = why_it_passed(item.raw_output, item.sql, schema_names(shown, warehouse.dialect), decode.answer_prefix, cut)
            reasons[why.split(" at char")[0]] += 1
            listed.append({"id": pair.id, "question": pair.question, "sql": item.sql, "error": (result.error or "")[:300],
                           "name_check": check.reason(), "why_passed": why, "shown_tables": len(shown.tables)})
    for row in listed:
        print(f"\n[{row['id']}] {row['question']}\n  SQL:   {row['sql']}\n  error: {row['error'].splitlines()[0] if row['error'] else '-'}"
              f"\n  check: {row['name_check']}\n  why:   {row['why_passed']}")
    print(f"\n{len(pairs)} questions, constraint {args.constrain}; CPU: {cpu_name()}; {seconds / max(1, len(pairs)):.2f} s/question")
    print(f"ran: {ran_ok}; hallucinated names: {len(listed)}; why: {dict(reasons)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_name(), "data": args.data, "listed": listed, "why": dict(reasons)}, indent=2))


if __name__ == "__main__":
    main()
