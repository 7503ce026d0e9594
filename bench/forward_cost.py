"""What one forward pass costs on this CPU as the tokens it verifies grow: the price of a
prompt-lookup draft.

A served answer decodes with a key/value cache over its prompt; prompt lookup (`--prompt-lookup N`)
checks up to N drafted tokens in one forward pass. Where a pass over N tokens costs about what a
pass over one does (the weights read once dominate), longer drafts are nearly free; where compute
dominates (fp32 without AVX-512 BF16), they are not. Prints ms per pass for each draft length and
dtype, with the CPU named; nothing is asserted.

    python bench/forward_cost.py                              # the embedded default model
    python bench/forward_cost.py --model runs/m --prompt 800 --drafts 1,10,20,40 --dtypes bfloat16,float32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_description  # noqa: E402


def time_pass(model, cache_len: int, draft: int, repeats: int) -> float:
    """Median ms of one forward pass over `draft` new tokens after a cache of `cache_len` tokens."""
    import torch
    from transformers import DynamicCache

    vocab = model.config.vocab_size
    prompt = torch.randint(0, vocab, (1, cache_len))
    new = torch.randint(0, vocab, (1, draft))
    times = []
    with torch.inference_mode():
        cache = DynamicCache()
        model(input_ids=prompt, past_key_values=cache, use_cache=True)
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model(input_ids=new, past_key_values=cache, use_cache=True)
            times.append(time.perf_counter() - start)
            cache.crop(-draft)     # back to the prompt: every pass sees the same cache
    return 1000 * statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="A checkpoint folder or hub id (default: the embedded default model).")
    parser.add_argument("--prompt", type=int, default=800, help="Tokens already in the cache (a prompt with one retrieved example: 600-1,500).")
    parser.add_argument("--drafts", default="1,5,10,20,40", help="Tokens per pass, comma-separated.")
    parser.add_argument("--dtypes", default="bfloat16,float32", help="Compute dtypes, comma-separated.")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from sqltune.inference.models import resolve_base

    path = args.model or resolve_base(None)
    drafts = [int(d) for d in args.drafts.split(",")]
    print(f"CPU: {cpu_description()}; torch threads {torch.get_num_threads()}; model {path}; cache {args.prompt} tokens")
    print("| dtype | " + " | ".join(f"{d} tok ms" for d in drafts) + " | ms/token at " + str(drafts[-1]) + " |")
    print("|---|" + "---|" * (len(drafts) + 1))
    for name in args.dtypes.split(","):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, name)).eval()
        ms = [time_pass(model, args.prompt, d, args.repeats) for d in drafts]
        print(f"| {name} | " + " | ".join(f"{m:.1f}" for m in ms) + f" | {ms[-1] / drafts[-1]:.2f} |", flush=True)
        del model


if __name__ == "__main__":
    main()
