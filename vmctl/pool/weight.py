"""A pool VM boots at the lowest CPU weight and gets its weight back when it is claimed.

Its QEMU is libvirtd's child, so the filler's own nice does not reach the boot; the
domain's cgroup weight does, and keeps refills from starving running tasks on a small host.
"""

from __future__ import annotations

import libvirt

from mesos_hyper import log

LOG = log.get(__name__)
BOOT_CPU_SHARES = 2  # libvirt's lowest


def lower(dom: libvirt.virDomain) -> int:
    """Returns the weight to restore at claim (0: none was changed)."""
    try:
        shares = int(dom.schedulerParameters().get("cpu_shares", 0))
        dom.setSchedulerParametersFlags(
            {"cpu_shares": BOOT_CPU_SHARES}, libvirt.VIR_DOMAIN_AFFECT_LIVE
        )
    except libvirt.libvirtError as err:
        log.event(LOG, "pool VM boots at normal weight", log.WARNING, error=err)
        return 0
    return shares


def restore(dom: libvirt.virDomain, shares: int) -> None:
    if shares:
        dom.setSchedulerParametersFlags({"cpu_shares": shares}, libvirt.VIR_DOMAIN_AFFECT_LIVE)
