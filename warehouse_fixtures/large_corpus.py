"""The large fixture's question set (eval/large_schema_questions.jsonl): questions whose gold SQL
reads a few of its ~430 tables, to measure schema-pruning recall.

Most ask about the generated business domains (`large.large_domain_tables`); about `harbor_count`
come from the Harbor templates, whose SQL runs unchanged on the large file.
"""

from __future__ import annotations

import numpy as np

from sqltune.data.pairs import Pair
from warehouse_fixtures.corpus import canonical_sql, generate_pairs, is_informative
from warehouse_fixtures.harbor_templates import harbor_templates
from warehouse_fixtures.large import DomainTable, large_domain_tables

DOMAIN_QUESTIONS = 80  # at most this many domain questions before the Harbor ones


class _Collector:
    """Numbered pairs with distinct questions, kept only when the gold result is informative."""

    def __init__(self, con):
        self.con = con
        self.pairs: list[Pair] = []
        self.seen: set[str] = set()

    def add(self, question: str, sql: str, difficulty: str, tags: tuple[str, ...], *, check: bool = True) -> None:
        if question.lower() in self.seen or (check and not is_informative(self.con.execute(sql).fetchall())):
            return
        self.seen.add(question.lower())
        self.pairs.append(Pair(id=f"large-{len(self.pairs) + 1:03d}", question=question, sql=sql, db="large",
                               difficulty=difficulty, tags=tuple(tags)))


def _domain_question(con, t: DomainTable, kind: int, by_name: dict[str, DomainTable]):
    """(question, sql, difficulty, tags) of question `kind` (0-4) about table `t`; None when the
    parent of a kind-2 question is not a domain table."""
    label = t.domain_label
    if kind == 0:
        return f"How many {t.plural} are recorded in {label}?", f"SELECT COUNT(*) FROM {t.name}", "easy", ("aggregation",)
    if kind == 1:
        status = con.execute(f"SELECT status FROM {t.name} ORDER BY {t.pk} LIMIT 1").fetchone()[0]
        return (f"List the names of {label} {t.plural} with status '{status}'.",
                f"SELECT {t.name_column} FROM {t.name} WHERE status = '{status}'", "easy", ("filter",))
    if kind == 2 and t.parents:  # a table without parents gets the kind-4 question instead
        fk, ref, ref_pk = t.parents[0]
        parent = by_name.get(ref)
        if parent is None:
            return None
        return (f"For each {parent.singular}, how many {t.plural} are there?",
                f"""SELECT pt.{parent.name_column}, COUNT(*) AS {t.pk.removesuffix('_id')}_count FROM {t.name} t
JOIN {ref} pt ON t.{fk} = pt.{ref_pk} GROUP BY pt.{parent.name_column}""", "medium", ("join", "group_by", "aggregation"))
    if kind == 3:
        hist = by_name[f"{t.name}_history"]
        return f"How many changes were logged for {label} {t.plural}?", f"SELECT COUNT(*) FROM {hist.name}", "easy", ("aggregation",)
    money = [c for c, kind_, _ in t.extra if kind_ == "money"]
    if money:
        words = money[0].replace("_usd", "").replace("_", " ")
        return (f"What is the total {words} in US dollars across all {label} {t.plural}?",
                f"SELECT SUM({money[0]}) FROM {t.name}", "easy", ("aggregation",))
    return (f"When was the most recent {t.singular} in {label} created?",
            f"SELECT MAX(created_at) FROM {t.name}", "easy", ("aggregation",))


def _add_domain_questions(out: _Collector, r: np.random.Generator) -> None:
    """Tables in a random order, cycling through five question kinds (kind 2 needs a parent)."""
    tables = large_domain_tables()
    by_name = {t.name: t for t in tables}
    base = [t for t in tables if not t.history_of]
    for k, i in enumerate(r.permutation(len(base))):
        q = _domain_question(out.con, base[int(i)], k % 5, by_name)
        if q is not None:
            question, sql, difficulty, tags = q
            out.add(question, canonical_sql(sql), difficulty, tags)
        if len(out.pairs) >= DOMAIN_QUESTIONS:
            break


def _add_harbor_core_questions(out: _Collector, r: np.random.Generator, seed: int, harbor_count: int) -> None:
    """Harbor's medium and hard templates, one pair each, posed against the whole large schema."""
    picked = [t for t in harbor_templates() if t.difficulty != "easy"]
    for t in picked:
        t.n_train, t.n_test = 1, 0
    core, _ = generate_pairs(out.con, picked, seed + 1, db="large", id_prefix="large-core-")
    keep = sorted(r.choice(len(core), min(harbor_count, len(core)), replace=False))
    for p in (core[int(i)] for i in keep):  # already executed and informative in generate_pairs
        out.add(p.question, p.sql, p.difficulty, (*p.tags, "harbor_core"), check=False)


def large_schema_pairs(con, seed: int = 0, harbor_count: int = 40) -> list[Pair]:
    """Questions for the large fixture whose gold tables are a few of its ~430 (pruning recall)."""
    r = np.random.default_rng([seed, 7])
    out = _Collector(con)
    _add_domain_questions(out, r)
    _add_harbor_core_questions(out, r, seed, harbor_count)
    return out.pairs
