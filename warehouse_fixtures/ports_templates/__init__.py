"""Question templates of the ports corpus (eval/ports/*.jsonl), over the ``ports`` fixture, by
difficulty; `ports_templates()` is the whole list, in order.

Generation, execution checks and split are Harbor's (`warehouse_fixtures.corpus.generate_pairs`);
only the value pool (`values.PortValues`) and the templates are specific to this warehouse.

Canonical SQL style (the model learns it): uppercase keywords, explicit `JOIN ... ON`, one fixed
alias per table (port_calls pc, vessels v, shipping_lines sl, terminals t, berths b, countries co,
world_ports wp, cargo_movements cm, cargo_types ct, cranes cr, crane_assignments ca, pilots pi,
pilotage_jobs pj, port_dues_invoices inv, inspections ins, tariffs tf, weather_daily w), no alias in
single-table queries, periods through `YEAR()` / `MONTH()` / `QUARTER()` of the event's own
timestamp (calls by `pc.arrived_at`), day ranges as `CAST(... AS DATE) BETWEEN DATE ... AND DATE ...`,
hours as `DATE_DIFF('minute', a, b) / 60.0`, derived tables named `sub`.
Questions say "bulk carriers", "discharged", "port state control"; the SQL uses the stored codes.
The last `test_paraphrases` questions of each template are reserved for the test split.
"""

from __future__ import annotations

from warehouse_fixtures.corpus import Template
from warehouse_fixtures.ports_templates.easy import easy_templates
from warehouse_fixtures.ports_templates.hard import hard_templates
from warehouse_fixtures.ports_templates.medium import medium_templates
from warehouse_fixtures.ports_templates.values import PortValues

# The order is part of the corpus: it is the order of eval/ports/*.jsonl, and a question drawn by an
# earlier template is skipped by a later one.
GROUPS = (easy_templates, medium_templates, hard_templates)

__all__ = ["GROUPS", "PortValues", "ports_templates"]


def ports_templates() -> list[Template]:
    """Every ports template, easy to hard (fresh objects: callers may adjust counts)."""
    return [t for group in GROUPS for t in group()]
