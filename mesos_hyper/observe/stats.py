"""``stats``: live CPU, memory, disk and network per pod, as ``docker stats`` shows them.

The figures are the ones the agent gets from the ECP's ``usage`` (the isolators'), so
the operator and Mesos see the same numbers; CPU % is the change in the VM's CPU time
between two samples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mesos_hyper.model.limits import Limits
from mesos_hyper.observe.pods import PodView
from mesos_hyper.state import Status


@dataclass(frozen=True)
class Sample:
    """One reading of a pod's counters."""

    at: float  # monotonic
    values: dict[str, float | int]


@dataclass(frozen=True)
class PodStats:
    """A pod's figures for `stats`: its counters and its CPU use since the last reading."""

    pod: PodView
    cpu_percent: float | None  # of one host CPU, over the last interval
    values: dict[str, float | int]

    def as_json(self) -> dict[str, object]:
        return {"id": self.pod.id, "cpu_percent": self.cpu_percent, **self.values}


def sample(pod: PodView, *, light: bool = False) -> Sample | None:
    """The pod's usage now; None when its VM is not running. ``light``: CPU and memory
    only, which cost no walk of the sandbox and no netlink round trip (for ``ps``)."""
    import isolators
    from vmctl.lifecycle import lookup

    if pod.domain is None or pod.domain_state not in ("running", "paused"):
        return None
    if pod.record is not None and pod.record.status != Status.RUNNING:
        return None
    dom = lookup(pod.domain)
    if dom is None:
        return None
    record = pod.record
    target = isolators.Target(
        record.limits if record else Limits(),
        pod.id,
        record.sandbox if record else None,
    )
    try:
        if light:
            from isolators.cpu import CpuIsolator
            from isolators.mem import MemIsolator

            values: dict[str, float | int] = {}
            for isolator in (CpuIsolator(), MemIsolator()):
                values.update(isolator.usage(dom, target))
        else:
            values = isolators.usage(dom, target)
    except Exception:  # the VM went between lookup and read: no figures, not an error
        return None
    return Sample(time.monotonic(), values)


def cpu_seconds(values: dict[str, float | int]) -> float:
    return float(values.get("cpus_user_time_secs", 0.0)) + float(
        values.get("cpus_system_time_secs", 0.0)
    )


def between(pod: PodView, before: Sample | None, after: Sample | None) -> PodStats:
    if after is None:
        return PodStats(pod, None, {})
    percent = None
    if before is not None and after.at > before.at:
        used = cpu_seconds(after.values) - cpu_seconds(before.values)
        percent = max(0.0, 100.0 * used / (after.at - before.at))
    return PodStats(pod, percent, after.values)


def human_bytes(value: float | int | None) -> str:
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f}{unit}" if unit == "B" else f"{amount:.1f}{unit}"
        amount /= 1024
    return f"{amount:.1f}GiB"


HEADER = ("CONTAINER", "CPU %", "CPU LIMIT", "MEM USAGE / LIMIT", "DISK", "NET RX / TX")


def row(stats: PodStats) -> tuple[str, ...]:
    v = stats.values
    if not v:
        return (stats.pod.id, "-", "-", "-", "-", "-")
    limit = v.get("mem_limit_bytes") or v.get("mem_total_bytes")
    return (
        stats.pod.id,
        "-" if stats.cpu_percent is None else f"{stats.cpu_percent:.1f}%",
        f"{v['cpus_limit']:g}" if "cpus_limit" in v else "-",
        f"{human_bytes(v.get('mem_rss_bytes'))} / {human_bytes(limit)}",
        human_bytes(v.get("disk_used_bytes")),
        f"{human_bytes(v.get('net_rx_bytes'))} / {human_bytes(v.get('net_tx_bytes'))}",
    )
