"""The sandbox pool and its worker fail closed: a check that breaks refuses, on every path."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sqltune.execution.execute import Warehouse
from sqltune.execution.sandbox import SandboxPool

# F1 of issue 27: sqlglot raised AttributeError on this, and the check-only path read the error as "ok".
ROWS_FROM = "SELECT * FROM ROWS FROM (read_text('/etc/passwd'), getenv('HOME')) AS t(a, b)"


@pytest.fixture
def warehouse_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers(id INTEGER, name VARCHAR)")
    con.execute("INSERT INTO customers SELECT i, 'c' || i FROM range(1, 11) t(i)")
    con.close()
    return path


def test_rows_from_is_refused_check_only_and_executed(warehouse_file):
    with Warehouse.open(warehouse_file, processes=1) as wh:
        verdict = wh.check(ROWS_FROM)
        assert not verdict.ok and verdict.code and verdict.reason, verdict
        result = wh.execute(ROWS_FROM)
        assert not result.ok and result.guard_code, result
        assert "root:" not in repr(result)


def test_check_only_refuses_when_the_worker_answers_with_an_error(warehouse_file, monkeypatch):
    """A worker that breaks replies ("error", kind, message, None), not a verdict: that is a refusal."""
    original = SandboxPool._call

    def broken_check(self, message, timeout_s):
        if message[0] == "check":
            return ("error", "runtime", "sandbox worker error: 'NoneType' object has no attribute 'sql'", None), 0.01
        return original(self, message, timeout_s)

    with Warehouse.open(warehouse_file, processes=1) as wh:
        monkeypatch.setattr(SandboxPool, "_call", broken_check)
        verdict = wh.check("SELECT 1")
        assert not verdict.ok and verdict.code == "check_failed" and "NoneType" in verdict.reason, verdict
        assert wh.execute("SELECT count(*) FROM customers").rows == [(10,)]  # running is unaffected


def _worker(dialect: str = "duckdb"):
    from sqltune.execution.sandbox_worker import Worker

    return Worker({"dialect": dialect, "backend": "none", "max_result_bytes": 2**20,
                   "policy": {"allow_catalog": False, "functions": [], "max_chars": 100_000}})


@pytest.mark.parametrize("raised", [AttributeError("'NoneType' object has no attribute 'sql'"), MemoryError(), KeyError("x")])
def test_the_worker_refuses_what_it_cannot_judge(monkeypatch, raised):
    """Check-only and run (execute, eval score) both refuse when the checker itself raises."""
    worker = _worker()

    def broken(*_args):
        raise raised

    monkeypatch.setattr(worker, "check_sql", broken)
    kind, ok, code, reason = worker.handle(("check", "SELECT 1"))
    assert (kind, ok, code) == ("verdict", False, "check_failed") and type(raised).__name__ in reason
    reply = worker.handle(("run", "SELECT 1", 10, 1.0, True))
    assert reply[0] == "error" and reply[1] == "rejected" and reply[3] == "check_failed", reply


# -- comments never change how a query runs (issue 27, F8) -----------------------------------------
IN_CURSOR = "SELECT count(*) FROM pg_cursors WHERE name = 'sqltune_sandbox'"  # 1 inside the server-side cursor


@pytest.mark.parametrize("guard", [True, False], ids=["guard", "sandbox-only"])
@pytest.mark.parametrize("lead", ["", "/* c */ ", "-- c\n", "/* a */ -- b\n  "])
def test_pg_a_leading_comment_still_streams_through_the_server_side_cursor(pg_sandbox, guard, lead):
    from sqltune.execution.guard import GuardPolicy

    policy = GuardPolicy(allow_catalog=True)  # pg_cursors is a catalog view
    with Warehouse.open(pg_sandbox.reader, guard=guard, policy=policy, processes=1) as wh:
        result = wh.execute(lead + IN_CURSOR)
        assert result.ok and result.rows == [(1,)], (lead, result)
