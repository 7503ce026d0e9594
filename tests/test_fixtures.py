"""Fixture warehouses: determinism, size, constraints, traps, CLI."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

import warehouse_fixtures as fixtures
from sqltune.cli import app, main
from sqltune.core.errors import InputError


@pytest.fixture(scope="module")
def harbor_path(tmp_path_factory):
    return fixtures.build_fixture(tmp_path_factory.mktemp("fx") / "harbor.duckdb", seed=0).path


@pytest.fixture(scope="module")
def large_path(tmp_path_factory):
    return fixtures.build_fixture(tmp_path_factory.mktemp("fx") / "large.duckdb", kind="large", seed=0).path


def _fk_constraints(con):
    return con.execute(
        "SELECT table_name, constraint_column_names, referenced_table, referenced_column_names "
        "FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY'"
    ).fetchall()


def test_same_seed_gives_identical_tables_and_other_seed_differs(harbor_path, tmp_path):
    again = fixtures.build_fixture(tmp_path / "again.duckdb", seed=0)
    other = fixtures.build_fixture(tmp_path / "other.duckdb", seed=1)
    first = fixtures.table_checksums(harbor_path)
    assert fixtures.table_checksums(again.path) == first
    changed = fixtures.table_checksums(other.path)
    assert changed["sales"] != first["sales"] and changed["customers"] != first["customers"]


def test_harbor_has_the_promised_shape(harbor_path):
    con = duckdb.connect(str(harbor_path), read_only=True)
    counts = fixtures.table_row_counts(con)
    assert len(counts) >= 25
    for fact in ("sales", "shipments", "inventory_snapshots", "returns", "orders", "web_sessions"):
        assert counts[fact] >= 3000, fact
    assert counts["sales"] >= 40000
    missing_pk = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT has_primary_key"
    ).fetchall()
    assert missing_pk == []
    assert len(_fk_constraints(con)) >= 30
    commented = con.execute("SELECT COUNT(*) FROM duckdb_tables() WHERE comment IS NOT NULL AND NOT internal").fetchone()[0]
    assert commented == len(counts)
    # look-alike columns are present where the traps need them
    cols = {(t, c) for t, c in con.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal").fetchall()}
    for needed in [("sales", "store_id"), ("returns", "store_id"), ("shipments", "ship_date_key"),
                   ("sales", "order_date_key"), ("returns", "return_date_key"), ("sales_targets", "fiscal_month")]:
        assert needed in cols
    assert ("sales", "ship_date_key") not in cols


def test_foreign_keys_have_no_orphans(harbor_path):
    con = duckdb.connect(str(harbor_path), read_only=True)
    for table, cols, ref_table, ref_cols in _fk_constraints(con):
        on = " AND ".join(f"c.{a} = p.{b}" for a, b in zip(cols, ref_cols))
        not_null = " AND ".join(f"c.{a} IS NOT NULL" for a in cols)
        orphans = con.execute(
            f"SELECT COUNT(*) FROM {table} c LEFT JOIN {ref_table} p ON {on} WHERE {not_null} AND p.{ref_cols[0]} IS NULL"
        ).fetchone()[0]
        assert orphans == 0, (table, cols, ref_table)


def test_fiscal_calendar_differs_from_calendar(harbor_path):
    con = duckdb.connect(str(harbor_path), read_only=True)
    row = con.execute("SELECT fiscal_year, fiscal_quarter, fiscal_month FROM dim_date WHERE date_key = 20230201").fetchone()
    assert row == (2024, 1, 1)
    row = con.execute("SELECT fiscal_year, fiscal_quarter, fiscal_month FROM dim_date WHERE date_key = 20240131").fetchone()
    assert row == (2024, 4, 12)
    differing = con.execute("SELECT COUNT(*) FROM dim_date WHERE fiscal_year <> calendar_year").fetchone()[0]
    total = con.execute("SELECT COUNT(*) FROM dim_date").fetchone()[0]
    assert 0 < differing < total
    # some NULL traps exist
    assert con.execute("SELECT COUNT(*) FROM sales WHERE store_id IS NULL").fetchone()[0] > 0
    assert con.execute("SELECT COUNT(*) FROM returns WHERE store_id IS NULL").fetchone()[0] > 0
    assert con.execute("SELECT COUNT(*) FROM shipments WHERE delivery_date_key IS NULL").fetchone()[0] > 0


@pytest.mark.parametrize("day,expected", [("2023-01-15", (2023, 4, 12)), ("2023-02-01", (2024, 1, 1)),
                                          ("2023-07-31", (2024, 2, 6)), ("2023-11-30", (2024, 4, 10))])
def test_fiscal_period_rule(day, expected):
    import datetime as dt

    assert fixtures.fiscal_period(dt.date.fromisoformat(day), 2, "end") == expected
    fy, _, _ = fixtures.fiscal_period(dt.date.fromisoformat(day), 2, "start")
    assert fy == expected[0] - 1


def test_large_schema_contains_harbor_and_400_tables(large_path):
    con = duckdb.connect(str(large_path), read_only=True)
    counts = fixtures.table_row_counts(con)
    assert len(counts) >= 400
    assert {"sales", "dim_date", "customers"} <= set(counts)
    assert all(n > 0 for n in counts.values())
    domains = {t.domain for t in fixtures.large_domain_tables()}
    assert len(domains) >= 10
    assert len(_fk_constraints(con)) >= 300
    for table, cols, ref_table, ref_cols in _fk_constraints(con):
        on = " AND ".join(f"c.{a} = p.{b}" for a, b in zip(cols, ref_cols))
        orphans = con.execute(
            f"SELECT COUNT(*) FROM {table} c LEFT JOIN {ref_table} p ON {on} WHERE c.{cols[0]} IS NOT NULL AND p.{ref_cols[0]} IS NULL"
        ).fetchone()[0]
        assert orphans == 0, (table, cols, ref_table)


def test_build_refuses_to_overwrite_and_rejects_unknown_kind(tmp_path):
    target = tmp_path / "x.duckdb"
    target.write_text("not a database")
    with pytest.raises(InputError, match="refusing to overwrite"):
        fixtures.build_fixture(target)
    assert target.read_text() == "not a database"
    with pytest.raises(InputError, match="unknown fixture kind"):
        fixtures.build_fixture(tmp_path / "y.duckdb", kind="nope")


def test_cli_build_and_refuse_overwrite(tmp_path, capsys):
    target = tmp_path / "cli.duckdb"
    result = CliRunner().invoke(app, ["fixture", "build", str(target), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "28 tables" in result.output and target.exists()
    assert main(["fixture", "build", str(target)]) != 0
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["fixture", "build", str(target), "--force"]) == 0


def test_ensure_fixture_builds_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "cache"))
    path = fixtures.ensure_fixture("harbor")
    assert path.parent == tmp_path / "cache" / "fixtures" and path.exists()
    stamp = path.stat().st_mtime_ns
    assert fixtures.ensure_fixture("harbor") == path
    assert path.stat().st_mtime_ns == stamp


def test_spec_fingerprint_covers_every_builder_module():
    """A builder module left out of the fingerprint would let a stale cached fixture be reused."""
    import subprocess
    import sys
    from pathlib import Path

    import sqltune

    root = str(Path(sqltune.__file__).resolve().parent.parent)
    code = (f"import sys; sys.path.insert(0, {root!r}); import warehouse_fixtures.build as b; "
            "loaded = {n for n in sys.modules if n.startswith('warehouse_fixtures.')}; "
            "print(sorted(loaded - {m.__name__ for m in b._BUILDER_MODULES} - {'warehouse_fixtures.build'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert len(fixtures.spec_fingerprint()) == 12


def test_each_kind_fingerprints_every_module_its_builder_reaches():
    """Editing a module a kind's builder imports must rename that kind's cache file."""
    import grimp

    from warehouse_fixtures import build

    graph = grimp.build_graph("warehouse_fixtures")
    entry = {"harbor": {"warehouse_fixtures.harbor"}, "large": {"warehouse_fixtures.harbor", "warehouse_fixtures.large"},
             "ports": {"warehouse_fixtures.ports"}}
    assert set(build._SOURCES) == set(fixtures.KINDS) == set(entry)
    for kind, (specs, modules) in build._SOURCES.items():
        names = {m.__name__ for m in modules}
        reached = {up for m in entry[kind] for up in graph.find_upstream_modules(m) if up.startswith("warehouse_fixtures.")}
        assert entry[kind] | reached <= names, (kind, reached - names)
        assert all((build.writer.SPEC_DIR / name).exists() for name in specs)
