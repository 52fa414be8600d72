"""Helpers for image tests: layers on disk, `docker save` tarballs, debugfs inspection.

Images themselves are made with ``mesos_hyper.images.build`` (one source of truth).
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

from mesos_hyper.images.build import BuiltImage, Entry, Layer, layer_from_entries
from mesos_hyper.images.layers import apply_layer


def write_layer(directory: Path, layer: Layer) -> Path:
    path = directory / layer.digest.removeprefix("sha256:")
    path.write_bytes(layer.blob)
    return path


def apply_entries(rootfs: Path, blobs: Path, *layers: Sequence[Entry]) -> list[Layer]:
    """Build each entry list into a layer and apply them in order."""
    built = []
    for entries in layers:
        layer = layer_from_entries(entries)
        assert apply_layer(rootfs, write_layer(blobs, layer), layer.digest) == layer.diff_id
        built.append(layer)
    return built


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def docker_save(
    image: BuiltImage,
    path: Path,
    repo_tags: Sequence[str],
    *,
    oci: bool = False,
    extra: Sequence[tuple[str, bytes]] = (),
) -> None:
    """A `docker save` tarball: legacy (``<id>/layer.tar``) or Docker 25+ (OCI blobs inside).

    ``extra`` adds raw members (e.g. hostile names) before the real ones.
    """
    with tarfile.open(path, "w") as tar:
        for name, data in extra:
            _add(tar, name, data)
        layer_names = []
        for i, layer in enumerate(image.layers):
            tar_bytes = _uncompressed(layer)
            if oci:
                name = f"blobs/sha256/{layer.diff_id.removeprefix('sha256:')}"
            else:
                name = f"layer{i}/layer.tar"
            _add(tar, name, tar_bytes)
            layer_names.append(name)
        hexid = image.config_digest.removeprefix("sha256:")
        config_name = f"blobs/sha256/{hexid}" if oci else f"{hexid}.json"
        _add(tar, config_name, image.config)
        manifest = [{"Config": config_name, "RepoTags": list(repo_tags), "Layers": layer_names}]
        _add(tar, "manifest.json", json.dumps(manifest).encode())
        if oci:
            _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')


def _uncompressed(layer: Layer) -> bytes:
    return gzip.decompress(layer.blob) if layer.blob[:2] == b"\x1f\x8b" else layer.blob


def debugfs(disk: Path, request: str) -> str:
    """Run one debugfs request against an ext4 image (read-only, nothing mounted)."""
    proc = subprocess.run(
        ["debugfs", "-R", request, str(disk)], capture_output=True, text=True, check=True
    )
    return proc.stdout
