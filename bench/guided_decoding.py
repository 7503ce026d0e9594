"""Schema-constrained and execution-guided decoding: what each part changes, and what it costs.

Evaluates one model form on the same questions under each decoding mode and prints, per mode:
execution accuracy (EX), executable rate, answers that return no rows where the gold returns
some, hallucinated-name errors (a table or column the warehouse lacks), seconds per question,
and the schema constraint's own time per generated token (per sequence).

Modes: greedy (plain), constrained (schema constraint only), constrained+check (the constraint,
and an answer failing the whole-query name check is decoded again with beams: the best-scoring
passing beam wins), guided (candidates run and voted on, no constraint, no value check),
guided+values (guided, preferring candidates whose string literals the compared column holds),
all (constraint + guided + values + name check before running), all+topup (all, and more
candidates sampled while none runs, up to --topup-candidates), all+topup-empty (also while every
one that runs returns no rows), all+repair (and a candidate comparing a column with a string it
does not hold is also run with the column's closest value: the shipped default).

    .venv/bin/python bench/guided_decoding.py --adapter /work/adapters/harbor-base \
        --data eval/test.jsonl --db /work/fx/harbor.duckdb --limit 100
    .venv/bin/python bench/guided_decoding.py --adapter /work/adapters/ports-base \
        --data eval/ports/test.jsonl --db /work/fx/ports.duckdb --limit 100 --candidates 8
    .venv/bin/python bench/guided_decoding.py --adapter runs/atis-adapter --warehouse atis --limit 100

--warehouse harbor|restaurants|atis takes the test questions and the warehouse from bench/benchmarks.py
(human-written pairs for restaurants and atis, kept outside the repository; atis: the test set without
its dup_in_train and repeat rows) instead of --data and --db.

Without --adapter/--merged the base answers prompt-only (answer prefixed with SELECT).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import benchmarks  # bench/ is on sys.path when a bench script runs
from _machine import cpu_name

MODES = ("greedy", "constrained", "constrained+check", "guided", "guided+values", "all", "all+topup", "all+topup-empty",
         "all+repair")


def mode_decode(mode: str, base):
    """The DecodeConfig of `mode`, from `base` (batch size, token limit, candidates, ...)."""
    from sqltune.inference.generate import PLAIN_GREEDY

    off = {k: v for k, v in PLAIN_GREEDY.items() if k != "candidates"}  # the checks off, base's candidate count
    every = dict(constrain_schema=True, execution_guided=True, ground_values=True, check_names=True, repair_values=False)
    changes = {
        "greedy": dict(off, candidates=1),
        "constrained": dict(off, constrain_schema=True, candidates=1),
        "constrained+check": dict(off, constrain_schema=True, check_names=True, candidates=1),
        "guided": dict(off, execution_guided=True),
        "guided+values": dict(off, execution_guided=True, ground_values=True),
        "all": dict(every, topup_candidates=0, topup_when_empty=False),
        "all+topup": dict(every, topup_candidates=base.topup_candidates, topup_when_empty=False),
        "all+topup-empty": dict(every, topup_candidates=base.topup_candidates, topup_when_empty=True),
        "all+repair": dict(every, topup_candidates=base.topup_candidates, topup_when_empty=True, repair_values=True),
    }[mode]
    return dataclasses.replace(base, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="Base model: 'default', a local checkpoint dir or a hub id.")
    parser.add_argument("--adapter", default=None, help="Adapter folder (evaluated on the NF4 base it was trained on).")
    parser.add_argument("--merged", default=None, help="Merged checkpoint folder.")
    parser.add_argument("--data", default=None, help="Question/SQL pairs (JSONL or CSV).")
    parser.add_argument("--db", default=None, help="Warehouse: DuckDB file or SQLAlchemy URL.")
    parser.add_argument("--warehouse", choices=benchmarks.BENCHMARKS, default=None,
                        help="Instead of --data/--db: a benchmark's test questions and warehouse (bench/benchmarks.py).")
    parser.add_argument("--work", default="runs/benchmarks", help="With --warehouse: where its pair files are written.")
    parser.add_argument("--limit", type=int, default=50, help="Questions, evenly spaced through the file.")
    parser.add_argument("--modes", default=",".join(MODES), help=f"Comma-separated subset of {', '.join(MODES)}.")
    parser.add_argument("--candidates", type=int, default=None, help="Candidates per question (default: DecodeConfig's).")
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--check-beams", type=int, default=None, help="Beams for an answer failing the name check (constrained+check).")
    parser.add_argument("--topup-candidates", type=int, default=8, help="Most candidates sampled beyond --candidates (all+topup).")
    parser.add_argument("--timeout", type=float, default=10.0, help="Seconds each scoring query may run.")
    parser.add_argument("--no-quantize", action="store_true", help="Load the base in 16 bits even with --adapter.")
    parser.add_argument("--json", default=None, help="Also write the figures (and each mode's setup) to this file.")
    args = parser.parse_args()
    if args.warehouse:
        if args.data or args.db:
            parser.error("give --warehouse or --data/--db, not both")
        bench = benchmarks.prepare_or_exit(parser, args.warehouse, args.work)
        args.data, args.db = str(bench.test), str(bench.db)
    elif not (args.data and args.db):
        parser.error("--data and --db are required (or --warehouse)")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {unknown}; choose from {MODES}")

    from sqltune.data import load_pairs
    from sqltune.evaluation.harness import spread_subset
    from sqltune.evaluation.scoring import evaluate_model
    from sqltune.inference.adapter import read_prompt_config
    from sqltune.inference.answer import Answer, extract_sql
    from sqltune.inference.generate import DecodeConfig, load_sql_model
    from sqltune.schema import load_schema
    from sqltune.execution.execute import Warehouse

    pairs = spread_subset(list(load_pairs(args.data)), args.limit)

    def repaired(g) -> bool:
        """The answer is a candidate whose values were repaired: no decoded text gives its SQL."""
        return bool(g.raw_output) and g.sql != extract_sql(g.raw_output)
    schema = load_schema(args.db)
    tuned = bool(args.adapter or args.merged)
    base = DecodeConfig(answer_prefix="" if tuned else "SELECT", stop_strings=(";",) if tuned else (";", "\n\n"))
    overrides = {k: v for k, v in (("candidates", args.candidates), ("temperature", args.temperature),
                                   ("batch_size", args.batch_size), ("max_new_tokens", args.max_new_tokens),
                                   ("check_beams", args.check_beams), ("topup_candidates", args.topup_candidates)) if v is not None}
    base = dataclasses.replace(base, **overrides)
    prompt_source = args.adapter or args.merged
    rows = []
    with Warehouse.open(args.db, timeout_s=args.timeout) as warehouse:
        model = load_sql_model(
            args.model, schema=schema, adapters={"adapter": args.adapter} if args.adapter else None, merged=args.merged,
            quantized=bool(args.adapter) and not args.no_quantize, prompt=read_prompt_config(prompt_source) if prompt_source else None,
            decode=base, warehouse=warehouse,
        )
        started = time.perf_counter()
        model.decode = mode_decode("all", base)
        model._value_check()  # build (or load) the value index once, outside the timed modes
        index_s = time.perf_counter() - started
        model.decode = mode_decode("greedy", base)
        model.generate([p.question for p in pairs[:2]])  # warm-up: prompts, pruning, vocabulary index
        if any(mode_decode(m, base).constrain_schema for m in modes):
            from sqltune.inference.constrain import vocab_index

            vocab_index(model.tokenizer)
        for mode in modes:
            model.decode, model.label = mode_decode(mode, base), mode
            generated = []
            real = model._answer_batch

            def spy(*a, _real=real, **k):
                out = _real(*a, **k)
                generated.extend(out)
                return out

            model._answer_batch = spy
            started = time.perf_counter()
            report = evaluate_model(model, pairs, warehouse)
            wall = time.perf_counter() - started
            del model._answer_batch
            steps = [g.constrain_s_per_step for g in generated if g.constrain_s_per_step is not None]
            by_question = {g.question: g for g in generated}
            blank = Answer("", "", "", 0.0, candidates=0)
            empty = sum(1 for r in report.results if r.executable and r.pred_rows == 0 and (r.gold_rows or 0) > 0)
            row = {
                "mode": mode, "n": report.n, "ex": report.execution_accuracy, "executable": report.executable_rate,
                "empty_when_gold_has_rows": empty,
                "hallucinated_names": report.categories.get("hallucinated_schema", 0),
                "s_per_question": wall / max(1, report.n),
                "constrain_ms_per_step": 1000 * sum(steps) / len(steps) if steps else None,
                "candidates_ran_mean": (sum(g.candidates_ran for g in generated) / len(generated)) if model.guided and generated else None,
                "all_failed": sum(1 for g in generated if g.candidates_ran and g.candidates_agreeing == 0) if model.guided else None,
                "candidates_drawn_mean": sum(g.candidates for g in generated) / max(1, len(generated)),
                "topped_up_questions": sum(1 for g in generated if g.topped_up),
                "repaired_answers": sum(1 for g in generated if repaired(g)),
                "repaired_correct": sum(1 for r in report.results if r.execution_match and repaired(by_question.get(r.question, blank))),
                "categories": dict(report.categories),
                "questions": [{"id": r.id, "question": r.question, "sql": r.pred_sql, "gold": r.gold_sql, "category": r.category,
                               "executable": r.executable, "match": r.execution_match, "rows": r.pred_rows,
                               "gold_rows": r.gold_rows, "error": r.pred_error, "reason": g.choice_reason,
                               "candidates": g.candidates, "ran": g.candidates_ran, "agreeing": g.candidates_agreeing,
                               "repaired": repaired(g)}
                              for r in report.results for g in [by_question.get(r.question, blank)]],
                "decode": dataclasses.asdict(model.decode),
            }
            rows.append(row)
            print(f"  {mode}: EX {row['ex']:.1%}  ({wall:.0f} s)", flush=True)
            if args.json:  # after every mode: a long run that stops early keeps what it measured
                Path(args.json).write_text(json.dumps({"data": args.data, "db": args.db, "cpu": cpu_name(), "rows": rows}, indent=2))

    label = "merged" if args.merged else ("adapter " + args.adapter if args.adapter else f"prompt-only {args.model}")
    print(f"\n{label} on {args.data} ({len(pairs)} questions), warehouse {args.db}")
    print(f"CPU: {cpu_name()}; value index ready in {index_s:.1f} s; candidates {base.candidates}, temperature {base.temperature}")
    header = (f"{'mode':<18} {'EX':>7} {'exec':>7} {'empty/gold>0':>13} {'halluc.':>8} {'s/q':>7} {'constr ms/step':>15} "
              f"{'drawn/q':>8} {'ran/q':>6} {'all fail':>8} {'topped':>7} {'repaired (right)':>17}")
    print(header)
    print("-" * len(header))
    for r in rows:
        step = "-" if r["constrain_ms_per_step"] is None else f"{r['constrain_ms_per_step']:.2f}"
        ran = "-" if r["candidates_ran_mean"] is None else f"{r['candidates_ran_mean']:.1f}"
        failed = "-" if r["all_failed"] is None else str(r["all_failed"])
        print(f"{r['mode']:<18} {r['ex']:>7.1%} {r['executable']:>7.1%} {r['empty_when_gold_has_rows']:>13} "
              f"{r['hallucinated_names']:>8} {r['s_per_question']:>7.2f} {step:>15} {r['candidates_drawn_mean']:>8.1f} {ran:>6} "
              f"{failed:>8} {r['topped_up_questions']:>7} {str(r['repaired_answers']) + ' (' + str(r['repaired_correct']) + ')':>17}")
    if rows and rows[0]["mode"] == "greedy":
        print("\nchange from greedy (EX points):", ", ".join(f"{r['mode']} {100 * (r['ex'] - rows[0]['ex']):+.1f}" for r in rows[1:]))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": label, "data": args.data, "db": args.db, "cpu": cpu_name(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
