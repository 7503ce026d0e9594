"""What importing sqltune sets up for the process (sqltune/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

CAPS = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")
SHOW = "import os, sqltune, torch; print(' '.join(os.environ[k] for k in %r))" % (CAPS,)


def _run(env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", SHOW], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


def test_importing_sqltune_bounds_the_matmul_kernel_caches():
    """Both caches are capped before torch first multiplies in bf16 (oneDNN reads them then)."""
    import sqltune

    clean = {k: v for k, v in os.environ.items() if k not in CAPS}
    assert _run(clean) == [sqltune.MATMUL_KERNEL_CACHE] * 2


def test_a_cap_set_in_the_environment_wins():
    clean = {k: v for k, v in os.environ.items() if k not in CAPS}
    assert _run({**clean, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"})[0] == "1024"
