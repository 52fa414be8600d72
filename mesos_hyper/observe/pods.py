"""Every pod on this host, from ``mesos-hyper run`` and from Mesos, as one view.

Nothing here changes anything. The sources, each read as it is, each allowed to be
missing (a pod may be half launched, or half gone):

- libvirt: our domains and their metadata (a Mesos pod's names its container id and
  state root; a ``run`` pod's its name and image reference);
- the state roots: each Mesos container's record (status, sandbox, limits, executor pid),
  its Launch (framework, executor, first task, image) and its executor's task ledger;
- the pod network: the container's address lease and the host ports forwarded to it.

State roots come from the domains, from running agents' ``--work_dir``, from
``MESOS_WORK_DIRECTORY`` and from the caller; a launching container may have no domain yet.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mesos_hyper.errors import HyperError, NotFoundError
from mesos_hyper.model.messages import LaunchRequest
from mesos_hyper.state import ContainerRecord, StateError, StateStore
from mesos_hyper.state.tasks import TaskState, read_tasks

MESOS = "mesos"
RUN = "run"


@dataclass(frozen=True)
class PodView:
    """One pod: what its VM, its record and its network say about it."""

    id: str  # the Mesos container id, or a ``run`` pod's name
    origin: str  # MESOS or RUN
    domain: str | None = None
    domain_state: str = "none"  # running, paused, shut off, ... (libvirt), or none
    image: str = ""
    tasks: tuple[TaskState, ...] = ()
    framework_id: str | None = None
    executor_id: str | None = None
    address: str | None = None
    host_ports: tuple[str, ...] = ()  # "tcp/31000"
    started_at: float | None = None
    state_root: Path | None = None
    record: ContainerRecord | None = None
    workdir: Path | None = None  # the VM's host directory (overlays, console log)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def sandbox(self) -> str | None:
        return self.record.sandbox if self.record else None

    @property
    def output_dir(self) -> str | None:
        """Where the pod's ``stdout`` and ``stderr`` are: a Mesos pod's sandbox (written by
        the guest's tasks), a ``run`` pod's copy of what it streams (runtime.output_log)."""
        if self.origin == RUN:
            return self.metadata.get("output")
        return self.sandbox

    @property
    def executor_pid(self) -> int | None:
        return self.record.pids.get("executor") if self.record else None

    @property
    def status(self) -> str:
        """The container's own status: the record's for Mesos pods, the VM's for ``run``."""
        if self.record is not None:
            return self.record.status.value
        return self.domain_state


def discover_state_roots(extra: Iterable[Path] = ()) -> list[Path]:
    """State roots worth reading, each once: given, of running agents, of the environment."""
    from mesos_hyper.host.agents import state_roots

    roots = [*extra, *state_roots()]
    if work_dir := os.environ.get("MESOS_WORK_DIRECTORY"):
        roots.append(Path(work_dir) / "mesos-hyper")
    seen: dict[Path, None] = {}
    for root in roots:
        seen.setdefault(Path(root).resolve(), None)
    return [root for root in seen if (root / "containers").is_dir()]


def _domains() -> list:
    from vmctl.lifecycle import list_ours

    try:
        return list_ours()
    except Exception as err:  # libvirt missing or not running: say so, once
        raise HyperError(f"cannot list VMs: {err}") from err


def _domain_state(name: str) -> str:
    import libvirt

    from vmctl.lifecycle import lookup

    dom = lookup(name)
    if dom is None:
        return "none"
    try:
        state = dom.state()[0]
    except libvirt.libvirtError:
        return "none"
    return {
        libvirt.VIR_DOMAIN_RUNNING: "running",
        libvirt.VIR_DOMAIN_PAUSED: "paused",
        libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
        libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
        libvirt.VIR_DOMAIN_CRASHED: "crashed",
    }.get(state, "other")


def _started_at(domain: str) -> float | None:
    """When QEMU started: libvirt writes its pid file then."""
    with contextlib.suppress(OSError):
        return os.stat(f"/run/libvirt/qemu/{domain}.pid").st_mtime
    return None


def read_launch(store: StateStore, container_id: str) -> LaunchRequest | None:
    """The Launch the agent sent for ``container_id``; None where it is gone or damaged."""
    from mesos_hyper.containerizer import recordio
    from mesos_hyper.model import messages
    from mesos_hyper.proto import containerizer_pb2

    try:
        raw = store.launch_path(container_id).read_bytes()
        return messages.from_launch(recordio.parse(containerizer_pb2.Launch, raw))
    except (OSError, HyperError):
        return None


class _Network:
    """Leases and forwarded ports, read once for all pods (one nft call)."""

    def __init__(self) -> None:
        from vmctl.network import firewall
        from vmctl.network.settings import NetSettings

        self.ports: dict[str, list[str]] = {}
        try:
            self.settings = NetSettings.from_env()
            for (proto, port), owner in sorted(firewall.forwarded_ports(self.settings).items()):
                self.ports.setdefault(owner, []).append(f"{proto}/{port}")
        except (HyperError, OSError):
            self.settings = None  # no pod network here: no addresses, no ports

    def address(self, container_id: str) -> str | None:
        from vmctl.network import ipam

        if self.settings is None:
            return None
        ip = ipam.lease_of(self.settings, container_id)
        return str(ip) if ip is not None else None


def _mesos_pod(
    container_id: str, root: Path, net: _Network, domain: str | None, state: str, meta: dict
) -> PodView:
    store = StateStore(root)
    record = None
    with contextlib.suppress(NotFoundError, StateError):
        record = store.get(container_id)
    launch = read_launch(store, container_id)
    image = meta.get("image", "")[:19]
    if launch is not None and launch.container is not None and launch.container.image:
        image = launch.container.image
    tasks = read_tasks(store.containers_dir / container_id)
    if not tasks and launch is not None and launch.task is not None:
        tasks = [TaskState(launch.task.task_id, "TASK_STAGING", record.created_at if record else 0)]
    workdir = meta.get("workdir")
    return PodView(
        id=container_id,
        origin=MESOS,
        domain=domain,
        domain_state=state,
        image=image,
        tasks=tuple(tasks),
        framework_id=launch.executor.framework_id if launch else None,
        executor_id=launch.executor.executor_id if launch else None,
        address=net.address(container_id),
        host_ports=tuple(net.ports.get(container_id, ())),
        started_at=(_started_at(domain) if domain else None)
        or (record.created_at if record else None),
        state_root=root,
        record=record,
        workdir=Path(workdir) if workdir else None,
        metadata=meta,
    )


def find_pods(state_roots: Iterable[Path] = (), *, all_records: bool = False) -> list[PodView]:
    """Every pod on the host: each of our domains but idle pool VMs, and each live record
    without a domain (launching, or its VM lost); terminated records too with
    ``all_records``."""
    net = _Network()
    pods: list[PodView] = []
    seen: set[tuple[Path, str]] = set()
    roots = list(state_roots)
    for info in _domains():
        meta = info.metadata
        if "pool" in meta:
            continue  # an unclaimed pool VM runs nothing: `mesos-hyper pool status` lists it
        state = _domain_state(info.name)
        if "container-id" in meta and "state-root" in meta:
            root = Path(meta["state-root"])
            roots.append(root)
            seen.add((root.resolve(), meta["container-id"]))
            pods.append(_mesos_pod(meta["container-id"], root, net, info.name, state, meta))
            continue
        name = meta.get("name") or info.name
        workdir = meta.get("workdir")
        pods.append(
            PodView(
                id=name,
                origin=RUN,
                domain=info.name,
                domain_state=state,
                image=meta.get("reference") or meta.get("image", "")[:19],
                address=net.address(name),
                started_at=_started_at(info.name),
                workdir=Path(workdir) if workdir else None,
                metadata=meta,
            )
        )
    for root in discover_state_roots(roots):
        for record in StateStore(root).list():
            if (root, record.container_id) in seen or not (record.live or all_records):
                continue
            seen.add((root, record.container_id))
            pods.append(_mesos_pod(record.container_id, root, net, None, "none", {}))
    return sorted(pods, key=lambda p: (p.started_at or 0.0, p.id))


def find_pod(ref: str | None, task_id: str | None, state_roots: Iterable[Path] = ()) -> PodView:
    """The one pod a user named: by container id, ``run`` name, domain, or a unique
    prefix of one of them (as docker does); or by one of its task ids."""
    pods = find_pods(state_roots, all_records=True)
    if task_id is not None:
        pods = [p for p in pods if any(t.task_id == task_id for t in p.tasks)]
        if not pods:
            raise NotFoundError(f"no pod on this host runs task {task_id}")
    if ref is None:
        if len(pods) == 1:
            return pods[0]
        raise NotFoundError(f"task {task_id} is in {len(pods)} pods: name the container")
    exact = [p for p in pods if ref in (p.id, p.domain)]
    matches = exact or [p for p in pods if p.id.startswith(ref)]
    live = [p for p in matches if p.record is None or p.record.live]
    matches = live or matches
    if not matches:
        raise NotFoundError(f"no pod {ref!r} on this host (see mesos-hyper ps)")
    if len(matches) > 1:
        names = ", ".join(sorted(p.id for p in matches)[:5])
        raise HyperError(f"{ref!r} names {len(matches)} pods ({names}): give more of the id")
    return matches[0]
