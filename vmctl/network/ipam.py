"""Pod addresses: one lease file per address, so a crash never hands an address out twice.

A lease is made complete in a temporary file and then hard-linked to its address's name:
the link either wins the address atomically or fails because another process holds it.
Leases of containers that are gone are dropped on recovery (``collect``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import tempfile

from mesos_hyper.errors import HyperError
from vmctl.network.settings import NetSettings


def leases(settings: NetSettings) -> dict[ipaddress.IPv4Address, str]:
    found = {}
    if not settings.lease_dir.is_dir():
        return found
    for entry in settings.lease_dir.iterdir():
        try:
            addr = ipaddress.IPv4Address(entry.name)
        except ValueError:
            continue
        with contextlib.suppress(OSError):
            found[addr] = entry.read_text().strip()
    return found


def lease_of(settings: NetSettings, container_id: str) -> ipaddress.IPv4Address | None:
    for addr, owner in leases(settings).items():
        if owner == container_id:
            return addr
    return None


def allocate(settings: NetSettings, container_id: str) -> ipaddress.IPv4Address:
    """The container's address; the same one again if it already has a lease."""
    existing = lease_of(settings, container_id)
    if existing is not None:
        return existing
    settings.lease_dir.mkdir(parents=True, exist_ok=True)
    taken = set(leases(settings))
    fd, tmp = tempfile.mkstemp(dir=settings.lease_dir, prefix=".lease-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(container_id + "\n")
            f.flush()
            os.fsync(f.fileno())
        for addr in settings.subnet.hosts():
            if addr == settings.gateway or addr in taken:
                continue
            try:
                os.link(tmp, settings.lease_dir / str(addr))
            except FileExistsError:
                continue
            return addr
    finally:
        os.unlink(tmp)
    raise HyperError(f"no free address left in the pod subnet {settings.subnet}")


def release(settings: NetSettings, container_id: str) -> None:
    for addr, owner in leases(settings).items():
        if owner == container_id:
            (settings.lease_dir / str(addr)).unlink(missing_ok=True)


def collect(settings: NetSettings, alive: set[str]) -> list[str]:
    """Drop the leases of containers not in ``alive``; the container ids dropped."""
    dropped = []
    for addr, owner in leases(settings).items():
        if owner not in alive:
            (settings.lease_dir / str(addr)).unlink(missing_ok=True)
            dropped.append(owner)
    return dropped
