"""Command-line options derived from config dataclasses, so each setting is declared once.

    @config_options(TrainConfig)
    def train(config_file: Path = typer.Argument(None), *, overrides: dict) -> None:
        cfg = load_config(TrainConfig, config_file, overrides)

adds one typer option per (nested) field of `TrainConfig` (help, default, choices and bounds from
the field's `setting(...)`), and hands the command the values the user gave as `overrides`
(dotted paths, e.g. {"lora.r": 8}); options left out are not in it, so a YAML file's values stand.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import typer

from sqltune.core.config import SettingInfo, settings_of

_SCALARS = (str, int, float, bool, Path)
_PREFIX = "cfg__"


def _param_name(info: SettingInfo) -> str:
    return _PREFIX + info.path.replace(".", "__")


def _show_default(info: SettingInfo) -> str | bool:
    if info.default is None or info.default is dataclasses.MISSING:
        return False
    if isinstance(info.default, bool):
        flag = info.flag.removeprefix("--")
        return flag if info.default else f"no-{flag}"
    if isinstance(info.default, (list, tuple)):
        return ", ".join(map(str, info.default)) or False
    return str(info.default)


@functools.cache
def _choice_enum(path: str, choices: tuple[str, ...]) -> type[enum.Enum]:
    name = "".join(part.title() for part in path.replace(".", "_").split("_")) + "Choice"
    return enum.Enum(name, [(c, c) for c in choices], type=str)  # type: ignore[return-value]


def _parameter(info: SettingInfo, panel: str | None) -> inspect.Parameter | None:
    tp = info.type
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (str,)
        if inner not in _SCALARS:
            return None
        annotation: Any = list[inner]  # type: ignore[valid-type]
        decls = [info.flag]
    elif tp in _SCALARS:
        annotation = tp
        decls = [f"{info.flag}/--no-{info.flag.removeprefix('--')}"] if tp is bool else [info.flag]
        if info.choices and tp is str:
            annotation = _choice_enum(info.path, info.choices)
    else:
        return None
    option = typer.Option(
        None, *decls, help=info.help, show_default=_show_default(info), min=info.min, max=info.max,
        rich_help_panel=panel,
    )
    return inspect.Parameter(_param_name(info), inspect.Parameter.KEYWORD_ONLY, default=option,
                             annotation=typing.Optional[annotation])


def _value(raw: Any, info: SettingInfo) -> Any:
    if isinstance(raw, enum.Enum):
        return raw.value
    if isinstance(raw, Path):
        return str(raw)
    if isinstance(raw, (list, tuple)):
        return [str(v) if isinstance(v, Path) else v for v in raw] or None
    return raw


def config_options(cls: type, *, exclude: Iterable[str] = (), only: Iterable[str] | None = None,
                   panels: dict[str, str] | None = None, field_panels: dict[str, str] | None = None,
                   prefix: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command: add an option per setting of `cls` (but `exclude`d dotted paths;
    with `only`, just those), and call the command with `overrides={path: value}` for the options
    the user gave.

    panels: help section title per nested section ("lora" -> "LoRA"); top-level ones go under the
    command's own options. field_panels: a section title per setting (dotted path), over `panels`.
    prefix: a dotted path prepended to every override (a nested section of a bigger config, e.g.
    "train." when the command configures PipelineConfig.train).
    """
    excluded = set(exclude)
    kept_only = set(only) if only is not None else None
    panels = panels or {}
    field_panels = field_panels or {}
    unknown = (set(field_panels) | (kept_only or set())) - {i.path for i in settings_of(cls)}
    if unknown:
        raise TypeError(f"field_panels or only names no setting of {cls.__name__}: {sorted(unknown)}")

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        infos = [i for i in settings_of(cls) if i.path not in excluded and not any(i.path.startswith(e + ".") for e in excluded)
                 and (kept_only is None or i.path in kept_only)]
        params, kept = [], []
        for info in infos:
            panel = field_panels.get(info.path) or panels.get(info.section, info.section.title() if info.section else None)
            param = _parameter(info, panel)
            if param is not None:
                params.append(param)
                kept.append(info)
        signature = inspect.signature(func)
        hints = typing.get_type_hints(func)
        own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values() if p.name != "overrides"]
        clash = {p.name for p in own} & {p.name for p in params}
        if clash:
            raise TypeError(f"{func.__name__}: parameters clash with config options: {sorted(clash)}")

        def command(*args: Any, **kwargs: Any) -> Any:
            overrides = {}
            for info in kept:
                raw = kwargs.pop(_param_name(info), None)
                if raw is not None:
                    overrides[prefix + info.path] = _value(raw, info)
            return func(*args, overrides=overrides, **kwargs)

        command.__signature__ = signature.replace(parameters=[*own, *params])  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in [*own, *params]}
        for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(command, attr, getattr(func, attr))
        return command

    return decorate


def parse_set_options(items: Iterable[str]) -> dict[str, Any]:
    """`--set a.b=VALUE` options as dotted overrides; VALUE is read as YAML (numbers, true/false, lists).
    Types and allowed values are then checked by the config loader like any YAML value."""
    import yaml

    from sqltune.core.errors import ConfigError

    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key.strip()}: value is not valid YAML: {exc}") from None
    return overrides


# -- one vocabulary across commands: --db, --data, --exec-workers (old spellings kept, hidden) ------------------
class MissingOption(typer.BadParameter):
    """A required option left out: the parser's own usage error (usage line, hint, one error line, exit 2),
    for options a command checks itself (an option that also has an old positional spelling)."""

    def __init__(self, flag: str) -> None:
        super().__init__("", param_hint=f"'{flag}'")
        self.flag = flag

    def format_message(self) -> str:
        return f"Missing option '{self.flag}'."


def option_or_positional(value: Any, positional: Any, flag: str, *, required: bool = True) -> Any:
    """The value of `flag`, or of the positional argument it replaces (still accepted, hidden from
    help). Given both ways with different values: a usage error; neither (and required): `MissingOption`."""
    if value is not None and positional is not None and str(value) != str(positional):
        raise typer.BadParameter(f"given twice with different values ({positional} and {value})", param_hint=f"'{flag}'")
    chosen = value if value is not None else positional
    if chosen is None and required:
        raise MissingOption(flag)
    return chosen


def exec_workers(value: int | None, old: int | None, default: int = 2) -> int:
    """--exec-workers, or its old spelling --workers (hidden), else `default`."""
    chosen = option_or_positional(value, old, "--exec-workers", required=False)
    return default if chosen is None else chosen
