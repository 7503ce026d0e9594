"""The ports fixture warehouse: determinism, shape, keys, comments, and the rules its data keeps."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

import warehouse_fixtures as fixtures
from sqltune.cli import app
from warehouse_fixtures import writer
from sqltune.schema.duckdb_reader import read_duckdb


@pytest.fixture(scope="module")
def ports_path(tmp_path_factory):
    return fixtures.build_fixture(tmp_path_factory.mktemp("fx") / "ports.duckdb", kind="ports", seed=0).path


@pytest.fixture(scope="module")
def con(ports_path):
    con = duckdb.connect(str(ports_path), read_only=True)
    yield con
    con.close()


def _one(con, sql):
    return con.execute(sql).fetchone()[0]


def test_same_seed_gives_identical_tables_and_other_seed_differs(ports_path, tmp_path):
    first = fixtures.table_checksums(ports_path)
    assert fixtures.table_checksums(fixtures.build_fixture(tmp_path / "a.duckdb", kind="ports", seed=0).path) == first
    other = fixtures.table_checksums(fixtures.build_fixture(tmp_path / "b.duckdb", kind="ports", seed=1).path)
    assert other["port_calls"] != first["port_calls"] and other["vessels"] != first["vessels"]
    assert other["terminals"] == first["terminals"]  # reference data comes from the spec, not the seed


def test_shape_keys_and_comments(con, ports_path):
    counts = fixtures.table_row_counts(con)
    assert 12 <= len(counts) <= 18 and all(n > 0 for n in counts.values())
    assert max(counts, key=counts.get) == "cargo_movements" and 50_000 <= counts["cargo_movements"] <= 200_000
    assert counts["port_calls"] >= 5000 and counts["vessels"] >= 500
    assert _one(con, "SELECT COUNT(*) FROM duckdb_tables() WHERE NOT has_primary_key") == 0
    composite = {t for t, cols in con.execute(
        "SELECT table_name, constraint_column_names FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
    ).fetchall() if len(cols) > 1}
    assert {"berths", "crane_assignments", "pilotage_jobs", "tariffs"} <= composite
    fks = con.execute("SELECT table_name, constraint_column_names, referenced_table FROM duckdb_constraints() "
                      "WHERE constraint_type = 'FOREIGN KEY'").fetchall()
    assert len(fks) >= 20
    assert ("port_calls", ["terminal_code", "berth_no"], "berths") in [(t, list(c), r) for t, c, r in fks]
    # the schema reader sees every table comment and the composite foreign key
    schema = read_duckdb(ports_path)
    assert all(t.comment for t in schema.tables)
    calls = next(t for t in schema.tables if t.name == "port_calls")
    assert any(fk.columns == ("terminal_code", "berth_no") for fk in calls.foreign_keys)
    assert sum(1 for t in schema.tables for c in t.columns if c.comment) >= 50


def test_foreign_keys_have_no_orphans(con):
    for table, cols, ref_table, ref_cols in con.execute(
        "SELECT table_name, constraint_column_names, referenced_table, referenced_column_names "
        "FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY'"
    ).fetchall():
        on = " AND ".join(f"c.{a} = p.{b}" for a, b in zip(cols, ref_cols))
        not_null = " AND ".join(f"c.{a} IS NOT NULL" for a in cols)
        orphans = _one(con, f"SELECT COUNT(*) FROM {table} c LEFT JOIN {ref_table} p ON {on} "
                            f"WHERE {not_null} AND p.{ref_cols[0]} IS NULL")
        assert orphans == 0, (table, cols, ref_table)


def test_operational_rules_hold(con):
    # a berth holds one ship at a time; ships anchor before they berth and leave after
    assert _one(con, """SELECT COUNT(*) FROM port_calls a JOIN port_calls b ON a.terminal_code = b.terminal_code
        AND a.berth_no = b.berth_no AND a.call_id < b.call_id
        AND a.arrived_at < COALESCE(b.departed_at, TIMESTAMP '2100-01-01')
        AND b.arrived_at < COALESCE(a.departed_at, TIMESTAMP '2100-01-01')""") == 0
    assert _one(con, "SELECT COUNT(*) FROM port_calls WHERE departed_at <= arrived_at OR anchored_at >= arrived_at") == 0
    assert _one(con, "SELECT COUNT(*) FROM port_calls pc JOIN berths b ON pc.terminal_code = b.terminal_code "
                     "AND pc.berth_no = b.berth_no WHERE pc.arrival_draft_m > b.max_draft_m") == 0
    # pilots: class B only under 50000 GT, and only while employed
    assert _one(con, """SELECT COUNT(*) FROM pilotage_jobs pj JOIN pilots pi ON pj.pilot_id = pi.pilot_id
        JOIN port_calls pc ON pj.call_id = pc.call_id JOIN vessels v ON pc.imo_number = v.imo_number
        WHERE pi.licence_class = 'B' AND v.gross_tonnage >= 50000""") == 0
    assert _one(con, """SELECT COUNT(*) FROM pilotage_jobs pj JOIN pilots pi ON pj.pilot_id = pi.pilot_id
        WHERE CAST(pj.started_at AS DATE) < pi.hired_date OR CAST(pj.started_at AS DATE) > pi.retired_date""") == 0
    # TEU exactly on container cargo; passengers exactly on cruise calls
    assert con.execute("""SELECT DISTINCT ct.category = 'container', cm.teu IS NULL FROM cargo_movements cm
        JOIN cargo_types ct ON cm.cargo_type_code = ct.cargo_type_code ORDER BY 1""").fetchall() == [(False, True), (True, False)]
    assert con.execute("""SELECT DISTINCT v.vessel_type = 'cruise', pc.passenger_count IS NULL FROM port_calls pc
        JOIN vessels v ON pc.imo_number = v.imo_number ORDER BY 1""").fetchall() == [(False, True), (True, False)]
    # every invoice is gross tonnage times the tariff in force on the arrival day
    assert _one(con, """SELECT COUNT(*) FROM port_dues_invoices inv JOIN port_calls pc ON inv.call_id = pc.call_id
        JOIN vessels v ON pc.imo_number = v.imo_number JOIN tariffs tf ON tf.vessel_type = v.vessel_type
        AND tf.valid_from = (SELECT MAX(t2.valid_from) FROM tariffs t2 WHERE t2.vessel_type = v.vessel_type
                             AND t2.valid_from <= CAST(pc.arrived_at AS DATE))
        WHERE inv.amount_eur <> ROUND(v.gross_tonnage * tf.fee_per_gt, 2)""") == 0
    assert _one(con, "SELECT COUNT(*) FROM port_dues_invoices WHERE paid_date < issued_date") == 0
    assert _one(con, """SELECT COUNT(*) FROM inspections ins JOIN port_calls pc ON ins.call_id = pc.call_id
        WHERE ins.imo_number <> pc.imo_number OR ins.inspection_date < CAST(pc.arrived_at AS DATE)
        OR ins.inspection_date > CAST(COALESCE(pc.departed_at, TIMESTAMP '2100-01-01') AS DATE)""") == 0


def test_realistic_distributions(con):
    # seasons: cruise summers, the grain harvest
    summer, winter = con.execute("""SELECT COUNT(*) FILTER (WHERE MONTH(arrived_at) IN (6, 7, 8)),
        COUNT(*) FILTER (WHERE MONTH(arrived_at) IN (12, 1, 2)) FROM port_calls WHERE terminal_code = 'CRU1'""").fetchone()
    assert summer > 5 * max(winter, 1)
    autumn, spring = con.execute("""SELECT COUNT(*) FILTER (WHERE MONTH(arrived_at) IN (8, 9, 10)),
        COUNT(*) FILTER (WHERE MONTH(arrived_at) IN (2, 3, 4)) FROM port_calls WHERE terminal_code = 'GRN1'""").fetchone()
    assert autumn > 1.5 * spring
    # skew: a few ships call often, many rarely, some never
    calls = [r[0] for r in con.execute("SELECT COUNT(pc.call_id) FROM vessels v LEFT JOIN port_calls pc "
                                       "ON pc.imo_number = v.imo_number GROUP BY v.imo_number ORDER BY 1 DESC").fetchall()]
    assert calls[0] > 8 * calls[len(calls) // 2] and calls[-1] == 0
    # meaningful NULLs are present in each nullable business column
    for table, column in [("vessels", "line_id"), ("vessels", "teu_capacity"), ("shipping_lines", "alliance"),
                          ("port_calls", "anchored_at"), ("port_calls", "next_port_code"), ("port_calls", "departed_at"),
                          ("cargo_types", "hazard_class"), ("pilots", "retired_date"),
                          ("port_dues_invoices", "paid_date"), ("port_dues_invoices", "line_id")]:
        nulls, total = con.execute(f"SELECT COUNT(*) - COUNT({column}), COUNT(*) FROM {table}").fetchone()
        assert 0 < nulls < total, (table, column)
    # storms close the port in winter more than in summer, and ships then wait at anchor
    assert _one(con, "SELECT COUNT(*) FILTER (WHERE MONTH(obs_date) IN (12, 1, 2)) - COUNT(*) FILTER "
                     "(WHERE MONTH(obs_date) IN (6, 7, 8)) FROM weather_daily WHERE port_closed") > 0
    assert _one(con, "SELECT COUNT(*) FROM port_calls pc JOIN weather_daily w ON CAST(pc.anchored_at AS DATE) = w.obs_date "
                     "WHERE w.port_closed") > 0


def test_cli_build_and_cache(tmp_path, monkeypatch):
    target = tmp_path / "cli.duckdb"
    result = CliRunner().invoke(app, ["fixture", "build", str(target), "--kind", "ports"])
    assert result.exit_code == 0, result.output
    assert "ports" in result.output and "17 tables" in result.output and target.exists()
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "cache"))
    path = fixtures.ensure_fixture("ports")
    assert path.parent == tmp_path / "cache" / "fixtures" and path.name.startswith("ports-seed0-")
    stamp = path.stat().st_mtime_ns
    assert fixtures.ensure_fixture("ports") == path and path.stat().st_mtime_ns == stamp
    assert fixtures.table_checksums(path) == fixtures.table_checksums(target)


def _append(path, text="# edited\n"):
    with path.open("a") as fh:
        fh.write(text)


def test_fingerprints_are_per_kind(tmp_path, monkeypatch):
    """Editing one kind's spec renames that kind's cache file only (large is Harbor plus its domains)."""
    import shutil

    spec = tmp_path / "spec"
    shutil.copytree(writer.SPEC_DIR, spec)
    monkeypatch.setattr(writer, "SPEC_DIR", spec)

    def prints():
        return {kind: fixtures.spec_fingerprint(kind) for kind in fixtures.KINDS}

    start = prints()
    assert len(set(start.values())) == len(fixtures.KINDS)
    _append(spec / "ports.yaml")
    after_ports = prints()
    assert after_ports["ports"] != start["ports"]
    assert {k: after_ports[k] for k in ("harbor", "large")} == {k: start[k] for k in ("harbor", "large")}
    _append(spec / "large_domains.yaml")
    after_large = prints()
    assert after_large["large"] != after_ports["large"] and after_large["harbor"] == start["harbor"]
    _append(spec / "harbor.yaml")
    after_harbor = prints()
    assert after_harbor["harbor"] != start["harbor"] and after_harbor["large"] != after_large["large"]
    assert after_harbor["ports"] == after_ports["ports"]
    assert fixtures.default_fixture_path("ports").name == f"ports-seed0-{after_harbor['ports']}.duckdb"
