"""Fixture warehouses built by code from the declarative specs in `specs/` (package data).

Three kinds:
- ``harbor``: a retail + logistics DuckDB warehouse (28 tables, tens of thousands of fact rows,
  a fiscal calendar starting 1 February, NULLs and look-alike columns as traps). DDL with comments
  in ``harbor.sql``, generation parameters in ``harbor.yaml``; built by `harbor`.
- ``large``: the harbor warehouse plus several hundred sparse tables from other business domains
  (``large_domains.yaml``), to exercise schema pruning; built by `large`.
- ``ports``: a seaport operations warehouse (17 tables, timestamps, text and composite keys), a
  second warehouse with its own pairs; ``ports.sql`` and ``ports.yaml``, built by `ports`.

The same seed gives identical content. Files are built into a temporary file next to the target
and renamed into place; the cache name carries a fingerprint of that kind's specs and builder
code, so editing one kind's builder does not rebuild the others.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqltune.core.errors import InputError
from warehouse_fixtures import (fiscal_calendar, harbor, harbor_dims, harbor_facts, large, ports, ports_dims, ports_facts,
                              writer)
from warehouse_fixtures.harbor import build_harbor
from warehouse_fixtures.large import build_large_domains
from warehouse_fixtures.ports import build_ports
from warehouse_fixtures.writer import Progress

log = logging.getLogger(__name__)

KINDS = ("harbor", "large", "ports")
# Per kind, the spec files and every module whose code decides its content: editing one changes
# the cache file names of that kind (and of no other).
_HARBOR_SOURCES = (("harbor.sql", "harbor.yaml"), (writer, fiscal_calendar, harbor_dims, harbor_facts, harbor))
_SOURCES = {
    "harbor": _HARBOR_SOURCES,
    "large": ((*_HARBOR_SOURCES[0], "large_domains.yaml"), (*_HARBOR_SOURCES[1], large)),
    "ports": (("ports.sql", "ports.yaml"), (writer, ports_dims, ports_facts, ports)),
}
_BUILDER_MODULES = tuple(dict.fromkeys(m for _, modules in _SOURCES.values() for m in modules))


@dataclass(frozen=True)
class FixtureInfo:
    """What `build_fixture` produced."""

    path: Path
    kind: str
    seed: int
    table_count: int
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())


# ----------------------------------------------------------------------------- public API


def build_fixture(
    path: str | os.PathLike,
    kind: str = "harbor",
    seed: int = 0,
    progress: Progress | None = None,
    *,
    overwrite: bool = False,
) -> FixtureInfo:
    """Build the `kind` fixture warehouse into the DuckDB file `path` (atomically)."""
    _check_kind(kind)
    target = Path(path)
    if target.exists() and not overwrite:
        raise InputError("already exists; refusing to overwrite it (use --force)", source=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda message: log.info(message))

    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.unlink(tmp_name)  # DuckDB wants to create the file itself
    tmp = Path(tmp_name)
    try:
        counts = _fill(tmp, kind, seed, report)
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, Path(f"{tmp}.wal")):
            if leftover.exists():
                leftover.unlink()
    report(f"built {kind} fixture: {len(counts)} tables, {sum(counts.values())} rows -> {target}")
    return FixtureInfo(path=target, kind=kind, seed=seed, table_count=len(counts), row_counts=counts)


def _fill(file: Path, kind: str, seed: int, report: Progress) -> dict[str, int]:
    """Create the DuckDB `file` and build the `kind` tables into it in one transaction; row counts."""
    import duckdb

    con = duckdb.connect(str(file))
    try:
        con.execute("SET threads = 1")  # insertion order, and so the file, stays deterministic
        con.execute("SET enable_progress_bar = false")
        con.execute("BEGIN TRANSACTION")
        if kind == "ports":
            build_ports(con, seed, report)
        else:
            build_harbor(con, seed, report)
        if kind == "large":
            build_large_domains(con, seed, report)
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        return table_row_counts(con)
    finally:
        con.close()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputError(f"unknown fixture kind {kind!r}; choose one of {', '.join(KINDS)}")


def spec_fingerprint(kind: str = "harbor") -> str:
    """Short hash of `kind`'s spec files and builder modules; part of its cache file names."""
    _check_kind(kind)
    specs, modules = _SOURCES[kind]
    return file_digest([*(writer.SPEC_DIR / name for name in specs), Path(__file__),
                        *(Path(m.__file__) for m in modules)])[:12]


def file_digest(files) -> str:
    """sha256 over the names and bytes of `files`, in order."""
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.name.encode())
        digest.update(p.read_bytes())
    return digest.hexdigest()


def cache_dir() -> Path:
    """Root of sqltune's cache: $SQLTUNE_HOME, else ~/.cache/sqltune."""
    from sqltune.core.paths import home

    return home()


def default_fixture_path(kind: str = "harbor", seed: int = 0) -> Path:
    """Cache path for a fixture; the name carries the spec fingerprint so spec edits rebuild."""
    _check_kind(kind)
    return cache_dir() / "fixtures" / f"{kind}-seed{seed}-{spec_fingerprint(kind)}.duckdb"


def ensure_fixture(kind: str = "harbor", seed: int = 0, progress: Progress | None = None) -> Path:
    """The cached fixture file, built once if missing (safe when several processes race)."""
    path = default_fixture_path(kind, seed)
    if not path.exists():
        try:
            build_fixture(path, kind=kind, seed=seed, progress=progress)
        except InputError:
            if not path.exists():  # lost a race to another builder: that file is just as good
                raise
    return path


def table_row_counts(con) -> dict[str, int]:
    """Row count of every base table of the main schema, by table name."""
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT internal ORDER BY table_name"
    ).fetchall()]
    return {n: con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


def table_checksums(path: str | os.PathLike) -> dict[str, str]:
    """md5 of each table's rows (as sorted text); equal dicts mean equal content."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for name in table_row_counts(con):
            out[name] = con.execute(
                f"SELECT md5(COALESCE(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR)), '')) "
                f'FROM "{name}" t'
            ).fetchone()[0]
        return out
    finally:
        con.close()
