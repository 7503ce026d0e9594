"""Run one query against a warehouse inside a sandbox, with hard time and memory limits and a row cap.

Three lines of defence, each enough on its own for the common attacks:

1. The AST guard (`sqltune.execution.guard`): one read-only query, only allow-listed pure functions, no
   system catalog. It runs inside the sandbox worker, so its parse is under the time limit too,
   followed by the database's own reading (`sqltune.execution.engine_check`): DuckDB's parse tree
   and function catalog, PostgreSQL's catalog of functions, operators and casts. Whatever breaks
   while checking refuses the SQL, on the check-only path too.
2. The sandbox process (`sqltune.execution.sandbox`): every query runs in a worker process with an
   address-space cap, no file writes, and a kill (SIGKILL) when its reply is late by more than
   `sandbox.GRACE_S`; a killed worker is replaced and the others keep answering.
3. The database session itself:
   - DuckDB: the file opened ``read_only``, external access (files, network, extensions) off,
     spilling off, a memory limit, the configuration locked last; a fresh connection (cursor) per
     query so no temp table, variable or prepared statement survives; DuckDB's own parser must
     see exactly one SELECT (no parser differential with sqlglot).
   - PostgreSQL: refused for superusers and roles that can write the warehouse's tables unless
     the caller opts in (`allow_privileged_role`); each query in ``SET TRANSACTION READ ONLY``
     with ``SET LOCAL statement_timeout``, through a server-side cursor (only the rows asked for
     are sent), rolled back and the connection reset with ``DISCARD ALL`` after use (no advisory
     lock, setting, prepared statement or temp table survives); connections time out.

One error channel: `execute` never raises for anything the SQL did; the `ExecutionResult` says
what happened (`error_kind`, one of `ErrorKind`, and a message). It raises only for misuse
(a closed warehouse). Opening raises `SqltuneError` subclasses (a missing file, an unreachable
server, a privileged role).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sqltune.core.errors import PrivilegedRoleError, SchemaSourceError, SqltuneError
from sqltune.schema.roles import check_role, privileged_role_allowed
from sqltune.execution.guard import DEFAULT_POLICY, GuardPolicy, GuardVerdict, count_statements  # noqa: F401 - re-exported
from sqltune.execution.sandbox import SandboxPool, SandboxUnavailable

log = logging.getLogger(__name__)


class ErrorKind(StrEnum):
    """Why a query gave no rows. A str, so ``result.error_kind == "timeout"`` works."""

    SYNTAX = "syntax"  # the guard or the database could not parse it
    UNKNOWN_TABLE = "unknown_table"
    UNKNOWN_COLUMN = "unknown_column"
    TIMEOUT = "timeout"  # ran past its time limit (interrupted, cancelled or killed)
    REJECTED = "rejected"  # refused by the guard or the sandbox (writes, files, settings, catalog)
    MEMORY = "memory"  # ran past its memory cap
    TOO_LARGE = "too_large"  # the capped rows were still too many bytes to return
    RUNTIME = "runtime"  # any other database error


ERROR_KINDS = tuple(kind.value for kind in ErrorKind)


@dataclass
class ExecutionResult:
    """What one query returned, or why it did not. `rows` holds at most the row cap."""

    ok: bool
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    truncated: bool = False  # more than max_rows rows existed
    error: str | None = None
    error_kind: ErrorKind | None = None
    guard_code: str | None = None  # the guard's code (e.g. "write_statement") when the guard refused it
    elapsed_s: float = 0.0  # the query's own time in its worker (waiting for a free worker not counted)

    @classmethod
    def failure(cls, kind: str, message: str, elapsed_s: float = 0.0, guard_code: str | None = None) -> "ExecutionResult":
        return cls(ok=False, error=message, error_kind=ErrorKind(kind), guard_code=guard_code, elapsed_s=elapsed_s)


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_memory(text: str | int) -> int:
    """Bytes in a size like "2GB", "512MiB" or 1000000 (DuckDB's spelling: KB = 1000 bytes)."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise SqltuneError(f"cannot read memory size {text!r} (examples: 512MB, 2GB, 1GiB)")
    return int(float(match.group(1)) * _UNITS[unit])


def _is_url(source: str) -> bool:
    return "://" in source


SQLITE_HEADER = b"SQLite format 3\x00"


def _sqlite_path(text: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, or a path whose header says SQLite; None otherwise."""
    if text.startswith("sqlite:///"):
        return Path(text[len("sqlite:///"):].split("?", 1)[0])
    if _is_url(text):
        return None
    path = Path(text)
    try:
        with path.open("rb") as handle:
            return path if handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER else None
    except OSError:
        return None


# -- several databases ---------------------------------------------------------------------------
DATABASE_TEMPLATE = "{db}"
DATABASE_LAYOUTS = ("{db}.duckdb", "{db}.sqlite", "{db}.sqlite3", "{db}.db", "{db}/{db}.sqlite", "{db}/{db}.duckdb")
_DATABASE_NAME = re.compile(r"[\w][\w.\- ]*")


def is_database_collection(location: str | Path) -> bool:
    """Whether `location` names many databases (a folder, or a template with `{db}`), not one."""
    text = str(location)
    return DATABASE_TEMPLATE in text or (not _is_url(text) and Path(text).is_dir())


def locate_database(location: str | Path, name: str) -> tuple[str | None, list[str]]:
    """The source of database `name` in a collection (see `is_database_collection`), or None,
    with the places looked at. A folder holds `<db>.duckdb`, `<db>.sqlite` (also .sqlite3, .db)
    or Spider's `<db>/<db>.sqlite`; a template has `{db}` replaced (a URL, or a path).
    Names are plain file names: no separators, no leading dot."""
    text = str(location)
    if not _DATABASE_NAME.fullmatch(name) or name.strip() != name:
        raise SqltuneError(f"database name {name!r} is not a plain name (letters, digits, _ . - and spaces)")
    if DATABASE_TEMPLATE in text:
        source = text.replace(DATABASE_TEMPLATE, name)
        if _is_url(source) and not source.startswith(("duckdb:///", "sqlite:///")):
            return source, [source]
        path = source.split(":///", 1)[1] if ":///" in source else source
        return (source if Path(path).is_file() else None), [path]
    folder = Path(text)
    candidates = [folder / layout.format(db=name) for layout in DATABASE_LAYOUTS]
    found = [c for c in candidates if c.is_file()]
    if len(found) > 1:
        raise SqltuneError(f"database {name!r} is ambiguous in {folder}: {', '.join(str(f) for f in found)}")
    return (str(found[0]) if found else None), [str(c) for c in candidates]
def can_execute(source: str | Path) -> bool:
    """Whether `Warehouse.open` can run queries on `source`: a DuckDB file, a SQLite file or a
    PostgreSQL URL (a DDL file has no data; other databases have no sandbox backend yet)."""
    from sqltune.core.connections import resolve_source, url_dialect
    from sqltune.schema import source_kind

    text = resolve_source(source)
    if text.startswith("duckdb://") or _sqlite_path(text) is not None:
        return True
    if _is_url(text):
        return url_dialect(text) == "postgres" and text.split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")
    return source_kind(text) == "duckdb"


class Warehouse:
    """A warehouse behind a pool of sandbox workers. Thread-safe: call `execute` from any thread."""

    dialect: str

    def __init__(self, source: str, *, timeout_s: float, max_rows: int, guard: bool, policy: GuardPolicy):
        self.source = source
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.guard = guard
        self.policy = policy
        self._closed = False
        self._pool: SandboxPool | None = None

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
        processes: int = 2,
        policy: GuardPolicy | None = None,
        allow_privileged_role: bool = False,
        connect_timeout_s: float = 10.0,
    ) -> "Warehouse":
        """A DuckDB file path (or ``duckdb:///path``), a SQLite file (or ``sqlite:///path``) or a
        PostgreSQL SQLAlchemy URL.

        `memory_limit` caps what one query may add to its worker process; `processes` is the
        number of queries that can run at once (more callers wait for a free worker).
        `allow_privileged_role` (or ``SQLTUNE_ALLOW_PRIVILEGED_ROLE=1``) accepts a PostgreSQL role
        that is a superuser or can write the warehouse's tables.
        """
        from sqltune.core.connections import resolve_source

        text = resolve_source(source)
        if text.startswith("duckdb:///"):
            text = text[len("duckdb:///"):]
        sqlite_path = _sqlite_path(text)
        common = dict(
            timeout_s=timeout_s, max_rows=max_rows, guard=guard, policy=policy or DEFAULT_POLICY,
            memory_bytes=parse_memory(memory_limit), processes=processes,
        )
        if sqlite_path is not None:
            return _SQLiteWarehouse(sqlite_path, **common)
        if not _is_url(text) and Path(text).is_dir():
            raise SchemaSourceError(text, "is a folder, not a database file; a folder of databases (one per row's `db`) "
                                          "is read by `sqltune eval score --db FOLDER`")
        if _is_url(text):
            return _PostgresWarehouse(
                text, allow_privileged_role=privileged_role_allowed(allow_privileged_role),
                connect_timeout_s=connect_timeout_s, **common,
            )
        return _DuckDBWarehouse(Path(text), threads=threads, **common)

    # -- the public operations ------------------------------------------------------------------
    def execute(self, sql: str, *, max_rows: int | None = None, timeout_s: float | None = None) -> ExecutionResult:
        """Run `sql` (one query) and return its rows, capped at `max_rows`, within `timeout_s`.

        The guard (when on) checks `sql` inside the worker, under the same time limit; the text
        that runs is exactly `sql`.
        """
        pool = self._live_pool()
        limit = self.max_rows if max_rows is None else max_rows
        seconds = self.timeout_s if timeout_s is None else timeout_s
        reply = pool.run(sql, max_rows=limit, timeout_s=seconds, guard=self.guard)
        if not reply.ok:
            return ExecutionResult.failure(reply.kind or "runtime", reply.message or "query failed", reply.elapsed_s,
                                           reply.guard_code)
        return ExecutionResult(ok=True, columns=reply.columns or [], rows=reply.rows or [], truncated=reply.truncated,
                               elapsed_s=reply.elapsed_s)

    def check(self, sql: str, *, timeout_s: float | None = None) -> GuardVerdict:
        """The guard's verdict on `sql`, computed in a worker and cut off at `timeout_s`."""
        ok, code, reason = self._live_pool().check(sql, timeout_s=self.timeout_s if timeout_s is None else timeout_s)
        return GuardVerdict(ok=ok, code=code, reason=reason)

    def table_names(self) -> set[str]:
        """Lower-case names of the tables and views a query can reference (schema-qualified too)."""
        raise NotImplementedError

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the sandbox workers (tests and monitoring)."""
        return self._live_pool().pids

    def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.close()

    def _live_pool(self) -> SandboxPool:
        if self._closed or self._pool is None:
            raise SqltuneError(f"warehouse {self.source} is closed")
        return self._pool

    def _internal_rows(self, sql: str) -> list[tuple]:
        """Rows of one of sqltune's own catalog queries (trusted: no guard)."""
        reply = self._live_pool().run(sql, max_rows=1_000_000, timeout_s=max(self.timeout_s, 30.0), guard=False)
        if not reply.ok:
            raise SchemaSourceError(self.source, reply.message or "cannot list tables")
        return reply.rows or []

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"


def _qualified_names(rows: list[tuple]) -> set[str]:
    names: set[str] = set()
    for schema, table in rows:
        names.add(str(table).lower())
        names.add(f"{schema}.{table}".lower())
    return names


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# -- DuckDB --------------------------------------------------------------------------------------
class _DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: Path, *, threads: int, memory_bytes: int, processes: int, **common):
        if not path.is_file():
            raise SchemaSourceError(str(path), "no such DuckDB file")
        super().__init__(str(path), **common)
        try:
            self._pool = SandboxPool(
                backend="duckdb", dialect=self.dialect, policy=self.policy, processes=processes,
                memory_bytes=memory_bytes, path=str(path.resolve()), threads=threads,
            )
        except SandboxUnavailable as error:
            raise SchemaSourceError(str(path), str(error).splitlines()[0]) from error

    def table_names(self) -> set[str]:
        return _qualified_names(self._internal_rows(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database()"
        ))


# -- SQLite --------------------------------------------------------------------------------------
class _SQLiteWarehouse(Warehouse):
    """A SQLite file (Spider's and BIRD's databases), opened read-only in each sandbox worker."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, memory_bytes: int, processes: int, **common):
        if not path.is_file():
            raise SchemaSourceError(str(path), "no such SQLite file")
        super().__init__(str(path), **common)
        try:
            self._pool = SandboxPool(
                backend="sqlite", dialect=self.dialect, policy=self.policy, processes=processes,
                memory_bytes=memory_bytes, path=str(path.resolve()),
            )
        except SandboxUnavailable as error:
            raise SchemaSourceError(str(path), str(error).splitlines()[0]) from error

    def table_names(self) -> set[str]:
        rows = self._internal_rows("SELECT 'main', name FROM sqlite_master WHERE type IN ('table', 'view')")
        return _qualified_names(rows)


# -- PostgreSQL ----------------------------------------------------------------------------------
class _PostgresWarehouse(Warehouse):
    dialect = "postgres"

    def __init__(self, url: str, *, allow_privileged_role: bool, connect_timeout_s: float, memory_bytes: int,
                 processes: int, **common):
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        connect_timeout = max(1, int(round(connect_timeout_s)))
        try:
            parsed = sqlalchemy.engine.make_url(url)
            if parsed.drivername in ("postgresql", "postgres"):  # SQLAlchemy 2.1 would pick psycopg 3; we ship psycopg2
                parsed = parsed.set(drivername="postgresql+psycopg2")
            engine = sqlalchemy.create_engine(
                parsed, poolclass=NullPool, connect_args={"connect_timeout": connect_timeout, "application_name": "sqltune"},
            )
        except Exception as error:  # bad URL or missing driver
            from sqltune.core.connections import mask_url

            raise SchemaSourceError(mask_url(url), _first_line(error)) from error
        shown = engine.url.render_as_string(hide_password=True)
        if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg2":
            engine.dispose()
            raise SchemaSourceError(shown, "only DuckDB files and PostgreSQL (psycopg2) URLs can be queried in the sandbox")
        super().__init__(shown, **common)
        self._engine = engine
        try:
            raw = engine.raw_connection()
            try:
                found = check_role(raw.driver_connection)
            finally:
                raw.close()
        except Exception as error:
            engine.dispose()
            raise SchemaSourceError(shown, _first_line(error)) from error
        role, problems, beyond_tables = found.role, found.problems, found.beyond_tables
        if problems and not allow_privileged_role:
            engine.dispose()
            raise PrivilegedRoleError(
                f"refusing to run generated SQL on {shown} as role {role!r}: {'; '.join(problems)}. "
                "A prompt-injected model could use that to read server files or change data. Connect as a role "
                "that can only read (CREATE ROLE reader LOGIN; GRANT USAGE ON SCHEMA s TO reader; GRANT SELECT ON "
                "ALL TABLES IN SCHEMA s TO reader), or accept the risk explicitly with allow_privileged_role=True "
                "(CLI: --allow-privileged-role, or SQLTUNE_ALLOW_PRIVILEGED_ROLE=1)"
            )
        if problems:
            log.warning("%s: running generated SQL as privileged role %r (%s), as allowed", shown, role, "; ".join(problems))
            if beyond_tables and not self.guard:
                # A read-only transaction does not stop a superuser's pg_read_file(); only the guard
                # does. Keep it on rather than open a hole.
                log.warning("%s: role is privileged; keeping the SQL guard on", shown)
                self.guard = True
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        cparams = {**cparams, "connect_timeout": connect_timeout, "application_name": "sqltune-sandbox"}
        try:
            self._pool = SandboxPool(
                backend="postgres", dialect=self.dialect, policy=self.policy, processes=processes,
                memory_bytes=memory_bytes, pg_connect=(tuple(cargs), cparams),
            )
        except SandboxUnavailable as error:
            engine.dispose()
            raise SchemaSourceError(shown, str(error)) from error

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
