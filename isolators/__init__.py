"""Resource isolators: one module per resource behind one small interface.

Each isolator turns a container's limits into VM settings before boot (``prepare``),
applies them on a running VM (``update``, returning what it could not apply; the executor
calls it when the guest's init is READY, before the task's process exists, and the ECP on
the agent's ``update``), reports usage in ResourceStatistics' field names (``usage``) and
removes what it left on the host once the VM is gone (``cleanup``, from a bare container
id, so it also works after the executor died). The executor and the ECP call them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import libvirt

from mesos_hyper.model.limits import Limits

if TYPE_CHECKING:
    from isolators.net import Attachment
    from mesos_hyper.state import ContainerRecord
    from vmctl.domain import InterfaceSpec


@dataclass(frozen=True)
class Target:
    """A container as the isolators see it: its limits, and where its host state is."""

    limits: Limits = field(default_factory=Limits)
    container_id: str = ""  # finds the container's host-side state (tap, lease)
    sandbox: str | None = None  # counted in disk usage
    network: Attachment | None = None  # the pod's NIC, set up by isolators.net.setup


def record_target(record: ContainerRecord) -> Target:
    """What the agent's ``update`` and ``usage`` hold a container to: its record's limits
    (the latest ``update``'s), its sandbox counted in its disk."""
    return Target(record.limits, record.container_id, record.sandbox)


@dataclass
class Tuning:
    """What isolators set on a domain before it boots."""

    vcpus: int = 1
    memory_mib: int = 256
    disk_room_bytes: int = 0  # writable room above the image (the overlay's extra size)
    enforce_disk: bool = False
    interface: InterfaceSpec | None = None  # the pod's NIC, None for no network
    notes: list[str] = field(default_factory=list)


class Isolator(Protocol):
    def prepare(self, target: Target, tuning: Tuning) -> None: ...

    def update(self, dom: libvirt.virDomain, target: Target) -> list[str]: ...

    def usage(self, dom: libvirt.virDomain, target: Target) -> dict[str, float | int]: ...

    def cleanup(self, container_id: str) -> None: ...


def all_isolators() -> list[Isolator]:
    from isolators import cpu, disk, mem, net

    return [cpu.CpuIsolator(), mem.MemIsolator(), disk.DiskIsolator(), net.NetIsolator()]


def prepare(target: Target) -> Tuning:
    tuning = Tuning()
    for isolator in all_isolators():
        isolator.prepare(target, tuning)
    return tuning


def update(dom: libvirt.virDomain, target: Target, *, cpu: bool = True) -> list[str]:
    """What could not be applied; a domain that vanished mid-call is one of those, never an
    error (the agent turns a failed ECP ``update`` into TASK_LOST).

    ``cpu=False`` leaves the CPU quota out: a starting task gets it from ``update_cpu`` the
    moment its process was exec'd, so that the exec is charged to the pod's set-up."""
    from isolators.cpu import CpuIsolator

    chosen = [i for i in all_isolators() if cpu or not isinstance(i, CpuIsolator)]
    return _apply(chosen, dom, target)


def update_cpu(dom: libvirt.virDomain, target: Target) -> list[str]:
    from isolators.cpu import CpuIsolator

    return _apply([CpuIsolator()], dom, target)


def _apply(chosen: list[Isolator], dom: libvirt.virDomain, target: Target) -> list[str]:
    problems: list[str] = []
    for isolator in chosen:
        try:
            problems += isolator.update(dom, target)
        except libvirt.libvirtError as err:
            problems.append(f"{type(isolator).__name__}: {err.get_error_message()}")
    return problems


def usage(dom: libvirt.virDomain, target: Target) -> dict[str, float | int]:
    stats: dict[str, float | int] = {}
    for isolator in all_isolators():
        stats.update(isolator.usage(dom, target))
    return stats


def cleanup(container_id: str) -> None:
    """Every isolator's cleanup, each tried whatever the others did; idempotent."""
    errors: list[Exception] = []
    for isolator in all_isolators():
        try:
            isolator.cleanup(container_id)
        except Exception as err:  # the other resources must still be released
            errors.append(err)
    if errors:
        raise errors[0]
