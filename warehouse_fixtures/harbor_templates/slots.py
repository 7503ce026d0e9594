"""Slot drawers for the templates: each takes the warehouse values and the template's generator and
returns slot values (`merge` combines drawers, `one` picks from a pool of `WarehouseValues`)."""

from __future__ import annotations

import datetime as dt

from warehouse_fixtures.corpus import WarehouseValues

pick = WarehouseValues.pick
QUARTER_WORD = {1: "first", 2: "second", 3: "third", 4: "fourth"}


def long_date(day: dt.date) -> str:
    return f"{day.strftime('%B')} {day.day}, {day.year}"


def fy_slots(v, r) -> dict:
    return {"fy": pick(r, v.fiscal_years)}


def fq_slots(v, r) -> dict:
    q = int(r.integers(1, 5))
    return {"fy": pick(r, v.fiscal_years), "fq": q, "fq_word": QUARTER_WORD[q]}


def fiscal_month_slots(v, r) -> dict:
    m = int(r.integers(1, 13))
    return {"fm": m, "fm_ord": f"{m}{'th' if 11 <= m <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(m % 10, 'th')}"}


def month_slots(v, r) -> dict:
    y, m, name = pick(r, v.months)
    return {"year": y, "month": m, "month_name": name}


def range_slots(v, r, lo=7, hi=120) -> dict:
    i = int(r.integers(0, len(v.days) - lo))
    j = min(i + int(r.integers(lo, hi)), len(v.days) - 1)
    d1, d2 = v.days[i], v.days[j]
    return {"d1": d1.isoformat(), "d2": d2.isoformat(), "d1_long": long_date(d1), "d2_long": long_date(d2)}


def merge(*parts):
    def draw(v, r):
        out = {}
        for p in parts:
            out.update(p(v, r))
        return out

    return draw


def one(slot: str, pool: str):
    return lambda v, r: {slot: pick(r, getattr(v, pool))}


def no_slots(v, r) -> dict:
    return {}

