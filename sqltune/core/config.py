"""Settings are declared once: a dataclass field made with `setting(...)` carries its default, its
help text, its allowed values and its command-line flag. YAML files load into the same dataclasses
(`load_yaml`, `from_dict`: unknown keys, wrong types, values outside the allowed set or range are
errors), and the CLI derives its options from the fields (`sqltune.cli.options`), so a flag cannot
drift from its field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from sqltune.core.errors import ConfigError

T = TypeVar("T")
_MISSING: Any = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    *,
    help: str,
    default_factory: Any = _MISSING,
    choices: Sequence[str] | None = None,
    flag: str | None = None,
    min: float | None = None,
    max: float | None = None,
    cli: bool = True,
) -> Any:
    """A dataclass field with its documentation and constraints.

    help: one sentence for `--help` and the docs. choices: the allowed values (checked on load).
    flag: the command-line spelling when it differs from the field name (`--data` for `train_file`).
    min/max: inclusive bounds for numbers. cli: False keeps a field out of the command line (YAML only).
    """
    metadata = {"help": help, "choices": tuple(choices) if choices else None, "flag": flag, "min": min, "max": max, "cli": cli}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class SettingInfo:
    """One (possibly nested) setting of a config class, as the CLI and docs see it."""

    path: str  # dotted: "lora.r"
    type: Any  # the field's type with Optional removed
    optional: bool  # None is an allowed value
    default: Any
    help: str
    choices: tuple[str, ...] | None
    flag: str  # "--lora-r"
    min: float | None
    max: float | None
    section: str  # the nested dataclass it belongs to ("" for top level)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(typing.get_args(tp)) > 1
    return tp, False


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return _MISSING


def settings_of(cls: type, *, prefix: str = "", section: str = "") -> Iterator[SettingInfo]:
    """Every leaf setting of `cls`, nested dataclasses flattened (`lora.r` -> flag `--lora-r`)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, optional = _strip_optional(hints[f.name])
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            yield from settings_of(tp, prefix=f"{path}.", section=path)
            continue
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        flag = meta.get("flag") or "--" + path.replace(".", "-").replace("_", "-")
        yield SettingInfo(path=path, type=tp, optional=optional, default=_default_of(f), help=meta.get("help", ""),
                          choices=meta.get("choices"), flag=flag, min=meta.get("min"), max=meta.get("max"), section=section)


def _check_constraints(f: dataclasses.Field, value: Any, where: str) -> None:
    if value is None:
        return
    meta = f.metadata
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(str, choices))}")
    low, high = meta.get("min"), meta.get("max")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if low is not None and value < low:
            raise ConfigError(f"{where}: {value!r} is below the minimum {low:g}")
        if high is not None and value > high:
            raise ConfigError(f"{where}: {value!r} is above the maximum {high:g}")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if value is None:
        return None
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(args[0], value, where) if len(args) == 1 else value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (inner, *_) = typing.get_args(tp) or (Any,)
        items = [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass `cls` from a mapping, rejecting unknown keys, wrong types and disallowed values."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(fields)}")
    kwargs = {}
    for key, value in data.items():
        value = _coerce(hints[key], value, f"{where}.{key}")
        _check_constraints(fields[key], value, f"{where}.{key}")
        kwargs[key] = value
    return cls(**kwargs)


def apply_overrides(data: dict, overrides: dict | None) -> dict:
    """`data` with dotted-key `overrides` set in place (None values skipped)."""
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            child = node.get(p)
            if not isinstance(child, dict):
                child = node[p] = {}
            node = child
        node[leaf] = value
    return data


def read_yaml(path: str | Path) -> dict:
    """A YAML file whose top level is a mapping (empty file: {})."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def load_yaml(cls: type[T], path: str | Path, overrides: dict | None = None, *, section: str | None = None) -> T:
    """Load `cls` from a YAML file, then apply `overrides` (dotted keys allowed, None skipped).

    section: when the file's top level has this key as a mapping (a whole-pipeline recipe), load
    `cls` from that part; a file that is `cls` itself loads as it is."""
    data = read_yaml(path)
    if section and isinstance(data.get(section), dict) and section not in {f.name for f in dataclasses.fields(cls)}:
        data = data[section]
    return from_dict(cls, apply_overrides(data, overrides), str(path))


def load_config(cls: type[T], path: str | Path | None = None, overrides: dict | None = None, *, section: str | None = None) -> T:
    """`cls` from a YAML file when given, else from its defaults; then the dotted `overrides`."""
    if path is None:
        return from_dict(cls, apply_overrides({}, overrides), "options")
    return load_yaml(cls, path, overrides, section=section)


def to_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)
