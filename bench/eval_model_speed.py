"""Model evaluation speed: generation alone vs generate + execute + score, questions/s.

Execution runs in a thread pool while later batches generate, so a full evaluation should take
little longer than generation alone. Prints both rates and the overhead.

    .venv/bin/python bench/eval_model_speed.py --n 64 [--adapter runs/harbor/adapter]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="default")
    parser.add_argument("--adapter", default=None, help="Adapter folder (evaluated on its NF4 base).")
    parser.add_argument("--data", default="eval/test.jsonl")
    parser.add_argument("--db", default=None)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    from sqltune.inference.adapter import read_prompt_config
    from sqltune.data import load_pairs
    from sqltune.evaluation.scoring import evaluate_model
    from sqltune.execution.execute import Warehouse
    from sqltune.inference.generate import DecodeConfig, load_sql_model
    from sqltune.evaluation.harness import spread_subset
    from warehouse_fixtures import ensure_fixture
    from sqltune.schema import load_schema

    db = args.db or str(ensure_fixture("harbor"))  # a benchmark may build the fixture; the library never does
    pairs = spread_subset(list(load_pairs(args.data)), args.n)
    decode = DecodeConfig(batch_size=args.batch_size, answer_prefix="" if args.adapter else "SELECT")
    model = load_sql_model(
        args.base, schema=load_schema(db), adapters={"adapter": args.adapter} if args.adapter else None,
        quantized=bool(args.adapter), prompt=read_prompt_config(args.adapter) if args.adapter else None, decode=decode,
    )
    model.generate([p.question for p in pairs[: args.batch_size]])  # warm-up
    started = time.perf_counter()
    model.generate([p.question for p in pairs])
    generation = time.perf_counter() - started
    with Warehouse.open(db) as warehouse:
        started = time.perf_counter()
        report = evaluate_model(model, pairs, warehouse)
        full = time.perf_counter() - started
    print(f"questions: {len(pairs)}  model: {model.label}  batch: {args.batch_size}")
    print(f"generation alone:        {len(pairs) / generation:6.2f} questions/s ({generation:.1f} s)")
    print(f"generate+execute+score:  {len(pairs) / full:6.2f} questions/s ({full:.1f} s)")
    print(f"evaluation overhead over generation: {100 * (full / generation - 1):+.1f}%")
    print(f"execution accuracy {report.execution_accuracy:.1%}, executable {report.executable_rate:.1%}")


if __name__ == "__main__":
    main()
