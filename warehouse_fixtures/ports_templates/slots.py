"""Slot drawers and shared SQL fragments of the ports templates: each drawer takes the value pool
(`PortValues`) and the template's generator and returns slot values (`merge` combines drawers,
`one` picks from a pool, `choice` from a fixed list). Questions say "bulk carriers", "discharged",
"port state control"; the slots carry both those words and the stored codes the SQL uses."""

from __future__ import annotations

import datetime as dt
import functools

from warehouse_fixtures.corpus import Template, WarehouseValues

pick = WarehouseValues.pick
# Ports templates make 50 train / 8 test pairs unless they say otherwise.
T = functools.partial(Template, n_train=50, n_test=8)

TYPE_LABEL = {
    "container": ("container ship", "container ships"),
    "bulk_carrier": ("bulk carrier", "bulk carriers"),
    "tanker": ("tanker", "tankers"),
    "lng_carrier": ("LNG carrier", "LNG carriers"),
    "roro": ("ro-ro ship", "ro-ro ships"),
    "cruise": ("cruise ship", "cruise ships"),
    "general_cargo": ("general cargo ship", "general cargo ships"),
}
DIRECTION_WORDS = {"D": ("discharged", "unloaded"), "L": ("loaded", "shipped out")}
INSPECTION_LABEL = {"port_state_control": "port state control", "safety": "safety", "environmental": "environmental"}
QUARTER_WORD = {1: "first", 2: "second", 3: "third", 4: "fourth"}

# FROM clauses with the canonical aliases, shared by the medium and hard templates.
CALLS_VESSEL = "FROM port_calls pc JOIN vessels v ON pc.imo_number = v.imo_number"
CALLS_TERMINAL = "FROM port_calls pc JOIN terminals t ON pc.terminal_code = t.terminal_code"
CARGO_CALLS = "FROM cargo_movements cm JOIN port_calls pc ON cm.call_id = pc.call_id"
STAY_HOURS = "DATE_DIFF('minute', pc.arrived_at, pc.departed_at) / 60.0"


def long_date(day: dt.date) -> str:
    return f"{day.strftime('%B')} {day.day}, {day.year}"


def merge(*parts):
    def draw(v, r):
        out = {}
        for p in parts:
            out.update(p(v, r))
        return out

    return draw


def one(slot: str, pool: str):
    return lambda v, r: {slot: pick(r, getattr(v, pool))}


def choice(slot: str, options: list):
    return lambda v, r: {slot: options[int(r.integers(len(options)))]}


def year_slots(v, r) -> dict:
    return {"year": pick(r, v.years)}


def month_slots(v, r) -> dict:
    y, m, name = pick(r, v.months)
    return {"year": y, "month": m, "month_name": name}


def quarter_slots(v, r) -> dict:
    q = int(r.integers(1, 5))
    return {"year": pick(r, v.years), "q": q, "q_word": QUARTER_WORD[q]}


def vtype_slots(v, r) -> dict:
    code = pick(r, v.vessel_types)
    return {"vtype": code, "type_label": TYPE_LABEL[code][0], "type_plural": TYPE_LABEL[code][1]}


def direction_slots(v, r) -> dict:
    d = "D" if r.integers(2) else "L"
    words = DIRECTION_WORDS[d]
    return {"dir": d, "dir_word": words[int(r.integers(len(words)))]}


def day_slots(slot: str, pool: str = "days"):
    def draw(v, r):
        day = pick(r, getattr(v, pool))
        return {slot: day.isoformat(), f"{slot}_long": long_date(day)}

    return draw


def range_slots(v, r, lo=3, hi=60) -> dict:
    i = int(r.integers(0, len(v.days) - lo))
    j = min(i + int(r.integers(lo, hi)), len(v.days) - 1)
    d1, d2 = v.days[i], v.days[j]
    return {"d1": d1.isoformat(), "d2": d2.isoformat(), "d1_long": long_date(d1), "d2_long": long_date(d2)}


def pair_slots(names: tuple[str, str], pool: str):
    return lambda v, r: dict(zip(names, pick(r, getattr(v, pool))))


def inspection_type_slots(v, r) -> dict:
    code = pick(r, v.inspection_types)
    label = INSPECTION_LABEL[code]
    return {"itype": code, "itype_label": label, "itype_a": ("an " if label[0] in "aeiou" else "a ") + label}


def prev_year_slots(v, r) -> dict:
    year = pick(r, v.years[1:])
    return {"year": year, "py": year - 1}
