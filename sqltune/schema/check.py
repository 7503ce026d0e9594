"""`check_source`: can sqltune reach a warehouse? Connect, read the schema, run `SELECT 1`, timing each;
on PostgreSQL, also whether the role may run generated SQL.

The first thing to run against a new warehouse: each step is bounded by `timeout_s`, so a wrong
host or a firewall that swallows packets shows up as a failed step in seconds, not a hang. The
`role` step applies the Warehouse's own privilege test (`sqltune.schema.roles`): a role that is a
superuser or can write fails it, as every command that runs SQL would refuse it, unless the
caller opts in (`allow_privileged_role`), when it passes and says what the role can do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from sqltune.core.connections import mask_url, resolve_source
from sqltune.core.errors import SchemaSourceError
from sqltune.schema._common import first_line


@dataclass
class CheckStep:
    name: str  # connect | schema | query | role
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class SourceCheck:
    """What `check_source` found; `ok` when every step passed."""

    source: str  # as given, password masked
    kind: str = ""  # duckdb | sqlite | ddl | sqlalchemy
    dialect: str | None = None
    tables: int | None = None
    steps: list[CheckStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def to_dict(self) -> dict:
        return {"source": self.source, "kind": self.kind, "dialect": self.dialect, "tables": self.tables, "ok": self.ok,
                "steps": [vars(s) for s in self.steps]}


def _timed(check: SourceCheck, name: str, action) -> object | None:
    started = time.perf_counter()
    try:
        result, detail = action()
    except SchemaSourceError as exc:
        check.steps.append(CheckStep(name, False, time.perf_counter() - started, exc.cause))
        return None
    except Exception as exc:  # noqa: BLE001 - a driver error is this step's result, reported
        check.steps.append(CheckStep(name, False, time.perf_counter() - started, mask_url(first_line(exc))))
        return None
    check.steps.append(CheckStep(name, True, time.perf_counter() - started, detail))
    return result


def check_source(source: str | Path, *, timeout_s: float = 10.0, allow_privileged_role: bool = False) -> SourceCheck:
    """Connect to `source`, read its schema (no samples), run `SELECT 1`, and on PostgreSQL test the
    role's privileges; stop at the first failure."""
    from sqltune.schema import load_schema, source_dialect, source_kind

    check = SourceCheck(source=mask_url(str(source)))
    try:
        resolved = resolve_source(source)
        check.kind = "duckdb" if resolved.startswith("duckdb://") else source_kind(resolved)
        check.dialect = source_dialect(resolved)
    except SchemaSourceError as exc:
        check.steps.append(CheckStep("connect", False, 0.0, exc.cause))
        return check

    if check.kind == "ddl":
        schema = _timed(check, "schema", lambda: _schema(load_schema(resolved, samples_per_column=0)))
        if schema is not None:
            check.tables, check.dialect = len(schema.tables), check.dialect or schema.dialect
        return check
    if check.kind == "duckdb":
        path = resolved.split("://", 1)[1].removeprefix("/") if "://" in resolved else resolved
        connection = _timed(check, "connect", lambda: _duckdb_connect(path))
        query = (lambda: _duckdb_select_one(connection))
    else:
        url = f"sqlite:///{Path(resolved).resolve()}" if check.kind == "sqlite" else resolved
        connection = _timed(check, "connect", lambda: _sqlalchemy_connect(url, timeout_s))
        query = (lambda: _sqlalchemy_select_one(connection))
    if connection is None:
        return check
    try:
        schema = _timed(check, "schema", lambda: _schema(load_schema(resolved, samples_per_column=0, timeout_s=timeout_s)))
        if schema is not None:
            check.tables = len(schema.tables)
            check.dialect = check.dialect or schema.dialect
            if _timed(check, "query", query) is not None and getattr(connection, "dialect", None) is not None \
                    and connection.dialect.name == "postgresql":
                _role_step(check, connection, allow_privileged_role)
    finally:
        _close(connection)
    return check


def _schema(schema):
    views = sum(1 for t in schema.tables if t.row_count is None)
    return schema, f"{len(schema.tables)} tables/views ({views} without row count), {sum(len(t.columns) for t in schema.tables)} columns"


def _role_step(check: SourceCheck, connection, allow_privileged_role: bool) -> None:
    """The Warehouse's privilege test as a step: fails for a privileged role unless allowed."""
    from sqltune.schema.roles import check_role, privileged_role_allowed

    started = time.perf_counter()
    try:
        found = check_role(connection.connection.driver_connection)
    except Exception as exc:  # noqa: BLE001 - a catalog error is this step's result, reported
        check.steps.append(CheckStep("role", False, time.perf_counter() - started, mask_url(first_line(exc))))
        return
    seconds = time.perf_counter() - started
    if not found.privileged:
        check.steps.append(CheckStep("role", True, seconds, f"role {found.role!r} can only read"))
        return
    allowed = privileged_role_allowed(allow_privileged_role)
    verdict = ("allowed: sqltune will run SQL as this role" if allowed else
               "sqltune refuses to run SQL as this role: connect as a role that can only read, or pass --allow-privileged-role")
    check.steps.append(CheckStep("role", allowed, seconds, f"role {found.role!r} is privileged: {'; '.join(found.problems)}; {verdict}"))


def _duckdb_connect(path: str):
    import duckdb

    if not Path(path).is_file():
        raise SchemaSourceError(path, "no such file")
    return duckdb.connect(path, read_only=True), f"opened {Path(path).name} read-only"


def _duckdb_select_one(connection):
    value = connection.execute("SELECT 1").fetchone()[0]
    return value, f"SELECT 1 -> {value}"


def _sqlalchemy_connect(url: str, timeout_s: float):
    from sqltune.schema.sqlalchemy_reader import create_engine

    engine, shown = create_engine(url, timeout_s=timeout_s)
    try:
        connection = engine.connect()
    except Exception:
        engine.dispose()
        raise
    version = connection.dialect.server_version_info
    detail = f"{connection.dialect.name} {'.'.join(map(str, version)) if version else ''}".strip()
    return connection, detail


def _sqlalchemy_select_one(connection):
    import sqlalchemy as sa

    value = connection.execute(sa.text("SELECT 1")).scalar_one()
    return value, f"SELECT 1 -> {value}"


def _close(connection) -> None:
    try:
        engine = getattr(connection, "engine", None)
        connection.close()
        if engine is not None:
            engine.dispose()
    except Exception:  # noqa: BLE001 - closing after a failure must not hide it
        pass
