"""Every example in examples/ runs through the agent double, as Marathon would launch it.

Each app goes through ``mesos_hyper.deploy.marathon_app.task_info`` (the TaskInfo Marathon
1.3 builds) with its image pointed at the test registry, which holds the same busybox image
the README's install builds. The test plays Marathon for the checks Marathon runs itself
(HTTP and TCP, against the agent's address and host port, from the outside namespace).
"""

from __future__ import annotations

import functools
import http.server
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mesos_hyper.deploy import marathon_app
from mesos_hyper.images.build import build_demo_image, push_image
from mesos_hyper.proto import mesos_pb2
from tests.agent_double import Agent
from tests.agent_double.records import ExecutorRecord
from tests.example_apps import load_example, pod_task_infos
from tests.net_fixtures import OUTSIDE_HOST_IP
from tests.registry_fixtures import registry  # noqa: F401
from tests.test_ecp_e2e import agent, busybox_layer, image  # noqa: F401
from vmctl.network.netns import run_in_netns

pytestmark = pytest.mark.vm
OFFERED = list(range(31000, 31010))


def _launch(
    double: Agent,
    app: dict[str, Any],
    image: str,  # noqa: F811
) -> tuple[marathon_app.MarathonTask, ExecutorRecord]:
    """What Marathon launches for ``app`` on an offer of OFFERED ports, launched."""
    app["container"]["docker"]["image"] = image
    made = marathon_app.task_info(
        app,
        task_id=marathon_app.marathon_task_id(app["id"]),
        agent_host=OUTSIDE_HOST_IP,
        offered_ports=OFFERED,
        agent_id=double.agent_id,
    )
    return made, double.launch_task(made.task_info)


def _from_outside(netns: str, fn: Any, within: float = 60.0) -> Any:
    """``fn()`` from beyond the agent host, retried while the VM boots."""
    deadline = time.monotonic() + within
    while True:
        try:
            return run_in_netns(netns, fn)
        except (OSError, requests.RequestException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _healthy_updates(double: Agent, task_id: str) -> list[bool]:
    return [
        u.status.healthy
        for u in double.updates(task_id)
        if u.status.state == mesos_pb2.TASK_RUNNING and u.status.HasField("healthy")
    ]


def _kill(double: Agent, task_id: str, record: ExecutorRecord) -> None:
    double.kill_task(task_id)
    double.wait_for_state(task_id, mesos_pb2.TASK_KILLED, timeout=60)
    double.wait_for(lambda: record.completed, timeout=60)


def test_web_bridge_answers_on_its_host_port_and_its_checks_follow_the_server(
    agent,  # noqa: F811
    image,  # noqa: F811
    pod_network_namespace,
):
    made, record = _launch(agent, load_example("web-bridge.json"), image)
    task_id = made.task_info.task_id.value
    address = f"{OUTSIDE_HOST_IP}:{made.host_ports[0]}"
    (check,) = made.marathon_checks  # Marathon's HTTP check; the COMMAND one is in the task
    assert check["url"] == f"http://{address}/"
    outside = pod_network_namespace.outside
    reply = _from_outside(outside, lambda: requests.get(check["url"], timeout=3))
    assert reply.status_code == 200
    assert reply.text == f"hello from {task_id}, reachable on {address}\n"
    # the COMMAND check (wget inside the task's VM) reports healthy to the "scheduler"
    agent.wait_for(lambda: _healthy_updates(agent, task_id)[:1] == [True], timeout=60)

    # An operator stops the server in its VM. It hangs rather than dies: httpd is the
    # task's own process (`exec httpd`), so killing it would end the task instead.
    exec_cli = [sys.executable, "-m", "mesos_hyper.cli", "exec", record.container_id]
    stop = subprocess.run(
        [*exec_cli, "--", "killall", "-STOP", "httpd"],
        env=agent.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stop.returncode == 0, stop.stderr
    with pytest.raises(requests.RequestException):  # Marathon's check fails from outside
        run_in_netns(outside, lambda: requests.get(check["url"], timeout=3))
    # the COMMAND check turns unhealthy and, after maxConsecutiveFailures (3), kills the task
    status = agent.wait_for_state(task_id, mesos_pb2.TASK_KILLED, timeout=120)
    assert "Health check failed 3 times" in status.message
    assert _healthy_updates(agent, task_id) == [True, False, False, False]
    agent.wait_for(lambda: record.completed, timeout=60)


def test_host_net_serves_both_named_ports(agent, image, pod_network_namespace):  # noqa: F811
    made, record = _launch(agent, load_example("host-net.json"), image)
    http_port, admin_port = made.host_ports
    env = made.env
    assert (env["PORT_HTTP"], env["PORT_ADMIN"]) == (str(http_port), str(admin_port))
    outside = pod_network_namespace.outside
    url = f"http://{OUTSIDE_HOST_IP}:{http_port}/"
    reply = _from_outside(outside, lambda: requests.get(url, timeout=3))
    assert reply.text == f"http on {http_port}, admin on {admin_port}\n"
    (check,) = made.marathon_checks
    assert (check["protocol"], check["port"]) == ("TCP", admin_port)

    def admin() -> bytes:
        with socket.create_connection((OUTSIDE_HOST_IP, admin_port), timeout=3) as sock:
            return sock.recv(100)

    assert _from_outside(outside, admin) == b"admin-ok\n"
    _kill(agent, made.task_info.task_id.value, record)


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[int]:
    """What examples/README.md serves for batch-fetch, on a free port of 127.0.0.1."""
    root = tmp_path / "serve"
    (root / "payload/data").mkdir(parents=True)
    (root / "payload/data/hello.txt").write_text("hello from an archive\n")
    with tarfile.open(root / "bundle.tar.gz", "w:gz") as tar:
        tar.add(root / "payload/data", arcname="data")
    (root / "tool.sh").write_text("#!/bin/sh\necho tool ran\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_batch_fetch_runs_what_it_fetched(agent, image, file_server):  # noqa: F811
    app = load_example("batch-fetch.json")
    for item in app["fetch"]:
        assert item["uri"].startswith("http://127.0.0.1:8000/")
        item["uri"] = item["uri"].replace(":8000/", f":{file_server}/")
    made, record = _launch(agent, app, image)
    agent.wait_for_state(made.task_info.task_id.value, mesos_pb2.TASK_FINISHED, timeout=120)
    out = (Path(record.directory) / "stdout").read_text()
    assert out == "hello from an archive\ntool ran\nbatch-ok\n"


def test_pod_two_tasks_share_one_vm(agent, image, registry):  # noqa: F811
    doc = load_example("pod-two-tasks.json")
    ours = {}  # the example's images, built as its note says, in the test registry
    for ref, made in doc["images"].items():
        ours[ref] = f"{registry.host}/{ref.split('/', 1)[1]}"
        push_image(build_demo_image(made["cmd"]), ours[ref])
    for entry in doc["tasks"]:
        entry["executor"]["container"]["docker"]["image"] = image
        entry["container"]["docker"]["image"] = ours[entry["container"]["docker"]["image"]]
    web, client = pod_task_infos(doc, agent_id=agent.agent_id)
    record = agent.launch_task(web)
    agent.wait_for_state("pod-web", mesos_pb2.TASK_RUNNING, timeout=120)
    assert agent.launch_task(client) is record  # one executor, one container, one VM
    agent.wait_for_state("pod-client", mesos_pb2.TASK_FINISHED, timeout=120)
    assert "pod-hello" in (Path(record.directory) / "stdout").read_text()
    _kill(agent, "pod-web", record)
