"""The CLI shell: every pipeline command is listed; user errors are one line, no traceback."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


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


# -- usage and library errors through the real console script ----------------------------------------
def console_script(*args: str) -> subprocess.CompletedProcess:
    """The installed `sqltune` entry point (the venv's script), running this checkout's package."""
    import os
    from pathlib import Path

    script = Path(sys.executable).with_name("sqltune")
    if not script.exists():
        return sqltune(*args)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120, env=env)


def _usage_error(out: subprocess.CompletedProcess, needle: str) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("Usage: sqltune") and lines[1].startswith("Try 'sqltune")
    assert len(lines) == 3 and lines[2].startswith("Error:") and needle in lines[2], out.stderr


def test_usage_errors_through_the_console_script(tmp_path):
    _usage_error(console_script("train", "--bogus"), "No such option: --bogus")
    _usage_error(console_script("eval", "score", "--data", "x.jsonl", "--db", "x.duckdb"), "Missing option '--pred'")
    _usage_error(console_script("schema", "show"), "Missing option '--db'")
    _usage_error(console_script("train", "--lora-r", "0"), "--lora-r")  # out of range
    _usage_error(console_script("train", "--method", "sideways"), "'sideways' is not one of")  # bad choice
    _usage_error(console_script("data", "split", "x.jsonl", "--out", "o", "--test-fraction", "abc"), "--test-fraction")
    version = console_script("--version")
    assert version.returncode == 0 and version.stdout.startswith("sqltune ")


def _library_error(out: subprocess.CompletedProcess, needle: str, code: int = 1) -> None:
    assert out.returncode == code, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error: ") and needle in out.stderr, out.stderr


def test_library_errors_are_one_line(tmp_path):
    _library_error(console_script("train", "--data", str(tmp_path / "none.jsonl")), "--db", 2)  # required input missing: 2, as usage errors
    _library_error(console_script("schema", "show", str(tmp_path / "none.duckdb")), "none.duckdb")  # missing file
    bad_db = tmp_path / "junk.duckdb"
    bad_db.write_bytes(b"not a database at all" * 10)
    _library_error(console_script("schema", "show", str(bad_db)), "junk.duckdb")  # not a database
    _library_error(console_script("schema", "show", "postgres://u:hunter2@127.0.0.1:1/db", "--timeout", "2"), "u:***@")
    _library_error(console_script("schema", "show", "env:SQLTUNE_TEST_UNSET_VARIABLE"), "is not set")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    _library_error(console_script("data", "split", str(empty), "--out", str(tmp_path / "s")), "no question/SQL pairs")


def test_eval_progress_in_a_log_file_is_plain_lines_with_time_left():
    import io

    from rich.console import Console

    from sqltune.cli.evaluate import PlainProgress

    buffer = io.StringIO()
    lines = PlainProgress(Console(file=buffer, width=200), every_s=0.0)
    for done in range(0, 5):
        lines("adapter", done, 4)
    text = buffer.getvalue()
    assert "\r" not in text
    assert "adapter: 2/4" in text and "s a question" in text and "left" in text
    assert text.strip().splitlines()[-1].startswith("adapter: 4/4")
    quiet = io.StringIO()
    throttled = PlainProgress(Console(file=quiet, width=200), every_s=3600.0)
    for done in range(0, 4):
        throttled("adapter", done, 10)
    assert quiet.getvalue().count("\n") <= 1  # at most one line an hour, until the label finishes


# -- logs ------------------------------------------------------------------------------------------
def test_a_training_run_logged_to_a_file_writes_no_carriage_return(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    """Output sent to a file gets plain stage lines: no tqdm bar of transformers ("Loading weights")
    or datasets ("Building labels", "Truncating eval dataset") redrawn with carriage returns."""
    import os

    from sqltune.core.progress import _ENVIRONMENT

    env = {k: v for k, v in os.environ.items() if k not in _ENVIRONMENT}  # as a fresh shell has it
    log = tmp_path / "train.log"
    with log.open("w") as handle:
        out = subprocess.run(
            [sys.executable, "-m", "sqltune", "train", "--model", str(tiny_model_dir), "--data", str(tiny_pairs_file),
             "--db", str(tiny_warehouse), "--out", str(tmp_path / "adapter"), "--max-steps", "1", "--batch-size", "4",
             "--eval-fraction", "0.2"],
            stdout=handle, stderr=subprocess.STDOUT, timeout=600, env=env,
        )
    text = log.read_bytes().decode()  # not read_text: universal newlines would turn "\r" into "\n"
    assert out.returncode == 0, text
    assert "stage: loading the model" in text and "stage: training" in text
    assert "stage: step-0 check (ETA ~" in text  # its own stage, its ETA from the pairs it reads (issue 28)
    assert "\r" not in text, [line for line in text.split("\n") if "\r" in line][:3]


@pytest.mark.slow
def test_the_gguf_conversion_logged_to_a_file_writes_no_carriage_return(tmp_path):
    """`sqltune model import-default` converts the embedded GGUF (transformers draws a plain tqdm bar)."""
    import os

    from sqltune.core.progress import _ENVIRONMENT

    env = {k: v for k, v in os.environ.items() if k not in _ENVIRONMENT}
    log = tmp_path / "import.log"
    with log.open("w") as handle:
        out = subprocess.run([sys.executable, "-m", "sqltune", "model", "import-default", "--out", str(tmp_path / "base")],
                             stdout=handle, stderr=subprocess.STDOUT, timeout=600, env=env)
    text = log.read_bytes().decode()
    assert out.returncode == 0, text
    assert (tmp_path / "base" / "config.json").exists() and "\r" not in text, text[:500]


# -- one vocabulary: --db, --data, --exec-workers on every command; the old spellings still work ----------------
def test_old_and_new_spellings_both_work(tiny_warehouse, tiny_pairs_file, tmp_path, capsys):
    from sqltune.cli import main

    wh, pairs = str(tiny_warehouse), str(tiny_pairs_file)
    spellings = {
        "check": (["check", wh], ["check", "--db", wh]),
        "schema show": (["schema", "show", wh, "--text"], ["schema", "show", "--db", wh, "--text"]),
        "data validate": (["data", "validate", pairs, "--db", wh, "--workers", "1"],
                          ["data", "validate", "--data", pairs, "--db", wh, "--exec-workers", "1"]),
        "data split": (["data", "split", pairs, "--out", str(tmp_path / "old")],
                       ["data", "split", "--data", pairs, "--out", str(tmp_path / "new")]),
        "data augment": (["data", "augment", pairs, "--db", wh, "--out", str(tmp_path / "old.jsonl"), "--workers", "1"],
                         ["data", "augment", "--data", pairs, "--db", wh, "--out", str(tmp_path / "new.jsonl"),
                          "--exec-workers", "1"]),
    }
    for name, (old, new) in spellings.items():
        assert main(old) == 0, (name, capsys.readouterr().err)
        printed_old = capsys.readouterr().out
        assert main(new) == 0, (name, capsys.readouterr().err)
        printed_new = capsys.readouterr().out
        timed = re.compile(r"\d+\.\d+ s\b")  # step times differ between runs
        same = printed_old.replace(str(tmp_path / "old"), str(tmp_path / "new"))
        assert timed.sub("", same) == timed.sub("", printed_new), name
    assert (tmp_path / "old.jsonl").read_text() == (tmp_path / "new.jsonl").read_text()
    # the old spellings stay out of the help
    for args, old in ((["check"], "[DB]"), (["data", "validate"], "--workers ")):
        help_text = sqltune(*args, "--help").stdout
        assert "--db" in help_text or "--exec-workers" in help_text
        assert f"{old}" not in help_text.split("Options:", 1)[1], help_text
    # given both ways with different values: a usage error
    assert main(["check", wh, "--db", str(tmp_path / "other.duckdb")]) == 2
    assert main(["data", "validate", pairs, "--db", wh, "--workers", "1", "--exec-workers", "2"]) == 2


def test_a_missing_db_exits_2_on_every_command(tiny_pairs_file, tmp_path, capsys):
    from sqltune.cli import main

    pairs = str(tiny_pairs_file)
    commands = {
        "check": ["check"],
        "schema show": ["schema", "show"],
        "data validate": ["data", "validate", "--data", pairs],
        "data augment": ["data", "augment", "--data", pairs, "--out", str(tmp_path / "a.jsonl")],
        "eval score": ["eval", "score", "--data", pairs, "--pred", pairs],
        "train": ["train", "--data", pairs, "--out", str(tmp_path / "adapter")],
        "eval": ["eval", "--model", "default", "--adapter", str(tmp_path / "adapter"), "--data", pairs],
    }  # merge: tests/test_merge.py::test_a_masked_warehouse_url_asks_for_db_before_connecting
    for name, args in commands.items():
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2 and "--db" in err and "Traceback" not in err, (name, code, err)
    assert main(["data", "validate", "--db", pairs]) == 2 and "Missing option '--data'" in capsys.readouterr().err
