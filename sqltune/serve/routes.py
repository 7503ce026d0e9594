"""The HTTP routes: the playground page, /healthz and POST /v1/sql (the OpenAI-compatible ones: openai_api.py)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from sqltune.serve import steps
from sqltune.serve.errors import ERROR_RESPONSES
from sqltune.serve.openai_api import register_openai_routes
from sqltune.serve.playground import CONTENT_SECURITY_POLICY, PAGE
from sqltune.serve.pool import BoundedPool
from sqltune.serve.schemas import Health, SqlFailure, SqlRequest, SqlResponse

if TYPE_CHECKING:
    from sqltune.serve.settings import ServeSettings, SqlGenerator
    from sqltune.execution.execute import Warehouse


@dataclass
class Server:
    """What the routes share: settings, model, warehouse, pools and the audit writer."""

    settings: "ServeSettings"
    generator: "SqlGenerator"
    warehouse: "Warehouse | None"
    dialect: str
    gen_pool: BoundedPool
    exec_pool: BoundedPool
    write_audit: Callable[..., None]


def register_routes(app: FastAPI, server: Server) -> None:
    settings, generator, warehouse = server.settings, server.generator, server.warehouse

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
            generation_in_flight=server.gen_pool.in_flight,
            generation_capacity=server.gen_pool.capacity,
        )

    @app.post("/v1/sql", response_model=SqlResponse, responses=ERROR_RESPONSES)
    async def sql(body: SqlRequest, request: Request) -> SqlResponse:
        """Generate SQL for a question; with `execute`, run it read-only and return the rows."""
        request.state.audit = {
            "question": body.question[: settings.max_question_chars],
            "question_chars": len(body.question),
            "adapter": body.adapter,
            "execute": body.execute,
        }
        question, adapter = steps.validated_request(body, settings, generator, warehouse)
        request.state.audit["adapter"] = adapter
        deadline = steps.deadline_for(settings, request.state.started_monotonic)
        generated = await steps.generate(server.gen_pool, generator, settings, question, adapter, deadline, execute=body.execute)
        response: dict[str, Any] = {"request_id": request.state.request_id, "sql": generated.sql, "adapter": adapter,
                                    **generated.fields()}
        if generated.candidates is not None:
            request.state.audit.update(candidates=generated.candidates, candidates_ran=generated.candidates_ran,
                                       candidates_agreeing=generated.candidates_agreeing)
        if generated.runs:  # every candidate's SQL and verdict, not only how many there were
            request.state.audit["candidate_runs"] = generated.audited_runs()
        # One guard check, in a sandbox worker under the time limit; what runs is `generated.sql` itself,
        # once: the rows its candidate run returned are served as they are.
        if body.execute:
            result = steps.reusable_result(generated, steps.row_limit(settings, body.max_rows), settings)
            if result is None:
                result = await steps.execute(warehouse, server.exec_pool, settings, generated.sql, body.max_rows, deadline)
            # rows become JSON values in a thread: a large result does not hold up /healthz
            response.update(await asyncio.to_thread(steps.result_fields, result))
            request.state.audit.update(
                executed=response["executed"], rows=len(response.get("rows") or []),
                execution_error=response["execution_error"].code if response.get("execution_error") else None,
            )
        else:
            verdict = await steps.check(warehouse, server.exec_pool, settings, generated.sql, server.dialect,
                                        parsed=generated.parsed)
            response["valid"] = verdict.ok
            if not verdict.ok:
                response["validation_error"] = SqlFailure(code=verdict.code or "rejected", message=verdict.reason or "rejected")
        problem = response.get("validation_error")
        request.state.audit.update(sql=generated.sql, valid=response["valid"], verdict=problem.code if problem else None)
        response["latency_ms"] = steps.elapsed_ms(request.state.started)
        server.write_audit(request, 200)
        return SqlResponse(**response)

    register_openai_routes(app, server)
    app.add_middleware(RequestId)  # added last: outermost, so the body checks' audit lines carry the id


class RequestId:
    """ASGI middleware: a request id and start times in the request's state, the id in the
    X-Request-ID header. Plain ASGI, not `@app.middleware("http")`: that one turns a request its
    client left mid-body (nothing sent back) into a 500 with two tracebacks."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        import uuid

        request_id = uuid.uuid4().hex
        scope.setdefault("state", {}).update(request_id=request_id, started=time.perf_counter(),
                                             started_monotonic=time.monotonic())

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_id)
