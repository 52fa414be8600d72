"""The executor's network view of a task (forwards, port variables) and its health checks,
against real sockets on the loopback; the end-to-end versions are in test_network_e2e."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from mesos_hyper.errors import UsageError
from mesos_hyper.executor import networking
from mesos_hyper.executor.health_check import HealthChecker, http_probe, tcp_probe
from mesos_hyper.model.messages import (
    ContainerSpec,
    HealthCheckSpec,
    Limits,
    PortMappingSpec,
    TaskSpec,
)
from vmctl.network.firewall import Forward


def _task(network: str, mappings=(), ports=((31000, 31001),), named=()) -> TaskSpec:
    return TaskSpec(
        task_id="t",
        name="t",
        container=ContainerSpec(type="DOCKER", network=network, port_mappings=tuple(mappings)),
        resources=Limits(ports=ports),
        named_ports=tuple(named),
    )


def test_bridge_forwards_each_mapping_and_sets_marathons_port_variables():
    task = _task(
        "BRIDGE",
        [PortMappingSpec(31001, 8080, "tcp"), PortMappingSpec(31000, 53, "udp")],
        named=[("http", 31001), ("dns-udp", 31000)],
    )
    assert networking.forwards(task) == [Forward("tcp", 31001, 8080), Forward("udp", 31000, 53)]
    assert networking.port_env(task) == {
        "PORT0": "31001",
        "PORT1": "31000",
        "PORT": "31001",
        "PORTS": "31001,31000",
        "PORT_8080": "31001",
        "PORT_53": "31000",
        "PORT_HTTP": "31001",
        "PORT_DNS_UDP": "31000",
    }


def test_host_forwards_every_port_one_to_one_tcp_and_udp():
    task = _task("HOST")
    assert networking.forwards(task) == [
        Forward("tcp", 31000, 31000),
        Forward("udp", 31000, 31000),
        Forward("tcp", 31001, 31001),
        Forward("udp", 31001, 31001),
    ]
    assert networking.port_env(task)["PORTS"] == "31000,31001"


def test_a_mapping_outside_the_ports_resource_is_refused():
    with pytest.raises(UsageError, match="host port 32000 is not in the task's ports"):
        networking.forwards(_task("BRIDGE", [PortMappingSpec(32000, 80)]))
    with pytest.raises(UsageError, match="USER is not supported"):
        networking.mode(_task("USER"))


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = int(self.path.strip("/") or 200)
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(port: int, path: str, statuses=()) -> HealthCheckSpec:
    return HealthCheckSpec(kind="HTTP", port=port, http_path=path, http_statuses=tuple(statuses))


def test_http_probe_takes_2xx_and_3xx_or_the_given_statuses(web):
    assert http_probe(None, "127.0.0.1", _http(web, "/200"))(2) == (
        True,
        f"GET http://127.0.0.1:{web}/200 answered 200",
    )
    assert http_probe(None, "127.0.0.1", _http(web, "/302"))(2)[0]
    assert not http_probe(None, "127.0.0.1", _http(web, "/500"))(2)[0]
    assert not http_probe(None, "127.0.0.1", _http(web, "/200", [204]))(2)[0]
    assert http_probe(None, "127.0.0.1", _http(web, "/204", [204]))(2)[0]
    closed = _closed_port()
    ok, why = http_probe(None, "127.0.0.1", _http(closed, "/"))(2)
    assert not ok and f"GET http://127.0.0.1:{closed}/ failed" in why


def test_tcp_probe(web):
    assert tcp_probe(None, "127.0.0.1", web)(2)[0]
    ok, why = tcp_probe(None, "127.0.0.1", _closed_port())(2)
    assert not ok and "cannot connect" in why


def test_a_silent_server_times_the_check_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        ok, why = http_probe(None, "127.0.0.1", _http(port, "/"))(0.5)
    assert not ok and "timed out" in why


def _run_checker(results: list[bool], **spec: float) -> tuple[list, list]:
    """Feeds ``results`` to a checker with no waiting; returns (health updates, kills)."""
    feed = iter(results)
    health, kills = [], []
    done = threading.Event()

    def check(timeout: float) -> tuple[bool, str]:
        ok = next(feed, None)
        if ok is None:
            done.set()
            return True, "end"
        return ok, "ok" if ok else "bad"

    def on_kill(why: str) -> None:
        kills.append(why)
        done.set()

    hc = HealthCheckSpec(delay_seconds=0, interval_seconds=0.001, **spec)
    checker = HealthChecker(hc, check, lambda h, why: health.append(h), on_kill)
    checker.start()
    assert done.wait(10)
    checker.stop()
    return health, kills


def test_failures_in_the_grace_period_are_ignored_until_the_first_success():
    health, kills = _run_checker(
        [False, False, False, True, False, True], grace_period_seconds=60, consecutive_failures=2
    )
    assert health[:3] == [True, False, True] and kills == []


def test_consecutive_failures_kill_once():
    health, kills = _run_checker(
        [True, False, False, False], grace_period_seconds=0, consecutive_failures=3
    )
    assert health == [True, False, False, False]
    assert kills == ["Health check failed 3 times in a row: bad"]
