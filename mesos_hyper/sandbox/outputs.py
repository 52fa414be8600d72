"""The executor's ``stdout`` and ``stderr`` in the sandbox: opened once, and pinned.

Opening them once with O_NOFOLLOW keeps our own writes off any link a guest plants later.
The agent is another matter: it appends every ECP call's stderr to ``<sandbox>/stderr`` by
name, and a 1.0.x agent follows links, so a guest that swapped the file for a link to a
host file would have the agent (root) append to that host file. While the pod runs we
therefore set the append-only attribute (``chattr +a``) on both files: nobody can then
unlink, rename or truncate them, the guest included (virtiofsd passes no flags ioctl: the
guest's FS_IOC_SETFLAGS gets ENOTTY), while appends, which is all the
agent and we do, still work. The attribute is cleared when the container ends, so that the
agent's garbage collection can remove the sandbox. An agent with --switch_user chowns the
sandbox before every call, which an append-only file refuses; the ECP refuses such agents
unless the operator allows them, and then nothing is pinned.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from pathlib import Path
from typing import BinaryIO

from mesos_hyper import log
from mesos_hyper.errors import UnsafePathError
from mesos_hyper.sandbox.beneath import open_append, open_regular, open_root

LOG = log.get(__name__)
NAMES = ("stdout", "stderr")
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_APPEND_FL = 0x00000020


def _set_append_only(fd: int, on: bool) -> None:
    flags = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
    wanted = flags | FS_APPEND_FL if on else flags & ~FS_APPEND_FL
    if wanted != flags:
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", wanted))


def open_outputs(sandbox: Path, pin: bool = True) -> tuple[BinaryIO, BinaryIO]:
    """Both files for appending, pinned append-only where the filesystem allows it.

    ``pin`` is False under an agent with --switch_user (allowed by the operator): such an
    agent chowns the sandbox before every call, and an append-only file cannot be chowned.
    """
    files = (open_append(sandbox, NAMES[0]), open_append(sandbox, NAMES[1]))
    if not pin:
        log.event(
            LOG,
            "the agent has --switch_user: stdout and stderr are not pinned, and the agent "
            "follows a guest's links there (docs/security.md)",
            log.WARNING,
        )
        return files
    for name, stream in zip(NAMES, files, strict=True):
        try:
            _set_append_only(stream.fileno(), True)
        except OSError as err:  # tmpfs before 6.0, NFS: we still never reopen them by name
            log.event(
                LOG,
                "cannot pin the sandbox's output file append-only; a guest may replace it",
                log.WARNING,
                file=name,
                error=err.strerror,
            )
    return files


def release_outputs(sandbox: Path | str) -> None:
    """Clear the pin (idempotent): the executor on its way out, the ECP after a crash."""
    try:
        root = open_root(sandbox)
    except OSError:
        return  # the agent has removed the sandbox already
    try:
        for name in NAMES:
            try:
                fd = open_regular(root, name, os.O_RDONLY)
            except (OSError, UnsafePathError):
                continue  # not there, or not ours: a pinned file cannot have been replaced
            try:
                with contextlib.suppress(OSError):
                    _set_append_only(fd, False)
            finally:
                os.close(fd)
    finally:
        os.close(root)
