"""The generic corpus machinery: question templates, the warehouse values their slots draw from,
pair generation with its quality checks and split policy, and JSONL writing.

Generated pairs come from templates (`warehouse_fixtures.harbor_templates`, `ports_templates`): each
has many question paraphrases and one gold SQL in the canonical style, with value slots filled from
the warehouse's real values (a pool read once: `WarehouseValues` for Harbor, `PortValues` for
ports). Every candidate is executed; empty (or all-zero / all-NULL single-row) results are
dropped, as are ORDER BY ... LIMIT answers whose cut falls on a tie.

Split policy (no memorising): a template's last `test_paraphrases` paraphrases are used only in the
test split ("heldout_paraphrase"), and about 15% of slot-value combinations (by a hash of the values)
are used only in the test split ("heldout_combo"). No question text appears in both splits.
`corpus_files` writes the eval/ files from this.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from sqltune.core.paths import atomic_write_text
from sqltune.data.pairs import Pair

log = logging.getLogger(__name__)

HELDOUT_COMBO_PERCENT = 15


@dataclass
class Template:
    """Paraphrased questions over one gold SQL shape; `draw` fills the slots from warehouse values."""

    key: str
    difficulty: str
    tags: tuple[str, ...]
    questions: list[str]
    sql: str
    draw: Callable[[object, np.random.Generator], dict]  # (value pool, generator) -> slot values
    test_paraphrases: int = 2
    n_train: int = 70
    n_test: int = 9


def canonical_sql(sql: str) -> str:
    """Gold SQL on one line with single spaces (templates are written over several lines)."""
    return re.sub(r"\s+", " ", sql).strip()


def normal_question(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def is_informative(rows: list[tuple]) -> bool:
    """False for empty results and for a single row of only zeros / NULLs (too easy to match by luck)."""
    if not rows:
        return False
    if len(rows) == 1 and all(v is None or v == 0 for v in rows[0]):
        return False
    return True


_LIMIT = re.compile(r"LIMIT (\d+)$")


def _tie_at_cut(con, sql: str) -> bool:
    """True when an ORDER BY ... LIMIT n answer is ambiguous: row n and n+1 share the last column."""
    m = _LIMIT.search(sql)
    if not m:
        return False
    n = int(m.group(1))
    rows = con.execute(_LIMIT.sub(f"LIMIT {n + 1}", sql)).fetchall()
    return len(rows) > n and rows[n - 1][-1] == rows[n][-1]


def _sql_literal(value):
    """Slot value as it goes inside the SQL text (quotes doubled; templates supply the quotes)."""
    return value.replace("'", "''") if isinstance(value, str) else value


def combo_is_heldout(template_key: str, slots: dict) -> bool:
    """About HELDOUT_COMBO_PERCENT% of slot combinations are reserved for the test split."""
    blob = template_key + json.dumps(slots, sort_keys=True, default=str)
    return zlib.crc32(blob.encode()) % 100 < HELDOUT_COMBO_PERCENT


class WarehouseValues:
    """Real values read from the Harbor warehouse, the pool every template draws its slots from."""

    def __init__(self, con):
        def col(sql: str) -> list:
            return [r[0] for r in con.execute(sql).fetchall()]

        self.categories = col("SELECT category_name FROM product_categories ORDER BY 1")
        self.departments = col("SELECT department_name FROM departments ORDER BY 1")
        self.brands = col("SELECT brand_name FROM brands ORDER BY 1")
        self.regions = col("SELECT region_name FROM regions ORDER BY 1")
        self.stores = col("SELECT store_name FROM stores ORDER BY 1")
        self.store_types = col("SELECT DISTINCT store_type FROM stores ORDER BY 1")
        self.store_states = col("SELECT DISTINCT state FROM stores ORDER BY 1")
        self.warehouses = col("SELECT warehouse_name FROM warehouses ORDER BY 1")
        self.carriers = col("SELECT carrier_name FROM carriers ORDER BY 1")
        self.channels = col("SELECT channel_name FROM channels ORDER BY 1")
        self.online_channels = col("SELECT channel_name FROM channels WHERE is_online ORDER BY 1")
        self.payment_methods = col("SELECT method_name FROM payment_methods ORDER BY 1")
        self.reasons = col("SELECT reason_text FROM return_reasons ORDER BY 1")
        self.tiers = col("SELECT tier_name FROM loyalty_tiers ORDER BY loyalty_tier_id")
        self.promo_types = col("SELECT DISTINCT promo_type FROM promotions ORDER BY 1")
        self.suppliers = col("SELECT supplier_name FROM suppliers ORDER BY 1")
        self.supplier_countries = col("SELECT DISTINCT country FROM suppliers ORDER BY 1")
        self.colors = col("SELECT DISTINCT color FROM products WHERE color IS NOT NULL ORDER BY 1")
        self.job_titles = col("SELECT DISTINCT job_title FROM employees ORDER BY 1")
        self.devices = col("SELECT DISTINCT device_type FROM web_sessions ORDER BY 1")
        self.sources = col("SELECT DISTINCT traffic_source FROM web_sessions ORDER BY 1")
        self.holidays = col("SELECT DISTINCT holiday_name FROM dim_date WHERE holiday_name IS NOT NULL ORDER BY 1")
        self.popular_products = col(
            "SELECT p.product_name FROM sales s JOIN products p ON s.product_id = p.product_id "
            "GROUP BY p.product_name ORDER BY COUNT(*) DESC, p.product_name LIMIT 80")
        self.customer_cities = [tuple(r) for r in con.execute(
            "SELECT DISTINCT city, state FROM customers ORDER BY 1, 2").fetchall()]
        self.customer_states = col("SELECT DISTINCT state FROM customers ORDER BY 1")
        self.fiscal_years = col("SELECT DISTINCT fiscal_year FROM dim_date ORDER BY 1")
        self.calendar_years = col("SELECT DISTINCT calendar_year FROM dim_date ORDER BY 1")
        self.full_calendar_years = col(
            "SELECT calendar_year FROM dim_date GROUP BY 1 HAVING COUNT(DISTINCT calendar_month) = 12 ORDER BY 1")
        self.months = [tuple(r) for r in con.execute(
            "SELECT DISTINCT calendar_year, calendar_month, month_name FROM dim_date ORDER BY 1, 2").fetchall()]
        self.snapshot_dates = col("SELECT DISTINCT d.full_date FROM inventory_snapshots i "
                                  "JOIN dim_date d ON i.snapshot_date_key = d.date_key ORDER BY 1")
        self.days = col("SELECT full_date FROM dim_date ORDER BY 1")
        self.signup_years = col("SELECT DISTINCT YEAR(signup_date) FROM customers ORDER BY 1")

    @staticmethod
    def pick(r: np.random.Generator, pool: list):
        return pool[int(r.integers(len(pool)))]


# ----------------------------------------------------------------------------- generation


def _candidate(t: Template, values, r: np.random.Generator) -> tuple[int, dict, str, bool]:
    """One draw: (question index, slot values, gold SQL, whether the slot combination is held out)."""
    slots = t.draw(values, r)
    sql = canonical_sql(t.sql.format(**{k: _sql_literal(v) for k, v in slots.items()}))
    heldout = combo_is_heldout(t.key, {k: v for k, v in slots.items() if "{" + k + "}" in t.sql})
    return int(r.integers(len(t.questions))), slots, sql, heldout


def _good_gold(con, sql: str, verdict: dict[str, bool]) -> bool:
    """Informative and without a tie at the LIMIT cut; each distinct SQL runs once."""
    if sql not in verdict:
        verdict[sql] = is_informative(con.execute(sql).fetchall()) and not _tie_at_cut(con, sql)
    return verdict[sql]


def _template_pairs(con, t: Template, values, seed: int, db: str, id_prefix: str,
                    seen_questions: set[str]) -> tuple[list[Pair], list[Pair]]:
    """Up to (n_train, n_test) pairs of one template, from its own generator; `seen_questions` grows."""
    r = np.random.default_rng([seed, zlib.crc32(t.key.encode())])
    test_q = set(range(len(t.questions) - t.test_paraphrases, len(t.questions)))
    verdict: dict[str, bool] = {}
    train: list[Pair] = []
    test: list[Pair] = []
    attempts = 0
    while (len(train) < t.n_train or len(test) < t.n_test) and attempts < 40 * (t.n_train + t.n_test):
        attempts += 1
        q_idx, slots, sql, heldout = _candidate(t, values, r)
        to_test = heldout or q_idx in test_q
        if (to_test and len(test) >= t.n_test) or (not to_test and len(train) >= t.n_train):
            continue
        question = t.questions[q_idx].format(**slots)
        key = normal_question(question)
        if key in seen_questions or not _good_gold(con, sql, verdict):
            continue
        seen_questions.add(key)
        if to_test:
            why = "heldout_combo" if heldout else "heldout_paraphrase"
            test.append(Pair(id=f"{id_prefix}{t.key}-test-{len(test) + 1:03d}", question=question, sql=sql,
                             db=db, difficulty=t.difficulty, tags=(*t.tags, why)))
        else:
            train.append(Pair(id=f"{id_prefix}{t.key}-{len(train) + 1:03d}", question=question, sql=sql,
                              db=db, difficulty=t.difficulty, tags=tuple(t.tags)))
    log.info("template %s: %d train, %d test", t.key, len(train), len(test))
    return train, test


def generate_pairs(con, templates: list[Template], seed: int = 0, db: str = "harbor",
                   id_prefix: str = "", values=None) -> tuple[list[Pair], list[Pair]]:
    """(train, test) pairs from `templates`, every gold SQL executed and informative; no question
    text twice (an earlier template's question is skipped by a later one).

    `values` is the pool the templates' `draw` functions read (default: Harbor's `WarehouseValues`).
    """
    values = WarehouseValues(con) if values is None else values
    train: list[Pair] = []
    test: list[Pair] = []
    seen_questions: set[str] = set()
    for t in templates:
        t_train, t_test = _template_pairs(con, t, values, seed, db, id_prefix, seen_questions)
        train += t_train
        test += t_test
    return train, test


def write_jsonl(path: Path, pairs: list[Pair]) -> str:
    """Atomically write `pairs` as JSONL (records from `Pair.to_dict`); returns the file's sha256."""
    text = "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in pairs)
    atomic_write_text(path, text)
    return hashlib.sha256(text.encode()).hexdigest()


def read_jsonl(path: Path) -> list[dict]:
    with Path(path).open() as fh:
        return [json.loads(line) for line in fh if line.strip()]
