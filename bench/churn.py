"""Churn: launch and kill tasks back to back through the agent double, with the pool refilling.

Usage: PYTHONPATH=. .venv/bin/python bench/churn.py IMAGE [SECONDS] [POOL_SIZE] [SOURCE]

Reports pods per second (task launched, RUNNING, killed and its container gone) and the
host's CPU seconds per pod (all CPUs, from /proc/stat, refills included). POOL_SIZE=0 runs
it cold for comparison; SOURCE (``boot``, the default, or ``template``) is how refills make
pool VMs (MESOS_HYPER_POOL_SOURCE). The pod network lives in throwaway namespaces.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from mesos_hyper.config import Paths
from mesos_hyper.host.owners import argv_of, is_executor, is_qemu, is_virtiofsd
from mesos_hyper.proto import mesos_pb2
from tests.agent_double import Agent
from tests.net_fixtures import make_test_network
from vmctl.pool.fill import drain, fill, fill_lock, reap
from vmctl.pool.settings import PoolSettings
from vmctl.pool.store import PoolDirs

TICKS = os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


class CpuByKind:
    """CPU seconds by kind of process, sampled from /proc every 0.2 s while it runs (a
    process shorter than that is missed, and counts only in the host's total)."""

    def __init__(self) -> None:
        self.last: dict[tuple[int, int], tuple[str, float]] = {}
        self.base: dict[tuple[int, int], float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        first = True
        while not self.stop.wait(0 if first else 0.2):
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    argv = argv_of(pid)
                except OSError:
                    continue
                key = (int(pid), int(fields[19]))
                used = (int(fields[11]) + int(fields[12])) / TICKS
                # a zombie has no argv left: it keeps the kind it was seen with
                kind = self.last[key][0] if key in self.last else _kind(argv)
                self.last[key] = (kind, used)
                if first:
                    self.base[key] = used
            first = False

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for key, (kind, used) in self.last.items():
            out[kind] += used - self.base.get(key, 0.0)
        return out


def _kind(argv: list[bytes]) -> str:
    if is_qemu(argv):
        return "qemu"
    if is_virtiofsd(argv):
        return "virtiofsd"
    if is_executor(argv):
        return "executors"
    if argv and os.path.basename(argv[0]) == b"libvirtd":
        return "libvirtd"
    if b"mesos_hyper.containerizer.cli" in argv:
        return "ECP calls"
    if b"vmctl.pool" in argv:
        return "refills (python)"
    if b"bench/churn.py" in argv:
        return "this bench and its agent double"
    return os.path.basename(argv[0]).decode(errors="replace") if argv else "kernel threads"


def main() -> None:
    image = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    pool_size = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    source = sys.argv[4] if len(sys.argv) > 4 else "boot"
    with make_test_network() as network, tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        base = Path(tmp)
        base.chmod(0o711)
        (base / "root").mkdir()
        paths = Paths(
            base / "root", Paths.from_env().guest, Path("/run/mesos-hyper"), base / "pool"
        )
        env = {
            **os.environ,
            "MESOS_HYPER_ROOT": str(paths.root),
            "MESOS_HYPER_GUEST_DIR": str(paths.guest),
            "MESOS_HYPER_NETNS": network.host,
            "MESOS_HYPER_POOL_DIR": str(paths.pool),
            "MESOS_HYPER_POOL_SIZE": str(pool_size),
            "MESOS_HYPER_POOL_SOURCE": source,
        }
        work = Path(tempfile.mkdtemp(prefix="mh-churn-agent."))
        ecp = [sys.executable, "-m", "mesos_hyper.containerizer.cli"]
        agent = Agent(work, ecp, env, timeout=120, switch_user=False)
        pods = 0
        try:
            warm = _task("warm-up", image)  # pulls the image; not counted
            agent.launch_task(warm)
            agent.wait_for_state("warm-up", mesos_pb2.TASK_RUNNING, timeout=300)
            agent.kill_task("warm-up")
            agent.wait_for_state("warm-up", mesos_pb2.TASK_KILLED, timeout=60)
            if pool_size:
                # start full (a template source saves its template first)
                fill(paths, PoolSettings(size=pool_size, source=source))
            by_kind = CpuByKind()
            by_kind.thread.start()
            cpu0, start = busy_cpu_seconds(), time.monotonic()
            while time.monotonic() - start < seconds:
                task = _task(f"churn-{pods}", image)
                record = agent.launch_task(task)
                agent.wait_for_state(task.task_id.value, mesos_pb2.TASK_RUNNING, timeout=300)
                agent.kill_task(task.task_id.value, 0.0)
                agent.wait_for_state(task.task_id.value, mesos_pb2.TASK_KILLED, timeout=60)
                agent.wait_for(lambda r=record: r.completed, timeout=60)
                pods += 1
            elapsed, cpu = time.monotonic() - start, busy_cpu_seconds() - cpu0
            by_kind.stop.set()
            by_kind.thread.join()
        finally:
            agent.shutdown()
            shutil.rmtree(work, ignore_errors=True)
            dirs = PoolDirs(paths)
            with fill_lock(dirs, wait=True):
                drain(paths, stop=True)
                reap(paths, dirs)
    print(
        f"pool size {pool_size} ({source}): {pods} pods in {elapsed:.1f}s"
        f" = {pods / elapsed:.2f} pods/s, "
        f"{cpu / max(pods, 1):.2f} CPU s per pod (host, all CPUs, refills included)"
    )
    split = sorted(by_kind.totals().items(), key=lambda kv: -kv[1])
    print("  per pod, by process: " + ", ".join(f"{k} {v / max(pods, 1):.2f}" for k, v in split))


def _task(task_id: str, image: str) -> mesos_pb2.TaskInfo:
    task = mesos_pb2.TaskInfo(name=task_id)
    task.task_id.value = task_id
    task.command.value = "sleep 600"
    task.container.type = mesos_pb2.ContainerInfo.DOCKER
    task.container.docker.image = image
    return task


if __name__ == "__main__":
    main()
