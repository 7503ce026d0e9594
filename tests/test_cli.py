"""The CLI shell: every pipeline command is listed; user errors are one line, no traceback."""

from __future__ import annotations

import subprocess
import sys


def sqltune(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sqltune", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_the_pipeline():
    out = sqltune("--help")
    assert out.returncode == 0
    for command in ("fixture", "schema", "data", "model", "plan", "train", "registry", "eval", "merge", "serve", "run"):
        assert command in out.stdout, command


def test_bad_config_is_one_clean_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("base: x\nbogus: [1]\n")
    out = sqltune("train", str(config))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0
    assert "unknown key(s) ['bogus']" in out.stderr and str(config) in out.stderr


def test_missing_files_name_the_source(tmp_path):
    out = sqltune("eval", "--model", "default", "--data", str(tmp_path / "none.jsonl"), "--db", str(tmp_path / "none.duckdb"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "none.jsonl" in out.stderr or "none.duckdb" in out.stderr
