"""Fetching ``CommandInfo.uris`` into the sandbox, as the Mesos 1.0 fetcher would.

The external containerizer never runs the Mesos fetcher, so the executor does it: http(s)
and local (``file://`` or absolute) URIs, ``executable`` (chmod +x, never extracted),
``extract`` for tar/zip archives (default), ``output_file`` inside the sandbox. Archives
are untrusted: no absolute names, no ``..``, no writes through symlinks, no special files.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

from mesos_hyper import log
from mesos_hyper.containerizer.messages import UriSpec
from mesos_hyper.errors import HyperError, UnsafeArchiveError

LOG = logging.getLogger(__name__)
MAX_DOWNLOAD = int(os.environ.get("MESOS_HYPER_FETCH_MAX_BYTES", str(10 << 30)))
ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")
CHUNK = 1 << 20


class FetchError(HyperError):
    """A URI could not be fetched; the message names it."""


def _target_name(uri: UriSpec) -> str:
    if uri.output_file:
        name = uri.output_file
        if name.startswith("/") or ".." in Path(name).parts:
            raise FetchError(f"output_file {name!r} of {uri.value} must stay inside the sandbox")
        return name
    name = Path(unquote(urlparse(uri.value).path)).name
    if not name or name in (".", ".."):
        raise FetchError(f"cannot tell a file name for {uri.value}; set output_file")
    return name


def _download(uri: UriSpec, dest: Path) -> None:
    parsed = urlparse(uri.value)
    if parsed.scheme in ("http", "https"):
        try:
            with requests.get(uri.value, stream=True, timeout=(10, 60)) as resp:
                if resp.status_code >= 400:
                    raise FetchError(f"fetching {uri.value}: HTTP {resp.status_code}")
                written = 0
                with dest.open("wb") as out:
                    for chunk in resp.iter_content(CHUNK):
                        written += len(chunk)
                        if written > MAX_DOWNLOAD:
                            raise FetchError(
                                f"fetching {uri.value}: larger than {MAX_DOWNLOAD} bytes"
                            )
                        out.write(chunk)
        except requests.RequestException as err:
            raise FetchError(f"fetching {uri.value}: {type(err).__name__}") from err
    elif parsed.scheme in ("", "file"):
        source = Path(unquote(parsed.path) if parsed.scheme else uri.value)
        if not source.is_absolute():
            raise FetchError(f"fetching {uri.value}: a local URI must be an absolute path")
        try:
            shutil.copyfile(source, dest)
        except OSError as err:
            raise FetchError(f"fetching {uri.value}: {err.strerror}") from err
    else:
        raise FetchError(f"fetching {uri.value}: unsupported scheme {parsed.scheme!r}")


def _safe_member(root: Path, name: str, archive: str) -> Path:
    parts = Path(name).parts
    if not name or name.startswith("/") or ".." in parts:
        raise UnsafeArchiveError(f"{archive}: entry {name!r} would escape the sandbox")
    target = root.joinpath(*parts)
    parent = root
    for part in parts[:-1]:
        parent = parent / part
        if parent.is_symlink():
            raise UnsafeArchiveError(f"{archive}: entry {name!r} goes through a symlink")
    return target


def _extract(path: Path, root: Path) -> None:
    label = path.name
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                target = _safe_member(root, info.filename, label)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    target.chmod(mode)
        return
    with tarfile.open(path) as tf:
        for member in tf:
            target = _safe_member(root, member.name, label)
            if member.issym() or member.islnk():
                link = member.linkname
                if link.startswith("/") or ".." in Path(link).parts:
                    raise UnsafeArchiveError(f"{label}: link {member.name!r} -> {link!r} escapes")
            elif not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(f"{label}: special file {member.name!r} refused")
            tf.extract(member, root, set_attrs=True, filter="data")
            if member.isfile() and target.is_symlink():
                raise UnsafeArchiveError(f"{label}: {member.name!r} was written through a symlink")


def fetch_all(uris: Iterable[UriSpec], sandbox: Path) -> list[Path]:
    """Fetch every URI into ``sandbox``; a failure names the URI and leaves no partial file."""
    fetched = []
    for uri in uris:
        name = _target_name(uri)
        dest = sandbox / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".fetch-", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _download(uri, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        if uri.cache:
            log.event(LOG, "URI cache not supported; fetched directly", uri=uri.value)
        if uri.executable:
            dest.chmod(dest.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        elif uri.extract and dest.name.endswith(ARCHIVES):
            try:
                _extract(dest, sandbox)
            except (tarfile.TarError, zipfile.BadZipFile, OSError) as err:
                raise FetchError(f"extracting {uri.value}: {err}") from err
        log.event(LOG, "fetched", uri=uri.value, to=dest)
        fetched.append(dest)
    return fetched
