"""Question/SQL pairs: the one `Pair` type; load, validate, split, hash, write."""

from sqltune.data.pairs import *  # noqa: F401,F403
from sqltune.data.pairs import Pair, content_hash, load_pairs, pairs_dataset, referenced_tables, split_pairs, validate_pairs, write_pairs, write_split  # noqa: F401
