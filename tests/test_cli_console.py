"""The CLI's console: where the output is a log file, lines stay whole (Rich alone wraps at 80)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sqltune.cli.console import LOG_WIDTH, CliConsole

LINE = "plan: time budget 15m00s: 2.95 s/step measured -> 296 steps = 1,184 pairs = 0.30 epochs of 3,907; " \
       "held-out loss every 74 steps; training ends at about 14m32s"


def printed(console_type, **kwargs) -> str:
    out = io.StringIO()
    console_type(file=out, **kwargs).print(LINE, highlight=False)
    return out.getvalue()


def test_a_log_file_keeps_a_long_line_whole(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert len(LINE) > 80
    assert printed(CliConsole).splitlines() == [LINE]
    assert len(printed(Console).splitlines()) > 1  # what the logs had: the line cut at 80 columns


def test_a_table_in_a_log_file_is_not_squeezed(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    table = Table("form", "execution accuracy (EX)", "executable rate", "exact match (Spider components)", "categories")
    table.add_row("qlora-adapter", "72.1%", "99.6%", "77.6%", "wrong_table 39, wrong_date_filter 20")
    out = io.StringIO()
    CliConsole(file=out).print(table)
    assert "wrong_table 39, wrong_date_filter 20" in out.getvalue()
    assert max(len(line) for line in out.getvalue().splitlines()) <= LOG_WIDTH


def test_columns_and_a_chosen_width_still_decide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    assert len(printed(CliConsole).splitlines()) > 1
    monkeypatch.delenv("COLUMNS")
    assert len(printed(CliConsole, width=50).splitlines()) > 1


def test_every_cli_console_is_the_log_friendly_one():
    cli = Path(__file__).resolve().parents[1] / "sqltune" / "cli"
    bare = [f"{path.name}:{n}" for path in sorted(cli.glob("*.py")) if path.name != "console.py"
            for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"(?<![\w.])Console\(", line)]
    assert bare == []
