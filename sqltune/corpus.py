"""The question/SQL corpus for the Harbor fixture (eval/train.jsonl, eval/test.jsonl, eval/hard.jsonl)
and the pruning question set for the large fixture (eval/large_schema_questions.jsonl).

Generated pairs come from templates (`sqltune.corpus_templates`): each has many question
paraphrases and one gold SQL in the canonical style, with value slots filled from the warehouse's
real values. Every candidate is executed; empty (or all-zero / all-NULL single-row) results are
dropped, as are ORDER BY ... LIMIT answers whose cut falls on a tie.

Split policy (no memorising): a template's last `test_paraphrases` paraphrases are used only in the
test split ("heldout_paraphrase"), and about 15% of slot-value combinations (by a hash of the values)
are used only in the test split ("heldout_combo"). No question text appears in both splits. The
hand-written hard slice (warehouse_fixtures/harbor_hard.yaml) is copied to eval/hard.jsonl and is
also part of test.jsonl (tag "handwritten").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sqltune.errors import InputError
from sqltune.paths import atomic_write_text

log = logging.getLogger(__name__)

EVAL_DIR = Path(__file__).resolve().parents[1] / "eval"
HELDOUT_COMBO_PERCENT = 15


@dataclass(frozen=True)
class CorpusPair:
    """One question with its gold SQL, as written to the JSONL files."""

    id: str
    question: str
    sql: str
    difficulty: str
    tags: list[str]
    db: str = "harbor"
    allow_empty: bool = False

    def to_json(self) -> str:
        data = asdict(self)
        if not self.allow_empty:
            del data["allow_empty"]
        return json.dumps(data, ensure_ascii=False)


@dataclass
class Template:
    """Paraphrased questions over one gold SQL shape; `draw` fills the slots from warehouse values."""

    key: str
    difficulty: str
    tags: tuple[str, ...]
    questions: list[str]
    sql: str
    draw: Callable[["WarehouseValues", np.random.Generator], dict]
    test_paraphrases: int = 2
    n_train: int = 70
    n_test: int = 9


@dataclass
class CorpusCounts:
    """What `generate_corpus` wrote."""

    train: int
    test: int
    hard: int
    large: int
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256


def canonical_sql(sql: str) -> str:
    """Gold SQL on one line with single spaces (templates are written over several lines)."""
    return re.sub(r"\s+", " ", sql).strip()


def _normal_question(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _is_informative(rows: list[tuple]) -> bool:
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


def _db_connect(path):
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET threads = 1")
    return con


def generate_pairs(con, templates: list[Template], seed: int = 0, db: str = "harbor",
                   id_prefix: str = "") -> tuple[list[CorpusPair], list[CorpusPair]]:
    """(train, test) pairs from `templates`, every gold SQL executed and informative."""
    values = WarehouseValues(con)
    train: list[CorpusPair] = []
    test: list[CorpusPair] = []
    seen_questions: set[str] = set()
    for t in templates:
        r = np.random.default_rng([seed, zlib.crc32(t.key.encode())])
        n_q = len(t.questions)
        test_q = set(range(n_q - t.test_paraphrases, n_q))
        verdict: dict[str, bool] = {}
        got_train = got_test = 0
        attempts = 0
        while (got_train < t.n_train or got_test < t.n_test) and attempts < 40 * (t.n_train + t.n_test):
            attempts += 1
            slots = t.draw(values, r)
            sql = canonical_sql(t.sql.format(**{k: _sql_literal(v) for k, v in slots.items()}))
            heldout = combo_is_heldout(t.key, {k: v for k, v in slots.items() if "{" + k + "}" in t.sql})
            q_idx = int(r.integers(n_q))
            to_test = heldout or q_idx in test_q
            if (to_test and got_test >= t.n_test) or (not to_test and got_train >= t.n_train):
                continue
            question = t.questions[q_idx].format(**slots)
            key = _normal_question(question)
            if key in seen_questions:
                continue
            if sql not in verdict:
                rows = con.execute(sql).fetchall()
                verdict[sql] = _is_informative(rows) and not _tie_at_cut(con, sql)
            if not verdict[sql]:
                continue
            seen_questions.add(key)
            if to_test:
                got_test += 1
                why = "heldout_combo" if heldout else "heldout_paraphrase"
                test.append(CorpusPair(f"{id_prefix}{t.key}-test-{got_test:03d}", question, sql, t.difficulty,
                                       [*t.tags, why], db))
            else:
                got_train += 1
                train.append(CorpusPair(f"{id_prefix}{t.key}-{got_train:03d}", question, sql, t.difficulty,
                                        list(t.tags), db))
        log.info("template %s: %d train, %d test", t.key, got_train, got_test)
    return train, test


def load_hard_pairs(path: Path | None = None) -> list[CorpusPair]:
    """The hand-written hard questions (YAML source) as pairs."""
    import yaml

    path = path or Path(__file__).resolve().parents[1] / "warehouse_fixtures" / "harbor_hard.yaml"
    with path.open() as fh:
        items = yaml.safe_load(fh)
    pairs = []
    for i, item in enumerate(items, 1):
        missing = {"question", "sql", "tags"} - set(item)
        if missing:
            raise InputError(f"hard question {i} lacks {', '.join(sorted(missing))}", source=str(path))
        pairs.append(CorpusPair(f"hard-{i:03d}", item["question"].strip(), canonical_sql(item["sql"]), "hard",
                                [*item["tags"], "handwritten"], "harbor", bool(item.get("allow_empty", False))))
    return pairs


def write_jsonl(path: Path, pairs: list[CorpusPair]) -> str:
    """Atomically write `pairs` as JSONL; returns the file's sha256."""
    text = "".join(p.to_json() + "\n" for p in pairs)
    atomic_write_text(path, text)
    return hashlib.sha256(text.encode()).hexdigest()


def read_jsonl(path: Path) -> list[dict]:
    with Path(path).open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def generate_corpus(out_dir: str | os.PathLike | None = None, seed: int = 0,
                    progress: Callable[[str], None] | None = None) -> CorpusCounts:
    """Regenerate every corpus file in `out_dir` (default: the repository's eval/)."""
    from sqltune import corpus_templates, fixtures

    report = progress or (lambda m: log.info(m))
    out = Path(out_dir) if out_dir else EVAL_DIR
    out.mkdir(parents=True, exist_ok=True)
    con = _db_connect(fixtures.ensure_fixture("harbor", 0))
    try:
        train, test = generate_pairs(con, corpus_templates.harbor_templates(), seed)
        hard = load_hard_pairs()
        for p in hard:
            if not p.allow_empty and not _is_informative(con.execute(p.sql).fetchall()):
                raise InputError(f"{p.id}: gold SQL gives an empty or all-zero result", source="harbor_hard.yaml")
        questions = {_normal_question(p.question) for p in train}
        leaked = [p.id for p in hard if _normal_question(p.question) in questions]
        if leaked:
            raise InputError(f"hard questions repeat train questions: {leaked}", source="harbor_hard.yaml")
    finally:
        con.close()
    large_con = _db_connect(fixtures.ensure_fixture("large", 0))
    try:
        large = corpus_templates.large_schema_pairs(large_con, seed)
    finally:
        large_con.close()
    files = {
        "train.jsonl": write_jsonl(out / "train.jsonl", train),
        "test.jsonl": write_jsonl(out / "test.jsonl", test + hard),
        "hard.jsonl": write_jsonl(out / "hard.jsonl", hard),
        "large_schema_questions.jsonl": write_jsonl(out / "large_schema_questions.jsonl", large),
    }
    report(f"wrote {len(train)} train, {len(test)} + {len(hard)} hard test, {len(large)} large-schema pairs to {out}")
    return CorpusCounts(train=len(train), test=len(test) + len(hard), hard=len(hard), large=len(large), files=files)
