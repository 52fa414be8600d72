"""A minimal inotify(7) watch through ctypes, so ``wait`` sleeps instead of polling.

Events are only wake-ups: callers re-read the state they care about after each
one (and after each bounded timeout), so a lost or coalesced event costs latency,
never correctness.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
from pathlib import Path
from types import TracebackType

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_libc = ctypes.CDLL(None, use_errno=True)


class DirectoryWatch:
    """Wake-ups for changes in one directory; ``available`` is False without inotify."""

    MASK = IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF

    def __init__(self, directory: Path) -> None:
        self.fd = -1
        fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return  # ENOSYS, EMFILE...: the caller falls back to bounded sleeps
        wd = _libc.inotify_add_watch(fd, os.fsencode(directory), self.MASK | IN_ONLYDIR)
        if wd < 0:
            err = ctypes.get_errno()
            os.close(fd)
            if err in (errno.ENOENT, errno.ENOTDIR):
                raise FileNotFoundError(err, os.strerror(err), str(directory))
            return
        self.fd = fd

    @property
    def available(self) -> bool:
        return self.fd >= 0

    def wait(self, timeout: float) -> bool:
        """Sleep until an event or ``timeout`` seconds; True if something happened."""
        if not self.available:
            select.select([], [], [], max(timeout, 0.0))
            return False
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0.0))
        if not ready:
            return False
        self._drain()
        return True

    def _drain(self) -> None:
        while True:
            try:
                if not os.read(self.fd, 64 * 1024):
                    return
            except BlockingIOError:
                return

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> DirectoryWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
