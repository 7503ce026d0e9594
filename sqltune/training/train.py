"""The QLoRA run: frozen NF4 base + LoRA adapters, trained with trl's SFTTrainer.

`train()` reads as its steps, each a function below it:
  inputs (`_output_folder`, `training_pairs`, `build_datasets`) -> model (`load_training_model`, `fresh_adapter_check`)
  -> time budget (`plan_budget`, see budget.py) -> trainer (`build_trainer`, `ProgressReporter`)
  -> run (`run_trainer`) -> adapter + run record (`_save_adapter`, `run_record`, `_record_run`).
The loss covers the SQL completion only, and on every device only completion positions are
projected through the LM head (`CompletionOnlySFTTrainer`): with a 49k vocabulary and a long
schema prompt, scoring every prompt token is most of a small model's step (trainer.py).
What the run leaves besides the adapter is in record.py; what it reads, in inputs.py. At ~580 lines this module is longer than
the others because the time budget's wiring (`plan_budget`, `ProgressReporter`) lives beside the
steps it changes; budget.py holds its arithmetic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqltune.inference.adapter import ADAPTER_META, write_meta
from sqltune.core.errors import ConfigError, InputError
from sqltune.inference.models import attention_implementation, compute_dtype, device, dtype_probe, load_model, load_tokenizer, resolve_base
from sqltune.retrieval import EXAMPLES_FILE
from sqltune.training.plan import upcasts_non_quantized, upper_layers
from sqltune.training.record import (RssSampler, _dtype_name, _final_eval_loss, _record_run, allocated_bytes,
                                     current_rss_bytes, release_freed_memory, return_freed_memory_at_once, run_record)
from sqltune.training.trainer import (_trainer_class, check_step0, check_trainable, choose_optimizer, keep_training_layout,
                                     lora_parameter_count, parameter_count, step0_check_seconds, step0_losses,
                                     with_loss_labels)  # noqa: F401 (public names)
from sqltune.training.config import ALL_PROJECTIONS, LoraSettings, TrainConfig  # noqa: F401 (the public names)
from sqltune.training.examples import batch_multiple
from sqltune.training.inputs import TrainingPairs, require_inputs, training_pairs  # noqa: F401 (public names)
from sqltune.training.selection import Judge, execution_selection
from sqltune.training.lower_cache import prepare_lower_cache, upper_layers_only
from sqltune.training.distributed import Processes, check_distributable, same_compute_dtype, this_process
from sqltune.training.progress import ProgressFn, ProgressReporter
from sqltune.training.tracking import MlflowRunKeeper
from sqltune.training.budget import (BudgetPlanner, ScheduleShape, StepPlan, budget_callback, format_duration,
                                     load_plan, parse_duration)

log = logging.getLogger(__name__)

CURVE_DIR = "curve"  # the adapter at each held-out evaluation, with curve_snapshots


@dataclass
class TrainResult:
    adapter_dir: Path
    run_id: str
    steps: int
    wall_s: float
    train_tokens: int
    tokens_per_s: float
    trainable_params: int
    total_params: int
    peak_rss_bytes: int
    final_train_loss: float | None
    eval_loss: float | None
    record: dict  # rank 0's, on every rank of a multi-process run
    rank: int = 0  # this process's rank (0 unless several processes trained)


class TrainingData(NamedTuple):
    train: Any  # datasets.Dataset of the training examples
    held_out: Any  # the held-out examples (None when there are none)
    facts: dict  # what the run record says about the data
    examples: Any  # the ExampleIndex the prompts retrieve from (None without retrieved examples)
    held_out_pairs: list  # the held-out pairs themselves (the execution check answers them)


def build_datasets(config: TrainConfig, tokenizer: Any, schema: Any, pairs: list[Any] | None = None) -> TrainingData:
    """Tokenize the training `pairs` (default: `config.train_file`'s, unchecked) into
    `datasets.Dataset`s (train, held-out) plus data facts and the example index the prompts
    retrieve from.

    Checks on the first pair that the training sequence is what the chat template renders."""
    import random

    from datasets import Dataset

    from sqltune.data import content_hash
    from sqltune.training.examples import check_template_parity, examples_hash, tokenize_pairs

    if pairs is None:
        from sqltune.data import load_pairs

        pairs = load_pairs(config.train_file)
    pairs = list(pairs)
    if not pairs:
        raise InputError("no training pairs", source=config.train_file)
    rng = random.Random(config.seed)
    rng.shuffle(pairs)
    if config.max_examples:
        pairs = pairs[: config.max_examples]
    n_eval = int(len(pairs) * config.eval_fraction) if len(pairs) >= 20 else 0
    eval_pairs, train_pairs = pairs[:n_eval], pairs[n_eval:]
    augmented = 0
    if config.augment_per_pair:
        from sqltune.data.augment import augment_pairs

        new = augment_pairs(train_pairs, config.db, per_pair=config.augment_per_pair, seed=config.seed,
                            allow_privileged_role=config.allow_privileged_role).pairs
        augmented = len(new)
        train_pairs = train_pairs + new
        rng.shuffle(train_pairs)
    index = example_index(config, train_pairs)
    check_template_parity(tokenizer, schema, train_pairs[0].question, train_pairs[0].sql, config.prompt, index)

    def to_dataset(examples: list) -> Any:
        return Dataset.from_dict(
            {
                "input_ids": [ex.input_ids for ex in examples],
                "completion_mask": [ex.completion_mask for ex in examples],
                "length": [len(ex.input_ids) for ex in examples],
            }
        )

    train_ex, dropped = tokenize_pairs(train_pairs, schema, tokenizer, config.prompt, max_seq_len=config.max_seq_len,
                                       example_index=index)
    # held-out pairs are asked as a new question is at serving time: any training pair may be shown
    eval_ex, _ = tokenize_pairs(eval_pairs, schema, tokenizer, config.prompt, max_seq_len=config.max_seq_len,
                                example_index=index, exclude_same=False)
    if not train_ex:
        raise InputError(f"every pair is longer than max_seq_len={config.max_seq_len}", source=config.train_file)
    lengths = sorted(len(ex.input_ids) for ex in train_ex)
    facts = {
        "train_file": config.train_file,
        "train_pairs": len(train_ex),
        "eval_pairs": len(eval_ex),
        "dropped_too_long": dropped,
        "augmented_pairs": augmented,
        "train_pairs_hash": content_hash(train_pairs),
        "train_examples_hash": examples_hash(train_ex),
        "tokens_per_example_p50": lengths[len(lengths) // 2],
        "tokens_per_example_p95": lengths[int(len(lengths) * 0.95) - 1 if len(lengths) > 1 else 0],
        "tokens_per_example_max": lengths[-1],
        "completion_tokens_mean": sum(len(ex.completion_ids) for ex in train_ex) / len(train_ex),
        "completion_tokens_max": max(len(ex.completion_ids) for ex in train_ex),
    }
    if index is not None:
        facts["examples"] = {"k": config.prompt.examples, "method": index.method, "pairs": len(index), "hash": index.hash}
    return TrainingData(to_dataset(train_ex), to_dataset(eval_ex) if eval_ex else None, facts, index, eval_pairs)


def example_index(config: TrainConfig, train_pairs: list[Any]) -> Any:
    """The pairs the prompts' retrieved examples come from (the training pairs, never the
    held-out ones), or None when the prompts show no examples."""
    if not config.prompt.examples:
        return None
    from sqltune.retrieval import Example, ExampleIndex

    return ExampleIndex([Example(p.question, p.sql) for p in train_pairs], config.prompt.example_retrieval)


def train(config: TrainConfig, *, resume: bool = False, progress: ProgressFn | None = None,
          kill_after_step: int | None = None, started: float | None = None, judge: Judge | None = None,
          pairs: TrainingPairs | None = None) -> TrainResult:
    """Train one adapter: inputs -> data -> model -> checks -> trainer -> run -> adapter + run record.

    The inputs are checked here, whoever calls: the pairs are validated on the warehouse
    (`training_pairs`; refused, or with `allow_invalid` the valid ones only) unless `pairs` were
    prepared by `training_pairs` already, and prompts ask for the warehouse's SQL dialect unless
    `prompt.dialect` names one (`config` itself is left as it is; the run record and the adapter
    carry what was used).
    `started` (a `time.monotonic()` time, default now) is when the caller's command began: the
    time budget counts from there, so validating the pairs and loading the model come out of it.
    `judge` scores answers on the warehouse for `select_by_execution` (selection.py).
    `progress` hears {"event": "stage"} (with "eta_s" where one is known: the step-0 check's),
    {"event": "validate"} and {"event": "model"} (the base resolved, loading next) before the
    training events.
    Run in several processes (`accelerate launch`, distributed.py), rank 0 validates the pairs and
    decides the time budget for all, and alone writes the adapter and the record and hears progress."""
    from sqltune.prompts import prompt_for_warehouse

    from sqltune.core.tracking import require_tracker

    started = time.monotonic() if started is None else started
    processes = this_process()
    require_inputs(config)
    require_tracker(config.report_to)
    if processes.distributed:
        check_distributable(config)
        processes.start()
        progress = progress if processes.is_main else None
    if config.select_by_execution and judge is None:
        raise ConfigError("select_by_execution needs a judge of answers (sqltune.evaluation.judge.judge_for_training)")
    out = _output_folder(config, resume)
    budget_s = parse_duration(config.time_budget) if config.time_budget is not None else None
    config = dataclasses.replace(config, prompt=prompt_for_warehouse(config.prompt, config.db))
    if pairs is None:
        pairs = processes.on_main(lambda: training_pairs(config, progress=progress))
    config = dataclasses.replace(config, train_file=pairs.source)
    _seed(config)
    if progress:
        progress({"event": "stage", "name": "resolving the base model"})
    base_path = resolve_base(config.base)
    if progress:
        progress({"event": "model", "path": str(base_path), "dialect": config.prompt.dialect,
                  "quantized": config.method == "qlora", "step0_check": config.step0_check and not resume})
    tokenizer = load_tokenizer(base_path)
    schema = _load_schema(config.db)
    data = build_datasets(config, tokenizer, schema, pairs.pairs)
    train_ds, eval_ds, data_facts, index = data.train, data.held_out, data.facts, data.examples

    same_compute_dtype(processes)
    loaded = load_training_model(config, base_path)
    log.info("trainable parameters: %d of %d (%.2f%%), compute dtype %s", loaded.trainable, loaded.total,
             100 * loaded.trainable / loaded.total, _dtype_name(loaded.dtype))
    multiple = data_facts["pad_to_multiple_of"] = batch_multiple(config.pad_to_multiple_of, loaded.dtype.itemsize)
    collator = _collator(tokenizer, multiple)
    step0 = None
    if config.step0_check and not resume:
        if progress:
            progress({"event": "stage", "name": "step-0 check", "eta_s": step0_check_seconds(
                train_ds["length"], loaded.total, loaded.dtype_probe, multiple)})
        step0 = fresh_adapter_check(loaded.model, train_ds, collator, config.completion_only_loss)

    reuse = None
    if config.cache_lower_layers:
        train_ds, eval_ds, cached_collator, reuse = prepare_lower_cache(config, loaded, tokenizer, train_ds, eval_ds,
                                                                        data_facts, out, resume, started, progress,
                                                                        pad_to_multiple_of=multiple, budget_s=budget_s)
        collator = cached_collator or collator
        release_freed_memory()  # the lower layers' working memory, freed once every pair is cached
    budget = plan_budget(config, budget_s, out, resume, data_facts, eval_ds, started, progress,
                         epochs_cap=reuse.epochs_cap if reuse else None, processes=processes)
    reporter = ProgressReporter(progress, started, budget.planner if budget else None, kill_after_step,
                                snapshot_dir=out / CURVE_DIR if config.curve_snapshots and processes.is_main else None)
    tracking = MlflowRunKeeper(config.report_to)
    with upper_layers_only(loaded.model, reuse.cut) if reuse else contextlib.nullcontext() as whole_model:
        selection = execution_selection(config, loaded.model, tokenizer, schema, index, data.held_out_pairs,
                                        judge, out, started, progress, whole_model or contextlib.nullcontext)
        trainer = build_trainer(config, loaded, tokenizer, collator, train_ds, eval_ds, out / "checkpoints",
                                # the execution check before the budget's callback: its time counts as
                                # evaluation time (planned for, kept clear of the deadline), not step time
                                callbacks=[reporter.callback(), tracking.callback(), *([selection.callback()] if selection else []),
                                           *([budget.callback] if budget else [])],
                                schedule=budget.schedule if budget else None, cached=reuse is not None)
        run = run_trainer(trainer, out / "checkpoints", resume)
        eval_loss = _final_eval_loss(trainer) if eval_ds is not None else None
    if eval_loss is not None:
        reporter.held_out(trainer.state.global_step, eval_loss, loaded.model)
    if reuse is not None:
        data_facts["lower_cache"] = reuse.record()

    def write_results() -> tuple[dict, str]:
        """The adapter, its snapshots' prompt settings, the run record and the registry entry (rank 0 only)."""
        _save_adapter(loaded.model, out, config, schema, data_facts, index, tracking=tracking.run.to_dict() if tracking.run else None)
        if selection is not None:
            data_facts["execution_selection"] = {**selection.record(), "kept_best": selection.keep_best(out)}
        for point in reporter.curve:  # each snapshot is a whole adapter folder: the prompt settings beside it
            if point.get("adapter"):
                for name in (ADAPTER_META, EXAMPLES_FILE):
                    if (out / name).exists():
                        shutil.copy2(out / name, Path(point["adapter"]) / name)
        record = run_record(config, base_path, loaded, data_facts, trainer, run, step0, eval_loss, reporter, budget, out,
                            processes=processes.world_size)
        record["tracking"] = tracking.run.to_dict() if tracking.run else None
        run_id = _record_run(record, out, config.register)
        tracking.finish(record, run_id, str(out.resolve()))
        return record, run_id

    record, run_id = processes.on_main(write_results)
    return TrainResult(
        adapter_dir=out,
        run_id=run_id,
        steps=trainer.state.global_step,
        wall_s=run.wall_s,
        train_tokens=record["train_tokens"],
        tokens_per_s=record["tokens_per_s"] or 0.0,
        trainable_params=loaded.trainable,
        total_params=loaded.total,
        peak_rss_bytes=record["peak_rss_bytes"],
        final_train_loss=run.output.training_loss,
        eval_loss=eval_loss,
        record=record,
        rank=processes.rank,
    )


# -- step 1: inputs ------------------------------------------------------------------------------------
def _output_folder(config: TrainConfig, resume: bool) -> Path:
    if config.method not in ("qlora", "lora"):
        raise ConfigError(f"method must be 'qlora' or 'lora', got {config.method!r}")
    out = Path(config.output_dir)
    if not resume and (out / "adapter_config.json").exists():
        raise ConfigError(f"{out} already holds an adapter; choose another --out or pass --resume")
    return out


def _seed(config: TrainConfig) -> None:
    import torch

    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)


def _load_schema(source: str) -> Any:
    from sqltune.schema import load_schema

    return load_schema(source)


# -- step 2: the model ---------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    """The base with fresh LoRA adapters, ready to train."""

    model: Any
    dtype: Any
    dtype_probe: dict | None
    trainable: int
    total: int
    rss_before_model: int | None
    layers_to_transform: list[int] | None
    allocated_before_model: int | None = None


def adapter_layers(num_layers: int, lora: LoraSettings) -> list[int] | None:
    """The decoder layers that get adapters: the upper `top_layers`, or None for every layer."""
    return upper_layers(num_layers, lora.top_layers)


def load_training_model(config: TrainConfig, base_path: str) -> LoadedModel:
    """Frozen base (4-bit NF4 for qlora) + LoRA adapters in the compute dtype, checked to train
    exactly the analytic LoRA parameters."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    quant = config.quant if config.method == "qlora" else None
    dtype = quant.torch_compute_dtype() if quant is not None else compute_dtype()
    probe = dtype_probe().to_dict() if device() == "cpu" else None
    if config.return_freed_memory:
        return_freed_memory_at_once()
    rss_before_model, allocated_before_model = current_rss_bytes(), allocated_bytes()
    model = load_model(base_path, quant=quant, dtype=dtype, attention=attention_implementation(config.attention))
    checkpointing = {"use_reentrant": False}  # non-reentrant: no input gradients needed below the adapters
    if quant is not None:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing,
                                                gradient_checkpointing_kwargs=checkpointing)
        if not upcasts_non_quantized(config):
            # peft upcasts norms and embeddings to fp32 (an fp16 safeguard); with bf16 compute that
            # only turns the residual stream into fp32 traffic: measured 1.4x slower on CPU.
            for param in model.parameters():
                if param.dtype == torch.float32:
                    param.data = param.data.to(dtype)
        keep_training_layout(model)
    elif config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)
    layers = adapter_layers(model.config.num_hidden_layers, config.lora)
    expected = lora_parameter_count(model, config.lora, layers)
    peft_config = LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=list(config.lora.target_modules),
        layers_to_transform=layers,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, peft_config)
    keep_adapter_dtype(model, dtype)  # adapters in bf16 (or the compute dtype); peft alone keeps them fp32
    trainable, total = check_trainable(model, expected, config.max_trainable_fraction)
    release_freed_memory()  # what loading and quantising freed would otherwise stay resident all run
    return LoadedModel(model, dtype, probe, trainable, total, rss_before_model, layers, allocated_before_model)


def _collator(tokenizer: Any, pad_to_multiple_of: int = 1) -> Any:
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id,
                                           pad_to_multiple_of=pad_to_multiple_of if pad_to_multiple_of > 1 else None)


def fresh_adapter_check(model: Any, train_ds: Any, collator: Any, completion_only: bool) -> dict:
    """Step 0: the fresh adapter must leave the base's loss unchanged (LoRA's B = 0). Checked on the
    4 shortest pairs: the check is the same on any pair, and two whole-model forward passes over
    long ones cost minutes on a slow CPU (ATIS-length SQL, 1,000 tokens)."""
    lengths = train_ds["length"]
    shortest = sorted(range(len(lengths)), key=lambda i: lengths[i])[:4]
    probe = with_loss_labels(train_ds.select(shortest), completion_only)
    with_adapter, frozen = step0_losses(model, probe, collator)
    check_step0(with_adapter, frozen, model.config.vocab_size)
    return {"with_adapter": with_adapter, "frozen_base": frozen}


# -- step 3: the time budget ---------------------------------------------------------------------------
@dataclass
class BudgetRun:
    planner: BudgetPlanner
    schedule: ScheduleShape
    callback: Any


def _steps_cap(config: TrainConfig, train_pairs: int, epochs: float | None = None, world_size: int = 1) -> int:
    """The most steps a run may take: --max-steps, else --epochs (or `epochs`) over the training pairs
    (each step takes a batch on each of `world_size` processes)."""
    if config.max_steps > 0:
        return config.max_steps
    per_epoch = math.ceil(train_pairs / (config.batch_size * config.grad_accum * world_size))
    return max(1, math.ceil((epochs if epochs is not None else config.num_epochs) * per_epoch))


def plan_budget(config: TrainConfig, budget_s: float | None, out: Path, resume: bool, data_facts: dict, eval_ds: Any,
                started: float, progress: ProgressFn | None = None, epochs_cap: float | None = None,
                processes: Processes | None = None) -> BudgetRun | None:
    """With --time-budget (`budget_s`, its seconds): the planner, the stretchable LR schedule and
    the callback joining them to the Trainer; a resumed run reloads the plan it stored. With
    several `processes`, rank 0's planner decides for all (budget_callback)."""
    if budget_s is None:
        return None
    processes = processes or Processes()
    stored = load_plan(out) if resume else None
    if stored is not None:
        log.info("resuming with the stored plan: %s", stored.summary())
    pairs_per_step = config.batch_size * config.grad_accum * processes.world_size
    cap = _steps_cap(config, data_facts["train_pairs"], epochs_cap, processes.world_size)
    eval_batches = math.ceil(len(eval_ds) / config.batch_size) if eval_ds is not None else 0
    planner = BudgetPlanner(
        budget_s, pairs_per_step=pairs_per_step, train_pairs=data_facts["train_pairs"], max_steps_cap=cap,
        evals=config.budget_evals, has_eval=eval_ds is not None, warmup_steps=config.warmup_steps,
        reserve_s=min(30.0, 0.02 * budget_s), eval_step_ratio=eval_batches / 3, plan=stored,
    )
    schedule = ScheduleShape(config.lr_scheduler, stored.max_steps if stored else cap,
                             stored.warmup_steps if stored else config.warmup_steps)

    def announce(plan: StepPlan, event: str) -> None:
        log.info("%s: %s", "plan" if event == "planned" else "re-planned", plan.summary())
        if progress:
            progress({"event": "plan", "kind": event, "summary": plan.summary(), **plan.to_dict()})

    if progress:
        progress({"event": "budget", "budget_s": budget_s, "train_pairs": data_facts["train_pairs"],
                  "line": f"time budget {format_duration(budget_s)}: timing the first steps to plan the run"
                          + (" (resumed: keeping the stored plan)" if stored else "")})

    callback = budget_callback(planner, schedule=schedule, plan_dir=out, started_at=started, on_plan=announce,
                               decide=processes.on_main if processes.distributed else None, is_main=processes.is_main)
    return BudgetRun(planner, schedule, callback)


# -- step 4: the trainer -------------------------------------------------------------------------------
def build_trainer(config: TrainConfig, loaded: LoadedModel, tokenizer: Any, collator: Any, train_ds: Any,
                  eval_ds: Any, checkpoints: Path, *, callbacks: list, schedule: ScheduleShape | None,
                  cached: bool = False) -> Any:
    """trl's SFTTrainer (completion-only head when the loss is on the SQL only), quiet: progress
    goes through `callbacks`, not transformers' printed log dictionaries."""
    import torch
    from transformers import PrinterCallback
    from trl import SFTConfig

    dtype = loaded.dtype
    sft_args = SFTConfig(
        output_dir=str(checkpoints),
        num_train_epochs=config.num_epochs,
        max_steps=schedule.total_steps if schedule is not None else config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        optim=choose_optimizer(config.optimizer),
        gradient_checkpointing=config.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        logging_steps=config.logging_steps,
        eval_strategy="steps" if eval_ds is not None else "no",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        max_length=config.max_seq_len,
        completion_only_loss=config.completion_only_loss,
        packing=False,
        # cached lower-layer outputs: random batches (their padding is cheap in the upper layers alone)
        train_sampling_strategy="group_by_length" if config.group_by_length and not cached else "random",
        length_column_name="length",
        report_to=[] if config.report_to == "none" else [config.report_to],
        ddp_find_unused_parameters=False,  # several processes: every LoRA weight is used in every step
        run_name=f"sqltune {Path(config.output_dir).name}",
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=device() == "cpu",
        remove_unused_columns=not cached,  # the cached collator reads example_index
    )
    trainer_cls = _trainer_class(config.completion_only_loss)
    trainer = trainer_cls(
        model=loaded.model,
        args=sft_args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        data_collator=collator,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.schedule = schedule
    keep_adapter_dtype(trainer.model, dtype)
    return trainer


def keep_adapter_dtype(model: Any, dtype: Any) -> int:
    """Put the trainable weights in the compute dtype sqltune chose (returns how many moved): once
    when the adapter is made (peft keeps it fp32), again once the trainer is built, because

    trl's SFTTrainer casts a quantised model's adapter weights to bf16 (the QLoRA paper's choice)
    whatever the compute dtype. On a CPU without fast bf16, where the probe chose fp32, that left
    every LoRA matmul in bf16: each step took 1.7x as long (AMD EPYC, AVX2 only), and a step timed
    before the trainer existed predicted half the real step time."""
    moved = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != dtype:
            param.data = param.data.to(dtype)
            moved += 1
    return moved


# -- step 5: run ---------------------------------------------------------------------------------------
@dataclass
class TrainerRun:
    output: Any
    wall_s: float
    training_peak_rss: int | None
    resumed_from: Path | None
    training_peak_allocated: int | None = None  # the heap's bytes in use at their peak (glibc)


def run_trainer(trainer: Any, checkpoints: Path, resume: bool) -> TrainerRun:
    """Train (from the last checkpoint with `resume`), sampling resident memory meanwhile."""
    last_checkpoint = _last_checkpoint(checkpoints) if resume else None
    if resume and last_checkpoint is None:
        log.warning("--resume: no checkpoint in %s, starting from step 0", checkpoints)
    began = time.time()
    with RssSampler() as rss:
        output = trainer.train(resume_from_checkpoint=str(last_checkpoint) if last_checkpoint else None)
    return TrainerRun(output, time.time() - began, rss.peak, last_checkpoint, rss.peak_allocated)


# -- step 6: the run record ----------------------------------------------------------------------------


def _last_checkpoint(checkpoints: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    return Path(last) if last else None


def _save_adapter(model: Any, out: Path, config: TrainConfig, schema: Any, data_facts: dict, index: Any = None,
                  tracking: dict | None = None) -> None:
    """The PEFT folder as peft writes it, plus sqltune's prompt settings (and the pairs its
    prompts retrieve examples from) beside it, and where its experiment-tracking run is."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    meta = {
        "base_model": config.base,
        "method": config.method,
        "prompt": asdict(config.prompt),
        "schema_name": schema.name,
        "train_examples_hash": data_facts["train_examples_hash"],
        "completion_tokens_max": data_facts["completion_tokens_max"],  # decoding's default token limit follows it
    }
    if index is not None:
        meta["examples"] = index.save(out)
    if tracking:
        meta["tracking"] = tracking
    write_meta(out, meta)


