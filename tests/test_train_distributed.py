"""Training in two CPU processes (DDP over gloo, started by `sqltune train --num-processes 2` through
`accelerate launch`): one adapter that plain peft loads, one run record and registry entry, progress
printed once, and the losses of one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, TINY_PAIRS
from sqltune.training.distributed import Processes, RankFailed, check_distributable, this_process
from sqltune.training.train import LoraSettings, TrainConfig

STEPS = 2


@pytest.fixture()
def pairs_file(tmp_path):
    """The 8 short pairs: a global batch of 8 is every pair, so each step's gradient is the same
    whichever process holds which pair."""
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"question": q, "sql": s}) + "\n" for q, s in TINY_PAIRS))
    return path


def test_two_cpu_processes_train_as_one_with_the_same_global_batch(tmp_path, tiny_model_dir, tiny_warehouse, pairs_file):
    from peft import PeftModel

    from sqltune.core.registry import Registry
    from sqltune.inference.models import QuantConfig, load_model
    from sqltune.training.train import train

    common = dict(base=str(tiny_model_dir), train_file=str(pairs_file), db=str(tiny_warehouse), max_steps=STEPS,
                  learning_rate=2e-2, warmup_steps=0, logging_steps=1, step0_check=False, time_budget="10m",
                  lora=LoraSettings(r=8, alpha=16, dropout=0.0))
    single = train(TrainConfig(**common, output_dir=str(tmp_path / "one"), batch_size=8, register=False))

    out = tmp_path / "two"
    command = [sys.executable, "-m", "sqltune", "train", "--model", str(tiny_model_dir), "--data", str(pairs_file),
               "--db", str(tiny_warehouse), "--out", str(out), "--max-steps", str(STEPS), "--batch-size", "4", "--lr", "0.02",
               "--warmup-steps", "0", "--logging-steps", "1", "--no-step0-check", "--time-budget", "10m",
               "--lora-r", "8", "--lora-alpha", "16", "--lora-dropout", "0", "--num-processes", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    # rank 0 alone reports, writes the adapter, the run record and the registry entry
    assert done.stdout.count(f"step {STEPS}/{STEPS} loss") == 1 and done.stdout.count("run train-") == 1, done.stdout
    record = json.loads((out / "run.json").read_text())
    assert record["processes"] == 2 and record["steps"] == STEPS and record["budget_plan"]["pairs_per_step"] == 8
    (entry,) = Registry().list(kind="train")
    assert entry.run_id == record["run_id"]
    checkpoint = out / "checkpoints" / f"checkpoint-{STEPS}"
    assert {"adapter_model.safetensors", "optimizer.pt", "rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in checkpoint.iterdir()}

    model = PeftModel.from_pretrained(load_model(str(tiny_model_dir), quant=QuantConfig()), str(out))
    assert [p for n, p in model.named_parameters() if "lora_B" in n and p.abs().sum() > 0]

    # gradients averaged over the two processes: the same losses as one process with the same global batch
    two = [h["loss"] for h in record["loss_history"]]
    one = [h["loss"] for h in single.record["loss_history"]]
    assert len(two) == len(one) == STEPS
    assert two == pytest.approx(one, rel=1e-2), (two, one)
    assert two[-1] < two[0]
    # ... and the same update: rank 0's adapter is the single process's (bf16 rounding apart); an
    # update from rank 0's half of the pairs alone differs by about 95% (measured)
    assert lora_b_difference(out, single.adapter_dir) < 0.25


def lora_b_difference(a, b) -> float:
    """|B_a - B_b| / |B_b| over every LoRA B matrix (B starts at zero: the whole update)."""
    from safetensors.torch import load_file

    ta, tb = load_file(str(a / "adapter_model.safetensors")), load_file(str(b / "adapter_model.safetensors"))
    keys = [k for k in tb if "lora_B" in k]
    assert keys and set(keys) <= set(ta)
    diff = sum(float(((ta[k].float() - tb[k].float()) ** 2).sum()) for k in keys) ** 0.5
    return diff / sum(float((tb[k].float() ** 2).sum()) for k in keys) ** 0.5


def test_this_process_reads_the_launchers_variables(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert this_process() == Processes() and not this_process().distributed
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert this_process() == Processes(rank=3, world_size=4, local_rank=1) and not this_process().is_main


def test_one_process_decides_alone_and_failures_keep_their_type():
    one = Processes()
    assert one.on_main(lambda: 41 + 1) == 42 and one.share("x") == "x"
    with pytest.raises(ZeroDivisionError):
        one.on_main(lambda: 1 / 0)
    assert RankFailed("rank 0 failed: boom", 2).exit_code == 2


def test_settings_not_shared_yet_are_refused_in_several_processes():
    from sqltune.core.errors import ConfigError

    check_distributable(TrainConfig())
    with pytest.raises(ConfigError, match="--cache-lower-layers and --select-by-execution"):
        check_distributable(TrainConfig(cache_lower_layers=True, select_by_execution=4))


def test_the_accelerate_configs_load_as_accelerate_reads_them():
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    ddp = load_config_from_file(str(REPO / "configs" / "accelerate" / "ddp.yaml"))
    # MULTI_GPU: accelerate's torchrun launcher, which starts CPU processes too (its MULTI_CPU needs MPI)
    assert ddp.distributed_type == DistributedType.MULTI_GPU and ddp.num_processes == 2 and ddp.mixed_precision == "no"
    zero2 = load_config_from_file(str(REPO / "configs" / "accelerate" / "deepspeed-zero2.yaml"))
    assert zero2.distributed_type == DistributedType.DEEPSPEED
    settings = json.loads((REPO / zero2.deepspeed_config["deepspeed_config_file"]).read_text())
    assert settings["zero_optimization"]["stage"] == 2
    assert settings["train_micro_batch_size_per_gpu"] == settings["gradient_accumulation_steps"] == "auto"


def test_num_processes_starts_accelerates_torchrun_launcher():
    from sqltune.training.distributed import launch_command

    command = launch_command("/tmp/train.yaml", 3, 29999, resume=True)
    assert command[1:4] == ["-m", "sqltune.training.distributed", "--multi_gpu"]  # accelerate launch, quieter on failure
    assert command[command.index("--num_processes") + 1] == "3" and command[command.index("--main_process_port") + 1] == "29999"
    assert command[-5:] == ["-m", "sqltune", "train", "/tmp/train.yaml", "--resume"]


SHARE_SCRIPT = r"""
import json, sys
from sqltune.core.errors import InputError
from sqltune.training.distributed import RankFailed, this_process

processes = this_process()
processes.start()
seen = {"rank": processes.rank, "shared": processes.on_main(lambda: {"dtype": "bfloat16", "rank": processes.rank})}
def fail():
    raise InputError("2 problems in the pairs", source="pairs.jsonl")
try:
    processes.on_main(fail)
except RankFailed as exc:
    seen["failed"] = ["RankFailed", str(exc), exc.exit_code]
except InputError as exc:
    seen["failed"] = ["InputError", str(exc), exc.exit_code]
processes.end()
import torch.distributed as dist
seen["left_the_group"] = not dist.is_initialized()
print(json.dumps(seen))
"""


def test_rank_0_decides_and_its_failure_reaches_every_rank(tmp_path):
    """Two gloo processes: rank 1 gets rank 0's value; when rank 0's decision fails, rank 0 raises
    the error itself and rank 1 raises RankFailed with its message and exit code, instead of waiting."""
    from sqltune.training.distributed import free_port

    port = str(free_port())
    env = {**os.environ, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    ranks = [subprocess.Popen([sys.executable, "-c", SHARE_SCRIPT], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    seen = []
    for process in ranks:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        seen.append(json.loads(out.strip().splitlines()[-1]))
    assert seen[0]["shared"] == seen[1]["shared"] == {"dtype": "bfloat16", "rank": 0}
    assert seen[0]["failed"] == ["InputError", "pairs.jsonl: 2 problems in the pairs", 1]
    assert seen[1]["failed"] == ["RankFailed", "rank 0 failed: pairs.jsonl: 2 problems in the pairs", 1]
    assert seen[0]["left_the_group"] and seen[1]["left_the_group"]  # none left to teardown (it aborted with -6)
