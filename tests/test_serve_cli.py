"""`sqltune serve`: option parsing and wiring (the model loader and uvicorn are stubbed)."""

from __future__ import annotations

import sys
import types

import pytest

import sqltune.serve.launch as launch_module
from sqltune.cli import main
from sqltune.serve.testing import FakeGenerator


@pytest.fixture()
def captured(monkeypatch):
    calls: dict = {}

    def fake_load(base, adapters, merged, *, db, allow_dialect_mismatch=False, decode=None):
        calls["load"] = dict(base=base, adapters=adapters, merged=merged, db=db)
        calls["allow_dialect_mismatch"] = allow_dialect_mismatch
        calls["decode"] = decode
        return FakeGenerator(adapters=list(adapters))

    def fake_serve(settings, generator, *, host, port):
        calls["serve"] = dict(settings=settings, generator=generator, host=host, port=port)

    # stands in for the real sqltune.inference.generate (which loads torch and the model)
    monkeypatch.setitem(sys.modules, "sqltune.inference.generate", types.SimpleNamespace(load_generator=fake_load))
    monkeypatch.setattr(launch_module, "serve", fake_serve)
    return calls


def test_serve_wires_adapters_and_settings(captured, tmp_path):
    (tmp_path / "a1").mkdir()
    (tmp_path / "a2").mkdir()
    audit = tmp_path / "audit.jsonl"
    code = main([
        "serve", "--db", "wh.duckdb", "--adapter", f"harbor={tmp_path / 'a1'}", "--adapter", f"finance={tmp_path / 'a2'}",
        "--port", "9123", "--audit-log", str(audit), "--max-queue", "3", "--timeout", "2.5",
        "--no-execution-guided", "--candidates", "6", "--no-constrain-schema",
    ])
    assert code == 0
    assert captured["load"] == dict(
        base=None, adapters={"harbor": str(tmp_path / "a1"), "finance": str(tmp_path / "a2")}, merged=None, db="wh.duckdb"
    )
    served = captured["serve"]
    assert served["host"] == "127.0.0.1" and served["port"] == 9123
    settings = served["settings"]
    assert settings.default_adapter == "harbor" and settings.audit_log == str(audit)
    assert settings.max_queue == 3 and settings.query_timeout_s == 2.5
    decode = captured["decode"]
    assert decode is settings.decode and not decode.execution_guided and decode.candidates == 6 and not decode.constrain_schema
    assert decode.check_names and decode.repair_values  # defaults not named on the command line
    assert captured["allow_dialect_mismatch"] is False
    assert main(["serve", "--db", "wh.duckdb", "--allow-dialect-mismatch"]) == 0
    assert captured["allow_dialect_mismatch"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        (["--adapter", "no-equals-sign"], "NAME=DIR"),
        (["--adapter", "x=/definitely/missing"], "not found"),
        (["--adapter", "=dir"], "NAME=DIR"),
    ],
)
def test_bad_adapter_options_are_one_line_errors(captured, capsys, args, message):
    assert main(["serve", "--db", "wh.duckdb", *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert "serve" not in captured


def test_merged_and_adapter_are_exclusive(captured, capsys, tmp_path):
    (tmp_path / "a").mkdir()
    assert main(["serve", "--db", "wh.duckdb", "--merged", str(tmp_path), "--adapter", f"a={tmp_path / 'a'}"]) == 1
    assert "either --merged or --adapter" in capsys.readouterr().err


def test_duplicate_adapter_names(captured, capsys, tmp_path):
    (tmp_path / "a").mkdir()
    spec = f"a={tmp_path / 'a'}"
    assert main(["serve", "--db", "wh.duckdb", "--adapter", spec, "--adapter", spec]) == 1
    assert "twice" in capsys.readouterr().err


def test_bad_limits_fail_before_the_model_loads(captured, capsys):
    assert main(["serve", "--db", "wh.duckdb", "--gen-workers", "0"]) == 2  # bounds come from the setting
    assert "--gen-workers" in capsys.readouterr().err and "load" not in captured
