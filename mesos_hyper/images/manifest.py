"""Image manifests and indexes: Docker schema2 and OCI, validated before use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mesos_hyper.errors import IntegrityError, NotFoundError
from mesos_hyper.images.blobs import check_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
LAYER_TYPES = (DOCKER_LAYER_GZIP, OCI_LAYER, OCI_LAYER_GZIP)
MAX_MANIFEST = 4 << 20


@dataclass(frozen=True)
class Platform:
    """The OS and CPU an image is for."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    """A registry's pointer to a blob: its type, digest and size."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None


@dataclass(frozen=True)
class Manifest:
    """An image manifest: its config and layers."""

    media_type: str
    config: Descriptor
    layers: list[Descriptor]


@dataclass(frozen=True)
class Index:
    """A manifest list: one manifest per platform."""

    media_type: str
    manifests: list[Descriptor]


def _descriptor(doc: Any, where: str) -> Descriptor:
    if not isinstance(doc, dict):
        raise IntegrityError(f"{where} is not an object")
    digest, size, media = doc.get("digest"), doc.get("size"), doc.get("mediaType", "")
    if not isinstance(digest, str) or not isinstance(size, int) or size < 0:
        raise IntegrityError(f"{where} lacks a valid digest or size")
    if not isinstance(media, str):
        raise IntegrityError(f"{where} has a bad mediaType")
    check_digest(digest)
    platform = None
    if isinstance(doc.get("platform"), dict):
        p = doc["platform"]
        platform = Platform(
            str(p.get("os", "")), str(p.get("architecture", "")), str(p.get("variant", ""))
        )
    return Descriptor(media, digest, size, platform)


def parse_manifest(media_type: str, raw: bytes) -> Manifest | Index:
    if media_type in SCHEMA1:
        raise IntegrityError(
            "Docker schema1 manifests are not supported; push the image again with a newer client"
        )
    if len(raw) > MAX_MANIFEST:
        raise IntegrityError(f"manifest larger than {MAX_MANIFEST} bytes")
    try:
        doc = json.loads(raw)
    except ValueError as err:
        raise IntegrityError(f"manifest is not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise IntegrityError("manifest is not a JSON object")
    media_type = media_type or doc.get("mediaType") or ""
    if not media_type:  # OCI allows no mediaType: tell by shape
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type in INDEX_TYPES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise IntegrityError("index has no manifests list")
        return Index(
            media_type, [_descriptor(e, f"index entry {i}") for i, e in enumerate(entries)]
        )
    if media_type in MANIFEST_TYPES:
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise IntegrityError("manifest has no layers list")
        parsed = [_descriptor(e, f"layer {i}") for i, e in enumerate(layers)]
        for layer in parsed:
            if layer.media_type == OCI_LAYER_ZSTD or layer.media_type.endswith("+zstd"):
                raise IntegrityError(
                    f"layer {layer.digest} is zstd-compressed, which is not supported"
                )
        return Manifest(media_type, _descriptor(doc.get("config"), "config"), parsed)
    raise IntegrityError(f"unsupported manifest media type {media_type!r}")


def select_platform(index: Index, os: str = "linux", arch: str = "amd64") -> Descriptor:
    for desc in index.manifests:
        if desc.platform and desc.platform.os == os and desc.platform.architecture == arch:
            return desc
    offered = ", ".join(str(d.platform) for d in index.manifests if d.platform) or "none"
    raise NotFoundError(f"no {os}/{arch} image in this index (platforms: {offered})")
