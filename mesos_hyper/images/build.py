"""A small image builder without Docker: layers, config and manifest from code or a directory.

The demo image, the set-up script and the tests all make their images here, so there is one
source of truth for what a well-formed (or deliberately hostile) image looks like. Output is
deterministic (sorted entries, fixed mtimes, gzip without timestamps): the same input gives
the same digests, which keeps re-seeding a registry idempotent.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mesos_hyper.errors import HyperError, UsageError
from mesos_hyper.images.manifest import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)

EPOCH = 0  # every mtime in a built layer, for reproducible digests
DEMO_REPOSITORY = "mesos-hyper/demo"
DEMO_CMD = (
    "/bin/sh",
    "-c",
    'echo "hello from $(hostname), a mesos-hyper VM"; '
    'echo "guest kernel: $(uname -r) ($(uname -m))"; '
    'echo "user: $(id)"',
)
DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Entry:
    """One tar member of a layer written in code; names are written as given (even hostile)."""

    path: str
    type: str = "file"  # file | dir | symlink | hardlink | char | block | fifo
    data: bytes = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    target: str = ""  # symlink or hardlink target
    major: int = 0
    minor: int = 0
    xattrs: Mapping[str, bytes] = field(default_factory=dict)
    mtime: int = EPOCH


def whiteout(path: str) -> Entry:
    """Hide ``path`` of the layers below."""
    head, _, name = path.rstrip("/").rpartition("/")
    return Entry(f"{head}/.wh.{name}" if head else f".wh.{name}")


def opaque(directory: str) -> Entry:
    """Hide everything the layers below have in ``directory``."""
    return Entry(f"{directory.rstrip('/')}/.wh..wh..opq")


_TYPES = {
    "file": (tarfile.REGTYPE, 0o644),
    "dir": (tarfile.DIRTYPE, 0o755),
    "symlink": (tarfile.SYMTYPE, 0o777),
    "hardlink": (tarfile.LNKTYPE, 0o644),
    "char": (tarfile.CHRTYPE, 0o666),
    "block": (tarfile.BLKTYPE, 0o660),
    "fifo": (tarfile.FIFOTYPE, 0o644),
}


@dataclass(frozen=True)
class Layer:
    """A layer blob built here, with the digests a manifest and a config name it by."""

    blob: bytes
    digest: str
    diff_id: str
    media_type: str = OCI_LAYER_GZIP


def _finish_layer(tar_bytes: bytes, compress: bool) -> Layer:
    if not compress:
        digest = sha256(tar_bytes)
        return Layer(tar_bytes, digest, digest, OCI_LAYER)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(tar_bytes)
    blob = out.getvalue()
    return Layer(blob, sha256(blob), sha256(tar_bytes))


def layer_from_entries(entries: Iterable[Entry], *, compress: bool = True) -> Layer:
    """A layer holding exactly ``entries``, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if entry.type not in _TYPES:
                raise UsageError(f"unknown layer entry type {entry.type!r}")
            kind, mode = _TYPES[entry.type]
            info = tarfile.TarInfo(entry.path)
            info.type = kind
            info.mode = mode if entry.mode is None else entry.mode
            info.uid, info.gid, info.mtime = entry.uid, entry.gid, entry.mtime
            info.linkname = entry.target
            info.devmajor, info.devminor = entry.major, entry.minor
            info.pax_headers = {
                f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                for k, v in entry.xattrs.items()
            }
            data = entry.data if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return _finish_layer(buf.getvalue(), compress)


def layer_from_dir(source: Path, *, compress: bool = True) -> Layer:
    """A layer holding the tree under ``source`` (owners, modes, links and devices kept)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _walk(source):
            rel = path.relative_to(source).as_posix()
            info = tar.gettarinfo(str(path), arcname=rel)
            info.mtime, info.uname, info.gname = EPOCH, "", ""
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return _finish_layer(buf.getvalue(), compress)


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        for name in sorted(dirnames + filenames):
            yield here / name


@dataclass(frozen=True)
class BuiltImage:
    """An image built here, ready to push: its layers, config and manifest."""

    layers: tuple[Layer, ...]
    config: bytes
    config_digest: str
    manifest: bytes
    manifest_digest: str
    media_type: str = OCI_MANIFEST

    def blobs(self) -> dict[str, bytes]:
        """Every blob the manifest refers to, by digest."""
        out = {layer.digest: layer.blob for layer in self.layers}
        out[self.config_digest] = self.config
        return out


def build_image(
    layers: Sequence[Layer],
    *,
    entrypoint: Sequence[str] | None = None,
    cmd: Sequence[str] | None = None,
    env: Sequence[str] = DEFAULT_ENV,
    working_dir: str = "",
    user: str = "",
    labels: Mapping[str, str] | None = None,
    exposed_ports: Sequence[str] = (),
    architecture: str = "amd64",
    created: str = "1970-01-01T00:00:00Z",
) -> BuiltImage:
    """Config and OCI manifest for ``layers`` (bottom first)."""
    run: dict[str, object] = {"Env": list(env)}
    if entrypoint is not None:
        run["Entrypoint"] = list(entrypoint)
    if cmd is not None:
        run["Cmd"] = list(cmd)
    if working_dir:
        run["WorkingDir"] = working_dir
    if user:
        run["User"] = user
    if labels:
        run["Labels"] = dict(labels)
    if exposed_ports:
        run["ExposedPorts"] = {port: {} for port in exposed_ports}
    config = canonical_json(
        {
            "architecture": architecture,
            "os": "linux",
            "created": created,
            "config": run,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [{"created": created, "created_by": "mesos-hyper build"} for _ in layers],
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": layer.media_type, "digest": layer.digest, "size": len(layer.blob)}
                for layer in layers
            ],
        }
    )
    return BuiltImage(tuple(layers), config, sha256(config), manifest, sha256(manifest))


def write_oci_layout(image: BuiltImage, dest: Path, *, ref_name: str | None = None) -> None:
    """Write an OCI image layout directory at ``dest`` (which must not exist), atomically."""
    if dest.exists():
        raise UsageError(f"{dest} already exists")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        blobs = tmp / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        for digest, data in {**image.blobs(), image.manifest_digest: image.manifest}.items():
            (blobs / digest.removeprefix("sha256:")).write_bytes(data)
        descriptor: dict[str, object] = {
            "mediaType": image.media_type,
            "digest": image.manifest_digest,
            "size": len(image.manifest),
        }
        if ref_name:
            descriptor["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
        (tmp / "index.json").write_bytes(canonical_json(index))
        (tmp / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
        tmp.chmod(0o755)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def push_image(image: BuiltImage, reference: str) -> str:
    """Push blobs, then the manifest under the reference's tag; returns the manifest digest."""
    # imported here: building layers and layouts (tests, archives) needs no registry client
    from mesos_hyper.images.reference import Reference
    from mesos_hyper.images.registry import RegistryClient

    ref = Reference.parse(reference)
    client = RegistryClient(ref.registry)
    for digest, data in image.blobs().items():
        client.push_blob(ref.repository, data, digest)
    return client.push_manifest(ref.repository, ref.ref, image.manifest, image.media_type)


def _busybox() -> Path:
    found = shutil.which("busybox") or "/bin/busybox"
    path = Path(found).resolve()
    if not path.is_file():
        raise HyperError("busybox not found: install Debian's busybox-static")
    if _is_dynamic(path.read_bytes()[:4096]):
        raise HyperError(f"{path} is dynamically linked: install Debian's busybox-static")
    return path


def _is_dynamic(head: bytes) -> bool:
    """Whether an ELF64 little-endian binary has a PT_INTERP (needs a loader and libc)."""
    if head[:4] != b"\x7fELF" or head[4] != 2:
        return True
    phoff = int.from_bytes(head[32:40], "little")
    phentsize = int.from_bytes(head[54:56], "little")
    phnum = int.from_bytes(head[56:58], "little")
    for i in range(phnum):
        off = phoff + i * phentsize
        if int.from_bytes(head[off : off + 4], "little") == 3:  # PT_INTERP
            return True
    return False


PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\nusers:x:100:app\napp:x:1000:\nnogroup:x:65534:\n"


def demo_rootfs(dest: Path) -> None:
    """Lay out the demo image's tree in ``dest`` (an existing, empty directory).

    A static busybox with its applets as symlinks, users root and app (1000), /tmp 1777.
    """
    busybox = _busybox()
    listing = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    for name, mode in {
        "bin": 0o755,
        "etc": 0o755,
        "dev": 0o755,
        "proc": 0o555,
        "sys": 0o555,
        "run": 0o755,
        "tmp": 0o1777,
        "root": 0o700,
        "home": 0o755,
        "home/app": 0o755,
        "var": 0o755,
        "var/tmp": 0o1777,
    }.items():
        (dest / name).mkdir()
        (dest / name).chmod(mode)
    os.chown(dest / "home/app", 1000, 1000)
    shutil.copyfile(busybox, dest / "bin/busybox")
    (dest / "bin/busybox").chmod(0o755)
    for applet in sorted(set(listing) - {"busybox"}):
        if "/" not in applet:
            (dest / "bin" / applet).symlink_to("busybox")
    (dest / "etc/passwd").write_text(PASSWD)
    (dest / "etc/group").write_text(GROUP)
    for name in ("etc/passwd", "etc/group"):
        (dest / name).chmod(0o644)
    (dest / "etc/hostname").write_text("demo\n")


def build_demo_image(shell: str | None = None) -> BuiltImage:
    """The demo image: busybox, and a Cmd that shows it runs in a VM (guest kernel, hostname).

    ``shell``: a Cmd of its own (``/bin/sh -c shell``), for tasks that have no CommandInfo,
    such as those of a custom executor, where the image's Cmd is what runs.
    """
    with tempfile.TemporaryDirectory(prefix="mesos-hyper-demo.") as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        demo_rootfs(root)
        layer = layer_from_dir(root)
    return build_image(
        [layer],
        cmd=DEMO_CMD if shell is None else ("/bin/sh", "-c", shell),
        working_dir="/",
        labels={"org.opencontainers.image.title": "mesos-hyper demo"},
    )
