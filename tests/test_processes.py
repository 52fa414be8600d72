"""vmctl.processes: a domain's QEMU and virtiofsd are killed, and nothing else ever is."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vmctl import processes

SLEEPER = "import time; time.sleep(60)"


class FakeDomain:
    """What kill() asks of a libvirt domain."""

    def __init__(self, name: str, dom_id: int = 7) -> None:
        self._name, self._id = name, dom_id

    def name(self) -> str:
        return self._name

    def ID(self) -> int:
        return self._id


def _start(argv0: str, *args: str) -> subprocess.Popen[bytes]:
    """A python sleeping under another argv[0], reaped by a thread as its parent would."""
    proc = subprocess.Popen(
        ["bash", "-c", 'exec -a "$0" "$@"', argv0, sys.executable, "-c", SLEEPER, *args]
    )
    threading.Thread(target=proc.wait, daemon=True).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the exec happened
        if Path(f"/proc/{proc.pid}/cmdline").read_bytes().startswith(argv0.encode()):
            return proc
        time.sleep(0.01)
    raise AssertionError("the fake process did not start")


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "RUN_DIR", tmp_path)
    return tmp_path


def test_the_domains_qemu_and_virtiofsd_are_killed_and_reaped(run_dir):
    name = "mh-pool-0123456789abcdef"  # longer than libvirt's 20-character short name
    qemu = _start("/usr/bin/qemu-system-x86_64", "-name", f"guest={name},debug-threads=on")
    fsd = _start("/usr/lib/qemu/virtiofsd", "--fd=3")
    (run_dir / f"{name}.pid").write_text(str(qemu.pid))
    (run_dir / f"7-{name[:20]}-fs0-fs.pid").write_text(str(fsd.pid))
    processes.kill(FakeDomain(name))
    assert qemu.poll() is not None and fsd.poll() is not None
    assert not Path(f"/proc/{qemu.pid}").exists() and not Path(f"/proc/{fsd.pid}").exists()


def test_pid_files_naming_other_processes_are_not_followed(run_dir):
    name = "mh-pool-aaaa"
    others = [
        _start("/usr/bin/qemu-system-x86_64", "-name", "guest=mh-pool-bbbb,debug-threads=on"),
        _start("sleeper"),
        _start("/usr/bin/qemu-system-x86_64", "-name", f"guest={name},debug-threads=on"),
    ]
    (run_dir / f"{name}.pid").write_text(str(others[0].pid))  # another domain's QEMU
    (run_dir / f"7-{name}-fs0-fs.pid").write_text(str(others[1].pid))  # not a virtiofsd
    (run_dir / f"8-{name}-fs0-fs.pid").write_text(str(others[2].pid))  # another domain id
    try:
        processes.kill(FakeDomain(name))
        time.sleep(0.2)
        assert all(proc.poll() is None for proc in others)
        for junk in ("", "x", "-1", "1", "99999999999", f"{others[0].pid}\n{others[1].pid}"):
            (run_dir / f"{name}.pid").write_text(junk)
            processes.kill(FakeDomain(name))
        assert all(proc.poll() is None for proc in others)
    finally:
        for proc in others:
            proc.kill()


def test_a_domain_that_is_not_running_is_left_alone(run_dir):
    name = "mh-pool-cccc"
    qemu = _start("/usr/bin/qemu-system-x86_64", "-name", f"guest={name},debug-threads=on")
    (run_dir / f"{name}.pid").write_text(str(qemu.pid))
    try:
        processes.kill(FakeDomain(name, dom_id=-1))
        time.sleep(0.2)
        assert qemu.poll() is None
    finally:
        qemu.kill()
