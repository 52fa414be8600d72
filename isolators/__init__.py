"""Resource isolators: one module per resource behind one small interface.

Each isolator turns a container's limits into VM settings before boot (``prepare``),
changes them on a running VM (``update``, returning what it could not apply), and reports
usage in ResourceStatistics' field names (``usage``). The executor and the ECP call them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import libvirt


@dataclass(frozen=True)
class Limits:
    cpus: float | None = None
    mem_mb: float | None = None
    disk_mb: float | None = None
    sandbox: str | None = None  # counted in disk usage


@dataclass
class Tuning:
    """What isolators set on a domain before it boots."""

    vcpus: int = 1
    memory_mib: int = 256
    cpu_period_us: int | None = None
    cpu_quota_us: int | None = None
    disk_room_bytes: int = 0  # writable room above the image (the overlay's extra size)
    enforce_disk: bool = False
    notes: list[str] = field(default_factory=list)


class Isolator(Protocol):
    def prepare(self, limits: Limits, tuning: Tuning) -> None: ...

    def update(self, dom: libvirt.virDomain, limits: Limits) -> list[str]: ...

    def usage(self, dom: libvirt.virDomain, limits: Limits) -> dict[str, float | int]: ...


def all_isolators() -> list[Isolator]:
    from isolators import cpu, disk, mem

    return [cpu.CpuIsolator(), mem.MemIsolator(), disk.DiskIsolator()]


def prepare(limits: Limits) -> Tuning:
    tuning = Tuning()
    for isolator in all_isolators():
        isolator.prepare(limits, tuning)
    return tuning


def update(dom: libvirt.virDomain, limits: Limits) -> list[str]:
    problems: list[str] = []
    for isolator in all_isolators():
        problems += isolator.update(dom, limits)
    return problems


def usage(dom: libvirt.virDomain, limits: Limits) -> dict[str, float | int]:
    stats: dict[str, float | int] = {}
    for isolator in all_isolators():
        stats.update(isolator.usage(dom, limits))
    return stats
