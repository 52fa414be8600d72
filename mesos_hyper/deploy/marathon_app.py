"""A Marathon 1.3.x app definition -> the TaskInfo Marathon sends to a Mesos 1.0 agent.

Marathon 1.3 is the Marathon line built against Mesos 1.0 (1.4 targets Mesos 1.1). What
follows mirrors, at tag v1.3.14 of mesosphere/marathon:

- ``src/main/scala/mesosphere/mesos/TaskBuilder.scala``: TaskInfo, CommandInfo,
  environment (``taskContextEnv``, ``portsEnv``, ``labelsToEnvVars``), DiscoveryInfo,
  ContainerInfo (port mappings bound to host ports), kill policy, the COMMAND check;
- ``src/main/scala/mesosphere/marathon/api/v2/json/Formats.scala``: JSON defaults
  (``uris`` -> ``fetch``, ``ports`` -> ``portDefinitions``, one dynamic port by default,
  BRIDGE hostPort 0, health check defaults and the default ``portIndex`` 0);
- ``src/main/scala/mesosphere/marathon/state/Container.scala``: port mappings only in
  BRIDGE (and USER) mode;
- ``src/main/scala/mesosphere/marathon/api/serialization/ContainerSerializer.scala`` and
  ``PortDefinitionSerializer.scala``: DockerInfo, "udp,tcp" split into one mapping (or
  discovery port) per protocol;
- ``src/main/scala/mesosphere/marathon/tasks/PortsMatcher.scala`` and
  ``src/main/scala/mesosphere/mesos/ResourceMatcher.scala``: resources (cpus, mem, disk,
  gpus when not 0, then one ``ports`` resource whose ranges join consecutive ports in
  assignment order);
- ``src/main/scala/mesosphere/marathon/core/group/impl/GroupManagerActor.scala``: service
  ports 0 become ``--local_port_min`` (10000), 10001, ... when the app is stored;
- ``src/main/scala/mesosphere/marathon/core/health/HealthCheck.scala`` and
  ``core/health/impl/HealthCheckWorkerActor.scala``: COMMAND checks become
  ``TaskInfo.health_check`` (with ``delay_seconds`` 0); HTTP, HTTPS and TCP checks are run
  by the Marathon leader against ``agent host:effective port``.

Two deliberate differences, both where Marathon is random or unordered: dynamic host ports
are taken from ``offered_ports`` in order (Marathon starts at a random offered port and
takes consecutive ones), and the environment is in a fixed order (Marathon's is a Scala
Map's). Values are Marathon's: a later key replaces an earlier one (the app's ``env``
overrides Marathon's own variables, as in Marathon).
"""

from __future__ import annotations

import copy
import json
import re
import uuid as uuidlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mesos_hyper.deploy.app_fields import unknown_fields
from mesos_hyper.proto import mesos_pb2

DEFAULT_AGENT_ID = "mesos-hyper-agent-S0"
DEFAULT_VERSION = "1970-01-01T00:00:00.000Z"  # Marathon: Timestamp.now() when the app is posted
LOCAL_PORT_MIN = 10000  # Marathon's --local_port_min: the first dynamic service port

# AppDefinition defaults (state/AppDefinition.scala at v1.3.14)
DEFAULT_CPUS = 1.0
DEFAULT_MEM = 128.0
DEFAULT_DISK = 0.0
DEFAULT_GPUS = 0
# HealthCheck defaults (core/health/HealthCheck.scala at v1.3.14)
HC_GRACE = 300
HC_INTERVAL = 60
HC_TIMEOUT = 20
HC_MAX_FAILURES = 3
# TaskBuilder.labelsToEnvVars limits
MAX_ENV_LENGTH = 512
LABEL_PREFIX = "MARATHON_APP_LABEL_"
MAX_LABEL_KEY_LENGTH = MAX_ENV_LENGTH - len(LABEL_PREFIX)

_EXTRACTABLE = (".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")


class UnsupportedAppError(ValueError):
    """The app uses something this converter (or mesos-hyper) cannot express."""


class InsufficientPortsError(ValueError):
    """The offered ports cannot hold the app's ports: Marathon would decline the offer."""


@dataclass(frozen=True)
class MarathonTask:
    """What Marathon launches for one instance of an app, and what it checks itself."""

    task_info: mesos_pb2.TaskInfo
    host_ports: list[int]
    # HTTP, HTTPS and TCP checks: run by the Marathon leader, never sent to Mesos.
    # Each: protocol, host, port, portIndex, path, url (HTTP/HTTPS), gracePeriodSeconds,
    # intervalSeconds, timeoutSeconds, maxConsecutiveFailures, ignoreHttp1xx.
    marathon_checks: list[dict[str, Any]] = field(default_factory=list)
    # COMMAND checks beyond the first: Marathon logs a warning and drops them.
    dropped_checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {v.name: v.value for v in self.task_info.command.environment.variables}


# ---- small helpers ------------------------------------------------------------------


def load_app(path: str | Path) -> dict[str, Any]:
    """An app definition from a JSON file; a clear error for anything else."""
    try:
        app = json.loads(Path(path).read_text())
    except OSError as err:
        raise UnsupportedAppError(f"cannot read {path}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise UnsupportedAppError(f"{path} is not JSON: {err}") from err
    if not isinstance(app, dict):
        raise UnsupportedAppError(f"{path}: an app definition is a JSON object")
    return app


def app_path(app_id: str) -> list[str]:
    """PathId of an app id: ``/group/app`` -> ["group", "app"] (Marathon makes ids absolute)."""
    parts = [p for p in app_id.split("/") if p]
    if not parts:
        raise UnsupportedAppError("the app has no id")
    for part in parts:
        if part in (".", ".."):
            raise UnsupportedAppError(f"app id {app_id!r}: give an absolute id without . or ..")
    return parts


def task_name(app_id: str) -> str:
    """``PathId.toHostname``: the path reversed, joined by dots (/product/frontend ->
    frontend.product)."""
    return ".".join(reversed(app_path(app_id)))


def marathon_task_id(app_id: str, uuid: str | None = None) -> str:
    """``Task.Id.forRunSpec``: the app's ``safePath`` (path joined by ``_``), ``.``, a UUID."""
    return "_".join(app_path(app_id)) + "." + (uuid or str(uuidlib.uuid1()))


def java_double(value: float) -> str:
    """Java's ``Double.toString`` (what ``runSpec.cpus.toString`` gives): 64 -> "64.0"."""
    value = float(value)
    if value == 0:
        return "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    mantissa, exponent = f"{value:e}".split("e")
    mantissa = repr(float(mantissa))
    return f"{mantissa}E{int(exponent)}"


def joda_timestamp(text: str) -> str:
    """Marathon's ``Timestamp.toString``: Joda ISO-8601 in UTC with milliseconds."""
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    stamp = stamp.astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _env_escape(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]+", "_", name).upper()


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise UnsupportedAppError(f"{what} must be true or false, not {value!r}")
    return value


# ---- the app, normalised as Marathon's JSON reads leave it ---------------------------


@dataclass
class _PortDef:
    """A port of the app's portDefinitions (host networking)."""

    port: int
    protocol: str = "tcp"
    name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class _Mapping:
    """A port mapping of the app's Docker container (bridge networking)."""

    container_port: int
    host_port: int | None
    service_port: int
    protocol: str
    name: str | None
    labels: dict[str, str]


_TOP_LEVEL_REFUSED = {
    "ipAddress": "IP-per-task (ipAddress / USER networking) needs a CNI/IPAM network: "
    "mesos-hyper gives each pod its own address on its own bridge, not a Mesos network",
    "residency": "resident tasks need persistent volumes and reservations",
    "secrets": "secrets need a Marathon secrets plugin",
    "containers": "this is a Marathon 1.4 pod, not an app: pods need Mesos 1.1 task groups",
}

_PROTOCOLS = {"tcp", "udp"}


def _protocol(text: Any, what: str) -> str:
    if not isinstance(text, str) or not text:
        raise UnsupportedAppError(f"{what}: protocol must be 'tcp', 'udp' or 'udp,tcp'")
    parts = text.split(",")
    if any(p not in _PROTOCOLS for p in parts) or len(set(parts)) != len(parts):
        raise UnsupportedAppError(f"{what}: protocol {text!r} (use tcp, udp or udp,tcp)")
    return text


def _port_definitions(app: dict[str, Any]) -> list[_PortDef]:
    ports = app.get("ports")
    defs = app.get("portDefinitions")
    if ports is not None and defs is not None and [d.get("port", 0) for d in defs] != ports:
        raise UnsupportedAppError("You cannot specify both ports and port definitions")
    if defs is not None:
        out = []
        for i, d in enumerate(defs):
            out.append(
                _PortDef(
                    port=int(d.get("port", 0)),
                    protocol=_protocol(d.get("protocol", "tcp"), f"portDefinitions[{i}]"),
                    name=d.get("name"),
                    labels=dict(d.get("labels") or {}),
                )
            )
        return out
    if ports is not None:
        return [_PortDef(port=int(p)) for p in ports]
    return [_PortDef(port=0)]  # AppDefinition.DefaultPortDefinitions: one dynamic port


def _assign_service_ports(ports: list[int], base: int) -> list[int]:
    """GroupManagerActor.assignDynamicServicePorts for one app in an empty Marathon."""
    taken = {p for p in ports if p}
    out, candidate = [], base
    for port in ports:
        if port:
            out.append(port)
            continue
        while candidate in taken:
            candidate += 1
        taken.add(candidate)
        out.append(candidate)
    return out


def _docker(app: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """(container type, docker section) as Formats.ContainerReads reads them."""
    container = app.get("container")
    if container is None:
        return None, None
    kind = container.get("type", "DOCKER")
    if kind not in ("DOCKER", "MESOS"):
        raise UnsupportedAppError(f"container.type {kind!r} (DOCKER or MESOS)")
    docker = container.get("docker")
    if kind == "DOCKER" and docker is None:
        raise UnsupportedAppError("container.type DOCKER needs container.docker")
    if kind == "MESOS" and docker is None and container.get("appc") is not None:
        raise UnsupportedAppError("AppC images: mesos-hyper runs Docker images only")
    if docker is not None and not docker.get("image"):
        raise UnsupportedAppError("container.docker.image is required")
    return kind, docker


def _mappings(kind: str | None, docker: dict[str, Any] | None) -> list[_Mapping] | None:
    """Container.Docker.withDefaultPortMappings: mappings exist in BRIDGE mode only."""
    if kind != "DOCKER" or docker is None:
        return None
    network = docker.get("network")
    if network == "USER":
        raise UnsupportedAppError(
            "docker.network USER (IP-per-task on a named network) is not supported"
        )
    if network not in (None, "HOST", "BRIDGE", "NONE"):
        raise UnsupportedAppError(f"docker.network {network!r} (HOST, BRIDGE or NONE)")
    if network != "BRIDGE" or docker.get("portMappings") is None:
        return None
    out = []
    for i, m in enumerate(docker["portMappings"]):
        host_port = m.get("hostPort")
        out.append(
            _Mapping(
                container_port=int(m.get("containerPort", 0)),
                host_port=0 if host_port is None else int(host_port),  # BRIDGE default
                service_port=int(m.get("servicePort", 0)),
                protocol=_protocol(m.get("protocol", "tcp"), f"portMappings[{i}]"),
                name=m.get("name"),
                labels=dict(m.get("labels") or {}),
            )
        )
    return out


def _refuse_unsupported(app: dict[str, Any]) -> None:
    for key, why in _TOP_LEVEL_REFUSED.items():
        if app.get(key):
            raise UnsupportedAppError(f"{key}: {why}")
    unknown = unknown_fields(app)
    if unknown:
        raise UnsupportedAppError("; ".join(unknown))
    executor = app.get("executor", "")
    if executor not in ("", "//cmd"):
        raise UnsupportedAppError(
            f"executor {executor!r}: custom executor paths are not supported (use the "
            "command executor, i.e. leave executor empty)"
        )
    if app.get("gpus", 0):
        raise UnsupportedAppError("gpus: mesos-hyper VMs get no GPUs")
    if app.get("cmd") is not None and app.get("args") is not None:
        raise UnsupportedAppError("an app has either cmd or args, not both")
    if app.get("cmd") is None and app.get("args") is None and app.get("container") is None:
        raise UnsupportedAppError("an app needs cmd, args or a container")
    if app.get("uris") and app.get("fetch"):
        raise UnsupportedAppError("You cannot specify both uris and fetch fields")
    for name, value in (app.get("env") or {}).items():
        if not isinstance(value, str):
            raise UnsupportedAppError(
                f"env {name}: only string values (secret references need a secrets plugin)"
            )
    for i, volume in enumerate((app.get("container") or {}).get("volumes") or []):
        if "persistent" in volume:
            raise UnsupportedAppError(
                f"container.volumes[{i}]: persistent volumes need reservations (resident tasks)"
            )
        if "external" in volume:
            raise UnsupportedAppError(
                f"container.volumes[{i}]: external volumes need a Docker volume driver (DVDI)"
            )
        if not volume.get("hostPath") or not volume.get("containerPath"):
            raise UnsupportedAppError(f"container.volumes[{i}]: needs hostPath and containerPath")


# ---- ports ---------------------------------------------------------------------------


def _host_ports(
    mappings: list[_Mapping] | None,
    port_numbers: list[int],
    require_ports: bool,
    offered_ports: Sequence[int],
) -> list[int]:
    """PortsMatcher.portsWithRoles, with offered_ports taken in order instead of at random."""
    offered = list(dict.fromkeys(int(p) for p in offered_ports))

    def static(port: int) -> int:
        if port not in offered:
            raise InsufficientPortsError(f"host port {port} is not among the offered ports")
        return port

    if mappings:
        fixed = {m.host_port for m in mappings if m.host_port}
        free = iter(p for p in offered if p not in fixed)
        out = []
        for m in mappings:
            if m.host_port:
                out.append(static(m.host_port))
                continue
            port = next(free, None)
            if port is None:
                raise InsufficientPortsError(
                    f"{len(mappings)} ports needed, not enough of the {len(offered)} offered"
                )
            out.append(port)
        return out
    if not port_numbers:
        return []
    if require_ports:
        return [static(p) for p in port_numbers]
    if len(offered) < len(port_numbers):
        raise InsufficientPortsError(
            f"{len(port_numbers)} ports needed, only {len(offered)} offered"
        )
    return offered[: len(port_numbers)]


def _ranges(ports: Iterable[int]) -> list[tuple[int, int]]:
    """PortWithRole.createPortsResources: consecutive ports joined, the order kept."""
    out: list[tuple[int, int]] = []
    for port in ports:
        if out and out[-1][1] == port - 1:
            out[-1] = (out[-1][0], port)
        else:
            out.append((port, port))
    return out


def _ports_env(
    requested: list[int], effective: list[int], names: list[str | None]
) -> dict[str, str]:
    """TaskBuilder.portsEnv when every port has a host port (no IP-per-task)."""
    if not effective:
        return {}
    env: dict[str, str] = {}
    for index, port in enumerate(effective):
        env[f"PORT{index}"] = str(port)
    for req, port in zip(requested, effective, strict=False):
        env[f"PORT_{req if req else port}"] = str(port)
    for name, port in zip(names, effective, strict=False):
        if name:
            env[f"PORT_{name.upper()}"] = str(port)
    env["PORT"] = str(effective[0])
    env["PORTS"] = ",".join(str(p) for p in effective)
    return env


# ---- the conversion ------------------------------------------------------------------


def _scalar(name: str, value: float, role: str) -> mesos_pb2.Resource:
    res = mesos_pb2.Resource(name=name, type=mesos_pb2.Value.SCALAR, role=role)
    res.scalar.value = float(value)
    return res


def _labels(pairs: Iterable[tuple[str, str]]) -> mesos_pb2.Labels:
    labels = mesos_pb2.Labels()
    for key, value in pairs:
        labels.labels.add(key=key, value=value)
    return labels


def _fetch(app: dict[str, Any]) -> list[mesos_pb2.CommandInfo.URI]:
    """Formats: ``uris`` become FetchUri(extract = an archive suffix); FetchUri.toProto sets
    executable, extract and cache explicitly."""
    if app.get("fetch"):
        items = [
            {
                "uri": f["uri"],
                "extract": _bool(f.get("extract", True), "fetch.extract"),
                "executable": _bool(f.get("executable", False), "fetch.executable"),
                "cache": _bool(f.get("cache", False), "fetch.cache"),
                "outputFile": f.get("outputFile"),
            }
            for f in app["fetch"]
        ]
    else:
        items = [
            {"uri": u, "extract": u.endswith(_EXTRACTABLE), "executable": False, "cache": False}
            for u in app.get("uris") or []
        ]
    out = []
    for item in items:
        uri = mesos_pb2.CommandInfo.URI(
            value=item["uri"],
            executable=item["executable"],
            extract=item["extract"],
            cache=item["cache"],
        )
        if item.get("outputFile"):
            uri.output_file = item["outputFile"]
        out.append(uri)
    return out


def _health_checks(app: dict[str, Any], indexes_make_sense: bool) -> list[dict[str, Any]]:
    """Formats.HealthCheckFormat with its defaults, and addHealthCheckPortIndexIfNecessary."""
    out = []
    for i, hc in enumerate(app.get("healthChecks") or []):
        protocol = hc.get("protocol", "HTTP")
        if protocol not in ("HTTP", "HTTPS", "TCP", "COMMAND"):
            raise UnsupportedAppError(
                f"healthChecks[{i}]: protocol {protocol!r}: MESOS_HTTP, MESOS_HTTPS and "
                "MESOS_TCP are Marathon 1.4 checks for Mesos 1.1 agents"
            )
        check = {
            "protocol": protocol,
            "gracePeriodSeconds": int(hc.get("gracePeriodSeconds", HC_GRACE)),
            "intervalSeconds": int(hc.get("intervalSeconds", HC_INTERVAL)),
            "timeoutSeconds": int(hc.get("timeoutSeconds", HC_TIMEOUT)),
            "maxConsecutiveFailures": int(hc.get("maxConsecutiveFailures", HC_MAX_FAILURES)),
            "ignoreHttp1xx": bool(hc.get("ignoreHttp1xx", False)),
            "portIndex": hc.get("portIndex"),
            "port": hc.get("port"),
            "path": hc.get("path"),
            "command": hc.get("command"),
        }
        if protocol == "COMMAND":
            value = (check["command"] or {}).get("value")
            if not value or check["path"] is not None or check["port"] is not None:
                raise UnsupportedAppError(
                    f"healthChecks[{i}]: a COMMAND check needs command.value and no path/port"
                )
        else:
            if check["command"] is not None or (protocol == "TCP" and check["path"] is not None):
                raise UnsupportedAppError(
                    f"healthChecks[{i}]: {protocol} check with a command or (TCP) a path"
                )
            if check["port"] is None and check["portIndex"] is None and indexes_make_sense:
                check["portIndex"] = 0
            if (check["port"] is None) == (check["portIndex"] is None):
                raise UnsupportedAppError(f"healthChecks[{i}]: give either port or portIndex")
        out.append(check)
    return out


def task_info(
    app: dict[str, Any],
    *,
    task_id: str,
    agent_host: str,
    offered_ports: Sequence[int],
    agent_id: str = DEFAULT_AGENT_ID,
    version: str | None = None,
    role: str = "*",
    env_vars_prefix: str | None = None,
    local_port_min: int = LOCAL_PORT_MIN,
) -> MarathonTask:
    """The TaskInfo Marathon 1.3 builds for ``app`` on an offer from ``agent_host``.

    ``offered_ports``: the offer's ports, in the order dynamic host ports are taken.
    ``version``: MARATHON_APP_VERSION (else the app's ``version``, else the epoch).
    ``role``: the role of the offered resources. ``env_vars_prefix``: Marathon's
    ``--env_vars_prefix`` (applies to HOST and the port variables only).
    ``local_port_min``: where Marathon starts giving out dynamic service ports.

    Raises UnsupportedAppError for what cannot be expressed or run on mesos-hyper and
    InsufficientPortsError when Marathon would decline the offer for want of ports.
    """
    app = copy.deepcopy(app)
    _refuse_unsupported(app)
    app_id = "/" + "/".join(app_path(str(app.get("id", ""))))
    kind, docker = _docker(app)
    mappings = _mappings(kind, docker)
    port_defs = _port_definitions(app)
    service_ports = _assign_service_ports([d.port for d in port_defs], local_port_min)
    for d, port in zip(port_defs, service_ports, strict=True):
        d.port = port
    require_ports = _bool(app.get("requirePorts", False), "requirePorts")
    host_ports = _host_ports(mappings, [d.port for d in port_defs], require_ports, offered_ports)
    checks = _health_checks(app, bool(port_defs) or bool(mappings))

    cpus = float(app.get("cpus", DEFAULT_CPUS))
    mem = float(app.get("mem", DEFAULT_MEM))
    disk = float(app.get("disk", DEFAULT_DISK))
    gpus = int(app.get("gpus", DEFAULT_GPUS))
    labels = {str(k): str(v) for k, v in (app.get("labels") or {}).items()}

    info = mesos_pb2.TaskInfo(name=task_name(app_id))
    info.task_id.value = task_id
    info.slave_id.value = agent_id

    # ResourceMatcher: cpus, mem, disk, gpus (zeros left out, #1583), then the ports.
    for name, value in (("cpus", cpus), ("mem", mem), ("disk", disk), ("gpus", gpus)):
        if value != 0:
            info.resources.append(_scalar(name, value, role))
    if host_ports:
        ports_res = info.resources.add(name="ports", type=mesos_pb2.Value.RANGES, role=role)
        for begin, end in _ranges(host_ports):
            ports_res.ranges.range.add(begin=begin, end=end)

    # DiscoveryInfo: always set, FRAMEWORK visibility, the ports with their host numbers.
    info.discovery.visibility = mesos_pb2.DiscoveryInfo.FRAMEWORK
    info.discovery.name = task_name(app_id)
    discovery_ports = info.discovery.ports  # setPorts() even when empty
    discovery_ports.SetInParent()
    if mappings is not None:
        for m, port in zip(mappings, host_ports, strict=False):
            entry = discovery_ports.ports.add(number=port, protocol=m.protocol)
            if m.name:
                entry.name = m.name
            entry.labels.CopyFrom(_labels({**m.labels, "network-scope": "host"}.items()))
    else:
        for d, port in zip(port_defs, host_ports, strict=False):
            for protocol in d.protocol.split(","):
                entry = discovery_ports.ports.add(number=port, protocol=protocol)
                if d.name:
                    entry.name = d.name
                if d.labels:
                    entry.labels.CopyFrom(_labels(d.labels.items()))

    if labels:
        info.labels.CopyFrom(_labels(labels.items()))

    # ContainerInfo (computeContainerInfo + ContainerSerializer.toMesos)
    if kind is not None:
        container = info.container
        if kind == "DOCKER":
            assert docker is not None
            container.type = mesos_pb2.ContainerInfo.DOCKER
            dinfo = container.docker
            dinfo.image = docker["image"]
            if docker.get("network") is not None:
                dinfo.network = mesos_pb2.ContainerInfo.DockerInfo.Network.Value(docker["network"])
            for m, port in zip(mappings or [], host_ports, strict=False):
                for protocol in m.protocol.split(","):
                    dinfo.port_mappings.add(
                        host_port=port,
                        container_port=m.container_port or port,
                        protocol=protocol,
                    )
            dinfo.privileged = _bool(docker.get("privileged", False), "docker.privileged")
            for p in docker.get("parameters") or []:
                dinfo.parameters.add(key=p["key"], value=p["value"])
            dinfo.force_pull_image = _bool(
                docker.get("forcePullImage", False), "docker.forcePullImage"
            )
        else:
            container.type = mesos_pb2.ContainerInfo.MESOS
            container.mesos.SetInParent()
            if docker is not None:
                image = container.mesos.image
                image.type = mesos_pb2.Image.DOCKER
                image.docker.name = docker["image"]
                image.cached = not _bool(
                    docker.get("forcePullImage", False), "docker.forcePullImage"
                )
        for volume in (app.get("container") or {}).get("volumes") or []:
            container.volumes.add(
                container_path=volume["containerPath"],
                host_path=volume["hostPath"],
                mode=mesos_pb2.Volume.Mode.Value(volume.get("mode", "RW")),
            )

    # CommandInfo (TaskBuilder.commandInfo)
    command = info.command
    if mappings is not None:
        requested = [m.container_port for m in mappings]
        names = [m.name for m in mappings]
    else:
        requested = [d.port for d in port_defs]
        names = [d.name for d in port_defs]
    prefix = env_vars_prefix or ""
    version_text = joda_timestamp(version or app.get("version") or DEFAULT_VERSION)
    env: dict[str, str] = {
        "MESOS_TASK_ID": task_id,
        "MARATHON_APP_ID": app_id,
        "MARATHON_APP_VERSION": version_text,
    }
    if kind == "DOCKER" and docker is not None:
        env["MARATHON_APP_DOCKER_IMAGE"] = docker["image"]
    env["MARATHON_APP_RESOURCE_CPUS"] = java_double(cpus)
    env["MARATHON_APP_RESOURCE_MEM"] = java_double(mem)
    env["MARATHON_APP_RESOURCE_DISK"] = java_double(disk)
    env["MARATHON_APP_RESOURCE_GPUS"] = str(gpus)
    valid = {
        _env_escape(k): v
        for k, v in labels.items()
        if len(k) < MAX_LABEL_KEY_LENGTH and len(v) < MAX_ENV_LENGTH
    }
    env["MARATHON_APP_LABELS"] = " ".join(valid)
    env.update({LABEL_PREFIX + k: v for k, v in valid.items()})
    ports_env = _ports_env(requested, host_ports, names)
    ports_env["HOST"] = agent_host
    env.update({prefix + k: v for k, v in ports_env.items()})
    env.update(app.get("env") or {})
    for name, value in env.items():
        command.environment.variables.add(name=name, value=value)

    cmd = app.get("cmd")
    if cmd:
        command.value = cmd  # shell stays at its default, true
    else:
        command.shell = False
    args = app.get("args")
    if args is not None:
        command.shell = False
        command.arguments.extend(str(a) for a in args)
        if args and kind is None:
            command.value = str(args[0])
    command.uris.extend(_fetch(app))
    if app.get("user"):
        command.user = app["user"]

    grace = app.get("taskKillGracePeriodSeconds")
    if grace is not None:
        info.kill_policy.grace_period.nanoseconds = int(grace) * 1_000_000_000

    # Health checks: the first COMMAND one goes to Mesos; the rest are Marathon's own.
    marathon_checks, dropped = [], []
    for check in checks:
        if check["protocol"] == "COMMAND":
            if info.HasField("health_check"):
                dropped.append(check)
                continue
            hc = info.health_check
            hc.command.value = check["command"]["value"]
            hc.delay_seconds = 0.0  # HealthCheck.toMesos at v1.3.14 sets 0
            hc.interval_seconds = float(check["intervalSeconds"])
            hc.timeout_seconds = float(check["timeoutSeconds"])
            hc.consecutive_failures = check["maxConsecutiveFailures"]
            hc.grace_period_seconds = float(check["gracePeriodSeconds"])
            continue
        port = check["port"]
        if port is None:
            index = int(check["portIndex"])
            if not 0 <= index < len(host_ports):
                raise UnsupportedAppError(
                    f"health check portIndex {index}: the task has {len(host_ports)} ports"
                )
            port = host_ports[index]
        resolved = {
            **{k: v for k, v in check.items() if k != "command"},
            "host": agent_host,
            "port": int(port),
        }
        if check["protocol"] in ("HTTP", "HTTPS"):
            path = check["path"] or ""
            path = path if path.startswith("/") else "/" + path
            resolved["url"] = f"{check['protocol'].lower()}://{agent_host}:{port}{path}"
        marathon_checks.append(resolved)

    return MarathonTask(
        task_info=info,
        host_ports=host_ports,
        marathon_checks=marathon_checks,
        dropped_checks=dropped,
    )
