"""Run records (train, merge, eval) in a SQLite database file with versioned migrations.

The database lives at `$SQLTUNE_HOME/registry.sqlite` (default `~/.cache/sqltune/registry.sqlite`).
Each operation opens its own short-lived connection, so a `Registry` can be shared between threads
and several processes can write to the same file (SQLite's WAL journal, busy timeout).
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from sqltune.core.connections import mask_in
from sqltune.core.errors import SqltuneError
from sqltune.core.paths import home

KINDS = ("train", "merge", "eval")
STATUSES = ("running", "completed", "failed")
JSON_FIELDS = ("config", "quant_config", "lora_config", "data_hashes", "metrics")

# Migration N brings the schema from version N-1 to N. Append only; never edit a shipped one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        created_at TEXT NOT NULL,
        base_model TEXT NOT NULL,
        adapter_dir TEXT,
        output_dir TEXT,
        status TEXT NOT NULL,
        config TEXT NOT NULL,
        quant_config TEXT,
        lora_config TEXT,
        data_hashes TEXT NOT NULL,
        metrics TEXT NOT NULL
    );
    """,
    """
    ALTER TABLE runs ADD COLUMN parent_run_id TEXT REFERENCES runs(run_id);
    CREATE INDEX runs_kind_created ON runs(kind, created_at);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class RegistryError(SqltuneError):
    """The registry file is unusable, or a run id is unknown or ambiguous."""


@dataclass
class RunRecord:
    """One run: what went in (model, configs, data hashes) and what came out (dirs, metrics)."""

    run_id: str
    kind: str  # "train" | "merge" | "eval"
    created_at: str
    base_model: str
    adapter_dir: str | None
    output_dir: str | None
    status: str  # "running" | "completed" | "failed"
    config: dict = field(default_factory=dict)
    quant_config: dict | None = None
    lora_config: dict | None = None
    data_hashes: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    parent_run_id: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def new_run_id(kind: str) -> str:
    """Sortable and unique: `train-20261123-141502-3f9a1c`."""
    return f"{kind}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_path() -> Path:
    """`$SQLTUNE_REGISTRY` when set (one file, e.g. per test session), else `$SQLTUNE_HOME/registry.sqlite`."""
    explicit = os.environ.get("SQLTUNE_REGISTRY")
    return Path(explicit) if explicit else home() / "registry.sqlite"


_COLUMNS = [f.name for f in fields(RunRecord)]


class Registry:
    """Add, update and query run records."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"{self.path}: not a usable registry database ({exc})") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
        with self._transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            if version > SCHEMA_VERSION:
                raise RegistryError(
                    f"{self.path}: registry schema version {version} is newer than this sqltune knows "
                    f"({SCHEMA_VERSION}); upgrade sqltune"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("UPDATE schema_version SET version = ?", (target,))

    def schema_version(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT version FROM schema_version").fetchone()[0]

    # -- writing ---------------------------------------------------------------------------------
    def add(self, record: RunRecord) -> None:
        _check(record.kind, KINDS, "kind")
        _check(record.status, STATUSES, "status")
        values = _encode(mask_in(record.to_dict()))  # a warehouse URL's password is never stored
        try:
            with self._transaction() as conn:
                conn.execute(
                    f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})",
                    [values[c] for c in _COLUMNS],
                )
        except sqlite3.IntegrityError as exc:
            raise RegistryError(f"cannot add run {record.run_id}: {exc}") from None

    def update(self, run_id: str, /, **changes: Any) -> None:
        """Replace the named fields of one run (e.g. `status="completed", metrics={...}`)."""
        unknown = set(changes) - set(_COLUMNS) | ({"run_id"} & set(changes))
        if unknown:
            raise RegistryError(f"cannot update field(s) {sorted(unknown)}; fields: {_COLUMNS[1:]}")
        if "status" in changes:
            _check(changes["status"], STATUSES, "status")
        if "kind" in changes:
            _check(changes["kind"], KINDS, "kind")
        values = _encode(mask_in(changes))
        if not values:
            return
        try:
            with self._transaction() as conn:
                cur = conn.execute(
                    f"UPDATE runs SET {', '.join(f'{c} = ?' for c in values)} WHERE run_id = ?",
                    [*values.values(), run_id],
                )
                if cur.rowcount == 0:
                    raise RegistryError(f"no run with id {run_id!r} in {self.path}")
        except sqlite3.IntegrityError as exc:
            raise RegistryError(f"cannot update run {run_id}: {exc}") from None

    def merge_metrics(self, run_id: str, metrics: dict) -> dict:
        """Add or overwrite some metrics of one run, keeping the others; returns the merged dict."""
        with self._transaction() as conn:
            row = conn.execute("SELECT metrics FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise RegistryError(f"no run with id {run_id!r} in {self.path}")
            merged = {**json.loads(row[0]), **metrics}
            conn.execute("UPDATE runs SET metrics = ? WHERE run_id = ?", (_dumps(merged), run_id))
        return merged

    # -- reading ---------------------------------------------------------------------------------
    def get(self, run_id_or_prefix: str) -> RunRecord:
        """The run with this id, or the only run whose id starts with this prefix."""
        key = run_id_or_prefix.strip()
        if not key:
            raise RegistryError("empty run id")
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (key,)).fetchone()
            if row is not None:
                return _decode(row)
            pattern = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = conn.execute(
                "SELECT * FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT 6", (pattern,)
            ).fetchall()
        if not rows:
            raise RegistryError(f"no run with id {key!r} in {self.path}")
        if len(rows) > 1:
            ids = ", ".join(r["run_id"] for r in rows[:5])
            raise RegistryError(f"run id prefix {key!r} is ambiguous: {ids}{', ...' if len(rows) > 5 else ''}")
        return _decode(rows[0])

    def list(self, kind: str | None = None, limit: int = 50) -> list[RunRecord]:
        """Newest first."""
        if kind is not None:
            _check(kind, KINDS, "kind")
        query = "SELECT * FROM runs" + (" WHERE kind = ?" if kind else "") + " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        with self._connect() as conn:
            rows = conn.execute(query, ([kind] if kind else []) + [max(0, limit)]).fetchall()
        return [_decode(r) for r in rows]


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise RegistryError(f"invalid run {what} {value!r}; expected one of {', '.join(allowed)}")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _encode(values: dict) -> dict:
    return {k: (_dumps(v) if k in JSON_FIELDS and v is not None else v) for k, v in values.items()}


def _decode(row: sqlite3.Row) -> RunRecord:
    data = {k: row[k] for k in row.keys()}
    for k in JSON_FIELDS:
        if data[k] is not None:
            data[k] = json.loads(data[k])
    return RunRecord(**{k: data[k] for k in _COLUMNS})
