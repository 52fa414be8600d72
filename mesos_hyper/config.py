"""Where mesos-hyper keeps its state; every path can be moved by an environment variable.

Tests point ``MESOS_HYPER_ROOT`` at a temporary directory; the guest kernel is shared
and built once, so it has its own variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mesos_hyper.errors import UsageError


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name) or default)


def env_int(name: str, default: int, minimum: int) -> int:
    """A whole-number setting; a bad one is the operator's error, said in one line."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise UsageError(f"{name}={value} is below {minimum}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``; anything else is the operator's error, said in one line."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw not in choices:
        raise UsageError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


@dataclass(frozen=True)
class Paths:
    """Where our state, guest artifacts, runtime files and pool live."""

    root: Path
    guest: Path
    run: Path
    pool_dir: Path | None = None  # default: <root>/pool

    @classmethod
    def from_env(cls) -> Paths:
        return cls(
            root=_env_path("MESOS_HYPER_ROOT", "/var/lib/mesos-hyper"),
            guest=_env_path("MESOS_HYPER_GUEST_DIR", "/var/lib/mesos-hyper/guest"),
            run=_env_path("MESOS_HYPER_RUN_DIR", "/run/mesos-hyper"),
            pool_dir=Path(pool) if (pool := os.environ.get("MESOS_HYPER_POOL_DIR")) else None,
        )

    @property
    def images(self) -> Path:
        """Blob cache, image records, tags and per-image base disks."""
        return self.root / "images"

    @property
    def containers(self) -> Path:
        """Per-container overlays, channel sockets and logs."""
        return self.root / "containers"

    @property
    def run_logs(self) -> Path:
        """``mesos-hyper run`` pods' stdout and stderr while they run (``mesos-hyper logs``)."""
        return self.root / "run-logs"

    @property
    def pool(self) -> Path:
        """The warm pool's VMs (vmctl.pool). Several roots on one filesystem may share one
        pool (a claim renames a pool VM's directory into ``containers``)."""
        return self.pool_dir or self.root / "pool"

    @property
    def kernel(self) -> Path:
        return self.guest / "vmlinuz"

    @property
    def boot_kernel(self) -> Path:
        """What pods boot: the kernel as a PVH ELF where the guest build could make one
        (vmctl.guest.pvh; 0.66 s of a TCG boot quicker), else the bzImage, ``kernel``. The
        accelerator probe and the benches' floors boot ``kernel``."""
        elf = self.guest / "vmlinux"
        return elf if elf.is_file() else self.kernel

    @property
    def initramfs(self) -> Path:
        return self.guest / "initramfs.cpio.gz"


def libvirt_uri() -> str:
    return os.environ.get("MESOS_HYPER_LIBVIRT_URI", "qemu:///system")


def insecure_registries() -> set[str]:
    """Registries reached over plain http; loopback ones always are."""
    raw = os.environ.get("MESOS_HYPER_INSECURE_REGISTRIES", "")
    return {item.strip() for item in raw.split(",") if item.strip()}


def registry_retry_seconds() -> float:
    """How long a registry call keeps retrying connection errors and 5xx before giving up."""
    return float(os.environ.get("MESOS_HYPER_REGISTRY_RETRY_SECONDS") or 60)
