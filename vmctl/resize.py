"""Growing a running (or paused) VM within the ceilings it booted with (vmctl.sizing).

vCPUs are hot-plugged and our init brings them online; memory is hot-plugged as DIMMs,
which the guest kernel onlines itself. Neither is taken away again: a smaller request is
met by the CPU quota and the balloon, which the isolators set.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import libvirt

from vmctl.domain import DimmSpec
from vmctl.sizing import DIMM_ALIGN_MIB

UNLIMITED_KIB = 9007199254740991  # libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED (C only)


def vcpus(dom: libvirt.virDomain, want: int) -> list[str]:
    """Hot-plugs vCPUs up to ``want``; what it could not give, in words."""
    live = dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE)
    most = dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
    problems = []
    if want > most:
        problems.append(f"{want} vCPUs is above the VM's ceiling of {most}; it has {most}")
        want = most
    if want > live:
        dom.setVcpusFlags(want, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    return problems


def memory(dom: libvirt.virDomain, want_mib: int) -> tuple[int, list[str]]:
    """Hot-plugs DIMMs until the VM holds ``want_mib`` of RAM, within its ``maxMemory``.

    Returns the RAM it can now give (``want_mib`` or less) and what it could not give."""
    total = dom.maxMemory() // 1024
    if want_mib <= total:
        return want_mib, []
    ceiling = max_memory_mib(dom)
    add = -(-(want_mib - total) // DIMM_ALIGN_MIB) * DIMM_ALIGN_MIB
    add = min(add, (ceiling - total) // DIMM_ALIGN_MIB * DIMM_ALIGN_MIB)
    if add > 0:
        with _no_hard_limit(dom):
            xml = ET.tostring(DimmSpec(add).element(), encoding="unicode")
            dom.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        total = dom.maxMemory() // 1024
    if want_mib <= total:
        return want_mib, []
    return total, [
        f"mem {want_mib} MiB is above the VM's ceiling of {ceiling} MiB; it has {total} MiB"
    ]


def max_memory_mib(dom: libvirt.virDomain) -> int:
    """The most RAM the VM can ever hold: its ``maxMemory`` (libvirt writes it in KiB), or
    what it booted with when it has none."""
    found = ET.fromstring(dom.XMLDesc(0)).find("maxMemory")
    if found is None or not (found.text or "").isdigit() or found.get("unit", "KiB") != "KiB":
        return dom.maxMemory() // 1024
    return int(found.text or 0) // 1024


@contextlib.contextmanager
def _no_hard_limit(dom: libvirt.virDomain) -> Iterator[None]:
    """Hot-plugging RAM into a VM with a memory hard limit makes libvirt raise QEMU's
    RLIMIT_MEMLOCK to that limit, which needs CAP_SYS_RESOURCE: a libvirtd without it (in a
    container, as in CI) fails the plug. Without a hard limit it leaves the rlimit alone. The
    limit is lifted for the plug only, and put back; the mem isolator then sets the new one."""
    hard = dom.memoryParameters(libvirt.VIR_DOMAIN_AFFECT_LIVE).get("hard_limit", UNLIMITED_KIB)
    if hard >= UNLIMITED_KIB:
        yield
        return
    dom.setMemoryParameters({"hard_limit": UNLIMITED_KIB}, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    try:
        yield
    finally:
        dom.setMemoryParameters({"hard_limit": hard}, libvirt.VIR_DOMAIN_AFFECT_LIVE)
