"""cpu: vCPUs = ceil(cpus) and a CFS quota on the whole VM, so cpus=0.5 gets half a core.

More cpus later (a pod member, an ``update``) hot-plug vCPUs up to the VM's ceiling
(vmctl.resize); fewer only lower the quota.

The quota is set by ``update``, not in the domain XML: our kernel and init boot, and set
the task up, unthrottled (under TCG a cpus=0.1 boot took 28 s instead of 3). A starting
task gets it the moment the guest says its process was exec'd (``update_cpu``): the exec
alone took 1-1.5 s at 0.1 cpus, and the process runs unthrottled only until the host
has read STARTED and set the quota (``exec_to_quota`` in the executor's log).
"""

from __future__ import annotations

import glob
import math
from pathlib import Path

import libvirt

from isolators import Target, Tuning
from vmctl import resize

PERIOD_US = 100_000
NS = 1e-9


def quota_us(cpus: float) -> int:
    return max(1000, int(cpus * PERIOD_US))


class CpuIsolator:
    def prepare(self, target: Target, tuning: Tuning) -> None:
        cpus = target.limits.cpus or 1.0
        tuning.vcpus = max(1, math.ceil(cpus))

    def update(self, dom: libvirt.virDomain, target: Target) -> list[str]:
        if not target.limits.cpus:
            return []
        problems = []
        try:
            dom.setSchedulerParametersFlags(
                {"global_period": PERIOD_US, "global_quota": quota_us(target.limits.cpus)},
                libvirt.VIR_DOMAIN_AFFECT_LIVE,
            )
        except libvirt.libvirtError as err:
            problems.append(f"cpu quota not applied: {err.get_error_message()}")
        try:
            problems += resize.vcpus(dom, math.ceil(target.limits.cpus))
        except libvirt.libvirtError as err:
            problems.append(f"vCPUs not hot-plugged: {err.get_error_message()}")
        return problems

    def usage(self, dom: libvirt.virDomain, target: Target) -> dict[str, float | int]:
        cpu = dom.getCPUStats(True)[0]
        stats: dict[str, float | int] = {
            "cpus_user_time_secs": cpu.get("user_time", 0) * NS,
            "cpus_system_time_secs": cpu.get("system_time", 0) * NS,
        }
        if target.limits.cpus:
            stats["cpus_limit"] = target.limits.cpus
        stats.update(_throttling(dom.name()))
        return stats

    def cleanup(self, container_id: str) -> None:
        """Nothing: the quota lives in the domain's cgroup, which goes with the domain."""


def _throttling(name: str) -> dict[str, float | int]:
    """CFS throttling counters of the domain's cgroup (v1 or v2), where the host has them."""
    patterns = (
        f"/sys/fs/cgroup/cpu/machine/*-{name}.libvirt-qemu/cpu.stat",  # cgroup v1
        f"/sys/fs/cgroup/machine/*-{name}.libvirt-qemu/cpu.stat",  # cgroup v2
        f"/sys/fs/cgroup/machine.slice/*{name}*.scope/cpu.stat",  # systemd
    )
    for path in (p for pattern in patterns for p in glob.glob(pattern)):
        try:
            fields = dict(line.split() for line in Path(path).read_text().splitlines())
        except (OSError, ValueError):
            continue
        if "nr_periods" in fields:
            throttled_ns = (
                int(fields.get("throttled_time", 0)) or int(fields.get("throttled_usec", 0)) * 1000
            )
            return {
                "cpus_nr_periods": int(fields["nr_periods"]),
                "cpus_nr_throttled": int(fields.get("nr_throttled", 0)),
                "cpus_throttled_time_secs": throttled_ns * NS,
            }
    return {}
