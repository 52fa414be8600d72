"""Giving back the guest RAM that a restore filled with zeros.

A QEMU 7.2 that loads a migration stream checks every page the stream marks as zero by
reading it, and a read of guest RAM backed by shared memory (memfd, which virtiofs needs)
allocates the page. A restored pool VM therefore held all of its 512 MiB, where the VM it
was saved from held about 75 MiB (its balloon had taken the rest back). Here the restored,
paused VM's RAM is read through its QEMU's memfd, and every run of zero pages is punched
out of it: reads of a hole give zeros, so the guest sees the same memory, and the host
gets the pages back.

Only a paused VM that ran nothing but our init is trimmed: nothing writes its RAM then.
"""

from __future__ import annotations

import ctypes
import os

from mesos_hyper import log
from mesos_hyper.errors import VMError

LOG = log.get(__name__)
PAGE = 4096
CHUNK = 1 << 20
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2
MEMFD_PREFIX = "/memfd:"
_ZERO_CHUNK = bytes(CHUNK)
_ZERO_PAGE = bytes(PAGE)
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def release(qemu_pid: int) -> int:
    """Punch the zero pages out of every memfd of the QEMU; the bytes of zeros found (some
    may have been holes already)."""
    freed = 0
    try:
        fds = os.listdir(f"/proc/{qemu_pid}/fd")
    except OSError as err:
        raise VMError(f"cannot look at QEMU {qemu_pid}'s memory: {err}") from err
    for name in fds:
        path = f"/proc/{qemu_pid}/fd/{name}"
        try:
            if not os.readlink(path).startswith(MEMFD_PREFIX):
                continue
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue  # closed meanwhile, or not ours to open
        try:
            freed += _punch_zero_runs(fd)
        except OSError as err:
            raise VMError(f"cannot trim QEMU {qemu_pid}'s memory: {err}") from err
        finally:
            os.close(fd)
    return freed


def _punch_zero_runs(fd: int) -> int:
    size = os.fstat(fd).st_size
    freed = 0
    run_start = None  # the start of the zero run being collected
    offset = 0
    while offset < size:
        data = os.pread(fd, min(CHUNK, size - offset), offset)
        if not data:
            break
        if data == _ZERO_CHUNK[: len(data)]:
            run_start = offset if run_start is None else run_start
        else:
            view = memoryview(data)
            for at in range(0, len(data), PAGE):
                if view[at : at + PAGE] == _ZERO_PAGE[: len(view[at : at + PAGE])]:
                    run_start = offset + at if run_start is None else run_start
                elif run_start is not None:
                    freed += _punch(fd, run_start, offset + at)
                    run_start = None
        offset += len(data)
    if run_start is not None:
        freed += _punch(fd, run_start, offset)
    return freed


def _punch(fd: int, start: int, end: int) -> int:
    mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
    if _libc.fallocate(fd, mode, start, end - start) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return end - start
