"""The ports warehouse's reference tables and fleet, one function per table group, in the order
`ports.build_ports` runs them.

Each section takes the build and what earlier sections produced, inserts its tables, and returns
only what later sections need (small frozen dataclasses). Draw order is content: see `ports`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from warehouse_fixtures.writer import Build, masked

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class PortsBuild(Build):
    """A ports build: the generic build plus the calendar; event times are minutes from its start."""

    start: dt.date
    n_days: int

    @property
    def horizon(self) -> int:
        """Minutes; events at or after it have not happened yet."""
        return self.n_days * MINUTES_PER_DAY

    @property
    def dates(self) -> np.ndarray:
        return np.datetime64(self.start, "D") + np.arange(self.n_days)

    @property
    def months(self) -> np.ndarray:
        """Calendar month of each day index, 0 = January."""
        return self.dates.astype("datetime64[M]").astype(int) % 12

    def stamp(self, minutes) -> np.ndarray:
        """Timestamps (seconds) of minute offsets."""
        return (np.datetime64(self.start, "m") + np.asarray(minutes, dtype=np.int64)).astype("datetime64[s]")

    def day_of(self, minutes) -> np.ndarray:
        """The date of minute offsets (clipped to the calendar)."""
        return self.dates[np.clip(np.asarray(minutes, dtype=np.int64) // MINUTES_PER_DAY, 0, self.n_days - 1)]


@dataclass(frozen=True)
class World:
    port_codes: np.ndarray
    port_weight: np.ndarray  # share of traffic of each world port (sums to 1)


@dataclass(frozen=True)
class Lines:
    rows: list  # the spec rows: [name, country, alliance, founded, vessel type, weight]
    count: int
    kind: np.ndarray  # vessel type each line runs


@dataclass(frozen=True)
class Fleet:
    count: int
    type: np.ndarray
    line: np.ndarray  # line id per vessel, 0 for independent ships
    flag: np.ndarray
    teu: np.ndarray  # 0 for non-container ships
    gt: np.ndarray
    dwt: np.ndarray
    loa: np.ndarray
    draft: np.ndarray
    age: np.ndarray
    imo: np.ndarray


@dataclass(frozen=True)
class Port:
    terminals: list  # the spec rows: [code, name, cargo kind, operator, opened, calls per day, berths]
    codes: list[str]
    berth_keys: list[tuple[str, int]]  # (terminal code, berth no)
    berth_length: list[float]
    berth_draft: list[float]
    cranes_of: dict[str, np.ndarray]  # crane ids per terminal code
    crane_rate: np.ndarray  # relative speed of each crane


@dataclass(frozen=True)
class Pilots:
    hired: np.ndarray  # day index (negative: before the calendar)
    retired: np.ndarray  # day index; n_days + 1 for pilots still working
    retired_null: np.ndarray
    licence: np.ndarray
    weight: np.ndarray  # how often each pilot is rostered


def world(b: PortsBuild) -> World:
    """countries, world_ports."""
    countries = b.spec["countries"]
    b.insert("countries", {
        "country_code": np.array([c[0] for c in countries]),
        "country_name": np.array([c[1] for c in countries]),
        "continent": np.array([c[2] for c in countries]),
    })
    wports = b.spec["world_ports"]
    port_codes = np.array([p[0] for p in wports])
    port_weight = np.array([float(p[3]) for p in wports])
    port_weight /= port_weight.sum()
    b.insert("world_ports", {
        "port_code": port_codes,
        "port_name": np.array([p[1] for p in wports]),
        "country_code": np.array([p[0][:2] for p in wports]),
        "is_transshipment_hub": np.array([bool(p[2]) for p in wports]),
    })
    return World(port_codes=port_codes, port_weight=port_weight)


def shipping_lines(b: PortsBuild) -> Lines:
    lines = b.spec["shipping_lines"]
    n_li = len(lines)
    b.insert("shipping_lines", {
        "line_id": np.arange(1, n_li + 1),
        "line_name": np.array([ln[0] for ln in lines]),
        "country_code": np.array([ln[1] for ln in lines]),
        "alliance": masked(np.array([ln[2] or "" for ln in lines]), [ln[2] is None for ln in lines]),
        "founded_year": np.array([int(ln[3]) for ln in lines]),
    })
    return Lines(rows=lines, count=n_li, kind=np.array([ln[4] for ln in lines]))


def vessels(b: PortsBuild, li: Lines) -> Fleet:
    """vessels: type and line, unique names, flags (many of convenience), sizes by type, age, IMO numbers."""
    rng = b.rng
    v_type, v_line = _types_and_lines(b, li)
    n_ve = v_type.size
    names = _vessel_names(b, li, v_line)
    flag = _flags(b, li, v_line)
    teu, gt, dwt, loa, draft = _sizes(b, v_type)
    age = np.minimum(np.floor(rng.exponential(np.where(v_type == "container", 9.0, 12.0))), 30).astype(np.int64)
    imo = np.sort(rng.choice(np.arange(9100000, 9990000), n_ve, replace=False))
    imo = imo[rng.permutation(n_ve)]  # numbers are not in fleet order
    gt = np.round(gt).astype(np.int64)
    draft = np.round(draft, 1)
    b.insert("vessels", {
        "imo_number": imo,
        "vessel_name": np.array(names),
        "vessel_type": v_type,
        "flag_country_code": flag,
        "line_id": masked(v_line, v_line == 0),
        "build_year": 2024 - age,
        "gross_tonnage": gt,
        "deadweight_tonnes": np.round(dwt, -1).astype(np.int64),
        "length_overall_m": np.round(loa, 1),
        "max_draft_m": draft,
        "teu_capacity": masked(teu.astype(np.int64), teu == 0),
    })
    return Fleet(count=n_ve, type=v_type, line=v_line, flag=flag, teu=teu, gt=gt, dwt=dwt, loa=loa, draft=draft,
                 age=age, imo=imo)


def _types_and_lines(b: PortsBuild, li: Lines) -> tuple[np.ndarray, np.ndarray]:
    """Vessel type of each ship (fleet sizes from the spec) and its line among those running that type."""
    rng = b.rng
    v_type, v_line = [], []
    for vtype, (count, line_share) in b.spec["fleet"].items():
        own = np.flatnonzero(li.kind == vtype)
        weights = np.array([float(li.rows[i][5]) for i in own])
        has_line = rng.random(int(count)) < float(line_share)
        chosen = np.where(has_line, own[rng.choice(own.size, int(count), p=weights / weights.sum())] + 1, 0)
        v_type += [vtype] * int(count)
        v_line += list(chosen)
    return np.array(v_type), np.array(v_line, dtype=np.int64)


def _vessel_names(b: PortsBuild, li: Lines, v_line: np.ndarray) -> list[str]:
    """Line ships are named '<line's first word> <word>'; independent ships '<prefix> <noun>'; all unique."""
    rng, spec = b.rng, b.spec
    used: set[str] = set()
    names = []
    words = spec["line_ship_words"]
    tramp = [f"{prefix} {noun}" for prefix in spec["name_prefixes"] for noun in spec["name_nouns"]]
    tramp_order = rng.permutation(len(tramp))
    tramp_pos = 0
    word_order = {i: list(rng.permutation(len(words))) for i in range(1, li.count + 1)}
    for i in range(v_line.size):
        if v_line[i]:
            prefix = li.rows[v_line[i] - 1][0].split()[0]
            name = ""
            while not name or name in used:
                order = word_order[int(v_line[i])]
                if order:
                    name = f"{prefix} {words[order.pop(0)]}"
                else:  # more ships than words: a second generation of names
                    name = f"{prefix} {words[int(rng.integers(len(words)))]} {int(rng.integers(2, 5)) * 'I'}"
        else:
            name = ""
            while not name or name in used:
                name = tramp[tramp_order[tramp_pos]]
                tramp_pos += 1
        used.add(name)
        names.append(name)
    return names


def _flags(b: PortsBuild, li: Lines, v_line: np.ndarray) -> np.ndarray:
    """Flag state: the line's home country (or a European one), often replaced by a flag of convenience."""
    rng = b.rng
    n_ve = v_line.size
    line_country = np.array([li.rows[max(line, 1) - 1][1] for line in v_line])
    foc = b.spec["flags_of_convenience"]
    foc_codes = np.array(list(foc))
    foc_p = np.array([float(x) for x in foc.values()])
    home = np.where(v_line > 0, line_country, rng.choice(["GR", "NO", "DE", "NL", "DK", "GB", "CY", "TR"], n_ve))
    return np.where(rng.random(n_ve) < foc_p.sum(), foc_codes[rng.choice(foc_codes.size, n_ve, p=foc_p / foc_p.sum())],
                    home)


def _sizes(b: PortsBuild, v_type: np.ndarray) -> tuple[np.ndarray, ...]:
    """(TEU, gross tonnage, deadweight, length, max draft) of each ship, by the rules of its type."""
    rng = b.rng
    n_ve = v_type.size
    teu = np.zeros(n_ve)
    gt = np.zeros(n_ve)
    dwt = np.zeros(n_ve)
    loa = np.zeros(n_ve)
    draft = np.zeros(n_ve)
    for vtype in b.spec["fleet"]:
        m = v_type == vtype
        k = int(m.sum())
        u = rng.uniform(0.0, 1.0, k)
        if vtype == "container":
            t = np.clip(np.exp(rng.normal(np.log(6500), 0.75, k)), 900, 24000).round(-1)
            teu[m] = t
            dwt[m] = t * rng.uniform(11, 13.5, k)
            gt[m] = t * rng.uniform(9.5, 11.0, k)
            loa[m] = 60 + 2.2 * np.sqrt(t) + rng.uniform(-5, 5, k)
            draft[m] = 8.0 + 0.048 * np.sqrt(t) + rng.uniform(-0.3, 0.3, k)
        elif vtype in ("bulk_carrier", "tanker"):
            median, sigma = (62000, 0.55) if vtype == "bulk_carrier" else (50000, 0.8)
            d = np.clip(np.exp(rng.normal(np.log(median), sigma, k)), 8000, 320000)
            dwt[m] = d
            gt[m] = d * rng.uniform(0.5, 0.6, k)
            loa[m] = 95 + 0.52 * np.sqrt(d) + rng.uniform(-5, 5, k)
            draft[m] = np.minimum(7.0 + (0.021 if vtype == "bulk_carrier" else 0.025) * np.sqrt(d), 20.5)
        elif vtype == "lng_carrier":
            gt[m] = rng.uniform(88000, 122000, k)
            dwt[m] = gt[m] * rng.uniform(0.75, 0.85, k)
            loa[m] = 270 + 30 * u
            draft[m] = 11.4 + u
        elif vtype == "roro":
            gt[m] = rng.uniform(20000, 76000, k)
            dwt[m] = gt[m] * rng.uniform(0.28, 0.35, k)
            loa[m] = 170 + 65 * u
            draft[m] = 8.4 + 2.0 * u
        elif vtype == "cruise":
            g = np.clip(np.exp(rng.normal(np.log(90000), 0.6, k)), 25000, 230000)
            gt[m] = g
            dwt[m] = g * rng.uniform(0.07, 0.1, k)
            loa[m] = 150 + 0.45 * np.sqrt(g) + rng.uniform(-5, 5, k)
            draft[m] = 6.4 + 0.006 * np.sqrt(g) + rng.uniform(0, 0.4, k)
        else:  # general cargo
            d = np.exp(rng.uniform(np.log(2500), np.log(22000), k))
            dwt[m] = d
            gt[m] = d * rng.uniform(0.55, 0.7, k)
            loa[m] = 70 + 0.6 * np.sqrt(d) + rng.uniform(-4, 4, k)
            draft[m] = 4.8 + 0.028 * np.sqrt(d)
    return teu, gt, dwt, loa, draft


def terminals(b: PortsBuild) -> Port:
    """terminals, berths (numbered within their terminal), cranes."""
    rng, spec = b.rng, b.spec
    terms = spec["terminals"]
    t_codes = [t[0] for t in terms]
    b.insert("terminals", {
        "terminal_code": np.array(t_codes),
        "terminal_name": np.array([t[1] for t in terms]),
        "cargo_kind": np.array([t[2] for t in terms]),
        "operator_name": np.array([t[3] for t in terms]),
        "opened_year": np.array([int(t[4]) for t in terms]),
    })
    b_term, b_no, b_len, b_draft, b_power = [], [], [], [], []
    for t in terms:
        for i, (length, max_draft, power) in enumerate(t[6], 1):
            b_term.append(t[0]), b_no.append(i), b_len.append(float(length)), b_draft.append(float(max_draft))
            b_power.append(bool(power))
    b.insert("berths", {
        "terminal_code": np.array(b_term), "berth_no": np.array(b_no), "length_m": np.array(b_len),
        "max_draft_m": np.array(b_draft), "has_shore_power": np.array(b_power),
    })
    cr_term, cr_type, cr_lift = [], [], []
    for code, (ctype, lift, count) in spec["cranes"].items():
        cr_term += [code] * int(count)
        cr_type += [ctype] * int(count)
        cr_lift += [float(lift)] * int(count)
    n_cr = len(cr_term)
    cr_term = np.array(cr_term)
    b.insert("cranes", {
        "crane_id": np.arange(1, n_cr + 1),
        "terminal_code": cr_term,
        "crane_type": np.array(cr_type),
        "max_lift_tonnes": np.array(cr_lift),
        "commissioned_year": rng.integers(1995, 2023, n_cr),
    })
    return Port(terminals=terms, codes=t_codes, berth_keys=list(zip(b_term, b_no)), berth_length=b_len,
                berth_draft=b_draft, cranes_of={code: np.flatnonzero(cr_term == code) + 1 for code in t_codes},
                crane_rate=rng.uniform(0.85, 1.15, n_cr))  # some cranes are quicker than others


def cargo_types(b: PortsBuild) -> None:
    ctypes = b.spec["cargo_types"]
    b.insert("cargo_types", {
        "cargo_type_code": np.array([c[0] for c in ctypes]),
        "cargo_type_name": np.array([c[1] for c in ctypes]),
        "category": np.array([c[2] for c in ctypes]),
        "hazard_class": masked(np.array([c[3] or "" for c in ctypes]), [c[3] is None for c in ctypes]),
    })


def pilots(b: PortsBuild) -> Pilots:
    """pilots: unique names; some hired or retired inside the calendar; licence A or B."""
    rng, spec, n_days = b.rng, b.spec, b.n_days
    n_pi = int(spec["pilots"])
    pilot_names, seen = [], set()
    while len(pilot_names) < n_pi:
        name = f"{spec['first_names'][int(rng.integers(len(spec['first_names'])))]} " \
               f"{spec['last_names'][int(rng.integers(len(spec['last_names'])))]}"
        if name not in seen:
            seen.add(name)
            pilot_names.append(name)
    hired = np.where(rng.random(n_pi) < 0.2, rng.integers(0, n_days - 200, n_pi), -rng.integers(200, 9000, n_pi))
    retired = np.where(rng.random(n_pi) < 0.15, np.maximum(hired, 0) + rng.integers(60, n_days, n_pi), n_days + 1)
    retired_null = retired >= n_days
    licence = np.where(rng.random(n_pi) < 0.55, "A", "B")
    b.insert("pilots", {
        "pilot_id": np.arange(1, n_pi + 1),
        "full_name": np.array(pilot_names),
        "licence_class": licence,
        "hired_date": np.datetime64(b.start, "D") + hired,
        "retired_date": masked(np.datetime64(b.start, "D") + np.minimum(retired, n_days - 1), retired_null),
    })
    return Pilots(hired=hired, retired=retired, retired_null=retired_null, licence=licence,
                  weight=rng.uniform(0.5, 1.5, n_pi))


def tariffs(b: PortsBuild) -> list[tuple[str, dt.date, float]]:
    """tariffs; returns the rows (vessel type, valid from, fee per GT) sorted by type, then date."""
    tariff_rows = [(vt, dt.date.fromisoformat(str(since)), float(fee))
                   for since, fees in b.spec["tariffs"] for vt, fee in fees.items()]
    tariff_rows.sort()
    b.insert("tariffs", {
        "vessel_type": np.array([r[0] for r in tariff_rows]),
        "valid_from": np.array([np.datetime64(r[1], "D") for r in tariff_rows]),
        "fee_per_gt": np.array([r[2] for r in tariff_rows]),
    })
    return tariff_rows


def weather(b: PortsBuild) -> np.ndarray:
    """weather_daily: windier, wetter winters; fog in spring and autumn. Returns the days the port was closed."""
    rng, dates, n_days = b.rng, b.dates, b.n_days
    doy = (dates - dates.astype("datetime64[Y]")).astype(int)
    winter = np.cos(2 * np.pi * (doy - 15) / 365.25)
    wind = np.clip(rng.gamma(4.0, (15 + 6 * winter) / 4.0), 2, None)
    storms = rng.random(n_days) < 0.015 + 0.025 * np.maximum(winter, 0)
    wind = np.where(storms, wind + rng.uniform(18, 35, n_days), wind)
    fog = rng.random(n_days) < 0.03 + 0.04 * np.abs(np.sin(2 * np.pi * (doy - 15) / 365.25))
    visibility = np.where(fog, rng.uniform(0.1, 1.0, n_days), np.clip(rng.normal(18, 6, n_days), 2, 30))
    rain = np.where(rng.random(n_days) < 0.45 + 0.15 * winter, rng.gamma(1.2, 4 + 2 * winter), 0.0)
    closed = (wind >= 40) | (visibility < 0.3)
    b.insert("weather_daily", {
        "obs_date": dates,
        "max_wind_knots": np.round(wind, 1),
        "min_visibility_km": np.round(visibility, 1),
        "precipitation_mm": np.round(rain, 1),
        "port_closed": closed,
    })
    return closed
