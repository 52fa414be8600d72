"""Against a real Mesos 1.0.4 master and agent (scripts/build-mesos.sh), driven by a
framework that stays registered, as Marathon does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mesos_hyper.config import Paths
from mesos_hyper.state import StateStore
from tests.real_mesos.cluster import Cluster, running_cluster
from tests.real_mesos.scheduler import Scheduler, command_task
from tests.registry_fixtures import registry  # noqa: F401
from tests.test_ecp_e2e import busybox_layer, image  # noqa: F401

pytestmark = [pytest.mark.vm, pytest.mark.real_mesos]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def cluster(tmp_path: Path, no_leaks):
    root = Path(tempfile.mkdtemp(prefix="mh-test-real."))
    root.chmod(0o711)
    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": str(root),
        "MESOS_HYPER_GUEST_DIR": str(Paths.from_env().guest),
        "MESOS_HYPER_LOG_LEVEL": "INFO",
    }
    no_leaks.watch_root(root)
    try:
        with running_cluster(tmp_path, env) as running:
            no_leaks.watch_state(running.agent_work / "mesos-hyper")
            yield running
        no_leaks.check()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def framework(cluster: Cluster):
    scheduler = Scheduler(cluster.master)
    scheduler.start()
    yield scheduler
    scheduler.teardown()


def test_executor_is_gone_within_10s_of_the_acknowledgement(cluster, framework, image):  # noqa: F811
    """Issue 17: with a framework that stays registered, nothing but our executor ends
    the container; it must exit and the agent's wait return soon after the last ack."""
    framework.launch(command_task("brief", image, "echo hi"))
    _, status = framework.wait_for_state("brief", "TASK_FINISHED", 240)
    framework.wait_for(lambda: status["uuid"] in framework.acked, 30)
    acked_at = framework.acked[status["uuid"]]
    (record,) = StateStore(cluster.agent_work / "mesos-hyper").list()
    pid = record.pids["executor"]
    deadline = acked_at + 10
    while time.monotonic() < deadline and not (
        _gone(pid) and "brief" in cluster.completed_executors()
    ):
        time.sleep(0.2)
    took = time.monotonic() - acked_at
    assert _gone(pid), f"the executor was still there {took:.1f}s after the ack"
    assert "brief" in cluster.completed_executors(), "the agent's wait had not returned"
    assert took < 10
    print(f"executor gone and wait returned {took:.2f}s after the acknowledgement")


def test_deploy_runs_an_app_healthy_for_its_time_then_kills_it(cluster, image, tmp_path):  # noqa: F811
    """``mesos-hyper deploy`` (pymesos) against the real master: the TaskInfo it sends as
    v1 JSON is accepted, the instance runs, its COMMAND check reports healthy through the
    agent, and it is killed when --for is up; the exit status says all went well."""
    app = {
        "id": "/tests/deploy",
        "cmd": "echo started; exec sleep 600",
        "cpus": 0.2,
        "mem": 64,
        "instances": 1,
        "container": {"type": "DOCKER", "docker": {"image": image, "network": "HOST"}},
        "portDefinitions": [],
        "healthChecks": [
            {
                "protocol": "COMMAND",
                "command": {"value": "true"},
                "gracePeriodSeconds": 60,
                "intervalSeconds": 2,
                "timeoutSeconds": 20,
                "maxConsecutiveFailures": 3,
            }
        ],
    }
    path = tmp_path / "app.json"
    path.write_text(json.dumps(app))
    argv = [sys.executable, "-m", "mesos_hyper.cli", "deploy", str(path)]
    res = subprocess.run(
        [*argv, "--master", cluster.master, "--for", "90"], capture_output=True, timeout=400
    )
    out = res.stdout.decode()
    assert res.returncode == 0, out + res.stderr.decode()
    assert "registered as framework" in out
    assert "TASK_RUNNING" in out and "TASK_RUNNING healthy" in out, out
    assert "killing 1 instance(s)" in out and "TASK_KILLED" in out, out
    assert out.rstrip().endswith("1 of 1 instance(s) ran and were healthy"), out
    frameworks = cluster.master_state()["frameworks"]
    assert not [f for f in frameworks if f["name"].startswith("mesos-hyper deploy")]
