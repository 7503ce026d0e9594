"""Configs: YAML -> dataclasses, unknown keys and wrong types rejected, dotted overrides."""

from __future__ import annotations

import pytest

from sqltune.core.config import from_dict, load_yaml
from sqltune.core.errors import ConfigError
from sqltune.training.train import TrainConfig


def test_yaml_with_nested_sections_and_overrides(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("max_steps: 5\nlora:\n  r: 8\nprompt:\n  max_schema_tokens: 300\n")
    config = load_yaml(TrainConfig, path, {"lora.alpha": 16, "batch_size": None, "learning_rate": 1e-3})
    assert config.max_steps == 5 and config.lora.r == 8 and config.lora.alpha == 16
    assert config.prompt.max_schema_tokens == 300 and config.learning_rate == 1e-3
    assert config.batch_size == TrainConfig().batch_size  # None overrides are skipped


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nope": 1}, "unknown key"),
        ({"max_steps": "ten"}, "expected int"),
        ({"lora": [1, 2]}, "expected a mapping"),
        ({"lora": {"target_modules": "q_proj"}}, "expected a list"),
    ],
)
def test_bad_values_are_rejected(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(TrainConfig, data)


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(TrainConfig, tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(TrainConfig, bad)


def test_recipe_train_section_loads_as_a_train_config(tmp_path):
    from sqltune.cli.train import load_train_config

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("out_dir: runs/x\ntrain:\n  max_steps: 7\n  lora:\n    r: 4\neval:\n  limit: 3\n")
    config = load_yaml(TrainConfig, recipe, {"batch_size": 2}, section="train")
    assert (config.max_steps, config.lora.r, config.batch_size) == (7, 4, 2)
    # A plain train config is read as it is, and the shipped recipe by name.
    plain = tmp_path / "plain.yaml"
    plain.write_text("max_steps: 3\n")
    assert load_yaml(TrainConfig, plain, section="train").max_steps == 3
    shipped = load_train_config("harbor-cpu", {"output_dir": str(tmp_path / "a")})  # YAML keys are field names
    assert shipped.time_budget == "15m" and shipped.max_steps == -1 and shipped.output_dir == str(tmp_path / "a")


def test_time_budget_and_less_work_options_are_settings(tmp_path):
    from sqltune.core.config import settings_of
    from sqltune.prompts import PromptConfig

    flags = {s.flag: s for s in settings_of(TrainConfig)}
    assert "--time-budget" in flags and "--lora-top-layers" in flags and "--gradient-checkpointing" in flags
    assert "none" in flags["--prompt-schema-style"].choices
    path = tmp_path / "t.yaml"
    path.write_text("time_budget: 15m\nlora:\n  top_layers: 8\nprompt:\n  schema_style: none\n")
    config = load_yaml(TrainConfig, path)
    assert (config.time_budget, config.lora.top_layers, config.prompt.schema_style) == ("15m", 8, "none")
    assert not config.prompt.shows_schema and PromptConfig().shows_schema
    path.write_text("time_budget: soon\n")
    with pytest.raises(ConfigError, match="duration"):
        load_yaml(TrainConfig, path)
    with pytest.raises(ConfigError, match="schema_style"):
        from_dict(TrainConfig, {"prompt": {"schema_style": "poetry"}})
