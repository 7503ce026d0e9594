"""What the benchmarks print about the machine they ran on (every figure names its CPU)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _cpuinfo() -> tuple[str | None, set[str]]:
    name, flags = None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name is None:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return name, flags


def cpu_name() -> str:
    """The CPU's model name and whether it has AVX-512 BF16 (and AMX): a session's CPU may be a
    Zen 5 or a Xeon with AVX-512 BF16 or an EPYC with AVX2 only, and "AMD EPYC" names either."""
    name, flags = _cpuinfo()
    bf16 = "avx512_bf16: yes" if "avx512_bf16" in flags else "avx512_bf16: no"
    amx = ", amx_bf16: yes" if "amx_bf16" in flags else ""
    return f"{name or platform.processor() or platform.machine()} ({bf16}{amx})"


def cpu_description() -> str:
    """`cpu_name()` with the core count."""
    return f"{cpu_name()}, {os.cpu_count()} cores"
