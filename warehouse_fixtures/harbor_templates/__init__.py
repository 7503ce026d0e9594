"""Question templates of the Harbor corpus, by group; `harbor_templates()` is the whole list, in order.

Canonical SQL style (the model learns it): uppercase keywords, explicit `JOIN ... ON`, one fixed alias
per table (sales s, orders o, returns r, shipments sh, inventory_snapshots i, purchase_orders po,
purchase_order_lines pol, web_sessions ws, store_traffic tf, sales_targets tg, price_changes pc,
dim_date d, products p, product_categories c, departments dp, brands b, suppliers su, customers cu,
regions rg, stores st, warehouses w, employees e, promotions pr, carriers ca, channels ch,
payment_methods pm, return_reasons rr, loyalty_tiers lt), no alias on single-table queries, date
filters through dim_date (`d.full_date`, `d.fiscal_*`, `d.calendar_*`), derived tables named `sub`.
The last `test_paraphrases` questions of each template are reserved for the test split.

The group functions are long because they are data: one `Template(...)` of about ten lines per
question shape, grouped by theme in modules of a few hundred lines.
"""

from __future__ import annotations

from warehouse_fixtures.corpus import Template
from warehouse_fixtures.harbor_templates.hard import having_and_multi_fact_templates, nested_and_ranked_templates
from warehouse_fixtures.harbor_templates.medium_operations import calendar_and_staff_templates, operations_templates
from warehouse_fixtures.harbor_templates.medium_sales import (returns_shipments_stock_templates, sales_by_period_templates,
                                                            segments_and_ranges_templates)
from warehouse_fixtures.harbor_templates.single_table import single_table_templates

# The order is part of the corpus: it is the order of eval/train.jsonl and test.jsonl, and a
# question drawn by an earlier template is skipped by a later one.
GROUPS = (
    single_table_templates,
    sales_by_period_templates,
    returns_shipments_stock_templates,
    segments_and_ranges_templates,
    calendar_and_staff_templates,
    operations_templates,
    having_and_multi_fact_templates,
    nested_and_ranked_templates,
)


def harbor_templates() -> list[Template]:
    """Every Harbor template, easy to hard (fresh objects: callers may adjust counts)."""
    return [t for group in GROUPS for t in group()]
