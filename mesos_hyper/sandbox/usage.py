"""``du`` of a guest-writable tree, safe against links, races and hostile shapes.

The walk holds directory fds only: entries are listed with scandir on an fd, stat'ed with
fstatat(AT_SYMLINK_NOFOLLOW) and a subdirectory is entered with ``openat(O_DIRECTORY |
O_NOFOLLOW)`` and checked to be the inode just stat'ed, so a directory the guest swaps for
a link (or another directory) mid-walk is skipped, never followed. Nothing on another
device or mount (a bind mount keeps the device number: mount ids are compared) is counted
or entered. Allocated blocks are counted (a sparse file counts what it holds), an inode
with several links once. The walk is iterative on an explicit stack: memory and open fds
grow with the depth only (two fds a level: ours and scandir's own duplicate, so at most
``2 * max_depth``), plus one set entry per multiply linked file. A walk over
``max_entries`` entries or ``max_depth`` levels, or out of fds, stops and reports a lower
bound rather than an error.

Cost, measured on the development host (2 vCPUs, ext4, warm cache): 200,000 empty files
(200 directories of 1,000, or one flat directory) take 0.7-1.0 s, about 4-5 us an entry;
1,000,000 files in one directory take 5.4 s and leave the process's peak RSS unchanged.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mesos_hyper.sandbox.beneath import mount_id

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class TreeUsage:
    """What a walk found; when ``complete`` is False ``bytes`` is a lower bound (``why``)."""

    bytes: int
    entries: int
    complete: bool
    why: str | None = None


def _enter(parent: int, name: str, seen: os.stat_result, mount: int) -> int | None:
    """An fd of the subdirectory ``name`` if it is still the directory stat'ed and on the
    root's mount (a bind mount keeps the device number), else None."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None  # gone, or swapped for a link or a file
        raise
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) == (seen.st_dev, seen.st_ino) and mount_id(fd) == mount:
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def tree_usage(
    root: Path | str, *, max_entries: int = 2_000_000, max_depth: int = 256
) -> TreeUsage:
    """Allocated bytes and entries under ``root``, not following links or crossing mounts.

    A missing ``root`` holds nothing. Entries that vanish mid-walk are skipped.
    """
    try:
        rootfd = os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        return TreeUsage(0, 0, True)
    except OSError as err:
        return TreeUsage(0, 0, False, f"cannot open {root}: {err.strerror}")
    try:
        top = os.fstat(rootfd)
        stack = [(rootfd, os.scandir(rootfd))]
    except OSError as err:
        os.close(rootfd)
        return TreeUsage(0, 0, False, f"cannot list {root}: {err.strerror}")
    dev, mount, total, entries = top.st_dev, mount_id(rootfd), top.st_blocks * 512, 0
    linked: set[tuple[int, int]] = set()
    why: str | None = None
    try:
        while stack:
            fd, listing = stack[-1]
            entry = next(listing, None)
            if entry is None:
                stack.pop()
                listing.close()
                os.close(fd)
                continue
            entries += 1
            if entries > max_entries:
                why = f"more than {max_entries} entries"
                break
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if st.st_dev != dev:
                continue  # a mount point: neither counted nor entered
            if not stat.S_ISDIR(st.st_mode):
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in linked:
                        continue
                    linked.add(key)
                total += st.st_blocks * 512
                continue
            if len(stack) >= max_depth:
                why = f"deeper than {max_depth} levels"
                break
            child = _enter(fd, entry.name, st, mount)
            if child is None:
                continue  # gone, swapped or a bind mount: neither counted nor entered
            total += st.st_blocks * 512
            try:
                stack.append((child, os.scandir(child)))
            except BaseException:
                os.close(child)
                raise
    except OSError as err:
        why = f"{err.strerror} while walking {root}"
    finally:
        for fd, listing in reversed(stack):
            listing.close()
            os.close(fd)
    return TreeUsage(total, min(entries, max_entries), why is None, why)
