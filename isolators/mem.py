"""mem: guest RAM = mem + a fixed overhead, and a hard limit on the QEMU process.

The guest kernel, our init and page tables need ``GUEST_OVERHEAD_MIB`` beyond the task's
mem; QEMU itself needs ``QEMU_OVERHEAD_MIB`` beyond the guest RAM, which the host-side hard
limit allows for. ``update`` hot-plugs RAM when a request is above what the VM holds
(vmctl.resize, up to its ceiling, and says so above that) and moves the balloon.
"""

from __future__ import annotations

import libvirt

from isolators import Target, Tuning
from vmctl import resize

GUEST_OVERHEAD_MIB = 64
QEMU_OVERHEAD_MIB = 128
MIN_GUEST_MIB = 128


def guest_mib(mem_mb: float | None) -> int:
    return max(MIN_GUEST_MIB, int(mem_mb or 0) + GUEST_OVERHEAD_MIB)


class MemIsolator:
    def prepare(self, target: Target, tuning: Tuning) -> None:
        tuning.memory_mib = guest_mib(target.limits.mem_mb)

    def update(self, dom: libvirt.virDomain, target: Target) -> list[str]:
        if not target.limits.mem_mb:
            return []
        try:
            want, problems = resize.memory(dom, guest_mib(target.limits.mem_mb))
        except libvirt.libvirtError as err:
            want = min(guest_mib(target.limits.mem_mb), dom.maxMemory() // 1024)
            problems = [f"memory not hot-plugged: {err.get_error_message()}"]
        try:
            dom.setMemoryParameters(
                {"hard_limit": (want + QEMU_OVERHEAD_MIB) * 1024}, libvirt.VIR_DOMAIN_AFFECT_LIVE
            )
        except libvirt.libvirtError as err:
            problems.append(f"memory hard limit not applied: {err.get_error_message()}")
        try:
            dom.setMemoryFlags(want * 1024, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as err:
            problems.append(f"balloon not moved: {err.get_error_message()}")
        return problems

    def usage(self, dom: libvirt.virDomain, target: Target) -> dict[str, float | int]:
        mem = dom.memoryStats()
        stats: dict[str, float | int] = {}
        if "rss" in mem:
            stats["mem_rss_bytes"] = int(mem["rss"]) * 1024
        if "actual" in mem:
            stats["mem_total_bytes"] = int(mem["actual"]) * 1024
        if target.limits.mem_mb:
            stats["mem_limit_bytes"] = int(target.limits.mem_mb * (1 << 20))
        return stats

    def cleanup(self, container_id: str) -> None:
        """Nothing: guest RAM and the hard limit go with the domain."""
