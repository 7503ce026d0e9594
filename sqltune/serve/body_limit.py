"""ASGI middleware that refuses oversized, deeply nested or slow request bodies before anything parses them."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqltune.serve.audit import AUDITED_PATHS, AuditLog, NullAuditLog
from sqltune.serve.errors import error_response

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
    """ASGI middleware: refuse request bodies over `max_bytes` (413), nested deeper than
    `MAX_JSON_DEPTH` (400) or not all there within `read_timeout_s` (408: a slow partial body is
    not held open), before anything parses them. A client that goes away mid-body gets one audit
    line (499, as nginx logs it) and nothing else: no response, no traceback."""

    def __init__(self, app: Any, max_bytes: int, audit: AuditLog | NullAuditLog, read_timeout_s: float = 10.0):
        self.app = app
        self.max_bytes = max_bytes
        self.audit = audit
        self.read_timeout_s = read_timeout_s

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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout_s
        while more:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                self._audit(scope, 408, "body_timeout")
                message = f"the request body did not arrive within {self.read_timeout_s:g} s"
                await error_response(408, "body_timeout", message, path=scope.get("path"))(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                self._audit(scope, 499, "client_disconnected")
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
            await error_response(400, "json_too_deep", message, path=scope.get("path"))(scope, receive, send)
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
        response = error_response(413, "payload_too_large", f"request body over {self.max_bytes} bytes", path=scope.get("path"))
        self._audit(scope, 413, "payload_too_large")
        await response(scope, receive, send)

    def _audit(self, scope: dict, status: int, code: str) -> None:
        if scope.get("path") in AUDITED_PATHS:
            client = scope.get("client")
            request_id = (scope.get("state") or {}).get("request_id")
            self.audit.write({"request_id": request_id, "client": client[0] if client else None, "status": status, "error": code})
