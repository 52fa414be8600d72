"""Pull progress: one redrawn line on a terminal, a log line per blob otherwise."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

from mesos_hyper import log

LOG = logging.getLogger(__name__)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f}MiB"


class Progress:
    def __init__(self, stream: TextIO | None = None, *, min_interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._lock = threading.Lock()
        self._blobs: dict[str, tuple[int, int]] = {}
        self._last = 0.0
        self._interval = min_interval

    def start(self, digest: str, total: int) -> None:
        with self._lock:
            self._blobs[digest] = (0, total)
        self._draw(force=True)

    def advance(self, digest: str, n: int) -> None:
        with self._lock:
            done, total = self._blobs.get(digest, (0, 0))
            self._blobs[digest] = (done + n, total)
        self._draw()

    def done(self, digest: str, *, cached: bool = False) -> None:
        with self._lock:
            _, total = self._blobs.get(digest, (0, 0))
            self._blobs[digest] = (total, total)
        if not self.tty:
            log.event(LOG, "blob ready", digest=digest[:19], cached=cached)
        self._draw(force=True)

    def finish(self) -> None:
        if self.tty:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < self._interval:
                return
            self._last = now
            done = sum(d for d, _ in self._blobs.values())
            total = sum(t for _, t in self._blobs.values())
            complete = sum(1 for d, t in self._blobs.values() if d >= t)
            line = f"\rpulling: {complete}/{len(self._blobs)} blobs, {_mib(done)} of {_mib(total)}"
            self.stream.write(line.ljust(60))
            self.stream.flush()
