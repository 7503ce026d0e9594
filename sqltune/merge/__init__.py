"""Merging an adapter into a 16-bit base (weights), the check that the merged model answers like the
adapter (check), and the stage that saves and records it (merge)."""

from sqltune.merge.check import DEFAULT_TOLERANCE, FormAgreement, LogitsDiff, Tolerance, choose_form, judge, spread
from sqltune.merge.config import MergeConfig
from sqltune.merge.merge import MERGE_JSON, MergeResult, merge_adapter, run_merge
from sqltune.merge.weights import AdapterInfo, merge_into, nf4_weights, read_adapter, unmerged

__all__ = [
    "DEFAULT_TOLERANCE", "MERGE_JSON", "AdapterInfo", "FormAgreement", "LogitsDiff", "MergeConfig", "MergeResult", "Tolerance",
    "choose_form", "judge", "merge_adapter", "merge_into", "nf4_weights", "read_adapter", "run_merge", "spread", "unmerged",
]
