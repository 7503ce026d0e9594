"""Training speed per variant, beside the plain trl SFTTrainer recipe and the CPU's matmul ceiling.

Every variant trains the same QLoRA adapter shape (NF4 + double quant, r=16) on the same pairs for
the same number of steps, each in its own process so its peak RSS is its own. Each variant states
every setting it changes from the recipe's train section (harbor-cpu.yaml), so the table reads the
same whatever the recipe ships:

* seed            -- trl's SFTTrainer as the seeds use it: peft's prepare_model_for_kbit_training
                     (fp32 norms and embeddings), lora_dropout 0.05, loss over the whole sequence with
                     the full-vocabulary head on every position; columns schema, whole model, checkpointing;
* columns         -- the earlier recipe: completion-only head, no dropout, `columns` schema within 200
                     tokens, adapters on every layer, gradient checkpointing;
* none            -- the same with the question alone (prompt.schema_style none);
* none-no-ckpt    -- and without gradient checkpointing;
* none-top-8      -- and LoRA on the upper 8 decoder layers only (backward stops below them);
* shipped         -- and the frozen lower layers' outputs computed once per pair (cache_lower_layers):
                     what harbor-cpu ships. One pass here, so the caching is paid in full: the table
                     gives caching and a pass through the upper layers per pair apart, and the pairs
                     per minute at the recipe's two passes;
* NAME@fp32, NAME@bf16 -- any variant computing in that dtype (the memory check of `sqltune plan`
                     in both; bf16 on a CPU without fast bf16 is very slow).

Prints tokens/s (every token processed, prompt included), pairs/minute, peak RSS, the measured
matmul ceiling (GFLOP/s in bf16, fp16 and fp32 on this CPU), and each variant's achieved
GFLOP/s as a share of the ceiling of the dtype it ran in (FLOPs per token: 2 per weight forward,
as much again backward through the trained layers, once more with checkpointing).

    .venv/bin/python bench/train_speed.py --steps 3
    .venv/bin/python bench/train_speed.py --steps 6 --batch-size 4 --variants columns@fp32,shipped@fp32,shipped@bf16
    .venv/bin/python bench/train_speed.py --steps 6 --warehouse atis   # human-written pairs (bench/benchmarks.py)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import benchmarks  # bench/ is on sys.path when a bench script runs
from _machine import cpu_name

CHILD = r"""
import dataclasses, json, sys
from sqltune.core.config import load_yaml
from sqltune.pipeline import PipelineConfig, recipe_path
from sqltune.training.train import train, training_pairs
opts = json.loads(sys.argv[1])
recipe = load_yaml(PipelineConfig, recipe_path(opts["recipe"]))
config = recipe.train
config.base, config.train_file, config.db, config.output_dir = opts["base"], opts["train_file"], opts["db"], opts["out"]
config.time_budget, config.max_steps, config.max_examples = None, opts["steps"], opts["steps"] * config.batch_size
config.eval_fraction, config.save_steps, config.logging_steps, config.register, config.step0_check = 0.0, 10**6, 1, False, False
if opts["batch_size"]:
    config.batch_size = opts["batch_size"]
    config.max_examples = opts["steps"] * config.batch_size
name, _, dtype = opts["variant"].partition("@")
earlier = name in ("seed", "columns")
config.prompt.schema_style = "columns" if earlier else "none"
if earlier:
    config.prompt.max_schema_tokens = 200
config.gradient_checkpointing = name in ("seed", "columns", "none")
config.lora.top_layers = 8 if name in ("none-top-8", "shipped") else None
config.cache_lower_layers = name == "shipped"
config.lora.dropout = 0.05 if name == "seed" else 0.0
config.completion_only_loss = name != "seed"
config.fp32_non_quantized = True if name == "seed" else None
if dtype:
    config.quant.compute_dtype = {"fp32": "float32", "bf16": "bfloat16"}[dtype]
result = train(config, pairs=training_pairs(config, checked=True))  # the speed of training alone: the pairs as they are
r = result.record
print("RESULT " + json.dumps({"tokens_per_s": result.tokens_per_s, "wall_s": result.wall_s, "steps": result.steps,
      "tokens": result.train_tokens, "pairs_per_minute": r["pairs_per_minute"], "peak_rss": result.peak_rss_bytes,
      "model_rss": r["model_training_rss_bytes"], "model_allocated": r.get("model_training_allocated_bytes"), "estimated": r["estimated_peak_bytes"], "loss": result.final_train_loss,
      "dtype": r["compute_dtype"], "checkpointing": config.gradient_checkpointing, "lora_layers": r["lora_layers"],
      "completion_only": config.completion_only_loss, "lower_cache": r["data"].get("lower_cache")}))
"""

VARIANTS = ("seed", "columns", "none", "none-no-ckpt", "none-top-8", "shipped")
DEFAULT_VARIANTS = ",".join(VARIANTS)


def run_variant(variant: str, args: argparse.Namespace, db: str, out: str) -> dict:
    opts = dict(variant=variant, recipe=args.recipe, base=args.base, train_file=args.train_file, db=db,
                out=os.path.join(out, variant), steps=args.steps, batch_size=args.batch_size)
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(opts)], capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{variant} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def flops_per_token(body: int, layers: int, result: dict) -> float:
    trained = layers - min(result["lora_layers"]) if result["lora_layers"] else layers
    share = trained / layers
    return 2 * body * (1 + share * (1 + (1 if result["checkpointing"] else 0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="default")
    parser.add_argument("--recipe", default="harbor-cpu", help="recipe whose train section is the default variant")
    parser.add_argument("--train-file", default="eval/train.jsonl")
    parser.add_argument("--db", default=None, help="warehouse (default: the harbor fixture, built once and cached)")
    parser.add_argument("--warehouse", choices=benchmarks.BENCHMARKS, default=None,
                        help="instead of --train-file/--db: a benchmark's train pairs and warehouse (bench/benchmarks.py; "
                             "atis: the user-sized sample)")
    parser.add_argument("--work", default="runs/benchmarks", help="with --warehouse: where its pair files are written")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS)
    args = parser.parse_args()
    if args.warehouse:
        bench = benchmarks.prepare_or_exit(parser, args.warehouse, args.work)
        args.train_file, args.db = str(bench.train), str(bench.db)

    from sqltune.inference.models import dtype_probe, measure_matmul, resolve_base
    from sqltune.training.plan import load_model_config, model_shape

    db = args.db or str(__import__("warehouse_fixtures", fromlist=["ensure_fixture"]).ensure_fixture("harbor"))
    probe = dtype_probe()
    shape = model_shape(load_model_config(resolve_base(args.base)))
    body = shape.total_params - shape.vocab_size * shape.hidden_size
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        name, _, dtype = v.partition("@")
        if name not in VARIANTS or dtype not in ("", "fp32", "bf16"):
            parser.error(f"unknown variant {v!r}: choose from {', '.join(VARIANTS)}, optionally with @fp32 or @bf16")
    with tempfile.TemporaryDirectory() as out:
        results = {}
        for name in variants:
            results[name] = run_variant(name, args, db, out)
            print(f"  {name}: {results[name]['tokens_per_s']:.0f} tokens/s, {results[name]['wall_s']:.0f} s", flush=True)
    # the ceiling at a training-sized matmul (tokens of a batch x hidden @ hidden x MLP width), after the runs
    ceilings = {name: measure_matmul(name, m=1024, k=shape.hidden_size, n=shape.intermediate_size, min_s=0.5)[0]
                for name in ("bfloat16", "float32")}
    cpu = cpu_name()
    print(f"CPU: {cpu}, {probe.threads} threads; matmul ceiling (1024x{shape.hidden_size} @ {shape.hidden_size}x"
          f"{shape.intermediate_size}) " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in ceilings.items())
          + f"; the dtype probe chose {probe.choice} (" + ", ".join(f"{k} {v:.1f}" for k, v in probe.gflops.items()) + " GFLOP/s)")
    print(f"{'variant':<18}{'dtype':>9}{'tokens/s':>9}{'pairs/min':>10}{'GFLOP/s':>9}{'of ceiling':>11}{'wall s':>8}"
          f"{'peak RSS MiB':>13}{'model MiB':>10}{'alloc MiB':>10}{'plan MiB':>9}{'plan/model':>11}{'plan/alloc':>11}{'loss':>8}")
    for name, r in results.items():
        achieved = r["tokens_per_s"] * flops_per_token(body, shape.num_layers, r) / 1e9
        if not r["completion_only"]:
            achieved += r["tokens_per_s"] * 3 * 2 * shape.vocab_size * shape.hidden_size / 1e9  # head on every token
        ceiling = ceilings.get(r["dtype"], 0.0)
        ratio = f"{r['estimated'] / r['model_rss'] - 1:+.0%}" if r["estimated"] and r["model_rss"] else "-"
        held = r.get("model_allocated")
        ratio_held = f"{r['estimated'] / held - 1:+.0%}" if r["estimated"] and held else "-"
        print(f"{name:<18}{r['dtype']:>9}{r['tokens_per_s']:>9.0f}{r['pairs_per_minute']:>10.1f}{achieved:>9.1f}"
              f"{(achieved / ceiling if ceiling else float('nan')):>11.0%}{r['wall_s']:>8.1f}{r['peak_rss'] / 2**20:>13.0f}"
              f"{(r['model_rss'] or 0) / 2**20:>10.0f}{(held or 0) / 2**20:>10.0f}{(r['estimated'] or 0) / 2**20:>9.0f}"
              f"{ratio:>11}{ratio_held:>11}{r['loss']:>8.3f}")
    for name, r in results.items():
        cache = r.get("lower_cache")
        if cache:
            pass_ms = 60_000 / r["pairs_per_minute"]
            cache_ms = 1000 * cache["cache_s"] / max(1, cache["pairs"])
            two = 60_000 / (cache_ms + 2 * pass_ms)
            print(f"{name}: caching the lower layers {cache_ms:.0f} ms/pair ({cache['cache_s']:.1f} s for {cache['pairs']:,} pairs), "
                  f"a pass through the upper layers {pass_ms:.0f} ms/pair: "
                  f"{two:.1f} pairs/min at two passes, caching included")
    if "seed" in results:
        seed = results["seed"]
        for name, r in results.items():
            if name != "seed":
                print(f"{name} vs seed: {r['pairs_per_minute'] / seed['pairs_per_minute']:.2f}x pairs/minute (a pass), "
                      f"peak RSS {r['peak_rss'] / seed['peak_rss']:.2f}x")


if __name__ == "__main__":
    main()
