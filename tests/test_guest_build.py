"""The guest build is reproducible and idempotent; the accelerator choice is cached/overridable."""

from __future__ import annotations

import json

import pytest

from mesos_hyper.config import Paths
from mesos_hyper.errors import UsageError
from vmctl import accel
from vmctl.guest.build import build_guest


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
