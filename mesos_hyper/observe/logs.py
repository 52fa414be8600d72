"""``logs``: a pod's stdout and stderr from its sandbox, or its guest's console, followed.

Both are written by the guest, so both are read as hostile: the files are opened from a
directory fd without following any link (the sandbox is shared into the guest, and the
console log's directory belongs to the QEMU user), only as regular files, and what a
terminal shows is stripped of control sequences that could rewrite the operator's screen.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mesos_hyper.errors import HyperError, UnsafePathError
from mesos_hyper.sandbox.beneath import open_regular, open_root

CHUNK = 64 << 10
TAIL_SCAN_LIMIT = 64 << 20  # --tail reads back at most this much of a file
FOLLOW_INTERVAL_S = 0.25
# C0 controls but tab and newline, DEL, and C1 controls: an escape sequence a guest
# wrote could move the cursor, retitle the window or worse on the operator's terminal
_CONTROLS = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


@dataclass
class Source:
    """One file to show, and where its bytes go."""

    fd: int
    sink: BinaryIO
    clean: bool  # strip control sequences (the sink is a terminal)


def open_guest_file(directory: str | Path, name: str) -> int | None:
    """A read fd of ``directory/name``, never through a link; None when it is not there."""
    try:
        root = open_root(directory)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise HyperError(f"cannot open {directory}: {err.strerror}") from err
    try:
        return open_regular(root, name, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except UnsafePathError as err:
        raise HyperError(f"{directory}/{name} is not a regular file: refused ({err})") from err
    finally:
        os.close(root)


def tail_offset(fd: int, lines: int) -> int:
    """Where the last ``lines`` lines of the file start (a last line without its newline
    counts), looking back no further than TAIL_SCAN_LIMIT."""
    end = os.fstat(fd).st_size
    if lines <= 0:
        return end
    pos, wanted = end, lines
    if end and os.pread(fd, 1, end - 1) == b"\n":
        wanted += 1  # the final newline ends the last line; it starts none
    while pos > 0 and end - pos < TAIL_SCAN_LIMIT:
        size = min(CHUNK, pos)
        block = os.pread(fd, size, pos - size)
        found = block.count(b"\n")
        if found >= wanted:
            cut = len(block)
            for _ in range(wanted):
                cut = block.rindex(b"\n", 0, cut)
            return pos - size + cut + 1
        wanted -= found
        pos -= size
    return pos


def clean(data: bytes) -> bytes:
    return _CONTROLS.sub(b"?", data)


def copy_new(source: Source, offset: int) -> int:
    """Write what the file holds past ``offset``; the new offset."""
    while True:
        data = os.pread(source.fd, CHUNK, offset)
        if not data:
            return offset
        source.sink.write(clean(data) if source.clean else data)
        source.sink.flush()
        offset += len(data)


def show(
    sources: list[Source],
    *,
    tail: int | None,
    follow: bool,
    ended: Callable[[], bool],
    interval: float = FOLLOW_INTERVAL_S,
) -> None:
    """Each source from its last ``tail`` lines (all with None), then, with ``follow``,
    what is appended until ``ended()`` says the pod is over (and that is shown too)."""
    offsets = [0 if tail is None else tail_offset(s.fd, tail) for s in sources]
    while True:
        over = follow and ended()  # asked before the read, so the last words are shown
        offsets = [copy_new(s, o) for s, o in zip(sources, offsets, strict=True)]
        if not follow or over:
            return
        time.sleep(interval)
