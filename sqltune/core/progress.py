"""No carriage-return progress bars where the output is not a terminal (a log file, a pipe).

The ML libraries draw tqdm bars that redraw themselves with carriage returns: transformers'
"Loading weights", datasets' `.map` ("Building labels", trl's "Truncating eval dataset"), the
GGUF conversion (plain `tqdm.auto`), hub downloads. In a log file each redraw is kept, and a
one-minute stage becomes one very long line. sqltune's own stages print one plain line each
(`sqltune.cli.stages`), so where the output is not a terminal these bars are switched off with
the libraries' own switches:

- `HF_HUB_DISABLE_PROGRESS_BARS` (huggingface_hub, and transformers, which follows it),
  `HF_DATASETS_DISABLE_PROGRESS_BARS` (datasets), `TQDM_DISABLE` (tqdm itself, read when tqdm is
  first imported: every bar of any library). Set only when the user has not set them.
- For a library already imported (a library caller, a test), its switch is called:
  `huggingface_hub.utils.disable_progress_bars`, `transformers.utils.logging.disable_progress_bar`,
  `datasets.disable_progress_bars`. Nothing is imported here: the CLI calls this on every start.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

_ENVIRONMENT = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS", "TQDM_DISABLE")


def is_terminal(*streams: TextIO | None) -> bool:
    """Whether every stream (default: stdout and stderr) is a terminal."""
    for stream in streams or (sys.stdout, sys.stderr):
        try:
            if stream is None or not stream.isatty():
                return False
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            return False
    return True


def plain_progress_unless_terminal(*streams: TextIO | None) -> bool:
    """Switch the libraries' progress bars off when the output (stdout and stderr unless given)
    is not a terminal; returns whether they were switched off."""
    if is_terminal(*streams):
        return False
    disable_library_progress_bars()
    return True


def disable_library_progress_bars() -> None:
    """The libraries' own switches, for libraries imported later (environment) and already (calls).
    A variable the user set to a false value ("0") keeps that library's bars."""
    for name in _ENVIRONMENT:
        os.environ.setdefault(name, "1")
    hub = _switched_off("HF_HUB_DISABLE_PROGRESS_BARS")
    if hub and "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if hub and "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    if _switched_off("HF_DATASETS_DISABLE_PROGRESS_BARS") and "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()


def _switched_off(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
