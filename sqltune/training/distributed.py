"""Training in several processes: data-parallel (DDP, or DeepSpeed through accelerate) on one or
more machines, each process running the same `sqltune train` on its own share of every batch.

`accelerate launch` (or torchrun) starts the processes and sets RANK, WORLD_SIZE and LOCAL_RANK;
`--num-processes N` starts them itself (`launch_processes`). Whatever one process decides alone
must be the same everywhere, so rank 0 decides and the others adopt it (`Processes.on_main`): the
validated pairs, the CPU compute dtype (a timed matmul could choose differently per process), and
at every step the time budget's plan and whether to stop (budget.py), so every rank stops at the
same step. Only rank 0 writes the adapter, the run record and the registry entry, and reports
progress; the Trainer saves checkpoint weights and optimizer state from rank 0 (each rank adds its
own RNG state file, for --resume).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from sqltune.core.errors import ConfigError, SqltuneError

T = TypeVar("T")


class RankFailed(SqltuneError):
    """Rank 0 failed at a step the others wait on; it reports the error itself, they exit with its code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Processes:
    """Where this process stands among the training processes (one, unless launched as several)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def start(self) -> None:
        """Join the process group now (the Trainer would later), so decisions can be shared from the
        start: gloo on CPU, NCCL for GPU tensors (gloo beside it for the shared Python objects)."""
        if not self.distributed:
            return
        import torch
        import torch.distributed as dist

        if dist.is_initialized():
            return
        if torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)
            dist.init_process_group(backend="cpu:gloo,cuda:nccl")
        else:
            dist.init_process_group(backend="gloo")

    def end(self) -> None:
        """Leave the process group before the interpreter exits: a gloo group left to interpreter
        teardown sometimes aborts the process ("terminate called without an active exception",
        exit -6) after its work succeeded."""
        if not self.distributed:
            return
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

    def on_main(self, decide: Callable[[], T]) -> T:
        """`decide()` on rank 0, its value on every rank. If it fails there, rank 0 raises the error
        and the other ranks raise `RankFailed` (with its exit code) instead of waiting forever."""
        if not self.distributed:
            return decide()
        outcome: Any = None
        failure: BaseException | None = None
        if self.is_main:
            try:
                outcome = ("ok", decide())
            except BaseException as exc:  # shared, then raised here as it is
                failure = exc
                outcome = ("failed", str(exc), getattr(exc, "exit_code", 1))
        outcome = self.share(outcome)
        if failure is not None:
            raise failure
        if outcome[0] == "failed":
            raise RankFailed(f"rank 0 failed: {outcome[1]}", outcome[2])
        return outcome[1]

    def share(self, value: T) -> T:
        """Rank 0's `value` on every rank (a picklable object)."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def this_process() -> Processes:
    """This process's place, from the variables torchrun and `accelerate launch` set (no torch import)."""
    def number(name: str, default: int) -> int:
        try:
            return int(os.environ.get(name, default))
        except ValueError:
            return default

    world = max(number("WORLD_SIZE", 1), 1)
    return Processes(rank=number("RANK", 0) if world > 1 else 0, world_size=world,
                     local_rank=number("LOCAL_RANK", 0) if world > 1 else 0)


def check_distributable(config: Any) -> None:
    """Settings that decide on one process's own view and are not shared yet: refused in a multi-process run."""
    refused = [flag for flag, on in (("--cache-lower-layers", config.cache_lower_layers),
                                     ("--select-by-execution", config.select_by_execution)) if on]
    if refused:
        raise ConfigError(f"{' and '.join(refused)} cannot be used in a multi-process run yet: train in one process")


def same_compute_dtype(processes: Processes) -> None:
    """Every rank computes in the dtype rank 0's matmul probe chose (CPU only: on GPUs it is not measured)."""
    if not processes.distributed:
        return
    from sqltune.inference.models import adopt_dtype_probe, device, dtype_probe

    if device() == "cpu":
        adopt_dtype_probe(processes.on_main(dtype_probe))


def launch_command(config_file: str, num_processes: int, port: int, *, resume: bool = False) -> list[str]:
    """`accelerate launch` (through `launcher_main`) with its torchrun launcher (`--multi_gpu`: on a machine
    without GPUs it starts CPU processes that talk over gloo; accelerate's plain launcher would start one)."""
    return [sys.executable, "-m", "sqltune.training.distributed", "--multi_gpu", "--num_processes", str(num_processes),
            "--num_machines", "1", "--main_process_port", str(port), "--mixed_precision", "no", "--dynamo_backend", "no",
            "-m", "sqltune", "train", config_file, *(["--resume"] if resume else [])]


def free_port() -> int:
    """A TCP port nothing listens on now (accelerate's fixed default, 29500, may be another run's)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_processes(config: Any, *, resume: bool = False) -> int:
    """Run `sqltune train` in `config.num_processes` processes on this machine (each reads the same
    config, written to a temporary YAML file); returns their exit code."""
    import yaml

    n = config.num_processes
    if n < 2:
        raise ConfigError("launch_processes needs num_processes >= 2")
    import torch

    if torch.cuda.is_available() and n > torch.cuda.device_count():
        raise ConfigError(f"--num-processes {n}: this machine has {torch.cuda.device_count()} GPU(s), one per process")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="sqltune-train-", delete=False) as f:
        yaml.safe_dump(asdict(config), f, sort_keys=False)
        path = f.name
    try:
        return subprocess.run(launch_command(path, n, free_port(), resume=resume), check=False).returncode
    finally:
        os.unlink(path)


def launcher_main(argv: list[str]) -> int:
    """`accelerate launch ARGV`, exiting with the failed process's own exit code: rank 0 has printed its
    error, and the launcher's traceback and failure table would bury it."""
    import logging

    from accelerate.commands.launch import launch_command as accelerate_launch, launch_command_parser
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        accelerate_launch(launch_command_parser().parse_args(argv))
    except ChildFailedError as exc:
        codes = [failure.exitcode for failure in exc.failures.values()]
        return next((code for code in codes if code > 0), 1)
    return 0


if __name__ == "__main__":
    sys.exit(launcher_main(sys.argv[1:]))
