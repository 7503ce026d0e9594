"""The server's settings and what it needs from a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqltune.core.config import setting
from sqltune.core.errors import ConfigError
from sqltune.inference.generate import DecodeConfig
from sqltune.schema.roles import ALLOW_PRIVILEGED_ROLE_HELP


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
    body_timeout_s: float = setting(10.0, flag="--body-timeout", help="Seconds a request body may take to arrive; then 408.", min=0.1)
    audit_log: str | None = setting(None, help="Append one JSON line per request to this file.")
    memory_limit: str = setting("1GB", help="Memory one query may add to its sandbox worker process.")
    allow_privileged_role: bool = setting(False, help=ALLOW_PRIVILEGED_ROLE_HELP)
    allow_dialect_mismatch: bool = setting(False, help="Serve a model trained for another SQL dialect than the warehouse's.")
    decode: DecodeConfig = setting(default_factory=DecodeConfig, help="How the model writes SQL: schema constraint, candidates run and voted on.")

    def validate(self) -> None:
        if self.workers < 1 or self.exec_workers < 1 or self.max_queue < 0 or self.exec_max_queue < 0:
            raise ConfigError("serve: workers must be >= 1 and queues >= 0")
        if self.max_question_chars < 1 or self.max_rows < 1 or self.query_timeout_s <= 0 or self.queue_timeout_s <= 0:
            raise ConfigError("serve: max_question_chars, max_rows, query_timeout_s and queue_timeout_s must be positive")

    @property
    def max_body_bytes(self) -> int:
        """Large enough for a maximal question even if every character is JSON-escaped."""
        return max(16_384, 6 * self.max_question_chars + 1_024)
