"""Resource usage of a pod VM from libvirt, in ResourceStatistics' field names."""

from __future__ import annotations

import libvirt

from mesos_hyper.errors import VMError
from vmctl.connection import connect

NS = 1e-9


def domain_usage(name: str) -> dict[str, float | int]:
    """CPU times of the QEMU process (what the host pays), guest memory and I/O counters."""
    conn = connect()
    try:
        dom = conn.lookupByName(name)
        cpu = dom.getCPUStats(True)[0]
        mem = dom.memoryStats()
    except libvirt.libvirtError as err:
        raise VMError(f"no usage for {name}: {err.get_error_message()}") from err
    usage: dict[str, float | int] = {
        "cpus_user_time_secs": cpu.get("user_time", 0) * NS,
        "cpus_system_time_secs": cpu.get("system_time", 0) * NS,
    }
    if "rss" in mem:
        usage["mem_rss_bytes"] = int(mem["rss"]) * 1024
    if "actual" in mem:
        usage["mem_total_bytes"] = int(mem["actual"]) * 1024
    return usage
