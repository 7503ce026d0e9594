"""Fixture warehouses built by code and their question corpora. Apart from the runtime: only the
CLI and the main job import this package.

Warehouses: `build` (public API) runs `harbor` (sections in `harbor_dims`, `harbor_facts`), for the
large kind also `large`, and `ports` (sections in `ports_dims`, `ports_facts`). Corpus: `corpus`
(generic machinery), `harbor_templates` and `ports_templates` (the question templates),
`large_corpus` (the pruning question set), `corpus_files` (writes eval/, caches a kind's pairs:
`ensure_corpus`, imported on first use so that building a warehouse loads no corpus code).
"""

from warehouse_fixtures.build import (KINDS, FixtureInfo, build_fixture, cache_dir, default_fixture_path, ensure_fixture,
                                    spec_fingerprint, table_checksums, table_row_counts)
from warehouse_fixtures.fiscal_calendar import fiscal_period
from warehouse_fixtures.large import DomainTable, large_domain_tables

__all__ = ["KINDS", "DomainTable", "FixtureInfo", "build_fixture", "cache_dir", "default_fixture_path", "ensure_corpus",
           "ensure_fixture", "fiscal_period", "large_domain_tables", "spec_fingerprint", "table_checksums",
           "table_row_counts"]


def __getattr__(name: str):
    if name == "ensure_corpus":
        from warehouse_fixtures.corpus_files import ensure_corpus

        return ensure_corpus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
