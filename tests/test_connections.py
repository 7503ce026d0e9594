"""A user's own warehouse: named connections, masked secrets, timeouts, `sqltune check`, the dialect
following the warehouse, and validation on the real PostgreSQL server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sqltune.cli import main as cli_main
from sqltune.core.connections import mask_in, mask_secrets, normalize_url, profile_url, resolve_source, url_dialect
from sqltune.core.errors import ConfigError, SchemaSourceError

from conftest import PG_SERVER, TINY_PAIRS

PASSWORD = "Pw-s3cret-4711"


# -- secrets -------------------------------------------------------------------------------------------
def test_mask_secrets():
    assert mask_secrets(f"postgresql://bob:{PASSWORD}@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert mask_secrets(f"error on mysql+pymysql://root:{PASSWORD}@h/db, retry") == "error on mysql+pymysql://root:***@h/db, retry"
    assert mask_secrets(f"host=h password={PASSWORD} dbname=x") == "host=h password=*** dbname=x"
    assert mask_secrets("postgresql://bob@db/x and /tmp/a:b@c") == "postgresql://bob@db/x and /tmp/a:b@c"
    nested = mask_in({"db": f"postgres://u:{PASSWORD}@h/d", "list": [f"sqlite:///x", (1, f"x://a:{PASSWORD}@b")]})
    assert PASSWORD not in json.dumps(nested) and nested["list"][0] == "sqlite:///x"


def test_schema_errors_mask_the_password():
    error = SchemaSourceError(f"postgresql://u:{PASSWORD}@h/d", f"failed for password={PASSWORD}")
    assert PASSWORD not in str(error) and "u:***@h" in str(error)


# -- named connections ---------------------------------------------------------------------------------
def test_env_and_postgres_scheme(monkeypatch):
    monkeypatch.setenv("MY_DB_URL", f"postgres://u:{PASSWORD}@h:5432/d")
    assert resolve_source("env:MY_DB_URL") == f"postgresql://u:{PASSWORD}@h:5432/d"
    assert normalize_url("postgres+psycopg2://h/d") == "postgresql+psycopg2://h/d"
    assert resolve_source("some/file.duckdb") == "some/file.duckdb"
    monkeypatch.delenv("MY_DB_URL")
    with pytest.raises(ConfigError, match="MY_DB_URL is not set"):
        resolve_source("env:MY_DB_URL")


def test_profiles_file(tmp_path, monkeypatch):
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(
        "warehouse:\n  url: postgres://reader@db.internal:5432/sales\n  password: ${SALES_PW}\n"
        "parts:\n  type: mysql+pymysql\n  host: 10.0.0.5\n  port: 3306\n  user: me\n  password: 'p@ss/word'\n  database: shop\n"
        "plain: duckdb:///data/wh.duckdb\n"
    )
    monkeypatch.setenv("SQLTUNE_PROFILES", str(profiles))
    monkeypatch.setenv("SALES_PW", PASSWORD)
    assert resolve_source("profile:warehouse") == f"postgresql://reader:{PASSWORD}@db.internal:5432/sales"
    assert profile_url("parts") == "mysql+pymysql://me:p%40ss%2Fword@10.0.0.5:3306/shop"
    assert resolve_source("profile:plain") == "duckdb:///data/wh.duckdb"
    with pytest.raises(ConfigError, match="no profile 'nope'.*warehouse"):
        resolve_source("profile:nope")
    monkeypatch.delenv("SALES_PW")
    with pytest.raises(ConfigError, match="SALES_PW is not set"):
        resolve_source("profile:warehouse")
    monkeypatch.setenv("SQLTUNE_PROFILES", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="no profiles file"):
        resolve_source("profile:warehouse")


# -- dialect -------------------------------------------------------------------------------------------
def test_dialect_follows_the_warehouse(tiny_warehouse, tmp_path, monkeypatch):
    from sqltune.prompts import PromptConfig, build_messages, check_dialect, prompt_for_warehouse
    from sqltune.schema import Column, Schema, Table, source_dialect

    assert [url_dialect(u) for u in ("postgres://h/d", "postgresql+psycopg2://h/d", "mysql://h/d", "mariadb+pymysql://h/d",
                                     "sqlite:///x.db", "mssql+pyodbc://h/d", "file.duckdb")] == [
        "postgres", "postgres", "mysql", "mysql", "sqlite", "tsql", None]
    assert source_dialect(tiny_warehouse) == "duckdb"
    monkeypatch.setenv("WH", "postgresql://u@h/d")
    assert source_dialect("env:WH") == "postgres"
    assert prompt_for_warehouse(PromptConfig(), "postgresql://u@h/d").dialect == "postgres"
    assert prompt_for_warehouse(PromptConfig(), str(tiny_warehouse)).dialect == "duckdb"
    assert prompt_for_warehouse(PromptConfig(dialect="snowflake"), "postgresql://u@h/d").dialect == "snowflake"  # set: kept
    schema = Schema("s", [Table("t", [Column("a", "INT")])], dialect="mysql")
    assert "MySQL SQL query" in build_messages(schema, "how many?", PromptConfig())[0]["content"]  # unset: the schema's
    with pytest.raises(ConfigError, match="trained to write PostgreSQL SQL.*speaks DuckDB.*--allow-dialect-mismatch"):
        check_dialect("postgres", "duckdb", model="runs/a", db="wh.duckdb")
    check_dialect("postgres", "duckdb", model="runs/a", db="wh.duckdb", allow=True)
    check_dialect(None, "duckdb", model="old adapter", db="wh.duckdb")  # not recorded: nothing to compare


# -- timeouts ------------------------------------------------------------------------------------------
@pytest.fixture()
def silent_server():
    """A TCP server that accepts connections and never answers (a firewall that swallows packets)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def _sqltune(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    # The subprocess timeout only keeps a hang from stalling the suite; sqltune's own must fire first.
    return subprocess.run([sys.executable, "-m", "sqltune", *args], capture_output=True, text=True, timeout=timeout)


def test_silent_host_fails_within_the_timeout(silent_server, tmp_path):
    url = f"postgresql://u:{PASSWORD}@127.0.0.1:{silent_server}/d"
    with pytest.raises(SchemaSourceError, match="timeout"):
        from sqltune.schema import load_schema

        load_schema(url, timeout_s=2)
    for args in (["schema", "show", url, "--timeout", "2"], ["check", url, "--timeout", "2"]):
        out = _sqltune(*args)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert "timeout" in (out.stdout + out.stderr) and PASSWORD not in out.stdout + out.stderr
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"question": "q?", "sql": "SELECT 1"}) + "\n")
    out = _sqltune("data", "validate", str(pairs), "--db", url.replace("postgresql://", "postgres://"), "--timeout", "2")
    assert out.returncode == 1 and "timeout" in out.stderr and PASSWORD not in out.stderr and "Traceback" not in out.stderr


def test_check_reports_each_step(tiny_warehouse, tmp_path):
    from sqltune.schema.check import check_source

    result = check_source(tiny_warehouse)
    assert result.ok and result.dialect == "duckdb" and result.tables == 3
    assert [s.name for s in result.steps] == ["connect", "schema", "query"]
    missing = check_source(tmp_path / "none.duckdb")
    assert not missing.ok and missing.steps[0].name == "connect"
    out = _sqltune("check", str(tiny_warehouse), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["tables"] == 3


def test_mysql_url_without_driver_names_the_package():
    import importlib.util

    if importlib.util.find_spec("pymysql") or importlib.util.find_spec("MySQLdb"):
        pytest.skip("a MySQL driver is installed")
    from sqltune.schema import load_schema

    with pytest.raises(SchemaSourceError, match="pip install pymysql") as info:
        load_schema(f"mysql://root:{PASSWORD}@127.0.0.1:3306/test", timeout_s=2)
    assert PASSWORD not in str(info.value)


# -- the real PostgreSQL server --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_shop():
    """Schema with the tiny warehouse's tables, a read-only login role, and a URL to it with a password."""
    sa = pytest.importorskip("sqlalchemy")
    admin_url = sa.engine.make_url(PG_SERVER).set(drivername="postgresql+psycopg2")
    engine = sa.create_engine(admin_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as con:
            con.exec_driver_sql("SELECT 1")
    except Exception as error:  # noqa: BLE001
        engine.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL unreachable: {str(error).splitlines()[0]}")
    schema, role = f"sqltune_conn_{os.getpid()}", f"sqltune_conn_reader_{os.getpid()}"
    with engine.begin() as con:
        con.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.exec_driver_sql(f"CREATE SCHEMA {schema}")
        con.exec_driver_sql(f"CREATE TABLE {schema}.regions (region_id INTEGER PRIMARY KEY, region_name VARCHAR)")
        con.exec_driver_sql(f"CREATE TABLE {schema}.stores (store_id INTEGER PRIMARY KEY, city VARCHAR, "
                            f"region_id INTEGER REFERENCES {schema}.regions (region_id))")
        con.exec_driver_sql(f"CREATE TABLE {schema}.sales (sale_id INTEGER PRIMARY KEY, store_id INTEGER REFERENCES "
                            f"{schema}.stores (store_id), amount DOUBLE PRECISION, sold_on DATE)")
        con.exec_driver_sql(f"INSERT INTO {schema}.regions VALUES (1, 'North'), (2, 'South')")
        con.exec_driver_sql(f"INSERT INTO {schema}.stores VALUES (1, 'Boston', 1), (2, 'Denver', 1), (3, 'Austin', 2)")
        con.exec_driver_sql(f"INSERT INTO {schema}.sales SELECT i, 1 + i %% 3, (i * 7) %% 100 + 0.5, "
                            f"DATE '2024-01-01' + (i %% 300) FROM generate_series(1, 399) i")
        con.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        con.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        con.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        con.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    url = admin_url.set(drivername="postgresql", username=role, password=PASSWORD)
    yield url.render_as_string(hide_password=False) + f"?options=-csearch_path%3D{schema}"
    with engine.begin() as con:
        con.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.exec_driver_sql(f"DROP OWNED BY {role}")
        con.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
    engine.dispose()


def _write_pairs(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_broken_pairs_refused_on_postgres_with_every_line(pg_shop, tmp_path, capsys):
    good = [{"id": f"p{i}", "question": q, "sql": s} for i, (q, s) in enumerate(TINY_PAIRS)]
    broken = _write_pairs(tmp_path / "pairs.jsonl", [
        good[0], '{"question": "cut', good[1], {"question": "no sql"}, {**good[0], "id": "dup"},
        {"id": "x", "question": "Unknown?", "sql": "SELECT * FROM nowhere"},
        {"id": "y", "question": "Bad function?", "sql": "SELECT no_such_fn(city) FROM stores"},
    ])
    code = cli_main(["data", "split", str(broken), "--db", pg_shop, "--out", str(tmp_path / "split")])
    err = capsys.readouterr().err
    assert code == 1
    for line in (2, 4, 5, 6, 7):
        assert f"pairs.jsonl:{line}:" in err, err
    assert PASSWORD not in err and not (tmp_path / "split").exists()


def test_train_and_eval_on_postgres_record_the_dialect_and_no_password(pg_shop, tiny_model_dir, tiny_pairs_file,
                                                                       tiny_warehouse, tmp_path, monkeypatch, capsys):
    from sqltune.inference.adapter import read_meta

    monkeypatch.setenv("WAREHOUSE_URL", pg_shop)
    adapter = tmp_path / "adapter"
    code = cli_main(["-v", "train", "--model", str(tiny_model_dir), "--data", str(tiny_pairs_file), "--db", pg_shop,
                     "--out", str(adapter), "--max-steps", "2", "--batch-size", "4", "--lora-dropout", "0",
                     "--eval-fraction", "0"])
    train_out = capsys.readouterr()
    assert code == 0, train_out.err
    assert read_meta(adapter)["prompt"]["dialect"] == "postgres"
    assert "stage: loading the model" in train_out.out
    report = tmp_path / "report"
    code = cli_main(["eval", "--model", str(tiny_model_dir), "--adapter", str(adapter), "--data", str(tiny_pairs_file),
                     "--db", pg_shop, "--out", str(report), "--limit", "3", "--max-new-tokens", "8", "--no-spot-checks"])
    assert code == 0, capsys.readouterr().err
    document = json.loads((report / "report.json").read_text())
    setup = json.dumps(document)
    assert "***" in setup and "postgres" in setup
    # env: keeps the URL off the command line; what is stored is the reference
    code = cli_main(["eval", "--model", str(tiny_model_dir), "--adapter", str(adapter), "--data", str(tiny_pairs_file),
                     "--db", "env:WAREHOUSE_URL", "--out", str(tmp_path / "report-env"), "--limit", "2",
                     "--max-new-tokens", "4", "--no-spot-checks"])
    assert code == 0
    assert "env:WAREHOUSE_URL" in (tmp_path / "report-env" / "report.json").read_text()
    printed = capsys.readouterr()
    assert PASSWORD not in printed.out + printed.err

    registry = Path(os.environ["SQLTUNE_REGISTRY"])
    files = [p for p in [*tmp_path.rglob("*"), registry] if p.is_file()]
    assert registry in files and any(p.name == "run.json" for p in files) and any(p.name == "report.html" for p in files)
    leaked = [str(p) for p in files if PASSWORD.encode() in p.read_bytes()]
    assert not leaked

    # the adapter writes PostgreSQL: a DuckDB warehouse is refused before any model loads
    code = cli_main(["eval", "--model", str(tiny_model_dir), "--adapter", str(adapter), "--data", str(tiny_pairs_file),
                     "--db", str(tiny_warehouse), "--out", str(tmp_path / "report-duck"), "--limit", "2"])
    err = capsys.readouterr().err
    assert code == 1 and "trained to write PostgreSQL SQL" in err and "--allow-dialect-mismatch" in err


# -- privileged roles: `check` says so, and every command that refuses one accepts the opt-in ----------------
def _in_schema(url: str, schema: str) -> str:
    return f"{url}?options=-csearch_path%3D{schema}"


def test_check_says_when_a_role_can_write(pg_sandbox, capsys):
    from sqltune.schema.check import check_source

    reader = check_source(_in_schema(pg_sandbox.reader, pg_sandbox.schema), timeout_s=5)
    assert reader.ok and [s.name for s in reader.steps] == ["connect", "schema", "query", "role"]
    assert "can only read" in reader.steps[-1].detail
    url = _in_schema(pg_sandbox.writer, pg_sandbox.schema)
    writer = check_source(url, timeout_s=5)
    role = writer.steps[-1]
    assert not writer.ok and role.name == "role" and not role.ok
    assert f"can write tables ({pg_sandbox.schema}.items)" in role.detail and "--allow-privileged-role" in role.detail
    allowed = check_source(url, timeout_s=5, allow_privileged_role=True)
    assert allowed.ok and "can write tables" in allowed.steps[-1].detail and "allowed" in allowed.steps[-1].detail

    assert cli_main(["check", url, "--timeout", "5"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "can write tables" in out
    assert cli_main(["check", url, "--timeout", "5", "--allow-privileged-role"]) == 0
    assert "can write tables" in capsys.readouterr().out


class _Reached(Exception):
    """Raised where a command goes on to load a model: the warehouse was accepted."""


def test_every_command_that_refuses_a_privileged_role_accepts_the_option(pg_sandbox, tmp_path, capsys, monkeypatch):
    import sqltune.inference.models as models
    import sqltune.schema as schema_stage
    from sqltune.core.errors import SqltuneError

    monkeypatch.delenv("SQLTUNE_ALLOW_PRIVILEGED_ROLE", raising=False)
    writer, table = _in_schema(pg_sandbox.writer, pg_sandbox.schema), f"{pg_sandbox.schema}.items"
    pairs = _write_pairs(tmp_path / "pairs.jsonl", [
        {"id": "a", "question": "How many items are there?", "sql": f"SELECT count(*) FROM {table}"},
        {"id": "b", "question": "What is the highest price?", "sql": f"SELECT max(price) FROM {table}"},
        {"id": "c", "question": "Which item is item7%?", "sql": f"SELECT id FROM {table} WHERE name = 'item7%'"},
    ])
    pred = _write_pairs(tmp_path / "pred.jsonl", [{"id": "a", "sql": f"SELECT count(*) FROM {table}"},
                                                  {"id": "b", "sql": f"SELECT max(price) FROM {table}"},
                                                  {"id": "c", "sql": "SELECT 7"}])

    def reached(*args, **kwargs):
        raise SqltuneError("reached the model stage")

    # where train, eval and run would go on to load a model, stop: the warehouse check is behind
    monkeypatch.setattr(models, "resolve_base", reached)
    monkeypatch.setattr(models, "import_default", reached)
    real_load_schema = schema_stage.load_schema
    monkeypatch.setattr(schema_stage, "load_schema", lambda source, **kw: reached() if source == writer else real_load_schema(source, **kw))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"out_dir: {tmp_path / 'run'}\ntrain:\n  train_file: {pairs}\n  db: {writer}\neval:\n  data: {pairs}\n")
    commands = {
        "data validate": ["data", "validate", str(pairs), "--db", writer],
        "data split": ["data", "split", str(pairs), "--db", writer, "--out", str(tmp_path / "split")],
        "data augment": ["data", "augment", str(pairs), "--db", writer, "--out", str(tmp_path / "aug.jsonl")],
        "eval score": ["eval", "score", "--data", str(pairs), "--pred", str(pred), "--db", writer],
        "train": ["train", "--data", str(pairs), "--db", writer, "--out", str(tmp_path / "adapter")],
        "eval": ["eval", "--model", "default", "--adapter", str(tmp_path / "adapter"), "--data", str(pairs), "--db", writer],
        "run": ["run", str(recipe)],
    }  # check: test_check_says_when_a_role_can_write
    for name, args in commands.items():
        assert cli_main(args) == 1, name
        refused = capsys.readouterr()
        assert "--allow-privileged-role" in refused.out + refused.err, (name, refused.err)
        code = cli_main([*args, "--allow-privileged-role"])
        accepted = capsys.readouterr()
        assert "No such option" not in accepted.err and "refusing" not in accepted.err, (name, accepted.err)
        assert code == 0 or "reached the model stage" in accepted.err, (name, code, accepted.err)
