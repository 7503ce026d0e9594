"""The HTTP server: question -> SQL -> guard -> (optional) sandboxed execution -> rows.

The HTTP status describes the request (bad input 400/413/422, unknown adapter 404, overload 503
with `Retry-After`); the fate of the generated SQL (rejected by the guard, timed out, failed) is
reported inside a 200 body as `validation_error` / `execution_error`, each with a `code`. Every
non-2xx body is `{"error": {"code", "message"}}`, FastAPI's own errors included; no question
text that is valid JSON gives a 500.

Generation is blocking and CPU-bound: it runs in a bounded worker pool (1 worker by default); a
request beyond `workers + max_queue` is refused at once, and one that cannot start generating
within `queue_timeout_s` is taken off the queue and answered 503. The generated SQL is checked
once, by the guard inside a sandbox worker (under the query time limit), and the text that runs is
exactly the text returned. Queries run in a second bounded pool, one thread per sandbox worker.
A model that runs candidates (execution-guided decoding) runs them in the same sandbox, within
`request_timeout_s` of the request's arrival; the answer says how many ran and agreed.

Modules: `routes` (the endpoints), `steps` (validation, generation, execution), `errors` (error
bodies and handlers), `body_limit` (oversized and deeply nested bodies).
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fastapi import FastAPI, Request

from sqltune.core.config import setting
from sqltune.core.errors import ConfigError
from sqltune.serve.audit import AuditLog, NullAuditLog
from sqltune.serve.body_limit import MAX_JSON_DEPTH, BodyLimit, json_depth  # noqa: F401 - re-exported
from sqltune.serve.errors import ApiError, error_response, install_error_handlers  # noqa: F401 - re-exported
from sqltune.serve.pool import BoundedPool
from sqltune.serve.routes import Server, register_routes

if TYPE_CHECKING:
    from sqltune.warehouse.execute import Warehouse

log = logging.getLogger(__name__)


@runtime_checkable
class SqlGenerator(Protocol):
    """What the server needs from a model: named adapters and one blocking call. A model may also
    offer `answer(question, adapter=, deadline=)` (candidates run and voted on, within `deadline`,
    a `time.monotonic()` time) and `attach_warehouse(warehouse)` (where they run)."""

    adapters: list[str]  # "" or None selects the base/merged model

    def generate_sql(self, question: str, *, adapter: str | None) -> str: ...


@dataclass
class ServeSettings:
    """Limits and wiring of the server; every field has a safe default."""

    db: str | None = setting(None, help="Warehouse: a DuckDB file or an SQLAlchemy URL (schema for prompts, execution).")
    dialect: str = setting("duckdb", help="SQL dialect for the guard when no warehouse is attached.")
    default_adapter: str | None = setting(None, help="Adapter for requests that name none (default: the first).")
    workers: int = setting(1, flag="--gen-workers", help="Generation threads (each holds the model in turn).", min=1)
    max_queue: int = setting(8, help="Generation requests that may wait beyond the running ones; beyond: 503 + Retry-After.", min=0)
    queue_timeout_s: float = setting(30.0, flag="--queue-timeout", help="Seconds a request may wait to start generating; then 503 + Retry-After.", min=0.1)
    exec_workers: int = setting(2, help="Queries that run at once (sandbox worker processes).", min=1)
    exec_max_queue: int = setting(8, help="Queries that may wait for an execution worker; beyond: 503.", min=0)
    max_question_chars: int = setting(2000, help="Longest question accepted.", min=1)
    max_rows: int = setting(100, help="Most rows returned per request.", min=1)
    query_timeout_s: float = setting(5.0, flag="--timeout", help="Seconds a query may run.", min=0.1)
    request_timeout_s: float = setting(60.0, flag="--request-timeout", help="Seconds a request may take to generate and run its candidates (queueing included).", min=0.1)
    retry_after_s: int = setting(1, help="Retry-After seconds sent with a 503.", min=0)
    audit_log: str | None = setting(None, help="Append one JSON line per request to this file.")
    memory_limit: str = setting("1GB", help="Memory one query may add to its sandbox worker process.")
    allow_privileged_role: bool = setting(False, help="Accept a PostgreSQL role that is a superuser or can write (not recommended).")

    def validate(self) -> None:
        if self.workers < 1 or self.exec_workers < 1 or self.max_queue < 0 or self.exec_max_queue < 0:
            raise ConfigError("serve: workers must be >= 1 and queues >= 0")
        if self.max_question_chars < 1 or self.max_rows < 1 or self.query_timeout_s <= 0 or self.queue_timeout_s <= 0:
            raise ConfigError("serve: max_question_chars, max_rows, query_timeout_s and queue_timeout_s must be positive")

    @property
    def max_body_bytes(self) -> int:
        """Large enough for a maximal question even if every character is JSON-escaped."""
        return max(16_384, 6 * self.max_question_chars + 1_024)


def create_app(settings: ServeSettings, generator: SqlGenerator, *, warehouse: "Warehouse | None" = None) -> FastAPI:
    """Build the FastAPI app. The warehouse is opened from `settings.db` unless one is given; a
    model that runs candidates (`attach_warehouse`) runs them there, in its sandbox."""
    settings.validate()
    if settings.default_adapter and settings.default_adapter not in generator.adapters:
        raise ConfigError(f"default adapter {settings.default_adapter!r} is not loaded; adapters: {generator.adapters}")
    if warehouse is None and settings.db:
        warehouse = _open_warehouse(settings)
    attach = getattr(generator, "attach_warehouse", None)
    if warehouse is not None and callable(attach):
        attach(warehouse)
    audit = AuditLog(settings.audit_log) if settings.audit_log else NullAuditLog()
    gen_pool = BoundedPool("generate", workers=settings.workers, max_queue=settings.max_queue)
    exec_pool = BoundedPool("execute", workers=settings.exec_workers, max_queue=settings.exec_max_queue)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        gen_pool.shutdown()
        exec_pool.shutdown()
        audit.close()
        if warehouse is not None:
            warehouse.close()

    app = FastAPI(
        title="sqltune",
        summary="Natural-language questions to read-only SQL for one warehouse.",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.generator = generator
    app.state.gen_pool = gen_pool
    app.state.exec_pool = exec_pool
    app.state.audit = audit
    write_audit = _audit_writer(audit)
    install_error_handlers(app, write_audit)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, audit=audit)
    dialect = warehouse.dialect if warehouse is not None else settings.dialect
    register_routes(app, Server(settings, generator, warehouse, dialect, gen_pool, exec_pool, write_audit))
    return app


def _open_warehouse(settings: ServeSettings) -> "Warehouse":
    from sqltune.warehouse.execute import Warehouse

    return Warehouse.open(
        settings.db, timeout_s=settings.query_timeout_s, max_rows=settings.max_rows,
        memory_limit=settings.memory_limit, guard=True, processes=settings.exec_workers,
        allow_privileged_role=settings.allow_privileged_role,
    )


def _audit_writer(audit: AuditLog | NullAuditLog):
    """One audit line per /v1/sql request: who, what, status, latency."""

    def write_audit(request: Request, status: int, **fields: Any) -> None:
        if request.url.path != "/v1/sql":
            return
        started = getattr(request.state, "started", None)
        entry = {
            "request_id": getattr(request.state, "request_id", None),
            "client": request.client.host if request.client else None,
            "status": status,
            **getattr(request.state, "audit", {}),
            **fields,
        }
        if started is not None:
            entry["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        try:
            audit.write(entry)
        except OSError:
            log.exception("cannot write the audit log")

    return write_audit


def serve(settings: ServeSettings, generator: SqlGenerator, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    app = create_app(settings, generator)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


__all__ = ["ApiError", "ServeSettings", "SqlGenerator", "create_app", "serve"]
