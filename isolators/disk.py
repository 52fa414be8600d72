"""disk: the container's writable layer is as large as its disk resource, and no larger.

Each container boots on a qcow2 overlay whose virtual size is the image's base disk plus
the disk resource; the guest grows its ext4 to fill it, and when the filesystem is full the
guest init kills the container and reports the disk limitation (Mesos' disk isolator kills
a container over its quota the same way). The overlay is the only file a guest writes on
the host besides the sandbox, so a guest can never take more host disk than that.

The sandbox (``/mnt/mesos/sandbox`` in the guest, a virtiofs share of the host directory)
is held to the same disk resource the way Mesos' posix/disk isolator holds it: the
executor measures it every few seconds and kills the container once it is over. Between
two looks a guest can write past the limit by what it writes in that time.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from isolators import Target, Tuning
from mesos_hyper.config import Paths
from mesos_hyper.sandbox.usage import tree_usage

MIB = 1 << 20
# Writable room of a container without a disk resource: bounded too, but not reported.
DEFAULT_ROOM_MB = float(os.environ.get("MESOS_HYPER_DEFAULT_DISK_MB") or 4096)
# How often the executor measures the sandbox (Mesos: --container_disk_watch_interval).
SANDBOX_WATCH_SECONDS = float(os.environ.get("MESOS_HYPER_DISK_WATCH_SECONDS") or 2)


def room_bytes(disk_mb: float | None) -> int:
    return int((disk_mb or DEFAULT_ROOM_MB) * MIB)


def allocated_bytes(path: Path) -> int:
    """Host bytes a sparse file really holds."""
    try:
        return path.stat().st_blocks * 512
    except OSError:
        return 0


def tree_bytes(root: Path) -> int:
    """``du`` of a guest-writable tree (a lower bound when the walk hit its bounds)."""
    return tree_usage(root).bytes


def sandbox_over_quota(sandbox: Path, disk_mb: float | None) -> str | None:
    """Why the sandbox breaks the disk limit, or None while it does not.

    A sandbox too large or too deep to walk within tree_usage's bounds cannot be shown to
    be under its limit, and a guest could build one to hide its usage: it counts as over.
    """
    usage, limit = tree_usage(sandbox), room_bytes(disk_mb)
    used = usage.bytes
    if not usage.complete:
        return (
            f"the sandbox cannot be measured within the bounds ({usage.why}; at least"
            f" {used / MIB:.1f} MB); treated as over its {limit / MIB:g} MB disk limit"
        )
    if used <= limit:
        return None
    return f"the sandbox holds {used / MIB:.1f} MB, over its {limit / MIB:g} MB disk limit"


def overlays(dom: libvirt.virDomain) -> list[Path]:
    """The writable disks of a running domain (its qcow2 overlays)."""
    root = ET.fromstring(dom.XMLDesc(0))
    return [
        Path(src.get("file", ""))
        for src in root.findall("devices/disk[@device='disk']/source")
        if src.get("file")
    ]


class DiskIsolator:
    def prepare(self, target: Target, tuning: Tuning) -> None:
        tuning.disk_room_bytes = room_bytes(target.limits.disk_mb)
        tuning.enforce_disk = bool(target.limits.disk_mb)

    def update(self, dom: libvirt.virDomain, target: Target) -> list[str]:
        # The disk size is fixed at launch (docs/isolation.md): a running guest's ext4
        # cannot shrink, and the agent never grows a running container's disk.
        return []

    def usage(self, dom: libvirt.virDomain, target: Target) -> dict[str, float | int]:
        used = sum(allocated_bytes(path) for path in overlays(dom))
        if target.sandbox:
            used += tree_bytes(Path(target.sandbox))
        stats: dict[str, float | int] = {"disk_used_bytes": used}
        if target.limits.disk_mb:
            stats["disk_limit_bytes"] = int(target.limits.disk_mb * MIB)
        return stats

    def cleanup(self, container_id: str) -> None:
        """The container's overlays (its directory of them), once its VM is gone.

        The pod removes them itself when it ends; this is for a pod whose executor died.
        """
        shutil.rmtree(Paths.from_env().containers / container_id, ignore_errors=True)
