"""Time from the agent's ECP `launch` to TASK_RUNNING, cold (image not cached), through the
Mesos 1.0.4 agent double, with the update timeline. The pod network lives in throwaway
namespaces, as in the test suite, so the host's own network is left alone.

Usage: PYTHONPATH=. .venv/bin/python bench/launch_to_running.py IMAGE
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


def main() -> None:
    with make_test_network() as network:
        launch_to_running(sys.argv[1], network.host)


def launch_to_running(image: str, netns: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="mh-bench."))
    root.chmod(0o711)
    work = Path(tempfile.mkdtemp(prefix="mh-bench-agent."))
    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": str(root),
        "MESOS_HYPER_GUEST_DIR": str(Paths.from_env().guest),
        "MESOS_HYPER_NETNS": netns,
    }
    ecp = [sys.executable, "-m", "mesos_hyper.containerizer.cli"]
    agent = Agent(work, ecp, env, timeout=120, switch_user=False)
    try:
        task = mesos_pb2.TaskInfo(name="bench")
        task.task_id.value = "bench"
        task.command.value = "sleep 30"
        task.container.type = mesos_pb2.ContainerInfo.DOCKER
        task.container.docker.image = image
        start = time.time()
        agent.launch_task(task)
        launched = time.time()
        agent.wait_for_state("bench", mesos_pb2.TASK_RUNNING, timeout=120)
        print(f"ECP launch returned after {launched - start:.3f}s")
        for update in agent.updates("bench"):
            name = mesos_pb2.TaskState.Name(update.status.state)
            print(f"{name:14s} at {update.status.timestamp - start:6.3f}s")
        agent.kill_task("bench")
        agent.wait_for_state("bench", mesos_pb2.TASK_KILLED, timeout=60)
    finally:
        agent.shutdown()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
