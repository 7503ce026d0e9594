"""Speed of scoring: how many questions per second `score_predictions` gets through on a warehouse.

    python bench/eval_speed.py                                  # Harbor fixture, its test questions
    python bench/eval_speed.py --questions eval/test.jsonl --workers 1,2,4 --repeat 3
    python bench/eval_speed.py --db my.duckdb --questions my_pairs.jsonl

Predictions are made from the gold SQL itself: every other question gets the gold query (a right
answer), the rest a copy with its first integer literal changed (usually a wrong answer, so error
categorisation runs too). Each gold query appears `--repeat` times under different ids, so the
gold-result cache is exercised.

It prints, each measured on its own:
- CLI start-up: `python -m sqltune eval score --help` in a fresh process (interpreter, imports);
- opening the warehouse (sandbox workers start) and reading its schema;
- scoring only, per worker count: questions/s with the warehouse already open, the share scored
  correct, per-query execution time (p50/p95);
- the string-level pieces per question: Spider exact match, normalised exact match, categorising
  a wrong answer;
- `sqltune eval score` end to end in a fresh process (start-up + open + scoring + report).
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlglot
import yaml
from sqlglot import exp

from sqltune.evaluation.compare import MatchVerdict
from sqltune.data import Pair, load_pairs
from sqltune.evaluation.categories import categorize
from sqltune.evaluation.compare import exact_match
from sqltune.evaluation.scoring import Prediction, score_predictions
from sqltune.evaluation.spider_exact import spider_exact_match
from sqltune.schema import load_schema
from sqltune.execution.execute import ExecutionResult, Warehouse
from warehouse_fixtures import ensure_fixture

REPO = Path(__file__).resolve().parents[1]


def default_pairs() -> list[Pair]:
    test = REPO / "eval" / "test.jsonl"
    if test.is_file():
        return load_pairs(test)
    records = yaml.safe_load((REPO / "warehouse_fixtures" / "specs" / "harbor_hard.yaml").read_text())
    return [Pair(id=f"hard-{i:03d}", question=r["question"], sql=" ".join(r["sql"].split()), tags=tuple(r.get("tags", ()))) for i, r in enumerate(records)]


def perturbed(sql: str) -> str:
    """`sql` with its first integer literal increased by one (unchanged if it has none)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except Exception:
        return sql
    for literal in tree.find_all(exp.Literal):
        if not literal.is_string and literal.this.isdigit():
            literal.replace(exp.Literal.number(int(literal.this) + 1))
            return tree.sql(dialect="duckdb")
    return sql


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run_cli(args: list[str]) -> float:
    """Seconds a fresh `python -m sqltune ARGS` process takes."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sqltune", *args], cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sqltune {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def per_call_ms(function, items) -> float:
    started = time.perf_counter()
    for item in items:
        function(*item)
    return (time.perf_counter() - started) / max(1, len(items)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="DuckDB file (default: the Harbor fixture, built on first use)")
    parser.add_argument("--questions", help="pairs file (default: eval/test.jsonl, else the hand-written hard set)")
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--repeat", type=int, default=2, help="copies of each question (gold cache hits)")
    args = parser.parse_args()

    db = Path(args.db) if args.db else ensure_fixture("harbor")
    base = load_pairs(args.questions) if args.questions else default_pairs()
    pairs, predictions = [], []
    for copy in range(args.repeat):
        for i, pair in enumerate(base):
            pid = f"{pair.id}#{copy}"
            pairs.append(Pair(id=pid, question=pair.question, sql=pair.sql, difficulty=pair.difficulty, tags=pair.tags))
            predictions.append(Prediction(pid, pair.sql if i % 2 == 0 else perturbed(pair.sql)))
    print(f"{db.name}: {len(base)} questions x {args.repeat} copies = {len(pairs)} predictions")
    startup = min(run_cli(["eval", "score", "--help"]) for _ in range(3))
    print(f"CLI start-up (python -m sqltune eval score --help, best of 3): {startup:.2f} s")
    started = time.perf_counter()
    schema = load_schema(db, samples_per_column=0)
    schema_s = time.perf_counter() - started
    print(f"{'workers':>7} {'open s':>7} {'q/s':>8} {'wall s':>8} {'EX':>6} {'exec p50 ms':>12} {'exec p95 ms':>12}  (scoring only)")
    report = None
    for workers in (int(w) for w in args.workers.split(",")):
        started = time.perf_counter()
        with Warehouse.open(db, timeout_s=30.0, processes=workers) as warehouse:
            opened = time.perf_counter() - started
            started = time.perf_counter()
            report = score_predictions(pairs, predictions, warehouse, schema=schema, workers=workers)
            wall = time.perf_counter() - started
        times = [r.pred_elapsed_s * 1000 for r in report.results]
        print(
            f"{workers:>7} {opened:>7.2f} {len(pairs) / wall:>8.1f} {wall:>8.2f} {report.execution_accuracy:>6.1%} "
            f"{statistics.median(times):>12.1f} {percentile(times, 0.95):>12.1f}"
        )
    wrong = [r for r in report.results if r.category is not None]
    ok = ExecutionResult(ok=True, columns=["x"], rows=[(1,)])
    started = time.perf_counter()
    for r in wrong:
        categorize(r.gold_sql, r.pred_sql, ok, ok, MatchVerdict(False, ""))
    per = (time.perf_counter() - started) / max(1, len(wrong)) * 1000
    print(f"categorising {len(wrong)} wrong answers: {per:.2f} ms each; categories {report.categories}")
    sample = [(p.sql, q.sql) for p, q in zip(pairs, predictions)]
    print(f"schema read: {schema_s:.2f} s; per question: Spider exact match "
          f"{per_call_ms(lambda g, q: spider_exact_match(g, q, schema=schema), sample):.2f} ms, normalised exact match "
          f"{per_call_ms(lambda g, q: exact_match(g, q, schema=schema), sample):.2f} ms")
    with tempfile.TemporaryDirectory() as folder:
        gold_file, pred_file = Path(folder) / "gold.jsonl", Path(folder) / "pred.jsonl"
        gold_file.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in pairs))
        pred_file.write_text("".join(json.dumps({"id": q.id, "sql": q.sql}) + "\n" for q in predictions))
        whole = run_cli(["eval", "score", "--data", str(gold_file), "--pred", str(pred_file), "--db", str(db),
                         "--out", str(Path(folder) / "report")])
    print(f"sqltune eval score end to end (fresh process, 2 workers, report written): {whole:.2f} s "
          f"= {len(pairs) / whole:.1f} q/s; of which start-up about {startup:.2f} s")


if __name__ == "__main__":
    main()
