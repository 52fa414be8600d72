"""The pod: one VM and its network per Mesos executor, shared by the executor's tasks.

Like Kata's Sandbox beside its Containers: the pod manager boots the VM for the first
task, adds later tasks to it as members, runs what belongs to the pod rather than to one
task (the exec socket, the sandbox's disk watcher, the network and its host ports), and
tears it all down when the last member has gone. Teardown never raises: each step is tried
whatever the others did, and what fails is logged, because the ECP's cleanup tries again.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import isolators
from isolators import disk, net
from isolators.net import Attachment
from mesos_hyper import config, log
from mesos_hyper.errors import HyperError, VMError
from mesos_hyper.executor import exec_socket, networking
from mesos_hyper.executor.exec_socket import ExecRequest, ExecServer, ExecStreams
from mesos_hyper.model.messages import LaunchRequest
from mesos_hyper.state import StateStore, Status
from vmctl.domain import domain_name
from vmctl.guest.protocol import ProcessSpec
from vmctl.lifecycle import destroy_by_name
from vmctl.network.firewall import Forward
from vmctl.network.settings import NetSettings
from vmctl.pod import Output, Pod, PodConfig

LOG = log.get(__name__)


class StartAborted(HyperError):
    """The pod's boot was stopped on purpose (a kill arrived while it booted)."""


@dataclass
class Member:
    """What a task brings to the pod; ``index`` is its container in the VM once started."""

    task_id: str
    spec: ProcessSpec
    base_disk: Path
    image_id: str
    disk_bytes: int
    hostname: str
    forwards: list[Forward]  # the host ports the task asks for
    wants_network: bool
    stdout: Output
    stderr: Output
    index: int | None = None
    owned_forwards: list[Forward] = field(default_factory=list)  # go with this member


class PodManager:
    def __init__(
        self,
        launch: LaunchRequest,
        framework_id: str,
        store: StateStore,
        paths: config.Paths,
        sandbox: Path,
        on_sandbox_full: Callable[[str], None],
        run_exec: Callable[[ExecRequest, ExecStreams], int],
    ) -> None:
        self.launch = launch
        self.framework_id = framework_id
        self.store = store
        self.paths = paths
        self.sandbox = sandbox
        self.net = NetSettings.from_env()
        self.pod: Pod | None = None
        self.attachment: Attachment | None = None
        self.members: dict[str, Member] = {}
        self._on_sandbox_full = on_sandbox_full
        self._run_exec = run_exec
        self._lock = threading.Lock()  # boot, join, leave and teardown, one at a time
        self._booting: tuple[str, Pod] | None = None  # the first member's task, its VM
        self._exec_server: ExecServer | None = None
        self._stopped = threading.Event()  # ends the disk watcher

    @property
    def container_id(self) -> str:
        return self.launch.container_id

    # ---- members -----------------------------------------------------------------

    def join(self, member: Member, cancelled: threading.Event) -> Pod:
        """Start ``member`` in the pod, booting the VM if it is the first; its Pod.

        ``cancelled`` is looked at once the pod is ours: a member whose kill arrived while it
        waited for another member's boot does not start at all.
        """
        with self._lock:
            if cancelled.is_set():
                raise StartAborted("killed before it joined the pod")
            if self.pod is not None and self.pod.alive():
                self._add_member(self.pod, member)
            elif self.pod is not None:
                raise VMError(f"pod {self.container_id} has ended; no new task can join it")
            else:
                self._boot(member, cancelled)
            self.members[member.task_id] = member
            assert self.pod is not None
            return self.pod

    def abort_boot(self, task_id: str) -> None:
        """A kill of the task whose VM is booting: the VM goes, and its ``join`` raises.

        The caller sets the task's ``cancelled`` first; ``_boot`` looks at it after it has
        published the VM here, so one of the two always sees the other.
        """
        booting = self._booting
        if booting is not None and booting[0] == task_id:
            try:
                booting[1].destroy()
            except Exception as err:
                log.event(LOG, "could not stop the booting VM", log.ERROR, error=err)

    def leave(self, task_id: str) -> None:
        """The member's host ports go; the pod itself goes with its last member."""
        with self._lock:
            member = self.members.pop(task_id, None)
            if member is not None:
                self._drop_forwards(member)

    def _drop_forwards(self, member: Member) -> None:
        """The host ports the member brought; the pod's teardown removes them at the latest."""
        attachment = self.attachment
        if member.owned_forwards and attachment is not None:
            forwards = member.owned_forwards
            self._guarded("forwards", lambda: net.remove_forwards(self.net, attachment, forwards))

    def teardown(self) -> None:
        """Exec socket, VM, then every isolator's host state; idempotent, never raises."""
        with self._lock:
            self._stopped.set()
            if self._exec_server is not None:
                self._guarded("exec socket", self._exec_server.close)
                self._exec_server = None
            pod, self.pod = self.pod, None
            if pod is not None:
                self._guarded("VM", pod.destroy)
            # and by name: a boot that lost its domain (libvirtd restarted mid-call) or a
            # destroy that failed leaves one we hold no handle to
            self._guarded("VM by name", self._destroy_recorded_domain)
            self._guarded("isolators", lambda: isolators.cleanup(self.container_id))
            self.attachment = None

    def _destroy_recorded_domain(self) -> None:
        names = {domain_name(self.container_id), self.store.get(self.container_id).domain}
        for name in names:
            if name:
                destroy_by_name(name)

    @staticmethod
    def _guarded(what: str, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as err:  # the ECP's destroy and recover try again
            log.event(LOG, "teardown step failed", log.ERROR, step=what, error=err)

    # ---- boot and add ------------------------------------------------------------

    def _boot(self, member: Member, cancelled: threading.Event) -> None:
        if member.wants_network and self.net.enabled:
            self.attachment = net.setup(
                self.net, self.container_id, self.framework_id, member.forwards
            )
            member.owned_forwards = list(self.attachment.forwards)
        if cancelled.is_set():
            raise StartAborted("killed before the VM was started")
        attachment = self.attachment
        spec = _with_network(member, attachment)
        pod = Pod(self._pod_config(member))
        self._booting = (member.task_id, pod)
        try:
            if cancelled.is_set():
                raise StartAborted("killed before the VM was started")
            self.store.update(self.container_id, domain=pod.domain_name)
            pod.create()  # a claimed pool VM has a name of its own
            self.store.update(self.container_id, domain=pod.domain_name)
            pod.start(
                spec,
                on_stdout=member.stdout,
                on_stderr=member.stderr,
                before_resume=(lambda: net.plug(self.net, attachment)) if attachment else None,
                before_exec=lambda: self._apply_limits(pod, isolators.update, cpu=False),
                after_exec=lambda: self._apply_limits(pod, isolators.update_cpu),
            )
        except Exception:
            self._guarded("VM", pod.destroy)  # teardown tries again, by name
            if cancelled.is_set():
                raise StartAborted("killed while the VM booted") from None
            raise
        finally:
            self._booting = None
        self.pod = pod
        member.index = 0
        if cancelled.is_set():
            raise StartAborted("killed as the VM started the task")
        self._watch_sandbox(pod)  # once it runs: the watcher ends with the pod
        self._serve_exec()
        if self.store.get(self.container_id).status == Status.LAUNCHING:
            self.store.update(self.container_id, status=Status.RUNNING)

    def _add_member(self, pod: Pod, member: Member) -> None:
        if self.attachment is not None and member.wants_network:
            held = {(f.proto, f.host_port) for m in self.members.values() for f in m.owned_forwards}
            new = [f for f in member.forwards if (f.proto, f.host_port) not in held]
            if new:
                net.add_forwards(self.net, self.attachment, new)
                member.owned_forwards = new
        spec = _with_network(member, self.attachment, nic=False)
        try:
            member.index = pod.add_container(
                spec, member.base_disk, member.stdout, member.stderr, disk_bytes=member.disk_bytes
            )
        except Exception:
            self._drop_forwards(member)
            raise

    def _pod_config(self, member: Member) -> PodConfig:
        tuning = isolators.prepare(self.target())
        return PodConfig(
            name=self.container_id,
            kernel=self.paths.boot_kernel,
            initramfs=self.paths.initramfs,
            base_disk=member.base_disk,
            disk_bytes=member.disk_bytes,
            workdir=self.paths.containers / self.container_id,
            vcpus=tuning.vcpus,
            memory_mib=tuning.memory_mib,
            shares={"sandbox": self.sandbox},
            interface=tuning.interface,
            pool=self.paths,
            metadata={
                "container-id": self.container_id,
                "state-root": str(self.store.root),
                "image": member.image_id,
            },
        )

    def target(self) -> isolators.Target:
        """The pod as a whole is held to the executor's resources (tasks' included)."""
        return isolators.Target(self.launch.resources, self.container_id, network=self.attachment)

    def _apply_limits(self, pod: Pod, apply: Callable[..., list[str]], **kwargs: bool) -> None:
        """The pod's limits on its booted VM: all but the CPU quota before the task's
        process exists, the quota as soon as it was exec'd (the exec is set-up)."""
        for problem in apply(pod.libvirt_domain(), self.target(), **kwargs):
            log.event(LOG, "limit not applied", log.WARNING, problem=problem)

    def _watch_sandbox(self, pod: Pod) -> None:
        """Kill the pod's tasks once the sandbox is over the disk limit (Mesos posix/disk)."""
        disk_mb = self.launch.resources.disk_mb

        def watch() -> None:
            while pod.alive() and not self._stopped.wait(disk.SANDBOX_WATCH_SECONDS):
                try:
                    why = disk.sandbox_over_quota(self.sandbox, disk_mb)
                except Exception as err:  # a watcher that dies would stop enforcing quietly
                    why = f"the sandbox could not be measured: {err}"
                if why is not None:
                    log.event(LOG, "sandbox over its disk limit", log.WARNING, why=why)
                    self._on_sandbox_full(why)
                    return

        threading.Thread(target=watch, name="sandbox-quota", daemon=True).start()

    def _usage(self) -> dict[str, float | int]:
        """The agent's ``usage`` of this pod (the ECP asks here: see exec_socket)."""
        pod = self.pod
        if pod is None or not pod.alive():
            raise VMError(f"pod {self.container_id} is not running")
        record = self.store.get(self.container_id)
        return isolators.usage(pod.libvirt_domain(), isolators.record_target(record))

    def _serve_exec(self) -> None:
        """``mesos-hyper exec`` into this pod, for as long as the pod runs."""
        try:
            self._exec_server = ExecServer(
                exec_socket.socket_path(self.container_id, self.paths), self._run_exec, self._usage
            )
        except (OSError, HyperError) as err:  # the pod runs on without it
            log.event(LOG, "no exec socket", log.WARNING, error=err)


def _with_network(member: Member, attachment: Attachment | None, nic: bool = True) -> ProcessSpec:
    """The member's spec with its /etc files, and the NIC's set-up for the pod's first."""
    files = networking.guest_files(attachment, member.hostname)
    if nic:
        network = attachment.guest_config if attachment else None
        return dataclasses.replace(member.spec, files=files, network=network)
    return dataclasses.replace(member.spec, files=files)
