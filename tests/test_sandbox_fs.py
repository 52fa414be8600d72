"""Host file access to a guest-writable sandbox, against trees a hostile guest could build.

Every test plants links, fifos, device nodes, sockets, sparse files or deep trees in a
sandbox under tmp_path, next to an ``outside`` directory standing for the host; each
checks that nothing outside changed (contents, mode, mtime, listing) and that nothing was
written under /etc, which some of the planted links point to. The resolver tests run both
with openat2 and with the per-component walk used on kernels without it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from isolators import disk
from mesos_hyper.errors import UnsafeArchiveError, UnsafePathError
from mesos_hyper.executor import fetcher
from mesos_hyper.executor.fetcher import FetchError, fetch_all
from mesos_hyper.model.messages import UriSpec
from mesos_hyper.sandbox import beneath
from mesos_hyper.sandbox.usage import TreeUsage, tree_usage

MIB = 1 << 20
ETC_NAMES = ("stdout", "stderr", "tool", "x", "sub", "f", "evil", "passwd-copy")


# ---- fixtures and helpers ---------------------------------------------------------------


class Outside:
    """A stand-in for the host next to the sandbox: it and /etc must never change."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.canary = root / "canary"
        self.canary.write_bytes(b"host secret\n")
        (root / "sub").mkdir()
        (root / "sub" / "deep").write_bytes(b"deep\n")
        self.before = self._snapshot()
        self.etc_passwd = _digest(Path("/etc/passwd"))

    def _snapshot(self) -> dict[str, tuple[object, ...]]:
        seen: dict[str, tuple[object, ...]] = {}
        for path in [self.root, *sorted(self.root.rglob("*"))]:
            st = path.lstat()
            data = _digest(path) if stat.S_ISREG(st.st_mode) else ""
            seen[str(path)] = (st.st_mode, st.st_mtime_ns, st.st_size, st.st_nlink, data)
        return seen

    def assert_untouched(self) -> None:
        assert self._snapshot() == self.before, "something outside the sandbox changed"
        assert _digest(Path("/etc/passwd")) == self.etc_passwd
        for name in ETC_NAMES:
            assert not os.path.lexists(f"/etc/{name}"), f"/etc/{name} was written"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Outside]:
    guard = Outside(tmp_path / "outside")
    yield guard
    guard.assert_untouched()


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox"
    path.mkdir()
    return path


def _openat2_works() -> bool:
    fd = beneath.open_root("/")
    try:
        os.close(beneath._openat2(fd, ".", os.O_PATH | os.O_CLOEXEC, 0))
        return True
    except OSError as err:
        return err.errno != errno.ENOSYS
    finally:
        os.close(fd)


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with openat2, then as on a kernel that answers it with ENOSYS."""
    if request.param == "openat2":
        if not _openat2_works():
            pytest.skip("this kernel has no openat2")
        monkeypatch.setattr(beneath, "_openat2_missing", False)
    else:

        def enosys(dirfd: int, path: str, flags: int, mode: int) -> int:
            raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), path)

        monkeypatch.setattr(beneath, "_openat2", enosys)
        monkeypatch.setattr(beneath, "_openat2_missing", False)  # learns ENOSYS itself
    return request.param


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail instead of hanging (an open of a fifo blocks until a writer comes)."""

    def expire(_sig: int, _frame: object) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _plant(path: Path, kind: str) -> None:
    """A guest-made special file at ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "chardev":  # a /dev/null twin, as `mknod` in the guest would make one
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))
    elif kind == "directory":
        path.mkdir()
    else:
        raise AssertionError(kind)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _link_targets(outside: Outside) -> list[str]:
    return ["/etc", "..", str(outside.canary), "../outside/canary", str(outside.root)]


# ---- resolve, open_regular, open_append -------------------------------------------------


@pytest.mark.parametrize("name", ["stdout", "stderr"])
@pytest.mark.parametrize("target", range(5))
def test_output_file_planted_as_a_link_is_refused(resolver, sandbox, outside, name, target):
    link = _link_targets(outside)[target]
    (sandbox / name).symlink_to(link)
    with deadline(5), pytest.raises(UnsafePathError, match=name):
        beneath.open_append(sandbox, name)
    assert os.readlink(sandbox / name) == link  # left as the guest made it, not followed


@pytest.mark.parametrize("kind", ["fifo", "chardev", "socket", "directory"])
def test_output_file_planted_as_a_special_file_is_refused_without_opening_it(
    resolver, sandbox, outside, kind
):
    _plant(sandbox / "stdout", kind)
    with deadline(5), pytest.raises(UnsafePathError, match=r"'stdout' is a"):
        beneath.open_append(sandbox, "stdout")


def test_output_file_hard_linked_to_a_host_file_is_refused(resolver, sandbox, outside):
    os.link(outside.root / "sub" / "deep", sandbox / "stdout")
    outside.before = outside._snapshot()  # the link itself raised st_nlink out there
    with pytest.raises(UnsafePathError, match="hard links"):
        beneath.open_append(sandbox, "stdout")


def test_output_files_are_created_then_appended_to(resolver, sandbox, outside):
    first = beneath.open_append(sandbox, "stdout")
    second = beneath.open_append(sandbox, "stdout")  # e.g. a later task's, both open
    with first, second:
        first.write(b"one\n")
        second.write(b"two\n")
        first.write(b"three\n")
    assert (sandbox / "stdout").read_bytes() == b"one\ntwo\nthree\n"
    assert stat.S_IMODE((sandbox / "stdout").stat().st_mode) == 0o644


@pytest.mark.parametrize("relpath", ["/etc/passwd", "../outside/canary", "a/../../x", "a\0b"])
def test_absolute_and_dotdot_paths_are_refused_up_front(resolver, sandbox, outside, relpath):
    root = beneath.open_root(sandbox)
    try:
        with pytest.raises(UnsafePathError):
            beneath.resolve(root, relpath, os.O_RDONLY)
        with pytest.raises(UnsafePathError):
            beneath.open_regular(root, relpath, os.O_WRONLY | os.O_CREAT)
    finally:
        os.close(root)


@pytest.mark.parametrize("target", range(5))
def test_a_link_on_the_way_is_refused(resolver, sandbox, outside, target):
    (sandbox / "dir").symlink_to(_link_targets(outside)[target])
    root = beneath.open_root(sandbox)
    try:
        for relpath in ("dir/passwd", "dir/sub/deep", "dir/canary", "dir/x"):
            with pytest.raises(UnsafePathError, match="dir"):
                beneath.resolve(root, relpath, os.O_RDONLY)
            with pytest.raises(UnsafePathError):
                beneath.open_regular(root, relpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with pytest.raises(UnsafePathError):
            beneath.makedirs(root, "dir/sub/x")
        with pytest.raises(UnsafePathError):
            beneath.chmod_beneath(root, "dir/canary", 0o777)
    finally:
        os.close(root)


@pytest.mark.parametrize("kind", ["bind", "tmpfs"])
def test_a_mount_on_the_way_is_refused_and_not_counted(resolver, sandbox, outside, tmp_path, kind):
    """A bind mount keeps the device number: the mount id tells it apart."""
    other = tmp_path / "other"
    other.mkdir()
    (sandbox / "mnt").mkdir()
    source = f"--bind {other}" if kind == "bind" else "-t tmpfs none"
    if os.system(f"mount {source} {sandbox / 'mnt'} 2>/dev/null") != 0:
        pytest.skip("cannot mount here")
    root = beneath.open_root(sandbox)
    try:
        with open(sandbox / "mnt" / "x", "wb") as f:
            os.posix_fallocate(f.fileno(), 0, 16 * MIB)
        with pytest.raises(UnsafePathError):
            os.close(beneath.resolve(root, "mnt/x", os.O_PATH))
        with pytest.raises(UnsafePathError):
            os.close(beneath.makedirs(root, "mnt/y"))
        usage = tree_usage(sandbox)
        assert usage.complete and usage.entries == 1 and usage.bytes < MIB
    finally:
        os.close(root)
        os.system(f"umount {sandbox / 'mnt'}")
    assert not (other / "y").exists()


def test_write_atomically_replaces_a_link_itself_and_refuses_special_files(
    resolver, sandbox, outside
):
    (sandbox / "tool").symlink_to(outside.canary)
    _plant(sandbox / "pipe", "fifo")
    (sandbox / "dir").mkdir()
    root = beneath.open_root(sandbox)
    try:
        beneath.write_atomically(root, "tool", lambda out: out.write(b"new\n"), 0o4755)
        assert not (sandbox / "tool").is_symlink()
        assert (sandbox / "tool").read_bytes() == b"new\n"
        assert stat.S_IMODE((sandbox / "tool").stat().st_mode) == 0o755  # no setuid
        for name in ("pipe", "dir"):
            with deadline(5), pytest.raises(UnsafePathError, match=name):
                beneath.write_atomically(root, name, lambda out: out.write(b"x"))

        def boom(out):
            out.write(b"partial")
            raise RuntimeError("download failed")

        with pytest.raises(RuntimeError):
            beneath.write_atomically(root, "tool", boom)
    finally:
        os.close(root)
    assert sorted(p.name for p in sandbox.iterdir()) == ["dir", "pipe", "tool"]  # no temp
    assert (sandbox / "tool").read_bytes() == b"new\n"


@pytest.mark.parametrize("kind", ["fifo", "chardev", "link"])
def test_chmod_beneath_refuses_links_and_special_files(resolver, sandbox, outside, kind):
    if kind == "link":
        (sandbox / "f").symlink_to(outside.canary)
    else:
        _plant(sandbox / "f", kind)
    (sandbox / "ok").write_bytes(b"")
    root = beneath.open_root(sandbox)
    try:
        with deadline(5), pytest.raises(UnsafePathError):
            beneath.chmod_beneath(root, "f", 0o777)
        beneath.chmod_beneath(root, "ok", 0o6755)
    finally:
        os.close(root)
    assert stat.S_IMODE((sandbox / "ok").stat().st_mode) == 0o755


# ---- the fetcher ------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    path.mkdir()
    (path / "tool").write_bytes(b"#!/bin/sh\necho tool\n")
    return path


@pytest.mark.parametrize("target", range(5))
def test_fetch_output_file_parent_planted_as_a_link_is_refused(
    resolver, sandbox, outside, source, target
):
    (sandbox / "bin").symlink_to(_link_targets(outside)[target])
    for output in ("bin/tool", "bin/sub/tool"):
        with pytest.raises(FetchError, match="tool"):
            fetch_all([UriSpec(str(source / "tool"), output_file=output)], sandbox)
    assert sorted(p.name for p in sandbox.iterdir()) == ["bin"]


@pytest.mark.parametrize("kind", ["fifo", "chardev", "directory"])
def test_fetch_output_file_planted_as_a_special_file_is_refused(
    resolver, sandbox, outside, source, kind
):
    _plant(sandbox / "tool", kind)
    with deadline(5), pytest.raises(FetchError, match="tool"):
        fetch_all([UriSpec(str(source / "tool"), executable=True)], sandbox)
    assert [p.name for p in sandbox.iterdir()] == ["tool"]  # no temp file left


def test_fetch_replaces_a_planted_link_instead_of_writing_through_it(
    resolver, sandbox, outside, source
):
    (sandbox / "tool").symlink_to(outside.canary)
    fetch_all([UriSpec(f"file://{source / 'tool'}", executable=True)], sandbox)
    assert not (sandbox / "tool").is_symlink()
    assert (sandbox / "tool").read_bytes() == b"#!/bin/sh\necho tool\n"
    assert (sandbox / "tool").stat().st_mode & 0o111


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar_special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info


def _zip(members: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, unix_mode in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = unix_mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


HOSTILE_TARS = {
    "dotdot": [("../outside/canary", b"x"), ("../evil", b"x")],
    "dotdot-inside": [("a/../../evil", b"x")],
    "absolute": [(f"/etc/{ETC_NAMES[-1]}", b"x")],
    "link-then-file": [_tar_special("d", tarfile.SYMTYPE, "sub"), ("d/f", b"x")],
    "link-to-etc": [_tar_special("etc", tarfile.SYMTYPE, "/etc"), ("etc/passwd-copy", b"x")],
    "link-dotdot": [_tar_special("up", tarfile.SYMTYPE, "../outside"), ("up/canary", b"x")],
    "hardlink": [("f", b"x"), _tar_special("h", tarfile.LNKTYPE, "f")],
    "hardlink-out": [_tar_special("h", tarfile.LNKTYPE, "../outside/canary")],
    "fifo": [_tar_special("stdout", tarfile.FIFOTYPE)],
    "chardev": [_tar_special("null", tarfile.CHRTYPE)],
    "blockdev": [_tar_special("disk", tarfile.BLKTYPE)],
}

HOSTILE_ZIPS = {
    "dotdot": [("../evil", b"x", 0o100644)],
    "absolute": [(f"/etc/{ETC_NAMES[-1]}", b"x", 0o100644)],
    "link-then-file": [("d", b"sub", 0o120777), ("d/f", b"x", 0o100644)],
    "link-to-etc": [("etc", b"/etc", 0o120777), ("etc/passwd-copy", b"x", 0o100644)],
    "link-dotdot": [("up", b"../outside", 0o120777)],
    "fifo": [("stdout", b"", 0o010644)],
    "chardev": [("null", b"", 0o020666)],
}


def _fetch_archive(tmp_path: Path, sandbox: Path, name: str, data: bytes) -> None:
    archive = tmp_path / "src" / name
    archive.parent.mkdir(exist_ok=True)
    archive.write_bytes(data)
    fetch_all([UriSpec(str(archive))], sandbox)


@pytest.mark.parametrize("case", sorted(HOSTILE_TARS))
def test_hostile_tar_members_are_refused(resolver, sandbox, outside, tmp_path, case):
    (sandbox / "sub").mkdir()
    with deadline(10), pytest.raises(UnsafeArchiveError):
        _fetch_archive(tmp_path, sandbox, "bad.tar.gz", _tar(HOSTILE_TARS[case]))
    assert not (tmp_path / "evil").exists()
    assert not (sandbox / "sub" / "f").exists()


@pytest.mark.parametrize("case", sorted(HOSTILE_ZIPS))
def test_hostile_zip_members_are_refused(resolver, sandbox, outside, tmp_path, case):
    (sandbox / "sub").mkdir()
    with deadline(10), pytest.raises(UnsafeArchiveError):
        _fetch_archive(tmp_path, sandbox, "bad.zip", _zip(HOSTILE_ZIPS[case]))
    assert not (tmp_path / "evil").exists()
    assert not (sandbox / "sub" / "f").exists()


@pytest.mark.parametrize("fmt", ["tar", "zip"])
@pytest.mark.parametrize("target", range(5))
def test_archive_member_parent_planted_as_a_link_is_refused(
    resolver, sandbox, outside, tmp_path, fmt, target
):
    (sandbox / "app").symlink_to(_link_targets(outside)[target])
    members = [("app/canary", b"overwritten"), ("app/sub/deep", b"overwritten")]
    for member in members:
        data = _tar([member]) if fmt == "tar" else _zip([(*member, 0o100644)])
        with pytest.raises(UnsafeArchiveError, match="app"):
            _fetch_archive(tmp_path, sandbox, f"app.{fmt}", data)


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_archive_member_planted_as_a_link_is_replaced_not_followed(
    resolver, sandbox, outside, tmp_path, fmt
):
    (sandbox / "app").mkdir()
    (sandbox / "app" / "conf").symlink_to(outside.canary)
    member = ("app/conf", b"from the archive")
    data = _tar([member]) if fmt == "tar" else _zip([(*member, 0o104755)])
    _fetch_archive(tmp_path, sandbox, f"app.{fmt}", data)
    conf = sandbox / "app" / "conf"
    assert not conf.is_symlink() and conf.read_bytes() == b"from the archive"
    assert not conf.stat().st_mode & 0o7000


def test_archive_modes_lose_setuid_and_relative_links_are_kept(
    resolver, sandbox, outside, tmp_path
):
    tool = tarfile.TarInfo("v1/tool")
    tool.size, tool.mode = 3, 0o6755
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(tool, io.BytesIO(b"abc"))
        tar.addfile(_tar_special("current", tarfile.SYMTYPE, "v1"))
        tar.addfile(_tar_special("v1/self", tarfile.SYMTYPE, "./tool"))
    _fetch_archive(tmp_path, sandbox, "rel.tar", buf.getvalue())
    assert stat.S_IMODE((sandbox / "v1" / "tool").stat().st_mode) == 0o755
    assert os.readlink(sandbox / "current") == "v1"
    assert (sandbox / "current" / "self").read_bytes() == b"abc"


def test_archive_bigger_than_the_budget_is_refused(
    resolver, sandbox, outside, tmp_path, monkeypatch
):
    monkeypatch.setattr(fetcher, "MAX_DOWNLOAD", 1000)
    data = _tar([("a", b"x" * 600), ("b", b"y" * 600)])  # each fits, both do not
    with pytest.raises(UnsafeArchiveError, match="more than 1000 bytes"):
        _fetch_archive(tmp_path, sandbox, "big.tar.gz", data)
    assert not (sandbox / "b").exists()
    zipped = _zip([("a", b"x" * 600, 0o100644), ("b", b"y" * 600, 0o100644)])
    with pytest.raises(UnsafeArchiveError, match="more than 1000 bytes"):
        _fetch_archive(tmp_path, sandbox, "big.zip", zipped)
    assert not [p for p in sandbox.iterdir() if p.name.startswith(".fetch-")]


# ---- tree_usage -------------------------------------------------------------------------


def test_usage_counts_allocated_bytes_of_a_1tib_sparse_file(sandbox, outside):
    with open(sandbox / "sparse", "wb") as f:
        f.truncate(1 << 40)
        f.seek((1 << 40) - 4096)
        f.write(b"z" * 4096)
    (sandbox / "dense").write_bytes(os.urandom(MIB))
    usage = tree_usage(sandbox)
    assert usage.complete and usage.why is None and usage.entries == 2
    assert MIB <= usage.bytes < 2 * MIB


def test_usage_never_follows_links_and_counts_hard_links_once(sandbox, outside, tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "blob", "wb") as f:
        os.posix_fallocate(f.fileno(), 0, 64 * MIB)
    (sandbox / "link").symlink_to(big)
    (sandbox / "rel").symlink_to("../big/blob")
    (sandbox / "data").write_bytes(os.urandom(MIB))
    os.link(sandbox / "data", sandbox / "again")
    usage = tree_usage(sandbox)
    assert usage.complete and usage.entries == 4
    assert MIB <= usage.bytes < 2 * MIB


@pytest.mark.parametrize("kind", ["fifo", "chardev", "socket"])
def test_usage_does_not_open_special_files(sandbox, outside, kind):
    _plant(sandbox / "thing", kind)
    with deadline(5):
        usage = tree_usage(sandbox)
    assert usage.complete and usage.entries == 1


def test_usage_of_a_missing_sandbox_is_zero_and_of_a_link_is_refused(tmp_path, outside):
    assert tree_usage(tmp_path / "nope") == TreeUsage(0, 0, True, None)
    (tmp_path / "linked").symlink_to(outside.root)
    usage = tree_usage(tmp_path / "linked")
    assert not usage.complete and usage.bytes == 0


def test_usage_stops_at_max_entries(sandbox, outside):
    for i in range(50):
        (sandbox / f"f{i}").write_bytes(b"x")
    usage = tree_usage(sandbox, max_entries=10)
    assert not usage.complete and "10 entries" in (usage.why or "")
    assert usage.entries == 10
    assert tree_usage(sandbox).entries == 50


FLIPPER = """
import os, sys
real, aside, big = sys.argv[1:]
print("ready", flush=True)
while True:
    os.rename(real, aside)
    os.symlink(big, real)
    os.unlink(real)
    os.rename(aside, real)
"""


def test_usage_skips_a_directory_swapped_for_a_link_mid_walk(sandbox, outside, tmp_path):
    """A guest process flips ``d`` between a directory and a link to a big host directory
    as fast as it can while walks run; no walk may ever count the big file (64 MiB, far
    more than the whole sandbox). Stochastic: with the check broken about 1 walk in 100
    lands in the window when both processes have a CPU; the next test wins every time."""
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "blob", "wb") as f:
        os.posix_fallocate(f.fileno(), 0, 64 * MIB)
    real = sandbox / "d"
    real.mkdir()  # empty: quick walks, the most chances for the flip to land in one
    flipper = subprocess.Popen(
        [sys.executable, "-c", FLIPPER, str(real), str(sandbox / "d.real"), str(big)],
        stdout=subprocess.PIPE,
    )
    assert flipper.stdout is not None and flipper.stdout.readline() == b"ready\n"
    fds = _open_fds()
    results = []
    try:
        until = time.monotonic() + 3
        while time.monotonic() < until:
            results.append(tree_usage(sandbox))
    finally:
        flipper.kill()
        flipper.wait()
    assert _open_fds() == fds
    assert len(results) > 1000
    assert all(r.complete for r in results)
    assert max(r.bytes for r in results) < MIB
    assert max(r.entries for r in results) <= 2  # d and d.real, at most
    assert os.stat(big / "blob").st_blocks * 512 >= 64 * MIB  # the bait was there


@pytest.mark.parametrize("swap", ["link", "other-directory"])
def test_usage_skips_a_directory_swapped_between_stat_and_open(
    sandbox, outside, tmp_path, monkeypatch, swap
):
    """The guest wins the race every time: ``d`` is swapped right before the walk opens it,
    for a link to a big directory or for that directory itself (another inode)."""
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "blob", "wb") as f:
        os.posix_fallocate(f.fileno(), 0, 64 * MIB)
    (sandbox / "d").mkdir()
    real_open = os.open
    swapped = []

    def racing_open(path, flags, mode=0o777, *, dir_fd=None):
        if path == "d" and dir_fd is not None and not swapped:
            os.rename(sandbox / "d", sandbox / "d.gone")
            if swap == "link":
                (sandbox / "d").symlink_to(big)
            else:
                os.rename(big, sandbox / "d")
            swapped.append(path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", racing_open)
    usage = tree_usage(sandbox)
    monkeypatch.undo()
    assert swapped == ["d"]
    assert usage.complete and usage.bytes < MIB and usage.entries <= 2


def _chain(root: Path, depth: int) -> None:
    """``d/d/d/...`` ``depth`` deep, made through fds (the path is longer than PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.close(os.open("leaf", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    finally:
        os.close(fd)


def _remove_chain(root: Path) -> None:
    """shutil.rmtree recurses and would hit the recursion limit on this tree."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    stack = [fd]
    try:
        while True:
            names = os.listdir(stack[-1])
            if "d" not in names:
                break
            stack.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=stack[-1]))
        while stack:
            top = stack.pop()
            for name in os.listdir(top):
                if name == "d":
                    os.rmdir(name, dir_fd=top)
                else:
                    os.unlink(name, dir_fd=top)
            os.close(top)
    finally:
        for fd in stack:
            os.close(fd)


@pytest.fixture
def deep_sandbox(sandbox: Path) -> Iterator[Path]:
    _chain(sandbox, 5000)
    yield sandbox
    _remove_chain(sandbox)


@pytest.fixture
def many_fds() -> Iterator[None]:
    """Room for a full walk of the chain: two fds a level."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 12_000
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_usage_of_a_5000_deep_chain_stays_bounded(deep_sandbox, outside, many_fds):
    fds = _open_fds()
    bounded = tree_usage(deep_sandbox)
    assert not bounded.complete and "256 levels" in (bounded.why or "")
    assert bounded.entries == 256
    full = tree_usage(deep_sandbox, max_depth=10_000)
    assert full.complete and full.entries == 5001
    assert _open_fds() == fds
    why = disk.sandbox_over_quota(deep_sandbox, 1024)
    assert why is not None and "cannot be measured within the bounds" in why


def test_usage_out_of_fds_is_incomplete_not_an_error(deep_sandbox, outside):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fds = _open_fds()
    for spare in (200, 201, 202):  # run out at each of the walk's three opens a level
        resource.setrlimit(resource.RLIMIT_NOFILE, (fds + spare, hard))
        try:
            usage = tree_usage(deep_sandbox, max_depth=10_000)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert not usage.complete and "Too many open files" in (usage.why or "")
        assert _open_fds() == fds


def test_disk_quota_counts_a_measured_sandbox(sandbox, outside):
    (sandbox / "data").write_bytes(os.urandom(2 * MIB))
    assert disk.sandbox_over_quota(sandbox, 10) is None
    why = disk.sandbox_over_quota(sandbox, 1)
    assert why is not None and "over its 1 MB disk limit" in why
    assert disk.tree_bytes(sandbox) >= 2 * MIB


def test_usage_of_20k_files_is_quick(sandbox, outside):
    """A tenth of the walk timed in usage.py's docstring, with room for a slower machine."""
    for d in range(20):
        fd = os.open(sandbox, os.O_RDONLY | os.O_DIRECTORY)
        os.mkdir(f"d{d}", dir_fd=fd)
        sub = os.open(f"d{d}", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        for i in range(1000):
            os.close(os.open(f"f{i}", os.O_CREAT | os.O_WRONLY, dir_fd=sub))
        os.close(sub)
    started = time.monotonic()
    usage = tree_usage(sandbox)
    elapsed = time.monotonic() - started
    assert usage.complete and usage.entries == 20_020
    assert elapsed < 5
