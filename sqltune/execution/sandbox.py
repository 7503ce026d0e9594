"""A pool of sandbox worker processes (`sqltune.execution.sandbox_worker`) that check and run queries.

Why processes: one vectorised DuckDB operation (a huge ``range``, ``repeat``, ``string_split``)
ignores both ``interrupt()`` and ``memory_limit``; only killing it stops it, and only a process can
be killed. Each worker keeps the warehouse open read-only (or one PostgreSQL connection), so an
ordinary query pays one round trip over a local socket. A worker whose reply is later than the
timeout plus `GRACE_S` is killed (SIGKILL) and replaced at once by a spare that has already
started (and a new spare starts); the pool's other workers keep answering meanwhile. Workers are started with `subprocess` (fork + exec of a fresh interpreter),
never forked Python: the parent has torch and other threads.

Thread-safe: any number of threads may call `run` / `check`; each takes an idle worker (waiting
for one when all are busy).
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GRACE_S = 0.5  # a reply may be this late before the worker is killed
_WORKER_FILE = Path(__file__).with_name("sandbox_worker.py")
_IMPORT_ROOT = str(Path(__file__).resolve().parent.parent)
_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PGSERVICEFILE", "PGPASSFILE", "PGSSLROOTCERT")


@dataclass(frozen=True)
class Reply:
    """One worker answer: rows, or an error kind and message (`guard_code` when the guard refused)."""

    ok: bool
    columns: list[str] | None = None
    rows: list[tuple] | None = None
    truncated: bool = False
    kind: str | None = None
    message: str | None = None
    guard_code: str | None = None
    elapsed_s: float = 0.0  # from sending the request to its reply (or the kill): the query's own time


_SAFE_CLASSES = {
    ("datetime", "date"), ("datetime", "time"), ("datetime", "datetime"), ("datetime", "timedelta"),
    ("datetime", "timezone"), ("decimal", "Decimal"), ("uuid", "UUID"), ("uuid", "SafeUUID"),
}


class _ReplyUnpickler(pickle.Unpickler):
    """Replies come from a process that ran untrusted SQL: accept plain values only."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_CLASSES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a sandbox reply may not hold {module}.{name}")


def _loads(data: bytes) -> Any:
    return _ReplyUnpickler(io.BytesIO(data)).load()


class SandboxUnavailable(Exception):
    """A worker could not start (the database cannot be opened or reached)."""


class _Worker:
    """One child process and its socket; restarted in place when killed."""

    def __init__(self, config: dict):
        self._config = config
        self.process: subprocess.Popen | None = None
        self.channel: Connection | None = None
        self.ready = False
        self.start()

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        env = {k: os.environ[k] for k in _ENV_KEYS if k in os.environ}
        env["MALLOC_ARENA_MAX"] = "2"  # fewer reserved malloc arenas: the address-space cap measures real use
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-B", str(_WORKER_FILE), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )
        finally:
            theirs.close()
        self.channel = Connection(ours.detach())
        self.channel.send_bytes(pickle.dumps(self._config))
        self.ready = False

    def wait_ready(self, timeout_s: float) -> None:
        if self.ready:
            return
        assert self.channel is not None
        try:
            if not self.channel.poll(timeout_s):
                raise SandboxUnavailable(f"the sandbox worker did not start within {timeout_s:g} s")
            message = _loads(self.channel.recv_bytes())
        except (EOFError, OSError) as error:
            raise SandboxUnavailable(f"the sandbox worker exited while starting ({self._exit_text()})") from error
        if message[0] != "ready":
            raise SandboxUnavailable(str(message[1]))
        self.ready = True

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: nothing it started survives
            except ProcessLookupError:
                pass
            self.process.wait()
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        self.ready = False

    def _exit_text(self) -> str:
        if self.process is None:
            return "not started"
        try:
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "still running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def request(self, message: tuple, wait_s: float) -> Any:
        """Send `message`; the reply, or None when none came within `wait_s` (the worker is then killed)."""
        assert self.channel is not None
        self.channel.send_bytes(pickle.dumps(message))
        if not self.channel.poll(wait_s):
            return None
        return _loads(self.channel.recv_bytes(maxlength=self._config["max_result_bytes"] * 4 + 2**20))


_live_pools: "weakref.WeakSet[SandboxPool]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_live_pools):
        pool.close()


class SandboxPool:
    """`processes` workers for one warehouse (or guard-only when `backend` is "none")."""

    def __init__(
        self,
        *,
        backend: str,
        dialect: str,
        policy: Any,
        processes: int = 2,
        memory_bytes: int = 2 * 2**30,
        path: str | None = None,
        threads: int = 1,
        pg_connect: tuple | None = None,
        max_result_bytes: int = 64 * 2**20,
        startup_timeout_s: float = 60.0,
    ):
        if processes < 1:
            raise ValueError("a sandbox needs at least one worker process")
        from sqltune.execution.guard import allowed_class_names

        self.startup_timeout_s = startup_timeout_s
        self._config = {
            "guard_classes": allowed_class_names(dialect),
            # the modules the parent uses (sqltune itself, duckdb, sqlglot), wherever they came from
            "sys_path": [_IMPORT_ROOT, *(p for p in sys.path if p and p != _IMPORT_ROOT)],
            "backend": backend,
            "dialect": dialect,
            "policy": {**asdict(policy), "functions": sorted(policy.functions)},
            "memory_bytes": memory_bytes,
            "duckdb_memory_bytes": int(memory_bytes * 0.75),  # DuckDB's own limit trips first where it can
            "path": path,
            "threads": threads,
            "pg_connect": pg_connect,
            "max_result_bytes": max_result_bytes,
        }
        self._closed = False
        self._lock = threading.Lock()
        self._workers = [_Worker(self._config) for _ in range(processes)]
        self._spare: _Worker | None = None
        self._idle: list[_Worker] = list(self._workers)
        self._free = threading.Condition(self._lock)
        _live_pools.add(self)
        try:
            self._workers[0].wait_ready(startup_timeout_s)  # surface a bad file or URL here, not on a query
        except BaseException:
            self.close()
            raise
        self._spare = _Worker(self._config)  # boots now; takes over from the next killed worker

    # -- public ---------------------------------------------------------------------------------
    def run(self, sql: str, *, max_rows: int, timeout_s: float, guard: bool) -> Reply:
        answer = self._call(("run", sql, max_rows, timeout_s, guard), timeout_s)
        if isinstance(answer, Reply):
            return answer
        reply, elapsed = answer
        if reply[0] == "rows":
            return Reply(ok=True, columns=list(reply[1]), rows=[tuple(r) for r in reply[2]], truncated=bool(reply[3]),
                         elapsed_s=elapsed)
        return Reply(ok=False, kind=reply[1], message=reply[2], guard_code=reply[3], elapsed_s=elapsed)

    def check(self, sql: str, *, timeout_s: float) -> tuple[bool, str | None, str | None]:
        """The guard's verdict (ok, code, reason), computed in a worker under `timeout_s`."""
        answer = self._call(("check", sql), timeout_s)
        if isinstance(answer, Reply):
            if answer.kind == "timeout":
                return False, "guard_timeout", f"checking the SQL took longer than {timeout_s:g} s"
            return False, "guard_failed", answer.message
        reply, _ = answer
        if reply[0] != "verdict":  # the worker broke while judging: what was not judged is refused
            detail = reply[2] if len(reply) > 2 and reply[2] else str(reply[0])
            return False, "check_failed", f"the SQL could not be checked ({detail})"
        return bool(reply[1]), reply[2], reply[3]

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers that take queries (for tests and monitoring)."""
        with self._lock:
            return [w.process.pid for w in self._workers if w.process is not None]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = [*self._workers, *([self._spare] if self._spare else [])]
        for worker in workers:
            worker.kill()
        _live_pools.discard(self)

    # -- internals ------------------------------------------------------------------------------
    def _acquire(self) -> _Worker:
        """An idle worker, preferring one that has finished starting (a replacement may still boot)."""
        with self._free:
            while not self._idle:
                if self._closed:
                    raise SandboxUnavailable("the warehouse is closed")
                self._free.wait(0.25)
            if self._closed:
                raise SandboxUnavailable("the warehouse is closed")
            chosen = next((w for w in self._idle if w.ready or (w.channel is not None and w.channel.poll(0))), self._idle[0])
            self._idle.remove(chosen)
            return chosen

    def _release(self, worker: _Worker) -> None:
        with self._free:
            if self._closed:
                worker.kill()
                return
            self._idle.append(worker)
            self._free.notify()

    def _replace(self, worker: _Worker) -> _Worker:
        """Kill `worker`; the spare takes its place and a new spare starts booting."""
        worker.kill()
        with self._lock:
            if self._closed:
                return worker
            fresh, self._spare = self._spare or _Worker(self._config), _Worker(self._config)
            self._workers[self._workers.index(worker)] = fresh
        return fresh

    def _call(self, message: tuple, timeout_s: float) -> Any:
        try:
            worker = self._acquire()
        except SandboxUnavailable as error:
            return Reply(ok=False, kind="runtime", message=str(error))
        try:
            if worker.process is None or worker.process.poll() is not None:
                worker = self._replace(worker)  # died while idle (killed from outside)
            try:
                worker.wait_ready(self.startup_timeout_s)
            except SandboxUnavailable as error:
                worker = self._replace(worker)  # a fresh one next time (the database may be back)
                return Reply(ok=False, kind="runtime", message=f"sandbox unavailable: {error}")
            started = time.monotonic()
            try:
                reply = worker.request(message, timeout_s + GRACE_S)
            except (EOFError, OSError, pickle.UnpicklingError) as error:
                exit_text = worker._exit_text()
                log.warning("sandbox worker failed (%s): %s", exit_text, error)
                worker = self._replace(worker)
                return Reply(ok=False, kind="runtime", elapsed_s=time.monotonic() - started,
                             message=f"the query's worker process died ({exit_text}); it may have exceeded its memory cap")
            if reply is None:
                worker.kill()
                elapsed = time.monotonic() - started
                log.info("sandbox worker killed after %.2f s", elapsed)
                worker = self._replace(worker)
                return Reply(ok=False, kind="timeout", elapsed_s=elapsed,
                             message=f"query exceeded the {timeout_s:g}s timeout (its worker was killed)")
            return reply, time.monotonic() - started
        finally:
            self._release(worker)
