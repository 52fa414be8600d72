"""The local image store: blobs, one record per image, tags, and per-image base disks.

Layout under ``root`` (``Paths.images``)::

    blobs/            content-addressed blobs (BlobStore): manifests, configs, layers
    records/<hex>.json  one per image; the image id is its config digest
    tags.json         canonical reference ("registry/repository:tag") -> image id
    disks/<hex>/      base.ext4 + the image's passwd and group (see rootfs.py), and the
                      pristine overlay header of each size (vmctl/disks.py)
    tmp/              flattening scratch space (0700: it holds the image's device nodes)
    lock              flock: exclusive for changes, shared for reads

Several processes (the CLI, one executor per Mesos task) use the store at once: every file
is replaced atomically and every change happens under the lock. Blobs are written outside
the lock (downloads are slow), so an image is only recorded once all its blobs are present.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesos_hyper.errors import HyperError, IntegrityError, NotFoundError, UsageError
from mesos_hyper.fsutil import atomic_write
from mesos_hyper.images import rootfs
from mesos_hyper.images.blobs import BlobStore
from mesos_hyper.images.image_config import ImageConfig
from mesos_hyper.images.progress import Progress
from mesos_hyper.images.reference import Reference

_FULL_ID = re.compile(r"(?:sha256:)?([0-9a-f]{64})")
_SHORT_ID = re.compile(r"(?:sha256:)?([0-9a-f]{4,63})")
PULL_ATTEMPTS = 3
MAX_USER_DB = rootfs.MAX_USER_DB


@dataclass(frozen=True)
class Image:
    """An image in the local store."""

    id: str  # sha256:<config digest>
    manifest_digest: str
    references: tuple[str, ...]  # "registry/repository:tag" and "registry/repository@digest"
    config: ImageConfig
    layers: tuple[str, ...]  # layer blob digests, bottom first
    size: int  # bytes of the image's blobs (config + layers) as stored
    created: str

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]


def canonical_names(ref: Reference) -> list[str]:
    """The store's keys for a reference: by tag and/or by digest."""
    repo = f"{ref.registry}/{ref.repository}"
    names = []
    if ref.tag:
        names.append(f"{repo}:{ref.tag}")
    if ref.digest:
        names.append(f"{repo}@{ref.digest}")
    return names


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = BlobStore(root / "blobs")
        self.records = root / "records"
        self.disks = root / "disks"
        self.tmp = root / "tmp"
        self.tags_file = root / "tags.json"

    # -- locking and files -------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self, *, exclusive: bool = True) -> Iterator[None]:
        self.records.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def _tags(self) -> dict[str, str]:
        try:
            tags = json.loads(self.tags_file.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError as err:
            raise IntegrityError(f"{self.tags_file} is corrupt: {err}") from None
        return dict(tags)

    def _write_tags(self, tags: dict[str, str]) -> None:
        atomic_write(self.tags_file, json.dumps(tags, indent=1, sort_keys=True).encode())

    def _record_path(self, image_id: str) -> Path:
        return self.records / f"{image_id.removeprefix('sha256:')}.json"

    def _records(self) -> dict[str, dict[str, Any]]:
        out = {}
        for path in self.records.glob("*.json"):
            try:
                record = json.loads(path.read_bytes())
            except ValueError as err:
                raise IntegrityError(f"image record {path} is corrupt: {err}") from None
            out[record["id"]] = record
        return out

    def _image(self, record: dict[str, Any], tags: dict[str, str]) -> Image:
        names = [name for name, image_id in sorted(tags.items()) if image_id == record["id"]]
        try:
            config = ImageConfig.parse(self.blobs.read_bytes(record["id"]))
        except FileNotFoundError:
            raise IntegrityError(
                f"image {record['id']}: its config blob is missing; pull or load it again"
            ) from None
        return Image(
            id=record["id"],
            manifest_digest=record["manifest_digest"],
            references=tuple(names + list(record.get("repo_digests", []))),
            config=config,
            layers=tuple(record["layers"]),
            size=int(record["size"]),
            created=config.created or record.get("added", ""),
        )

    # -- adding images -----------------------------------------------------------------

    def add(
        self,
        config_digest: str,
        manifest_digest: str,
        layers: Sequence[tuple[str, int]],
        names: Sequence[str] = (),
    ) -> Image:
        """Record an image whose blobs (config, ``(digest, size)`` layers) are in ``blobs``.

        ``names`` are canonical tags ("registry/repository:tag", moved to this image) or
        digest references ("registry/repository@sha256:...").
        """
        config_raw = self.blobs.read_bytes(config_digest)
        config = ImageConfig.parse(config_raw)
        if config.diff_ids and len(config.diff_ids) != len(layers):
            raise IntegrityError(
                f"image {config_digest}: {len(layers)} layers but {len(config.diff_ids)} diff_ids"
            )
        with self._lock():
            missing = [d for d, _ in layers if not self.blobs.has(d)]
            if missing or not self.blobs.has(config_digest):
                raise _BlobsVanished(missing or [config_digest])
            path = self._record_path(config_digest)
            try:
                record = json.loads(path.read_bytes())
            except FileNotFoundError:
                record = {"id": config_digest, "added": _now(), "repo_digests": []}
            record.update(
                manifest_digest=manifest_digest,
                layers=[d for d, _ in layers],
                size=len(config_raw) + sum(size for _, size in layers),
            )
            tags = self._tags()
            for name in names:
                if "@" in name:
                    if name not in record["repo_digests"]:
                        record["repo_digests"].append(name)
                else:
                    tags[name] = config_digest
            atomic_write(path, json.dumps(record, indent=1, sort_keys=True).encode())
            self._write_tags(tags)
            return self._image(record, tags)

    def pull(
        self, text_ref: str, *, force: bool = False, progress: Progress | None = None
    ) -> Image:
        """The image for ``text_ref``; asks the registry only if it is not local, or ``force``."""
        ref = Reference.parse(text_ref)
        if not force:
            with contextlib.suppress(NotFoundError):
                return self._lookup_reference(ref, text_ref)
        from mesos_hyper.images import pull as pull_mod  # requests: only to reach a registry

        for _ in range(PULL_ATTEMPTS):
            pulled = pull_mod.pull(ref, self.blobs, progress)
            layers = [(d.digest, d.size) for d in pulled.manifest.layers]
            try:
                return self.add(
                    pulled.config_digest, pulled.manifest_digest, layers, canonical_names(ref)
                )
            except _BlobsVanished:
                continue  # a concurrent rmi collected shared blobs: fetch them again
        raise HyperError(f"pulling {text_ref}: its blobs kept being removed by concurrent rmi")

    def load(self, path: Path) -> list[Image]:
        """Load a `docker save` tarball or an OCI image layout (directory or tar)."""
        from mesos_hyper.images.archive import load_archive

        return load_archive(path, self)

    # -- lookups -----------------------------------------------------------------------

    def _lookup_reference(self, ref: Reference, text: str) -> Image:
        with self._lock(exclusive=False):
            tags = self._tags()
            records = self._records()
            for name in canonical_names(ref):
                image_id = tags.get(name)
                if image_id is None:
                    image_id = next(
                        (i for i, r in records.items() if name in r.get("repo_digests", [])), None
                    )
                if image_id in records:
                    return self._image(records[image_id], tags)
        raise NotFoundError(f"no such image: {text}")

    def get(self, ref_or_id: str) -> Image:
        """An image by full or short (4+ hex) id or by reference (tag or digest)."""
        with self._lock(exclusive=False):
            return self._get(ref_or_id.strip())

    def _get(self, text: str) -> Image:
        tags, records = self._tags(), self._records()
        full = _FULL_ID.fullmatch(text)
        if full:
            image_id = f"sha256:{full.group(1)}"
            if image_id in records:
                return self._image(records[image_id], tags)
        parse_error: UsageError | None = None
        if not full:
            try:
                ref = Reference.parse(text)
            except UsageError as err:
                parse_error = err
            else:
                for name in canonical_names(ref):
                    image_id = tags.get(name) or next(
                        (i for i, r in records.items() if name in r.get("repo_digests", [])), ""
                    )
                    if image_id in records:
                        return self._image(records[image_id], tags)
        short = _SHORT_ID.fullmatch(text)
        if short:
            hits = [i for i in records if i.removeprefix("sha256:").startswith(short.group(1))]
            if len(hits) == 1:
                return self._image(records[hits[0]], tags)
            if len(hits) > 1:
                raise UsageError(f"short id {text} is ambiguous: {len(hits)} images match")
        if parse_error is not None:
            raise parse_error
        raise NotFoundError(f"no such image: {text}")

    def list(self) -> list[Image]:
        with self._lock(exclusive=False):
            tags = self._tags()
            images = [self._image(r, tags) for r in self._records().values()]
        return sorted(images, key=lambda i: (i.created, i.id), reverse=True)

    # -- removal -----------------------------------------------------------------------

    def remove(self, ref_or_id: str, *, in_use: Callable[[str], bool]) -> list[str]:
        """Untag, or delete an image with its unshared blobs and base disk.

        A reference naming an image that has other names only loses that name (as
        ``docker rmi`` does); otherwise the image is deleted, refused while ``in_use(id)``.
        Returns what was done, as ``docker rmi`` prints it ("Untagged: ...", "Deleted: ...").
        """
        text = ref_or_id.strip()
        with self._lock():
            image = self._get(text)
            tags = self._tags()
            given = self._given_name(text, image)
            if given is not None and len(image.references) > 1:
                self._drop_name(given, image.id, tags)
                return [f"Untagged: {given}"]
            if in_use(image.id):
                raise HyperError(
                    f"image {text} ({image.short_id}) is in use by a container; stop it first"
                )
            done = [f"Untagged: {name}" for name in image.references]
            for name in [n for n, i in tags.items() if i == image.id]:
                del tags[name]
            self._write_tags(tags)
            self._record_path(image.id).unlink()
            still_used: set[str] = set()
            for record in self._records().values():
                still_used.update([record["id"], record["manifest_digest"], *record["layers"]])
            for digest in dict.fromkeys([image.id, image.manifest_digest, *image.layers]):
                if digest not in still_used and self.blobs.has(digest):
                    self.blobs.remove(digest)
            hexid = image.id.removeprefix("sha256:")
            shutil.rmtree(self.disks / hexid, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                (self.disks / f".{hexid}.lock").unlink()
            return [*done, f"Deleted: {image.id}"]

    def _given_name(self, text: str, image: Image) -> str | None:
        """The canonical name ``text`` refers to, if it is one of the image's names."""
        try:
            names = canonical_names(Reference.parse(text))
        except UsageError:
            return None
        return next((n for n in names if n in image.references), None)

    def _drop_name(self, name: str, image_id: str, tags: dict[str, str]) -> None:
        if name in tags:
            del tags[name]
            self._write_tags(tags)
            return
        path = self._record_path(image_id)
        record = json.loads(path.read_bytes())
        record["repo_digests"] = [n for n in record.get("repo_digests", []) if n != name]
        atomic_write(path, json.dumps(record, indent=1, sort_keys=True).encode())

    # -- what containers need ----------------------------------------------------------

    def _layer_paths(self, image: Image) -> list[tuple[str, Path]]:
        missing = [d for d in image.layers if not self.blobs.has(d)]
        if missing:
            raise IntegrityError(
                f"image {image.short_id}: layer {missing[0]} is missing; pull it again with --force"
            )
        return [(d, self.blobs.path(d)) for d in image.layers]

    def base_disk(self, image: Image) -> Path:
        """The image's read-only ext4 base disk, built on first use."""
        return self._ensure(image).path

    def user_db(self, image: Image) -> tuple[str, str]:
        """The image's /etc/passwd and /etc/group ("" when it has none)."""
        disk = self._ensure(image)
        return (
            disk.passwd.read_bytes().decode("utf-8", "replace"),
            disk.group.read_bytes().decode("utf-8", "replace"),
        )

    def _ensure(self, image: Image) -> rootfs.BaseDisk:
        existing = rootfs.disk_for(self.disks, image.id)
        if existing.path.exists():
            return existing
        return rootfs.ensure_base_disk(
            self.disks, self.tmp, image.id, self._layer_paths(image), image.config.diff_ids
        )


class _BlobsVanished(HyperError):
    def __init__(self, digests: Sequence[str]) -> None:
        super().__init__(f"blobs missing from the store: {', '.join(digests)}; try again")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
