"""ECP protobufs become validated plain dataclasses, and answers are built right."""

from __future__ import annotations

import pytest

from mesos_hyper.containerizer.recordio import ProtocolError, parse, serialize
from mesos_hyper.model import messages as m
from mesos_hyper.proto import containerizer_pb2 as cpb
from mesos_hyper.proto import mesos_pb2 as pb

SANDBOX = "/var/lib/mesos/slaves/S0/frameworks/F0/executors/web.1/runs/c-1"


def _scalar(name: str, value: float) -> pb.Resource:
    return pb.Resource(name=name, type=pb.Value.SCALAR, scalar=pb.Value.Scalar(value=value))


def _ports(*ranges: tuple[int, int]) -> pb.Resource:
    return pb.Resource(
        name="ports",
        type=pb.Value.RANGES,
        ranges=pb.Value.Ranges(range=[pb.Value.Range(begin=b, end=e) for b, e in ranges]),
    )


def _marathon_launch() -> cpb.Launch:
    """A Marathon DOCKER app as a 1.0.4 agent hands it to the ECP (command task)."""
    container = pb.ContainerInfo(
        type=pb.ContainerInfo.DOCKER,
        hostname="web",
        docker=pb.ContainerInfo.DockerInfo(
            image="registry:5000/web:1",
            network=pb.ContainerInfo.DockerInfo.BRIDGE,
            port_mappings=[
                pb.ContainerInfo.DockerInfo.PortMapping(host_port=31001, container_port=80),
                pb.ContainerInfo.DockerInfo.PortMapping(
                    host_port=31002, container_port=0, protocol="UDP"
                ),
            ],
            force_pull_image=True,
            parameters=[pb.Parameter(key="label", value="a=b")],
        ),
        volumes=[pb.Volume(container_path="/data", host_path="/srv/data", mode=pb.Volume.RO)],
    )
    task = pb.TaskInfo(
        name="web",
        task_id=pb.TaskID(value="web.1"),
        slave_id=pb.SlaveID(value="S0"),
        resources=[_scalar("cpus", 0.5), _scalar("mem", 128), _ports((31001, 31002))],
        command=pb.CommandInfo(
            value="python -m http.server 80",
            environment=pb.Environment(
                variables=[
                    pb.Environment.Variable(name="PORT0", value="31001"),
                    pb.Environment.Variable(name="A", value="1"),
                    pb.Environment.Variable(name="A", value="2"),
                ]
            ),
            uris=[pb.CommandInfo.URI(value="http://x/cfg.tgz", cache=True)],
        ),
        container=container,
        health_check=pb.HealthCheck(
            command=pb.CommandInfo(value="true"), interval_seconds=5, consecutive_failures=2
        ),
        kill_policy=pb.KillPolicy(grace_period=pb.DurationInfo(nanoseconds=3_000_000_000)),
        labels=pb.Labels(labels=[pb.Label(key="team", value="blue")]),
    )
    executor = pb.ExecutorInfo(
        executor_id=pb.ExecutorID(value="web.1"),
        framework_id=pb.FrameworkID(value="F0"),
        command=pb.CommandInfo(shell=False, value="/usr/libexec/mesos/mesos-executor"),
        container=container,
        resources=[_scalar("cpus", 0.1), _scalar("mem", 32)],
        shutdown_grace_period=pb.DurationInfo(nanoseconds=5_000_000_000),
        name="Command Executor (Task: web.1) (Command: sh -c 'python ...')",
    )
    return cpb.Launch(
        container_id=pb.ContainerID(value="c-1"),
        task_info=task,
        executor_info=executor,
        directory=SANDBOX,
        user="nobody",
        slave_id=pb.SlaveID(value="S0"),
        slave_pid="slave(1)@10.0.0.1:5051",
        checkpoint=True,
    )


def test_from_launch_command_task() -> None:
    # Through the wire, so defaults (shell=True, extract=True) come from the .proto.
    req = m.from_launch(parse(cpb.Launch, serialize(_marathon_launch())))

    assert req.container_id == "c-1"
    assert req.directory == SANDBOX
    assert (req.user, req.slave_id, req.slave_pid, req.checkpoint) == (
        "nobody",
        "S0",
        "slave(1)@10.0.0.1:5051",
        True,
    )
    task = req.task
    assert task is not None
    assert (task.task_id, task.name, task.kill_grace_seconds) == ("web.1", "web", 3.0)
    assert task.labels == (("team", "blue"),)
    assert task.command == m.CommandSpec(
        shell=True,
        value="python -m http.server 80",
        env=(("PORT0", "31001"), ("A", "1"), ("A", "2")),
        uris=(m.UriSpec(value="http://x/cfg.tgz", cache=True, extract=True),),
    )
    assert task.command.environment() == {"PORT0": "31001", "A": "2"}
    assert task.resources == m.Limits(cpus=0.5, mem_mb=128, ports=((31001, 31002),))
    assert task.resources.port_numbers() == [31001, 31002]
    assert task.health_check == m.HealthCheckSpec(
        command=m.CommandSpec(value="true"), interval_seconds=5.0, consecutive_failures=2
    )

    container = req.container
    assert container is not None
    assert container.type == "DOCKER"
    assert container.image == "registry:5000/web:1"
    assert container.network == "BRIDGE"
    assert container.port_mappings == (
        m.PortMappingSpec(31001, 80, "tcp"),
        m.PortMappingSpec(31002, 31002, "udp"),
    )
    assert container.force_pull and not container.privileged
    assert container.parameters == (("label", "a=b"),)
    assert container.volumes == (m.VolumeSpec("/data", "RO", host_path="/srv/data"),)
    assert container.hostname == "web"

    executor = req.executor
    assert (executor.executor_id, executor.framework_id) == ("web.1", "F0")
    assert executor.command.shell is False
    assert executor.shutdown_grace_seconds == 5.0
    # a 1.0.4 agent has already added the task's resources to the ExecutorInfo it launches
    assert req.resources == req.executor.resources


def test_mesos_image_is_read_from_the_task() -> None:
    launch = _marathon_launch()
    mesos = pb.ContainerInfo(
        type=pb.ContainerInfo.MESOS,
        mesos=pb.ContainerInfo.MesosInfo(
            image=pb.Image(type=pb.Image.DOCKER, docker=pb.Image.Docker(name="alpine:3"))
        ),
    )
    launch.task_info.container.CopyFrom(mesos)
    # The agent clears mesos.image in the ExecutorInfo copy.
    launch.executor_info.container.CopyFrom(pb.ContainerInfo(type=pb.ContainerInfo.MESOS))
    req = m.from_launch(launch)
    assert req.container is not None
    assert req.container.mesos_image == m.ImageSpec(type="DOCKER", name="alpine:3")
    assert req.container.image == "alpine:3"
    assert req.executor.container == m.ContainerSpec(type="MESOS")
    assert req.container.network == "HOST"


def test_custom_executor_launch_has_no_task() -> None:
    launch = _marathon_launch()
    launch.ClearField("task_info")
    req = m.from_launch(launch)
    assert req.task is None
    assert req.container == req.executor.container
    assert req.resources == m.Limits(cpus=0.1, mem_mb=32)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "x\0y", "a\nb", "x" * 256])
def test_unsafe_container_ids_are_rejected(bad: str) -> None:
    launch = _marathon_launch()
    launch.container_id.value = bad
    with pytest.raises(ProtocolError, match="container id") as err:
        m.from_launch(launch)
    assert "\n" not in str(err.value)


def _mutated(change: str) -> cpb.Launch:
    launch = _marathon_launch()
    if change == "no executor":
        launch.ClearField("executor_info")
    elif change == "relative directory":
        launch.directory = "runs/c-1"
    elif change == "no framework id":
        launch.executor_info.ClearField("framework_id")
    elif change == "host port 0":
        launch.task_info.container.docker.port_mappings[0].host_port = 0
    elif change == "port range":
        launch.task_info.resources[2].ranges.range[0].end = 70000
    elif change == "negative cpus":
        launch.task_info.resources[0].scalar.value = -1
    elif change == "negative grace":
        launch.task_info.kill_policy.grace_period.nanoseconds = -1
    elif change == "empty shell":
        launch.task_info.command.ClearField("value")
    elif change == "docker without info":
        launch.task_info.container.ClearField("docker")
    elif change == "ranges as scalar":
        launch.task_info.resources[0].type = pb.Value.RANGES
    elif change == "two check kinds":
        launch.task_info.health_check.http.port = 80
    elif change == "no check kind":
        launch.task_info.health_check.ClearField("command")
    elif change == "type without field":
        launch.task_info.health_check.type = pb.HealthCheck.TCP
    elif change == "check port 0":
        launch.task_info.health_check.ClearField("command")
        launch.task_info.health_check.tcp.port = 0
    elif change == "check scheme":
        launch.task_info.health_check.ClearField("command")
        launch.task_info.health_check.http.port = 80
        launch.task_info.health_check.http.scheme = "gopher"
    return launch


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("no executor", "has no executor info"),
        ("relative directory", "no absolute sandbox directory"),
        ("no framework id", "no framework id"),
        ("host port 0", "host_port 0 is not a port number"),
        ("port range", r"bad range \[31001-70000\]"),
        ("negative cpus", "'cpus' has a bad value -1"),
        ("negative grace", "grace period is negative"),
        ("empty shell", "shell command has no value"),
        ("docker without info", "DOCKER container has no docker info"),
        ("ranges as scalar", "'cpus' is not a scalar"),
        ("two check kinds", r"exactly one of 'command', 'http' and 'tcp' \(it has COMMAND, HTTP\)"),
        ("no check kind", "exactly one of 'command', 'http' and 'tcp'$"),
        ("type without field", "health check of type TCP has no 'tcp' field"),
        ("check port 0", "health check port 0 is not a port number"),
        ("check scheme", "health check scheme 'gopher'"),
    ],
)
def test_bad_launches_are_one_line_errors(change: str, expected: str) -> None:
    with pytest.raises(ProtocolError, match=expected) as err:
        m.from_launch(_mutated(change))
    assert "\n" not in str(err.value)


def test_http_and_tcp_health_checks() -> None:
    """1.0.4's http field (the type inferred), and 1.1.0's type and tcp fields."""
    launch = _marathon_launch()
    hc = launch.task_info.health_check
    hc.ClearField("command")
    hc.http.port, hc.http.path = 8080, "healthz"
    hc.http.statuses.extend([200, 204])
    spec = m.from_launch(launch).task.health_check
    assert (spec.kind, spec.port, spec.http_path, spec.http_scheme) == (
        "HTTP",
        8080,
        "/healthz",
        "http",
    )
    assert spec.http_statuses == (200, 204) and spec.command is None

    hc.ClearField("http")
    hc.type, hc.tcp.port = pb.HealthCheck.TCP, 5432
    spec = m.from_launch(launch).task.health_check
    assert (spec.kind, spec.port) == ("TCP", 5432)


def test_named_discovery_ports_are_kept() -> None:
    launch = _marathon_launch()
    ports = launch.task_info.discovery.ports
    launch.task_info.discovery.visibility = pb.DiscoveryInfo.FRAMEWORK
    ports.ports.add(number=31001, name="http", protocol="tcp")
    ports.ports.add(number=31002, protocol="udp")  # no name: no PORT_<NAME>
    assert m.from_launch(launch).task.named_ports == (("http", 31001),)


def test_termination_builder_round_trips() -> None:
    term = m.build_termination(
        m.exit_status(3), "TASK_FAILED", ["REASON_EXECUTOR_TERMINATED"], "exited with 3"
    )
    back = parse(cpb.Termination, serialize(term))
    assert back.status == 3 << 8
    assert back.state == pb.TASK_FAILED
    assert list(back.reasons) == [pb.TaskStatus.REASON_EXECUTOR_TERMINATED]
    assert back.message == "exited with 3"
    assert m.build_termination(m.signal_status(9)).status == 9
    assert not m.build_termination(None).HasField("status")


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: m.build_termination(0, "TASK_EXPLODED"), "unknown task state 'TASK_EXPLODED'"),
        (lambda: m.build_termination(0, reasons=["NOPE"]), "unknown reason 'NOPE'"),
        (lambda: m.exit_status(256), "out of range"),
        (lambda: m.signal_status(0), "out of range"),
    ],
)
def test_termination_builder_rejects_bad_values(call: object, expected: str) -> None:
    with pytest.raises(ProtocolError, match=expected):
        call()  # type: ignore[operator]
