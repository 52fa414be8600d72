"""KVM where it works, QEMU TCG where it does not: decided by booting the guest once.

``/dev/kvm`` existing proves nothing (nested KVM can hang every guest), so we boot our own
kernel and initramfs under KVM with ``mh.probe=1`` and wait for the init's marker with a
timeout. The answer is cached per host kernel and guest kernel; ``MESOS_HYPER_ACCEL``
(``kvm`` or ``tcg``) overrides it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from mesos_hyper import config, log
from mesos_hyper.errors import UsageError, VMError
from mesos_hyper.fsutil import atomic_write

LOG = logging.getLogger(__name__)
MARKER = b"MESOS-HYPER-PROBE-OK"
PROBE_TIMEOUT_S = 20.0
CACHE_NAME = "accel.json"
DOMAIN_TYPES = {"kvm": "kvm", "tcg": "qemu", "qemu": "qemu"}


def _cache_key(kernel: Path) -> dict[str, str]:
    digest = hashlib.sha256(kernel.read_bytes()).hexdigest()
    return {"host_kernel": platform.release(), "guest_kernel_sha256": digest}


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


def probe_kvm(
    kernel: Path, initramfs: Path, timeout_s: float = PROBE_TIMEOUT_S
) -> tuple[bool, str]:
    """Boot the guest under KVM; (works, why)."""
    if not _kvm_openable():
        return False, "/dev/kvm is missing or cannot be opened"
    with tempfile.TemporaryFile() as console:
        cmd = probe_command(kernel, initramfs, "kvm")
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=console, stderr=console)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return False, f"a KVM guest did not finish booting within {timeout_s:.0f}s"
        console.seek(0)
        output = console.read(1 << 20)
    if MARKER in output:
        return True, f"a KVM guest booted in {time.monotonic() - started:.1f}s"
    tail = output.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return False, f"a KVM guest failed (exit {proc.returncode}): {tail[0][:200]}"


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
    key = _cache_key(paths.kernel)
    cache = paths.guest / CACHE_NAME
    if not force_probe:
        try:
            doc = json.loads(cache.read_text())
            if doc.get("key") == key and doc.get("domain_type") in ("kvm", "qemu"):
                log.event(
                    LOG, "accelerator from cache", accel=doc["domain_type"], why=doc.get("why")
                )
                return str(doc["domain_type"])
        except (OSError, ValueError):
            pass
    works, why = probe_kvm(paths.kernel, paths.initramfs)
    chosen = "kvm" if works else "qemu"
    atomic_write(
        cache, (json.dumps({"key": key, "domain_type": chosen, "why": why}) + "\n").encode()
    )
    level = logging.INFO if works else logging.WARNING
    log.event(LOG, "accelerator probed", level, accel="KVM" if works else "TCG", why=why)
    return chosen
