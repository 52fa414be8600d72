"""What one pool VM costs to make: booted, or restored from a template.

Usage: PYTHONPATH=. .venv/bin/python bench/refill.py [VMS]

For each source (``boot``, ``template``), fills a throwaway pool with VMS VMs (default 4),
one at a time as a refill does, and reports the wall time and the host's CPU seconds (all
CPUs, from /proc/stat) per VM, and each idle VM's QEMU PSS. A template's one boot and save
are timed apart, before its clones. Nothing else should run meanwhile.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.churn import busy_cpu_seconds
from bench.memory import pss_parts, qemu_pid
from mesos_hyper.config import Paths
from vmctl.pool import template
from vmctl.pool.fill import drain, fill, fill_lock, reap
from vmctl.pool.settings import PoolSettings
from vmctl.pool.store import PoolDirs


def measure(source: str, vms: int) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        base = Path(tmp)
        base.chmod(0o711)
        paths = Paths(
            base / "root", Paths.from_env().guest, Path("/run/mesos-hyper"), base / "pool"
        )
        paths.root.mkdir()
        dirs = PoolDirs(paths)
        try:
            if source == "template":
                dirs.make()
                with fill_lock(dirs, wait=True):
                    cpu0, t0 = busy_cpu_seconds(), time.monotonic()
                    template.ensure(paths, PoolSettings(size=1, source=source), dirs)
                    print(
                        f"template: built and saved in {time.monotonic() - t0:.2f} s,"
                        f" {busy_cpu_seconds() - cpu0:.2f} CPU s"
                    )
            cpu0, t0 = busy_cpu_seconds(), time.monotonic()
            result = fill(paths, PoolSettings(size=vms, source=source), resume=True)
            wall, cpu = time.monotonic() - t0, busy_cpu_seconds() - cpu0
            if result.failed or len(result.booted) != vms:
                raise SystemExit(f"{source}: the fill failed: {result.failed}")
            pss = [pss_parts(qemu_pid(name))["total"] for name in result.booted]
            print(
                f"{source}: {wall / vms:.2f} s and {cpu / vms:.2f} host CPU s per VM;"
                f" idle QEMU PSS median {statistics.median(pss):.0f} MiB"
                f" (min {min(pss):.0f}, max {max(pss):.0f})"
            )
        finally:
            with fill_lock(dirs, wait=True):
                drain(paths, stop=True)
                reap(paths, dirs)


def main() -> None:
    vms = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    for source in ("boot", "template"):
        measure(source, vms)


if __name__ == "__main__":
    main()
