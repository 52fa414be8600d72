"""How far a running VM can grow: the vCPU and memory ceilings every VM boots with.

A pod member that joins, an ``update`` or a pool claim for a bigger task all need more than
the VM booted with. A VM therefore boots with room (libvirt ``maxvcpus`` and ``maxMemory``):
vCPUs are hot-plugged and our init onlines them, memory comes in DIMMs that the kernel
onlines (``memhp_default_state=online``). The room costs address space, not RAM.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mesos_hyper.config import env_int
from mesos_hyper.errors import HyperError

DIMM_ALIGN_MIB = 128  # the guest kernel onlines memory in 128 MiB blocks
MEMORY_SLOTS = 16  # DIMMs a VM can take over its life


def _host_memory_mib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise HyperError("no MemTotal in /proc/meminfo")


@dataclass(frozen=True)
class Ceilings:
    """How far a VM can grow by hot-plug (vCPUs and RAM)."""

    vcpus: int
    memory_mib: int

    @classmethod
    def from_env(cls) -> Ceilings:
        """MESOS_HYPER_MAX_VCPUS and MESOS_HYPER_MAX_MEMORY_MIB; the host's own by default."""
        vcpus = env_int("MESOS_HYPER_MAX_VCPUS", os.cpu_count() or 1, 1)
        memory = env_int("MESOS_HYPER_MAX_MEMORY_MIB", _host_memory_mib(), DIMM_ALIGN_MIB)
        return cls(vcpus, memory - memory % DIMM_ALIGN_MIB)

    def at_least(self, vcpus: int, memory_mib: int) -> Ceilings:
        """A VM's ceilings: never below what it boots with."""
        return Ceilings(max(self.vcpus, vcpus), max(self.memory_mib, memory_mib))
