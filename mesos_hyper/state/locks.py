"""flock(2)-based locks on files that may be unlinked by whoever holds them.

A lock file can be removed (with its container) while another process waits on
it; that waiter then holds a lock on a dead inode. So after locking we check the
path still names the inode we locked, and retry if it does not.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def flocked(path: Path, *, shared: bool = False, create: bool = True) -> Iterator[None]:
    """Hold an exclusive (or shared) flock on ``path`` for the ``with`` body.

    With ``create=False`` a missing file raises FileNotFoundError instead of
    being created: used for locks that must not resurrect a removed container.
    """
    flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    while True:
        fd = os.open(path, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
                if not create:
                    raise
            if same:
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


@contextmanager
def flocked_if_free(path: Path) -> Iterator[bool]:
    """Try once for an exclusive flock on ``path``: yields True holding it (or when there
    is no such file: nobody can hold it), False when another process holds it. For
    cleaners that must never wait on, nor break into, work in progress (``gc``)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
