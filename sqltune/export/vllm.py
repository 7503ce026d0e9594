"""Serving an adapter with vLLM: does vLLM's LoRA loader take it, and with which command line.

vLLM refuses an adapter at load time, one reason at a time, on the GPU machine it was copied to.
`check_for_vllm` reads the adapter folder here, without loading a model (no torch import), and
names every reason at once: a module vLLM's LoRA layers do not cover, a rank above
`--max-lora-rank`, `modules_to_save` (full weights vLLM does not load), DoRA, LoRA biases, and a
base model vLLM cannot find. When nothing stands in the way it gives the `vllm serve` command.

vLLM answers the messages it is sent: an adapter trained by sqltune expects sqltune's prompts (the
system message, the schema text pruned for the question, retrieved examples), built by
`sqltune.prompts.build_messages` with the settings the folder records in `sqltune_adapter.json`.
The export says so, and points OpenAI clients to `sqltune serve`'s `/v1/chat/completions`, which
builds those prompts and guards the SQL.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqltune.core.config import setting
from sqltune.core.errors import ConfigError, InputError
from sqltune.core.paths import atomic_write_text

# vLLM's LoRAConfig accepts these --max-lora-rank values; its default is 16.
VLLM_MAX_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
VLLM_DEFAULT_MAX_LORA_RANK = 16
# The linear layers vLLM's LoRA layers cover in Llama-style decoders (it packs q/k/v into qkv_proj
# and gate/up into gate_up_proj, and takes the unpacked adapters of each).
VLLM_LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# LoRA on the embeddings or the LM head: loaded by older vLLM releases only (with extra-vocabulary support).
EMBEDDING_MODULES = ("embed_tokens", "lm_head")
ADAPTER_CONFIG = "adapter_config.json"
SAFETENSORS = "adapter_model.safetensors"
PICKLED = "adapter_model.bin"


@dataclass
class VllmExportConfig:
    """One export: which adapter, under which name, for which vLLM limits."""

    adapter: str | None = setting(None, help="The adapter folder (from `sqltune train`).")
    name: str | None = setting(None, help="The adapter's name in vLLM: the `model` clients ask for (default: the folder's name).")
    max_lora_rank: int = setting(VLLM_DEFAULT_MAX_LORA_RANK,
                                 help="vLLM's --max-lora-rank (its default 16; one of 8, 16, 32, 64, 128, 256, 320, 512): "
                                      "the adapter's rank must not exceed it.")
    allow_embeddings: bool = setting(False, help="Accept LoRA on embed_tokens and lm_head (only vLLM releases with "
                                                 "extra-vocabulary LoRA load them).")
    out: str | None = setting(None, help="Also write the command, with the notes as comments, to this shell script.")


@dataclass(frozen=True)
class Unsuitable:
    """One reason vLLM would refuse the adapter: `code` for programs, `message` for people."""

    code: str
    message: str


@dataclass
class VllmExport:
    """What the check found. `command` (the `vllm serve` argv) is set only when nothing stands in the way."""

    adapter_dir: Path
    name: str
    base: str | None
    rank: int | None
    max_lora_rank: int
    reasons: list[Unsuitable] = field(default_factory=list)
    prompt: dict | None = None  # the prompt settings sqltune_adapter.json records
    notes: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons

    def command_line(self) -> str:
        return shlex.join(self.command)


def check_for_vllm(config: VllmExportConfig) -> VllmExport:
    """Every reason vLLM's LoRA loader would refuse `config.adapter`, and the command when there is none."""
    from sqltune.inference.adapter import read_meta

    if not config.adapter:
        raise ConfigError("export needs --adapter (the adapter folder)")
    if config.max_lora_rank not in VLLM_MAX_LORA_RANKS:
        raise ConfigError(f"--max-lora-rank {config.max_lora_rank}: vLLM accepts {', '.join(map(str, VLLM_MAX_LORA_RANKS))}")
    folder = Path(config.adapter).expanduser().resolve()
    if not folder.is_dir():
        raise InputError("adapter folder not found", source=str(config.adapter))
    name = config.name or folder.name
    result = VllmExport(folder, name, None, None, config.max_lora_rank)
    peft = _read_adapter_config(folder, result.reasons)
    if peft is None:
        return result
    result.base = peft.get("base_model_name_or_path") or None
    result.rank = adapter_rank(peft)
    result.reasons.extend(unsuitable(peft, weight_modules(folder, result.reasons), config))
    meta = read_meta(folder) or {}
    result.prompt = meta.get("prompt")
    if result.ok:
        result.command = ["vllm", "serve", str(result.base), "--enable-lora", "--lora-modules", f"{name}={folder}",
                          "--max-lora-rank", str(config.max_lora_rank)]
        result.notes = notes(folder, meta)
    return result


def _read_adapter_config(folder: Path, reasons: list[Unsuitable]) -> dict | None:
    path = folder / ADAPTER_CONFIG
    if not path.exists():
        reasons.append(Unsuitable("no_adapter_config", f"{path} is missing: not a PEFT adapter folder"))
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        reasons.append(Unsuitable("no_adapter_config", f"{path} cannot be read as JSON: {exc}"))
        return None
    if not isinstance(data, dict):
        reasons.append(Unsuitable("no_adapter_config", f"{path} is not a JSON object"))
        return None
    return data


def adapter_rank(peft: dict) -> int | None:
    """The largest rank any module has: `r`, or a larger one from `rank_pattern`."""
    ranks = [v for v in [peft.get("r"), *(peft.get("rank_pattern") or {}).values()] if isinstance(v, int)]
    return max(ranks) if ranks else None


def weight_modules(folder: Path, reasons: list[Unsuitable]) -> dict[str, set[str]]:
    """The modules the weight file holds tensors for: {"lora": LoRA-adapted module names, "full":
    modules saved whole (modules_to_save)}. Read from the safetensors header (no tensor is loaded);
    a pickled `adapter_model.bin` is not opened (its names stay unknown)."""
    found: dict[str, set[str]] = {"lora": set(), "full": set()}
    path = folder / SAFETENSORS
    if not path.exists():
        if not (folder / PICKLED).exists():
            reasons.append(Unsuitable("no_weights", f"neither {SAFETENSORS} nor {PICKLED} is in {folder}"))
        return found
    try:
        names = safetensors_names(path)
    except (OSError, ValueError) as exc:
        reasons.append(Unsuitable("no_weights", f"{path} is not a readable safetensors file: {exc}"))
        return found
    for key in names:
        parts = key.split(".")
        lora_at = next((i for i, part in enumerate(parts) if part.startswith("lora_")), None)
        if lora_at is not None and lora_at > 0:
            found["lora"].add(parts[lora_at - 1])
        else:
            module = [p for p in parts if p not in ("weight", "bias", "modules_to_save", "default") and not p.isdigit()]
            found["full"].add(module[-1] if module else key)
    return found


def safetensors_names(path: Path) -> list[str]:
    """Tensor names from a safetensors file's header (8 bytes of length, then JSON)."""
    with path.open("rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 0 < size < 100 * 2**20:
            raise ValueError(f"header length {size}")
        header = json.loads(f.read(size))
    return [k for k in header if k != "__metadata__"]


def unsuitable(peft: dict, weights: dict[str, set[str]], config: VllmExportConfig) -> list[Unsuitable]:
    """The reasons in `adapter_config.json` and the weight names, each property once."""
    reasons = []
    peft_type = str(peft.get("peft_type") or "")
    if peft_type.upper() != "LORA":
        reasons.append(Unsuitable("not_lora", f"peft_type is {peft_type or 'missing'}: vLLM loads LoRA adapters only"))
    targets = peft.get("target_modules")
    listed = set(targets) if isinstance(targets, list) else set()
    modules = listed | weights["lora"]
    embeddings = sorted(modules & set(EMBEDDING_MODULES))
    others = sorted(modules - set(VLLM_LORA_MODULES) - set(EMBEDDING_MODULES))
    if others:
        reasons.append(Unsuitable("unsupported_modules", f"LoRA on {', '.join(others)}: vLLM's LoRA layers cover "
                                                         f"{', '.join(VLLM_LORA_MODULES)} only"))
    if embeddings and not config.allow_embeddings:
        reasons.append(Unsuitable("embedding_modules", f"LoRA on {', '.join(embeddings)}: current vLLM releases do not load "
                                                       "LoRA on embeddings or the LM head (--allow-embeddings if yours does)"))
    rank = adapter_rank(peft)
    if rank is None:
        reasons.append(Unsuitable("no_rank", "adapter_config.json records no rank r"))
    elif rank > config.max_lora_rank:
        fits = next((r for r in VLLM_MAX_LORA_RANKS if r >= rank), None)
        advice = f"pass --max-lora-rank {fits}" if fits else f"vLLM's largest is {VLLM_MAX_LORA_RANKS[-1]}"
        reasons.append(Unsuitable("rank_too_high", f"rank {rank} exceeds --max-lora-rank {config.max_lora_rank} ({advice})"))
    saved = sorted(set(peft.get("modules_to_save") or []) | weights["full"])
    if saved:
        reasons.append(Unsuitable("modules_to_save", f"full weights of {', '.join(saved)} (modules_to_save): vLLM loads "
                                                     "LoRA matrices only"))
    if peft.get("use_dora"):
        reasons.append(Unsuitable("dora", "use_dora is set: vLLM does not load DoRA adapters"))
    if str(peft.get("bias") or "none") != "none":
        reasons.append(Unsuitable("bias", f"bias is {peft['bias']!r}: vLLM loads adapters without biases (bias 'none')"))
    problem = base_problem(peft.get("base_model_name_or_path"))
    if problem is not None:
        reasons.append(problem)
    return reasons


def base_problem(base: Any) -> Unsuitable | None:
    """The base vLLM is to load: a local checkpoint folder (with config.json) or a hub id (org/name)."""
    if not base or not isinstance(base, str):
        return Unsuitable("no_base", "adapter_config.json records no base_model_name_or_path: vLLM needs the base "
                                     "model the adapter was trained on")
    path = Path(base).expanduser()
    if path.is_dir():
        if (path / "config.json").exists():
            return None
        return Unsuitable("base_unresolvable", f"base {base} is a folder without config.json, not a checkpoint vLLM can load")
    looks_local = base.startswith(("/", ".", "~")) or base.count("/") != 1
    if looks_local:
        return Unsuitable("base_unresolvable", f"base {base} is neither a local checkpoint folder nor a hub id (org/name)")
    return None


def notes(folder: Path, meta: dict) -> list[str]:
    """What a client must know to ask the served adapter as sqltune does."""
    lines = [
        f"Send sqltune's prompts: the adapter learned the messages `sqltune.prompts.build_messages` builds (system "
        f"message, schema text pruned for the question, retrieved examples) with the settings in "
        f"{folder / 'sqltune_adapter.json'}; a bare question is not what it was trained on.",
        "Or let `sqltune serve --adapter NAME=DIR` build them: its OpenAI endpoint (/v1/chat/completions) takes the "
        "question as the last user message, and guards the SQL before answering.",
    ]
    if not meta:
        lines[0] = ("This folder has no sqltune_adapter.json: send the prompts it was trained with (sqltune's defaults "
                    "are `sqltune.prompts.PromptConfig`'s).")
    if meta.get("method") == "qlora":
        lines.append("Trained against the 4-bit NF4 base: vLLM applies it to the 16-bit base (answers can differ slightly, "
                     "as `sqltune merge`'s check measures); `--quantization bitsandbytes` quantises the base in vLLM.")
    if meta.get("completion_tokens_max"):
        lines.append(f"The longest SQL it was trained on had {meta['completion_tokens_max']} tokens: ask for max_tokens "
                     f"of about {2 * int(meta['completion_tokens_max'])}.")
    if meta.get("prompt", {}).get("dialect"):
        lines.append(f"It writes {meta['prompt']['dialect']} SQL.")
    return lines


def write_script(export: VllmExport, path: str | Path) -> Path:
    """The command as an executable shell script, the notes and prompt settings as comments above it."""
    path = Path(path)
    comments = [f"# {line}" for line in export.notes]
    if export.prompt:
        comments.append("# prompt settings: " + json.dumps(export.prompt, sort_keys=True))
    text = "\n".join(["#!/bin/sh", f"# Serve the sqltune adapter {export.name} with vLLM.", *comments,
                      "exec " + export.command_line(), ""])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    path.chmod(path.stat().st_mode | 0o111)
    return path
