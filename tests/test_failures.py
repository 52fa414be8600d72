"""Clear one-line failures: a full disk while pulling, an unreachable libvirtd."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mesos_hyper.errors import HyperError
from mesos_hyper.images.blobs import BlobStore


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_disk_full_while_storing_a_blob_leaves_nothing(tiny_fs):
    import hashlib

    data = os.urandom(256 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    store = BlobStore(tiny_fs / "blobs")
    with pytest.raises(HyperError, match="disk full"):
        store.write_stream(digest, [data[i : i + 4096] for i in range(0, len(data), 4096)])
    assert list((tiny_fs / "blobs" / "sha256").iterdir()) == []


def test_unreachable_libvirtd_says_how_to_start_it(monkeypatch):
    monkeypatch.setenv("MESOS_HYPER_LIBVIRT_URI", "qemu:///system?socket=/nonexistent/sock")
    code = (  # caught as the CLIs catch it: a HyperError, printed as one line
        "from vmctl.connection import connect\n"
        "from mesos_hyper.errors import HyperError\n"
        "try:\n    connect()\nexcept HyperError as e:\n    print(type(e).__name__, e)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert res.stdout.startswith("VMError ") and res.stdout.count("\n") == 1, res.stdout
    assert "mesos-hyper host up" in res.stdout and "/nonexistent" in res.stdout
    assert res.stderr == ""  # libvirt's own error printing is silenced


def test_ps_through_the_cli_with_unreachable_libvirtd_is_one_line(tmp_path: Path):
    env = {**os.environ, "MESOS_HYPER_LIBVIRT_URI": "qemu:///system?socket=/nonexistent/sock"}
    res = subprocess.run(
        [sys.executable, "-m", "mesos_hyper.cli", "ps"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert res.returncode != 0
    assert res.stderr.strip().count("\n") == 0 and "mesos-hyper host up" in res.stderr
