"""The settings of one training run: `TrainConfig` and the adapter's shape (`LoraSettings`).

Every field is declared once, with its help text; YAML recipes load into it and `sqltune train`
derives one flag per field (`sqltune.core.config.setting`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqltune.core.config import setting
from sqltune.core.tracking import TRACKERS
from sqltune.inference.models import QuantConfig
from sqltune.prompts import PromptConfig
from sqltune.schema.roles import ALLOW_PRIVILEGED_ROLE_HELP
from sqltune.training.budget import parse_duration

ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class LoraSettings:
    r: int = setting(16, help="LoRA rank.", min=1)
    alpha: int = setting(32, help="LoRA scaling numerator (the update is scaled by alpha / r).", min=1)
    dropout: float = setting(0.05, help="Dropout on the LoRA input (0 is fastest on CPU).", min=0.0, max=1.0)
    target_modules: list[str] = setting(default_factory=lambda: list(ALL_PROJECTIONS),
                                        help="Linear layers that get adapters (default: every attention and MLP projection).")
    top_layers: int | None = setting(None, help="Adapters on the upper N decoder layers only: backward stops below them (less work per pair); default: every layer.", min=1)


@dataclass
class TrainConfig:
    """One training run. Every field can be set in YAML and overridden by the CLI flag derived from it."""

    base: str = setting("default", flag="--model", help="Base model: 'default' (the embedded SmolLM2-135M-Instruct), a local HF checkpoint folder or a hub id.")
    train_file: str | None = setting(None, flag="--data", help="Question/SQL pairs to train on (JSONL or CSV).")
    db: str | None = setting(None, help="Warehouse the schema is read from: a DuckDB file, an SQLAlchemy URL or DDL files.")
    output_dir: str = setting("runs/adapter", flag="--out", help="Adapter output folder.")
    method: str = setting("qlora", choices=("qlora", "lora"), help="qlora: LoRA on a 4-bit NF4 base; lora: LoRA on a 16-bit base (the baseline).")
    quant: QuantConfig = setting(default_factory=QuantConfig, help="How the frozen base is quantised.")
    lora: LoraSettings = setting(default_factory=LoraSettings, help="The adapter's shape.")
    prompt: PromptConfig = setting(default_factory=PromptConfig, help="How prompts are built (saved with the adapter).")
    completion_only_loss: bool = setting(True, help="Loss on the SQL only; off reproduces the seeds' whole-sequence loss (benchmarks only).")
    num_epochs: float = setting(1.0, flag="--epochs", help="Epochs over the training pairs.", min=0.0)
    max_steps: int = setting(-1, help="Stop after N optimizer steps; > 0 overrides --epochs (with --time-budget: an upper bound).")
    time_budget: str | None = setting(None, help="Wall-clock budget for training, e.g. 15m, 900s, 1h: the first steps are timed, then steps, schedule and eval cadence are set to end inside it (--epochs and --max-steps become upper bounds).")
    budget_evals: int = setting(4, help="With --time-budget: held-out evaluations over the run (the learning curve's points), the final one included.", min=1)
    curve_snapshots: bool = setting(False, help="Save the adapter at every held-out evaluation (OUT/curve/step-N, a loadable adapter folder each), so its execution accuracy can be scored against training minutes; `sqltune run` turns it on for its learning curve.")
    max_examples: int | None = setting(None, help="Train on the first N pairs (after shuffling with --seed).", min=1)
    augment_per_pair: int = setting(0, help="Value-swapped augmentation before training (as `sqltune data augment`): up to N new pairs per training pair, a literal the question names swapped for another value of its column, kept only when the SQL returns rows; held-out pairs are never augmented. 0: off.", min=0, max=10)
    eval_fraction: float = setting(0.02, help="Share of the training pairs held out for the periodic eval loss.", min=0.0, max=0.5)
    eval_steps: int = setting(50, help="Steps between evaluations of the held-out loss.", min=1)
    batch_size: int = setting(8, help="Pairs per optimizer step (per device).", min=1)
    grad_accum: int = setting(1, help="Gradient accumulation steps.", min=1)
    learning_rate: float = setting(2e-4, flag="--lr", help="Peak learning rate.", min=0.0)
    lr_scheduler: str = setting("cosine", help="Learning-rate schedule (any transformers scheduler name).")
    warmup_steps: int = setting(10, help="Linear warm-up steps.", min=0)
    weight_decay: float = setting(0.0, help="AdamW weight decay.", min=0.0)
    max_seq_len: int = setting(1024, help="Pairs longer than this many tokens are dropped (and counted).", min=16)
    attention: str = setting("auto", choices=("auto", "eager", "sdpa"), help="Attention kernel for training: auto is eager on CPU (faster than SDPA's CPU flash kernel at these lengths), transformers' default elsewhere.")
    cache_lower_layers: bool = setting(False, help="With lora.top_layers: compute the frozen lower layers' outputs once per pair and train the upper layers on them (a step costs about a third).")
    fit_pairs_to_budget: bool = setting(False, help="With cache_lower_layers and --time-budget: train on only as many pairs as fit --epochs passes (the fixture recipe, on its generated corpus of thousands). Off: every pair is kept and the budget buys as many passes as fit, up to --epochs; pairs are left out only when even one pass cannot fit, and the run says so.")
    gradient_checkpointing: bool = setting(True, help="Recompute activations in the backward pass: less memory, more compute.")
    return_freed_memory: bool = setting(False, help="Hand memory freed during training back to the OS at once (glibc): resident memory stays near `sqltune plan` instead of 1.4-2x it, at 1.6-2x the step time (measured on an AVX2 CPU and on an Intel Xeon with AMX).")
    fp32_non_quantized: bool | None = setting(None, help="Keep norms and embeddings in fp32 (default: only with fp16 compute).")
    optimizer: str = setting("auto", help="auto: paged 8-bit AdamW on CUDA, AdamW on CPU; or any transformers optim name.")
    group_by_length: bool = setting(True, help="Batches of similar length: little padding, no cross-example attention.")
    pad_to_multiple_of: int | None = setting(None, help="Pad every batch's length up to a multiple of this (1: to its longest pair only; default: 32 when training computes in bf16/fp16, 1 in fp32). Fewer distinct shapes: in bf16 on AVX-512/AMX CPUs oneDNN builds and keeps kernels per matmul shape; with a new length every step the heap in use grew by 0.4 GiB and resident memory by 1.3 GiB in 3 minutes, and steps were 8% slower (Intel Xeon with AMX).", min=1, max=512)
    save_steps: int = setting(50, help="Steps between checkpoints (for --resume).", min=1)
    save_total_limit: int = setting(2, help="Checkpoints kept.", min=1)
    logging_steps: int = setting(5, help="Steps between loss reports.", min=1)
    seed: int = setting(0, help="Seed for shuffling, the held-out share and initialisation.")
    max_trainable_fraction: float | None = setting(None, help="Stop if more than this share of parameters trains (default: 1.5x the analytic LoRA share, at least 2%).")
    step0_check: bool = setting(True, help="Check that the fresh adapter leaves the base's loss unchanged before training.")
    num_threads: int | None = setting(None, help="CPU threads for torch (default: all cores).", min=1)
    num_processes: int = setting(1, help="Training processes on this machine: N > 1 starts N copies of the command through `accelerate launch` (data-parallel: gloo between CPU processes, one GPU each with NCCL), each taking --batch-size pairs a step. Under `accelerate launch` or torchrun the launcher's count holds and this is not read.", min=1)
    register: bool = setting(True, help="Write the run record into the registry.")
    report_to: str = setting("none", choices=TRACKERS, help="Experiment tracker the Trainer logs losses to (transformers' integration; MLflow reads MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_NAME). mlflow: the run record's final figures join the run, and the adapter records the run so `sqltune eval --report-to mlflow` logs into it.")
    allow_invalid: bool = setting(False, help="Train without the pairs that fail validation (default: refuse, listing every problem by line).")
    allow_privileged_role: bool = setting(False, help=ALLOW_PRIVILEGED_ROLE_HELP)
    select_by_execution: int = setting(0, help="At each held-out point, answer up to N held-out pairs greedily, run them on the warehouse and keep the adapter with the best execution accuracy (not the lowest loss); 0: off. Needs held-out pairs (--eval-fraction).", min=0)
    execution_patience: int = setting(2, help="With --select-by-execution: stop after this many held-out points without a rise in execution accuracy (0: never stop early).", min=0)

    def __post_init__(self) -> None:
        if self.time_budget is not None:
            parse_duration(self.time_budget)  # a budget that cannot be read fails when the config loads
