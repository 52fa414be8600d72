"""Opening, creating and replacing files beneath a directory fd without following a link.

Every path is resolved relative to a directory fd with ``openat2(RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)``, so the kernel refuses a
symlink anywhere on the way, a ``..`` out and a mount crossing in one atomic lookup. On a
kernel without openat2 (before 5.6) the same guarantee comes from a walk one component at
a time with ``O_NOFOLLOW``, checking the mount of each step. Absolute paths and ``..``
are refused before any syscall. Files are only ever opened for I/O once an ``O_PATH`` fd
has shown them to be regular: opening a fifo blocks, opening a device node the guest made
with mknod could reach host hardware.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from mesos_hyper.errors import UnsafePathError

__all__ = [
    "UnsafePathError",
    "chmod_beneath",
    "makedirs",
    "mount_id",
    "open_append",
    "open_regular",
    "open_root",
    "resolve",
    "write_atomically",
]

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV
_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437}.get(platform.machine())
_TMP_PREFIX = ".fetch-"
# What a file we create or chmod may carry: never setuid, setgid or sticky on the host.
_MODE_MASK = 0o777
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
# Set once openat2 answered ENOSYS: every later call takes the walk directly.
_openat2_missing = _SYS_OPENAT2 is None


def _openat2(dirfd: int, path: str, flags: int, mode: int) -> int:
    """The raw syscall; raises OSError with the kernel's errno."""
    if _SYS_OPENAT2 is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), path)
    how = _OpenHow(flags, mode, _RESOLVE)
    for _ in range(8):  # EAGAIN: a concurrent rename or mount upset a RESOLVE_BENEATH walk
        fd = _syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dirfd),
            ctypes.c_char_p(os.fsencode(path)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err not in (errno.EAGAIN, errno.EINTR):
            break
    raise OSError(err, os.strerror(err), path)


def _parts(relpath: str) -> list[str]:
    """The components of a relative path; absolute paths and ``..`` are refused."""
    if relpath.startswith("/"):
        raise UnsafePathError(f"{relpath!r} is absolute, not beneath the directory")
    if "\0" in relpath:
        raise UnsafePathError(f"{relpath!r} holds a NUL byte")
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(f"{relpath!r} climbs out with '..'")
    return parts


def _unsafe(relpath: str, err: OSError) -> UnsafePathError:
    return UnsafePathError(f"{relpath!r}: {err.strerror} (a link, or leaves the directory)")


def _is_link(dirfd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def mount_id(fd: int) -> int:
    """The mount an fd is on, -1 without /proc: a bind mount shares the device number with
    its source, never the mount id. Other errors (EMFILE) raise: a guess would be wrong."""
    try:
        info = open(f"/proc/self/fdinfo/{fd}", "rb")  # noqa: SIM115
    except FileNotFoundError:
        return -1
    with info:
        for line in info:
            if line.startswith(b"mnt_id:"):
                return int(line.split()[1])
    return -1


def _mount(fd: int) -> tuple[int, int]:
    return os.fstat(fd).st_dev, mount_id(fd)


def _walk(dirfd: int, parts: list[str], flags: int, mode: int, relpath: str) -> int:
    """openat2's guarantees by hand: one component at a time, never following a link."""
    where = _mount(dirfd)
    cur, owned = dirfd, False
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=cur)
            except OSError as err:
                if err.errno == errno.ELOOP or (err.errno == errno.ENOTDIR and _is_link(cur, part)):
                    raise _unsafe(relpath, err) from err
                raise
            if owned:
                os.close(cur)
            cur, owned = nxt, True
            if _mount(cur) != where:
                raise UnsafePathError(f"{relpath!r} crosses a mount point")
        last = parts[-1]
        try:
            fd = os.open(last, flags, mode, dir_fd=cur)
        except OSError as err:
            if err.errno == errno.ELOOP or (err.errno == errno.ENOTDIR and _is_link(cur, last)):
                raise _unsafe(relpath, err) from err
            raise
        try:
            if _mount(fd) != where:
                raise UnsafePathError(f"{relpath!r} crosses a mount point")
        except BaseException:
            os.close(fd)
            raise
        return fd
    finally:
        if owned:
            os.close(cur)


def _names_link(dirfd: int, parts: list[str]) -> bool:
    """Whether the path itself is a link (``O_DIRECTORY`` on one says only ENOTDIR)."""
    try:
        fd = _openat2(dirfd, "/".join(parts), os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, 0)
    except OSError:
        return False
    try:
        return stat.S_ISLNK(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def open_root(path: Path | str) -> int:
    """An fd of a trusted host directory (the sandbox itself, made by the agent)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def resolve(dirfd: int, relpath: str, flags: int, mode: int = 0o644) -> int:
    """``openat(dirfd, relpath, flags)`` that refuses any link, ``..`` or mount on the way.

    The last component is never followed either (``O_NOFOLLOW`` is always added). A link
    the kernel meets becomes UnsafePathError naming ``relpath``; other errors stay OSError.
    """
    global _openat2_missing
    parts = _parts(relpath) or ["."]
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC
    if not flags & os.O_CREAT:
        mode = 0  # openat2 refuses a mode it would not use
    if not _openat2_missing:
        try:
            return _openat2(dirfd, "/".join(parts), flags, mode)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.EXDEV):
                raise _unsafe(relpath, err) from err
            if err.errno == errno.ENOTDIR and flags & os.O_DIRECTORY and _names_link(dirfd, parts):
                raise _unsafe(relpath, err) from err
            if err.errno != errno.ENOSYS:
                raise
            _openat2_missing = True
    return _walk(dirfd, parts, flags, mode, relpath)


def _check_regular(st: os.stat_result, relpath: str, writing: bool) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _kind(st.st_mode)
        raise UnsafePathError(f"{relpath!r} is {kind}, not a regular file")
    if writing and st.st_nlink > 1:
        # Writing through one name of a multiply linked inode changes a file we did not
        # create and cannot see the other names of (the guest cannot link across the
        # share, but anything on the host may have; such a file is never ours to touch).
        raise UnsafePathError(f"{relpath!r} has {st.st_nlink} hard links; not writing to it")


def _kind(st_mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a fifo"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(st_mode):
            return kind
    return "not a regular file"


def open_regular(dirfd: int, relpath: str, flags: int, mode: int = 0o644) -> int:
    """An fd of the regular file ``relpath`` opened with ``flags``; anything else refused.

    The file is first pinned with an ``O_PATH`` fd (which opens nothing), checked with
    fstat, then the same inode is reopened through ``/proc/self/fd``. With ``O_CREAT`` a
    missing file is created with ``O_EXCL``, so the new inode is ours and regular.
    """
    writing = bool(flags & _WRITE_FLAGS)
    for _ in range(4):  # the guest may delete the file between the two attempts
        if flags & os.O_CREAT:
            try:
                return resolve(dirfd, relpath, flags | os.O_EXCL, mode & _MODE_MASK)
            except FileExistsError:
                if flags & os.O_EXCL:
                    raise
        try:
            pinned = resolve(dirfd, relpath, os.O_PATH)
        except FileNotFoundError:
            if flags & os.O_CREAT:
                continue
            raise
        try:
            st = os.fstat(pinned)
            _check_regular(st, relpath, writing)
            reopen = (flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW)) | os.O_CLOEXEC
            fd = os.open(f"/proc/self/fd/{pinned}", reopen)
        finally:
            os.close(pinned)
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise UnsafePathError(f"{relpath!r} changed while it was opened")
        return fd
    raise UnsafePathError(f"{relpath!r} keeps appearing and vanishing")


def makedirs(dirfd: int, relpath: str, mode: int = 0o755) -> int:
    """Create each missing directory of ``relpath``; an fd of the last one.

    Each component is made with mkdirat (which never follows a link) and opened with
    ``O_DIRECTORY | O_NOFOLLOW``, so a link the guest planted anywhere is refused.
    """
    cur = resolve(dirfd, ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in _parts(relpath):
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, mode & _MODE_MASK, dir_fd=cur)
            nxt = resolve(cur, part, os.O_RDONLY | os.O_DIRECTORY)
            os.close(cur)
            cur = nxt
    except BaseException:
        os.close(cur)
        raise
    return cur


def open_append(root: Path | str, name: str) -> BinaryIO:
    """A task output file (``stdout``, ``stderr``) in the sandbox ``root``, unbuffered.

    Opened once per task: appending, created if missing, and only if it is a regular
    file with a single link, whatever the guest left under that name.
    """
    rootfd = open_root(root)
    try:
        fd = open_regular(rootfd, name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    finally:
        os.close(rootfd)
    return cast(BinaryIO, os.fdopen(fd, "ab", buffering=0))


def _check_replaceable(parent: int, name: str, relpath: str) -> None:
    """Refuse to rename over a directory or a special file (a link is replaced itself)."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise UnsafePathError(f"{relpath!r} is {_kind(st.st_mode)}; not replacing it")


def _create_temp(parent: int, mode: int) -> tuple[str, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(16):
        name = _TMP_PREFIX + secrets.token_hex(6)
        try:
            return name, os.open(name, flags, mode, dir_fd=parent)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", _TMP_PREFIX)


def write_atomically(
    dirfd: int,
    relpath: str,
    fill: Callable[[BinaryIO], None],
    mode: int = 0o644,
    *,
    sync: bool = True,
) -> None:
    """Replace ``relpath`` by what ``fill`` writes: readers see the old file or the new.

    A fresh temp file (``O_EXCL``, random name) in the parent's fd is filled, chmodded
    through its fd, fsynced (unless ``sync`` is False) and renamed over the final name in
    the same directory fd; renameat replaces a link itself, never what it points to. On
    failure the temp file is unlinked through the directory fd.
    """
    parts = _parts(relpath)
    if not parts:
        raise UnsafePathError(f"{relpath!r} names no file")
    name = parts[-1]
    parent = resolve(dirfd, "/".join(parts[:-1]) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        _check_replaceable(parent, name, relpath)
        tmp, fd = _create_temp(parent, mode & _MODE_MASK)
        try:
            with os.fdopen(fd, "wb") as out:
                fill(cast(BinaryIO, out))
                out.flush()
                os.fchmod(out.fileno(), mode & _MODE_MASK)
                if sync:
                    os.fsync(out.fileno())
            _check_replaceable(parent, name, relpath)
            try:
                os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
            except IsADirectoryError as err:  # swapped for a directory after the check
                raise _unsafe(relpath, err) from err
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=parent)
            raise
        if sync:
            os.fsync(parent)
    finally:
        os.close(parent)


def chmod_beneath(dirfd: int, relpath: str, mode: int) -> None:
    """chmod a regular file or directory beneath ``dirfd``; links and special files refused.

    The inode is pinned with an ``O_PATH`` fd and changed through ``/proc/self/fd``, so
    the guest cannot swap the name between the check and the chmod.
    """
    pinned = resolve(dirfd, relpath, os.O_PATH)
    try:
        st = os.fstat(pinned)
        if not stat.S_ISDIR(st.st_mode):
            _check_regular(st, relpath, writing=True)
        os.chmod(f"/proc/self/fd/{pinned}", mode & _MODE_MASK)
    finally:
        os.close(pinned)
