"""Request and response bodies of the HTTP API (they also make the OpenAPI document at /docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SqlRequest(BaseModel):
    """Ask for SQL; optionally run it (read-only, guarded, time- and row-limited)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(description="Natural-language question about the warehouse.")
    adapter: str | None = Field(None, description="Adapter name; omitted: the server's default; \"\": the base/merged model.")
    execute: bool = Field(False, description="Also run the SQL on the warehouse and return rows.")
    max_rows: int | None = Field(None, ge=1, description="Row cap; values above the server's cap are lowered to it.")


class SqlFailure(BaseModel):
    """Why the SQL was not valid or did not run; `code` is machine-readable."""

    code: str
    message: str


class SqlResponse(BaseModel):
    request_id: str
    sql: str
    valid: bool = Field(description="The SQL passed the read-only guard.")
    validation_error: SqlFailure | None = None
    executed: bool = False
    execution_error: SqlFailure | None = Field(None, description="Set when execution was asked for and failed (code: timeout, runtime, ...).")
    columns: list[str] | None = None
    rows: list[list[Any]] | None = None
    truncated: bool | None = Field(None, description="More rows existed than were returned.")
    latency_ms: float
    adapter: str | None
    candidates: int | None = Field(None, description="Candidate queries generated (execution-guided decoding).")
    candidates_ran: int | None = Field(None, description="Candidates that ran in the sandbox before the choice.")
    candidates_agreeing: int | None = Field(None, description="Candidates that returned the chosen SQL's result.")
    choice_reason: str | None = Field(None, description="Why the choice is doubtful, e.g. every candidate failed.")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    """Every non-2xx answer has this shape."""

    error: ErrorDetail


class Health(BaseModel):
    status: str
    adapters: list[str]
    default_adapter: str | None
    execution: bool = Field(description="A warehouse is attached, so `execute` works.")
    generation_in_flight: int
    generation_capacity: int
