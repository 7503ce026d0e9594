"""What a training run reads, checked before any model loads: the pairs (validated on the
warehouse, the file read once) and the two inputs every run must name.

`train()` calls `training_pairs` itself; a caller that wants the pairs earlier (the main job plans
with them) calls it first and hands the result to `train(pairs=...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqltune.core.errors import MissingOptionError
from sqltune.training.config import TrainConfig
from sqltune.training.progress import ProgressFn


def require_inputs(config: TrainConfig) -> None:
    """No silent defaults for the user's data: a run names its pairs and its warehouse."""
    missing = [flag for flag, value in (("--data", config.train_file), ("--db", config.db)) if not value]
    if missing:
        raise MissingOptionError(f"training needs {' and '.join(missing)} (the pairs to train on and the warehouse their schema comes from)")


@dataclass
class TrainingPairs:
    """What a run trains on, the file read once: the pairs, and the file the run record names for
    them (the pairs file, or OUT/valid_pairs.jsonl when `allow_invalid` left pairs out)."""

    pairs: list  # of sqltune.data.Pair
    source: str


def training_pairs(config: TrainConfig, *, progress: ProgressFn | None = None, checked: bool = False,
                   out_dir: str | Path | None = None) -> TrainingPairs:
    """The pairs of `config.train_file` after `data validate`'s checks on `config.db`: refused with
    every problem by line, or with `allow_invalid` the valid ones only (also written to
    `out_dir/valid_pairs.jsonl`, default the run's output folder). `checked`: pairs known to be
    good (a fixture's generated corpus, checked when it was built) are read without running them.
    `progress` hears {"event": "stage"} and {"event": "validate", "done", "total"} as the gold SQL runs."""
    require_inputs(config)
    if checked:
        from sqltune.data import load_pairs

        return TrainingPairs(list(load_pairs(config.train_file)), config.train_file)
    from sqltune.data.validate import validated_pairs

    if progress:
        progress({"event": "stage", "name": "validating the training pairs"})
    pairs, source = validated_pairs(
        config.train_file, config.db, out_dir if out_dir is not None else config.output_dir,
        allow_invalid=config.allow_invalid, allow_privileged_role=config.allow_privileged_role,
        progress=(lambda done, total: progress({"event": "validate", "done": done, "total": total})) if progress else None,
    )
    return TrainingPairs(pairs, source)
