"""Flatten an image's layers into its read-only ext4 base disk, built once per image.

Each container boots on a qcow2 overlay of this disk and the guest init grows the ext4
online, so the disk only needs its content plus some headroom; mke2fs's default
``resize_inode`` keeps room for that growth. There is no journal: a container's writes live
in its throw-away overlay, so crash consistency buys nothing and a journal costs 4+ MiB per
image and extra writes in every guest. The image's /etc/passwd and /etc/group are kept
beside the disk so users can be resolved on the host without opening the disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mesos_hyper import log
from mesos_hyper.errors import HyperError, IntegrityError
from mesos_hyper.images.layers import apply_layer

LOG = log.get(__name__)

DISK_NAME = "base.ext4"
USER_DB_FILES = ("passwd", "group")
MAX_USER_DB = 1 << 20
HEADROOM = 64 << 20
BLOCK = 4096
MKFS_TIMEOUT_S = 600


@dataclass(frozen=True)
class BaseDisk:
    """An image's read-only base disk and the user databases read from it."""

    path: Path
    passwd: Path
    group: Path


def flatten(layers: Sequence[tuple[str, Path]], dest: Path, diff_ids: Sequence[str]) -> None:
    """Apply ``(digest, blob)`` layers in order into ``dest``, checking the config's diff_ids."""
    if diff_ids and len(diff_ids) != len(layers):
        raise IntegrityError(
            f"image has {len(layers)} layers but its config lists {len(diff_ids)} diff_ids"
        )
    for i, (digest, blob) in enumerate(layers):
        diff_id = apply_layer(dest, blob, digest)
        if diff_ids and diff_ids[i] != diff_id:
            raise IntegrityError(
                f"layer {digest}: content is {diff_id} but the image config expects {diff_ids[i]}"
            )


def content_size(root: Path) -> tuple[int, int]:
    """(bytes the tree needs in 4 KiB blocks, number of inodes); hardlinks count once."""
    seen: set[int] = set()
    total, inodes = 0, 1
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            inodes += 1
            if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or st.st_size > 60:
                total += -(-max(st.st_size, 1) // BLOCK) * BLOCK
    return total + BLOCK, inodes


def make_ext4(source: Path, image: Path, label: str, fs_uuid: str) -> None:
    """A sparse ext4 image of ``source`` (owners, modes, links, devices and xattrs kept)."""
    content, inodes = content_size(source)
    size = -(-(int(content * 1.1) + HEADROOM) // (1 << 20)) * (1 << 20)
    with open(image, "wb") as f:
        f.truncate(size)
    cmd = [
        "mkfs.ext4",
        "-q",
        "-F",
        "-T",
        "default",
        "-O",
        "^has_journal",
        "-m",
        "0",
        "-N",
        str(int(inodes * 1.25) + 1024),
        "-L",
        label,
        "-U",
        fs_uuid,
        "-E",
        "root_owner=0:0",
        "-d",
        str(source),
        str(image),
    ]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=MKFS_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise HyperError("mkfs.ext4 not found: install e2fsprogs") from None
    except subprocess.TimeoutExpired:
        raise HyperError(f"mkfs.ext4 took longer than {MKFS_TIMEOUT_S}s") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["(no output)"]
        raise HyperError(f"mkfs.ext4 failed for {image.name}: {lines[-1]}")


def read_user_db(rootfs: Path, name: str) -> bytes:
    """The image's /etc/<name> if it is a plain file; symlinks are not followed (on the host)."""
    try:
        etc = os.open(rootfs / "etc", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return b""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=etc)
    except OSError:
        return b""
    finally:
        os.close(etc)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return b""
        data = f.read(MAX_USER_DB + 1)
    if len(data) > MAX_USER_DB:
        raise IntegrityError(f"the image's /etc/{name} is larger than {MAX_USER_DB} bytes")
    return data


def disk_for(disks: Path, image_id: str) -> BaseDisk:
    where = disks / image_id.removeprefix("sha256:")
    return BaseDisk(where / DISK_NAME, where / "passwd", where / "group")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_base_disk(
    disks: Path,
    tmp: Path,
    image_id: str,
    layers: Sequence[tuple[str, Path]],
    diff_ids: Sequence[str],
) -> BaseDisk:
    """The image's base disk under ``disks``, built on first use (flattened in ``tmp``).

    Built under a temporary name and renamed into place, so a crash or error leaves nothing
    that looks finished; a per-image lock lets concurrent users wait for one builder.
    """
    disk = disk_for(disks, image_id)
    if disk.path.exists():
        return disk
    hexid = image_id.removeprefix("sha256:")
    disks.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(disks / f".{hexid}.lock"):
        if disk.path.exists():
            return disk
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f"rootfs-{hexid[:12]}.", dir=tmp))
        out = Path(tempfile.mkdtemp(prefix=f".{hexid}.", dir=disks))
        try:
            rootfs = work / "rootfs"
            rootfs.mkdir(mode=0o755)
            flatten(layers, rootfs, diff_ids)
            rootfs.chmod(0o755)
            make_ext4(rootfs, out / DISK_NAME, f"mh-{hexid[:12]}", str(uuid.UUID(hexid[:32])))
            for name in USER_DB_FILES:
                (out / name).write_bytes(read_user_db(rootfs, name))
            out.chmod(0o755)
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(disk.path.parent)  # a half-removed earlier copy
            out.rename(disk.path.parent)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
    log.event(
        LOG,
        "base disk built",
        image=image_id,
        size=disk.path.stat().st_size,
        seconds=round(time.monotonic() - started, 2),
    )
    return disk
