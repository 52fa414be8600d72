"""The guest build is reproducible and idempotent; the accelerator choice is cached/overridable."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from mesos_hyper.config import Paths
from mesos_hyper.errors import HyperError, UsageError
from vmctl import accel
from vmctl.guest.build import MODULES, SIGNATURE_MARKER, build_guest, unsigned_module
from vmctl.guest.pvh import elf_for_pvh


def test_two_builds_give_identical_bytes_and_a_rebuild_is_a_no_op(tmp_path):
    first = build_guest(tmp_path / "a")
    second = build_guest(tmp_path / "b")
    assert first.kernel.read_bytes() == second.kernel.read_bytes()
    assert first.initramfs.read_bytes() == second.initramfs.read_bytes()
    mtime = first.initramfs.stat().st_mtime_ns
    again = build_guest(tmp_path / "a")
    assert again.initramfs.stat().st_mtime_ns == mtime
    manifest = json.loads(first.manifest.read_text())
    assert manifest["kernel_version"].endswith("-cloud-amd64")
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".build-")]
    # the PVH kernel that pods boot: the bzImage's own kernel, and what Paths hands out
    elf = (tmp_path / "a" / "vmlinux").read_bytes()
    assert elf == elf_for_pvh(first.kernel.read_bytes()) and elf.startswith(b"\x7fELF")
    assert manifest["vmlinux_size"] == len(elf)
    paths = Paths(tmp_path, tmp_path / "a", tmp_path / "run")
    assert paths.boot_kernel == tmp_path / "a" / "vmlinux"
    (tmp_path / "a" / "vmlinux").unlink()
    assert paths.boot_kernel == paths.kernel  # no PVH kernel: the bzImage
    assert build_guest(tmp_path / "a").kernel == first.kernel  # and a rebuild brings it back
    assert (tmp_path / "a" / "vmlinux").read_bytes() == elf


def test_what_is_not_a_bootable_bzimage_gives_no_pvh_kernel():
    real = Paths.from_env().kernel.read_bytes()
    assert elf_for_pvh(b"") is None
    assert elf_for_pvh(b"\0" * 4096) is None  # no HdrS
    assert elf_for_pvh(real[:20000]) is None  # the payload cut short
    start = (real[0x1F1] + 1) * 512 + int.from_bytes(real[0x248:0x24C], "little")
    garbled = real[:start] + b"\x28\xb5\x2f\xfd" + real[start + 4 :]  # zstd: not unpacked
    assert elf_for_pvh(garbled) is None


def _paths(tmp_path) -> Paths:
    real = Paths.from_env()
    guest = tmp_path / "guest"
    guest.mkdir()
    (guest / "vmlinuz").symlink_to(real.kernel)
    (guest / "initramfs.cpio.gz").symlink_to(real.initramfs)
    return Paths(root=tmp_path, guest=guest, run=tmp_path / "run")


def test_override_and_cache(tmp_path, monkeypatch):
    paths = _paths(tmp_path)
    monkeypatch.setenv("MESOS_HYPER_ACCEL", "tcg")
    assert accel.domain_type(paths) == "qemu"
    monkeypatch.setenv("MESOS_HYPER_ACCEL", "kvm")
    assert accel.domain_type(paths) == "kvm"
    monkeypatch.setenv("MESOS_HYPER_ACCEL", "bogus")
    with pytest.raises(UsageError, match="expected kvm or tcg"):
        accel.domain_type(paths)
    monkeypatch.delenv("MESOS_HYPER_ACCEL")
    key = accel._cache_key(paths.kernel)
    (paths.guest / "accel.json").write_text(
        json.dumps({"key": key, "domain_type": "kvm", "why": "t"})
    )
    assert accel.domain_type(paths) == "kvm"  # cached: no probe


def test_probe_without_usable_kvm_falls_back_to_tcg(tmp_path, monkeypatch):
    monkeypatch.setattr(accel, "_kvm_openable", lambda: False)
    paths = _paths(tmp_path)
    assert accel.domain_type(paths) == "qemu"
    cached = json.loads((paths.guest / "accel.json").read_text())
    assert cached["domain_type"] == "qemu" and "/dev/kvm" in cached["why"]


def _fake_probes(monkeypatch, kvm: str, tcg: str) -> None:
    """Probe VMs replaced by shell commands that behave as a guest would under each."""
    scripts = {"kvm": kvm, "tcg": tcg}
    monkeypatch.setattr(accel, "_kvm_openable", lambda: True)
    monkeypatch.setattr(accel, "probe_command", lambda _k, _i, name: ["sh", "-c", scripts[name]])


OK = f"echo booting; echo {accel.MARKER.decode()}"
HANG = "exec sleep 600"


def test_probe_takes_kvm_when_it_reaches_init_first_and_stops_the_tcg_guest(monkeypatch):
    _fake_probes(monkeypatch, kvm=f"sleep 0.3; {OK}", tcg=HANG)
    chosen, why = accel.probe(Path("k"), Path("i"))
    assert chosen == "kvm", why
    assert why.startswith("KVM reached init in") and "TCG had not" in why
    assert not _sleepers(), "the losing probe VM was left running"


def test_probe_takes_tcg_when_kvm_hangs_as_nested_kvm_does_here(monkeypatch):
    _fake_probes(monkeypatch, kvm=HANG, tcg=f"sleep 0.3; {OK}")
    assert accel.probe(Path("k"), Path("i"))[0] == "tcg"
    assert not _sleepers()


def test_probe_waits_past_a_failed_kvm_for_tcg_and_says_why(monkeypatch):
    _fake_probes(monkeypatch, kvm="echo 'failed to initialize kvm'; exit 1", tcg=f"sleep 1; {OK}")
    chosen, why = accel.probe(Path("k"), Path("i"))
    assert chosen == "tcg"
    assert "KVM failed (exit 1): failed to initialize kvm" in why


def test_a_slow_kvm_still_wins_over_a_slower_tcg(monkeypatch):
    """KVM inside a TCG-emulated node: slower than any fixed short timeout, but faster
    than nested TCG (26 s against 96 s, scaled down here)."""
    _fake_probes(monkeypatch, kvm=f"sleep 2; {OK}", tcg=f"sleep 6; {OK}")
    assert accel.probe(Path("k"), Path("i"), timeout_s=30)[0] == "kvm"


def test_probe_with_neither_at_init_in_time_falls_back_to_tcg_and_stops_both(monkeypatch):
    _fake_probes(monkeypatch, kvm=HANG, tcg=HANG)
    chosen, why = accel.probe(Path("k"), Path("i"), timeout_s=1)
    assert chosen == "tcg"
    assert why == "KVM not at init within 1s; TCG not at init within 1s"
    assert not _sleepers()


def test_the_real_guest_reaches_init_in_the_probe():
    paths = Paths.from_env()
    chosen, why = accel.probe(paths.kernel, paths.initramfs)
    assert chosen in ("kvm", "tcg")
    assert "reached init" in why, why


def _sleepers() -> list[int]:
    """Our fake probes still there: children of this process running `sleep` (reaped ones
    are gone; the suite's own helpers are children too, and are not ours to count)."""
    import os

    children = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and (
            b"sleep" in argv[0] or any(b"sleep" in a for a in argv[1:3])
        ):
            children.append(int(pid))
    return children


def signed(body: bytes, signature: bytes) -> bytes:
    info = bytes(8) + len(signature).to_bytes(4, "big")  # struct module_signature
    return body + signature + info + SIGNATURE_MARKER


def test_a_module_loses_its_appended_signature_and_nothing_else():
    body = b"\x7fELF" + bytes(range(256)) * 4
    assert unsigned_module(signed(body, b"\x30\x82" + b"s" * 500), "m.ko") == body
    assert unsigned_module(body, "m.ko") == body  # an unsigned one passes as it is


@pytest.mark.parametrize(
    "module",
    [
        b"\x7fELF" + SIGNATURE_MARKER,  # no room for the signature's info
        signed(b"\x7fELF" + b"x" * 10, b"s" * 8).replace(b"\0\0\0\x08~", b"\0\1\0\x08~"),
        signed(b"NOTELF" + b"x" * 10, b"s" * 8),
    ],
    ids=["truncated", "length-past-the-start", "not-elf"],
)
def test_a_malformed_signature_fails_the_build(module):
    with pytest.raises(HyperError, match=r"module m\.ko has a (truncated|malformed) signature"):
        unsigned_module(module, "m.ko")


def test_the_built_initramfs_holds_every_module_unsigned(tmp_path):
    built = build_guest(tmp_path / "g")
    tree = tmp_path / "tree"
    tree.mkdir()
    subprocess.run(
        ["cpio", "-id", "--quiet"], input=gzip.decompress(built.initramfs.read_bytes()),
        cwd=tree, check=True,
    )  # fmt: skip
    modules = sorted((tree / "lib/modules").glob("*.ko"))
    assert len(modules) >= len(MODULES)
    for module in modules:
        data = module.read_bytes()
        assert data.startswith(b"\x7fELF"), module.name
        assert not data.endswith(SIGNATURE_MARKER), module.name
