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
bodies and handlers), `body_limit` (oversized, deeply nested and slow bodies, clients gone mid-body).
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request

from sqltune.core.errors import ConfigError
from sqltune.serve.audit import AUDITED_PATHS, AuditLog, NullAuditLog
from sqltune.serve.body_limit import MAX_JSON_DEPTH, BodyLimit, json_depth  # noqa: F401 - re-exported
from sqltune.serve.errors import ApiError, error_response, install_error_handlers  # noqa: F401 - re-exported
from sqltune.serve.pool import BoundedPool
from sqltune.serve.routes import Server, register_routes
from sqltune.serve.settings import ServeSettings, SqlGenerator

if TYPE_CHECKING:
    from sqltune.execution.execute import Warehouse

log = logging.getLogger(__name__)


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
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, audit=audit, read_timeout_s=settings.body_timeout_s)
    dialect = warehouse.dialect if warehouse is not None else settings.dialect
    register_routes(app, Server(settings, generator, warehouse, dialect, gen_pool, exec_pool, write_audit))
    return app


def _open_warehouse(settings: ServeSettings) -> "Warehouse":
    from sqltune.execution.execute import Warehouse

    return Warehouse.open(
        settings.db, timeout_s=settings.query_timeout_s, max_rows=settings.max_rows,
        memory_limit=settings.memory_limit, guard=True, processes=settings.exec_workers,
        allow_privileged_role=settings.allow_privileged_role,
    )


def _audit_writer(audit: AuditLog | NullAuditLog):
    """One audit line per question asked (/v1/sql, /v1/chat/completions): who, what, status, latency."""

    def write_audit(request: Request, status: int, **fields: Any) -> None:
        if request.url.path not in AUDITED_PATHS:
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
