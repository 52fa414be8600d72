"""Layer unpacking: Docker/OCI whiteout semantics, metadata, and hostile archives."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mesos_hyper.errors import HyperError, IntegrityError, UnsafeArchiveError
from mesos_hyper.images.build import Entry, layer_from_entries, opaque, whiteout
from mesos_hyper.images.layers import apply_layer
from tests.image_fixtures import apply_entries, write_layer


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    rootfs, blobs = tmp_path / "rootfs", tmp_path / "blobs"
    rootfs.mkdir()
    blobs.mkdir()
    return rootfs, blobs


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_whiteouts_and_opaque_dirs_hide_only_lower_layers(dirs: tuple[Path, Path]) -> None:
    rootfs, blobs = dirs
    apply_entries(
        rootfs,
        blobs,
        [
            Entry("etc", "dir"),
            Entry("etc/keep", data=b"k"),
            Entry("etc/gone", data=b"g"),
            Entry("var", "dir"),
            Entry("var/cache", "dir"),
            Entry("var/cache/a", data=b"a"),
            Entry("var/cache/sub", "dir"),
            Entry("var/cache/sub/b", data=b"b"),
            Entry("opt", "dir"),
            Entry("opt/tree", "dir"),
            Entry("opt/tree/x", data=b"x"),
        ],
        [
            whiteout("etc/gone"),
            whiteout("opt/tree"),
            whiteout("etc/never-existed"),
            # this layer's own entry survives its own opaque marker, even listed first
            Entry("var/cache/sub", "dir"),
            Entry("var/cache/sub/new", data=b"n"),
            opaque("var/cache"),
            Entry("etc/added", data=b"new"),
            whiteout("etc/added"),  # a whiteout never hides its own layer's file
        ],
    )
    assert tree(rootfs) == {
        "etc",
        "etc/keep",
        "etc/added",
        "var",
        "var/cache",
        "var/cache/sub",
        "var/cache/sub/new",
        "opt",
    }
    assert (rootfs / "etc/added").read_bytes() == b"new"


def test_replacing_types_and_metadata(dirs: tuple[Path, Path]) -> None:
    rootfs, blobs = dirs
    apply_entries(
        rootfs,
        blobs,
        [
            Entry("a", "dir"),
            Entry("a/child", data=b"c"),
            Entry("b", data=b"file"),
            Entry("lib", "symlink", target="usr/lib"),
        ],
        [
            Entry("a", data=b"now a file"),  # a file replaces a whole directory
            Entry("b", "dir", mode=0o750, uid=7, gid=8),
            Entry("lib", "dir"),  # a directory replaces a symlink
            Entry("lib/x", data=b"x"),
            Entry("bin", "dir"),
            Entry("bin/su", data=b"\x7fELF", mode=0o4755, uid=0, gid=0, mtime=1_600_000_000),
            Entry("bin/app", data=b"app", mode=0o2711, uid=1000, gid=1001),
            Entry("bin/su-link", "hardlink", target="bin/su"),
            Entry("bin/sh", "symlink", target="/bin/busybox", uid=5, gid=6),
            Entry("bin/rel", "symlink", target="../../../../outside"),
            Entry("dev", "dir"),
            Entry("dev/null", "char", major=1, minor=3, mode=0o666),
            Entry("dev/loop0", "block", major=7, minor=0, mode=0o660, gid=6),
            Entry("run", "dir"),
            Entry("run/fifo", "fifo", mode=0o620),
            Entry("tmp", "dir", mode=0o1777, mtime=1_500_000_000),
            Entry("data", data=b"xattr", xattrs={"user.mesos": b"hyper"}),
        ],
    )
    assert (rootfs / "a").read_bytes() == b"now a file"
    assert stat.S_IMODE((rootfs / "b").stat().st_mode) == 0o750
    assert ((rootfs / "b").stat().st_uid, (rootfs / "b").stat().st_gid) == (7, 8)
    assert (rootfs / "lib").is_dir() and not (rootfs / "lib").is_symlink()
    su = (rootfs / "bin/su").stat()
    assert stat.S_IMODE(su.st_mode) == 0o4755 and su.st_mtime == 1_600_000_000
    assert su.st_nlink == 2 and (rootfs / "bin/su-link").stat().st_ino == su.st_ino
    app = (rootfs / "bin/app").stat()
    assert (stat.S_IMODE(app.st_mode), app.st_uid, app.st_gid) == (0o2711, 1000, 1001)
    assert os.readlink(rootfs / "bin/sh") == "/bin/busybox"
    assert (rootfs / "bin/sh").lstat().st_uid == 5
    assert os.readlink(rootfs / "bin/rel") == "../../../../outside"
    null = (rootfs / "dev/null").stat()
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    loop = (rootfs / "dev/loop0").stat()
    assert stat.S_ISBLK(loop.st_mode) and loop.st_rdev == os.makedev(7, 0) and loop.st_gid == 6
    fifo = (rootfs / "run/fifo").stat()
    assert stat.S_ISFIFO(fifo.st_mode) and stat.S_IMODE(fifo.st_mode) == 0o620
    tmp = (rootfs / "tmp").stat()
    assert stat.S_IMODE(tmp.st_mode) == 0o1777 and tmp.st_mtime == 1_500_000_000
    assert os.getxattr(rootfs / "data", "user.mesos") == b"hyper"


def test_implicit_parents_and_absolute_names(dirs: tuple[Path, Path]) -> None:
    rootfs, blobs = dirs
    apply_entries(
        rootfs, blobs, [Entry("/usr/share/doc/x", data=b"x"), Entry("./etc/y", data=b"y")]
    )
    assert (rootfs / "usr/share/doc/x").read_bytes() == b"x"
    assert (rootfs / "etc/y").read_bytes() == b"y"
    assert stat.S_IMODE((rootfs / "usr/share").stat().st_mode) == 0o755


def _refused(rootfs: Path, blobs: Path, entries: list[Entry], needle: str) -> None:
    layer = layer_from_entries(entries)
    with pytest.raises(UnsafeArchiveError) as err:
        apply_layer(rootfs, write_layer(blobs, layer), layer.digest)
    assert layer.digest in str(err.value) and needle in str(err.value)


def test_dotdot_names_and_link_targets_are_refused(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    rootfs, blobs = dirs
    _refused(rootfs, blobs, [Entry("../escape", data=b"x")], "'../escape'")
    _refused(rootfs, blobs, [Entry("a/../../escape", data=b"x")], "'a/../../escape'")
    _refused(rootfs, blobs, [Entry("pw", "hardlink", target="../../etc/passwd")], "'pw'")
    _refused(rootfs, blobs, [Entry("d", "dir"), Entry("h", "hardlink", target="d")], "'h'")
    assert not (tmp_path / "escape").exists()
    assert tree(rootfs) <= {"a", "d"}


def test_writes_through_symlinks_across_layers_are_refused(
    tmp_path: Path, dirs: tuple[Path, Path]
) -> None:
    rootfs, blobs = dirs
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("safe")
    apply_entries(
        rootfs,
        blobs,
        [
            Entry("etc", "symlink", target=str(outside)),
            Entry("rel", "symlink", target="../outside"),
        ],
    )
    _refused(rootfs, blobs, [Entry("etc/passwd", data=b"pwned")], "symlink 'etc'")
    _refused(rootfs, blobs, [Entry("rel/victim", data=b"pwned")], "symlink 'rel'")
    _refused(rootfs, blobs, [whiteout("etc/victim")], "'etc/.wh.victim'")
    _refused(rootfs, blobs, [opaque("rel")], "symlink 'rel'")
    _refused(rootfs, blobs, [Entry("h", "hardlink", target="etc/victim")], "'h'")
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_text() == "safe"


def test_corrupt_and_unsupported_layers(dirs: tuple[Path, Path]) -> None:
    rootfs, blobs = dirs
    zstd = blobs / "zstd"
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 64)
    with pytest.raises(HyperError, match="zstd-compressed"):
        apply_layer(rootfs, zstd, "sha256:zz")
    garbage = blobs / "garbage"
    garbage.write_bytes(b"this is not a tar" * 100)
    with pytest.raises(IntegrityError, match="sha256:gg"):
        apply_layer(rootfs, garbage, "sha256:gg")
    layer = layer_from_entries([Entry("big", data=b"x" * 100_000)])
    truncated = blobs / "truncated"
    truncated.write_bytes(layer.blob[: len(layer.blob) // 2])
    with pytest.raises(IntegrityError, match="sha256:tt"):
        apply_layer(rootfs, truncated, "sha256:tt")
    with pytest.raises(UnsafeArchiveError, match="exceeds 50000 bytes"):
        apply_layer(rootfs, write_layer(blobs, layer), layer.digest, limit=50_000)


def test_plain_tar_layers(dirs: tuple[Path, Path]) -> None:
    rootfs, blobs = dirs
    layer = layer_from_entries([Entry("hello", data=b"hi")], compress=False)
    assert apply_layer(rootfs, write_layer(blobs, layer), layer.digest) == layer.diff_id
    assert (rootfs / "hello").read_bytes() == b"hi"


def test_directory_replaced_later_in_the_same_layer(dirs: tuple[Path, Path]) -> None:
    rootfs, blobs = dirs
    apply_entries(
        rootfs,
        blobs,
        [
            Entry("d", "dir"),
            Entry("d/x", data=b"x"),
            Entry("d", "symlink", target="/elsewhere"),
        ],
    )
    assert os.readlink(rootfs / "d") == "/elsewhere"
