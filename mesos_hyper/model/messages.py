"""Protobuf at the edge: ECP messages in, plain frozen dataclasses out (and back).

Everything past this module works with the dataclasses below, so the rest of the
code never touches ``*_pb2`` types and never sees an unvalidated field. What we
rely on is checked here and rejected with a one-line :class:`ProtocolError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from mesos_hyper.containerizer.recordio import ProtocolError
from mesos_hyper.model.ids import validate_container_id
from mesos_hyper.model.limits import Limits, sum_resources
from mesos_hyper.proto import containerizer_pb2, mesos_pb2

# ---- plain types ------------------------------------------------------------


@dataclass(frozen=True)
class UriSpec:
    """A CommandInfo.URI the fetcher would download into the sandbox."""

    value: str
    executable: bool = False
    extract: bool = True
    cache: bool = False
    output_file: str | None = None


@dataclass(frozen=True)
class CommandSpec:
    """What to run. ``shell`` means ``/bin/sh -c value``; otherwise ``value`` + ``arguments``.

    ``value`` is None when a shell=false Docker task leaves the image's entrypoint/cmd
    in charge. ``env`` keeps the agent's order; later duplicates win (``environment``).
    """

    shell: bool = True
    value: str | None = None
    arguments: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    uris: tuple[UriSpec, ...] = ()
    user: str | None = None

    def environment(self) -> dict[str, str]:
        return dict(self.env)


@dataclass(frozen=True)
class PortMappingSpec:
    """A host port forwarded to the guest; ``container_port`` 0 already means host_port."""

    host_port: int
    container_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class ImageSpec:
    """ContainerInfo.mesos.image: ``type`` is "DOCKER" or "APPC"; ``name`` the reference."""

    type: str
    name: str
    cached: bool = True


@dataclass(frozen=True)
class VolumeSpec:
    """A volume of a task's container, as Mesos describes it."""

    container_path: str
    mode: str  # "RW" or "RO"
    host_path: str | None = None
    image: ImageSpec | None = None
    docker_volume: str | None = None
    docker_volume_driver: str | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """ContainerInfo. ``network`` is the DockerInfo network name (HOST unless told)."""

    type: str  # "DOCKER" or "MESOS"
    docker_image: str | None = None
    mesos_image: ImageSpec | None = None
    network: str = "HOST"
    network_names: tuple[str, ...] = ()
    port_mappings: tuple[PortMappingSpec, ...] = ()
    privileged: bool = False
    force_pull: bool = False
    parameters: tuple[tuple[str, str], ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()
    hostname: str | None = None

    @property
    def image(self) -> str | None:
        """The Docker reference to run: DockerInfo.image, else a DOCKER mesos image."""
        if self.docker_image:
            return self.docker_image
        if self.mesos_image is not None and self.mesos_image.type == "DOCKER":
            return self.mesos_image.name
        return None


@dataclass(frozen=True)
class HealthCheckSpec:
    """HealthCheck of 1.0.4 (COMMAND, HTTP) and 1.1.0's TCP check; ``kind`` says which."""

    kind: str = "COMMAND"
    command: CommandSpec | None = None
    port: int | None = None  # HTTP and TCP: the port inside the pod
    http_path: str = "/"
    http_scheme: str = "http"
    http_statuses: tuple[int, ...] = ()  # none: any 2xx or 3xx is healthy
    delay_seconds: float = 15.0
    interval_seconds: float = 10.0
    timeout_seconds: float = 20.0
    consecutive_failures: int = 3
    grace_period_seconds: float = 10.0


@dataclass(frozen=True)
class TaskSpec:
    """A task, as much of its TaskInfo as we use."""

    task_id: str
    name: str
    command: CommandSpec | None = None
    container: ContainerSpec | None = None
    resources: Limits = field(default_factory=Limits)
    health_check: HealthCheckSpec | None = None
    kill_grace_seconds: float | None = None
    labels: tuple[tuple[str, str], ...] = ()
    named_ports: tuple[tuple[str, int], ...] = ()  # DiscoveryInfo ports that have a name


@dataclass(frozen=True)
class ExecutorSpec:
    """An executor, as much of its ExecutorInfo as we use."""

    executor_id: str
    framework_id: str
    command: CommandSpec
    container: ContainerSpec | None = None
    resources: Limits = field(default_factory=Limits)
    shutdown_grace_seconds: float | None = None
    name: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LaunchRequest:
    """``launch``: ``task`` is set for command tasks, None for custom executors."""

    container_id: str
    executor: ExecutorSpec
    directory: str
    task: TaskSpec | None = None
    user: str | None = None
    slave_id: str | None = None
    slave_pid: str | None = None
    checkpoint: bool = False

    @property
    def container(self) -> ContainerSpec | None:
        """The task's ContainerInfo when there is one: the agent strips the mesos image
        from the copy it puts in the generated ExecutorInfo."""
        if self.task is not None and self.task.container is not None:
            return self.task.container
        return self.executor.container

    @property
    def resources(self) -> Limits:
        """What the container may use: the agent already added the task's resources to the
        ExecutorInfo it launches (1.0.4 slave.cpp, launchExecutor)."""
        return self.executor.resources


# ---- validation helpers -------------------------------------------------------


def _nonempty(value: str, what: str) -> str:
    if not value:
        raise ProtocolError(f"{what} is empty")
    return value


def _seconds(duration: mesos_pb2.DurationInfo, what: str) -> float:
    if duration.nanoseconds < 0:
        raise ProtocolError(f"{what} is negative ({duration.nanoseconds}ns)")
    return duration.nanoseconds / 1e9


def _port(value: int, what: str) -> int:
    if not 1 <= value <= 65535:
        raise ProtocolError(f"{what} {value} is not a port number")
    return value


def _labels(labels: mesos_pb2.Labels) -> tuple[tuple[str, str], ...]:
    return tuple((label.key, label.value) for label in labels.labels)


# ---- protobuf -> plain ----------------------------------------------------------


def _command(pb: mesos_pb2.CommandInfo) -> CommandSpec:
    uris = tuple(
        UriSpec(
            value=_nonempty(uri.value, "command uri"),
            executable=uri.executable,
            extract=uri.extract,
            cache=uri.cache,
            output_file=uri.output_file if uri.HasField("output_file") else None,
        )
        for uri in pb.uris
    )
    if pb.shell and not pb.value:
        raise ProtocolError("shell command has no value")
    return CommandSpec(
        shell=pb.shell,
        value=pb.value if pb.HasField("value") else None,
        arguments=tuple(pb.arguments),
        env=tuple((v.name, v.value) for v in pb.environment.variables),
        uris=uris,
        user=pb.user if pb.HasField("user") else None,
    )


def _image(pb: mesos_pb2.Image) -> ImageSpec:
    kind = mesos_pb2.Image.Type.Name(pb.type)
    name = pb.docker.name if pb.type == mesos_pb2.Image.DOCKER else pb.appc.name
    return ImageSpec(type=kind, name=_nonempty(name, f"{kind} image name"), cached=pb.cached)


def _volume(pb: mesos_pb2.Volume) -> VolumeSpec:
    source = pb.source.docker_volume if pb.HasField("source") else None
    return VolumeSpec(
        container_path=_nonempty(pb.container_path, "volume container_path"),
        mode=mesos_pb2.Volume.Mode.Name(pb.mode),
        host_path=pb.host_path if pb.HasField("host_path") else None,
        image=_image(pb.image) if pb.HasField("image") else None,
        docker_volume=source.name if source is not None and source.name else None,
        docker_volume_driver=source.driver if source is not None and source.driver else None,
    )


def _container(pb: mesos_pb2.ContainerInfo) -> ContainerSpec:
    kind = mesos_pb2.ContainerInfo.Type.Name(pb.type)
    docker = pb.docker if pb.HasField("docker") else None
    if pb.type == mesos_pb2.ContainerInfo.DOCKER and docker is None:
        raise ProtocolError("DOCKER container has no docker info")
    mappings: tuple[PortMappingSpec, ...] = ()
    if docker is not None:
        mappings = tuple(
            PortMappingSpec(
                host_port=_port(m.host_port, "port mapping host_port"),
                container_port=_port(m.container_port or m.host_port, "container_port"),
                protocol=(m.protocol or "tcp").lower(),
            )
            for m in docker.port_mappings
        )
    return ContainerSpec(
        type=kind,
        docker_image=_nonempty(docker.image, "docker image") if docker is not None else None,
        mesos_image=_image(pb.mesos.image) if pb.mesos.HasField("image") else None,
        network=(
            mesos_pb2.ContainerInfo.DockerInfo.Network.Name(docker.network)
            if docker is not None
            else "HOST"
        ),
        network_names=tuple(n.name for n in pb.network_infos if n.name),
        port_mappings=mappings,
        privileged=docker.privileged if docker is not None else False,
        force_pull=docker.force_pull_image if docker is not None else False,
        parameters=tuple((p.key, p.value) for p in docker.parameters) if docker else (),
        volumes=tuple(_volume(v) for v in pb.volumes),
        hostname=pb.hostname if pb.HasField("hostname") else None,
    )


def resources_from_pb(resources: Iterable[mesos_pb2.Resource]) -> Limits:
    """Summed over all roles (model.limits.sum_resources)."""
    return sum_resources(
        (r.name, r.type, r.scalar.value, [(x.begin, x.end) for x in r.ranges.range])
        for r in resources
    )


def _health_check_kind(pb: mesos_pb2.HealthCheck) -> str:
    """1.1.0 names the kind in ``type``; 1.0.4 has exactly one of ``http`` and ``command``."""
    present = [
        kind
        for kind, name in (("COMMAND", "command"), ("HTTP", "http"), ("TCP", "tcp"))
        if pb.HasField(name)
    ]
    if pb.HasField("type") and pb.type != mesos_pb2.HealthCheck.UNKNOWN:
        kind = mesos_pb2.HealthCheck.Type.Name(pb.type)
        if kind not in present:
            raise ProtocolError(f"health check of type {kind} has no '{kind.lower()}' field")
        return kind
    if len(present) != 1:
        raise ProtocolError(
            "a health check needs exactly one of 'command', 'http' and 'tcp'"
            + (f" (it has {', '.join(present)})" if present else "")
        )
    return present[0]


def _health_check(pb: mesos_pb2.HealthCheck) -> HealthCheckSpec:
    kind = _health_check_kind(pb)
    port = None
    if kind == "HTTP":
        port = _port(pb.http.port, "health check port")
        if pb.http.scheme not in ("", "http", "https"):
            raise ProtocolError(f"health check scheme {pb.http.scheme!r} (http or https)")
        for status in pb.http.statuses:
            if not 100 <= status <= 599:
                raise ProtocolError(f"health check status {status} is not an HTTP status")
    elif kind == "TCP":
        port = _port(pb.tcp.port, "health check port")
    path = pb.http.path or "/"
    return HealthCheckSpec(
        kind=kind,
        command=_command(pb.command) if kind == "COMMAND" else None,
        port=port,
        http_path=path if path.startswith("/") else "/" + path,
        http_scheme=pb.http.scheme or "http",
        http_statuses=tuple(pb.http.statuses),
        delay_seconds=pb.delay_seconds,
        interval_seconds=pb.interval_seconds,
        timeout_seconds=pb.timeout_seconds,
        consecutive_failures=pb.consecutive_failures,
        grace_period_seconds=pb.grace_period_seconds,
    )


def _task(pb: mesos_pb2.TaskInfo) -> TaskSpec:
    grace = None
    if pb.kill_policy.HasField("grace_period"):
        grace = _seconds(pb.kill_policy.grace_period, "kill policy grace period")
    return TaskSpec(
        task_id=_nonempty(pb.task_id.value, "task id"),
        name=pb.name,
        command=_command(pb.command) if pb.HasField("command") else None,
        container=_container(pb.container) if pb.HasField("container") else None,
        resources=resources_from_pb(pb.resources),
        health_check=_health_check(pb.health_check) if pb.HasField("health_check") else None,
        kill_grace_seconds=grace,
        labels=_labels(pb.labels),
        named_ports=tuple(
            (port.name, _port(port.number, "discovery port"))
            for port in pb.discovery.ports.ports
            if port.name
        ),
    )


def _executor(pb: mesos_pb2.ExecutorInfo) -> ExecutorSpec:
    if not pb.framework_id.value:
        raise ProtocolError("executor info has no framework id")
    grace = None
    if pb.HasField("shutdown_grace_period"):
        grace = _seconds(pb.shutdown_grace_period, "executor shutdown grace period")
    return ExecutorSpec(
        executor_id=_nonempty(pb.executor_id.value, "executor id"),
        framework_id=pb.framework_id.value,
        command=_command(pb.command),
        container=_container(pb.container) if pb.HasField("container") else None,
        resources=resources_from_pb(pb.resources),
        shutdown_grace_seconds=grace,
        name=pb.name if pb.HasField("name") else None,
        labels=_labels(pb.labels),
    )


def from_launch(pb: containerizer_pb2.Launch) -> LaunchRequest:
    """Validate a Launch and turn it into a LaunchRequest."""
    container_id = validate_container_id(pb.container_id.value)
    if not pb.HasField("executor_info"):
        raise ProtocolError(f"launch of container {container_id} has no executor info")
    if not pb.directory.startswith("/"):
        raise ProtocolError(f"launch of container {container_id} has no absolute sandbox directory")
    return LaunchRequest(
        container_id=container_id,
        executor=_executor(pb.executor_info),
        directory=pb.directory,
        task=_task(pb.task_info) if pb.HasField("task_info") else None,
        user=pb.user if pb.HasField("user") else None,
        slave_id=pb.slave_id.value if pb.HasField("slave_id") else None,
        slave_pid=pb.slave_pid if pb.HasField("slave_pid") else None,
        checkpoint=pb.checkpoint,
    )


# ---- plain -> protobuf ---------------------------------------------------------


def exit_status(code: int) -> int:
    """The waitpid(2) status the agent expects for a normal exit with ``code``."""
    if not 0 <= code <= 255:
        raise ProtocolError(f"exit code {code} is out of range 0-255")
    return code << 8


def signal_status(signum: int) -> int:
    """The waitpid(2) status the agent expects for death by signal ``signum``."""
    if not 1 <= signum <= 127:
        raise ProtocolError(f"signal number {signum} is out of range")
    return signum


def build_termination(
    status: int | None,
    state: str | None = None,
    reasons: Sequence[str] = (),
    message: str | None = None,
) -> containerizer_pb2.Termination:
    """A ``wait`` answer. ``status`` is waitpid-style (see :func:`exit_status`);
    ``state``/``reasons`` are enum names like "TASK_FAILED", "REASON_EXECUTOR_TERMINATED"."""
    pb = containerizer_pb2.Termination()
    if status is not None:
        pb.status = status
    if state is not None:
        pb.state = _enum_value(mesos_pb2.TaskState, state, "task state")
    pb.reasons.extend(_enum_value(mesos_pb2.TaskStatus.Reason, r, "reason") for r in reasons)
    if message is not None:
        pb.message = message
    return pb


def _enum_value(enum: EnumTypeWrapper, name: str, what: str) -> int:
    try:
        return enum.Value(name)
    except ValueError:
        raise ProtocolError(f"unknown {what} {name!r}") from None


def task_from_v1_json(doc: dict) -> TaskSpec:
    """A TaskInfo from the v1 executor API's JSON (LAUNCH event).

    v1 and v0 TaskInfo share their wire format; in JSON only ``agent_id`` differs.
    """
    from google.protobuf import json_format

    doc = dict(doc)
    if "agent_id" in doc:
        doc["slave_id"] = doc.pop("agent_id")
    pb = mesos_pb2.TaskInfo()
    try:
        json_format.ParseDict(doc, pb, ignore_unknown_fields=True)
    except json_format.ParseError as err:
        raise ProtocolError(f"malformed TaskInfo in LAUNCH: {err}") from err
    if not pb.IsInitialized():
        missing = ", ".join(pb.FindInitializationErrors())
        raise ProtocolError(f"TaskInfo in LAUNCH lacks required fields: {missing}")
    return _task(pb)
