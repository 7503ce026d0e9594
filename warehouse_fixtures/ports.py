"""The ``ports`` fixture: operations of the Port of Kestrel Bay, a second warehouse unlike Harbor.

Harbor is a retail star schema with a date dimension and integer surrogate keys; this one is an
operational schema: events carry their own timestamps, several keys are text codes (countries,
UN/LOCODE ports, terminals, cargo types) and several are composite (berths within a terminal, the
crane / pilot bridge tables, tariffs by type and start date). 17 tables; DDL with comments in
``specs/ports.sql``, parameters in ``specs/ports.yaml``.

What makes the data realistic enough to question: traffic is seasonal per terminal (cruise
summers, the grain harvest, winter LNG) and grows year on year; a few vessels call often and many
rarely (log-normal call propensity); ships wait at anchor when their berths are busy or a storm
closes the port; container moves drive crane hours and time alongside; port dues follow the
tariff in force on the arrival day; NULLs carry meaning (independent ships, undeclared next
ports, ships still alongside, unpaid invoices, non-container cargo without TEU).

Tables are filled in foreign-key order, one section per table group (`ports_dims`, then
`ports_facts`). Every draw comes from one generator seeded with ``[seed, 2]``, in a fixed order:
reordering sections, or draws inside one, changes the data (and so eval/ports/: rerun
`sqltune fixture corpus --kind ports`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from warehouse_fixtures import ports_dims as dims
from warehouse_fixtures import ports_facts as facts
from warehouse_fixtures.ports_dims import PortsBuild
from warehouse_fixtures.writer import Progress, load_spec, run_ddl


def build_ports(con, seed: int, report: Progress) -> None:
    """Create and fill the ports tables on `con` (inside the caller's transaction)."""
    spec = load_spec("ports.yaml")
    rng = np.random.default_rng([seed, 2])
    run_ddl(con, "ports.sql")
    start = dt.date.fromisoformat(str(spec["calendar"]["start_date"]))
    end = dt.date.fromisoformat(str(spec["calendar"]["end_date"]))
    b = PortsBuild(con=con, rng=rng, spec=spec, report=report, start=start, n_days=(end - start).days + 1)

    world = dims.world(b)
    lines = dims.shipping_lines(b)
    fleet = dims.vessels(b, lines)
    port = dims.terminals(b)
    dims.cargo_types(b)
    pilots = dims.pilots(b)
    tariffs = dims.tariffs(b)
    closed = dims.weather(b)

    calls = facts.port_calls(b, world, lines, fleet, port, closed)
    facts.cargo_movements(b, world, fleet, calls)
    facts.crane_assignments(b, port, calls)
    facts.pilotage_jobs(b, fleet, pilots, calls)
    facts.port_dues_invoices(b, lines, fleet, tariffs, calls)
    facts.inspections(b, fleet, calls)
