"""The CLI's console: Rich's, but a log file keeps its lines whole.

Where the output is no terminal (a log file, a pipe, CI), Rich takes 80 columns: plan lines and
stage notes were wrapped mid-sentence and tables squeezed. There the width is `LOG_WIDTH` instead,
unless `COLUMNS` says otherwise or the console was given a width; a terminal keeps its own.
"""

from __future__ import annotations

from rich.console import Console, ConsoleDimensions

LOG_WIDTH = 200


class CliConsole(Console):
    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        if self._width is None and "COLUMNS" not in self._environ and not self.is_terminal:
            return ConsoleDimensions(LOG_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)
