"""The pod executor: one per Mesos executor, on the host, beside its VM.

It subscribes to the agent at once (before any slow work, so the agent's executor
registration timeout never fires), then for each LAUNCH fetches the URIs, pulls the
image, boots the pod VM and reports TASK_STARTING / RUNNING / FINISHED | FAILED | KILLED.
Before it exits it records the container's termination for the ECP's ``wait``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import isolators
from isolators import disk, net
from isolators.net import Attachment
from mesos_hyper import config, log
from mesos_hyper.containerizer.messages import (
    CommandSpec,
    LaunchRequest,
    TaskSpec,
    exit_status,
    task_from_v1_json,
)
from mesos_hyper.errors import HyperError, NotFoundError, UsageError
from mesos_hyper.executor import exec_socket, networking
from mesos_hyper.executor.agent_api import AgentConnection
from mesos_hyper.executor.command import SANDBOX_MOUNT, run_options
from mesos_hyper.executor.exec_socket import ExecRequest, ExecServer
from mesos_hyper.executor.fetcher import fetch_all
from mesos_hyper.executor.health_check import Check, HealthChecker, http_probe, tcp_probe
from mesos_hyper.executor.settings import ExecutorSettings
from mesos_hyper.executor.task_status import Outcome, from_exit, from_limitation
from mesos_hyper.images.store import ImageStore
from mesos_hyper.runtime.spec import process_spec
from mesos_hyper.state import StateStore, Status, Termination
from vmctl.guest.protocol import ProcessSpec
from vmctl.network.firewall import Forward
from vmctl.network.settings import NetSettings
from vmctl.pod import Pod, PodConfig

LOG = logging.getLogger(__name__)
ACK_TIMEOUT_S = 30.0
MIB = 1 << 20


@dataclass
class RunningTask:
    spec: TaskSpec
    pod: Pod | None = None
    container: int | None = None  # index in the pod once started
    killed: bool = False
    thread: threading.Thread | None = None
    outputs: tuple[Any, ...] = ()
    ended_by: Outcome | None = None  # the executor's own reason to end it (health, quota)
    forwards: list[Forward] = field(default_factory=list)  # host ports that go with the task
    # the process spec of a command run in the task's container (health checks, exec):
    # the task's image, user, env and hostname, with the command's argv
    spec_for: Callable[[CommandSpec | None, Sequence[str]], ProcessSpec] | None = None


class PodExecutor:
    def __init__(
        self,
        settings: ExecutorSettings,
        launch: LaunchRequest,
        store: StateStore,
        paths: config.Paths,
        default_image: str | None,
    ) -> None:
        self.settings = settings
        self.launch = launch
        self.store = store
        self.paths = paths
        self.default_image = default_image
        self.sandbox = Path(launch.directory)
        self.tasks: dict[str, RunningTask] = {}
        self.done = threading.Event()
        self.last_outcome: Outcome | None = None
        self.connection = AgentConnection(settings, self.handle)
        self._lock = threading.Lock()
        self._pod_lock = threading.Lock()  # creating the pod VM or adding a member to it
        self.pod: Pod | None = None
        self.net = NetSettings.from_env()
        self.attachment: Attachment | None = None
        self._exec_server: ExecServer | None = None

    # ---- events from the agent -------------------------------------------------

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "LAUNCH":
            self._on_launch(event.get("launch", {}).get("task", {}))
        elif kind == "KILL":
            kill = event.get("kill", {})
            task_id = kill.get("task_id", {}).get("value", "")
            grace = _grace(kill.get("kill_policy"))
            self.kill(task_id, grace)
        elif kind in ("SHUTDOWN", "AGENT_GONE"):
            log.event(LOG, "shutting down", why=kind)
            for task_id in list(self.tasks):
                self.kill(task_id, self.settings.shutdown_grace_period)
            if not self.tasks:
                self.done.set()
        elif kind == "ERROR":
            log.event(LOG, "agent sent an error", logging.WARNING, message=event.get("error"))

    def _on_launch(self, task_doc: dict[str, Any]) -> None:
        try:
            task = task_from_v1_json(task_doc)
        except HyperError as err:
            task_id = str(task_doc.get("task_id", {}).get("value", "unknown"))
            self.connection.send_update(task_id, "TASK_FAILED", message=str(err))
            return
        with self._lock:
            if task.task_id in self.tasks:
                self.connection.send_update(
                    task.task_id,
                    "TASK_FAILED",
                    message="a task with this id is already running",
                    reason="REASON_TASK_INVALID",
                )
                return
            running = RunningTask(task)
            self.tasks[task.task_id] = running
        running.thread = threading.Thread(target=self._run, args=(running,), daemon=True)
        running.thread.start()

    def kill(self, task_id: str, grace_s: float | None) -> None:
        running = self.tasks.get(task_id)
        if running is None:
            log.event(LOG, "kill for an unknown task", logging.WARNING, task_id=task_id)
            return
        running.killed = True
        pod, index = running.pod, running.container
        grace = grace_s if grace_s is not None else self.settings.shutdown_grace_period
        if pod is not None and index is not None:
            threading.Thread(target=pod.stop_container, args=(index, grace), daemon=True).start()

    # ---- running one task ------------------------------------------------------

    def _run(self, running: RunningTask) -> None:
        task = running.spec
        send = self.connection.send_update
        send(task.task_id, "TASK_STARTING")
        try:
            outcome = self._boot_and_wait(running)
        except HyperError as err:
            log.event(LOG, "task failed to start", logging.ERROR, task_id=task.task_id, error=err)
            reason = (
                "REASON_CONTAINER_LAUNCH_FAILED"
                if running.container is None
                else "REASON_EXECUTOR_TERMINATED"
            )
            outcome = Outcome("TASK_FAILED", str(err), reason)
        finally:
            self._release(running)
        if running.ended_by is not None:
            outcome = running.ended_by
        elif running.killed and outcome.state != "TASK_FINISHED":
            outcome = Outcome("TASK_KILLED", outcome.message, outcome.reason)
        send(task.task_id, outcome.state, message=outcome.message, reason=outcome.reason)
        self.last_outcome = outcome
        with self._lock:
            del self.tasks[task.task_id]
            if not self.tasks:
                self.done.set()

    def _boot_and_wait(self, running: RunningTask) -> Outcome:
        task = running.spec
        container = task.container or self.launch.container
        # A task for a custom executor has no CommandInfo: its image's Entrypoint/Cmd runs.
        command = task.command
        if command is not None and command.uris:
            fetch_all(command.uris, self.sandbox)
        reference = (container.image if container else None) or self.default_image
        if not reference:
            raise HyperError("the task names no image and no default image is configured")
        images = ImageStore(self.paths.images)
        force = bool(container and container.force_pull)
        image = images.pull(reference, force=force)
        base = images.base_disk(image)
        passwd, group = images.user_db(image)
        hostname = (container.hostname if container and container.hostname else None) or _hostname(
            task.task_id
        )
        task_env = {**networking.port_env(task), **self._task_env(task)}

        def spec_for(command: CommandSpec | None, argv: Sequence[str] = ()) -> ProcessSpec:
            opts = run_options(command, task_env=task_env, hostname=hostname)
            if argv:  # as `docker exec`: argv as it is, not through the entrypoint
                opts = dataclasses.replace(opts, entrypoint=argv[:1], args=argv[1:])
            return process_spec(image.config, passwd, group, opts)

        running.spec_for = spec_for
        spec = spec_for(command)
        limits = self._task_limits(task)
        tuning = isolators.prepare(limits)
        spec = dataclasses.replace(
            spec,
            mounts=[("sandbox", SANDBOX_MOUNT)],
            mem_limit_bytes=int(limits.mem_mb * MIB) if limits.mem_mb else None,
            enforce_disk=tuning.enforce_disk,
        )
        disk_bytes = base.stat().st_size + tuning.disk_room_bytes
        stdout = (self.sandbox / "stdout").open("ab", buffering=0)
        stderr = (self.sandbox / "stderr").open("ab", buffering=0)
        running.outputs = (stdout, stderr)
        with self._pod_lock:
            if running.killed:
                return Outcome("TASK_KILLED", "Task killed before it started")
            if self.pod is not None and self.pod.alive():
                running.pod = self.pod
                self._add_forwards(running)
                spec = dataclasses.replace(
                    spec, files=networking.guest_files(self.attachment, hostname)
                )
                running.container = self.pod.add_container(
                    spec, base, stdout.write, stderr.write, disk_bytes=disk_bytes
                )
            else:
                if networking.mode(task) != "NONE" and self.net.enabled:
                    self.attachment = net.setup(
                        self.net,
                        self.launch.container_id,
                        self.settings.framework_id,
                        networking.forwards(task),
                    )
                    running.forwards = list(self.attachment.forwards)
                spec = dataclasses.replace(
                    spec,
                    files=networking.guest_files(self.attachment, hostname),
                    network=self.attachment.guest_config if self.attachment else None,
                )
                running.pod = self.pod = self._new_pod(base, image.id, disk_bytes)
                self.store.update(self.launch.container_id, domain=self.pod.domain_name)
                attachment = self.attachment
                self.pod.start(
                    spec,
                    on_stdout=stdout.write,
                    on_stderr=stderr.write,
                    before_resume=(
                        (lambda: net.plug(self.net, attachment)) if attachment else None
                    ),
                    before_exec=self._apply_limits,
                )
                self._watch_sandbox(self.pod)  # once it runs: the watcher ends with the pod
                self._serve_exec()
                running.container = 0
                if self.store.get(self.launch.container_id).status == Status.LAUNCHING:
                    self.store.update(self.launch.container_id, status=Status.RUNNING)
        self.connection.send_update(task.task_id, "TASK_RUNNING")
        checker = self._health_checker(running)
        try:
            code = running.pod.wait_container(running.container)
        finally:
            if checker is not None:
                checker.stop()
        if running.ended_by is not None:
            return running.ended_by
        broken = running.pod.limits.get(running.container)
        if broken and not running.killed:
            return from_limitation(broken, self._limit_detail(broken, limits))
        return from_exit(code, killed=running.killed)

    @staticmethod
    def _limit_detail(resource: str, limits: isolators.Limits) -> str:
        if resource == "memory" and limits.mem_mb:
            return f"the task used all of its {limits.mem_mb:g} MB and was OOM-killed in its VM"
        if resource == "disk" and limits.disk_mb:
            return f"the task filled its {limits.disk_mb:g} MB disk"
        return f"the task broke its {resource} limit"

    def _health_checker(self, running: RunningTask) -> HealthChecker | None:
        """The task's check; COMMAND runs in its rootfs, HTTP/TCP at the pod's address."""
        hc = running.spec.health_check
        if hc is None:
            return None
        task_id = running.spec.task_id
        check: Check
        if hc.kind == "COMMAND":
            assert hc.command is not None
            check = self._command_check(running, hc.command)
        elif self.attachment is None:
            why = f"{hc.kind} health checks need the pod network (the task has none)"
            log.event(LOG, why, logging.WARNING, task_id=task_id)

            def check(timeout: float) -> tuple[bool, str]:
                return False, why

        else:
            assert hc.port is not None
            ip = str(self.attachment.ip)
            if hc.kind == "HTTP":
                check = http_probe(self.net.netns, ip, hc)
            else:
                check = tcp_probe(self.net.netns, ip, hc.port)

        def on_health(healthy: bool, why: str) -> None:
            self.connection.send_update(task_id, "TASK_RUNNING", healthy=healthy, message=why)

        def on_kill(why: str) -> None:
            running.ended_by = Outcome("TASK_KILLED", why)
            self.kill(task_id, None)

        checker = HealthChecker(hc, check, on_health, on_kill)
        checker.start()
        return checker

    @staticmethod
    def _command_check(running: RunningTask, command: CommandSpec) -> Check:
        """Runs in the task's rootfs inside its VM, as ``docker exec`` would."""
        pod, index = running.pod, running.container
        assert pod is not None and index is not None and running.spec_for is not None
        check_spec = running.spec_for(command, ())

        def check(timeout: float) -> tuple[bool, str]:
            try:
                code = pod.exec(index, check_spec, timeout)
            except TimeoutError:
                return False, f"the check timed out after {timeout:g}s"
            return code == 0, f"the check command exited with status {code}"

        return check

    def _task_limits(self, task: TaskSpec) -> isolators.Limits:
        """A container is held to its task's resources, or the executor's when it has none."""
        mine, pods = task.resources, self.launch.resources
        return isolators.Limits(
            cpus=mine.cpus or pods.cpus,
            mem_mb=mine.mem_mb or pods.mem_mb,
            disk_mb=mine.disk_mb or pods.disk_mb,
        )

    def _limits(self) -> isolators.Limits:
        resources = self.launch.resources
        return isolators.Limits(
            cpus=resources.cpus,
            mem_mb=resources.mem_mb,
            disk_mb=resources.disk_mb,
            container_id=self.launch.container_id,
            network=self.attachment,
        )

    def _new_pod(self, base: Path, image_id: str, disk_bytes: int) -> Pod:
        tuning = isolators.prepare(self._limits())
        return Pod(
            PodConfig(
                name=self.launch.container_id,
                kernel=self.paths.kernel,
                initramfs=self.paths.initramfs,
                base_disk=base,
                disk_bytes=disk_bytes,
                workdir=self.paths.containers / self.launch.container_id,
                vcpus=tuning.vcpus,
                memory_mib=tuning.memory_mib,
                shares={"sandbox": self.sandbox},
                interface=tuning.interface,
                metadata={
                    "container-id": self.launch.container_id,
                    "state-root": str(self.store.root),
                    "image": image_id,
                },
            )
        )

    def _apply_limits(self) -> None:
        """The pod's limits on its booted VM, before the task's process exists."""
        assert self.pod is not None
        for problem in isolators.update(self.pod.libvirt_domain(), self._limits()):
            log.event(LOG, "limit not applied", logging.WARNING, problem=problem)

    def _watch_sandbox(self, pod: Pod) -> None:
        """Kill the pod's tasks once the sandbox is over the disk limit (Mesos posix/disk)."""
        disk_mb = self._limits().disk_mb

        def watch() -> None:
            while pod.alive() and not self.done.wait(disk.SANDBOX_WATCH_SECONDS):
                why = disk.sandbox_over_quota(self.sandbox, disk_mb)
                if why is None:
                    continue
                log.event(LOG, "sandbox over its disk limit", logging.WARNING, why=why)
                with self._lock:
                    victims = [t for t in self.tasks.values() if t.pod is pod]
                for running in victims:
                    running.ended_by = from_limitation("disk", why)
                    self.kill(running.spec.task_id, 0)
                return

        threading.Thread(target=watch, name="sandbox-quota", daemon=True).start()

    def _serve_exec(self) -> None:
        """``mesos-hyper exec`` into this pod, for as long as the pod runs."""
        try:
            self._exec_server = ExecServer(
                exec_socket.socket_path(self.launch.container_id, self.paths), self._exec
            )
        except (OSError, HyperError) as err:  # the pod runs on without it
            log.event(LOG, "no exec socket", logging.WARNING, error=err)

    def _exec(self, request: ExecRequest) -> int:
        with self._lock:
            started = [t for t in self.tasks.values() if t.container is not None]
        if request.task_id is not None:
            started = [t for t in started if t.spec.task_id == request.task_id]
            if not started:
                raise NotFoundError(f"no running task {request.task_id} in this pod")
        elif len(started) != 1:
            names = ", ".join(t.spec.task_id for t in started) or "none"
            raise UsageError(f"name one of the pod's running tasks with --task ({names})")
        (running,) = started
        pod, index = running.pod, running.container
        assert pod is not None and index is not None and running.spec_for is not None
        task_command = running.spec.command
        return pod.exec(index, running.spec_for(task_command, request.argv), request.timeout)

    def _add_forwards(self, running: RunningTask) -> None:
        """A task joining the pod brings its ports; those the pod has already stay shared."""
        if self.attachment is None or networking.mode(running.spec) == "NONE":
            return
        with self._lock:
            held = {(f.proto, f.host_port) for t in self.tasks.values() for f in t.forwards}
        wanted = networking.forwards(running.spec)
        new = [f for f in wanted if (f.proto, f.host_port) not in held]
        if new:
            net.add_forwards(self.net, self.attachment, new)
            running.forwards = new

    def _release(self, running: RunningTask) -> None:
        """Close the task's outputs and its forwards; the pod VM goes with the last task."""
        for stream in running.outputs:
            stream.close()
        with self._lock:
            last = all(t is running for t in self.tasks.values())
        if not last:
            if running.forwards and self.attachment is not None:
                try:
                    net.remove_forwards(self.net, self.attachment, running.forwards)
                except Exception as err:  # the pod's teardown removes them at the latest
                    log.event(LOG, "forward removal failed", logging.WARNING, error=err)
            return
        with self._pod_lock:
            if self._exec_server is not None:
                self._exec_server.close()
                self._exec_server = None
            if running.pod is not None:
                running.pod.destroy()
                if self.pod is running.pod:
                    self.pod = None
            try:
                isolators.cleanup(self.launch.container_id)
            except Exception as err:  # the ECP's destroy tries again
                log.event(LOG, "isolator cleanup failed", logging.ERROR, error=err)
            self.attachment = None

    def _task_env(self, task: TaskSpec) -> dict[str, str]:
        return {
            "MESOS_TASK_ID": task.task_id,
            "MESOS_FRAMEWORK_ID": self.settings.framework_id,
            "MESOS_EXECUTOR_ID": self.settings.executor_id,
            "MESOS_CONTAINER_NAME": f"mesos-hyper-{self.launch.container_id}",
        }

    # ---- the process ----------------------------------------------------------

    def run(self) -> int:
        self.connection.start()
        self.done.wait()
        self.connection.wait_acknowledged(ACK_TIMEOUT_S)
        outcome = self.last_outcome or Outcome("TASK_KILLED", "executor shut down")
        code = 0 if outcome.state == "TASK_FINISHED" else 1
        self.store.mark_terminated(
            self.launch.container_id,
            Termination(
                status=exit_status(code),
                state=outcome.state,
                reasons=[outcome.reason] if outcome.reason else [],
                message=outcome.message,
            ),
        )
        self.connection.close()
        return 0


def _grace(kill_policy: dict[str, Any] | None) -> float | None:
    if not kill_policy or "grace_period" not in kill_policy:
        return None
    return int(kill_policy["grace_period"].get("nanoseconds", 0)) / 1e9


def _hostname(task_id: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in task_id)[:63].strip("-")
    return cleaned or "mesos-hyper"
