"""The settings of one merge: `MergeConfig`, each declared once with its help text; `sqltune merge`
derives one flag per field (`sqltune.core.config.setting`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqltune.core.config import setting

DTYPES = {"bf16": "bfloat16", "fp16": "float16"}  # the saved checkpoint's dtype -> torch's name
BASE_FORMS = ("original", "dequantized")
DEFAULT_N_CHECK = 16


@dataclass
class MergeConfig:
    """One merge: adapter + 16-bit base -> a standard checkpoint, and the equivalence check."""

    adapter: str | None = setting(None, help="The trained adapter folder.")
    out_dir: str | None = setting(None, flag="--out", help="Folder for the merged checkpoint (must not exist unless --force).")
    base: str | None = setting(None, flag="--model", help="Base model (default: the one the adapter records).")
    dtype: str = setting("bf16", choices=tuple(DTYPES), help="Saved weights: bf16 or fp16.")
    base_form: str = setting("auto", choices=("auto", *BASE_FORMS),
                             help="Merge into the original weights, the NF4-dequantized ones a QLoRA adapter trained against, "
                                  "or auto (whichever agrees better with the adapter as trained).")
    check_data: str | None = setting(None, flag="--data", help="Pairs whose questions the check asks (JSONL/CSV); default: the adapter's training file.")
    n_check: int = setting(DEFAULT_N_CHECK, min=0, help="Questions in the equivalence check; 0 skips it.")
    db: str | None = setting(None, help="Warehouse for the check prompts (default: the one trained on).")
    max_new_tokens: int = setting(200, min=1, help="Longest SQL generated in the check.")
    force: bool = setting(False, help="Replace an existing --out folder.")
