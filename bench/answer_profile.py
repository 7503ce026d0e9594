"""Where one served answer's time goes: the model's forward passes, the schema constraint, the stop
criteria, candidate runs on the warehouse and the name/value checks.

Loads a merged checkpoint as `sqltune serve --merged` does, answers questions of a pairs file one at
a time (as requests arrive) under cProfile, and prints each part's share of the answer time, with
the CPU named. Decides where decoding work is worth cutting (issue 24: constraint masks, prefill,
candidates).

    python bench/answer_profile.py --merged runs/m --data test.jsonl --db warehouse.duckdb --limit 12
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_name  # noqa: E402

# (label, file suffix, function name): cumulative time of each, as cProfile sees it
PARTS = [
    ("model forward (all tokens)", "modeling_llama.py", "forward"),
    ("  of it, the prompt (prefill)", "generation/utils.py", "_prefill"),
    ("schema constraint (per token)", "inference/constrain.py", "__call__"),
    ("stop-string criteria (build)", "stopping_criteria.py", "__init__"),
    ("candidate runs on the warehouse", "execution/execute.py", "execute"),
    ("name check", "schema/query_names.py", "unknown_names"),
    ("value check", "execution/values.py", "unknown_literals"),
]


def _cumulative(stats: pstats.Stats, suffix: str, name: str, top_level_only: bool) -> float:
    best = 0.0
    for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        if filename.endswith(suffix) and function == name:
            # the outermost LlamaForCausalLM.forward is the largest cumulative figure of its name
            best = max(best, ct) if top_level_only else best + ct
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merged", required=True, help="A merged checkpoint (`sqltune merge`).")
    parser.add_argument("--data", required=True, help="Pairs whose questions are asked.")
    parser.add_argument("--db", required=True, help="The warehouse.")
    parser.add_argument("--limit", type=int, default=12, help="Questions, evenly spaced (default 12).")
    parser.add_argument("--decoding", choices=("default", "greedy"), default="default")
    args = parser.parse_args()

    from sqltune.execution.execute import Warehouse
    from sqltune.inference.generate import DecodeConfig
    from sqltune.serve.launch import load_generator

    import torch

    decode = DecodeConfig.greedy() if args.decoding == "greedy" else DecodeConfig()
    generator = load_generator(None, {}, args.merged, db=args.db, decode=decode)
    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    n = min(args.limit, len(rows))
    questions = [rows[int(i * len(rows) / n)]["question"] for i in range(n)]
    seconds = []
    with Warehouse.open(args.db, timeout_s=10) as warehouse:
        generator.attach_warehouse(warehouse)
        generator.answer(questions[0])  # one-off allocations
        profile = cProfile.Profile()
        profile.enable()
        for question in questions:
            began = time.perf_counter()
            generator.answer(question)
            seconds.append(time.perf_counter() - began)
        profile.disable()
    stats = pstats.Stats(profile)
    total = sum(seconds)
    print(f"{args.merged}: {n} questions of {args.data}, {args.decoding} decoding, one at a time; "
          f"CPU {cpu_name()}, torch threads {torch.get_num_threads()}")
    print(f"per answer: p50 {statistics.median(seconds):.2f} s, mean {total / n:.2f} s, max {max(seconds):.2f} s "
          f"(cProfile adds its own overhead: shares, not absolute times, are the figure)")
    for label, suffix, name in PARTS:
        part = _cumulative(stats, suffix, name, top_level_only=label.startswith("model forward"))
        print(f"  {label:<34} {part:8.2f} s  {part / total:6.1%}")


if __name__ == "__main__":
    main()
