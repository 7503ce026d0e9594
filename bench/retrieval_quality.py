"""How much the retrieved examples can give, per benchmark and retrieval method, before any training.

For each test question (evenly spaced through test.jsonl), the k nearest training pairs are
retrieved as a prompt would retrieve them (`sqltune.retrieval.ExampleIndex`), and compared with the
gold SQL:

* skeleton top-1 / any-of-k: the nearest pair's SQL (or any of the k) has the gold query's shape,
  literals aside: the model then only has to adapt values;
* copy EX: the nearest pair's SQL, run as it is, returns the gold rows;
* skeleton anywhere: some training pair has the gold query's shape (what any retrieval could find).

No model is loaded: this decides the retrieval method and says what a benchmark asks of the model
(adapting a neighbour's SQL, or composing a query no training pair shows). Each run appends a dated
section to bench/results/retrieval_quality-YYYY-MM-DD.md with the CPU and command.

    python bench/retrieval_quality.py --only harbor,restaurants,atis --limit 120
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import re
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchmarks  # noqa: E402
from _machine import cpu_name  # noqa: E402

from sqltune.retrieval import METHODS, Example, ExampleIndex  # noqa: E402

_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def skeleton(sql: str) -> str:
    """The query's shape: literals replaced, whitespace and case folded."""
    return _LITERAL.sub("?", " ".join(sql.split()).lower()).rstrip("; ")


def _rows(con, sql: str):
    try:
        return collections.Counter(map(tuple, con.execute(sql).fetchall()))
    except Exception:  # noqa: BLE001 - a failing query matches nothing
        return None


def measure(bench, method: str, k: int, limit: int) -> dict:
    train = benchmarks.read_rows(bench.train)
    test = benchmarks.read_rows(bench.test)
    index = ExampleIndex([Example(r["question"], r["sql"]) for r in train], method)
    n = min(limit, len(test))
    picked = [test[int(i * len(test) / n)] for i in range(n)]
    started = time.perf_counter()
    index.prepare([r["question"] for r in picked])
    shapes = {skeleton(r["sql"]) for r in train}
    con = duckdb.connect(str(bench.db), read_only=True)
    top1 = anyk = copy = anywhere = 0
    for row in picked:
        nearest = index.nearest(row["question"], k)
        gold = skeleton(row["sql"])
        top1 += bool(nearest) and skeleton(nearest[0].sql) == gold
        anyk += any(skeleton(e.sql) == gold for e in nearest)
        anywhere += gold in shapes
        if nearest:
            gold_rows = _rows(con, row["sql"])
            copy += gold_rows is not None and _rows(con, nearest[0].sql) == gold_rows
    con.close()
    return {"warehouse": bench.name, "method": method, "k": k, "questions": n, "train": len(train),
            "skeleton_top1": top1 / n, "skeleton_any": anyk / n, "copy_ex": copy / n,
            "skeleton_anywhere": anywhere / n, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(benchmarks.BENCHMARKS), help="Comma-separated benchmarks (default: all).")
    parser.add_argument("--methods", default=",".join(METHODS), help="Comma-separated retrieval methods (default: all).")
    parser.add_argument("-k", type=int, default=4, help="Examples retrieved per question (default 4).")
    parser.add_argument("--limit", type=int, default=120, help="Test questions, evenly spaced (default 120).")
    parser.add_argument("--work", default="runs/retrieval_quality", help="Folder for the prepared pairs.")
    parser.add_argument("--results", default=None, help="Results file (default: bench/results/retrieval_quality-YYYY-MM-DD.md).")
    args = parser.parse_args()

    rows = []
    for name in args.only.split(","):
        bench = benchmarks.prepare_or_exit(parser, name, args.work)
        for method in args.methods.split(","):
            row = measure(bench, method, args.k, args.limit)
            rows.append(row)
            print(json.dumps(row), flush=True)

    header = ("| warehouse | method | train pairs | questions | skeleton top-1 | skeleton any of k | copy EX (top-1 as it is) "
              "| skeleton anywhere in train | seconds |\n|---|---|---|---|---|---|---|---|---|")
    lines = [f"| {r['warehouse']} | {r['method']} | {r['train']} | {r['questions']} | {r['skeleton_top1']:.1%} "
             f"| {r['skeleton_any']:.1%} | {r['copy_ex']:.1%} | {r['skeleton_anywhere']:.1%} | {r['seconds']:.1f} |" for r in rows]
    table = header + "\n" + "\n".join(lines)
    print(table)
    results = Path(args.results or Path(__file__).parent / "results" / f"retrieval_quality-{dt.date.today():%Y-%m-%d}.md")
    results.parent.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join([f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    with results.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## {dt.datetime.now():%Y-%m-%d %H:%M}\n\n- command: `{command}`\n- CPU: {cpu_name()}\n"
                     f"- k = {args.k}\n\n{table}\n")
    print(f"appended to {results}")


if __name__ == "__main__":
    main()
