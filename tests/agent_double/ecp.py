"""ExternalContainerizerProcess of Mesos 1.0.4, as a synchronous test double.

Mirrors src/slave/containerizer/external_containerizer.cpp: which command gets
which stdin record, what is read back, the queueing of calls behind `launch`,
the destroy sequence (destroy, then SIGKILL of the pending `wait` tree) and
recovery (recover, containers, wait + destroy of orphans). Every call has a
deadline so a broken ECP fails the test instead of hanging it. Failures the
1.0.4 containerizer only logs (an orphan's `destroy` during recovery) are kept
in `ECPInvoker.failures` for the test side to report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError, Message

from mesos_hyper.proto import containerizer_pb2, mesos_pb2

from . import procs
from .ecp_process import Abandoned, ECPProcess, describe_status, encode_record
from .executor_info import (
    AgentFlags,
    command_executor_info,
    forked_pid_path,
    launch_environment,
)

log = logging.getLogger(__name__)


class ECPError(RuntimeError):
    """An ECP call failed the way the agent would treat as a failure."""

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        text = message if not stderr_tail else f"{message}\n--- ECP stderr ---\n{stderr_tail}"
        super().__init__(text)
        self.stderr_tail = stderr_tail


class ECPTimeout(ECPError):
    """The ECP overran the double's deadline (a real agent would just hang)."""


class ContainerNotRunning(ECPError):
    """The agent has no such active container ("Container '...' not running")."""


@dataclass(frozen=True)
class ECPFailure:
    """A failed ECP call that a 1.0.4 agent would only LOG(ERROR), not surface."""

    command: str
    container_id: str | None
    message: str

    def __str__(self) -> str:
        target = f" {self.container_id}" if self.container_id else ""
        return f"{self.command}{target}: {self.message}"


@dataclass
class Invocation:
    """One ECP call as the test may want to assert on it."""

    command: str
    container_id: str | None
    pid: int
    stdin_record: bytes | None


def call_environment(
    agent_env: Mapping[str, str], flags: AgentFlags, extra_env: Mapping[str, str] | None
) -> dict[str, str]:
    """invoke()'s environment: the agent's own, two directories, then the call's own
    variables where the agent's has none (std::map::insert never overwrites)."""
    env = dict(agent_env)
    env["MESOS_LIBEXEC_DIRECTORY"] = flags.launcher_dir
    env["MESOS_WORK_DIRECTORY"] = str(flags.work_dir)
    for key, value in (extra_env or {}).items():
        env.setdefault(key, value)
    return env


def launch_call(
    container_id: str,
    task_info: mesos_pb2.TaskInfo | None,
    executor_info: mesos_pb2.ExecutorInfo | None,
    directory: Path,
    user: str | None,
    checkpoint: bool,
    framework_info: mesos_pb2.FrameworkInfo | None,
    *,
    agent_id: str,
    agent_pid: str,
    flags: AgentFlags,
    agent_env: Mapping[str, str],
) -> tuple[containerizer_pb2.Launch, dict[str, str]]:
    """The Launch record and the extra environment of a 1.0.4 agent's `launch` call
    (tests/real_mesos/golden.py holds them against a real agent's)."""
    if executor_info is None:
        if task_info is None or framework_info is None:
            raise ValueError("a command task needs task_info and framework_info")
        executor_info = command_executor_info(framework_info, task_info, flags)
    env = launch_environment(
        executor_info, str(directory), agent_id, agent_pid, checkpoint, flags, agent_env
    )
    launch = containerizer_pb2.Launch()
    launch.container_id.value = container_id
    if task_info is not None:
        launch.task_info.CopyFrom(task_info)
    launch.executor_info.CopyFrom(executor_info)
    launch.directory = str(directory)
    if user is not None:
        launch.user = user
    launch.slave_id.value = agent_id
    launch.slave_pid = agent_pid
    launch.checkpoint = checkpoint
    return launch, env


@dataclass
class _Container:
    sandbox: Path | None
    user: str | None
    launched: threading.Event = field(default_factory=threading.Event)
    launch_failed: bool = False
    wait_started: bool = False
    wait_process: ECPProcess | None = None
    termination: Future = field(default_factory=Future)
    destroying: bool = False
    resources: list[mesos_pb2.Resource] = field(default_factory=list)


@dataclass
class RecoverResult:
    """What recovery found: known containers kept, orphans destroyed."""

    recovered: set[str]
    orphans: set[str]
    orphan_terminations: dict[str, containerizer_pb2.Termination]


def _chown_sandbox(sandbox: Path, user: str) -> None:
    """invoke()'s "Re/establish the sandbox conditions" with --switch_user: stout's
    os::chown runs `chown -R uid:gid 'dir'` through the shell, then chown(2)s
    `<sandbox>/stderr` (following a link there) before it opens it for the ECP's stderr."""
    import pwd
    import subprocess

    entry = pwd.getpwnam(user)
    command = f"chown -R {entry.pw_uid}:{entry.pw_gid} '{sandbox}'"
    status = subprocess.run(command, shell=True, check=False, timeout=60).returncode
    if status != 0:
        raise ECPError(
            f"Failed to chown work directory: Failed to execute '{command}'"
            f" (exit status: {status << 8}): Success",
            "",
        )
    try:
        os.chown(sandbox / "stderr", entry.pw_uid, entry.pw_gid)
    except FileNotFoundError:
        pass  # the agent opens it with O_CREAT just after
    except OSError as err:
        raise ECPError(f"Failed to redirect stderr: Failed to chown: {err.strerror}", "") from err


class ECPInvoker:
    """Calls the ECP exactly like the 1.0.4 agent's external containerizer."""

    def __init__(
        self,
        flags: AgentFlags,
        agent_id: str,
        agent_pid: str,
        agent_env: Mapping[str, str],
        timeout: float = 60.0,
    ) -> None:
        self.flags = flags
        self.agent_id = agent_id
        self.agent_pid = agent_pid
        self.agent_env = dict(agent_env)
        self.timeout = timeout
        self.invocations: list[Invocation] = []
        self.failures: list[ECPFailure] = []
        self._processes: list[ECPProcess] = []
        self._actives: dict[str, _Container] = {}
        self._lock = threading.RLock()

    # ---- plumbing -----------------------------------------------------------

    def _invoke(
        self,
        command: str,
        message: Message | None = None,
        container_id: str | None = None,
        sandbox: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        user: str | None = None,
    ) -> ECPProcess:
        if sandbox is not None and user is not None:
            _chown_sandbox(sandbox, user)
        env = call_environment(self.agent_env, self.flags, extra_env)
        record = encode_record(message.SerializeToString()) if message is not None else None
        process = ECPProcess(self.flags.containerizer_path, command, env, sandbox, record)
        with self._lock:
            self._processes.append(process)
            self.invocations.append(Invocation(command, container_id, process.pid, record))
        return process

    def _deadline(self) -> float:
        return time.monotonic() + self.timeout

    def _status(self, process: ECPProcess) -> int:
        try:
            return process.wait_status(self._deadline())
        except TimeoutError as exc:
            process.kill()
            raise ECPTimeout(str(exc), process.stderr_tail()) from exc

    def _check(self, process: ECPProcess, status: int) -> None:
        """validate(): anything but a clean exit 0 is an error."""
        if status != 0:
            raise ECPError(
                f"External containerizer `{process.command}` {describe_status(status)}",
                process.stderr_tail(),
            )

    def _result(self, process: ECPProcess, cls: type[Message], deadline: float | None) -> Message:
        """result<T>(): await the stdout record and the exit status."""
        try:
            payload: bytes | None = process.read_record(deadline)
            read_error = None
        except TimeoutError as exc:
            process.kill()
            raise ECPTimeout(str(exc), process.stderr_tail()) from exc
        except ValueError as exc:
            payload, read_error = None, str(exc)
        try:
            status = process.wait_status(deadline)
        except TimeoutError as exc:
            process.kill()
            raise ECPTimeout(str(exc), process.stderr_tail()) from exc
        self._check(process, status)
        if read_error is not None:
            raise ECPError(f"Could not receive any result: {read_error}", process.stderr_tail())
        if payload is None:
            raise ECPError("Could not receive any result", process.stderr_tail())
        message = cls()
        try:
            message.ParseFromString(payload)
        except DecodeError as exc:
            raise ECPError(f"Could not receive any result: {exc}", process.stderr_tail()) from exc
        if not message.IsInitialized():
            raise ECPError(
                "Could not receive any result: Failed to deserialize message", process.stderr_tail()
            )
        return message

    def _active(self, container_id: str) -> _Container:
        with self._lock:
            container = self._actives.get(container_id)
        if container is None:
            raise ContainerNotRunning(f"Container '{container_id}' not running")
        return container

    def _await_launch(self, container_id: str, container: _Container) -> None:
        """The `.then` on `launched`: queue behind a pending launch."""
        if not container.launched.wait(self.timeout):
            raise ECPTimeout(f"launch of '{container_id}' did not finish")
        if container.launch_failed:
            raise ECPError(f"Launch of container '{container_id}' failed")
        self._active(container_id)

    def _cleanup(self, container_id: str) -> None:
        with self._lock:
            self._actives.pop(container_id, None)

    # ---- containerizer API --------------------------------------------------

    def launch(
        self,
        container_id: str,
        task_info: mesos_pb2.TaskInfo | None,
        executor_info: mesos_pb2.ExecutorInfo | None,
        directory: Path,
        user: str | None,
        checkpoint: bool,
        framework_info: mesos_pb2.FrameworkInfo | None = None,
    ) -> None:
        """`launch`: returns once the ECP exited 0; raises with its stderr tail.

        With executor_info None the command executor is generated from
        `task_info` as Slave::getExecutorInfo does (needs framework_info).
        """
        with self._lock:
            if container_id in self._actives:
                raise ECPError(f"Cannot start already running container '{container_id}'")
        launch, env = launch_call(
            container_id,
            task_info,
            executor_info,
            directory,
            user,
            checkpoint,
            framework_info,
            agent_id=self.agent_id,
            agent_pid=self.agent_pid,
            flags=self.flags,
            agent_env=self.agent_env,
        )
        executor_info = launch.executor_info
        container = _Container(sandbox=Path(directory), user=user)
        process = self._invoke("launch", launch, container_id, Path(directory), env, user)
        if checkpoint:
            path = forked_pid_path(
                self.flags.work_dir,
                self.agent_id,
                executor_info.framework_id.value,
                executor_info.executor_id.value,
                container_id,
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(process.pid))
        with self._lock:
            self._actives[container_id] = container
        try:
            self._check(process, self._status(process))
        except ECPError as exc:
            container.launch_failed = True
            container.launched.set()
            self._cleanup(container_id)
            raise type(exc)(f"Could not launch container '{container_id}': {exc}") from exc
        container.launched.set()

    def update(self, container_id: str, resources: list[mesos_pb2.Resource]) -> None:
        """`update` with the container's new resources."""
        container = self._active(container_id)
        self._await_launch(container_id, container)
        container.resources = list(resources)
        update = containerizer_pb2.Update()
        update.container_id.value = container_id
        update.resources.extend(resources)
        process = self._invoke(
            "update", update, container_id, container.sandbox, user=container.user
        )
        status = self._status(process)
        self._active(container_id)
        self._check(process, status)

    def usage(self, container_id: str) -> mesos_pb2.ResourceStatistics:
        """`usage`: one ResourceStatistics record on stdout."""
        container = self._active(container_id)
        self._await_launch(container_id, container)
        usage = containerizer_pb2.Usage()
        usage.container_id.value = container_id
        process = self._invoke("usage", usage, container_id, container.sandbox, user=container.user)
        result = self._result(process, mesos_pb2.ResourceStatistics, self._deadline())
        self._active(container_id)
        return result  # type: ignore[return-value]

    def wait(self, container_id: str) -> Future:
        """Start (once) the blocking `wait`; the Future yields a Termination.

        Like `_wait`, the process is started right away when the container
        is launched, otherwise once the pending launch finishes.
        """
        container = self._active(container_id)
        with self._lock:
            if container.wait_started:
                return container.termination
            container.wait_started = True
        process = None
        if container.launched.is_set() and not container.launch_failed:
            process = self._start_wait(container_id, container)
        thread = threading.Thread(
            target=self._run_wait,
            args=(container_id, container, process),
            daemon=True,
            name=f"ecp-wait-{container_id}",
        )
        thread.start()
        return container.termination

    def _start_wait(self, container_id: str, container: _Container) -> ECPProcess:
        wait = containerizer_pb2.Wait()
        wait.container_id.value = container_id
        process = self._invoke("wait", wait, container_id, container.sandbox, user=container.user)
        with self._lock:
            container.wait_process = process
        return process

    def _run_wait(
        self, container_id: str, container: _Container, process: ECPProcess | None
    ) -> None:
        if process is None:
            try:
                self._await_launch(container_id, container)
            except ECPError as exc:
                container.termination.set_exception(exc)
                return
            process = self._start_wait(container_id, container)
        try:
            try:
                termination = self._result(process, containerizer_pb2.Termination, None)
                error: ECPError | None = None
            except ECPError as exc:
                termination, error = None, exc
            status = process.wait_status(None)
        except Abandoned:
            return  # The agent died; a restarted agent waits anew.
        with self._lock:
            if self._actives.get(container_id) is not container:
                if not container.termination.done():  # 1.0.4 would never settle it
                    container.termination.set_exception(
                        ContainerNotRunning(f"Container '{container_id}' not running")
                    )
                return
            if container.destroying:
                # __wait: a wait ended while destroying reports only its status.
                destroyed = containerizer_pb2.Termination(status=status)
                container.termination.set_result(destroyed)
                self._cleanup(container_id)
                return
        if error is not None:
            container.termination.set_exception(error)
            self._unwait(container_id)
        else:
            container.termination.set_result(termination)
        self._cleanup(container_id)

    def destroy(self, container_id: str) -> None:
        """`destroy`, then SIGKILL the pending `wait` tree (unwait), as 1.0.4."""
        container = self._active(container_id)
        container.launched.wait(self.timeout)  # onAny: even after a failed launch.
        with self._lock:
            if self._actives.get(container_id) is not container:
                raise ContainerNotRunning(f"Container '{container_id}' not running")
            if container.destroying:
                log.warning("Container '%s' is already being destroyed", container_id)
                return
            container.destroying = True
        destroy = containerizer_pb2.Destroy()
        destroy.container_id.value = container_id
        process = self._invoke(
            "destroy", destroy, container_id, container.sandbox, user=container.user
        )
        try:
            status = self._status(process)
        finally:
            self._unwait(container_id)
        self._check(process, status)

    def _unwait(self, container_id: str) -> None:
        with self._lock:
            container = self._actives.get(container_id)
            if container is None:
                return
            process = container.wait_process
        if process is None:
            self._cleanup(container_id)  # "not being waited on"
            return
        # An empty tree (the wait already exited) is no error to stout's killtree:
        # cleanup is left to the wait's own callback (`_run_wait`), as in 1.0.4.
        procs.killtree(process.pid)

    def containers(self) -> set[str]:
        """`containers`: nothing on stdin, one Containers record on stdout."""
        process = self._invoke("containers")
        result = self._result(process, containerizer_pb2.Containers, self._deadline())
        return {c.value for c in result.containers}  # type: ignore[attr-defined]

    def recover(self, known: Mapping[str, tuple[Path, str | None]]) -> RecoverResult:
        """`recover`, `containers`, then wait + destroy every orphan.

        `known` maps the container ids the agent's checkpointed state holds
        (latest, incomplete runs) to their (sandbox, user). A failed orphan
        `destroy` is only logged by 1.0.4: it goes to `failures`, not raised.
        """
        process = self._invoke("recover")
        self._check(process, self._status(process))
        listed = self.containers()
        recovered = set()
        for container_id, (sandbox, user) in known.items():
            if container_id not in listed:
                log.warning("ECP does not list %s as active; not recovered", container_id)
                continue
            container = _Container(sandbox=sandbox, user=user)
            container.launched.set()
            with self._lock:
                self._actives[container_id] = container
            recovered.add(container_id)
        orphans = listed - set(known)
        futures = {}
        for container_id in orphans:
            container = _Container(sandbox=None, user=None)
            container.launched.set()
            with self._lock:
                self._actives[container_id] = container
            futures[container_id] = self.wait(container_id)
        for container_id in orphans:
            try:
                self.destroy(container_id)
            except ContainerNotRunning:
                pass
            except ECPError as exc:  # __destroy logs it; recovery goes on
                with self._lock:
                    self.failures.append(ECPFailure("destroy", container_id, str(exc)))
        terminations = {}
        for container_id, future in futures.items():
            try:
                terminations[container_id] = future.result(self.timeout)
            except TimeoutError as exc:
                raise ECPTimeout(f"orphan {container_id} was not reaped") from exc
        return RecoverResult(recovered, orphans, terminations)

    # ---- lifecycle ------------------------------------------------------------

    def active(self) -> set[str]:
        """Container ids the double currently considers active."""
        with self._lock:
            return set(self._actives)

    def sessions_alive(self) -> set[int]:
        """Live processes left in any session an ECP call started (leak check)."""
        alive: set[int] = set()
        for process in self._processes:
            alive |= procs.session_members(process.pid)
        return alive

    def running(self) -> list[ECPProcess]:
        """ECP calls whose process has not exited yet."""
        return [p for p in self._processes if p.proc.poll() is None]

    def abandon(self) -> None:
        """The agent process died: drop every pipe, leave the ECPs running."""
        for process in self._processes:
            process.abandon()

    def close(self) -> None:
        """Reap every call and stop stderr pumps; SIGKILLs stragglers."""
        for process in self._processes:
            if process.proc.poll() is None:
                process.kill()
            for pid in procs.session_members(process.pid):
                procs.killtree(pid)
            process.join_stderr(1.0)
