"""`sqltune --help` and every `sqltune <command> --help` answer without importing FastAPI, torch,
sqlglot or transformers (each command imports what it needs when it runs), and the root's list of
commands agrees with the commands themselves."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main

from sqltune.cli import COMMANDS, app
from sqltune.cli.help import sectioned

HEAVY = ("fastapi", "torch", "sqlglot", "transformers")
ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter: `--help` of the root and of every command and subcommand, in turn; after
# each, the heavy modules loaded so far (so the first command that pulls one in is the one named).
HELP_SCRIPT = r"""
import json, sys
import typer.main
from typer.testing import CliRunner
from sqltune.cli import COMMANDS, app

HEAVY = %r
only = sys.argv[1:]
runner = CliRunner()
root = typer.main.get_command(app)
report = {}

def check(path):
    result = runner.invoke(app, [*path, "--help"])
    report[" ".join(path) or "--help"] = {"exit": result.exit_code, "usage": "Usage:" in result.output,
                                          "heavy": [m for m in HEAVY if m in sys.modules]}

if not only:
    check([])
for name in only or [n for n in COMMANDS if n != "serve"]:
    check([name])
    for sub in getattr(root.get_command(None, name), "commands", {}):
        check([name, sub])
print(json.dumps(report))
""" % (HEAVY,)


def _help_report(*commands: str) -> dict:
    out = subprocess.run([sys.executable, "-c", HELP_SCRIPT, *commands], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_of_every_command_imports_no_heavy_library():
    report = _help_report()
    assert len(report) > len(COMMANDS)  # the root, every command but serve, and the subcommands
    for path, seen in report.items():
        assert seen["exit"] == 0 and seen["usage"], (path, seen)
        assert seen["heavy"] == [], f"`sqltune {path}` imported {seen['heavy']}"


def test_serve_help_imports_no_heavy_library():
    seen = _help_report("serve")["serve"]
    assert seen["exit"] == 0 and seen["heavy"] == [], seen


def test_the_root_lists_every_command_with_its_own_summary():
    root = typer.main.get_command(app)
    registered: dict[str, str] = {}
    for module in dict.fromkeys(entry.module for entry in COMMANDS.values()):
        stage = typer.Typer()
        importlib.import_module(f"sqltune.cli.{module}").register(stage)
        for name in typer.main.get_group(sectioned(stage)).commands:
            registered[name] = module
    assert registered == {name: entry.module for name, entry in COMMANDS.items()}
    for name, entry in COMMANDS.items():
        command = root.get_command(None, name)
        assert " ".join((command.help or "").split()).startswith(entry.summary), name
        assert command.rich_help_panel == entry.panel


def test_help_is_grouped_in_sections():
    from typer.testing import CliRunner

    runner = CliRunner()
    root_help = runner.invoke(app, ["--help"]).output
    for panel in dict.fromkeys(entry.panel for entry in COMMANDS.values()):
        assert f"\n{panel}:\n" in root_help, panel
    train_help = runner.invoke(app, ["train", "--help"]).output
    for section in ("Options", "Quantisation", "LoRA", "Prompt", "Schedule and time budget", "Optimisation",
                    "Speed and memory", "Checks"):
        assert f"\n{section}:\n" in train_help, section
    schedule = train_help.split("\nSchedule and time budget:\n", 1)[1].split("\n\n", 1)[0]
    assert "--time-budget" in schedule and "--lora-r" not in schedule
    score_help = runner.invoke(app, ["eval", "score", "--help"]).output
    assert "\nMatch rules:\n" in score_help


def test_an_unknown_command_suggests_the_closest():
    from sqltune.cli import main

    out = subprocess.run([sys.executable, "-m", "sqltune", "tran"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 2 and "No such command 'tran'. Did you mean 'train'?" in out.stderr, out.stderr
    assert main(["--version"]) == 0
