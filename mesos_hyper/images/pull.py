"""Pulling an image: resolve the reference to a linux/amd64 manifest, fetch every blob."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mesos_hyper.errors import IntegrityError
from mesos_hyper.images.blobs import BlobStore
from mesos_hyper.images.manifest import (
    LAYER_TYPES,
    Index,
    Manifest,
    parse_manifest,
    select_platform,
)
from mesos_hyper.images.progress import Progress
from mesos_hyper.images.reference import Reference
from mesos_hyper.images.registry import RegistryClient

MAX_PARALLEL = 4
MAX_CONFIG = 4 << 20


@dataclass(frozen=True)
class PulledImage:
    """What a pull fetched: the manifest, the config and where the layers are."""

    reference: Reference
    manifest_digest: str
    manifest: Manifest
    config_digest: str
    config: bytes


def pull(
    ref: Reference,
    store: BlobStore,
    progress: Progress | None = None,
    *,
    client: RegistryClient | None = None,
) -> PulledImage:
    client = client or RegistryClient(ref.registry)
    media_type, raw, digest = client.get_manifest(ref.repository, ref.ref)
    parsed = parse_manifest(media_type, raw)
    if isinstance(parsed, Index):
        chosen = select_platform(parsed)
        media_type, raw, digest = client.get_manifest(ref.repository, chosen.digest)
        parsed = parse_manifest(media_type, raw)
        if isinstance(parsed, Index):
            raise IntegrityError(f"{ref}: an index points at another index")
    manifest = parsed
    for layer in manifest.layers:
        if layer.media_type and layer.media_type not in LAYER_TYPES:
            raise IntegrityError(f"{ref}: unsupported layer type {layer.media_type}")
    if manifest.config.size > MAX_CONFIG:
        raise IntegrityError(f"{ref}: image config larger than {MAX_CONFIG} bytes")
    client.fetch_blob(ref.repository, manifest.config.digest, store, size=manifest.config.size)
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        futures = [
            pool.submit(
                client.fetch_blob,
                ref.repository,
                layer.digest,
                store,
                size=layer.size,
                progress=progress,
            )
            for layer in manifest.layers
        ]
        for future in futures:
            future.result()
    if progress:
        progress.finish()
    if not store.has(digest):
        store.write_bytes(digest, raw)
    return PulledImage(
        ref, digest, manifest, manifest.config.digest, store.read_bytes(manifest.config.digest)
    )
