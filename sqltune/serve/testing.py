"""Helpers for tests and benchmarks of the server: a fake generator, a tiny warehouse, a live server.

Nothing here is used by `sqltune serve` itself.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator


@dataclass
class FakeGenerator:
    """Deterministic question -> SQL lookup standing in for a model (implements `SqlGenerator`).

    `delay_s` simulates generation time (sleeping, so it also shows queueing behaviour); unknown
    questions get `fallback`. Calls are recorded in `calls` as (question, adapter).
    """

    answers: dict[str, str] = field(default_factory=dict)
    adapters: list[str] = field(default_factory=list)
    fallback: str = "SELECT 1 AS answer"
    delay_s: float = 0.0
    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def generate_sql(self, question: str, *, adapter: str | None) -> str:
        if self.delay_s:
            time.sleep(self.delay_s)
        self.calls.append((question, adapter))
        return self.answers.get(question, self.fallback)


@dataclass
class FakeCandidateGenerator(FakeGenerator):
    """Like `FakeGenerator`, but each question has several candidate queries (best first) that run
    on the attached warehouse and are chosen by vote, as an execution-guided model does.
    `deadlines` records the deadline of each call, as seconds left when it arrived."""

    candidates: dict[str, list[str]] = field(default_factory=dict)
    warehouse: Any = None
    deadlines: list[float] = field(default_factory=list)

    def attach_warehouse(self, warehouse: Any) -> None:
        self.warehouse = warehouse

    def answer(self, question: str, *, adapter: str | None, deadline: float | None, execute: bool = True) -> Any:
        from sqltune.inference.answer import Answer
        from sqltune.inference.guided import Candidate, choose_candidate

        if self.delay_s:
            time.sleep(self.delay_s)
        self.calls.append((question, adapter))
        self.deadlines.append(float("inf") if deadline is None else deadline - time.monotonic())
        sqls = self.candidates.get(question) or [self.fallback]
        if not execute:  # as SqlModel: nothing runs, the likeliest candidate is the answer
            return Answer(question, sqls[0], sqls[0], 0.0)
        choice = choose_candidate(
            [Candidate(sql, -float(i)) for i, sql in enumerate(sqls)],
            lambda sql, timeout_s: self.warehouse.execute(sql, timeout_s=timeout_s), timeout_s=1.0, deadline=deadline,
        )
        return Answer(question, choice.sql, choice.sql, 0.0, candidates=len(sqls), candidates_ran=choice.ran,
                      candidates_agreeing=choice.agreeing, choice_reason=choice.reason,
                      result=next((r.result for r in choice.runs if r.sql == choice.sql), None), runs=choice.runs)


def build_demo_warehouse(path: str | Path, *, rows: int = 50) -> Path:
    """A small DuckDB file: `ships(id, name, tonnage)` and `ports(id, name, country)`."""
    import duckdb

    path = Path(path)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE ports (id INTEGER PRIMARY KEY, name VARCHAR, country VARCHAR)")
        conn.execute("INSERT INTO ports SELECT i, 'port ' || i, CASE WHEN i % 2 = 0 THEN 'NL' ELSE 'DE' END FROM range(1, 11) t(i)")
        conn.execute("CREATE TABLE ships (id INTEGER PRIMARY KEY, name VARCHAR, tonnage DOUBLE, home_port INTEGER)")
        conn.execute(
            "INSERT INTO ships SELECT i, 'ship ' || i, 1000.0 * i, 1 + i % 10 FROM range(1, ?) t(i)", [rows + 1]
        )
    return path


def free_port(host: str = "127.0.0.1") -> socket.socket:
    """A listening-ready socket bound to a free port (uvicorn takes the socket itself)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def running_server(app: Any, *, host: str = "127.0.0.1", backlog: int = 2048, startup_timeout_s: float = 20) -> Iterator[str]:
    """Serve `app` with uvicorn on a free local port in a thread; yields the base URL; stops on exit."""
    import uvicorn

    sock = free_port(host)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, backlog=backlog, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="sqltune-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
