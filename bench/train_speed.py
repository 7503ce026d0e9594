"""Training speed and peak memory: sqltune's recipe vs the seeds' plain SFTTrainer recipe.

Both train the same QLoRA adapter (NF4 + double quant, r=16 on all projections, gradient
checkpointing, bf16 compute) on the same pairs and prompts for the same number of steps, each in
its own process so peak RSS is its own. The seed recipe is trl's SFTTrainer as the seeds use it:
peft's prepare_model_for_kbit_training (fp32 norms and embeddings), lora_dropout 0.05, loss over
the whole sequence with the full-vocabulary head on every position. Prints tokens/s (all tokens
processed, prompt included), peak RSS and the ratios.

    .venv/bin/python bench/train_speed.py --steps 6 --batch-size 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

RECIPES = {
    "seed": dict(completion_only_loss=False, fp32_non_quantized=True, lora_dropout=0.05),
    "sqltune": dict(completion_only_loss=True, fp32_non_quantized=None, lora_dropout=0.0),
}

CHILD = r"""
import json, sys, time
from sqltune.prompts import PromptConfig
from sqltune.training.train import LoraSettings, TrainConfig, train
opts = json.loads(sys.argv[1])
recipe = opts["recipe"]
config = TrainConfig(
    base=opts["base"], train_file=opts["train_file"], output_dir=opts["out"], max_steps=opts["steps"],
    batch_size=opts["batch_size"], learning_rate=2e-4, warmup_steps=0, eval_fraction=0.0, save_steps=10_000,
    logging_steps=1, register=False, step0_check=False, max_examples=opts["steps"] * opts["batch_size"],
    completion_only_loss=recipe["completion_only_loss"], fp32_non_quantized=recipe["fp32_non_quantized"],
    lora=LoraSettings(dropout=recipe["lora_dropout"]),
    prompt=PromptConfig(max_schema_tokens=opts["schema_tokens"], include_comments=False, samples_per_column=1),
)
result = train(config)
print("RESULT " + json.dumps({"tokens_per_s": result.tokens_per_s, "wall_s": result.wall_s,
      "tokens": result.train_tokens, "peak_rss": result.peak_rss_bytes, "loss": result.final_train_loss}))
"""


def run(recipe: str, args: argparse.Namespace, out: str) -> dict:
    opts = dict(recipe=RECIPES[recipe], base=args.base, train_file=args.train_file, out=os.path.join(out, recipe),
                steps=args.steps, batch_size=args.batch_size, schema_tokens=args.schema_tokens)
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(opts)], capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{recipe} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="default")
    parser.add_argument("--train-file", default="eval/train.jsonl")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--schema-tokens", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        results = {name: run(name, args, out) for name in RECIPES}
    print(f"{'recipe':<10}{'tokens/s':>10}{'wall s':>9}{'peak RSS MiB':>14}{'final loss':>12}")
    for name, r in results.items():
        print(f"{name:<10}{r['tokens_per_s']:>10.0f}{r['wall_s']:>9.1f}{r['peak_rss'] / 2**20:>14.0f}{r['loss']:>12.3f}")
    seed, ours = results["seed"], results["sqltune"]
    print(f"speed-up: {ours['tokens_per_s'] / seed['tokens_per_s']:.2f}x tokens/s; "
          f"peak RSS: {ours['peak_rss'] / seed['peak_rss']:.2f}x of the seed recipe")


if __name__ == "__main__":
    main()
