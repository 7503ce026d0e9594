"""The adapter folder and its base, and the merge arithmetic: W (original or NF4-dequantised) + BA in fp32."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqltune.core.errors import ModelError
from sqltune.inference.adapter import read_example_index, read_meta, read_prompt_config
from sqltune.inference.models import QuantConfig, load_model, resolve_base
from sqltune.prompts import PromptConfig


@dataclass
class AdapterInfo:
    """What merging needs to know about an adapter folder, read once."""

    dir: Path
    base_name: str  # as recorded or given ('default', a path, a hub id)
    base_path: str  # resolved
    trained_on: str  # nf4 | 16-bit | unknown
    quant: QuantConfig
    prompt: PromptConfig
    peft_config: dict
    run: dict  # run.json, {} when absent
    examples: Any = None  # the ExampleIndex its prompts retrieve from (None: no retrieved examples)


def read_adapter(adapter_dir: str | Path, base: str | None = None) -> AdapterInfo:
    """Check the folder is a PEFT adapter and find its base, training quantisation and prompt settings."""
    folder = Path(adapter_dir)
    if not folder.is_dir():
        raise ModelError(f"adapter folder not found: {folder}")
    config_path = folder / "adapter_config.json"
    if not config_path.exists():
        raise ModelError(f"{folder} is not a PEFT adapter folder (no adapter_config.json)")
    peft_config = _read_json(config_path)
    if not any((folder / name).exists() for name in ("adapter_model.safetensors", "adapter_model.bin")):
        raise ModelError(f"{folder} has no adapter weights (adapter_model.safetensors)")
    meta = read_meta(folder) or {}
    run = _read_json(folder / "run.json") if (folder / "run.json").exists() else {}

    candidates = [base] if base else [meta.get("base_model"), run.get("base_path"), peft_config.get("base_model_name_or_path")]
    base_name, base_path = _resolve_first([c for c in candidates if c], folder)

    method = meta.get("method") or run.get("method")
    trained_on = {"qlora": "nf4", "lora": "16-bit"}.get(method or "", "unknown")
    quant = QuantConfig()
    if run.get("quant_config"):
        from sqltune.core.config import from_dict

        quant = from_dict(QuantConfig, run["quant_config"], f"{folder / 'run.json'}: quant_config")
    return AdapterInfo(
        dir=folder,
        base_name=base_name,
        base_path=base_path,
        trained_on=trained_on,
        quant=quant,
        prompt=read_prompt_config(folder) or PromptConfig(),
        peft_config=peft_config,
        run=run,
        examples=read_example_index(folder),
    )


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def _resolve_first(candidates: list[str], folder: Path) -> tuple[str, str]:
    if not candidates:
        raise ModelError(f"{folder}: no base model recorded; pass --base")
    errors = []
    for name in candidates:
        try:
            return name, resolve_base(name)
        except ModelError as exc:
            errors.append(str(exc))
    if len(candidates) == 1:
        raise ModelError(errors[0])
    raise ModelError(f"{folder}: none of the recorded base models can be found ({'; '.join(errors)}); pass --base")


def nf4_weights(nf4_model: Any) -> dict[str, Any]:
    """The dequantised weight of every 4-bit linear layer, by module name: the numbers the model
    computes with, in its compute dtype."""
    import bitsandbytes as bnb

    weights = {}
    for name, module in nf4_model.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            weights[name] = bnb.functional.dequantize_4bit(module.weight.data, module.weight.quant_state).detach().cpu()
    if not weights:
        raise ModelError("the 4-bit load has no NF4 linear layers to dequantise")
    return weights


def unmerged(base_path: str, adapter_dir: Path, weights: dict[str, Any] | None = None) -> Any:
    """The fp32 base (optionally with `weights` swapped in) with the adapter attached, unmerged."""
    import torch

    model = load_model(base_path, dtype=torch.float32)
    if weights:
        for name, weight in weights.items():
            target = model.get_submodule(name).weight
            if target.shape != weight.shape:
                raise ModelError(f"{name}: NF4 weight shape {tuple(weight.shape)} != base {tuple(target.shape)}")
            with torch.no_grad():
                target.copy_(weight.to(torch.float32))
    return attach(model, adapter_dir)


def merge_into(base_path: str, adapter_dir: Path, dtype: Any, weights: dict[str, Any] | None = None) -> Any:
    """Base (fp32, optionally with `weights` swapped in) + adapter, merged in fp32, rounded once to `dtype`."""
    merged = unmerged(base_path, adapter_dir, weights).merge_and_unload(safe_merge=True)
    return merged.to(dtype).eval()


def attach(model: Any, adapter_dir: Path) -> Any:
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(adapter_dir)).eval()
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"adapter {adapter_dir} does not fit the base model: {first}") from None


