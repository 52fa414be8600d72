"""A task's life under the agent double: a kill wins in every phase of the start, SIGTERM
is a clean shutdown, and the executor is gone soon after its last update is acknowledged."""

from __future__ import annotations

import os
import signal
import time

import pytest

from mesos_hyper.proto import mesos_pb2
from mesos_hyper.state import StateStore
from tests.agent_double import Agent as AgentDouble
from tests.registry_fixtures import free_port, registry  # noqa: F401
from tests.test_ecp_e2e import agent, busybox_layer, image, states, task  # noqa: F401
from vmctl.domain import domain_name
from vmctl.lifecycle import lookup

pytestmark = pytest.mark.vm
# A loaded CI machine: a kill is acted on within its grace plus this.
SLACK_S = 10.0


def _store(double: AgentDouble) -> StateStore:
    return StateStore(double.flags.work_dir / "mesos-hyper")


def _executor_pid(double: AgentDouble, container_id: str) -> int:
    return _store(double).get(container_id).pids["executor"]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def _acked(double: AgentDouble, task_id: str, state: int) -> bool:
    return any(u.status.state == state and u.acknowledged for u in double.updates(task_id))


def _kill_and_check(double: AgentDouble, record, task_id: str, grace: float = 2.0) -> float:
    killed_at = time.monotonic()
    double.kill_task(task_id, grace)
    status = double.wait_for_state(task_id, mesos_pb2.TASK_KILLED, timeout=grace + 60)
    took = time.monotonic() - killed_at
    assert took < grace + SLACK_S, f"TASK_KILLED came {took:.1f}s after the kill"
    assert "TASK_RUNNING" not in states(double, task_id), states(double, task_id)
    assert states(double, task_id)[-1] == "TASK_KILLED"
    assert status.message
    double.wait_for(lambda: record.completed, timeout=30)
    # no VM at all when the kill came before one was made; else the one it had is gone
    assert lookup(double.vm_name(record.container_id) or domain_name(record.container_id)) is None
    print(f"{task_id}: TASK_KILLED {took:.2f}s after the kill")
    return took


def test_kill_before_the_pull_starts_nothing(agent, image):  # noqa: F811
    record = agent.launch_task(task("early", image, "sleep 60"))
    agent.wait_for_state("early", mesos_pb2.TASK_STARTING, timeout=60)
    _kill_and_check(agent, record, "early")


def test_kill_during_the_pull_abandons_it(tmp_path, no_leaks):
    from tests.test_ecp_e2e import ECP, Paths, shutil, tempfile

    root = tempfile.mkdtemp(prefix="mh-test-ecp.")
    os.chmod(root, 0o711)
    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": root,
        "MESOS_HYPER_GUEST_DIR": str(Paths.from_env().guest),
        "MESOS_HYPER_REGISTRY_RETRY_SECONDS": "120",  # the pull would take two minutes
    }
    double = AgentDouble(
        tmp_path, ECP, env, timeout=120, registration_timeout=120, switch_user=False
    )
    no_leaks.watch_agent(double)
    try:
        unreachable = f"127.0.0.1:{free_port()}/t/never:1"
        record = double.launch_task(task("pulling", unreachable, "true"))
        double.wait_for_state("pulling", mesos_pb2.TASK_STARTING, timeout=60)
        time.sleep(1.0)  # well into the registry's retries
        _kill_and_check(double, record, "pulling")
    finally:
        try:
            double.shutdown()
            no_leaks.check()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def test_kill_during_boot_destroys_the_vm(agent, image):  # noqa: F811
    record = agent.launch_task(task("booting", image, "sleep 60"))
    agent.wait_for(lambda: lookup(agent.vm_name(record.container_id) or "") is not None, 120)
    assert "TASK_RUNNING" not in states(agent, "booting")
    _kill_and_check(agent, record, "booting")


def test_kill_as_soon_as_it_runs(agent, image):  # noqa: F811
    record = agent.launch_task(task("started", image, "sleep 60"))
    agent.wait_for_state("started", mesos_pb2.TASK_RUNNING, timeout=120)
    killed_at = time.monotonic()
    agent.kill_task("started", 3.0)
    agent.wait_for_state("started", mesos_pb2.TASK_KILLED, timeout=60)
    assert time.monotonic() - killed_at < 3.0 + SLACK_S
    assert states(agent, "started")[-1] == "TASK_KILLED"
    agent.wait_for(lambda: record.completed, timeout=30)
    assert record.termination.result().state == mesos_pb2.TASK_KILLED
    vm = agent.vm_name(record.container_id)
    assert vm and lookup(vm) is None, vm


def test_executor_exits_soon_after_its_last_update_is_acknowledged(agent, image):  # noqa: F811
    record = agent.launch_task(task("brief", image, "echo hi"))
    agent.wait_for_state("brief", mesos_pb2.TASK_FINISHED, timeout=120)
    pid = _executor_pid(agent, record.container_id)
    agent.wait_for(lambda: _acked(agent, "brief", mesos_pb2.TASK_FINISHED), timeout=30)
    acked_at = time.monotonic()
    agent.wait_for(lambda: record.completed and _gone(pid), timeout=10)
    took = time.monotonic() - acked_at
    assert took < 10, f"executor lingered {took:.1f}s after the acknowledgement"
    assert record.termination.result().state == mesos_pb2.TASK_FINISHED


def test_sigterm_kills_the_task_reports_it_and_cleans_up(agent, image):  # noqa: F811
    record = agent.launch_task(task("termed", image, "sleep 1000"))
    agent.wait_for_state("termed", mesos_pb2.TASK_RUNNING, timeout=120)
    pid = _executor_pid(agent, record.container_id)
    sent_at = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    agent.wait_for_state("termed", mesos_pb2.TASK_KILLED, timeout=30)
    agent.wait_for(lambda: record.completed and _gone(pid), timeout=30)
    # the ECP's destroy SIGKILLs after 10 s: the executor was done well before that
    assert time.monotonic() - sent_at < 10 + SLACK_S / 2
    vm = agent.vm_name(record.container_id)
    assert vm and lookup(vm) is None, vm
    assert record.termination.result().state == mesos_pb2.TASK_KILLED
