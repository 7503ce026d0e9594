"""Error answers of the HTTP API: one JSON shape (`{"error": {"code", "message"}}`) for every
non-2xx status, FastAPI's own errors included; on the OpenAI-compatible routes (`/v1/chat/completions`,
`/v1/models`) OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`), which its clients read."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sqltune.serve.schemas import ErrorResponse

log = logging.getLogger(__name__)


OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")


class ApiError(Exception):
    """An error answer: HTTP status, machine-readable code, message, optional headers, and the
    request field at fault (`param`, shown on the OpenAI routes)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 param: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.param = status, code, message, headers or {}, param


def is_openai_path(path: str | None) -> bool:
    return bool(path) and any(path == p or path.startswith(p + "/") for p in OPENAI_PATHS)


def openai_error_type(status: int) -> str:
    """OpenAI's `type` for a status: the request's fault, overload, or the server's."""
    if status in (429, 503):
        return "rate_limit_error" if status == 429 else "server_error"
    return "invalid_request_error" if 400 <= status < 500 else "server_error"


def error_response(status: int, code: str, message: str, *, details: list | None = None,
                   headers: dict[str, str] | None = None, path: str | None = None,
                   param: str | None = None) -> JSONResponse:
    """The error body for a request to `path`: OpenAI's shape on the OpenAI routes, sqltune's elsewhere."""
    if is_openai_path(path):
        body: dict[str, Any] = {"message": message, "type": openai_error_type(status), "param": param, "code": code}
    else:
        body = {"code": code, "message": message}
        if details:
            body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "Malformed JSON, JSON nested too deeply, or a body that is not UTF-8"),
        (404, "Unknown adapter"),
        (413, "Question or body too long"),
        (422, "Wrong field names or types, an empty question, or text that is not valid Unicode"),
        (503, "Overloaded, or the request could not start in time: retry after `Retry-After` seconds"),
        (504, "No answer within the request's time limit (`--request-timeout`)"),
    )
}


def overloaded(retry_after_s: int, code: str = "overloaded", message: str | None = None) -> ApiError:
    return ApiError(
        503, code, message or f"the server is busy; retry in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
    )


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_problem(field: str, text: str) -> ApiError | None:
    """JSON may carry "\\ud800" (a lone UTF-16 surrogate), which is not text: say so instead of failing later."""
    bad = _LONE_SURROGATE.search(text)
    if bad is None:
        return None
    return ApiError(
        422, "invalid_unicode",
        f"the {field} contains an unpaired UTF-16 surrogate (\\u{ord(bad.group()):04x}) at character {bad.start()}; "
        "send valid Unicode text",
    )


def body_problem(cause: BaseException | None) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return f"request body is not valid UTF-8: byte 0x{cause.object[cause.start]:02x} at position {cause.start}"
    if isinstance(cause, RecursionError):
        return "request body JSON is nested too deeply"
    return "request body could not be read as JSON" + (f" ({type(cause).__name__})" if cause is not None else "")


def install_error_handlers(app: FastAPI, write_audit: Callable[..., None]) -> None:
    """Every error becomes a JSON body with a code, and an audit line for the routes that answer questions."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        write_audit(request, exc.status, error=exc.code)
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers, path=request.url.path, param=exc.param)

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
        first = errors[0].get("loc", ()) if errors else ()
        param = ".".join(str(p) for p in first[1:]) if len(first) > 1 and first[0] == "body" else None
        return error_response(status, code, message, details=details, path=request.url.path, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        message = body_problem(exc.__cause__) if exc.status_code == 400 else str(exc.detail)
        write_audit(request, exc.status_code, error=code)
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None), path=request.url.path)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in %s", request.url.path)
        write_audit(request, 500, error="internal_error")
        return error_response(500, "internal_error", "internal server error; see the server log", path=request.url.path)
