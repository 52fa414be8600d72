"""What a task's ContainerInfo asks of the network, in our terms.

BRIDGE: each port mapping forwards host_port to the pod's container_port (tcp, udp or
both); HOST: every port of the task's ports resource is forwarded 1:1 (the VM has its own
address: HOST cannot mean sharing the agent's stack, so it means "reachable on the same
ports"); NONE: no NIC at all. The port variables are the ones Marathon sets; a framework's
own values in CommandInfo.environment win over them.
"""

from __future__ import annotations

import re

from isolators.net import Attachment
from mesos_hyper.errors import UsageError
from mesos_hyper.model.messages import TaskSpec
from vmctl.network.firewall import Forward

MODES = ("HOST", "BRIDGE", "NONE")


def mode(task: TaskSpec) -> str:
    network = task.container.network if task.container else "HOST"
    if network not in MODES:
        raise UsageError(f"network mode {network} is not supported (HOST, BRIDGE or NONE)")
    return network


def forwards(task: TaskSpec) -> list[Forward]:
    network = mode(task)
    offered = set(task.resources.port_numbers())
    out: list[Forward] = []
    if network == "BRIDGE" and task.container is not None:
        for mapping in task.container.port_mappings:
            if mapping.host_port not in offered:
                raise UsageError(
                    f"port mapping host port {mapping.host_port} is not in the task's ports"
                )
            for proto in (mapping.protocol or "tcp").split(","):
                out.append(
                    Forward(
                        proto.strip().lower(),
                        mapping.host_port,
                        mapping.container_port or mapping.host_port,
                    )
                )
    elif network == "HOST":
        for port in task.resources.port_numbers():
            out += [Forward("tcp", port, port), Forward("udp", port, port)]
    return out


def host_ports(task: TaskSpec) -> list[int]:
    if mode(task) == "BRIDGE" and task.container is not None and task.container.port_mappings:
        return [m.host_port for m in task.container.port_mappings]
    return task.resources.port_numbers()


def port_env(task: TaskSpec) -> dict[str, str]:
    """PORT0..N, PORT, PORTS, PORT_<containerPort> and PORT_<NAME> as Marathon sets them.

    Host ports, in order; names come from the task's DiscoveryInfo, where Marathon puts
    its port names and host port numbers.
    """
    ports = host_ports(task)
    env = {f"PORT{i}": str(port) for i, port in enumerate(ports)}
    if ports:
        env["PORT"] = str(ports[0])
        env["PORTS"] = ",".join(str(p) for p in ports)
    if mode(task) == "BRIDGE" and task.container is not None:
        for mapping in task.container.port_mappings:
            if mapping.container_port:
                env[f"PORT_{mapping.container_port}"] = str(mapping.host_port)
    for name, number in task.named_ports:
        env["PORT_" + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()] = str(number)
    return env


def guest_files(attachment: Attachment | None, hostname: str) -> dict[str, str]:
    """/etc/hosts, /etc/resolv.conf and /etc/hostname, as Docker writes them."""
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    files = {"/etc/hostname": hostname + "\n"}
    if attachment is None:
        files["/etc/hosts"] = hosts + f"127.0.1.1\t{hostname}\n"
        return files
    files["/etc/hosts"] = hosts + f"{attachment.ip}\t{hostname}\n"
    files["/etc/resolv.conf"] = "".join(f"nameserver {server}\n" for server in attachment.dns)
    return files
