"""sqltune: fine-tune a general LLM into a text-to-SQL model for one warehouse (QLoRA)."""

import os

__version__ = "0.1.0"

# On CPUs with fast bf16 (AVX-512 BF16, AMX) torch's bf16 matmuls run in oneDNN, which compiles a
# kernel per matmul shape and keeps up to 1,024 of them in each of two caches (oneDNN's primitive
# cache and PyTorch's ideep cache). Training sees a new shape with every batch length, decoding one
# with every token, so the caches grow by hundreds of MiB that no memory plan counts (a 15-minute
# bf16 training run on an Intel Xeon with AMX: heap in use 2.2 GiB against 1.6 planned). Kept at 64
# kernels each, a 3-minute run held 1,259 MiB against 1,380 (plan 1,221) and trained faster (956
# tokens/s against 873): recompiling an evicted kernel costs less than the memory it kept. Both are
# read when torch first multiplies in bf16, hence here; a value set in the environment wins.
MATMUL_KERNEL_CACHE = "64"
for _name in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY"):
    os.environ.setdefault(_name, MATMUL_KERNEL_CACHE)
