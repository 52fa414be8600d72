"""``mesos-hyper deploy`` without a cluster: offers, the v1 JSON it launches, states,
health, the exit status. tests/test_real_mesos.py runs it against a real 1.0.4 master."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
from typing import Any

import pytest

from mesos_hyper.deploy import probes
from mesos_hyper.deploy.deployment import Deployment
from mesos_hyper.deploy.marathon_app import task_info
from mesos_hyper.deploy.v1_json import to_v1
from tests.example_apps import load_example
from tests.registry_fixtures import free_port


class FakeDriver:
    def __init__(self) -> None:
        self.launched: list[tuple[dict, list[dict]]] = []
        self.declined: list[dict] = []
        self.suppressed = False

    def launchTasks(self, offer_id: dict, tasks: list[dict]) -> None:
        self.launched.append((offer_id, tasks))

    def declineOffer(self, offer_id: dict, filters: dict) -> None:
        self.declined.append(offer_id)

    def suppressOffers(self) -> None:
        self.suppressed = True


def offer(
    n: int, cpus: float = 2, mem: float = 1024, ports: tuple[int, int] | None = (31000, 31009)
):
    resources: list[dict[str, Any]] = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}, "role": "*"},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}, "role": "*"},
        {"name": "disk", "type": "SCALAR", "scalar": {"value": 1000}, "role": "*"},
    ]
    if ports:
        resources.append(
            {
                "name": "ports",
                "type": "RANGES",
                "ranges": {"range": [{"begin": ports[0], "end": ports[1]}]},
                "role": "*",
            }
        )
    return {
        "id": {"value": f"O{n}"},
        "agent_id": {"value": "S1"},
        "hostname": "agent-1",
        "resources": resources,
    }


def test_a_task_is_v1_json_the_master_parses():
    made = task_info(
        load_example("web-bridge.json"), task_id="t.1", agent_host="a", offered_ports=[31000]
    )
    doc = to_v1(made.task_info)
    assert "slave_id" not in doc and doc["agent_id"] == {"value": "mesos-hyper-agent-S0"}
    assert doc["container"]["type"] == "DOCKER"
    assert doc["container"]["docker"]["network"] == "BRIDGE"
    assert doc["container"]["docker"]["port_mappings"][0]["host_port"] == 31000
    # int64 stays a JSON number: a 1.0 master does not parse proto3's strings
    assert doc["kill_policy"]["grace_period"]["nanoseconds"] == 5_000_000_000
    assert doc["health_check"]["command"]["value"].startswith("wget")
    json.dumps(doc)


def test_offers_that_fit_launch_instances_and_the_rest_are_declined():
    app = load_example("web-bridge.json")  # 0.5 cpus, 64 mem, one host port
    deployment = Deployment(app, 3, say=lambda _line: None)
    driver = FakeDriver()
    deployment.resourceOffers(driver, [offer(1, cpus=1.0), offer(2, ports=None)])
    assert len(driver.launched) == 1 and driver.declined == [{"value": "O2"}]
    (offer_id, tasks) = driver.launched[0]
    assert offer_id == {"value": "O1"} and len(tasks) == 2  # 1 cpu holds two of 0.5
    ports = [t["container"]["docker"]["port_mappings"][0]["host_port"] for t in tasks]
    assert ports == [31000, 31001]  # each its own host port from the offer
    assert not driver.suppressed
    deployment.resourceOffers(driver, [offer(3)])
    assert len(driver.launched[1][1]) == 1 and driver.suppressed  # all 3 launched


def test_what_no_offer_had_is_said_per_agent():
    app = load_example("web-bridge.json")  # 0.5 cpus, 64 mem, one host port
    deployment = Deployment(app, 2, say=lambda _line: None)
    driver = FakeDriver()
    deployment.resourceOffers(driver, [offer(1, cpus=0.2, mem=32)])
    assert not driver.launched and not deployment.all_launched()
    assert deployment.summary() == (
        0,
        ["2 instance(s) never got an offer that fits "
         "(agent-1: cpus: 0.5 needed, 0.2 offered, mem: 64 needed, 32 offered)"],
    )  # fmt: skip
    deployment.resourceOffers(driver, [offer(2, ports=None)])
    assert "(agent-1: 1 ports needed, not enough of the 0 offered)" in deployment.summary()[1][0]
    deployment.resourceOffers(driver, [offer(3, cpus=0.5)])  # one fits; the line is kept
    assert len(deployment.instances) == 1
    assert deployment.summary()[1][-1].startswith("1 instance(s) never got an offer that fits")


def test_states_and_health_decide_the_outcome():
    app = load_example("batch-fetch.json")
    app.pop("healthChecks", None)
    deployment = Deployment(app, 1, say=lambda _line: None)
    deployment.resourceOffers(FakeDriver(), [offer(1)])
    (task_id,) = deployment.instances
    assert deployment.summary() == (0, [f"{task_id}: never ran (TASK_STAGING)"])
    for state in ("TASK_RUNNING", "TASK_FINISHED"):
        deployment.statusUpdate(None, {"task_id": {"value": task_id}, "state": state})
    assert deployment.all_ended() and deployment.summary() == (1, [])

    checked = Deployment(load_example("web-bridge.json"), 1, say=lambda _line: None)
    checked.resourceOffers(FakeDriver(), [offer(1)])
    (task_id,) = checked.instances
    checked.statusUpdate(None, {"task_id": {"value": task_id}, "state": "TASK_RUNNING"})
    checked.stop()  # no probes: the HTTP check never passes
    assert checked.summary() == (0, [f"{task_id}: ran but never healthy"])


def test_marathon_checks_are_probed_against_the_host_port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        http_check = {
            "protocol": "HTTP",
            "host": "127.0.0.1",
            "port": port,
            "url": f"http://127.0.0.1:{port}/",
        }
        assert probes.passes(http_check, 5)
        assert probes.passes({"protocol": "TCP", "host": "127.0.0.1", "port": port}, 5)
    finally:
        server.shutdown()
        server.server_close()
    closed = free_port()
    assert not probes.passes({"protocol": "TCP", "host": "127.0.0.1", "port": closed}, 2)
    with socket.socket() as s:  # nothing listens: refused, not hung
        assert s.connect_ex(("127.0.0.1", closed)) != 0


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        ("{not json", "is not JSON"),
        ("[1]", "an app definition is a JSON object"),
        (
            '{"id": "/x", "container": {"docker": {"image": "i", "network": "USER"}}}',
            "USER",
        ),
    ],
)
def test_a_bad_app_is_refused_before_any_framework_registers(tmp_path, content, expect):
    app = tmp_path / "app.json"
    app.write_text(content)
    res = subprocess.run(
        [sys.executable, "-m", "mesos_hyper.cli", "deploy", str(app), "--master", "127.0.0.1:1"],
        capture_output=True,
        timeout=60,
    )
    assert res.returncode != 0
    assert expect in res.stderr.decode(), res.stderr.decode()


def test_an_unreachable_master_is_a_clear_error_after_the_register_timeout(tmp_path):
    app = tmp_path / "app.json"
    app.write_text(json.dumps(load_example("web-bridge.json")))
    argv = [sys.executable, "-m", "mesos_hyper.cli", "deploy", str(app)]
    res = subprocess.run(
        [*argv, "--master", f"127.0.0.1:{free_port()}", "--register-timeout", "3"],
        capture_output=True,
        timeout=120,
    )
    assert res.returncode == 1
    assert "registered us in 3s" in res.stderr.decode(), res.stderr.decode()


def test_an_unknown_field_is_refused_before_any_framework_registers(tmp_path):
    app = tmp_path / "app.json"
    app.write_text(json.dumps({**load_example("web-bridge.json"), "healthcheck": []}))
    res = subprocess.run(
        [sys.executable, "-m", "mesos_hyper.cli", "deploy", str(app), "--master", "127.0.0.1:1"],
        capture_output=True,
        timeout=60,
    )
    assert res.returncode != 0
    assert "unknown field 'healthcheck' (did you mean 'healthChecks'?)" in res.stderr.decode()
