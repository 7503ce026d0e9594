"""The sandbox worker: a child process that checks and runs queries for `sqltune.execution.sandbox`.

Started as ``python -I -B sandbox_worker.py FD`` (never forked from the parent, which has torch
threads); FD is one end of a socket pair. It imports from the parent's ``sys.path`` (sent with the
config), so it runs the same sqltune, duckdb and sqlglot. The parent sends a config, then requests; each gets one
reply. Everything a query could exhaust is this process's own: an address-space limit (set after
start-up, so it caps what queries add), no file writes (RLIMIT_FSIZE 0), no core files. The
parent kills the process when a reply is late, so a query that ignores DuckDB's interrupt or its
memory limit (one huge vectorised operation) cannot outlive its timeout or take the server down.

Requests (pickled tuples):
  ("check", sql)                              -> ("verdict", ok, code, reason)
  ("run", sql, max_rows, timeout_s, guard)    -> ("rows", columns, rows, truncated)
                                               | ("error", kind, message, guard_code)
Replies hold only plain values (see `_plain`); the parent unpickles them with an allow-list.
"""

from __future__ import annotations

import datetime as _dt
import os
import pickle
import resource
import signal
import sys
import threading
import time
import uuid
from decimal import Decimal

_SUPERVISOR_TICK_S = 0.5


class _Supervisor(threading.Thread):
    """One thread for the whole process: cancels the running query at its deadline, and exits the
    process when the parent is gone (a worker must not outlive the program that started it)."""

    def __init__(self) -> None:
        super().__init__(name="sqltune-sandbox-supervisor", daemon=True)
        self._parent = os.getppid()
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._cancel = None

    def arm(self, seconds: float, cancel) -> None:
        with self._cond:
            self._deadline, self._cancel = time.monotonic() + seconds, cancel
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._deadline, self._cancel = None, None

    def run(self) -> None:
        while True:
            with self._cond:
                wait = _SUPERVISOR_TICK_S
                if self._deadline is not None:
                    wait = max(0.0, min(wait, self._deadline - time.monotonic()))
                self._cond.wait(wait)
                due = self._deadline is not None and time.monotonic() >= self._deadline
                cancel = self._cancel if due else None
                if due:
                    self._deadline, self._cancel = None, None
            if cancel is not None:
                try:
                    cancel()
                except Exception:  # the query finished as time ran out
                    pass
            if os.getppid() != self._parent:
                os._exit(0)


def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _limit_self(memory_bytes: int) -> None:
    """Cap what queries can add to this process, and forbid file writes and core dumps."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    idle = _vm_size_bytes()
    if memory_bytes > 0 and idle > 0:  # Linux; elsewhere only the timeout's kill bounds a query
        cap = idle + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


# -- values --------------------------------------------------------------------------------------
_SCALARS = (type(None), bool, int, float, str, bytes, Decimal, _dt.date, _dt.timedelta, uuid.UUID)


def _plain(value):
    """A value the parent's allow-listed unpickler accepts: time zones become fixed offsets,
    containers are rebuilt, anything unknown becomes its text."""
    if isinstance(value, (_dt.datetime, _dt.time)) and value.tzinfo is not None:
        offset = value.utcoffset() if isinstance(value, _dt.datetime) else value.tzinfo.utcoffset(None)
        if offset is None:
            return value.replace(tzinfo=None)
        return value.replace(tzinfo=_dt.timezone(offset))
    if isinstance(value, _SCALARS) or isinstance(value, _dt.time):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return str(value)


def _approx_bytes(value) -> int:
    if isinstance(value, (str, bytes)):
        return len(value) + 8
    if isinstance(value, (list, tuple)):
        return 8 + sum(_approx_bytes(v) for v in value)
    if isinstance(value, dict):
        return 8 + sum(_approx_bytes(k) + _approx_bytes(v) for k, v in value.items())
    return 16


# -- backends ------------------------------------------------------------------------------------

def _fetch(cursor, sql: str, max_rows: int, supervisor: "_Supervisor"):
    """Run `sql` on a DB-API cursor, fetch one row past the cap (so a cut result is known), then
    disarm the watchdog the caller armed and close the cursor, whatever happened."""
    try:
        cursor.execute(sql)
        columns = [d[0] for d in (cursor.description or [])]
        rows = cursor.fetchmany(max_rows + 1) if columns else []
        return columns, rows
    finally:
        supervisor.disarm()
        cursor.close()

class _Refused(Exception):
    def __init__(self, kind: str, message: str, guard_code: str | None = None):
        super().__init__(message)
        self.kind, self.message, self.guard_code = kind, message, guard_code


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class _DuckDB:
    def __init__(self, config: dict):
        import duckdb

        self.duckdb = duckdb
        self.connection = duckdb.connect(
            config["path"],
            read_only=True,
            config={
                "memory_limit": f"{max(16, config['duckdb_memory_bytes'] // 2**20)}MiB",
                "threads": config["threads"],
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            },
        )
        self.connection.execute("SET temp_directory = ''")  # no spilling to disk next to the warehouse
        self.connection.execute("SET enable_external_access = false")
        self.connection.execute("SET lock_configuration = true")  # last: nothing above can be undone
        from sqltune.execution import engine_check

        self.engine_check = engine_check
        self.user_functions = engine_check.duckdb_user_functions(self.connection)  # the file is read-only: fixed

    def second_opinion(self, sql: str, policy):
        """DuckDB's own parser and catalog judge what the guard passed (`engine_check`)."""
        return self.engine_check.duckdb_verdict(self.connection, sql, policy, self.user_functions)

    def preflight(self, sql: str, guarded: bool) -> None:
        """DuckDB's own parser must see the one SELECT the guard saw (no parser differential)."""
        try:
            statements = self.connection.extract_statements(sql)
        except self.duckdb.Error as error:
            raise _Refused(self.error_kind(error), _first_line(error)) from None
        if len(statements) != 1:
            raise _Refused("rejected", f"exactly one statement per call, DuckDB's parser found {len(statements)}")
        if guarded and statements[0].type != self.duckdb.StatementType.SELECT:
            raise _Refused("rejected", f"DuckDB parses this as a {statements[0].type.name} statement, not a query")

    def run(self, sql: str, max_rows: int, timeout_s: float, supervisor: _Supervisor, query: bool = False):
        cursor = self.connection.cursor()  # a fresh connection: temp tables, variables, prepared statements die with it
        supervisor.arm(timeout_s, cursor.interrupt)
        return _fetch(cursor, sql, max_rows, supervisor)

    def error_kind(self, error: BaseException) -> str:
        duckdb = self.duckdb
        message = str(error)
        if isinstance(error, duckdb.InterruptException):
            return "timeout"
        if isinstance(error, duckdb.OutOfMemoryException):
            return "memory"
        if isinstance(error, duckdb.ParserException):
            return "syntax"
        if isinstance(error, duckdb.PermissionException):
            return "rejected"
        if isinstance(error, duckdb.CatalogException) and message.startswith("Catalog Error: Table with name"):
            return "unknown_table"
        if isinstance(error, duckdb.BinderException):
            if "Referenced table" in message or "Table with name" in message:
                return "unknown_table"
            if "Referenced column" in message or "not found in FROM clause" in message:
                return "unknown_column"
        if isinstance(error, duckdb.InvalidInputException) and (
            "read-only mode" in message or "configuration has been locked" in message
        ):
            return "rejected"
        return "runtime"

    def handles(self, error: BaseException) -> bool:
        return isinstance(error, self.duckdb.Error)


_PG_ERROR_KINDS = {
    "42601": "syntax",  # syntax_error
    "42P01": "unknown_table",  # undefined_table
    "42703": "unknown_column",  # undefined_column
    "57014": "timeout",  # query_canceled (statement_timeout or cancel)
    "25006": "rejected",  # read_only_sql_transaction
    "42501": "rejected",  # insufficient_privilege
    "53200": "memory",  # out_of_memory
}


class _Postgres:
    def __init__(self, config: dict):
        import psycopg2

        self.psycopg2 = psycopg2
        self.args, self.kwargs = config["pg_connect"]
        self.connection = None
        self._connect()

    def _connect(self) -> None:
        self.connection = self.psycopg2.connect(*self.args, **self.kwargs)
        self.version = self.connection.server_version

    def preflight(self, sql: str, guarded: bool) -> None:
        pass  # the read-only transaction and the role's privileges are the database-side checks

    def second_opinion(self, sql: str, policy):
        """The catalog, asked now, says whether what `sql` may call is PostgreSQL's own (`engine_check`)."""
        from sqltune.execution.engine_check import postgres_verdict

        for attempt in (1, 2):
            if self.connection is None or self.connection.closed:
                self._connect()
            try:
                return postgres_verdict(self.connection, sql, policy)
            except (self.psycopg2.OperationalError, self.psycopg2.InterfaceError):
                self._reset()  # died while idle: once more on a fresh connection, then it raises (and refuses)
                if attempt == 2:
                    raise
            finally:
                if self.connection is not None and not self.connection.closed:
                    self.connection.rollback()

    def run(self, sql: str, max_rows: int, timeout_s: float, supervisor: _Supervisor, query: bool = False):
        if self.connection is None or self.connection.closed:
            self._connect()
        connection = self.connection
        settings = [
            "SET TRANSACTION READ ONLY",
            f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}",
            "SET LOCAL standard_conforming_strings = on",  # backslashes read as the guard read them
        ]
        if self.version >= 140000:
            settings.append("SET LOCAL client_connection_check_interval = 1000")  # stop if we are killed
        # A server-side cursor fetches only the rows asked for; it can only hold a query (`query`:
        # decided on the parsed statement, so a leading comment changes nothing).
        named = query
        try:
            try:
                with connection.cursor() as setup:
                    setup.execute("; ".join(settings))
            except (self.psycopg2.OperationalError, self.psycopg2.InterfaceError):
                # The connection died while idle (server restart, terminated backend): once more, fresh.
                self._reset()
                self._connect()
                connection = self.connection
                with connection.cursor() as setup:
                    setup.execute("; ".join(settings))
            # The server's timeout is the real limit; the cancel is the backstop should it be switched off.
            supervisor.arm(timeout_s + 0.2, connection.cancel)
            cursor = connection.cursor(name="sqltune_sandbox") if named else connection.cursor()
            try:
                cursor.execute(sql)  # no parameters: the driver leaves '%' in the SQL alone
                rows = cursor.fetchmany(max_rows + 1) if (named or cursor.description) else []
                columns = [d[0] for d in (cursor.description or [])]
                return columns, rows if columns else []
            finally:
                try:
                    cursor.close()
                except self.psycopg2.Error:  # an aborted transaction cannot CLOSE; the rollback will
                    pass
        finally:
            supervisor.disarm()
            self._reset()

    def _reset(self) -> None:
        """Roll back and DISCARD ALL: no advisory lock, prepared statement, setting or temp table
        of one query survives into the next on this connection."""
        connection = self.connection
        if connection is None:
            return
        try:
            connection.rollback()
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("DISCARD ALL")
            connection.autocommit = False
        except Exception:
            try:
                connection.close()
            finally:
                self.connection = None

    def error_kind(self, error: BaseException) -> str:
        state = getattr(error, "pgcode", None) or ""
        return _PG_ERROR_KINDS.get(state, "runtime")

    def handles(self, error: BaseException) -> bool:
        return isinstance(error, self.psycopg2.Error)


class _SQLite:
    """A SQLite file opened read-only (URI mode=ro), with an authorizer that allows reading only."""

    def __init__(self, config: dict):
        import sqlite3
        from urllib.parse import quote

        self.sqlite3 = sqlite3
        self.connection = sqlite3.connect(
            f"file:{quote(config['path'])}?mode=ro", uri=True, check_same_thread=False, isolation_level=None,
        )
        allowed = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}

        def authorize(action, *_):
            return sqlite3.SQLITE_OK if action in allowed else sqlite3.SQLITE_DENY

        self.connection.set_authorizer(authorize)

    def preflight(self, sql: str, guarded: bool) -> None:
        if not self.sqlite3.complete_statement(sql.rstrip().rstrip(";") + ";"):
            raise _Refused("syntax", "incomplete SQL statement")

    def second_opinion(self, sql: str, policy):
        return None  # a SQLite file holds no functions: the authorizer allows reading only

    def run(self, sql: str, max_rows: int, timeout_s: float, supervisor: _Supervisor, query: bool = False):
        supervisor.arm(timeout_s, self.connection.interrupt)
        return _fetch(self.connection.cursor(), sql, max_rows, supervisor)

    def error_kind(self, error: BaseException) -> str:
        message = str(error).lower()
        if "interrupted" in message:
            return "timeout"
        if message.startswith("no such table"):
            return "unknown_table"
        if message.startswith("no such column"):
            return "unknown_column"
        if "syntax error" in message or message.startswith(("near ", "incomplete input", "unrecognized token")):
            return "syntax"
        if "not authorized" in message or "readonly" in message or "one statement at a time" in message:
            return "rejected"
        if "out of memory" in message:
            return "memory"
        return "runtime"

    def handles(self, error: BaseException) -> bool:
        return isinstance(error, self.sqlite3.Error)


class _GuardOnly:
    def preflight(self, sql: str, guarded: bool) -> None:
        pass

    def second_opinion(self, sql: str, policy):
        return None

    def run(self, sql, max_rows, timeout_s, supervisor, query=False):
        raise _Refused("runtime", "this sandbox has no database")

    def handles(self, error: BaseException) -> bool:
        return False


# -- the loop ------------------------------------------------------------------------------------
class Worker:
    def __init__(self, config: dict):
        from sqltune.execution.guard import GuardPolicy, GuardVerdict, check_sql, count_statements, starts_with_query, warm

        self.check_sql, self.count_statements, self.GuardVerdict = check_sql, count_statements, GuardVerdict
        self.starts_with_query = starts_with_query
        self.dialect = config["dialect"]
        policy = config["policy"]
        self.policy = GuardPolicy(
            allow_catalog=policy["allow_catalog"], functions=frozenset(policy["functions"]), max_chars=policy["max_chars"]
        )
        self.max_result_bytes = config["max_result_bytes"]
        warm(self.dialect, config.get("guard_classes"))
        backend = config["backend"]
        backends = {"duckdb": _DuckDB, "postgres": _Postgres, "sqlite": _SQLite}
        self.backend = backends[backend](config) if backend in backends else _GuardOnly()
        self.supervisor = _Supervisor()
        self.supervisor.start()

    def judge(self, sql: str):
        """The guard's verdict on `sql`, then the database's second opinion. Fails closed: whatever
        breaks while judging refuses the SQL, so a checker bug never reads as "ok" (check-only) nor
        lets a query run."""
        try:
            verdict = self.check_sql(sql, self.dialect, self.policy)
            if verdict.ok:  # the database's own reading, where the backend has one (`engine_check`)
                verdict = self.backend.second_opinion(sql, self.policy) or verdict
            return verdict
        except RecursionError:
            return self.GuardVerdict(False, "too_deeply_nested", "the SQL is nested too deeply to check")
        except Exception as error:  # noqa: BLE001 - MemoryError included: refuse what could not be judged
            return self.GuardVerdict(False, "check_failed",
                                     f"the SQL could not be checked ({type(error).__name__}: {_first_line(error)[:200]})")

    def handle(self, request: tuple):
        if request[0] == "check":
            verdict = self.judge(request[1])
            return ("verdict", verdict.ok, verdict.code, verdict.reason)
        _, sql, max_rows, timeout_s, guard = request
        started = time.monotonic()
        try:
            if guard:
                verdict = self.judge(sql)
                if not verdict.ok:
                    kind = "syntax" if verdict.code == "syntax_error" else "rejected"
                    return ("error", kind, f"{verdict.code}: {verdict.reason}", verdict.code)
            else:
                try:
                    statements = self.count_statements(sql, self.dialect)
                except Exception as error:  # sqlglot's TokenError: cannot tell where statements end
                    return ("error", "syntax", f"cannot tokenize SQL: {_first_line(error)}", None)
                if statements != 1:
                    return ("error", "rejected", f"exactly one statement per call, found {statements}", None)
            self.backend.preflight(sql, guard)
            left = timeout_s - (time.monotonic() - started)
            if left <= 0:
                return ("error", "timeout", f"query exceeded the {timeout_s:g}s timeout", None)
            # a query by the guard's parse when it judged the SQL, by its first token when it did not
            query = guard or self.starts_with_query(sql, self.dialect)
            columns, rows = self.backend.run(sql, max_rows, left, self.supervisor, query=query)
            rows = [_plain(tuple(r)) for r in rows]
            truncated = len(rows) > max_rows
            rows = rows[:max_rows]
            size = _approx_bytes(rows)
            if size > self.max_result_bytes:
                return ("error", "too_large", f"the result is about {size // 2**20} MiB, over the "
                        f"{self.max_result_bytes // 2**20} MiB limit; select fewer or narrower rows", None)
            return ("rows", columns, rows, truncated)
        except _Refused as refused:
            return ("error", refused.kind, refused.message, refused.guard_code)
        except MemoryError:
            return ("error", "memory", "the query ran out of its memory allowance", None)
        except Exception as error:
            if not self.backend.handles(error):
                raise
            kind = self.backend.error_kind(error)
            message = f"query exceeded the {timeout_s:g}s timeout" if kind == "timeout" else _first_line(error)
            return ("error", kind, message, None)


def main() -> None:
    from multiprocessing.connection import Connection

    channel = Connection(int(sys.argv[1]))
    config = pickle.loads(channel.recv_bytes())
    sys.path[:0] = [p for p in config["sys_path"] if p not in sys.path]
    try:
        worker = Worker(config)
        _limit_self(config["memory_bytes"])
    except BaseException as error:  # noqa: BLE001 - report any start-up failure to the parent
        channel.send_bytes(pickle.dumps(("fatal", _first_line(error))))
        return
    channel.send_bytes(pickle.dumps(("ready", os.getpid())))
    while True:
        try:
            request = pickle.loads(channel.recv_bytes())
        except EOFError:
            return
        try:
            reply = worker.handle(request)
            payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            payload = pickle.dumps(("error", "memory", "the query ran out of its memory allowance", None))
        except Exception as error:  # noqa: BLE001 - a bug here must reach the parent as an answer
            payload = pickle.dumps(("error", "runtime", f"sandbox worker error: {_first_line(error)}", None))
        channel.send_bytes(payload)


if __name__ == "__main__":
    main()
