"""KVM where it works, QEMU TCG where it does not: decided by booting the guest once.

``/dev/kvm`` existing proves nothing (nested KVM can hang every guest), so we boot our own
kernel and initramfs with ``mh.probe=1`` under KVM and under TCG at once, and take the
first to print the init's marker (see ``probe``). The answer is cached per host kernel
and guest kernel; ``MESOS_HYPER_ACCEL`` (``kvm`` or ``tcg``) overrides it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mesos_hyper import config, log
from mesos_hyper.errors import UsageError, VMError
from mesos_hyper.fsutil import atomic_write

LOG = log.get(__name__)
MARKER = b"MESOS-HYPER-PROBE-OK"
PROBE_TIMEOUT_S = 300.0  # nested TCG in a loaded node: ~96 s unloaded
CACHE_NAME = "accel.json"
DOMAIN_TYPES = {"kvm": "kvm", "tcg": "qemu", "qemu": "qemu"}


def _cache_key(kernel: Path) -> dict[str, str]:
    digest = hashlib.sha256(kernel.read_bytes()).hexdigest()
    return {"host_kernel": platform.release(), "guest_kernel_sha256": digest}


@dataclass(frozen=True)
class CachedChoice:
    """What the last probe chose, and whether it was for this host and guest kernel."""

    domain_type: str  # kvm or qemu
    why: str
    current: bool


def cached_choice(paths: config.Paths) -> CachedChoice | None:
    """The probe's cached answer, or None when there is none (or it is unreadable)."""
    try:
        doc = json.loads((paths.guest / CACHE_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("domain_type") not in ("kvm", "qemu"):
        return None
    current = paths.kernel.is_file() and doc.get("key") == _cache_key(paths.kernel)
    return CachedChoice(str(doc["domain_type"]), str(doc.get("why", "")), current)


def _kvm_openable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def probe_command(kernel: Path, initramfs: Path, accel: str) -> list[str]:
    """qemu booting our guest in probe mode: init prints MARKER on the console and powers off."""
    return [
        "qemu-system-x86_64",
        "-accel",
        accel,
        "-m",
        "128",
        "-nographic",
        "-no-reboot",
        "-nodefaults",
        "-serial",
        "stdio",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initramfs),
        "-append",
        "console=ttyS0 quiet panic=-1 mh.probe=1",
    ]


@dataclass
class _Probe:
    """One accelerator probe boot in flight."""

    accel: str
    proc: subprocess.Popen[bytes]
    console: IO[bytes]

    def outcome(self) -> tuple[bool, str]:
        """(reached init, why) of a probe that has exited."""
        self.console.seek(0)
        output = self.console.read(1 << 20)
        if MARKER in output:
            return True, "reached init"
        tail = output.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return False, f"failed (exit {self.proc.returncode}): {tail[0][:200]}"


def probe(kernel: Path, initramfs: Path, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[str, str]:
    """Boot the guest under KVM and under TCG at once; the first to reach init wins.

    A fixed timeout on KVM alone cannot tell the cases apart: nested KVM that hangs
    never boots, while KVM inside a TCG-emulated node boots in ~26 s, several times
    faster than TCG there (~96 s) though slower than TCG on a bare host (~4 s).
    Racing them picks the fastest thing that works. Returns (accelerator, why).
    """
    if not _kvm_openable():
        return "tcg", "/dev/kvm is missing or cannot be opened"
    started = time.monotonic()
    failures: list[str] = []
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(_started(kernel, initramfs, a)) for a in ("kvm", "tcg")]
        while probes and time.monotonic() - started < timeout_s:
            for p in [p for p in probes if p.proc.poll() is not None]:
                probes.remove(p)
                works, why = p.outcome()
                if works:
                    lost = failures + [f"{q.accel.upper()} had not" for q in probes]
                    took = time.monotonic() - started
                    return p.accel, f"{p.accel.upper()} {why} in {took:.1f}s" + (
                        f" ({'; '.join(lost)})" if lost else ""
                    )
                failures.append(f"{p.accel.upper()} {why}")
            time.sleep(0.05)
        failures += [f"{p.accel.upper()} not at init within {timeout_s:.0f}s" for p in probes]
    return "tcg", "; ".join(failures)


@contextlib.contextmanager
def _started(kernel: Path, initramfs: Path, accel: str) -> Iterator[_Probe]:
    """One probe VM, killed if it still runs when the race is decided."""
    with tempfile.TemporaryFile() as console:
        proc = subprocess.Popen(
            probe_command(kernel, initramfs, accel),
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=console,
        )
        try:
            yield _Probe(accel, proc, console)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def domain_type(paths: config.Paths | None = None, *, force_probe: bool = False) -> str:
    """libvirt's domain type to use: ``kvm`` or ``qemu`` (TCG)."""
    override = os.environ.get("MESOS_HYPER_ACCEL", "").strip().lower()
    if override:
        if override not in DOMAIN_TYPES:
            raise UsageError(f"MESOS_HYPER_ACCEL={override!r}: expected kvm or tcg")
        log.event(LOG, "accelerator chosen by configuration", accel=DOMAIN_TYPES[override])
        return DOMAIN_TYPES[override]
    paths = paths or config.Paths.from_env()
    if not paths.kernel.is_file() or not paths.initramfs.is_file():
        raise VMError(f"no guest kernel in {paths.guest}: run `mesos-hyper host up`")
    cached = None if force_probe else cached_choice(paths)
    if cached is not None and cached.current:
        log.event(LOG, "accelerator from cache", accel=cached.domain_type, why=cached.why)
        return cached.domain_type
    accel, why = probe(paths.kernel, paths.initramfs)
    chosen = DOMAIN_TYPES[accel]
    doc = {"key": _cache_key(paths.kernel), "domain_type": chosen, "why": why}
    atomic_write(paths.guest / CACHE_NAME, (json.dumps(doc) + "\n").encode())
    level = log.INFO if chosen == "kvm" else log.WARNING
    log.event(LOG, "accelerator probed", level, accel=accel.upper(), why=why)
    return chosen
