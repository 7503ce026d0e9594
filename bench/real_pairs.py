"""A recipe on human-written pairs: train on each warehouse's train file, score greedy and default decoding.

For each warehouse of harbor (the fixture's generated corpus), restaurants and atis (human-written
questions, `bench/benchmarks.py`: atis as a user-sized sample of a few hundred pairs), trains an
adapter with a shipped recipe's train section on the train file, then evaluates it on the test file
(`--limit` questions evenly spaced through it) with plain greedy decoding and with the recipe's
decoding (the defaults: schema constraint, execution-guided candidates, value check, name check,
top-up), both in one report (`sqltune eval --compare-decoding`). Prints one table and appends it,
with the date, the CPU and the command, to `bench/results/real_pairs-YYYY-MM-DD.md` (a row as soon
as its warehouse is done, so a run that stops early keeps what it measured).

Columns: minutes trained (the whole `train()` call: loading, the lower-layer cache and the steps;
what `--budget` bounds), passes (pairs stepped over / pairs trained on), pairs (trained on / in the
train file), then per decoding: EX (execution accuracy), executable %, and seconds per question
(generation time per question as the report records it: a batch's time over its questions,
candidates run and top-up included; scoring overlaps with the next batch).

    .venv/bin/python bench/real_pairs.py                                   # all three, harbor-cpu, 15 min each
    .venv/bin/python bench/real_pairs.py --only atis --budget 10m --limit 100 --train-size 300
    .venv/bin/python bench/real_pairs.py --only restaurants,atis --set train.num_epochs=3 --set eval.decode.batch_size=8

Adapters and reports go to WORK/NAME/RECIPE-YYYYmmdd-HHMMSS/ (`adapter/`, `report/report.html`,
`result.json`); progress lines, with the time, go to stderr. The benchmark pairs themselves stay
outside the repository (`bench/benchmarks.py`); the results file holds figures only.
"""

from __future__ import annotations

import argparse
import gc
import json
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import benchmarks  # bench/ is on sys.path when a bench script runs
from _machine import cpu_description

RESULTS = Path(__file__).resolve().parent / "results"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def git_revision() -> str:
    try:
        repo = Path(__file__).resolve().parent.parent
        rev = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" (uncommitted changes)" if dirty else "") if rev else "unknown"
    except OSError:
        return "unknown"


@dataclass
class Row:
    warehouse: str
    recipe: str
    train_minutes: float
    passes: float
    pairs: int
    pairs_available: int
    steps: int
    questions: int
    greedy_ex: float
    greedy_executable: float
    greedy_s: float | None
    default_ex: float
    default_executable: float
    default_s: float | None
    run_dir: str

    def cells(self) -> list[str]:
        def sec(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f}"

        return [self.warehouse, self.recipe, f"{self.train_minutes:.1f}", f"{self.passes:.2f}",
                f"{self.pairs:,}/{self.pairs_available:,}", str(self.questions),
                f"{100 * self.greedy_ex:.1f}%", f"{100 * self.greedy_executable:.1f}%", sec(self.greedy_s),
                f"{100 * self.default_ex:.1f}%", f"{100 * self.default_executable:.1f}%", sec(self.default_s)]


HEADER = ["warehouse", "recipe", "train min", "passes", "pairs (trained/file)", "questions",
          "greedy EX", "greedy exec", "greedy s/q", "default EX", "default exec", "default s/q"]


def load_recipe(recipe: str, sets: list[str], budget: str | None):
    """The recipe's PipelineConfig with this script's quiet defaults, then --set and --budget."""
    from sqltune.cli.options import parse_set_options
    from sqltune.core.config import load_yaml
    from sqltune.pipeline import PipelineConfig, recipe_path

    user = parse_set_options(sets)
    wrong = [key for key in user if not key.startswith(("train.", "eval."))]
    if wrong:
        raise SystemExit(f"error: --set takes train.KEY=VALUE or eval.KEY=VALUE, not {', '.join(wrong)}")
    # bench runs stay out of the user's registry, and no spot checks (chat questions) cost eval time
    overrides = {"train.register": False, "eval.register": False, "eval.spot_checks": False, **user}
    if budget is not None:
        overrides["train.time_budget"] = budget
    return load_yaml(PipelineConfig, recipe_path(recipe), overrides)


def train_adapter(cfg, bench, run_dir: Path) -> tuple[dict, float]:
    """Validate the pairs and train as `sqltune train` does; (the run record, wall seconds)."""
    from sqltune.training.train import train, training_pairs

    cfg.train_file, cfg.db, cfg.output_dir = str(bench.train), str(bench.db), str(run_dir / "adapter")
    say(f"{bench.name}: validating {bench.train_pairs} training pairs")
    pairs = training_pairs(cfg, out_dir=run_dir)  # validated here, so the training time below leaves it out
    if cfg.base in ("default", None):
        from sqltune.inference.models import import_default

        say(f"{bench.name}: the default model (imported into $SQLTUNE_HOME once, ~20-60 s the first time)")
        import_default()
    budget = f"a {cfg.time_budget} budget" if cfg.time_budget else "no time budget"
    say(f"{bench.name}: training ({budget}, batch {cfg.batch_size}, lr {cfg.learning_rate}) -> {cfg.output_dir}")

    def on_event(event: dict) -> None:
        kind = event.get("event")
        if kind in ("log", "budget", "note"):
            say(f"{bench.name}: {event['line']}")
        elif kind == "plan":
            say(f"{bench.name}: " + ("plan: " if event["kind"] == "planned" else "re-planned: ") + event["summary"])
        elif kind == "eval":
            say(f"{bench.name}: step {event['step']}: held-out loss {event['eval_loss']:.4f} at {event['minutes']:.1f} min")

    began = time.monotonic()
    result = train(cfg, progress=on_event, pairs=pairs)
    wall = time.monotonic() - began
    say(f"{bench.name}: trained {result.steps} steps in {wall / 60:.1f} min ({result.tokens_per_s:.0f} tokens/s)")
    return result.record, wall


def evaluate_adapter(eval_cfg, train_cfg, bench, run_dir: Path, limit: int | None) -> list:
    """The adapter on the test file with greedy and with the recipe's decoding, in one report."""
    from sqltune.evaluation.harness import ModelForm, evaluate_forms

    eval_cfg.data, eval_cfg.db, eval_cfg.compare_decoding = str(bench.test), str(bench.db), True
    if limit is not None:
        eval_cfg.limit = limit
    form = ModelForm("adapter", base=train_cfg.base, adapter=train_cfg.output_dir, quantized=train_cfg.method == "qlora")
    n = min(eval_cfg.limit or bench.test_pairs, bench.test_pairs)
    say(f"{bench.name}: evaluating on {n} of {bench.test_pairs} test questions, greedy then default decoding")
    shown: dict[str, int] = {}

    names = {"validating": "validating the test pairs", "adapter greedy": "greedy", "adapter guided": "default decoding"}

    lock = threading.Lock()  # scoring threads report progress

    def progress(label: str, done: int, total: int | None) -> None:
        step = max(1, (total or n) // 10)
        with lock:
            if done <= shown.get(label, 0) or not (done == total or (label != "validating" and done - shown.get(label, 0) >= step)):
                return
            shown[label] = done
            say(f"{bench.name}: {names.get(label, label)}: {done}/{total or '?'} questions"
                + ("; loading the adapter" if label == "validating" and done == total else ""))

    reports, paths = evaluate_forms([form], eval_cfg, out_dir=run_dir / "report", progress=progress)
    say(f"{bench.name}: report {paths.html}")
    return reports


def run_one(name: str, args: argparse.Namespace) -> Row:
    bench = benchmarks.prepare(name, Path(args.work) / "data", train_size=args.train_size, seed=args.seed,
                               log=lambda m: say(f"{name}: {m}"))
    say(f"{bench.describe()}")
    config = load_recipe(args.recipe, args.set, args.budget)
    if args.from_run:  # trained earlier with --train-only: score that adapter
        run_dir = Path(args.from_run)
        trained_file = run_dir / "trained.json"
        if not trained_file.exists():
            raise SystemExit(f"error: --from-run {run_dir}: no trained.json (train it with --train-only)")
        trained_json = json.loads(trained_file.read_text())
        record, wall = trained_json["record"], trained_json["wall_s"]
        config.train.output_dir = str(run_dir / "adapter")
    else:
        run_dir = Path(args.work) / name / f"{Path(args.recipe).stem}-{datetime.now():%Y%m%d-%H%M%S}"
        run_dir.mkdir(parents=True, exist_ok=True)
        record, wall = train_adapter(config.train, bench, run_dir)
        (run_dir / "trained.json").write_text(json.dumps({"record": record, "wall_s": wall}, default=str))
        gc.collect()
        if args.train_only:
            say(f"{name}: trained; score it with --from-run {run_dir}")
            return None
    greedy, default = evaluate_adapter(config.eval, config.train, bench, run_dir, args.limit)
    gc.collect()
    trained = record["data"]["train_pairs"]
    stepped = record["steps"] * config.train.batch_size * config.train.grad_accum
    row = Row(
        warehouse=name, recipe=Path(args.recipe).stem, train_minutes=wall / 60, passes=stepped / max(1, trained),
        pairs=trained, pairs_available=record["data"].get("pairs_available", trained), steps=record["steps"],
        questions=greedy.n, greedy_ex=greedy.execution_accuracy, greedy_executable=greedy.executable_rate,
        greedy_s=greedy.mean_latency_s, default_ex=default.execution_accuracy,
        default_executable=default.executable_rate, default_s=default.mean_latency_s, run_dir=str(run_dir),
    )
    (run_dir / "result.json").write_text(json.dumps({**asdict(row), "benchmark": asdict(bench) | {
        "db": str(bench.db), "train": str(bench.train), "test": str(bench.test)},
        "greedy_categories": dict(greedy.categories), "default_categories": dict(default.categories),
        "budget_plan": record.get("budget_plan"), "lower_cache": record["data"].get("lower_cache")}, indent=2))
    say(f"{name}: greedy EX {100 * row.greedy_ex:.1f}%, default EX {100 * row.default_ex:.1f}% on {row.questions} questions")
    return row


def markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


class ResultsFile:
    """The dated results file: a block per run (date, CPU, command), one table row per warehouse."""

    def __init__(self, path: Path, command: str, args: argparse.Namespace):
        self.path, self.command, self.args, self.started = path, command, args, False

    def add(self, row: Row) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        if not self.path.exists():
            lines += [f"# bench/real_pairs.py, {datetime.now():%Y-%m-%d}", "",
                      "A recipe trained on each warehouse's train pairs, scored on its test questions with greedy "
                      "and with the default decoding (see the script's docstring for the columns).", ""]
        if not self.started:
            lines += ([""] if self.path.exists() else []) + [f"## {datetime.now():%Y-%m-%d %H:%M}", "",
                      f"- command: `{self.command}`",
                      f"- CPU: {cpu_description()}",
                      f"- sqltune: {git_revision()}; atis train sample: {self.args.train_size} pairs, seed {self.args.seed}",
                      "", markdown_row(HEADER), markdown_row(["---"] * len(HEADER))]
            self.started = True
        lines.append(markdown_row(row.cells()))
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


def print_table(rows: list[Row]) -> None:
    cells = [HEADER] + [r.cells() for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    for i, line in enumerate(cells):
        print("  ".join(c.rjust(w) if j > 1 else c.ljust(w) for j, (c, w) in enumerate(zip(line, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def quiet_libraries() -> None:
    """A log file gets this script's lines, not progress bars redrawn by the ML libraries or their
    advice to developers (as the sqltune CLI does without -v)."""
    import os

    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' "Loading weights", datasets' "Map" bars
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    from sqltune.cli import quiet_library_warnings

    quiet_library_warnings()
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(benchmarks.BENCHMARKS),
                        help=f"Comma-separated warehouses of {', '.join(benchmarks.BENCHMARKS)} (default: all, in that order).")
    parser.add_argument("--recipe", default="harbor-cpu", help="A recipe shipped in sqltune/pipeline/recipes/ (or a YAML path): its train and eval sections.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Override a recipe setting as `sqltune run --set` does: train.KEY=VALUE or eval.KEY=VALUE; repeat for several.")
    parser.add_argument("--budget", default=None, help="Training time budget per warehouse (train.time_budget), e.g. 15m, 90s; default: the recipe's.")
    parser.add_argument("--limit", type=int, default=100, help="Test questions, evenly spaced through the test file (default 100; restaurants has 17, atis 369).")
    parser.add_argument("--train-size", type=int, default=benchmarks.ATIS_TRAIN_SIZE, help="atis: pairs in the user-sized training sample (whole query groups).")
    parser.add_argument("--seed", type=int, default=benchmarks.SEED, help="atis: seed of the training sample.")
    parser.add_argument("--work", default="runs/real_pairs", help="Folder for the prepared pairs, the adapters and the reports.")
    parser.add_argument("--train-only", action="store_true", help="Train and stop: score later with --from-run (trainings can then run side by side, and scoring after).")
    parser.add_argument("--from-run", default=None, metavar="RUN_DIR", help="Score the adapter a --train-only run left in RUN_DIR (one warehouse in --only; same --recipe and --set).")
    parser.add_argument("--results", default=None, help="Results file to append to (default: bench/results/real_pairs-YYYY-MM-DD.md).")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in benchmarks.BENCHMARKS]
    if unknown or not names:
        parser.error(f"--only: unknown {', '.join(unknown) or 'nothing given'}; choose from {', '.join(benchmarks.BENCHMARKS)}")
    if args.from_run and (len(names) != 1 or args.train_only):
        parser.error("--from-run scores one warehouse's run: give one name in --only, and no --train-only")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    quiet_libraries()
    import signal

    def stopped(signum, _frame):  # a log file says why it ends here (rows already done are in the results file)
        say(f"stopped by signal {signal.Signals(signum).name}")
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stopped)
    try:
        benchmarks.benchmarks_dir() if set(names) & set(benchmarks.SHARED) else None
        load_recipe(args.recipe, args.set, args.budget)  # a bad recipe, key or budget fails before anything is built
    except benchmarks.BenchmarksNotFound as error:
        sys.exit(f"error: {error}")
    except Exception as error:  # sqltune's ConfigError: one line
        if type(error).__name__ in ("ConfigError", "InputError"):
            sys.exit(f"error: {error}")
        raise

    command = shlex.join([Path(sys.executable).as_posix(), *sys.argv])
    results = ResultsFile(Path(args.results) if args.results else RESULTS / f"real_pairs-{datetime.now():%Y-%m-%d}.md", command, args)
    say(f"real_pairs: {', '.join(names)} with recipe {args.recipe}; CPU {cpu_description()}")
    rows = []
    for name in names:
        row = run_one(name, args)
        if row is None:
            continue
        rows.append(row)
        results.add(row)
    if not rows:
        return
    print()
    print(f"recipe {args.recipe}, {cpu_description()}")
    print_table(rows)
    print(f"\nappended to {results.path}")


if __name__ == "__main__":
    main()
