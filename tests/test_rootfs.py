"""Flattening layers into the ext4 base disk, inspected with debugfs (nothing mounted)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mesos_hyper.errors import IntegrityError, UnsafeArchiveError
from mesos_hyper.images.build import Entry, layer_from_entries, opaque, whiteout
from mesos_hyper.images.rootfs import DISK_NAME, ensure_base_disk
from tests.image_fixtures import debugfs, write_layer

IMAGE_ID = "sha256:" + "ab" * 32

LOWER = [
    Entry("etc", "dir"),
    Entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
    Entry("etc/group", data=b"root:x:0:\napp:x:1000:\n"),
    Entry("etc/old", data=b"old"),
    Entry("cache", "dir"),
    Entry("cache/stale", data=b"s"),
]
UPPER = [
    whiteout("etc/old"),
    opaque("cache"),
    Entry("cache/fresh", data=b"f"),
    Entry("bin", "dir"),
    Entry("bin/busybox", data=b"\x7fELF" + b"\0" * 5000, mode=0o4755),
    Entry("bin/sh", "symlink", target="/bin/busybox"),
    Entry("bin/ash", "hardlink", target="bin/busybox"),
    Entry("dev", "dir"),
    Entry("dev/console", "char", major=5, minor=1, mode=0o600),
    Entry("home", "dir"),
    Entry("home/app", "dir", mode=0o750, uid=1000, gid=1000),
    Entry("tmp", "dir", mode=0o1777),
]


def _layers(tmp_path: Path, *entry_lists: list[Entry]) -> list[tuple[str, Path, str]]:
    out = []
    for entries in entry_lists:
        layer = layer_from_entries(entries)
        out.append((layer.digest, write_layer(tmp_path, layer), layer.diff_id))
    return out


def _ls(disk: Path, path: str) -> dict[str, list[str]]:
    rows = {}
    for line in debugfs(disk, f"ls -l {path}").splitlines():
        fields = line.split()
        if fields:
            rows[fields[-1]] = fields
    return rows


def test_base_disk_keeps_content_and_metadata(tmp_path: Path) -> None:
    layers = _layers(tmp_path, LOWER, UPPER)
    disks, scratch = tmp_path / "disks", tmp_path / "scratch"
    disk = ensure_base_disk(
        disks, scratch, IMAGE_ID, [(d, p) for d, p, _ in layers], [i for _, _, i in layers]
    )
    assert disk.path.name == DISK_NAME and disk.path.parent == disks / ("ab" * 32)
    assert disk.passwd.read_text().startswith("root:x:0:0")
    assert disk.group.read_text() == "root:x:0:\napp:x:1000:\n"

    root = _ls(disk.path, "/")
    assert set(root) >= {"etc", "cache", "bin", "dev", "home", "tmp"}
    assert root["tmp"][1] == "41777"
    assert root["."][1:4] == ["40755", "(2)", "0"]
    etc = _ls(disk.path, "/etc")
    assert "old" not in etc and "passwd" in etc
    assert set(_ls(disk.path, "/cache")) == {".", "..", "fresh"}
    bins = _ls(disk.path, "/bin")
    assert bins["busybox"][1] == "104755" and bins["busybox"][0] == bins["ash"][0]
    assert bins["sh"][1] == "120777"
    assert 'Fast link dest: "/bin/busybox"' in debugfs(disk.path, "stat /bin/sh")
    console = debugfs(disk.path, "stat /dev/console")
    assert "Type: character special" in console
    assert re.search(r"Device major/minor number: 05:01", console)
    app = debugfs(disk.path, "stat /home/app")
    assert re.search(r"User:\s+1000\s+Group:\s+1000", app) and "Mode:  0750" in app
    assert debugfs(disk.path, "cat /cache/fresh") == "f"

    features = subprocess.run(
        ["dumpe2fs", "-h", str(disk.path)], capture_output=True, text=True, check=True
    ).stdout
    assert "has_journal" not in features and "resize_inode" in features
    assert f"mh-{'ab' * 6}" in features
    # sparse: the file claims the full size but occupies about the content
    assert disk.path.stat().st_size >= 64 << 20 and disk.path.stat().st_blocks * 512 < 8 << 20
    # cached: a second call returns the same disk without rebuilding
    inode = disk.path.stat().st_ino
    again = ensure_base_disk(disks, scratch, IMAGE_ID, [], [])
    assert again == disk and disk.path.stat().st_ino == inode
    assert list(scratch.iterdir()) == []
    assert [p.name for p in disks.iterdir() if not p.name.endswith(".lock")] == ["ab" * 32]


@pytest.mark.parametrize("bad", ["diff_id", "hostile"])
def test_failed_builds_leave_nothing(tmp_path: Path, bad: str) -> None:
    layers = _layers(
        tmp_path, LOWER, [Entry("x/../../y", data=b"y")] if bad == "hostile" else UPPER
    )
    diff_ids = [i for _, _, i in layers]
    if bad == "diff_id":
        diff_ids[1] = "sha256:" + "0" * 64
    disks, scratch = tmp_path / "disks", tmp_path / "scratch"
    with pytest.raises(UnsafeArchiveError if bad == "hostile" else IntegrityError):
        ensure_base_disk(disks, scratch, IMAGE_ID, [(d, p) for d, p, _ in layers], diff_ids)
    assert list(scratch.iterdir()) == []
    assert [p.name for p in disks.iterdir() if not p.name.endswith(".lock")] == []
