"""One task's life in the pod: start it, watch it, end it with exactly one terminal status.

The start has blocking steps (fetch, pull, the VM's boot, the process's start). A kill may
arrive during any of them and always wins: slow steps run beside a wait on the kill, the
boot is aborted by destroying the VM, and the kill is looked at again after every step, so
there is never a TASK_RUNNING after a kill. Any exception at all, ours or libvirt's,
netlink's or the OS's, ends the task with TASK_FAILED (TASK_KILLED after a kill) and a
message; the pod's cleanup runs whatever happened.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import isolators
from mesos_hyper import log
from mesos_hyper.errors import HyperError
from mesos_hyper.executor import networking
from mesos_hyper.executor.command import SANDBOX_MOUNT, run_options
from mesos_hyper.executor.fetcher import fetch_all
from mesos_hyper.executor.health_check import Check, HealthChecker, http_probe, tcp_probe
from mesos_hyper.executor.pod_manager import Member, PodManager, StartAborted
from mesos_hyper.executor.task_status import Outcome, from_exit, from_limitation
from mesos_hyper.images.store import ImageStore
from mesos_hyper.model.limits import Limits
from mesos_hyper.model.messages import CommandSpec, TaskSpec
from mesos_hyper.runtime.spec import process_spec
from vmctl.guest.protocol import ProcessSpec

if TYPE_CHECKING:
    from vmctl.pod import Pod

LOG = log.get(__name__)
MIB = 1 << 20
T = TypeVar("T")
# Mesos's command executor: a KILL without a kill policy, for a task without one
DEFAULT_KILL_GRACE_S = 3.0

SendUpdate = Callable[..., Any]  # AgentConnection.send_update


class Killed(Exception):
    """A kill arrived before the task's process ran."""


@dataclass(frozen=True)
class TaskContext:
    """What every task of the executor shares."""

    pods: PodManager
    images: ImageStore
    sandbox: Path
    send_update: SendUpdate
    default_image: str | None
    task_env: Callable[[TaskSpec], dict[str, str]]


class TaskRunner:
    def __init__(self, spec: TaskSpec, ctx: TaskContext, outputs: tuple[Any, Any]) -> None:
        self.spec = spec
        self.ctx = ctx
        self.outputs = outputs  # the executor's stdout and stderr, opened once
        self.kill_requested = threading.Event()
        self.ended_by: Outcome | None = None  # the executor's own reason (health, quota)
        self.phase = "starting"
        self.member: Member | None = None
        self.pod: Pod | None = None
        # a command run in the task's container (health checks, exec): the task's image,
        # user, env and hostname, with the command's argv
        self.spec_for: Callable[[CommandSpec | None, Sequence[str]], ProcessSpec] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"task-{spec.task_id}")
        self._thread.daemon = True
        self.finished = threading.Event()
        self.outcome: Outcome | None = None

    @property
    def task_id(self) -> str:
        return self.spec.task_id

    @property
    def index(self) -> int | None:
        """The task's container in the pod's VM, once started."""
        return self.member.index if self.member is not None else None

    def start(
        self, on_ended: Callable[[TaskRunner], None], on_reported: Callable[[TaskRunner], None]
    ) -> None:
        """``on_ended`` runs before the terminal status is sent, ``on_reported`` after."""
        self._on_ended, self._on_reported = on_ended, on_reported
        self._thread.start()

    # ---- kill ----------------------------------------------------------------------

    def kill(self, grace_s: float | None, why: Outcome | None = None) -> None:
        """Stop the task in whatever phase it is; the terminal status follows from _run.

        The grace is the KILL's kill policy, else the task's, else 3 s, as Mesos's command
        executor has it.
        """
        with self._lock:
            if why is not None and self.ended_by is None:
                self.ended_by = why
            self.kill_requested.set()
            pod, index = self.pod, self.index
        if grace_s is not None:  # the KILL's own policy, or the executor's shutdown
            grace = grace_s
        elif self.spec.kill_grace_seconds is not None:
            grace = self.spec.kill_grace_seconds
        else:
            grace = DEFAULT_KILL_GRACE_S
        log.event(LOG, "kill", task_id=self.task_id, phase=self.phase, grace_s=grace)
        if pod is not None and index is not None:
            threading.Thread(
                target=self._stop_guarded, args=(pod, index, grace), daemon=True
            ).start()
        else:
            self.ctx.pods.abort_boot(self.task_id)

    def _stop_guarded(self, pod: Pod, index: int, grace_s: float) -> None:
        try:
            pod.stop_container(index, grace_s)
        except Exception as err:  # the task's own thread still ends it with the VM
            log.event(LOG, "could not stop the task", log.ERROR, error=err)
            pod.destroy()

    def _check_kill(self) -> None:
        if self.kill_requested.is_set():
            raise Killed(f"Task killed while {self.phase}")

    def _until_killed(self, phase: str, step: Callable[[], T]) -> T:
        """Run a slow step beside a wait on the kill; a kill abandons the step."""
        self.phase = phase
        self._check_kill()
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["value"] = step()
            except BaseException as err:
                box["error"] = err
            finally:
                done.set()

        threading.Thread(target=run, name=f"{phase}-{self.task_id}", daemon=True).start()
        while not done.wait(0.2):
            self._check_kill()
        if "error" in box:
            raise box["error"]
        self._check_kill()
        return box["value"]  # type: ignore[no-any-return]

    # ---- the task's thread ----------------------------------------------------------

    def _run(self) -> None:
        """From the fetch to the terminal update (the executor sent TASK_STARTING)."""
        try:
            outcome = self._start_and_wait()
        except (Killed, StartAborted) as err:
            outcome = Outcome("TASK_KILLED", str(err) or "Task killed while starting")
        except HyperError as err:
            log.event(LOG, "task failed to start", log.ERROR, task_id=self.task_id, error=err)
            outcome = self._failed(str(err))
        except BaseException as err:  # anything at all: the task still gets its status
            LOG.exception("unexpected error in task %s", self.task_id)
            outcome = self._failed(f"{type(err).__name__}: {err}")
        if self.ended_by is not None:
            outcome = self.ended_by
        elif self.kill_requested.is_set() and outcome.state != "TASK_FINISHED":
            outcome = Outcome("TASK_KILLED", outcome.message, outcome.reason)
        self.outcome = outcome
        try:
            self._on_ended(self)  # leave the pod (and end it when last) before the status
        except BaseException:
            LOG.exception("cleanup after task %s failed", self.task_id)
        try:
            self.ctx.send_update(
                self.task_id, outcome.state, message=outcome.message, reason=outcome.reason
            )
        finally:
            self.finished.set()
            self._on_reported(self)

    def _failed(self, message: str) -> Outcome:
        started = self.index is not None
        reason = "REASON_EXECUTOR_TERMINATED" if started else "REASON_CONTAINER_LAUNCH_FAILED"
        return Outcome("TASK_FAILED", message, reason)

    def _start_and_wait(self) -> Outcome:
        task = self.spec
        container = task.container
        command = task.command  # a custom executor's task has none: its image's Cmd runs
        if command is not None and command.uris:
            uris = command.uris
            self._until_killed("fetching", lambda: fetch_all(uris, self.ctx.sandbox))
        reference = (container.image if container else None) or self.ctx.default_image
        if not reference:
            raise HyperError("the task names no image and no default image is configured")
        force = bool(container and container.force_pull)
        images = self.ctx.images

        def pull() -> tuple[Any, Path, Any, Any]:
            image = images.pull(reference, force=force)
            return (image, images.base_disk(image), *images.user_db(image))

        image, base, passwd, group = self._until_killed("pulling", pull)
        self.phase = "preparing"
        hostname = (container.hostname if container and container.hostname else None) or (
            _hostname(task.task_id)
        )
        task_env = {**networking.port_env(task), **self.ctx.task_env(task)}

        def spec_for(command: CommandSpec | None, argv: Sequence[str] = ()) -> ProcessSpec:
            opts = run_options(command, task_env=task_env, hostname=hostname)
            if argv:  # as `docker exec`: argv as it is, not through the entrypoint
                opts = dataclasses.replace(opts, entrypoint=argv[:1], args=argv[1:])
            return process_spec(image.config, passwd, group, opts)

        self.spec_for = spec_for
        limits = self._limits()
        tuning = isolators.prepare(isolators.Target(limits))
        spec = dataclasses.replace(
            spec_for(command),
            mounts=[("sandbox", SANDBOX_MOUNT)],
            mem_limit_bytes=int(limits.mem_mb * MIB) if limits.mem_mb else None,
            enforce_disk=tuning.enforce_disk,
        )
        stdout, stderr = self.outputs
        member = Member(
            task_id=task.task_id,
            spec=spec,
            base_disk=base,
            image_id=image.id,
            disk_bytes=base.stat().st_size + tuning.disk_room_bytes,
            hostname=hostname,
            forwards=networking.forwards(task),
            wants_network=networking.mode(task) != "NONE",
            stdout=stdout.write,
            stderr=stderr.write,
        )
        self._check_kill()
        self.phase = "booting"
        with self._lock:
            self.member = member
        pod = self.ctx.pods.join(member, self.kill_requested)
        with self._lock:
            self.pod = pod
            killed = self.kill_requested.is_set()
        self.phase = "running"
        if killed:  # it came while the process started: it must not be reported running
            self._stop_guarded(pod, member.index or 0, 0.0)
            with contextlib.suppress(Exception):
                pod.wait_container(member.index or 0, 30.0)
            raise Killed("Task killed as it started")
        self.ctx.send_update(task.task_id, "TASK_RUNNING")
        checker = self._health_checker(pod, member)
        try:
            code = pod.wait_container(member.index or 0)
        finally:
            if checker is not None:
                checker.stop()
        if self.ended_by is not None:
            return self.ended_by
        broken = pod.broken_limits.get(member.index or 0)
        if broken and not self.kill_requested.is_set():
            return from_limitation(broken, _limit_detail(broken, limits))
        return from_exit(code, killed=self.kill_requested.is_set())

    def _limits(self) -> Limits:
        """A container is held to its task's resources, or the executor's when it has none."""
        mine, pods = self.spec.resources, self.ctx.pods.launch.resources
        return Limits(
            cpus=mine.cpus or pods.cpus,
            mem_mb=mine.mem_mb or pods.mem_mb,
            disk_mb=mine.disk_mb or pods.disk_mb,
        )

    # ---- health ---------------------------------------------------------------------

    def _health_checker(self, pod: Pod, member: Member) -> HealthChecker | None:
        """The task's check; COMMAND runs in its rootfs, HTTP/TCP at the pod's address."""
        hc = self.spec.health_check
        if hc is None:
            return None
        attachment = self.ctx.pods.attachment
        check: Check
        if hc.kind == "COMMAND":
            assert hc.command is not None and self.spec_for is not None
            check = _command_check(pod, member.index or 0, self.spec_for(hc.command, ()))
        elif attachment is None:
            why = f"{hc.kind} health checks need the pod network (the task has none)"
            log.event(LOG, why, log.WARNING, task_id=self.task_id)

            def check(timeout: float) -> tuple[bool, str]:
                return False, why

        else:
            assert hc.port is not None
            netns, ip = self.ctx.pods.net.netns, str(attachment.ip)
            if hc.kind == "HTTP":
                check = http_probe(netns, ip, hc)
            else:
                check = tcp_probe(netns, ip, hc.port)

        def on_health(healthy: bool, why: str) -> None:
            if not self.kill_requested.is_set():
                self.ctx.send_update(self.task_id, "TASK_RUNNING", healthy=healthy, message=why)

        def on_kill(why: str) -> None:
            self.kill(None, Outcome("TASK_KILLED", why))

        checker = HealthChecker(hc, check, on_health, on_kill)
        checker.start()
        return checker


def _command_check(pod: Pod, index: int, check_spec: ProcessSpec) -> Check:
    """Runs in the task's rootfs inside its VM, as ``docker exec`` would."""

    def check(timeout: float) -> tuple[bool, str]:
        try:
            code = pod.exec(index, check_spec, timeout)
        except TimeoutError:
            return False, f"the check timed out after {timeout:g}s"
        return code == 0, f"the check command exited with status {code}"

    return check


def _limit_detail(resource: str, limits: Limits) -> str:
    if resource == "memory" and limits.mem_mb:
        return f"the task used all of its {limits.mem_mb:g} MB and was OOM-killed in its VM"
    if resource == "disk" and limits.disk_mb:
        return f"the task filled its {limits.disk_mb:g} MB disk"
    return f"the task broke its {resource} limit"


def _hostname(task_id: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in task_id)[:63].strip("-")
    return cleaned or "mesos-hyper"
