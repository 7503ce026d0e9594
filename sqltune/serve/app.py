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
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sqltune.core.config import setting
from sqltune.core.errors import ConfigError, SqltuneError
from sqltune.serve.audit import AuditLog, NullAuditLog
from sqltune.serve.jsonable import jsonable_rows
from sqltune.serve.playground import CONTENT_SECURITY_POLICY, PAGE
from sqltune.serve.pool import BoundedPool, Overloaded, StartTimeout
from sqltune.serve.schemas import ErrorResponse, Health, Problem, SqlRequest, SqlResponse

if TYPE_CHECKING:
    from sqltune.warehouse.execute import ExecutionResult, Warehouse

log = logging.getLogger(__name__)


@runtime_checkable
class SqlGenerator(Protocol):
    """What the server needs from a model: named adapters and one blocking call."""

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
    retry_after_s: int = setting(1, help="Retry-After seconds sent with a 503.", min=0)
    audit_log: str | None = setting(None, help="Append one JSON line per request to this file.")
    memory_limit: str = setting("1GB", help="Memory one query may add to its sandbox worker process.")
    allow_privileged_role: bool = setting(False, help="Accept a PostgreSQL role that is a superuser or can write (not recommended).")
    allow_dialect_mismatch: bool = setting(False, help="Serve a model trained for another SQL dialect than the warehouse's.")

    def validate(self) -> None:
        if self.workers < 1 or self.exec_workers < 1 or self.max_queue < 0 or self.exec_max_queue < 0:
            raise ConfigError("serve: workers must be >= 1 and queues >= 0")
        if self.max_question_chars < 1 or self.max_rows < 1 or self.query_timeout_s <= 0 or self.queue_timeout_s <= 0:
            raise ConfigError("serve: max_question_chars, max_rows, query_timeout_s and queue_timeout_s must be positive")

    @property
    def max_body_bytes(self) -> int:
        """Large enough for a maximal question even if every character is JSON-escaped."""
        return max(16_384, 6 * self.max_question_chars + 1_024)


class ApiError(Exception):
    """An error answer: HTTP status, machine-readable code, message, optional headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, *, details: list | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "Malformed JSON, JSON nested too deeply, or a body that is not UTF-8"),
        (404, "Unknown adapter"),
        (413, "Question or body too long"),
        (422, "Wrong field names or types, an empty question, or text that is not valid Unicode"),
        (503, "Overloaded, or the request could not start in time: retry after `Retry-After` seconds"),
    )
}


def create_app(settings: ServeSettings, generator: SqlGenerator, *, warehouse: "Warehouse | None" = None) -> FastAPI:
    """Build the FastAPI app. The warehouse is opened from `settings.db` unless one is given."""
    settings.validate()
    if settings.default_adapter and settings.default_adapter not in generator.adapters:
        raise ConfigError(f"default adapter {settings.default_adapter!r} is not loaded; adapters: {generator.adapters}")
    if warehouse is None and settings.db:
        from sqltune.warehouse.execute import Warehouse

        warehouse = Warehouse.open(
            settings.db, timeout_s=settings.query_timeout_s, max_rows=settings.max_rows,
            memory_limit=settings.memory_limit, guard=True, processes=settings.exec_workers,
            allow_privileged_role=settings.allow_privileged_role,
        )
    dialect = warehouse.dialect if warehouse is not None else settings.dialect
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

    # -- errors: every one a JSON body with a code -------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        write_audit(request, exc.status, error=exc.code)
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        invalid = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if invalid is not None:
            status, code = 400, "malformed_json"
            where = invalid.get("loc", ())
            detail = (invalid.get("ctx") or {}).get("error")
            message = "request body is not valid JSON" + (f": {detail}" if detail else "") + (
                f" at character {where[1]}" if len(where) > 1 else "")
        else:
            status, code = 422, "invalid_request"
            message = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors[:5])
        details = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in errors[:20]]
        write_audit(request, status, error=code)
        return error_response(status, code, message, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        message = _body_problem(exc.__cause__) if exc.status_code == 400 else str(exc.detail)
        write_audit(request, exc.status_code, error=code)
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in %s", request.url.path)
        write_audit(request, 500, error="internal_error")
        return error_response(500, "internal_error", "internal server error; see the server log")

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, audit=audit)

    # -- routes ------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def playground() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff"})

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(
            status="ok",
            adapters=list(generator.adapters),
            default_adapter=settings.default_adapter,
            execution=warehouse is not None,
            generation_in_flight=gen_pool.in_flight,
            generation_capacity=gen_pool.capacity,
        )

    @app.post("/v1/sql", response_model=SqlResponse, responses=_ERROR_RESPONSES)
    async def sql(body: SqlRequest, request: Request) -> SqlResponse:
        """Generate SQL for a question; with `execute`, run it read-only and return the rows."""
        request.state.audit = {
            "question": body.question[: settings.max_question_chars],
            "question_chars": len(body.question),
            "adapter": body.adapter,
            "execute": body.execute,
        }
        for field, text in (("question", body.question), ("adapter", body.adapter or "")):
            problem = _unicode_problem(field, text)
            if problem is not None:
                raise problem
        question = body.question.strip()
        if not question:
            raise ApiError(422, "empty_question", "the question is empty")
        if len(body.question) > settings.max_question_chars:
            raise ApiError(413, "question_too_long", f"question has {len(body.question)} characters; the limit is {settings.max_question_chars}")
        adapter = settings.default_adapter if body.adapter is None else body.adapter
        if adapter and adapter not in generator.adapters:
            known = ", ".join(generator.adapters) or "none"
            raise ApiError(404, "unknown_adapter", f"unknown adapter {adapter!r}; loaded adapters: {known}")
        request.state.audit["adapter"] = adapter
        if body.execute and warehouse is None:
            raise ApiError(422, "execution_unavailable", "this server has no warehouse attached (start it with --db)")

        try:
            generated = await gen_pool.run(
                lambda: generator.generate_sql(question, adapter=adapter), start_within=settings.queue_timeout_s,
            )
        except StartTimeout:
            raise _overloaded(
                settings, "queue_timeout",
                f"the request could not start generating within {settings.queue_timeout_s:g} s; "
                f"retry in {settings.retry_after_s} s",
            ) from None
        except Overloaded:
            raise _overloaded(settings) from None
        except SqltuneError as exc:  # the model's own user-facing errors (e.g. a broken adapter)
            raise ApiError(500, "generation_failed", str(exc)) from None

        generated = generated if isinstance(generated, str) else str(generated)
        response: dict[str, Any] = {"request_id": request.state.request_id, "sql": generated, "adapter": adapter}
        # One guard check, in a sandbox worker under the time limit; what runs is `generated` itself.
        if body.execute:
            result = await _execute(warehouse, exec_pool, settings, generated, body.max_rows)
            response.update(_result_fields(result))
            request.state.audit.update(
                executed=response["executed"], rows=len(response.get("rows") or []),
                execution_error=response["execution_error"].code if response.get("execution_error") else None,
            )
        else:
            verdict = await _check(warehouse, exec_pool, settings, generated, dialect)
            response["valid"] = verdict.ok
            if not verdict.ok:
                response["validation_error"] = Problem(code=verdict.code or "rejected", message=verdict.reason or "rejected")
        problem = response.get("validation_error")
        request.state.audit.update(sql=generated, valid=response["valid"], verdict=problem.code if problem else None)
        response["latency_ms"] = round((time.perf_counter() - request.state.started) * 1000, 2)
        write_audit(request, 200)
        return SqlResponse(**response)

    @app.middleware("http")
    async def _request_id(request: Request, call_next):
        request.state.request_id = uuid.uuid4().hex
        request.state.started = time.perf_counter()
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    return app


def _overloaded(settings: ServeSettings, code: str = "overloaded", message: str | None = None) -> ApiError:
    return ApiError(
        503, code, message or f"the server is busy; retry in {settings.retry_after_s} s",
        headers={"Retry-After": str(settings.retry_after_s)},
    )


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _unicode_problem(field: str, text: str) -> ApiError | None:
    """JSON may carry "\\ud800" (a lone UTF-16 surrogate), which is not text: say so instead of failing later."""
    bad = _LONE_SURROGATE.search(text)
    if bad is None:
        return None
    return ApiError(
        422, "invalid_unicode",
        f"the {field} contains an unpaired UTF-16 surrogate (\\u{ord(bad.group()):04x}) at character {bad.start()}; "
        "send valid Unicode text",
    )


def _body_problem(cause: BaseException | None) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return f"request body is not valid UTF-8: byte 0x{cause.object[cause.start]:02x} at position {cause.start}"
    if isinstance(cause, RecursionError):
        return "request body JSON is nested too deeply"
    return "request body could not be read as JSON" + (f" ({type(cause).__name__})" if cause is not None else "")


async def _execute(warehouse: "Warehouse", pool: BoundedPool, settings: ServeSettings, sql: str,
                   max_rows: int | None) -> "ExecutionResult":
    """Guard and run `sql` in a sandbox worker; it must start within the query timeout (503 if not)."""
    from sqltune.warehouse.execute import ExecutionResult

    from sqltune.warehouse.sandbox import GRACE_S

    limit = min(max_rows or settings.max_rows, settings.max_rows)
    timeout = settings.query_timeout_s
    # Once started, a query answers within its timeout (the sandbox kills it GRACE_S later); the
    # backstop also bounds a wait for a replacement worker still starting after a kill.
    finish_within = timeout + GRACE_S + 0.5
    try:
        future = pool.submit(lambda: warehouse.execute(sql, max_rows=limit, timeout_s=timeout))
    except Overloaded:
        raise _overloaded(settings) from None
    waiting = asyncio.wrap_future(future)
    done, _ = await asyncio.wait({waiting}, timeout=timeout)
    if not done and future.cancel():
        raise _overloaded(settings, "queue_timeout", f"no query slot came free within {timeout:g} s; "
                          f"retry in {settings.retry_after_s} s")
    try:
        return await asyncio.wait_for(asyncio.shield(waiting), finish_within)
    except asyncio.TimeoutError:  # the thread finishes on its own: the sandbox ends every query
        return ExecutionResult.failure("timeout", f"no answer within {finish_within:g} s (query timeout "
                                       f"{timeout:g} s, waiting for a sandbox worker included)")


async def _check(warehouse: "Warehouse | None", pool: BoundedPool, settings: ServeSettings, sql: str, dialect: str):
    """The guard's verdict: in a sandbox worker under the query timeout when a warehouse is attached,
    else in a thread (the guard's length limit bounds the parse)."""
    from sqltune.warehouse.guard import check_sql

    if warehouse is None:
        return await asyncio.to_thread(check_sql, sql, dialect)
    timeout = settings.query_timeout_s
    try:
        return await pool.run(lambda: warehouse.check(sql, timeout_s=timeout), start_within=timeout)
    except StartTimeout:
        raise _overloaded(settings, "queue_timeout", f"no query slot came free within {timeout:g} s; "
                          f"retry in {settings.retry_after_s} s") from None
    except Overloaded:
        raise _overloaded(settings) from None


def _result_fields(result: "ExecutionResult") -> dict:
    """Response fields for an execution: a guard refusal is a validation error, the rest execution's."""
    if result.guard_code is not None:
        reason = (result.error or "rejected").removeprefix(f"{result.guard_code}: ")
        return {"valid": False, "executed": False, "validation_error": Problem(code=result.guard_code, message=reason)}
    if not result.ok:
        return {"valid": True, "executed": False,
                "execution_error": Problem(code=str(result.error_kind or "runtime"), message=result.error or "query failed")}
    return {"valid": True, "executed": True, "columns": list(result.columns), "rows": jsonable_rows(result.rows),
            "truncated": bool(result.truncated)}


MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """How deeply `body`'s arrays and objects nest (brackets inside strings do not count)."""
    depth = deepest = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', body)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


class BodyLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` (413) or nested deeper than
    `MAX_JSON_DEPTH` (400) before anything parses them."""

    def __init__(self, app: Any, max_bytes: int, audit: AuditLog | NullAuditLog):
        self.app = app
        self.max_bytes = max_bytes
        self.audit = audit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        depth = json_depth(body)
        if depth > MAX_JSON_DEPTH:
            message = f"request body JSON is nested {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed"
            self._audit(scope, 400, "json_too_deep")
            await error_response(400, "json_too_deep", message)(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict, receive: Any, send: Any) -> None:
        response = error_response(413, "payload_too_large", f"request body over {self.max_bytes} bytes")
        self._audit(scope, 413, "payload_too_large")
        await response(scope, receive, send)

    def _audit(self, scope: dict, status: int, code: str) -> None:
        if scope.get("path") == "/v1/sql":
            client = scope.get("client")
            request_id = (scope.get("state") or {}).get("request_id")
            self.audit.write({"request_id": request_id, "client": client[0] if client else None, "status": status, "error": code})


def serve(settings: ServeSettings, generator: SqlGenerator, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    app = create_app(settings, generator)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


__all__ = ["ApiError", "ServeSettings", "SqlGenerator", "create_app", "serve"]
