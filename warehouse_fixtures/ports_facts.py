"""The ports warehouse's event tables, one function per table group, in the order `ports.build_ports`
runs them.

Like the reference sections (`ports_dims`), each takes the build and the earlier sections' results
explicitly. `port_calls` draws every call, also those that have not happened by the end of the
calendar (their draws fix the later ones); `Calls.live` picks the rows that are written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from warehouse_fixtures.ports_dims import MINUTES_PER_DAY, Fleet, Lines, Pilots, Port, PortsBuild, World
from warehouse_fixtures.writer import masked


@dataclass(frozen=True)
class Work:
    """What the cargo of each call implies: TEU (discharged, loaded), tonnes, cranes, moves, minutes alongside."""

    teu: np.ndarray  # shape (calls, 2)
    tonnes: np.ndarray
    n_cranes: np.ndarray
    moves: np.ndarray
    stay: np.ndarray


@dataclass(frozen=True)
class Calls:
    """Every drawn call in arrival order (times in minutes from the calendar start)."""

    ids: np.ndarray
    vessel: np.ndarray  # index into the fleet
    type: np.ndarray  # vessel type
    kind: np.ndarray  # cargo kind of the terminal
    code: np.ndarray  # terminal code
    work: Work
    inbound: np.ndarray  # minutes from pilot boarding to first line ashore
    arrived: np.ndarray
    departed: np.ndarray
    alongside: np.ndarray  # still at the berth at the end of the calendar
    year: np.ndarray  # calendar year of arrival
    live: np.ndarray  # indices of the calls that arrived inside the calendar (the rows written)


def port_calls(b: PortsBuild, world: World, li: Lines, fleet: Fleet, port: Port, closed: np.ndarray) -> Calls:
    """port_calls: arrivals per terminal and day, then berths in arrival order (ships wait at anchor)."""
    rng = b.rng
    ready, c_term, c_vessel = _arrivals(b, fleet, port)
    n_calls = ready.size
    c_type = fleet.type[c_vessel]
    c_kind = np.array([port.terminals[i][2] for i in c_term])
    c_code = np.array([port.codes[i] for i in c_term])
    work = _work(b, fleet, c_vessel, c_type, c_kind, c_code)
    inbound = rng.integers(50, 130, n_calls)
    arrive_draft = np.round(fleet.draft[c_vessel] * rng.uniform(0.72, 0.98, n_calls), 1)
    anchored, arrived, departed, berth = _berth_schedule(b, fleet, port, closed, ready, c_vessel, c_code, work.stay,
                                                         inbound, arrive_draft)
    live = arrived < b.horizon
    alongside = departed >= b.horizon

    # previous / next ports, voyage numbers, passengers
    port_codes, port_weight = world.port_codes, world.port_weight
    cruise_ports = np.flatnonzero(np.isin(port_codes, b.spec["cruise_ports"]))
    is_cruise = c_type == "cruise"
    prev_port = np.where(is_cruise, cruise_ports[rng.integers(0, cruise_ports.size, n_calls)],
                         rng.choice(port_codes.size, n_calls, p=port_weight))
    next_port = np.where(is_cruise, cruise_ports[rng.integers(0, cruise_ports.size, n_calls)],
                         rng.choice(port_codes.size, n_calls, p=port_weight))
    same = next_port == prev_port
    next_port[same] = (next_port[same] + 1 + rng.integers(0, port_codes.size - 1, int(same.sum()))) % port_codes.size
    next_null = (rng.random(n_calls) < 0.07) | alongside
    call_year = b.day_of(arrived).astype("datetime64[Y]").astype(int) + 1970
    voyage = _voyage_numbers(li, fleet, c_vessel, c_kind, call_year)
    passengers = np.where(is_cruise, (fleet.gt[c_vessel] / 40 * rng.uniform(0.6, 1.0, n_calls)).round(), 0).astype(np.int64)
    call_ids = np.arange(1000001, 1000001 + n_calls)
    sel = np.flatnonzero(live)
    b.insert("port_calls", {
        "call_id": call_ids[sel],
        "imo_number": fleet.imo[c_vessel[sel]],
        "terminal_code": c_code[sel],
        "berth_no": berth[sel],
        "voyage_number": np.array(voyage)[sel],
        "previous_port_code": port_codes[prev_port[sel]],
        "next_port_code": masked(port_codes[next_port[sel]], next_null[sel]),
        "anchored_at": masked(b.stamp(np.maximum(anchored[sel], 0)), anchored[sel] < 0),
        "arrived_at": b.stamp(arrived[sel]),
        "departed_at": masked(b.stamp(np.minimum(departed[sel], b.horizon - 1)), alongside[sel]),
        "arrival_draft_m": arrive_draft[sel],
        "passenger_count": masked(passengers[sel], ~is_cruise[sel]),
    })
    return Calls(ids=call_ids, vessel=c_vessel, type=c_type, kind=c_kind, code=c_code, work=work, inbound=inbound,
                 arrived=arrived, departed=departed, alongside=alongside, year=call_year, live=sel)


def _arrivals(b: PortsBuild, fleet: Fleet, port: Port) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ready minute, terminal index, vessel index) of every call, sorted: seasonal, growing, skewed traffic."""
    rng, spec, n_days = b.rng, b.spec, b.n_days
    v_type = fleet.type
    season = spec["seasonality"]
    growth = (1 + float(spec["calendar"]["yearly_growth"])) ** ((np.arange(n_days) - n_days / 2) / 365.25)
    propensity = np.exp(rng.normal(0, 0.8, fleet.count)) * np.where(fleet.line > 0, 1.6, 1.0)
    months = b.months
    call_rows = []  # (ready minute, terminal index, vessel index)
    for ti, t in enumerate(port.terminals):
        code, rate = t[0], float(t[5])
        factor = np.array(season.get(code, season["default"]), dtype=float)[months]
        per_day = rng.poisson(rate * factor * growth)
        day_idx = np.repeat(np.arange(n_days), per_day)
        minute = day_idx * MINUTES_PER_DAY + rng.integers(0, MINUTES_PER_DAY, day_idx.size)
        if t[2] == "passenger":  # cruise ships arrive in the early morning
            minute = day_idx * MINUTES_PER_DAY + rng.integers(5 * 60, 9 * 60, day_idx.size)
        deepest = max(port.berth_draft[i] for i, (bt, _) in enumerate(port.berth_keys) if bt == code)
        types = spec["serves"][code]
        pool = np.flatnonzero(np.isin(v_type, list(types)) & (fleet.draft <= deepest + 0.5))
        weight = propensity[pool] * np.array([float(types[v]) for v in v_type[pool]])
        for vt in types:  # each type gets its share of calls, whatever its fleet size
            mask = v_type[pool] == vt
            weight[mask] *= float(types[vt]) / weight[mask].sum()
        vessel = pool[rng.choice(pool.size, day_idx.size, p=weight / weight.sum())]
        call_rows += [(int(mi), ti, int(vi)) for mi, vi in zip(minute, vessel)]
    call_rows.sort()
    return (np.array([c[0] for c in call_rows], dtype=np.int64), np.array([c[1] for c in call_rows]),
            np.array([c[2] for c in call_rows]))


def _work(b: PortsBuild, fleet: Fleet, c_vessel, c_type, c_kind, c_code) -> Work:
    """The cargo of each call decides how long it stays."""
    rng = b.rng
    n_calls = c_vessel.size
    load_factor = rng.uniform(0.08, 0.32, (n_calls, 2))  # share of capacity discharged, loaded
    c_teu = np.where((c_kind == "container")[:, None], fleet.teu[c_vessel][:, None] * load_factor, 0).round()
    c_tonnes = fleet.dwt[c_vessel] * rng.uniform(0.55, 0.95, n_calls)
    big = fleet.loa[c_vessel]
    n_cranes = np.where(c_kind == "container", np.clip((big - 150) // 60 + rng.integers(1, 3, n_calls), 1, 5), 0)
    n_cranes = np.where(c_code == "BLK1", rng.integers(1, 4, n_calls), n_cranes)
    n_cranes = np.where(c_code == "GRN1", rng.integers(1, 3, n_calls), n_cranes)
    moves = np.where(c_kind == "container", (c_teu.sum(axis=1) / 1.6).round(), 0)
    moves = np.where(c_kind == "dry_bulk", (c_tonnes / 28).round(), moves)
    hours = np.select(
        [c_kind == "container", c_kind == "dry_bulk", c_code == "LNG1", c_kind == "liquid_bulk", c_kind == "roro"],
        [moves / (np.maximum(n_cranes, 1) * 30) + rng.uniform(2, 5, n_calls),
         c_tonnes / (np.maximum(n_cranes, 1) * np.where(c_code == "GRN1", 1500, 1000)) + rng.uniform(3, 8, n_calls),
         rng.uniform(24, 36, n_calls),
         18 + c_tonnes / 5000 * rng.uniform(0.8, 1.2, n_calls),
         rng.uniform(8, 20, n_calls)],
        rng.uniform(8, 13, n_calls))  # cruise: a day in port
    hours = np.where((c_type == "general_cargo"), rng.uniform(10, 40, n_calls), hours)
    return Work(teu=c_teu, tonnes=c_tonnes, n_cranes=n_cranes, moves=moves, stay=np.round(hours * 60).astype(np.int64))


def _berth_schedule(b: PortsBuild, fleet: Fleet, port: Port, closed, ready, c_vessel, c_code, stay, inbound,
                    arrive_draft) -> tuple[np.ndarray, ...]:
    """(anchored, arrived, departed, berth no) per call: the free berth that fits, one ship at a time;
    ships wait at anchor for a berth or while storms close the port. Lightens `arrive_draft` in place
    for ships too deep for every berth."""
    rng = b.rng
    n_calls = ready.size
    big = fleet.loa[c_vessel]
    berth_keys = port.berth_keys
    free_at = {key: -10**9 for key in berth_keys}
    anchored = np.full(n_calls, -1, dtype=np.int64)
    arrived = np.zeros(n_calls, dtype=np.int64)
    departed = np.zeros(n_calls, dtype=np.int64)
    berth = np.zeros(n_calls, dtype=np.int64)
    closed_days = set(np.flatnonzero(closed).tolist())
    berth_size = {key: (port.berth_draft[j], port.berth_length[j]) for j, key in enumerate(berth_keys)}
    for i in range(n_calls):
        options = [k for k in berth_keys if k[0] == c_code[i]]
        fits = [k for k in options if berth_size[k][0] >= arrive_draft[i] and berth_size[k][1] >= big[i] - 10]
        if not fits:  # too big for every berth: it takes the deepest, lightened (draft) to fit
            fits = [max(options, key=lambda k: berth_size[k][0])]
            arrive_draft[i] = min(arrive_draft[i], berth_size[fits[0]][0] - 0.3)
        key = min(fits, key=lambda k: free_at[k])
        start_at = ready[i]
        while start_at // MINUTES_PER_DAY in closed_days:  # entrance closed: wait for the next morning
            start_at = (start_at // MINUTES_PER_DAY + 1) * MINUTES_PER_DAY + 6 * 60 + int(rng.integers(0, 180))
        start_at = max(start_at, free_at[key] + 45)
        if start_at > ready[i] + 60:  # waited at anchor for the berth or the weather
            anchored[i] = ready[i] + 30
        arrived[i] = start_at + inbound[i]
        departed[i] = arrived[i] + stay[i]
        free_at[key] = departed[i] + 60
        berth[i] = key[1]
    return anchored, arrived, departed, berth


def _voyage_numbers(li: Lines, fleet: Fleet, c_vessel, c_kind, call_year) -> list[str]:
    """'<line initials><yy><nn>' per vessel and year ('TR' for independent ships); container calls add E/W."""
    counter: dict[tuple[int, int], int] = {}
    voyage = []
    for i in range(c_vessel.size):
        k = counter.get((c_vessel[i], call_year[i]), 0) + 1
        counter[(c_vessel[i], call_year[i])] = k
        line = fleet.line[c_vessel[i]]
        abbr = "".join(w[0] for w in li.rows[line - 1][0].split()[:2]).upper() if line else "TR"
        voyage.append(f"{abbr}{call_year[i] % 100:02d}{k:02d}{'EW'[k % 2] if c_kind[i] == 'container' else ''}")
    return voyage


def cargo_movements(b: PortsBuild, world: World, fleet: Fleet, calls: Calls) -> None:
    """cargo_movements: one row per cargo type, direction and partner port of each call."""
    rng = b.rng
    port_codes, port_weight = world.port_codes, world.port_weight
    box_mix = {"CNT40": (0.5, 9.0), "CNT20": (0.24, 12.5), "CNTREF": (0.09, 11.0), "CNTDG": (0.04, 10.0), "CNTEMP": (0.13, 2.2)}
    box_codes = list(box_mix)
    box_share = np.array([v[0] for v in box_mix.values()])
    box_tonnes = np.array([v[1] for v in box_mix.values()])
    month_of_call = b.day_of(calls.arrived).astype("datetime64[M]").astype(int) % 12
    year_of_call = calls.year - 2022
    c_teu, c_tonnes = calls.work.teu, calls.work.tonnes
    cm: dict[str, list] = {k: [] for k in ("call_id", "direction", "cargo_type_code", "partner_port_code", "teu", "weight_tonnes")}

    def add(i, direction, code, port, teu_value, tonnes):
        cm["call_id"].append(calls.ids[i])
        cm["direction"].append(direction)
        cm["cargo_type_code"].append(code)
        cm["partner_port_code"].append(port)
        cm["teu"].append(teu_value)
        cm["weight_tonnes"].append(round(float(tonnes), 2))

    def partner() -> str:
        return port_codes[rng.choice(port_codes.size, p=port_weight)]

    grain_season = {"WHEAT": [7, 8, 9, 10], "MAIZE": [9, 10, 11, 0], "SOY": [2, 3, 4, 5]}
    bulk_imports = ["IRONORE", "COAL", "FERT", "CEMENT"]
    for i in calls.live:
        kind, code = calls.kind[i], calls.code[i]
        if kind == "container":
            for d, total in (("D", c_teu[i, 0]), ("L", c_teu[i, 1])):
                shares = box_share.copy()
                if d == "D":
                    shares[-1] = 0.04  # empties mostly leave
                partners = rng.choice(port_codes.size, int(rng.integers(1, 4)), p=port_weight, replace=False)
                split = rng.dirichlet(np.ones(partners.size) * 2)
                for bi, code_b in enumerate(box_codes):
                    for p, frac in zip(partners, split):
                        units = int(round(total * shares[bi] / shares.sum() * frac * rng.uniform(0.7, 1.3)))
                        if units > 0:
                            add(i, d, code_b, port_codes[p], units, units * box_tonnes[bi] * rng.uniform(0.85, 1.15))
        elif code == "GRN1":
            month = month_of_call[i]
            crops = [c for c, ms in grain_season.items() if month in ms] or ["WHEAT"]
            add(i, "L", crops[int(rng.integers(len(crops)))], partner(), None, c_tonnes[i])
        elif calls.type[i] == "general_cargo":
            n_rows = int(rng.integers(1, 3))
            for code_g in rng.choice(["STEEL", "TIMBER", "PROJ"], n_rows, replace=False, p=[0.5, 0.35, 0.15]):
                add(i, "D" if rng.random() < 0.6 else "L", code_g, partner(),
                    None, c_tonnes[i] / n_rows * rng.uniform(0.6, 1.0))
        elif kind == "dry_bulk":
            coal_share = 0.3 - 0.07 * year_of_call[i]  # coal imports decline year by year
            p = np.array([0.35, coal_share, 0.15, 0.2])
            code_b = bulk_imports[rng.choice(4, p=p / p.sum())]
            ports = rng.choice(port_codes.size, 2, p=port_weight, replace=False)
            parts = [1.0] if rng.random() < 0.8 else [0.6, 0.4]
            for p_i, part in zip(ports, parts):
                add(i, "D", code_b, port_codes[p_i] if rng.random() > 0.05 else None, None, c_tonnes[i] * part)
        elif code == "LNG1":
            add(i, "D", "LNG", partner(), None, c_tonnes[i] * 0.5)
        elif kind == "liquid_bulk":
            options = ["CRUDE", "DIESEL", "JETA1", "VEGOIL"]
            code_l = options[rng.choice(4, p=[0.45, 0.3, 0.15, 0.1])]
            add(i, "D", code_l, partner(), None, c_tonnes[i])
            if code_l == "DIESEL" and rng.random() < 0.3:  # part of the cargo is reloaded for the coast
                add(i, "L", "DIESEL", partner(), None, c_tonnes[i] * 0.2)
        elif kind == "roro":
            for code_r, share in (("CARS", 0.5), ("TRUCKS", 0.2), ("TRAIL", 0.3)):
                for d in ("D", "L"):
                    if rng.random() < 0.8:
                        add(i, d, code_r, partner(), None, fleet.dwt[calls.vessel[i]] * share * rng.uniform(0.2, 0.5))
    n_cm = len(cm["call_id"])
    b.insert("cargo_movements", {
        "movement_id": np.arange(1, n_cm + 1),
        "call_id": np.array(cm["call_id"]),
        "direction": np.array(cm["direction"]),
        "cargo_type_code": np.array(cm["cargo_type_code"]),
        "partner_port_code": masked(np.array([p or "" for p in cm["partner_port_code"]]),
                                    [p is None for p in cm["partner_port_code"]]),
        "teu": masked(np.array([t or 0 for t in cm["teu"]]), [t is None for t in cm["teu"]]),
        "weight_tonnes": np.array(cm["weight_tonnes"]),
    })


def crane_assignments(b: PortsBuild, port: Port, calls: Calls) -> None:
    """crane_assignments: cranes on container and bulk calls, sharing the call's moves."""
    rng = b.rng
    work = calls.work
    ca: dict[str, list] = {k: [] for k in ("call_id", "crane_id", "moves", "work_hours")}
    for i in calls.live:
        pool = port.cranes_of[calls.code[i]]
        k = min(int(work.n_cranes[i]), pool.size)
        if k == 0 or work.moves[i] <= 0:
            continue
        picked = np.sort(rng.choice(pool, k, replace=False))
        split = rng.dirichlet(np.ones(k) * 4)
        base = 30 if calls.kind[i] == "container" else 36
        for crane, frac in zip(picked, split):
            m = max(int(round(work.moves[i] * frac)), 1)
            ca["call_id"].append(calls.ids[i])
            ca["crane_id"].append(crane)
            ca["moves"].append(m)
            ca["work_hours"].append(round(m / (base * port.crane_rate[crane - 1]) + float(rng.uniform(0.2, 1.0)), 2))
    b.insert("crane_assignments", {k: np.array(v) for k, v in ca.items()})


def pilotage_jobs(b: PortsBuild, fleet: Fleet, pi: Pilots, calls: Calls) -> None:
    """pilotage_jobs: ships of 3000 GT and more; two pilots over 100000 GT; class B only under 50000 GT."""
    rng = b.rng
    hired_min = pi.hired * MINUTES_PER_DAY
    retired_min = np.where(pi.retired_null, 10**12, (pi.retired + 1) * MINUTES_PER_DAY)
    pj: dict[str, list] = {k: [] for k in ("call_id", "pilot_id", "leg", "started_at", "duration_minutes", "tug_count")}
    for i in calls.live:
        g = fleet.gt[calls.vessel[i]]
        if g < 3000:
            continue
        tugs_base = 0 if g < 20000 else 1 if g < 60000 else 2 if g < 120000 else 3
        legs = [("inbound", calls.arrived[i] - calls.inbound[i], calls.inbound[i])]
        if not calls.alongside[i]:
            out = int(rng.integers(50, 130))
            legs.append(("outbound", calls.departed[i], out))
        for leg, begin, minutes in legs:
            ok = (hired_min <= begin) & (retired_min > begin) & ((pi.licence == "A") | (g < 50000))
            choices = np.flatnonzero(ok)
            if choices.size < 2:
                choices = np.flatnonzero(pi.licence == "A")
            k = 2 if g > 100000 else 1
            w = pi.weight[choices]
            for pilot in np.sort(rng.choice(choices, k, replace=False, p=w / w.sum())) + 1:
                pj["call_id"].append(calls.ids[i])
                pj["pilot_id"].append(pilot)
                pj["leg"].append(leg)
                pj["started_at"].append(begin)
                pj["duration_minutes"].append(int(minutes))
                pj["tug_count"].append(tugs_base + int(rng.integers(0, 2)))
    pj["started_at"] = b.stamp(pj["started_at"])
    b.insert("pilotage_jobs", {k: np.asarray(v) for k, v in pj.items()})


def port_dues_invoices(b: PortsBuild, li: Lines, fleet: Fleet, tariff_rows: list, calls: Calls) -> None:
    """port_dues_invoices: GT x the tariff in force on the arrival day; slow payers and unpaid bills."""
    rng, dates, n_days = b.rng, b.dates, b.n_days
    sel, c_vessel = calls.live, calls.vessel
    arrival_day = b.day_of(calls.arrived)
    fee = np.zeros(calls.ids.size)
    for vt, since, rate in tariff_rows:  # sorted by type, then date: the last match wins
        fee = np.where((calls.type == vt) & (arrival_day >= np.datetime64(since, "D")), rate, fee)
    done = sel[~calls.alongside[sel]]
    issued = calls.departed[done] // MINUTES_PER_DAY + rng.integers(0, 5, done.size)
    billed = issued < n_days
    done, issued = done[billed], issued[billed]
    pay_speed = rng.uniform(8, 45, li.count + 1)  # mean days to pay, per line (index 0: agents)
    pay_delay = np.round(rng.exponential(pay_speed[fleet.line[c_vessel[done]]])).astype(np.int64) + 1
    paid = issued + pay_delay
    unpaid = (paid >= n_days) | (rng.random(done.size) < float(b.spec["unpaid_rate"]))
    line_billed = fleet.line[c_vessel[done]]
    b.insert("port_dues_invoices", {
        "invoice_id": np.arange(70001, 70001 + done.size),
        "call_id": calls.ids[done],
        "line_id": masked(line_billed, line_billed == 0),
        "issued_date": dates[issued],
        # exact decimal arithmetic, rounded half up like SQL's ROUND(gross_tonnage * fee_per_gt, 2)
        "amount_eur": ((fleet.gt[c_vessel[done]] * np.round(fee[done] * 10000).astype(np.int64) + 50) // 100) / 100,
        "paid_date": masked(dates[np.minimum(paid, n_days - 1)], unpaid),
    })


def inspections(b: PortsBuild, fleet: Fleet, calls: Calls) -> None:
    """inspections: older ships and some flags are picked more often and fare worse."""
    rng = b.rng
    sel, c_vessel, age = calls.live, calls.vessel, fleet.age
    risk_flag = {"PA": 1.3, "LR": 1.0, "MH": 0.9, "MT": 1.1, "BS": 1.0, "CY": 1.4, "TR": 1.3}
    risk = np.array([risk_flag.get(f, 0.8) for f in fleet.flag])
    v_age = age[c_vessel[sel]]
    p_inspect = float(b.spec["inspection_rate"]) * (0.5 + v_age / 15) * risk[c_vessel[sel]]
    chosen = sel[rng.random(sel.size) < p_inspect]
    found = rng.poisson((0.4 + age[c_vessel[chosen]] / 5) * risk[c_vessel[chosen]])
    detained = (found >= 7) & (rng.random(chosen.size) < 0.7)
    on_day = np.minimum(calls.arrived[chosen] // MINUTES_PER_DAY + rng.integers(0, 2, chosen.size),
                        np.minimum(calls.departed[chosen], b.horizon - 1) // MINUTES_PER_DAY)  # while the ship is in port
    b.insert("inspections", {
        "inspection_id": np.arange(501, 501 + chosen.size),
        "call_id": calls.ids[chosen],
        "imo_number": fleet.imo[c_vessel[chosen]],
        "inspection_date": b.dates[on_day],
        "inspection_type": rng.choice(["port_state_control", "safety", "environmental"], chosen.size, p=[0.7, 0.2, 0.1]),
        "deficiencies": found,
        "detained": detained,
    })
