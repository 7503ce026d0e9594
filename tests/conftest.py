"""Shared test fixtures: a tiny random chat model (fast) and a small warehouse with pairs."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# CLI output is asserted on: keep rich from wrapping long temp paths at 80 columns, whatever
# the terminal (set before any CLI module creates its Console).
os.environ["COLUMNS"] = "250"


def pytest_collection_modifyitems(config, items):
    # `slow` tests use the real default model; SQLTUNE_SKIP_SLOW=1 leaves them out locally.
    if os.environ.get("SQLTUNE_SKIP_SLOW") == "1":
        skip = pytest.mark.skip(reason="SQLTUNE_SKIP_SLOW=1")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_registry(tmp_path, monkeypatch):
    """Run records written by tests go to a per-test file, never the user's registry."""
    monkeypatch.setenv("SQLTUNE_REGISTRY", str(tmp_path / "registry.sqlite"))


@pytest.fixture(scope="session")
def default_checkpoint() -> Path:
    """The embedded default model, imported once (about 20 s the first time, cached after)."""
    from sqltune.inference.models import import_default

    return import_default()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, default_checkpoint) -> Path:
    """A 2-layer Llama with random weights and the default model's tokenizer and chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-model")
    tokenizer = AutoTokenizer.from_pretrained(default_checkpoint)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


TINY_DDL = """
CREATE TABLE regions (region_id INTEGER PRIMARY KEY, region_name VARCHAR);
CREATE TABLE stores (store_id INTEGER PRIMARY KEY, city VARCHAR, region_id INTEGER REFERENCES regions(region_id));
CREATE TABLE sales (sale_id INTEGER PRIMARY KEY, store_id INTEGER REFERENCES stores(store_id), amount DOUBLE, sold_on DATE);
COMMENT ON COLUMN sales.amount IS 'Sale amount in USD';
INSERT INTO regions VALUES (1, 'North'), (2, 'South');
INSERT INTO stores VALUES (1, 'Boston', 1), (2, 'Denver', 1), (3, 'Austin', 2);
INSERT INTO sales SELECT i, 1 + i % 3, (i * 7) % 100 + 0.5, DATE '2024-01-01' + INTERVAL (i % 300) DAY FROM range(1, 400) t(i);
"""

TINY_PAIRS = [
    ("How many stores are there?", "SELECT COUNT(*) FROM stores"),
    ("How many sales were made?", "SELECT COUNT(*) FROM sales"),
    ("List the cities of all stores.", "SELECT city FROM stores"),
    ("What is the total sales amount?", "SELECT SUM(amount) FROM sales"),
    ("Which stores are in the North region?",
     "SELECT s.city FROM stores AS s JOIN regions AS r ON s.region_id = r.region_id WHERE r.region_name = 'North'"),
    ("What is the total amount sold in Boston?",
     "SELECT SUM(sa.amount) FROM sales AS sa JOIN stores AS s ON sa.store_id = s.store_id WHERE s.city = 'Boston'"),
    ("How many regions exist?", "SELECT COUNT(*) FROM regions"),
    ("What is the largest single sale amount?", "SELECT MAX(amount) FROM sales"),
]


@pytest.fixture()
def retail_duckdb():
    """An in-memory DuckDB with the empty stores/regions/sales tables of the name-check tests'
    RETAIL schema: what it binds or refuses is the engine's verdict on a query's names."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE stores (store_id INTEGER, city VARCHAR, region_id INTEGER)")
    con.execute("CREATE TABLE regions (region_id INTEGER, region_name VARCHAR)")
    con.execute("CREATE TABLE sales (sale_id INTEGER, store_id INTEGER, amount DOUBLE, sold_on DATE)")
    yield con
    con.close()


@pytest.fixture()
def tiny_warehouse(tmp_path) -> Path:
    import duckdb

    path = tmp_path / "tiny.duckdb"
    con = duckdb.connect(str(path))
    con.execute(TINY_DDL)
    con.close()
    return path


@pytest.fixture()
def tiny_pairs_file(tmp_path) -> Path:
    path = tmp_path / "pairs.jsonl"
    with path.open("w") as f:
        # Three wordings of each question: repeats of a pair are a validation problem (duplicate_pair).
        for i, (question, sql) in enumerate(TINY_PAIRS * 3):
            wording = ("{}", "Please answer: {}", "Tell me: {}")[i // len(TINY_PAIRS)].format(question)
            f.write(json.dumps({"id": f"p{i}", "question": wording, "sql": sql, "difficulty": "easy"}) + "\n")
    return path


# -- PostgreSQL (the real local server) --------------------------------------------------------------
PG_SERVER = os.environ.get("SQLTUNE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class PgSandbox:
    """A schema with a table `items` (30 rows) and two login roles: one that can only read it,
    one that can also write it. Names carry the process id: several test runs may share the server."""

    admin: str
    reader: str
    writer: str
    schema: str
    reader_role: str
    writer_role: str


@pytest.fixture(scope="session")
def pg_sandbox():
    sqlalchemy = pytest.importorskip("sqlalchemy")
    url = sqlalchemy.engine.make_url(PG_SERVER).set(drivername="postgresql+psycopg2")
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as con:
            con.exec_driver_sql("SELECT 1")
    except Exception as error:
        engine.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL unreachable at {PG_SERVER}: {str(error).splitlines()[0]}")
    suffix = os.getpid()
    schema, reader, writer = f"sqltune_sbx_{suffix}", f"sqltune_reader_{suffix}", f"sqltune_writer_{suffix}"
    with engine.begin() as con:
        con.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.exec_driver_sql(f"CREATE SCHEMA {schema}")
        con.exec_driver_sql(f"CREATE TABLE {schema}.items(id INT, name TEXT, price NUMERIC(8, 2))")
        con.exec_driver_sql(
            f"INSERT INTO {schema}.items SELECT i, 'item' || i || '%%', i * 0.5 FROM generate_series(1, 30) i"
        )
        for role in (reader, writer):
            con.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
            con.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
            con.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        con.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {reader}")
        con.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {writer}")
    base = url.set(drivername="postgresql")
    yield PgSandbox(
        admin=base.render_as_string(hide_password=False),
        reader=base.set(username=reader, password=None).render_as_string(hide_password=False),
        writer=base.set(username=writer, password=None).render_as_string(hide_password=False),
        schema=schema, reader_role=reader, writer_role=writer,
    )
    with engine.begin() as con:
        con.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        for role in (reader, writer):
            con.exec_driver_sql(f"DROP OWNED BY {role}")
            con.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
    engine.dispose()
