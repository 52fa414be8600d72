"""What a long step is doing, for a person at a terminal: ``gc`` and ``doctor`` use it."""

from __future__ import annotations

import sys
from typing import TextIO


class StatusLine:
    """What a long step is doing, on one stderr line rewritten in place; only on a
    terminal (logs and pipes get nothing of it)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.on = self.stream.isatty()

    def __call__(self, what: str) -> None:
        if self.on:
            print(f"\r\033[K{what}...", end="", file=self.stream, flush=True)

    def clear(self) -> None:
        if self.on:
            print("\r\033[K", end="", file=self.stream, flush=True)
