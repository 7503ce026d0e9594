"""Question/SQL pairs, the one `Pair` type every stage passes: load (JSONL, JSON array, CSV), validate against a
warehouse, split, augment (value swaps), content hashes, write."""

from sqltune.data.augment import AugmentResult, Augmented, augment_pairs
from sqltune.data.pairs import (
    Pair, content_hash, load_pairs, normalize_question, numbered_pairs, pair_id, pairs_dataset, write_pairs,
)
from sqltune.data.split import Split, split_pairs, write_split
from sqltune.data.validate import Problem, ValidationReport, referenced_tables, validate_pairs

__all__ = [
    "AugmentResult", "Augmented", "Pair", "Problem", "Split", "ValidationReport", "augment_pairs", "content_hash",
    "load_pairs", "normalize_question", "numbered_pairs", "pair_id", "pairs_dataset", "referenced_tables", "split_pairs", "validate_pairs", "write_pairs", "write_split",
]
