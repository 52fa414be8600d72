"""Pod networking end to end: Mesos tasks through the agent double, real VMs, real rules."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from mesos_hyper.config import Paths
from mesos_hyper.images.build import build_image, push_image
from mesos_hyper.proto import mesos_pb2
from tests.agent_double import Agent
from tests.net_fixtures import OUTSIDE_HOST_IP, OUTSIDE_IP, Server
from tests.registry_fixtures import registry  # noqa: F401
from tests.test_ecp_e2e import ECP, busybox_layer, image, task  # noqa: F401
from vmctl.network import firewall, ipam
from vmctl.network.netns import run_in_netns
from vmctl.network.settings import NetSettings

pytestmark = pytest.mark.vm
WEB = "mkdir -p /www; echo web on $PORT0 > /www/index.html; exec busybox httpd -f -p 8080 -h /www"


@pytest.fixture
def root(no_leaks):
    """The agents' shared state root; leftovers in it are checked before it goes."""
    path = Path(tempfile.mkdtemp(prefix="mh-test-net."))
    path.chmod(0o711)
    no_leaks.watch_root(path)
    yield path
    try:
        no_leaks.check()
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_agent(tmp_path, root, no_leaks) -> Callable[[str], Agent]:
    """``make_agent(name)``: an agent double on ``root`` whose leftovers no_leaks checks
    (the test shuts it down; root's teardown checks before the root goes)."""

    def make(name: str) -> Agent:
        env = {
            **os.environ,
            "MESOS_HYPER_ROOT": str(root),
            "MESOS_HYPER_GUEST_DIR": str(Paths.from_env().guest),
        }
        agent = Agent(
            tmp_path / name, ECP, env, timeout=120, registration_timeout=120, switch_user=False
        )
        no_leaks.watch_agent(agent)
        return agent

    return make


def _ports(info: mesos_pb2.TaskInfo, *ports: int) -> None:
    res = info.resources.add(name="ports", type=mesos_pb2.Value.RANGES)
    for port in ports:
        res.ranges.range.add(begin=port, end=port)


def _bridge(info: mesos_pb2.TaskInfo, host_port: int, container_port: int) -> None:
    info.container.docker.network = mesos_pb2.ContainerInfo.DockerInfo.BRIDGE
    mapping = info.container.docker.port_mappings.add()
    mapping.host_port, mapping.container_port, mapping.protocol = host_port, container_port, "tcp"
    _ports(info, host_port)


def _get(netns: str, url: str) -> str | None:
    def go() -> str | None:
        try:
            return requests.get(url, timeout=2).text
        except requests.RequestException:
            return None

    return run_in_netns(netns, go)


def _get_soon(netns: str, url: str, within: float = 60.0) -> str | None:
    """The guest's server comes up some seconds after TASK_RUNNING (the VM boots first)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        body = _get(netns, url)
        if body is not None:
            return body
        time.sleep(0.5)
    return None


def _settings(root: Path) -> NetSettings:
    os.environ["MESOS_HYPER_ROOT"] = str(root)
    try:
        return NetSettings.from_env()
    finally:
        del os.environ["MESOS_HYPER_ROOT"]


def test_bridge_port_mapping_serves_from_outside_and_leaves_nothing(
    make_agent,
    root,
    image,  # noqa: F811
    pod_network_namespace,
):
    agent = make_agent("a")
    try:
        info = task("web", image, WEB)
        _bridge(info, 31080, 8080)
        record = agent.launch_task(info)
        agent.wait_for_state("web", mesos_pb2.TASK_RUNNING, timeout=120)
        outside = pod_network_namespace.outside
        body = _get_soon(outside, f"http://{OUTSIDE_HOST_IP}:31080/")
        assert body == "web on 31080\n"
        stats = agent.ecp.usage(record.container_id)
        assert stats.net_rx_bytes > 0 and stats.net_tx_packets > 0
        settings = _settings(root)
        assert record.container_id in firewall.owned(settings)
        agent.kill_task("web")
        agent.wait_for_state("web", mesos_pb2.TASK_KILLED, timeout=60)
        agent.wait_for(lambda: record.completed, timeout=60)
        assert record.container_id not in firewall.owned(settings)
        assert ipam.lease_of(settings, record.container_id) is None
        assert _get(outside, f"http://{OUTSIDE_HOST_IP}:31080/") is None
    finally:
        agent.shutdown()


def test_frameworks_are_walled_off_from_each_other_and_from_the_host(
    make_agent,
    root,
    image,  # noqa: F811
    pod_network_namespace,
):
    net = pod_network_namespace
    first, second = make_agent("f1"), make_agent("f2")
    settings = _settings(root)
    # the agent host's own service, on every address it has (the gateway comes later)
    host_service = Server(net.host, "0.0.0.0", 9999)
    outside = Server(net.outside, OUTSIDE_IP, 7777)
    try:
        server = first.launch_task(task("server", image, WEB))
        first.wait_for_state("server", mesos_pb2.TASK_RUNNING, timeout=120)
        server_ip = ipam.lease_of(settings, server.container_id)
        probe = (  # `timeout`, not wget -T: busybox 1.35's wget -T crashes on a failed connect
            f"timeout 5 wget -q -O - http://{server_ip}:8080/ && echo REACHED-POD; "
            f"nc -w 3 {settings.gateway} 9999 </dev/null && echo REACHED-GATEWAY; "
            f"nc -w 3 {OUTSIDE_HOST_IP} 9999 </dev/null && echo REACHED-HOST; "
            f"nc -w 3 {OUTSIDE_IP} 7777 </dev/null && echo REACHED-OUTSIDE; "
            "grep -q nameserver /etc/resolv.conf && echo HAS-DNS; true"
        )
        friend = first.launch_task(task("friend", image, probe))
        stranger = second.launch_task(task("stranger", image, probe))
        first.wait_for_state("friend", mesos_pb2.TASK_FINISHED, timeout=180)
        second.wait_for_state("stranger", mesos_pb2.TASK_FINISHED, timeout=180)
        friend_out = (Path(friend.directory) / "stdout").read_text()
        stranger_out = (Path(stranger.directory) / "stdout").read_text()
        assert "REACHED-POD" in friend_out and "REACHED-POD" not in stranger_out
        for out in (friend_out, stranger_out):
            assert "REACHED-GATEWAY" not in out and "REACHED-HOST" not in out
            assert "REACHED-OUTSIDE" in out and "HAS-DNS" in out
        # egress is masqueraded: the outside sees the agent host's address, never a pod's
        assert outside.peers and set(outside.peers) == {OUTSIDE_HOST_IP}
        first.kill_task("server")
        first.wait_for_state("server", mesos_pb2.TASK_KILLED, timeout=60)
        for agent, rec in ((first, server), (first, friend), (second, stranger)):
            agent.wait_for(lambda rec=rec: rec.completed, timeout=60)
        assert firewall.owned(settings) == set() and ipam.leases(settings) == {}
    finally:
        for srv in (host_service, outside):
            srv.close()
        first.shutdown()
        second.shutdown()


SERVE_UNTIL_STOP = (
    "mkdir -p /www; echo up > /www/index.html; busybox httpd -f -p 8080 -h /www & server=$!; "
    'while [ ! -e "$MESOS_SANDBOX/stop" ]; do sleep 0.5; done; kill $server; sleep 600'
)


@pytest.mark.parametrize("kind", ["HTTP", "TCP"])
def test_http_and_tcp_health_checks_follow_the_server(
    make_agent,
    image,  # noqa: F811
    pod_network_namespace,
    kind,
):
    """Healthy while the pod's server answers, unhealthy once it is gone, then killed."""
    agent = make_agent("a")
    try:
        info = task("checked", image, SERVE_UNTIL_STOP)
        hc = info.health_check
        if kind == "HTTP":  # Mesos 1.0.4's field; the type is inferred
            hc.http.port, hc.http.path = 8080, "/index.html"
            hc.http.statuses.append(200)
        else:  # Mesos 1.1.0's fields
            hc.type, hc.tcp.port = mesos_pb2.HealthCheck.TCP, 8080
        hc.delay_seconds, hc.interval_seconds, hc.timeout_seconds = 0, 1, 3
        hc.grace_period_seconds, hc.consecutive_failures = 60, 2
        record = agent.launch_task(info)

        def health() -> list[bool]:
            return [
                u.status.healthy
                for u in agent.updates("checked")
                if u.status.state == mesos_pb2.TASK_RUNNING and u.status.HasField("healthy")
            ]

        agent.wait_for(lambda: health() == [True], timeout=120)
        (Path(record.directory) / "stop").touch()
        agent.wait_for_state("checked", mesos_pb2.TASK_KILLED, timeout=60)
        assert health() == [True, False, False]
        final = agent.updates("checked")[-1].status
        assert "Health check failed 2 times" in final.message
        assert ("8080" in final.message) and (kind != "HTTP" or "GET http://" in final.message)
        agent.wait_for(lambda: record.completed, timeout=60)
    finally:
        agent.shutdown()


def test_a_later_task_of_a_pod_brings_its_own_port(
    make_agent,
    root,
    registry,  # noqa: F811
    busybox_layer,  # noqa: F811
    pod_network_namespace,
):
    """Tasks of one executor share the VM; each one's host port lives as long as the task."""
    agent = make_agent("a")
    executor = mesos_pb2.ExecutorInfo(name="pod executor")
    executor.executor_id.value = "pod-1"
    executor.command.value = "unused: mesos-hyper is the executor"
    infos = {}
    for name, host_port, port in (("first", 31080, 8080), ("second", 31081, 8081)):
        serve = f"mkdir -p /w; echo {name} > /w/index.html; exec busybox httpd -f -p {port} -h /w"
        ref = f"{registry.host}/t/pod-{name}:1"
        push_image(build_image([busybox_layer], cmd=["/bin/sh", "-c", serve]), ref)
        info = task(name, ref, "")
        info.ClearField("command")  # a task of a custom executor runs its image's Cmd
        info.executor.CopyFrom(executor)
        _bridge(info, host_port, port)
        infos[name] = info
    outside = pod_network_namespace.outside
    try:
        record = agent.launch_task(infos["first"])
        agent.wait_for_state("first", mesos_pb2.TASK_RUNNING, timeout=120)
        assert _get_soon(outside, f"http://{OUTSIDE_HOST_IP}:31080/") == "first\n"
        assert agent.launch_task(infos["second"]) is record  # the same executor and VM
        agent.wait_for_state("second", mesos_pb2.TASK_RUNNING, timeout=60)
        assert _get_soon(outside, f"http://{OUTSIDE_HOST_IP}:31081/") == "second\n"
        agent.kill_task("second")
        agent.wait_for_state("second", mesos_pb2.TASK_KILLED, timeout=60)
        assert _get(outside, f"http://{OUTSIDE_HOST_IP}:31081/") is None  # its port went
        assert _get(outside, f"http://{OUTSIDE_HOST_IP}:31080/") == "first\n"
        agent.kill_task("first")
        agent.wait_for_state("first", mesos_pb2.TASK_KILLED, timeout=60)
        agent.wait_for(lambda: record.completed, timeout=60)
        assert firewall.owned(_settings(root)) == set()
    finally:
        agent.shutdown()
