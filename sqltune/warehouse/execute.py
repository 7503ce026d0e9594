"""Run one query against a warehouse inside a sandbox, with a time limit and a row cap.

Two lines of defence: the AST guard (`sqltune.warehouse.guard`) refuses anything but one read-only query,
and the connection itself cannot write or reach outside the warehouse even when the guard is off:

- DuckDB: the file is opened ``read_only``, with external access (files, network, extensions)
  disabled, spilling to disk off, a memory limit and a thread count, and the configuration locked
  last so a query cannot undo any of it. One sandboxed connection per file per process (DuckDB
  refuses a second connection to the same file with another configuration); each call gets its
  own cursor so threads can run queries in parallel. A timer calls the cursor's ``interrupt()``.
- PostgreSQL (a SQLAlchemy URL): each query runs in ``SET TRANSACTION READ ONLY`` with
  ``SET LOCAL statement_timeout`` and is rolled back afterwards; a client-side timer cancels it
  too, because the query itself could switch the server-side timeout off.

On both, exactly one statement runs per call: a second statement could ``COMMIT`` the read-only
transaction away on PostgreSQL.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqltune.core.errors import QueryTimeout, SchemaSourceError, SqlRejected, SqltuneError
from sqltune.warehouse.guard import check_sql

log = logging.getLogger(__name__)

ERROR_KINDS = ("syntax", "unknown_table", "unknown_column", "timeout", "rejected", "runtime")


@dataclass
class ExecutionResult:
    """What one query returned, or why it did not. `rows` holds at most the row cap."""

    ok: bool
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    truncated: bool = False  # more than max_rows rows existed
    error: str | None = None
    error_kind: str | None = None  # one of ERROR_KINDS
    elapsed_s: float = 0.0

    @classmethod
    def failure(cls, kind: str, message: str, elapsed_s: float = 0.0) -> "ExecutionResult":
        return cls(ok=False, error=message, error_kind=kind, elapsed_s=elapsed_s)

    def raise_for_error(self, timeout_s: float | None = None) -> "ExecutionResult":
        """Turn a failed result into the matching `SqltuneError` (for callers that want one)."""
        if self.ok:
            return self
        if self.error_kind == "rejected":
            raise SqlRejected(self.error or "rejected", code="sandbox")
        if self.error_kind == "timeout":
            raise QueryTimeout(timeout_s if timeout_s is not None else self.elapsed_s)
        raise SqltuneError(f"query failed ({self.error_kind}): {self.error}")


def _is_url(source: str) -> bool:
    return "://" in source


def count_statements(sql: str, dialect: str) -> int:
    """Statements in `sql`, by sqlglot's tokenizer (strings and comments cannot fool it)."""
    import sqlglot
    from sqlglot.tokens import TokenType

    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    count, pending = 0, False
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            count += pending
            pending = False
        else:
            pending = True
    return count + pending


class Warehouse:
    """One sandboxed read-only connection per warehouse; thread-safe cursors."""

    dialect: str

    def __init__(self, source: str, *, timeout_s: float, max_rows: int, guard: bool):
        self.source = source
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.guard = guard
        self._closed = False

    @classmethod
    def open(
        cls,
        source: str | Path,
        *,
        timeout_s: float = 10.0,
        max_rows: int = 10_000,
        memory_limit: str = "2GB",
        threads: int = 1,
        guard: bool = True,
    ) -> "Warehouse":
        """A DuckDB file path (or ``duckdb:///path``) or a PostgreSQL SQLAlchemy URL."""
        text = str(source)
        if text.startswith("duckdb:///"):
            text = text[len("duckdb:///"):]
        if _is_url(text):
            return _PostgresWarehouse(text, timeout_s=timeout_s, max_rows=max_rows, guard=guard)
        return _DuckDBWarehouse(
            Path(text), timeout_s=timeout_s, max_rows=max_rows, guard=guard, memory_limit=memory_limit, threads=threads
        )

    # -- the one public operation -------------------------------------------------------------
    def execute(self, sql: str, *, max_rows: int | None = None, timeout_s: float | None = None) -> ExecutionResult:
        """Run `sql` (one query) and return its rows, capped at `max_rows`, within `timeout_s`."""
        if self._closed:
            raise SqltuneError(f"warehouse {self.source} is closed")
        limit = self.max_rows if max_rows is None else max_rows
        seconds = self.timeout_s if timeout_s is None else timeout_s
        started = time.perf_counter()
        refusal = self._refusal(sql)
        if refusal is not None:
            return ExecutionResult.failure(refusal[0], refusal[1], time.perf_counter() - started)
        result = self._run(sql, limit, seconds)
        result.elapsed_s = time.perf_counter() - started
        return result

    def _refusal(self, sql: str) -> tuple[str, str] | None:
        if self.guard:
            verdict = check_sql(sql, self.dialect)
            if not verdict.ok:
                kind = "syntax" if verdict.code == "syntax_error" else "rejected"
                return kind, f"{verdict.code}: {verdict.reason}"
            return None
        try:
            statements = count_statements(sql, self.dialect)
        except Exception as error:  # sqlglot's TokenError; cannot tell where statements end
            return "syntax", f"cannot tokenize SQL: {error}"
        if statements != 1:
            return "rejected", f"exactly one statement per call, found {statements}"
        return None

    def _run(self, sql: str, max_rows: int, timeout_s: float) -> ExecutionResult:
        raise NotImplementedError

    def table_names(self) -> set[str]:
        """Lower-case names of the tables and views a query can reference (schema-qualified too)."""
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"


def _fetch(cursor: Any, max_rows: int) -> tuple[list[str], list[tuple], bool]:
    columns = [d[0] for d in (cursor.description or [])]
    if not columns:
        return [], [], False
    rows = [tuple(r) for r in cursor.fetchmany(max_rows + 1)]
    truncated = len(rows) > max_rows
    return columns, rows[:max_rows], truncated


def _with_timer(seconds: float, cancel: Callable[[], None]) -> threading.Timer:
    def fire() -> None:
        try:
            cancel()
        except Exception as error:  # the query ended (and its cursor closed) just as time ran out
            log.debug("cancel after timeout failed: %s", error)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


# -- DuckDB --------------------------------------------------------------------------------------
class _SharedDuckDB:
    """The process-wide sandboxed connection for one file, shared by every `Warehouse` on it."""

    def __init__(self, connection: Any, settings: tuple[str, int]):
        self.connection = connection
        self.settings = settings
        self.users = 0
        self.lock = threading.Lock()


_duckdb_connections: dict[Path, _SharedDuckDB] = {}
_duckdb_registry_lock = threading.Lock()


@atexit.register
def _close_duckdb_connections() -> None:
    """Close connections left open at exit (DuckDB's bindings complain about leaks otherwise)."""
    with _duckdb_registry_lock:
        for shared in _duckdb_connections.values():
            shared.connection.close()
        _duckdb_connections.clear()


def _sandboxed_duckdb(path: Path, memory_limit: str, threads: int) -> Any:
    import duckdb

    try:
        connection = duckdb.connect(
            str(path),
            read_only=True,
            config={
                "memory_limit": memory_limit,
                "threads": threads,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            },
        )
    except duckdb.Error as error:
        raise SchemaSourceError(str(path), str(error).splitlines()[0]) from error
    try:
        connection.execute("SET temp_directory = ''")  # no spilling to disk next to the warehouse
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")  # last: nothing above can be undone
    except duckdb.Error:
        connection.close()
        raise
    return connection


class _DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: Path, *, timeout_s: float, max_rows: int, guard: bool, memory_limit: str, threads: int):
        if not path.is_file():
            raise SchemaSourceError(str(path), "no such DuckDB file")
        super().__init__(str(path), timeout_s=timeout_s, max_rows=max_rows, guard=guard)
        self._key = path.resolve()
        with _duckdb_registry_lock:
            shared = _duckdb_connections.get(self._key)
            if shared is None:
                shared = _SharedDuckDB(_sandboxed_duckdb(self._key, memory_limit, threads), (memory_limit, threads))
                _duckdb_connections[self._key] = shared
            elif shared.settings != (memory_limit, threads):
                log.warning(
                    "%s is already open with memory_limit=%s threads=%s; reusing that connection",
                    path, *shared.settings,
                )
            shared.users += 1
        self._shared = shared

    def _run(self, sql: str, max_rows: int, timeout_s: float) -> ExecutionResult:
        import duckdb

        with self._shared.lock:
            cursor = self._shared.connection.cursor()
        timer = _with_timer(timeout_s, cursor.interrupt)
        try:
            cursor.execute(sql)
            columns, rows, truncated = _fetch(cursor, max_rows)
            return ExecutionResult(ok=True, columns=columns, rows=rows, truncated=truncated)
        except duckdb.Error as error:
            kind = _duckdb_error_kind(error)
            message = f"query exceeded the {timeout_s:g}s timeout" if kind == "timeout" else _first_line(error)
            return ExecutionResult.failure(kind, message)
        finally:
            timer.cancel()
            cursor.close()

    def table_names(self) -> set[str]:
        with self._shared.lock:
            cursor = self._shared.connection.cursor()
        try:
            rows = cursor.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database()"
            ).fetchall()
        finally:
            cursor.close()
        return _qualified_names(rows)

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        with _duckdb_registry_lock:
            self._shared.users -= 1
            if self._shared.users == 0:
                _duckdb_connections.pop(self._key, None)
                self._shared.connection.close()


def _qualified_names(rows: list[tuple]) -> set[str]:
    names: set[str] = set()
    for schema, table in rows:
        names.add(str(table).lower())
        names.add(f"{schema}.{table}".lower())
    return names


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _duckdb_error_kind(error: Exception) -> str:
    import duckdb

    message = str(error)
    if isinstance(error, duckdb.InterruptException):
        return "timeout"
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


# -- PostgreSQL ----------------------------------------------------------------------------------
_PG_ERROR_KINDS = {
    "42601": "syntax",  # syntax_error
    "42P01": "unknown_table",  # undefined_table
    "42703": "unknown_column",  # undefined_column
    "57014": "timeout",  # query_canceled (statement_timeout or cancel)
    "25006": "rejected",  # read_only_sql_transaction
    "42501": "rejected",  # insufficient_privilege
}


_PRIVILEGED_ROLE_SQL = (
    "SELECT rolsuper OR pg_has_role(current_user, 'pg_read_server_files', 'MEMBER') "
    "OR pg_has_role(current_user, 'pg_write_server_files', 'MEMBER') "
    "OR pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER') "
    "FROM pg_roles WHERE rolname = current_user"
)


class _PostgresWarehouse(Warehouse):
    dialect = "postgres"

    def __init__(self, url: str, *, timeout_s: float, max_rows: int, guard: bool):
        import sqlalchemy

        try:
            parsed = sqlalchemy.engine.make_url(url)
            if parsed.drivername == "postgresql":  # SQLAlchemy 2.1 would pick psycopg 3; we ship psycopg2
                parsed = parsed.set(drivername="postgresql+psycopg2")
            engine = sqlalchemy.create_engine(parsed, pool_pre_ping=True)
        except Exception as error:  # bad URL or missing driver
            raise SchemaSourceError(url, _first_line(error)) from error
        shown = engine.url.render_as_string(hide_password=True)
        if engine.dialect.name != "postgresql":
            engine.dispose()
            raise SchemaSourceError(shown, "only DuckDB files and PostgreSQL URLs can be queried in the sandbox")
        super().__init__(shown, timeout_s=timeout_s, max_rows=max_rows, guard=guard)
        self._engine = engine
        try:
            with engine.connect() as connection:
                privileged = connection.exec_driver_sql(_PRIVILEGED_ROLE_SQL).scalar()
        except Exception as error:
            engine.dispose()
            raise SchemaSourceError(shown, _first_line(error)) from error
        if privileged and not guard:
            # A read-only transaction does not stop a superuser's COPY TO/FROM a server file or
            # pg_read_file(); only the guard does. Keep it on rather than open a hole.
            log.warning("%s: role can read/write server files; keeping the SQL guard on", shown)
            self.guard = True

    def _run(self, sql: str, max_rows: int, timeout_s: float) -> ExecutionResult:
        driver_error = self._engine.dialect.loaded_dbapi.Error
        raw = self._engine.raw_connection()
        driver = raw.driver_connection
        # The server-side timeout is the real limit; the client-side cancel is the backstop when a
        # query turns the server's off (set_config with the guard disabled).
        timer = _with_timer(timeout_s + 0.5, driver.cancel)
        try:
            cursor = raw.cursor()
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
            cursor.execute(sql)  # no parameters: the driver leaves '%' in the SQL alone
            columns, rows, truncated = _fetch(cursor, max_rows)
            return ExecutionResult(ok=True, columns=columns, rows=rows, truncated=truncated)
        except driver_error as error:
            state = getattr(error, "pgcode", None) or getattr(error, "sqlstate", None) or ""
            kind = _PG_ERROR_KINDS.get(state, "runtime")
            message = f"query exceeded the {timeout_s:g}s timeout" if kind == "timeout" else _first_line(error)
            return ExecutionResult.failure(kind, message)
        finally:
            timer.cancel()
            try:
                raw.rollback()
            except Exception as error:  # a late cancel or a dropped connection: do not reuse it
                log.debug("rollback failed, discarding the connection: %s", error)
                raw.invalidate()
            raw.close()

    def table_names(self) -> set[str]:
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            ).fetchall()
        return _qualified_names([tuple(r) for r in rows])

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        self._engine.dispose()
