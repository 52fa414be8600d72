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
import time
from pathlib import Path

from mesos_hyper.config import Paths
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


def _task(task_id: str, image: str) -> mesos_pb2.TaskInfo:
    task = mesos_pb2.TaskInfo(name=task_id)
    task.task_id.value = task_id
    task.command.value = "sleep 600"
    task.container.type = mesos_pb2.ContainerInfo.DOCKER
    task.container.docker.image = image
    return task


if __name__ == "__main__":
    main()
