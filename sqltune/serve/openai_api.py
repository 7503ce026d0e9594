"""OpenAI-compatible routes, so any OpenAI client can ask sqltune for SQL:

- `GET /v1/models`: the loaded adapters by name, and `default` (the server's default adapter, or the
  base or merged model when no adapter is loaded);
- `POST /v1/chat/completions`: the last user message is the question; `model` names the adapter. The
  answer is the SQL, generated with the server's decoding and checked by the guard in the sandbox,
  exactly as `POST /v1/sql` with `"execute": false`; the client's sampling fields (temperature,
  max_tokens, ...) are accepted and not used. SQL the guard refuses is not sent as the message: the
  choice ends with `finish_reason: "content_filter"` and the refusal is in the response's `sqltune` field.

Errors come in OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`, errors.py); an unknown
model is 404 `model_not_found`, as OpenAI answers it. Every question gets an audit line, as on /v1/sql.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from sqltune.serve import steps
from sqltune.serve.errors import ApiError
from sqltune.serve.schemas import SqlFailure, SqlRequest

DEFAULT_MODEL = "default"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat request; fields sqltune does not use (temperature, max_tokens, ...) are accepted."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="An adapter's name (GET /v1/models), or `default`.")
    messages: list[ChatMessage] = Field(min_length=1, description="The last user message is the question.")
    stream: bool | None = Field(False, description="Streaming is not offered: false or left out.")
    n: int | None = Field(1, description="One answer per request: 1 or left out.")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "content_filter"]


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class SqltuneVerdict(BaseModel):
    """What sqltune adds: the adapter that answered, and the guard's verdict on the SQL."""

    request_id: str
    adapter: str | None
    sql: str = Field(description="The generated SQL, also when the guard refused it (then not the message).")
    valid: bool
    validation_error: SqlFailure | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)
    sqltune: SqltuneVerdict


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "sqltune"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    """Every non-2xx answer of the OpenAI routes has this shape."""

    error: OpenAIErrorDetail


OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIError, "description": text}
    for status, text in (
        (400, "Malformed JSON, streaming or n > 1 asked for, or no user message"),
        (404, "Unknown model"),
        (413, "Question or body too long"),
        (422, "Wrong field names or types, or an empty question"),
        (503, "Overloaded: retry after `Retry-After` seconds"),
        (504, "No answer within the request's time limit (`--request-timeout`)"),
    )
}


def model_names(adapters: list[str]) -> list[str]:
    """The ids /v1/models lists: every adapter, then `default` (unless an adapter has that name)."""
    return [*adapters, *([] if DEFAULT_MODEL in adapters else [DEFAULT_MODEL])]


def adapter_for_model(model: str, adapters: list[str], default_adapter: str | None) -> str:
    """The adapter a `model` selects ("" is the base or merged model), or 404 `model_not_found`."""
    if model in adapters:
        return model
    if model == DEFAULT_MODEL:
        return default_adapter or ""
    known = ", ".join(model_names(adapters))
    raise ApiError(404, "model_not_found", f"The model {model!r} does not exist; models: {known}", param="model")


def question_of(body: ChatCompletionRequest) -> str:
    """The last user message's text (string content, or the text parts of a list)."""
    if body.stream:
        raise ApiError(400, "unsupported_parameter", "streaming is not offered: send stream false", param="stream")
    if body.n not in (None, 1):
        raise ApiError(400, "unsupported_parameter", "one answer per request: send n 1", param="n")
    for message in reversed(body.messages):
        if message.role != "user":
            continue
        content = message.content
        if isinstance(content, list):
            content = "\n".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
        return content or ""
    raise ApiError(400, "no_user_message", "messages hold no user message: the last one is the question", param="messages")


def register_openai_routes(app: FastAPI, server: Any) -> None:
    """The two routes, sharing `server` (routes.Server: settings, model, warehouse, pools, audit) with /v1/sql.
    Typed Any: routes.py imports this module."""
    settings, generator = server.settings, server.generator
    started = int(time.time())

    @app.get("/v1/models", response_model=ModelList, responses=OPENAI_ERRORS, tags=["OpenAI-compatible"])
    async def list_models() -> ModelList:
        """The models a chat completion may name: the adapters, and `default`."""
        return ModelList(data=[ModelCard(id=name, created=started) for name in model_names(list(generator.adapters))])

    @app.post("/v1/chat/completions", response_model=ChatCompletion, responses=OPENAI_ERRORS, tags=["OpenAI-compatible"])
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> ChatCompletion:
        """The SQL for the last user message, from the adapter `model` names, checked by the guard."""
        request.state.audit = {"model": body.model, "execute": False}
        question = question_of(body)
        request.state.audit.update(question=question[: settings.max_question_chars], question_chars=len(question))
        adapter = adapter_for_model(body.model, list(generator.adapters), settings.default_adapter)
        question, adapter = steps.validated_request(SqlRequest(question=question, adapter=adapter), settings, generator,
                                                    server.warehouse)
        request.state.audit["adapter"] = adapter
        deadline = steps.deadline_for(settings, request.state.started_monotonic)
        generated = await steps.generate(server.gen_pool, generator, settings, question, adapter, deadline, execute=False)
        verdict = await steps.check(server.warehouse, server.exec_pool, settings, generated.sql, server.dialect,
                                    parsed=generated.parsed)
        problem = None if verdict.ok else SqlFailure(code=verdict.code or "rejected", message=verdict.reason or "rejected")
        request.state.audit.update(sql=generated.sql, valid=verdict.ok, verdict=problem.code if problem else None)
        server.write_audit(request, 200)
        return ChatCompletion(
            id=f"chatcmpl-{request.state.request_id}", created=int(time.time()), model=body.model,
            choices=[Choice(index=0, message=AssistantMessage(content=generated.sql if verdict.ok else None),
                            finish_reason="stop" if verdict.ok else "content_filter")],
            sqltune=SqltuneVerdict(request_id=request.state.request_id, adapter=adapter or None, sql=generated.sql,
                                   valid=verdict.ok, validation_error=problem),
        )
