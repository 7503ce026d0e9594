"""Help in sections: each option is listed under its `rich_help_panel` ("LoRA", "Prompt", ...).

click's plain layout, one section per panel: nothing is cut at 80 columns or in a log file (typer's
rich tables cut long option names and help words there), and usage errors stay click's three lines.
`sectioned(app)` gives every command and group of a typer app this help.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import DefaultPlaceholder

ARGUMENTS = "Arguments"
OPTIONS = "Options"


def format_sections(command: Any, ctx: Any, formatter: Any) -> None:
    """Arguments, then the options without a panel, then each panel in the order its first option comes."""
    sections: dict[str, list[tuple[str, str]]] = {ARGUMENTS: [], OPTIONS: []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        default = ARGUMENTS if param.param_type_name == "argument" else OPTIONS
        sections.setdefault(getattr(param, "rich_help_panel", None) or default, []).append(record)
    for title, rows in sections.items():
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)


class SectionedCommand(TyperCommand):
    def format_options(self, ctx: Any, formatter: Any) -> None:
        format_sections(self, ctx, formatter)


class SectionedGroup(TyperGroup):
    def format_options(self, ctx: Any, formatter: Any) -> None:
        format_sections(self, ctx, formatter)
        self.format_commands(ctx, formatter)


def sectioned(app: typer.Typer) -> typer.Typer:
    """Every command and sub-app of `app` (registered so far, at any depth) gets sectioned help,
    unless it names its own class."""
    for info in app.registered_commands:
        if _unset(info.cls):
            info.cls = SectionedCommand
    for group in app.registered_groups:  # the TyperInfo of `add_typer`, whose values come first
        sub = group.typer_instance
        if sub is not None:
            if _unset(group.cls) and _unset(sub.info.cls):
                group.cls = SectionedGroup
            sectioned(sub)
    return app


def _unset(value: Any) -> bool:
    """No class chosen: left out, or typer's own default."""
    return value is None or value is TyperCommand or value is TyperGroup or isinstance(value, DefaultPlaceholder)
