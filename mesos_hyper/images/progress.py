"""Pull progress: a line per layer, redrawn in place on a terminal, as ``docker pull`` has;
a log line per blob otherwise. The ECP's pulls pass no Progress and stay quiet."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from mesos_hyper import log

LOG = log.get(__name__)
BAR = 24


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f}MiB"


@dataclass
class _Blob:
    """The download progress of one blob."""

    done: int = 0
    total: int = 0
    state: str = "Downloading"


class Progress:
    def __init__(self, stream: TextIO | None = None, *, min_interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._lock = threading.Lock()
        self._blobs: dict[str, _Blob] = {}  # in the order they started
        self._drawn = 0  # lines of the last drawing, to go back over
        self._last = 0.0
        self._interval = min_interval

    def start(self, digest: str, total: int) -> None:
        with self._lock:
            self._blobs[digest] = _Blob(0, total)
        self._draw(force=True)

    def advance(self, digest: str, n: int) -> None:
        with self._lock:
            blob = self._blobs.setdefault(digest, _Blob())
            blob.done += n
        self._draw()

    def done(self, digest: str, *, cached: bool = False) -> None:
        with self._lock:
            blob = self._blobs.setdefault(digest, _Blob())
            blob.done = blob.total = max(blob.total, blob.done)
            blob.state = "Already exists" if cached else "Pull complete"
        if not self.tty:
            log.event(LOG, "blob ready", digest=digest[:19], cached=cached)
        self._draw(force=True)

    def finish(self) -> None:
        if self.tty:
            self._draw(force=True)

    @staticmethod
    def _line(digest: str, blob: _Blob) -> str:
        name = digest.split(":", 1)[-1][:12]
        if blob.state != "Downloading":
            return f"{name}: {blob.state}"
        if not blob.total:
            return f"{name}: Downloading {_mib(blob.done)}"
        filled = min(BAR, BAR * blob.done // blob.total)
        bar = "=" * filled + (">" if filled < BAR else "") + " " * (BAR - filled - 1)
        return f"{name}: Downloading [{bar[:BAR]}] {_mib(blob.done)}/{_mib(blob.total)}"

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < self._interval:
                return
            self._last = now
            lines = [self._line(d, b) for d, b in self._blobs.items()]
            up = f"\033[{self._drawn}F" if self._drawn else ""
            self._drawn = len(lines)
            self.stream.write(up + "".join(f"\033[K{line}\n" for line in lines))
            self.stream.flush()
