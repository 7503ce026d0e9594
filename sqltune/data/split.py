"""Deterministic, stratified train/test splits that keep a question's paraphrase groups on one side."""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from sqltune.core.errors import InputError
from sqltune.data.pairs import Pair, content_hash, normalize_question, write_pairs

@dataclass
class Split:
    """A train/test split; `strata` maps each stratum to (train count, test count)."""

    train: list[Pair]
    test: list[Pair]
    test_fraction: float
    seed: int
    stratify: tuple[str, ...]
    strata: dict[str, tuple[int, int]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "train": {"count": len(self.train), "content_hash": content_hash(self.train)},
            "test": {"count": len(self.test), "content_hash": content_hash(self.test)},
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "stratify": list(self.stratify),
            "strata": {k: {"train": v[0], "test": v[1]} for k, v in sorted(self.strata.items())},
            "hash_note": "sha256 over canonical JSON of the pairs sorted by id (file order does not matter)",
        }


STRATIFY_KEYS = ("difficulty", "tags", "db")


def _stratum(pair: Pair, stratify: Sequence[str]) -> str:
    parts = []
    for key in stratify:
        if key == "tags":
            parts.append("tags=" + ("+".join(sorted(pair.tags)) or "-"))
        else:
            parts.append(f"{key}={getattr(pair, key) or '-'}")
    return ",".join(parts) or "all"


def split_pairs(
    pairs: Iterable[Pair],
    *,
    test_fraction: float = 0.1,
    seed: int = 0,
    stratify: Sequence[str] = ("difficulty",),
) -> Split:
    """Deterministic stratified split. Pairs that share a question stay on one side (no leaks);
    each stratum gives its share of the test set (largest remainder, so the total is
    round(n * test_fraction)). The result does not depend on the input order."""
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"test fraction must be in [0, 1), got {test_fraction}")
    unknown = [k for k in stratify if k not in STRATIFY_KEYS]
    if unknown:
        raise InputError(f"cannot stratify by {', '.join(unknown)} (choose from {', '.join(STRATIFY_KEYS)})")
    items = sorted(pairs, key=lambda p: p.id)
    groups: dict[str, list[Pair]] = defaultdict(list)
    for pair in items:
        groups[normalize_question(pair.question)].append(pair)
    strata: dict[str, list[list[Pair]]] = defaultdict(list)
    for members in groups.values():
        strata[_stratum(members[0], stratify)].append(members)
    rng = random.Random(seed)
    for name in sorted(strata):
        rng.shuffle(strata[name])
    # Test quota per stratum, in groups, by largest remainder over the exact shares.
    total_groups = sum(len(g) for g in strata.values())
    target = round(total_groups * test_fraction)
    exact = {name: len(g) * test_fraction for name, g in strata.items()}
    quota = {name: int(share) for name, share in exact.items()}
    for name in sorted(exact, key=lambda n: (-(exact[n] - quota[n]), n))[: target - sum(quota.values())]:
        quota[name] += 1
    train: list[Pair] = []
    test: list[Pair] = []
    counts: dict[str, tuple[int, int]] = {}
    for name in sorted(strata):
        chosen, rest = strata[name][: quota[name]], strata[name][quota[name]:]
        test_pairs = [p for g in chosen for p in g]
        train_pairs = [p for g in rest for p in g]
        test.extend(test_pairs)
        train.extend(train_pairs)
        counts[name] = (len(train_pairs), len(test_pairs))
    train.sort(key=lambda p: p.id)
    test.sort(key=lambda p: p.id)
    return Split(train, test, test_fraction, seed, tuple(stratify), counts)


def write_split(split: Split, out_dir: str | os.PathLike) -> Path:
    """train.jsonl, test.jsonl and split.json, all written into a temporary folder first and then
    moved into `out_dir` (split.json last), so a failure leaves no half-written split."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_pairs(staging / "train.jsonl", split.train)
        write_pairs(staging / "test.jsonl", split.test)
        (staging / "split.json").write_text(json.dumps(split.summary(), indent=2) + "\n", encoding="utf-8")
        if not out.exists():
            os.replace(staging, out)
            return out
        if not out.is_dir():
            raise InputError("exists and is not a folder", source=str(out))
        for name in ("train.jsonl", "test.jsonl", "split.json"):
            os.replace(staging / name, out / name)
        return out
    finally:
        if staging.exists():
            for leftover in staging.iterdir():
                leftover.unlink()
            staging.rmdir()
