"""A ``run`` pod's output, kept while it runs, so that ``mesos-hyper logs NAME`` shows it.

``run`` streams the output to its terminal; a copy goes to ``<root>/run-logs/<name>/``
(root-only, never shared with a guest), which goes when the run ends, as the pod does
(``docker run --rm``). Keeping the copy never stops the run: a write that fails (a full
disk) is logged once and the copy stops there.

The run holds a flock on the directory's ``lock`` file for as long as it runs: a second
run of the same name is refused, and a directory whose lock is free is what a killed run
left (the next run of that name, or ``gc``, removes it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from mesos_hyper import log
from mesos_hyper.errors import UsageError

LOG = log.get(__name__)
STREAMS = ("stdout", "stderr")
LOCK = "lock"


def held(directory: Path) -> bool:
    """Whether a running ``run`` holds ``directory`` (False for a dead run's leftover)."""
    try:
        fd = os.open(directory / LOCK, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class OutputLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if held(directory):
            raise UsageError(f"a pod named {directory.name} runs already")
        shutil.rmtree(directory, ignore_errors=True)  # a killed run's, under the same name
        directory.mkdir(mode=0o700)
        self._lock = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._fds = {
            name: os.open(
                directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600
            )
            for name in STREAMS
        }
        self._broken = False

    def tee(self, name: str, write: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """``write``, which also appends to the copy of stream ``name``."""
        fd = self._fds[name]

        def both(data: bytes) -> None:
            write(data)
            if self._broken:
                return
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError as err:
                self._broken = True
                log.event(
                    LOG, "the output's copy for `logs` stopped", log.WARNING, error=err.strerror
                )

        return both

    def close(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.directory, ignore_errors=True)
        os.close(self._lock)  # last: until the directory is gone, it is ours
