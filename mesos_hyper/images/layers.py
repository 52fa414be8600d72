"""Unpack image layers into a rootfs directory with Docker/OCI semantics, never writing outside it.

Layers are untrusted. Every path is walked one component at a time from a directory fd with
``O_NOFOLLOW``, so a symlink planted by an earlier layer (``etc -> /etc``) cannot redirect a
later write (or whiteout) to the host; ``..`` is refused and absolute names are made relative.
Whiteouts follow the OCI rules: they only hide content of lower layers.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mesos_hyper import log
from mesos_hyper.errors import HyperError, IntegrityError, UnsafeArchiveError

LOG = log.get(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
MAX_NAME = 4096
MAX_LAYER_BYTES = 64 << 30  # uncompressed; a bound on hostile "gzip bombs"
MAX_ENTRIES = 4_000_000
XATTR_PREFIXES = ("user.", "security.capability")
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

_MAGIC = {
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\xfd7zXZ\x00": "xz",
    b"BZh": "bzip2",
}


class _CountingReader:
    """Hashes what passes through (the layer's diff_id) and bounds its size."""

    def __init__(self, raw: BinaryIO, digest: str, limit: int) -> None:
        self.raw = raw
        self.digest = digest
        self.limit = limit
        self.sha = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size is not None and size >= 0 else _CHUNK)
        self.count += len(data)
        if self.count > self.limit:
            raise UnsafeArchiveError(
                f"layer {self.digest}: uncompressed size exceeds {self.limit} bytes"
            )
        self.sha.update(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


@contextlib.contextmanager
def open_layer(path: Path, digest: str) -> Iterator[BinaryIO]:
    """The layer's uncompressed tar stream: gzip or plain tar, detected by magic bytes."""
    with open(path, "rb") as f:
        head = f.read(6)
        f.seek(0)
        for magic, kind in _MAGIC.items():
            if head.startswith(magic):
                raise HyperError(
                    f"layer {digest} is {kind}-compressed; only gzip and uncompressed layers"
                    " are supported"
                )
        if head.startswith(b"\x1f\x8b"):
            with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                yield gz  # type: ignore[misc]
        else:
            yield f


def apply_layer(rootfs: Path, blob: Path, digest: str, *, limit: int = MAX_LAYER_BYTES) -> str:
    """Apply one layer blob on top of ``rootfs``; returns its diff_id (sha256 of the tar)."""
    try:
        with open_layer(blob, digest) as stream:
            reader = _CountingReader(stream, digest, limit)
            with _Unpacker(rootfs, digest) as unpacker:
                with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                    for member in tar:
                        unpacker.add(tar, member)
                unpacker.finish()
            reader.drain()
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise IntegrityError(f"layer {digest} is corrupt: {err}") from None
    return f"sha256:{reader.sha.hexdigest()}"


def split_name(name: str, digest: str, entry: str | None = None) -> list[str]:
    """Path components of a member name; absolute names become relative, ``..`` is refused."""
    if len(name) > MAX_NAME:
        raise UnsafeArchiveError(f"layer {digest}: entry name longer than {MAX_NAME} bytes")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        what = f"entry {entry!r} links to {name!r}" if entry else f"entry {name!r}"
        raise UnsafeArchiveError(f"layer {digest}: {what}: '..' is not allowed")
    return parts


class _Unpacker:
    """Applies tar members one by one under a root directory fd."""

    def __init__(self, rootfs: Path, digest: str) -> None:
        self.digest = digest
        self.root_fd = os.open(rootfs, _DIR_FLAGS)
        self.unpacked: set[str] = set()  # paths this layer created (whiteouts spare them)
        self.dir_times: list[tuple[list[str], int]] = []
        self.entries = 0

    def __enter__(self) -> _Unpacker:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.root_fd)

    def _unsafe(self, entry: str, why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"layer {self.digest}: entry {entry!r} {why}")

    def open_dir(self, parts: list[str], entry: str, *, create: bool) -> int | None:
        """An fd of the directory ``parts`` inside the rootfs, never through a symlink."""
        fd = os.dup(self.root_fd)
        try:
            for i, comp in enumerate(parts):
                try:
                    nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        os.close(fd)
                        return None
                    os.mkdir(comp, 0o755, dir_fd=fd)
                    nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                except OSError as err:
                    if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    where = "/".join(parts[: i + 1])
                    st = os.lstat(comp, dir_fd=fd)
                    if stat.S_ISLNK(st.st_mode):
                        target = os.readlink(comp, dir_fd=fd)
                        raise self._unsafe(
                            entry, f"goes through the symlink {where!r} -> {target!r}"
                        ) from None
                    raise IntegrityError(
                        f"layer {self.digest}: entry {entry!r}: {where!r} is not a directory"
                    ) from None
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise UnsafeArchiveError(f"layer {self.digest}: more than {MAX_ENTRIES} entries")
        entry = member.name
        parts = split_name(entry, self.digest)
        if not parts:
            return  # the root directory itself: its metadata is ours, not the image's
        try:
            if parts[-1].startswith(WHITEOUT_PREFIX):
                self._whiteout(parts, entry)
                return
            pfd = self.open_dir(parts[:-1], entry, create=True)
            assert pfd is not None
            try:
                self._create(tar, member, pfd, parts, entry)
            finally:
                os.close(pfd)
        except OSError as err:
            raise HyperError(
                f"layer {self.digest}: entry {entry!r}: {err.strerror or err}"
            ) from None
        self.unpacked.add("/".join(parts))

    def _whiteout(self, parts: list[str], entry: str) -> None:
        name = parts[-1]
        if name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX) and name != OPAQUE_MARKER:
            return  # aufs bookkeeping (.wh..wh.plnk etc.), not content
        dirs = parts[:-1]
        pfd = self.open_dir(dirs, entry, create=False)
        if pfd is None:
            return
        try:
            if name == OPAQUE_MARKER:
                self._opaque(pfd, "/".join(dirs))
                return
            victim = name[len(WHITEOUT_PREFIX) :]
            if "/".join([*dirs, victim]) in self.unpacked:
                return  # whiteouts only hide lower layers
            with contextlib.suppress(FileNotFoundError):
                _remove(pfd, victim)
        finally:
            os.close(pfd)

    def _opaque(self, dfd: int, key: str) -> None:
        """Remove everything under the directory that this layer did not itself create."""
        for name in os.listdir(dfd):
            child = f"{key}/{name}" if key else name
            if child not in self.unpacked:
                _remove(dfd, name)
            elif stat.S_ISDIR(os.lstat(name, dir_fd=dfd).st_mode):
                cfd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
                try:
                    self._opaque(cfd, child)
                finally:
                    os.close(cfd)

    def _create(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, pfd: int, parts: list[str], entry: str
    ) -> None:
        base = parts[-1]
        try:
            existing: os.stat_result | None = os.lstat(base, dir_fd=pfd)
        except FileNotFoundError:
            existing = None
        if existing is not None and not (stat.S_ISDIR(existing.st_mode) and member.isdir()):
            _remove(pfd, base)
            existing = None
        uid, gid = _owner(member, self.digest)
        mode = member.mode & 0o7777
        ns = int(member.mtime * 1_000_000_000)
        if member.isreg():
            fd = os.open(
                base,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=pfd,
            )
            try:
                src = tar.extractfile(member)
                assert src is not None
                while chunk := src.read(_CHUNK):
                    _write_all(fd, chunk)
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
                self._xattrs(fd, member)
                os.utime(fd, ns=(ns, ns))
            finally:
                os.close(fd)
        elif member.isdir():
            if existing is None:
                os.mkdir(base, 0o700, dir_fd=pfd)
            fd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
                self._xattrs(fd, member)
            finally:
                os.close(fd)
            self.dir_times.append((parts, ns))
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=pfd)
            os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(base, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)
        elif member.islnk():
            self._hardlink(member, pfd, parts, entry)
        elif member.ischr() or member.isblk() or member.isfifo():
            if member.isfifo():
                os.mkfifo(base, 0o600, dir_fd=pfd)
            else:
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
                os.mknod(
                    base, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=pfd
                )
            os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)
            os.chmod(base, mode, dir_fd=pfd)  # just created by us: not a symlink
            os.utime(base, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)
        else:
            raise IntegrityError(
                f"layer {self.digest}: entry {entry!r} has unsupported type {member.type!r}"
            )

    def _hardlink(self, member: tarfile.TarInfo, pfd: int, parts: list[str], entry: str) -> None:
        target = split_name(member.linkname, self.digest, entry)
        if not target:
            raise self._unsafe(entry, "is a hardlink to the root directory")
        if target == parts:
            return
        tfd = self.open_dir(target[:-1], entry, create=False)
        if tfd is None:
            raise IntegrityError(
                f"layer {self.digest}: entry {entry!r} links to missing {member.linkname!r}"
            )
        try:
            try:
                st = os.lstat(target[-1], dir_fd=tfd)
            except FileNotFoundError:
                raise IntegrityError(
                    f"layer {self.digest}: entry {entry!r} links to missing {member.linkname!r}"
                ) from None
            if stat.S_ISDIR(st.st_mode):
                raise self._unsafe(entry, f"is a hardlink to the directory {member.linkname!r}")
            os.link(target[-1], parts[-1], src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)

    def _xattrs(self, fd: int, member: tarfile.TarInfo) -> None:
        for key, value in member.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key[len("SCHILY.xattr.") :]
            if not name.startswith(XATTR_PREFIXES):
                log.event(LOG, "skipping xattr", log.DEBUG, layer=self.digest, name=name)
                continue
            try:
                os.setxattr(fd, name, value.encode("utf-8", "surrogateescape"))
            except OSError as err:
                log.event(
                    LOG,
                    "xattr not applied",
                    log.WARNING,
                    layer=self.digest,
                    entry=member.name,
                    name=name,
                    error=err.strerror,
                )

    def finish(self) -> None:
        """Directory mtimes last: writing their children changed them."""
        for parts, ns in self.dir_times:
            try:
                fd = self.open_dir(parts, "/".join(parts), create=False)
            except (UnsafeArchiveError, IntegrityError):
                continue  # replaced by a non-directory later in this layer
            if fd is not None:
                try:
                    os.utime(fd, ns=(ns, ns))
                finally:
                    os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _remove(dfd: int, name: str) -> None:
    if stat.S_ISDIR(os.lstat(name, dir_fd=dfd).st_mode):
        shutil.rmtree(name, dir_fd=dfd)
    else:
        os.unlink(name, dir_fd=dfd)


def _owner(member: tarfile.TarInfo, digest: str) -> tuple[int, int]:
    for value in (member.uid, member.gid):
        if not 0 <= value < 0xFFFFFFFF:
            raise IntegrityError(f"layer {digest}: entry {member.name!r} has owner id {value}")
    return member.uid, member.gid
