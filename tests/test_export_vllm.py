"""`sqltune export vllm`: sqltune's own adapters suit vLLM's LoRA loader; a crafted adapter gets every
reason it does not, at once."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from sqltune.cli import main
from sqltune.export.vllm import VllmExportConfig, check_for_vllm, safetensors_names


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    """A QLoRA adapter of the tiny model, trained two steps by sqltune."""
    import duckdb
    from conftest import TINY_DDL, TINY_PAIRS

    from sqltune.training.train import LoraSettings, TrainConfig, train

    root = tmp_path_factory.mktemp("export")
    warehouse = root / "tiny.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(TINY_DDL)
    pairs = root / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"question": q, "sql": s}) + "\n" for q, s in TINY_PAIRS))
    config = TrainConfig(base=str(tiny_model_dir), train_file=str(pairs), db=str(warehouse), output_dir=str(root / "harbor"),
                         max_steps=2, batch_size=4, eval_fraction=0.0, step0_check=False, register=False,
                         lora=LoraSettings(r=16, alpha=32, dropout=0.0))
    return train(config).adapter_dir


def test_a_sqltune_adapter_suits_vllm_and_gets_its_command(trained, tiny_model_dir, tmp_path, capsys):
    export = check_for_vllm(VllmExportConfig(adapter=str(trained)))
    assert export.ok, export.reasons
    assert export.command == ["vllm", "serve", str(tiny_model_dir), "--enable-lora", "--lora-modules",
                              f"harbor={trained.resolve()}", "--max-lora-rank", "16"]
    assert export.prompt["schema_style"] == "ddl" and export.prompt["dialect"] == "duckdb"

    script = tmp_path / "serve-vllm.sh"
    code = main(["export", "vllm", "--adapter", str(trained), "--name", "sales", "--out", str(script)])
    out = capsys.readouterr().out
    assert code == 0, out
    line = out.splitlines()[0]
    assert shlex.split(line) == ["vllm", "serve", str(tiny_model_dir), "--enable-lora", "--lora-modules",
                                 f"sales={trained.resolve()}", "--max-lora-rank", "16"]
    # the client must send sqltune's prompts: where their settings are, and the endpoint that builds them
    assert "sqltune_adapter.json" in out and "/v1/chat/completions" in out and '"schema_style": "ddl"' in out
    text = script.read_text()
    assert text.startswith("#!/bin/sh") and text.rstrip().splitlines()[-1] == "exec " + line
    assert script.stat().st_mode & 0o100


def _crafted(folder: Path, config: dict, tensors: list[str]) -> Path:
    """An adapter folder with this adapter_config.json and a safetensors file holding (empty) `tensors`."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps(config))
    header = json.dumps({name: {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for name in tensors}).encode()
    (folder / "adapter_model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    return folder


GOOD = {"peft_type": "LORA", "r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "v_proj"], "bias": "none",
        "modules_to_save": None, "use_dora": False}
LAYER = "base_model.model.model.layers.0"
GOOD_TENSORS = [f"{LAYER}.self_attn.{m}.lora_{ab}.weight" for m in ("q_proj", "v_proj") for ab in "AB"]

# one bad property each: (change to adapter_config.json, extra tensors, the reason's code, words of its message)
BAD = {
    "not_lora": ({"peft_type": "IA3"}, [], "peft_type is IA3"),
    "unsupported_modules": ({"target_modules": ["q_proj", "v_proj", "fc_in"]}, [f"{LAYER}.mlp.fc_in.lora_A.weight"], "fc_in"),
    "embedding_modules": ({"target_modules": ["q_proj", "v_proj", "embed_tokens", "lm_head"]},
                          ["base_model.model.model.embed_tokens.lora_embedding_A", "base_model.model.lm_head.lora_A.weight"],
                          "embed_tokens, lm_head"),
    "rank_too_high": ({"r": 64}, [], "rank 64 exceeds --max-lora-rank 16 (pass --max-lora-rank 64)"),
    "modules_to_save": ({"modules_to_save": ["score"]}, ["base_model.model.lm_head.modules_to_save.default.weight"], "lm_head, score"),
    "dora": ({"use_dora": True}, [], "DoRA"),
    "bias": ({"bias": "lora_only"}, [], "'lora_only'"),
    "no_base": ({"base_model_name_or_path": None}, [], "no base_model_name_or_path"),
}


@pytest.mark.parametrize("code", list(BAD))
def test_each_bad_property_gets_its_reason(tmp_path, tiny_model_dir, code):
    change, tensors, words = BAD[code]
    folder = _crafted(tmp_path / "adapter", {**GOOD, "base_model_name_or_path": str(tiny_model_dir), **change},
                      GOOD_TENSORS + tensors)
    reasons = check_for_vllm(VllmExportConfig(adapter=str(folder))).reasons
    assert [r.code for r in reasons] == [code], reasons
    assert words in reasons[0].message


def test_every_reason_is_named_at_once_and_the_command_refuses(tmp_path, capsys):
    config = dict(GOOD, base_model_name_or_path=str(tmp_path / "no-such-base"))
    extra = []
    for change, tensors, _ in BAD.values():
        if "base_model_name_or_path" not in change:
            config.update({k: v for k, v in change.items() if k != "target_modules"})
            extra += tensors
    config["target_modules"] = ["q_proj", "v_proj", "fc_in", "embed_tokens", "lm_head"]
    config["peft_type"] = "IA3"
    folder = _crafted(tmp_path / "bad", config, GOOD_TENSORS + extra)
    export = check_for_vllm(VllmExportConfig(adapter=str(folder)))
    expected = {"not_lora", "unsupported_modules", "embedding_modules", "rank_too_high", "modules_to_save", "dora", "bias",
                "base_unresolvable"}
    assert {r.code for r in export.reasons} == expected and not export.command

    code = main(["export", "vllm", "--adapter", str(folder)])
    out = capsys.readouterr().out
    assert code == 1
    assert "vllm serve" not in out
    for reason in export.reasons:
        assert f"[{reason.code}]" in out


def test_limits_the_user_chooses(tmp_path, tiny_model_dir, capsys):
    folder = _crafted(tmp_path / "adapter", {**GOOD, "r": 64, "base_model_name_or_path": str(tiny_model_dir)}, GOOD_TENSORS)
    assert check_for_vllm(VllmExportConfig(adapter=str(folder), max_lora_rank=64)).ok
    code = main(["export", "vllm", "--adapter", str(folder), "--max-lora-rank", "48"])
    assert code == 1 and "vLLM accepts 8, 16, 32" in capsys.readouterr().err
    embedded = _crafted(tmp_path / "embedded", {**GOOD, "target_modules": ["q_proj", "v_proj", "lm_head"],
                                                "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"}, GOOD_TENSORS)
    assert check_for_vllm(VllmExportConfig(adapter=str(embedded), allow_embeddings=True)).ok  # a hub id is a base vLLM finds


def test_the_weight_names_come_from_the_header_alone(tmp_path):
    folder = _crafted(tmp_path / "a", GOOD, GOOD_TENSORS)
    assert safetensors_names(folder / "adapter_model.safetensors") == GOOD_TENSORS
    (folder / "adapter_model.safetensors").write_bytes(b"\xff" * 16)
    reasons = check_for_vllm(VllmExportConfig(adapter=str(folder))).reasons
    assert "no_weights" in {r.code for r in reasons}
