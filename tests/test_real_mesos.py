"""Against a real Mesos 1.0.4 master and agent (scripts/build-mesos.sh), driven by a
framework that stays registered, as Marathon does."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mesos_hyper.config import Paths
from mesos_hyper.state import StateStore
from tests.real_mesos import golden
from tests.real_mesos.cluster import ECP, MESOS_HOME, Cluster, running_cluster
from tests.real_mesos.scheduler import Scheduler, command_task
from tests.registry_fixtures import registry  # noqa: F401
from tests.test_ecp_e2e import busybox_layer, image  # noqa: F401
from tests.test_examples import file_server  # noqa: F401

pytestmark = [pytest.mark.vm, pytest.mark.real_mesos]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


@contextlib.contextmanager
def _checked_cluster(
    tmp_path: Path,
    no_leaks,
    ecp: Path = ECP,
    extra_env: dict[str, str] | None = None,
    agent_flags: tuple[str, ...] = (),
) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="mh-test-real."))
    root.chmod(0o711)
    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": str(root),
        "MESOS_HYPER_GUEST_DIR": str(Paths.from_env().guest),
        "MESOS_HYPER_LOG_LEVEL": "INFO",
        **(extra_env or {}),
    }
    no_leaks.watch_root(root)
    try:
        with running_cluster(tmp_path, env, ecp, agent_flags) as running:
            no_leaks.watch_state(running.agent_work / "mesos-hyper")
            yield running
        no_leaks.check()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cluster(tmp_path: Path, no_leaks):
    with _checked_cluster(tmp_path, no_leaks) as running:
        yield running


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


def test_deploy_kills_its_instances_on_ctrl_c(cluster, image, tmp_path):  # noqa: F811
    app = {
        "id": "/tests/interrupted",
        "cmd": "exec sleep 600",
        "cpus": 0.2,
        "mem": 64,
        "container": {"type": "DOCKER", "docker": {"image": image, "network": "HOST"}},
        "portDefinitions": [],
    }
    proc, seen = _deploy_example(cluster, tmp_path, app, 600), []
    _running(proc, seen)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C on its terminal sends
    out, _ = proc.communicate(timeout=180)
    text = "".join(seen) + out
    assert proc.returncode == 0, text  # it ran, and the app has no checks
    assert "interrupted" in text and "killing 1 instance(s)" in text, text
    assert "TASK_KILLED" in text, text


def test_deploy_of_an_app_no_offer_fits_says_what_the_offers_lacked(cluster, image, tmp_path):  # noqa: F811
    app = {
        "id": "/tests/too-big",
        "cmd": "exec sleep 600",
        "cpus": 64,
        "mem": 64,
        "container": {"type": "DOCKER", "docker": {"image": image, "network": "HOST"}},
        "portDefinitions": [],
    }
    path = tmp_path / "app.json"
    path.write_text(json.dumps(app))
    argv = [sys.executable, "-m", "mesos_hyper.cli", "deploy", str(path)]
    res = subprocess.run(
        [*argv, "--master", cluster.master, "--offer-timeout", "15"],
        capture_output=True,
        timeout=200,
    )
    out = res.stdout.decode()
    assert res.returncode == 1, out + res.stderr.decode()
    assert "offers that fit did not take every instance in 15s" in out, out
    assert re.search(r"1 instance\(s\) never got an offer that fits \(.+: cpus: 64 needed, ", out)
    assert out.rstrip().endswith("0 of 1 instance(s) ran"), out


def test_deploy_of_a_missing_image_fails_its_instance_with_the_pull_error(cluster, image, tmp_path):  # noqa: F811
    missing = image.rsplit(":", 1)[0] + ":no-such-tag"
    app = {
        "id": "/tests/missing-image",
        "cmd": "true",
        "cpus": 0.2,
        "mem": 64,
        "container": {"type": "DOCKER", "docker": {"image": missing, "network": "HOST"}},
        "portDefinitions": [],
    }
    path = tmp_path / "app.json"
    path.write_text(json.dumps(app))
    argv = [sys.executable, "-m", "mesos_hyper.cli", "deploy", str(path)]
    res = subprocess.run([*argv, "--master", cluster.master], capture_output=True, timeout=300)
    out = res.stdout.decode()
    assert res.returncode == 1, out + res.stderr.decode()
    assert re.search(r"never ran \(TASK_FAILED: .*no-such-tag", out), out
    assert out.rstrip().endswith("0 of 1 instance(s) ran"), out


def _execute(
    cluster: Cluster, name: str, ref: str, containerizer: str, command: str, *extra: str
) -> subprocess.Popen[str]:
    """``mesos-execute`` as a user runs it; it prints every status update and exits 0."""
    return subprocess.Popen(
        [
            str(MESOS_HOME / "bin/mesos-execute"),
            f"--master={cluster.master}",
            f"--name={name}",
            f"--docker_image={ref}",
            f"--containerizer={containerizer}",
            f"--command={command}",
            "--resources=cpus:0.2;mem:64",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _updates(out: str) -> list[str]:
    return [
        line.split()[3] for line in out.splitlines() if line.startswith("Received status update")
    ]


@pytest.mark.parametrize("containerizer", ["docker", "mesos"])
def test_mesos_execute_finished_failed_and_killed(cluster, image, containerizer):  # noqa: F811
    """A DockerInfo (--containerizer=docker) and a MESOS container with a Docker image
    (--containerizer=mesos) run the same: finished, failed with the exit status, killed.
    While the killed one runs, the agent's /state and /monitor/statistics show it."""
    done = _execute(cluster, f"ok-{containerizer}", image, containerizer, "echo hi")
    failed = _execute(cluster, f"bad-{containerizer}", image, containerizer, "exit 3")
    killed = _execute(
        cluster, f"kill-{containerizer}", image, containerizer, "sleep 600", "--kill_after=40secs"
    )
    out, _ = done.communicate(timeout=300)
    assert _updates(out)[-1] == "TASK_FINISHED", out
    assert "Command exited with status 0" in out
    out, _ = failed.communicate(timeout=300)
    assert _updates(out)[-1] == "TASK_FAILED", out
    assert "message: 'Command exited with status 3'" in out, out

    name = f"kill-{containerizer}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        tasks = [
            t
            for f in cluster.agent_state().get("frameworks", [])
            for e in f.get("executors", [])
            for t in e.get("tasks", [])
            if t["id"] == name
        ]
        if tasks and tasks[0]["state"] == "TASK_RUNNING":
            break
        time.sleep(1)
    else:
        raise AssertionError(f"{name} never ran: {killed.poll()}")
    statistics = requests.get(f"http://{cluster.agent}/monitor/statistics", timeout=30).json()
    (entry,) = [s for s in statistics if s["executor_id"] == name]
    stats = entry["statistics"]
    # the executor's 0.1 cpus and 32 MiB plus the task's, as the agent's resources say
    assert stats["cpus_limit"] == pytest.approx(0.3, abs=0.01), stats
    assert stats["mem_limit_bytes"] == (64 + 32) * 1024 * 1024, stats
    assert stats["mem_rss_bytes"] > 0 and "cpus_system_time_secs" in stats, stats
    out, _ = killed.communicate(timeout=300)
    assert _updates(out)[-2:] == ["TASK_RUNNING", "TASK_KILLED"], out


RECORDER = Path(golden.__file__).with_name("recording_ecp.py")


def test_the_real_agent_makes_the_calls_of_the_golden_files(tmp_path, no_leaks, image):  # noqa: F811
    """What a real 1.0.4 agent hands our ECP for a command task (Launch and its environment,
    Update, Usage) equals tests/fixtures/real-agent-1.0.4, which tests/test_agent_double.py
    holds the double to. MESOS_HYPER_UPDATE_GOLDEN=1 rewrites the files from this run."""
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    wrapper = tmp_path / "recording-ecp"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {RECORDER} "$@"\n')
    wrapper.chmod(0o755)
    extra = {"MESOS_HYPER_TEST_RECORD_DIR": str(calls_dir)}
    with _checked_cluster(tmp_path, no_leaks, wrapper, extra) as running:
        scheduler = Scheduler(running.master)
        scheduler.start()
        try:
            offer = scheduler.launch(command_task("golden", image, "sleep 600"))
            scheduler.wait_for_state("golden", "TASK_RUNNING", 240)
            stats = requests.get(f"http://{running.agent}/monitor/statistics", timeout=60)
            assert [s["executor_id"] for s in stats.json()] == ["golden"]  # a usage call
            scheduler.kill("golden", offer["agent_id"]["value"])
            scheduler.wait_for_state("golden", "TASK_KILLED", 120)
        finally:
            scheduler.teardown()
    calls = golden.recorded(calls_dir)
    launch = calls["launch"][0]
    values = {
        "container": launch.container_id.value,
        "framework": launch.executor_info.framework_id.value,
        "agent": launch.slave_id.value,
        "agent_endpoint": launch.slave_pid.split("@", 1)[1],
        "work": str(running.agent_work),
        "launcher": str(MESOS_HOME / "libexec/mesos"),
        "ecp": str(wrapper),
        "host": socket.gethostname(),
        "image": image,
        "agent_port": launch.slave_pid.rsplit(":", 1)[1],
        "libdir": str(MESOS_HOME / "lib"),
    }
    docs = golden.golden_documents(calls, values)
    if os.environ.get("MESOS_HYPER_UPDATE_GOLDEN"):
        golden.write_golden(docs)
    assert docs == golden.load_golden()


def _agent_task_state(cluster: Cluster, task_id: str) -> str | None:
    for framework in cluster.agent_state().get("frameworks", []):
        for executor in framework.get("executors", []):
            for task in executor.get("tasks", []):
                if task["id"] == task_id:
                    return str(task["state"])
    return None


def test_a_sigkilled_agent_comes_back_to_its_running_task_and_vm(cluster, framework, image):  # noqa: F811
    """A checkpointing framework's task survives the agent's SIGKILL and restart: the
    agent recovers it (our ECP's recover and containers), the same VM runs on, and the
    task can then be killed, which ends the VM."""
    from vmctl.lifecycle import lookup

    offer = framework.launch(command_task("survivor", image, "sleep 600"))
    framework.wait_for_state("survivor", "TASK_RUNNING", 240)
    (record,) = StateStore(cluster.agent_work / "mesos-hyper").list()
    assert record.domain and lookup(record.domain) is not None
    cluster.restart_agent()
    deadline = time.monotonic() + 120
    while _agent_task_state(cluster, "survivor") != "TASK_RUNNING":
        assert time.monotonic() < deadline, cluster.agent_proc.tail()
        time.sleep(1)
    assert lookup(record.domain) is not None  # the same VM, never restarted
    framework.kill("survivor", offer["agent_id"]["value"])
    framework.wait_for_state("survivor", "TASK_KILLED", 120)
    deadline = time.monotonic() + 60
    while lookup(record.domain) is not None:
        assert time.monotonic() < deadline, "the VM outlived its killed task"
        time.sleep(0.5)


def test_a_pod_of_two_tasks_of_one_executor_shares_one_vm(cluster, framework, image, registry):  # noqa: F811
    """examples/pod-two-tasks.json on the real agent: the second task of the same custom
    ExecutorInfo goes to the running executor, and so into the same VM, where it reaches
    the first over the VM's loopback."""
    from mesos_hyper.images.build import build_demo_image, push_image
    from tests.example_apps import load_example

    doc = load_example("pod-two-tasks.json")
    ours = {}
    for ref, made in doc["images"].items():
        ours[ref] = f"{registry.host}/{ref.split('/', 1)[1]}"
        push_image(build_demo_image(made["cmd"]), ours[ref])
    tasks = []
    for entry in doc["tasks"]:
        entry.pop("agent_id")
        entry["executor"]["container"]["docker"]["image"] = image
        entry["container"]["docker"]["image"] = ours[entry["container"]["docker"]["image"]]
        tasks.append(entry)
    web, client = tasks
    offer = framework.launch(web)
    framework.wait_for_state("pod-web", "TASK_RUNNING", 240)
    framework.launch(client)
    framework.wait_for_state("pod-client", "TASK_FINISHED", 240)
    (record,) = StateStore(cluster.agent_work / "mesos-hyper").list()  # one container
    sandbox = Path(record.sandbox)
    assert "pod-hello" in (sandbox / "stdout").read_text()
    framework.kill("pod-web", offer["agent_id"]["value"])
    framework.wait_for_state("pod-web", "TASK_KILLED", 120)


def test_recover_destroys_an_orphan_the_agent_no_longer_knows(cluster, framework, image):  # noqa: F811
    """The agent loses its checkpoints (its meta directory) while a task runs and starts as
    a new agent: its recovery finds our container in `containers` but not in its own
    state, so it is an orphan, which the agent destroys through us: the VM and everything
    of the container go (the fixture's leak check sees the rest)."""
    from mesos_hyper.state.record import Status
    from vmctl.lifecycle import lookup

    framework.launch(command_task("orphaned", image, "sleep 600"))
    framework.wait_for_state("orphaned", "TASK_RUNNING", 240)
    store = StateStore(cluster.agent_work / "mesos-hyper")
    (record,) = store.list()
    cluster.agent_proc.stop(signal.SIGKILL)
    shutil.rmtree(cluster.agent_work / "meta")
    cluster.restart_agent(signal.SIGKILL)  # it is down already: this starts it again
    deadline = time.monotonic() + 120
    while lookup(record.domain) is not None or any(
        r.container_id == record.container_id and r.status != Status.TERMINATED
        for r in store.list()
    ):
        assert time.monotonic() < deadline, cluster.agent_proc.tail()
        time.sleep(1)


# The agent host as frameworks reach it: an address of the pod network's test namespace,
# reached from the root namespace (where the cluster, `deploy` and this test run) over a
# veth the test makes; the agent advertises it (--hostname), so offers carry it and
# `deploy` and Marathon-style checks reach host ports there.
ROOT_END_IP, AGENT_HOST_IP = "192.168.78.1", "192.168.78.2"


@pytest.fixture
def reachable_cluster(tmp_path: Path, no_leaks, pod_network_namespace):
    from pyroute2 import IPRoute

    from tests.net_fixtures import _addr_up, _veth

    root_end = "mhvr" + uuid.uuid4().hex[:8]
    _veth(None, root_end, pod_network_namespace.host, "mhvagent")
    try:
        _addr_up(None, root_end, f"{ROOT_END_IP}/30")
        _addr_up(pod_network_namespace.host, "mhvagent", f"{AGENT_HOST_IP}/30")
        flags = (f"--hostname={AGENT_HOST_IP}",)
        with _checked_cluster(tmp_path, no_leaks, agent_flags=flags) as running:
            yield running
    finally:
        with IPRoute() as ipr, contextlib.suppress(Exception):
            ipr.link("del", index=ipr.link_lookup(ifname=root_end)[0])  # its peer goes too


RUNNING_ON = re.compile(r"^(\S+): TASK_RUNNING.* on (\S+) \(ports ([0-9,-]+)\)")


def _deploy_example(cluster: Cluster, tmp_path: Path, app: dict, seconds: int):
    path = tmp_path / "app.json"
    path.write_text(json.dumps(app))
    argv = [sys.executable, "-m", "mesos_hyper.cli", "deploy", str(path)]
    return subprocess.Popen(
        [*argv, "--master", cluster.master, "--for", str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _running(proc: subprocess.Popen[str], seen: list[str]) -> tuple[str, str, list[int]]:
    """(task id, agent host, host ports) from deploy's line once the instance runs."""
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if match := RUNNING_ON.match(line):
            ports = [int(p) for p in match.group(3).split(",") if p != "-"]
            return match.group(1), match.group(2), ports
    raise AssertionError("deploy ended before its instance ran:\n" + "".join(seen))


def _retrying(fn, within: float = 60.0):
    deadline = time.monotonic() + within
    while True:
        try:
            return fn()
        except (OSError, requests.RequestException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _finish(proc: subprocess.Popen[str], seen: list[str]) -> str:
    out, _ = proc.communicate(timeout=400)
    text = "".join(seen) + out
    assert proc.returncode == 0, text
    return text


def test_web_bridge_deployed_answers_on_its_agent_host_port(reachable_cluster, tmp_path, image):  # noqa: F811
    from tests.example_apps import load_example

    app = load_example("web-bridge.json")
    app["container"]["docker"]["image"] = image
    proc, seen = _deploy_example(reachable_cluster, tmp_path, app, 60), []
    task_id, host, (port,) = _running(proc, seen)
    assert host == AGENT_HOST_IP
    reply = _retrying(lambda: requests.get(f"http://{host}:{port}/", timeout=3))
    assert reply.text == f"hello from {task_id}, reachable on {host}:{port}\n"
    out = _finish(proc, seen)
    # both checks: Marathon's HTTP one from deploy, the COMMAND one through the agent
    assert f"HTTP check of http://{host}:{port}/ passed" in out and "healthy" in out, out
    assert out.rstrip().endswith("1 of 1 instance(s) ran and were healthy"), out


def test_host_net_deployed_serves_both_named_ports(reachable_cluster, tmp_path, image):  # noqa: F811
    from tests.example_apps import load_example

    app = load_example("host-net.json")
    app["container"]["docker"]["image"] = image
    proc, seen = _deploy_example(reachable_cluster, tmp_path, app, 60), []
    _, host, (http_port, admin_port) = _running(proc, seen)
    reply = _retrying(lambda: requests.get(f"http://{host}:{http_port}/", timeout=3))
    assert reply.text == f"http on {http_port}, admin on {admin_port}\n"

    def admin() -> bytes:
        with socket.create_connection((host, admin_port), timeout=3) as sock:
            return sock.recv(100)

    assert _retrying(admin) == b"admin-ok\n"
    out = _finish(proc, seen)
    assert f"TCP check of {host}:{admin_port} passed" in out, out


def test_batch_fetch_deployed_runs_what_it_fetched(reachable_cluster, tmp_path, image, file_server):  # noqa: F811
    from tests.example_apps import load_example

    app = load_example("batch-fetch.json")
    app["container"]["docker"]["image"] = image
    for item in app["fetch"]:
        item["uri"] = item["uri"].replace(":8000/", f":{file_server}/")
    proc, seen = _deploy_example(reachable_cluster, tmp_path, app, 300), []
    out = _finish(proc, seen)  # it ends by itself: deploy returns when every instance ended
    assert "TASK_FINISHED" in out and out.rstrip().endswith("1 of 1 instance(s) ran"), out
    (record,) = StateStore(reachable_cluster.agent_work / "mesos-hyper").list()
    assert (Path(record.sandbox) / "stdout").read_text() == (
        "hello from an archive\ntool ran\nbatch-ok\n"
    )
