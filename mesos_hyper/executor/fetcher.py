"""Fetching ``CommandInfo.uris`` into the sandbox, as the Mesos 1.0 fetcher would.

The external containerizer never runs the Mesos fetcher, so the executor does it: http(s)
and local (``file://`` or absolute) URIs, ``executable`` (chmod +x, never extracted),
``extract`` for tar/zip archives (default), ``output_file`` inside the sandbox.

The sandbox is guest-writable and, for a later task of a pod, may already hold links,
fifos or devices the guest planted, so nothing here resolves a sandbox path by name: every
file is made through directory fds (``mesos_hyper.sandbox.beneath``). Archives are
untrusted too and are unpacked by our own writer, never ``tarfile``/``zipfile``'s
``extract``: no absolute names, no ``..``, no writes through links, only relative
symlinks without ``..``, no hard links or special files, modes without setuid bits and
at most ``MAX_DOWNLOAD`` bytes unpacked from one archive.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from mesos_hyper import log
from mesos_hyper.errors import HyperError, UnsafeArchiveError, UnsafePathError
from mesos_hyper.model.messages import UriSpec
from mesos_hyper.sandbox import beneath

LOG = log.get(__name__)
MAX_DOWNLOAD = int(os.environ.get("MESOS_HYPER_FETCH_MAX_BYTES", str(10 << 30)))
ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")
CHUNK = 1 << 20
MAX_LINK_TARGET = 4096  # a zip symlink's target is its content; PATH_MAX bounds it


class FetchError(HyperError):
    """A URI could not be fetched; the message names it."""


def _target_name(uri: UriSpec) -> str:
    if uri.output_file:
        name = uri.output_file
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.startswith("/") or ".." in parts:
            raise FetchError(f"output_file {name!r} of {uri.value} must stay inside the sandbox")
        if not parts:
            raise FetchError(f"output_file {name!r} of {uri.value} names no file")
        return "/".join(parts)
    name = Path(unquote(urlparse(uri.value).path)).name
    if not name or name in (".", ".."):
        raise FetchError(f"cannot tell a file name for {uri.value}; set output_file")
    return name


def _download(uri: UriSpec, out: BinaryIO) -> None:
    parsed = urlparse(uri.value)
    if parsed.scheme in ("http", "https"):
        import requests  # 60 ms of imports that a task without URIs never needs

        try:
            with requests.get(uri.value, stream=True, timeout=(10, 60)) as resp:
                if resp.status_code >= 400:
                    raise FetchError(f"fetching {uri.value}: HTTP {resp.status_code}")
                written = 0
                for chunk in resp.iter_content(CHUNK):
                    written += len(chunk)
                    if written > MAX_DOWNLOAD:
                        raise FetchError(f"fetching {uri.value}: larger than {MAX_DOWNLOAD} bytes")
                    out.write(chunk)
        except requests.RequestException as err:
            raise FetchError(f"fetching {uri.value}: {type(err).__name__}") from err
    elif parsed.scheme in ("", "file"):
        # A host path chosen by the framework, as for the Mesos fetcher: not a sandbox path.
        source = Path(unquote(parsed.path) if parsed.scheme else uri.value)
        if not source.is_absolute():
            raise FetchError(f"fetching {uri.value}: a local URI must be an absolute path")
        try:
            with source.open("rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
        except OSError as err:
            raise FetchError(f"fetching {uri.value}: {err.strerror}") from err
    else:
        raise FetchError(f"fetching {uri.value}: unsupported scheme {parsed.scheme!r}")


class _Writer:
    """Unpacks archive members beneath the sandbox fd, within one byte budget."""

    def __init__(self, root: int, label: str) -> None:
        self.root = root
        self.label = label
        self.left = MAX_DOWNLOAD

    def parts(self, name: str) -> list[str]:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.startswith("/") or ".." in parts:
            raise UnsafeArchiveError(f"{self.label}: entry {name!r} would escape the sandbox")
        return parts

    @contextlib.contextmanager
    def _parent(self, name: str, parts: list[str]) -> Iterator[int]:
        """An fd of the member's directory, made if missing; a link on the way is refused."""
        try:
            fd = beneath.makedirs(self.root, "/".join(parts[:-1]))
        except (UnsafePathError, NotADirectoryError) as err:
            raise UnsafeArchiveError(
                f"{self.label}: entry {name!r} goes through a link or a file: {err}"
            ) from err
        try:
            yield fd
        finally:
            os.close(fd)

    def directory(self, name: str) -> None:
        parts = self.parts(name)
        if not parts:
            return  # "./": the sandbox itself
        try:
            os.close(beneath.makedirs(self.root, "/".join(parts)))
        except (UnsafePathError, NotADirectoryError) as err:
            raise UnsafeArchiveError(
                f"{self.label}: directory {name!r} goes through a link or a file: {err}"
            ) from err

    def file(self, name: str, src: BinaryIO, mode: int, mtime: float | None = None) -> None:
        parts = self.parts(name)
        if not parts:
            raise UnsafeArchiveError(f"{self.label}: file entry {name!r} has no name")

        def fill(out: BinaryIO) -> None:
            while chunk := src.read(CHUNK):
                self.left -= len(chunk)
                if self.left < 0:
                    raise UnsafeArchiveError(
                        f"{self.label}: unpacks to more than {MAX_DOWNLOAD} bytes"
                    )
                out.write(chunk)
            if mtime is not None:
                out.flush()
                os.utime(out.fileno(), (mtime, mtime))

        with self._parent(name, parts) as parent:
            try:
                beneath.write_atomically(parent, parts[-1], fill, mode & 0o777, sync=False)
            except UnsafePathError as err:
                raise UnsafeArchiveError(f"{self.label}: entry {name!r}: {err}") from err

    def symlink(self, name: str, target: str) -> None:
        parts = self.parts(name)
        target_parts = target.split("/")
        if not parts or not target or target.startswith("/") or ".." in target_parts:
            raise UnsafeArchiveError(f"{self.label}: link {name!r} -> {target!r} escapes")
        if "\0" in target:
            raise UnsafeArchiveError(f"{self.label}: link {name!r} has a NUL in its target")
        with self._parent(name, parts) as parent:
            try:
                os.symlink(target, parts[-1], dir_fd=parent)
                return
            except FileExistsError:
                pass
            # tar replaces what is there; unlinkat removes the name, never a link's target.
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise UnsafeArchiveError(f"{self.label}: link {name!r} would replace a directory")
            os.unlink(parts[-1], dir_fd=parent)
            os.symlink(target, parts[-1], dir_fd=parent)


def _extract_tar(archive: BinaryIO, writer: _Writer) -> None:
    import tarfile

    label = writer.label
    with tarfile.open(fileobj=archive) as tf:
        for member in tf:
            name = member.name
            writer.parts(name)  # refuse an escaping name whatever its type
            if member.isdir():
                writer.directory(name)
            elif member.issym():
                writer.symlink(name, member.linkname)
            elif member.islnk():
                raise UnsafeArchiveError(f"{label}: hard link {name!r} refused")
            elif member.isfile():
                if member.size > writer.left:
                    raise UnsafeArchiveError(f"{label}: unpacks to more than {MAX_DOWNLOAD} bytes")
                src = tf.extractfile(member)
                assert src is not None  # a regular member always has content
                with src:
                    writer.file(name, src, member.mode, member.mtime)
            else:
                raise UnsafeArchiveError(f"{label}: special file {name!r} refused")


def _extract_zip(archive: BinaryIO, writer: _Writer) -> None:
    import zipfile

    label = writer.label
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = info.filename
            writer.parts(name)
            unix = info.external_attr >> 16
            kind = stat.S_IFMT(unix)
            if info.is_dir() or kind == stat.S_IFDIR:
                writer.directory(name)
            elif kind == stat.S_IFLNK:
                with zf.open(info) as src:
                    target = src.read(MAX_LINK_TARGET + 1)
                if len(target) > MAX_LINK_TARGET:
                    raise UnsafeArchiveError(f"{label}: link {name!r} has an oversized target")
                writer.symlink(name, os.fsdecode(target))
            elif kind in (0, stat.S_IFREG):
                with zf.open(info) as src:
                    writer.file(name, src, (unix & 0o777) or 0o644)
            else:
                raise UnsafeArchiveError(f"{label}: special file {name!r} refused")


def _extract(parent: int, name: str, root: int) -> None:
    """Unpack the archive ``name`` (in the directory fd ``parent``) into ``root``."""
    fd = beneath.open_regular(parent, name, os.O_RDONLY)
    with os.fdopen(fd, "rb") as archive:
        writer = _Writer(root, Path(name).name)
        if name.endswith(".zip"):
            _extract_zip(archive, writer)
        else:
            _extract_tar(archive, writer)


def _fetch_one(uri: UriSpec, name: str, root: int) -> None:
    parent_name, _, base = name.rpartition("/")
    parent = beneath.makedirs(root, parent_name)
    try:
        # write_atomically fchmods the new file through its fd: executable is +x from birth.
        mode = 0o755 if uri.executable else 0o644
        beneath.write_atomically(parent, base, lambda out: _download(uri, out), mode)
        if not uri.executable and uri.extract and base.endswith(ARCHIVES):
            import tarfile
            import zipfile

            try:
                _extract(parent, base, root)
            except (tarfile.TarError, zipfile.BadZipFile, OSError) as err:
                raise FetchError(f"extracting {uri.value}: {err}") from err
    finally:
        os.close(parent)


def fetch_all(uris: Iterable[UriSpec], sandbox: Path) -> list[Path]:
    """Fetch every URI into ``sandbox``; a failure names the URI and leaves no partial file."""
    fetched = []
    root = beneath.open_root(sandbox)
    try:
        for uri in uris:
            name = _target_name(uri)
            try:
                _fetch_one(uri, name, root)
            except (UnsafePathError, OSError) as err:
                raise FetchError(f"fetching {uri.value}: {err}") from err
            if uri.cache:
                log.event(LOG, "URI cache not supported; fetched directly", uri=uri.value)
            dest = sandbox / name
            log.event(LOG, "fetched", uri=uri.value, to=dest)
            fetched.append(dest)
    finally:
        os.close(root)
    return fetched
