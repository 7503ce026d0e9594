"""`sqltune schema show` on DuckDB, DDL and PostgreSQL sources; bad sources fail in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pytest

from sqltune.cli import main

REPO = Path(__file__).resolve().parents[1]
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def test_show_ddl_summary_text_and_json(capsys):
    assert main(["schema", "show", str(REPO / "schemas" / "ecommerce.sql")]) == 0
    out = capsys.readouterr().out
    assert "order_items" in out and "7 tables" in out and "tokens" in out
    assert main(["schema", "show", str(REPO / "schemas" / "ecommerce.sql"), "--text", "--no-comments"]) == 0
    text = capsys.readouterr().out
    assert "CREATE TABLE reviews (" in text and "--" not in text
    assert main(["schema", "show", str(REPO / "schemas" / "ecommerce.sql"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in data["tables"]][:2] == ["customers", "categories"]


def test_show_duckdb_with_question_prunes(tmp_path, capsys, monkeypatch):
    import sqltune.schema.relevance as relevance

    monkeypatch.setattr(relevance, "_DEFAULT_SCORER", relevance.LexicalScorer())  # keep the test fast
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    for i in range(12):
        con.execute(f"CREATE TABLE misc_{i} (id INTEGER PRIMARY KEY, label_{i} VARCHAR, amount_{i} DOUBLE)")
    con.execute("CREATE TABLE vessels (imo INTEGER PRIMARY KEY, vessel_name VARCHAR)")
    con.execute("INSERT INTO vessels VALUES (1, 'Nordic Star')")
    con.close()
    argv = ["schema", "show", str(path), "--question", "Which vessels are there?", "--max-tokens", "60"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pruned" in out and "CREATE TABLE vessels" in out and "misc_5" not in out.split("Schema:")[1]
    assert "Question: Which vessels are there?" in out and "'Nordic Star'" in out


def test_show_postgres_url(capsys):
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        engine.connect().close()
    except Exception:  # noqa: BLE001
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL not reachable")
    name = f"sqltune_cli_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}; CREATE TABLE {name}.berths (berth_no INT PRIMARY KEY)")
        conn.exec_driver_sql(f"COMMENT ON TABLE {name}.berths IS 'Mooring places'")
    try:
        assert main(["schema", "show", PG_URL, "--db-schema", name, "--text"]) == 0
        assert capsys.readouterr().out.strip() == (
            "CREATE TABLE berths ( -- Mooring places\n  berth_no int primary key\n);"
        )
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        engine.dispose()


@pytest.mark.parametrize(
    "source, needle",
    [
        ("missing.duckdb", "no such file"),
        ("postgresql://postgres@127.0.0.1:1/test", "Connection refused"),
        ("BROKEN", "invalid DDL"),
    ],
)
def test_bad_sources_fail_in_one_line(tmp_path, source, needle):
    if source == "BROKEN":
        source = str(tmp_path / "broken.sql")
        Path(source).write_text("CREATE TABLE a (id INT,\n")
    elif not source.startswith("postgresql"):
        source = str(tmp_path / source)
    proc = subprocess.run(
        [sys.executable, "-m", "sqltune", "schema", "show", source],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
        timeout=60,
    )
    assert proc.returncode != 0
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
