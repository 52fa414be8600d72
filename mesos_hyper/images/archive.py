"""Load images from a `docker save` tarball or an OCI image layout (directory or tar).

Archives are untrusted like registries: every blob is checked against its digest, member
names that are absolute or contain ``..`` are refused, and symlinks inside the archive are
resolved within it. Nothing is extracted to disk by member name: content goes straight into
the content-addressed blob store.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import posixpath
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from mesos_hyper.errors import IntegrityError, NotFoundError, UnsafeArchiveError, UsageError
from mesos_hyper.images.build import canonical_json, sha256
from mesos_hyper.images.image_config import ImageConfig
from mesos_hyper.images.manifest import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Index,
    parse_manifest,
    select_platform,
)
from mesos_hyper.images.reference import Reference

if TYPE_CHECKING:
    from mesos_hyper.images.store import Image, ImageStore

MAX_METADATA = 8 << 20  # manifest.json, index.json, configs, manifests
MAX_LINK_HOPS = 16
_CHUNK = 1 << 20
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_BLOB_NAME = re.compile(r"blobs/sha256/([0-9a-f]{64})")
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


class Source(Protocol):
    label: str

    def has(self, name: str) -> bool: ...

    def open(self, name: str) -> contextlib.AbstractContextManager[BinaryIO]: ...


def _normalize(label: str, name: str, link_of: str | None = None) -> str:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        what = f"entry {link_of!r} links to {name!r}" if link_of else f"entry {name!r}"
        raise UnsafeArchiveError(f"archive {label}: {what}, outside the archive")
    return "/".join(parts)


def _link_target(name: str, linkname: str) -> str:
    """Where a symlink member points, as a name inside the archive (``..`` left to refuse)."""
    if linkname.startswith("/"):
        return linkname
    return posixpath.normpath(posixpath.join(posixpath.dirname(name), linkname))


class TarSource:
    """Members of a (possibly gzip-compressed) tar, looked up by normalized name."""

    def __init__(self, tar: tarfile.TarFile, label: str) -> None:
        self.label = label
        self.tar = tar
        self.members: dict[str, tarfile.TarInfo] = {}
        for member in tar.getmembers():
            name = _normalize(label, member.name)
            if member.issym():
                _normalize(label, _link_target(name, member.linkname), name)
            elif member.islnk():
                _normalize(label, member.linkname, name)
            self.members[name] = member

    def _resolve(self, name: str) -> tarfile.TarInfo:
        name = _normalize(self.label, name)
        for _ in range(MAX_LINK_HOPS):
            member = self.members.get(name)
            if member is None:
                raise IntegrityError(f"archive {self.label} has no entry {name!r}")
            if not member.issym():
                return member
            name = _normalize(self.label, _link_target(name, member.linkname), name)
        raise IntegrityError(f"archive {self.label}: too many symlinks resolving {name!r}")

    def has(self, name: str) -> bool:
        return _normalize(self.label, name) in self.members

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        member = self._resolve(name)
        stream = self.tar.extractfile(member) if member.isreg() or member.islnk() else None
        if stream is None:
            raise IntegrityError(f"archive {self.label}: entry {name!r} is not a file")
        with stream:
            yield stream


class DirSource:
    """Files of a directory; symlinks may not lead outside it."""

    def __init__(self, path: Path) -> None:
        self.root = path.resolve()
        self.label = str(path)

    def _path(self, name: str) -> Path:
        path = (self.root / _normalize(self.label, name)).resolve()
        if not path.is_relative_to(self.root):
            raise UnsafeArchiveError(f"archive {self.label}: entry {name!r} leads outside it")
        return path

    def has(self, name: str) -> bool:
        return self._path(name).is_file()

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        path = self._path(name)
        if not path.is_file():
            raise IntegrityError(f"archive {self.label} has no file {name!r}")
        with open(path, "rb") as f:
            yield f


def load_archive(path: Path, store: ImageStore) -> list[Image]:
    """Load every image of the archive at ``path`` into ``store``."""
    if not path.exists():
        raise NotFoundError(f"{path}: no such file or directory")
    if path.is_dir():
        return _load(DirSource(path), store)
    if not tarfile.is_tarfile(path):
        raise UsageError(f"{path} is neither a tar archive nor a directory")
    try:
        with tarfile.open(path, "r:*") as tar:
            return _load(TarSource(tar, str(path)), store)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile) as err:
        raise IntegrityError(f"{path} is not a readable tar archive: {err}") from None


def _load(source: Source, store: ImageStore) -> list[Image]:
    if source.has("manifest.json"):
        return _load_docker(source, store)
    if source.has("index.json"):
        return _load_oci(source, store)
    raise UsageError(
        f"{source.label} is neither a docker save archive (manifest.json) nor an OCI image"
        " layout (index.json)"
    )


def _read_small(source: Source, name: str) -> bytes:
    with source.open(name) as f:
        data = f.read(MAX_METADATA + 1)
    if len(data) > MAX_METADATA:
        raise IntegrityError(f"archive {source.label}: {name} is larger than {MAX_METADATA} bytes")
    return data


def _json(source: Source, name: str, raw: bytes | None = None) -> Any:
    try:
        return json.loads(raw if raw is not None else _read_small(source, name))
    except ValueError as err:
        raise IntegrityError(f"archive {source.label}: {name} is not valid JSON: {err}") from None


def _hash(stream: BinaryIO) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return f"sha256:{sha.hexdigest()}", size


def _import(source: Source, name: str, store: ImageStore, expected: str | None) -> tuple[str, int]:
    """Copy one member into the blob store; returns (digest, size), verified."""
    with source.open(name) as f:
        digest, size = _hash(f)
    if expected is not None and digest != expected:
        raise IntegrityError(
            f"archive {source.label}: {name} has digest {digest}, expected {expected}"
        )
    if not store.blobs.has(digest):
        with source.open(name) as f:
            store.blobs.write_stream(digest, f)
    return digest, size


def _blob_digest(name: str) -> str | None:
    """The digest a Docker 25+ / OCI blob path promises, if the name is one."""
    match = _BLOB_NAME.fullmatch(posixpath.normpath(name.lstrip("./")))
    return f"sha256:{match.group(1)}" if match else None


def _load_docker(source: Source, store: ImageStore) -> list[Image]:
    manifest = _json(source, "manifest.json")
    if not isinstance(manifest, list) or not all(isinstance(i, dict) for i in manifest):
        raise IntegrityError(f"archive {source.label}: manifest.json is not a list of images")
    images = []
    for item in manifest:
        config_name, layer_names = item.get("Config"), item.get("Layers")
        repo_tags = item.get("RepoTags") or []
        if (
            not isinstance(config_name, str)
            or not isinstance(layer_names, list)
            or not all(isinstance(n, str) for n in [*layer_names, *repo_tags])
        ):
            raise IntegrityError(f"archive {source.label}: malformed manifest.json entry")
        config_raw = _read_small(source, config_name)
        config_digest = sha256(config_raw)
        expected = _blob_digest(config_name)
        if expected is not None and expected != config_digest:
            raise IntegrityError(
                f"archive {source.label}: {config_name} has digest {config_digest}"
            )
        config = ImageConfig.parse(config_raw)
        if len(config.diff_ids) != len(layer_names):
            raise IntegrityError(
                f"archive {source.label}: {len(layer_names)} layers but the config lists"
                f" {len(config.diff_ids)}"
            )
        layers = []
        for name, diff_id in zip(layer_names, config.diff_ids, strict=True):
            digest, size = _import(source, name, store, _blob_digest(name))
            with source.open(name) as f:
                compressed = f.read(2) == b"\x1f\x8b"
            if not compressed and digest != diff_id:
                raise IntegrityError(
                    f"archive {source.label}: layer {name} is {digest}, the config says {diff_id}"
                )
            layers.append((digest, size, OCI_LAYER_GZIP if compressed else OCI_LAYER))
        if not store.blobs.has(config_digest):
            store.blobs.write_bytes(config_digest, config_raw)
        manifest_raw = _synthesize_manifest(config_digest, len(config_raw), layers)
        manifest_digest = sha256(manifest_raw)
        if not store.blobs.has(manifest_digest):
            store.blobs.write_bytes(manifest_digest, manifest_raw)
        names = [n for tag in repo_tags for n in _tag_names(tag, source.label)]
        images.append(
            store.add(config_digest, manifest_digest, [(d, s) for d, s, _ in layers], names)
        )
    return images


def _synthesize_manifest(config_digest: str, config_size: int, layers: list[Any]) -> bytes:
    """An OCI manifest for a legacy archive, so every stored image has one (and can be pushed)."""
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": m, "digest": d, "size": s} for d, s, m in layers],
        }
    )


def _tag_names(text: str, label: str) -> list[str]:
    from mesos_hyper.images.store import canonical_names

    try:
        return canonical_names(Reference.parse(text))
    except UsageError as err:
        raise IntegrityError(f"archive {label}: bad image name {text!r}: {err}") from None


def _oci_blob(source: Source, digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise IntegrityError(f"archive {source.label}: unsupported or malformed digest {digest!r}")
    return f"blobs/sha256/{digest.removeprefix('sha256:')}"


def _verified_small(source: Source, digest: str) -> bytes:
    raw = _read_small(source, _oci_blob(source, digest))
    if sha256(raw) != digest:
        raise IntegrityError(f"archive {source.label}: blob {digest} does not match its digest")
    return raw


def _load_oci(source: Source, store: ImageStore) -> list[Image]:
    index = _json(source, "index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise IntegrityError(f"archive {source.label}: index.json has no manifests list")
    images = []
    for desc in index["manifests"]:
        if not isinstance(desc, dict):
            raise IntegrityError(f"archive {source.label}: malformed index.json entry")
        annotations = desc.get("annotations") or {}
        media_type, digest = desc.get("mediaType", ""), desc.get("digest", "")
        raw = _verified_small(source, digest)
        parsed = parse_manifest(media_type, raw)
        if isinstance(parsed, Index):
            chosen = select_platform(parsed)
            media_type, digest = chosen.media_type, chosen.digest
            raw = _verified_small(source, digest)
            parsed = parse_manifest(media_type, raw)
        if isinstance(parsed, Index):
            raise IntegrityError(f"archive {source.label}: nested image indexes are not supported")
        config_raw = _verified_small(source, parsed.config.digest)
        if not store.blobs.has(parsed.config.digest):
            store.blobs.write_bytes(parsed.config.digest, config_raw)
        layers = [
            _import(source, _oci_blob(source, layer.digest), store, layer.digest)
            for layer in parsed.layers
        ]
        if not store.blobs.has(digest):
            store.blobs.write_bytes(digest, raw)
        names: list[str] = []
        for key in NAME_ANNOTATIONS:
            name = annotations.get(key)
            # a bare tag ("latest") names no repository: such an image is loaded untagged
            if isinstance(name, str) and ("/" in name or ":" in name):
                names = _tag_names(name, source.label)
                break
        images.append(store.add(parsed.config.digest, digest, layers, names))
    return images
