"""A Mesos 1.0.4 agent, reduced to what an external containerizer can observe.

Ties ECPInvoker (the containerizer calls) to AgentHTTP (the executor API)
with the agent's own logic from src/slave/slave.cpp: runTask/launchExecutor,
subscribe (SUBSCRIBED, `update`, LAUNCH), statusUpdate (terminal -> `update`,
then ACKNOWLEDGED), killTask, executorTerminated, and restart + recovery.
All agent logic runs on one thread, as on the libprocess actor.

ECP calls that failed where the real agent only logs it (`destroy`, `wait`,
`update`, an orphan's `destroy` in recovery) are collected in `failures`; `close()` (and
so `shutdown()`) raises UnexpectedECPFailures for any the test did not declare
with `expect_failure`.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shlex
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from mesos_hyper.proto import containerizer_pb2, mesos_pb2
from tests.conditions import wait_for

from . import procs
from .durations import format_duration
from .ecp import ContainerNotRunning, ECPError, ECPFailure, ECPInvoker, RecoverResult
from .executor_api import AgentHTTP, EventStream, event
from .executor_info import (
    EXECUTOR_REREGISTER_TIMEOUT_NS,
    AgentFlags,
    add_resources,
    command_executor_info,
    executor_directory,
    launch_executor_info,
)
from .records import (
    TERMINAL_STATES,
    ExecutorRecord,
    ExecutorState,
    ReceivedUpdate,
    TaskRecord,
)
from .v1_executor import Event

Status = mesos_pb2.TaskStatus


EXIT_GRACE_S = 20.0
"""How long close() waits on exiting ECP processes before calling them leaked."""


class LeakError(AssertionError):
    """Processes started by ECP calls outlived Agent.shutdown()."""


class UnexpectedECPFailures(AssertionError):
    """ECP calls failed (the agent only logged it) and the test did not expect it."""


@dataclass
class ExpectedFailure:
    """A failure the test declared: `command` on `container_id` (any if None) whose
    message matches `pattern` (re.search); `seen` collects the failures it excused."""

    command: str
    pattern: str = ""
    container_id: str | None = None
    seen: list[ECPFailure] = field(default_factory=list)

    def matches(self, failure: ECPFailure) -> bool:
        return (
            failure.command == self.command
            and (self.container_id is None or failure.container_id == self.container_id)
            and re.search(self.pattern, failure.message) is not None
        )


class Agent:
    """One agent: work dir under tmp_path, one framework, ECP + HTTP API."""

    def __init__(
        self,
        tmp_path: Path,
        containerizer_path: Sequence[str] | str,
        env: Mapping[str, str] | None = None,
        *,
        framework_info: mesos_pb2.FrameworkInfo | None = None,
        checkpoint: bool = True,
        agent_id: str | None = None,
        timeout: float = 60.0,
        registration_timeout: float = 60.0,
        reregister_timeout: float = EXECUTOR_REREGISTER_TIMEOUT_NS / 1e9,
        **flags: Any,
    ) -> None:
        path = (
            containerizer_path
            if isinstance(containerizer_path, str)
            else shlex.join(containerizer_path)
        )
        self.flags = AgentFlags(work_dir=Path(tmp_path) / "agent", containerizer_path=path, **flags)
        self.flags.work_dir.mkdir(parents=True, exist_ok=True)
        self.agent_id = agent_id or f"{uuid.uuid4()}-S0"
        self.env = dict(os.environ if env is None else env)
        self.timeout = timeout
        self.registration_timeout = registration_timeout
        self.reregister_timeout = reregister_timeout
        self.framework_info = framework_info or mesos_pb2.FrameworkInfo(
            user=getpass.getuser(), name="agent-double-framework", checkpoint=checkpoint
        )
        if not self.framework_info.HasField("id"):
            self.framework_info.id.value = f"{uuid.uuid4()}-0000"
        self.http = AgentHTTP(self)
        self.http.start()
        # mesos-agent's main sets these for libprocess; the ECP and executors inherit them
        self.env.setdefault("LIBPROCESS_IP", "127.0.0.1")
        self.env["LIBPROCESS_PORT"] = str(self.http.port)
        self.agent_info = mesos_pb2.SlaveInfo(hostname=socket.gethostname(), port=self.http.port)
        self.agent_info.id.value = self.agent_id
        self.ecp = ECPInvoker(self.flags, self.agent_id, self.http.pid, self.env, timeout)
        self._dead_invokers: list[ECPInvoker] = []
        self._executors: dict[str, ExecutorRecord] = {}
        self._updates: dict[str, list[ReceivedUpdate]] = {}
        self.rejected_updates: list[ReceivedUpdate] = []
        self.messages: list[tuple[str, bytes]] = []
        self._failures: list[ECPFailure] = []
        self._expected: list[ExpectedFailure] = []
        self._failed_launches: set[str] = set()
        self._cond = threading.Condition()
        self._timers: list[threading.Timer] = []
        self._threads: list[threading.Thread] = []
        self._recovering = False
        self._generation = 0
        self._actor = ThreadPoolExecutor(1, thread_name_prefix="agent-actor")

    # ---- plumbing -------------------------------------------------------------

    @property
    def framework_id(self) -> str:
        return self.framework_info.id.value

    def _dispatch(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._actor.submit(fn, *args)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._dispatch(fn, *args).result(self.timeout * 3)

    def _later(self, seconds: float, fn: Callable[..., Any], *args: Any) -> None:
        generation = self._generation

        def fire() -> None:
            if generation == self._generation:
                with contextlib.suppress(RuntimeError):  # actor already shut down
                    self._dispatch(fn, *args)

        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def _background(self, fn: Callable[..., Any], *args: Any) -> None:
        thread = threading.Thread(target=fn, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _failed(self, command: str, container_id: str | None, error: BaseException) -> None:
        """An ECP call failed; the agent would LOG(ERROR) it and go on.

        "Container not running" is the containerizer's bookkeeping, not a failed call
        (1.0.4 logs it after every executor exit, for the agent's own terminal updates).
        """
        if isinstance(error, ContainerNotRunning):
            return
        with self._cond:
            self._failures.append(ECPFailure(command, container_id, str(error)))
            self._cond.notify_all()

    def _destroy(self, container_id: str) -> None:
        """containerizer->destroy(); a failure is only logged."""
        try:
            self.ecp.destroy(container_id)
        except ECPError as exc:
            self._failed("destroy", container_id, exc)

    def _destroy_async(self, record: ExecutorRecord) -> None:
        """containerizer->destroy(): fire and forget, errors only logged."""
        self._background(self._destroy, record.container_id)

    def _record_for_task(self, task_id: str) -> ExecutorRecord | None:
        for record in self._executors.values():
            if record.completed:
                continue
            if (
                task_id in record.queued
                or task_id in record.launched
                or task_id in record.terminated
            ):
                return record
        return None

    # ---- ExecutorAPIDelegate (called from HTTP threads) -----------------------

    def recovering(self) -> bool:
        return self._recovering

    def find_executor(
        self, framework_id: str, executor_id: str
    ) -> tuple[bool, ExecutorRecord | None]:
        if framework_id != self.framework_id:
            return False, None
        record = self._executors.get(executor_id)
        return True, None if record is None or record.completed else record

    def subscribe(self, record: ExecutorRecord, subscribe: Message, stream: EventStream) -> None:
        self._dispatch(self._subscribe, record, subscribe, stream)

    def status_update(
        self, record: ExecutorRecord, framework_id: str, status: mesos_pb2.TaskStatus
    ) -> None:
        self._dispatch(self._status_update, record, status, True)

    def executor_message(self, record: ExecutorRecord, data: bytes) -> None:
        with self._cond:
            self.messages.append((record.executor_id, data))
            self._cond.notify_all()

    # ---- agent logic (actor thread) ------------------------------------------

    def _prepare_task(
        self, task: mesos_pb2.TaskInfo
    ) -> tuple[ExecutorRecord, mesos_pb2.ExecutorInfo | None]:
        """runTask/launchExecutor up to the containerizer call.

        Returns the launch ExecutorInfo when a new container must be launched.
        """
        executor_info = command_executor_info(self.framework_info, task, self.flags)
        executor_id = executor_info.executor_id.value
        record = self._executors.get(executor_id)
        if record is not None and not record.completed:
            if record.state == ExecutorState.REGISTERING:
                record.queued[task.task_id.value] = task
            elif record.state == ExecutorState.RUNNING:
                record.queued[task.task_id.value] = task
                self._update_and_run(record, [task])
            else:
                raise ECPError(f"executor {executor_id} is {record.state.value}")
            return record, None
        container_id = str(uuid.uuid4())
        user: str | None = None
        if self.flags.switch_user:
            user = self.framework_info.user
            if executor_info.command.HasField("user"):
                user = executor_info.command.user
        directory = executor_directory(
            self.flags.work_dir, self.agent_id, self.framework_id, executor_id, container_id
        )
        if user is not None:
            for path in [directory, *directory.rglob("*")]:
                shutil.chown(path, user)
        record = ExecutorRecord(
            framework_id=self.framework_id,
            executor_id=executor_id,
            info=executor_info,
            container_id=container_id,
            directory=directory,
            user=user,
            checkpoint=self.framework_info.checkpoint,
            is_command_executor=not task.HasField("executor"),
            resources=list(executor_info.resources),
        )
        record.queued[task.task_id.value] = task
        self._executors[executor_id] = record
        return record, launch_executor_info(executor_info, task)

    def _launch_failed(self, record: ExecutorRecord, error: ECPError) -> None:
        """executorLaunched with a failed future: wait fails, tasks fail.

        The test saw the launch failure raised; the `wait` failing after it is not
        reported again.
        """
        self._failed_launches.add(record.container_id)
        record.pending_termination = containerizer_pb2.Termination(
            state=mesos_pb2.TASK_FAILED,
            reasons=[Status.REASON_CONTAINER_LAUNCH_FAILED],
            message=f"Failed to launch container: {error}",
        )
        self._watch(record)

    def _launched(self, record: ExecutorRecord) -> None:
        self._watch(record)
        self._later(self.registration_timeout, self._registration_timeout, record)

    def _watch(self, record: ExecutorRecord) -> None:
        """containerizer->wait(...).onAny(executorTerminated)."""
        generation = self._generation
        try:
            record.termination = self.ecp.wait(record.container_id)
        except ContainerNotRunning as exc:
            record.termination = Future()
            record.termination.set_exception(exc)

        def done(future: Future) -> None:
            error = future.exception()
            if error is not None and record.container_id not in self._failed_launches:
                self._failed("wait", record.container_id, error)  # executorTerminated logs it
            if generation == self._generation:
                with contextlib.suppress(RuntimeError):
                    self._dispatch(self._executor_terminated, record, future)

        record.termination.add_done_callback(done)

    def _registration_timeout(self, record: ExecutorRecord) -> None:
        if record.state != ExecutorState.REGISTERING or record.completed:
            return
        self._destroy_async(record)
        record.state = ExecutorState.TERMINATING
        record.pending_termination = containerizer_pb2.Termination(
            state=mesos_pb2.TASK_FAILED,
            reasons=[Status.REASON_EXECUTOR_REGISTRATION_TIMEOUT],
            message="Executor did not register within "
            f"{format_duration(int(self.registration_timeout * 1e9))}",
        )

    def _subscribe(self, record: ExecutorRecord, subscribe: Message, stream: EventStream) -> None:
        if record.state in (ExecutorState.TERMINATING, ExecutorState.TERMINATED):
            stream.send(event(Event.SHUTDOWN))
            stream.close()
            return
        if record.stream is not None:
            record.stream.close()
        record.state = ExecutorState.RUNNING
        record.stream = stream
        record.subscribe_calls.append(subscribe)
        if record.checkpoint:
            marker = (
                self.flags.work_dir
                / "meta"
                / "slaves"
                / self.agent_id
                / "frameworks"
                / self.framework_id
                / "executors"
                / record.executor_id
                / "runs"
                / record.container_id
                / "http.marker"
            )
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        subscribed = Event.Subscribed()
        subscribed.executor_info.CopyFrom(record.info)
        subscribed.framework_info.CopyFrom(self.framework_info)
        subscribed.agent_info.CopyFrom(self.agent_info)
        stream.send(event(Event.SUBSCRIBED, subscribed=subscribed))
        for update in subscribe.unacknowledged_updates:
            self._status_update(record, update.status, True)
        unacked = {task.task_id.value for task in subscribe.unacknowledged_tasks}
        for task in list(record.launched.values()):
            if task.state == mesos_pb2.TASK_STAGING and task.info.task_id.value not in unacked:
                self._agent_update(
                    record,
                    task.info.task_id.value,
                    mesos_pb2.TASK_LOST,
                    "Task launched during agent restart",
                    Status.REASON_SLAVE_RESTARTED,
                )
        self._update_and_run(record, list(record.queued.values()))

    def _update_and_run(self, record: ExecutorRecord, tasks: list[mesos_pb2.TaskInfo]) -> None:
        """containerizer->update(resources + queued).onAny(runTasks)."""
        resources = add_resources(record.resources, [r for task in tasks for r in task.resources])
        try:
            self.ecp.update(record.container_id, resources)
        except ECPError as exc:
            self._failed("update", record.container_id, exc)
            self._destroy_async(record)
            record.pending_termination = containerizer_pb2.Termination(
                state=mesos_pb2.TASK_LOST,
                reasons=[Status.REASON_CONTAINER_UPDATE_FAILED],
                message=f"Failed to update resources for container: {exc}",
            )
            return
        if record.state != ExecutorState.RUNNING or record.stream is None:
            return
        for task in tasks:
            task_id = task.task_id.value
            if task_id not in record.queued:
                continue  # Killed while queued.
            del record.queued[task_id]
            record.launched[task_id] = TaskRecord(task)
            record.resources = add_resources(record.resources, task.resources)
            launch = Event.Launch()
            launch.task.CopyFrom(task)
            record.stream.send(event(Event.LAUNCH, launch=launch))

    def _update_task_state(self, record: ExecutorRecord, status: Status) -> str | None:
        """Executor::updateTaskState; returns an error like the agent's Try."""
        task_id = status.task_id.value
        terminal = status.state in TERMINAL_STATES
        if task_id in record.queued:
            if not terminal:
                return "Cannot send non-terminal update for queued task"
            task = TaskRecord(record.queued.pop(task_id), status.state)
            record.terminated[task_id] = task
            return None
        if task_id in record.launched:
            task = record.launched[task_id]
            task.state = status.state
            if terminal:
                del record.launched[task_id]
                record.terminated[task_id] = task
                kept = []
                remaining = {(r.name, r.role): r.scalar.value for r in task.info.resources}
                for resource in record.resources:
                    value = resource.scalar.value - remaining.pop((resource.name, resource.role), 0)
                    copy = mesos_pb2.Resource()
                    copy.CopyFrom(resource)
                    copy.scalar.value = value
                    if value > 1e-9 or resource.type != mesos_pb2.Value.SCALAR:
                        kept.append(copy)
                record.resources = kept
            return None
        if task_id in record.terminated:
            record.terminated[task_id].state = status.state
            return None
        return "Task unknown"

    def _status_update(
        self, record: ExecutorRecord | None, status: Status, from_executor: bool
    ) -> None:
        """Slave::statusUpdate -> _statusUpdate -> __statusUpdate -> ACK."""
        processed = Status()
        processed.CopyFrom(status)
        if not processed.HasField("slave_id"):
            processed.slave_id.value = self.agent_id
        timestamp = status.timestamp if status.HasField("timestamp") else time.time()
        processed.source = Status.SOURCE_EXECUTOR if from_executor else Status.SOURCE_SLAVE
        received = ReceivedUpdate(processed, timestamp, from_executor)
        if record is None:
            self._forward(received)
            return
        container_status = processed.container_status
        if len(container_status.network_infos) == 0:
            container_status.network_infos.add().ip_addresses.add(ip_address="127.0.0.1")
        error = self._update_task_state(record, processed)
        if error is not None:
            with self._cond:
                self.rejected_updates.append(received)
            self._acknowledge(record, received)
            return
        if processed.state in TERMINAL_STATES:
            try:
                self.ecp.update(record.container_id, record.resources)
            except ECPError as exc:
                self._failed("update", record.container_id, exc)
                self._destroy_async(record)
                record.pending_termination = containerizer_pb2.Termination(
                    state=mesos_pb2.TASK_LOST,
                    reasons=[Status.REASON_CONTAINER_UPDATE_FAILED],
                    message=f"Failed to update resources for container: {exc}",
                )
        self._forward(received)
        self._acknowledge(record, received)

    def _forward(self, received: ReceivedUpdate) -> None:
        with self._cond:
            self._updates.setdefault(received.status.task_id.value, []).append(received)
            self._cond.notify_all()

    def _acknowledge(self, record: ExecutorRecord, received: ReceivedUpdate) -> None:
        if not received.from_executor or record.stream is None:
            return
        ack = Event.Acknowledged(uuid=received.status.uuid)
        ack.task_id.CopyFrom(received.status.task_id)
        record.stream.send(event(Event.ACKNOWLEDGED, acknowledged=ack))
        with self._cond:
            received.acknowledged = True
            self._cond.notify_all()

    def _agent_update(
        self,
        record: ExecutorRecord | None,
        task_id: str,
        state: int,
        message: str,
        reason: int | None,
    ) -> None:
        """protobuf::createStatusUpdate(..., SOURCE_SLAVE, UUID::random(), ...)."""
        status = Status(
            state=state, source=Status.SOURCE_SLAVE, uuid=uuid.uuid4().bytes, message=message
        )
        status.task_id.value = task_id
        status.slave_id.value = self.agent_id
        status.timestamp = time.time()
        if reason is not None:
            status.reason = reason
        if record is not None:
            status.executor_id.value = record.executor_id
        self._status_update(record, status, False)

    def _kill_task(self, task_id: str, grace: float | None) -> None:
        record = self._record_for_task(task_id)
        if record is None:
            self._agent_update(
                None,
                task_id,
                mesos_pb2.TASK_LOST,
                "Cannot find executor",
                Status.REASON_EXECUTOR_TERMINATED,
            )
        elif record.state == ExecutorState.REGISTERING:
            self._agent_update(
                record,
                task_id,
                mesos_pb2.TASK_KILLED,
                "Unregistered executor",
                Status.REASON_EXECUTOR_UNREGISTERED,
            )
        elif record.state == ExecutorState.RUNNING:
            if task_id in record.queued:
                self._agent_update(
                    record, task_id, mesos_pb2.TASK_KILLED, "Task killed when it was queued", None
                )
            elif record.stream is not None:
                kill = Event.Kill()
                kill.task_id.value = task_id
                if grace is not None:
                    kill.kill_policy.grace_period.nanoseconds = int(grace * 1e9)
                record.stream.send(event(Event.KILL, kill=kill))

    def _shutdown_executor(self, record: ExecutorRecord) -> None:
        if record.state in (ExecutorState.TERMINATING, ExecutorState.TERMINATED):
            return
        record.state = ExecutorState.TERMINATING
        if record.stream is not None:
            record.stream.send(event(Event.SHUTDOWN))
        grace_ns = self.flags.executor_shutdown_grace_period_ns
        if record.info.HasField("shutdown_grace_period"):
            grace_ns = record.info.shutdown_grace_period.nanoseconds
        self._later(grace_ns / 1e9, self._shutdown_timeout, record)

    def _shutdown_timeout(self, record: ExecutorRecord) -> None:
        if record.state == ExecutorState.TERMINATING and not record.completed:
            self._destroy_async(record)

    def _executor_terminated(self, record: ExecutorRecord, termination: Future) -> None:
        if record.state == ExecutorState.TERMINATED or record.completed:
            return
        record.state = ExecutorState.TERMINATED
        result = None if termination.exception() else termination.result()
        pending = record.pending_termination
        if result is not None and result.HasField("state"):
            state = result.state
        elif pending is not None and pending.HasField("state"):
            state = pending.state
        else:
            state = mesos_pb2.TASK_FAILED
        if result is not None and len(result.reasons) > 0:
            reason = result.reasons[0]
        elif pending is not None and len(pending.reasons) > 0:
            reason = pending.reasons[0]
        else:
            reason = Status.REASON_EXECUTOR_TERMINATED
        messages = []
        if pending is not None and pending.HasField("message"):
            messages.append(pending.message)
        if result is None:
            messages.append("Abnormal executor termination")
        elif result.HasField("message"):
            messages.append(result.message)
        message = "; ".join(messages) or "Executor terminated"
        for task_id, task in list(record.launched.items()):
            if task.state not in TERMINAL_STATES:
                self._agent_update(record, task_id, state, message, reason)
        for task_id in list(record.queued):
            self._agent_update(record, task_id, state, message, reason)
        record.completed = True
        if record.stream is not None:
            record.stream.close()
        with self._cond:
            self._cond.notify_all()

    def _reregister_timeout(self, records: list[ExecutorRecord]) -> None:
        for record in records:
            if record.state == ExecutorState.REGISTERING and not record.completed:
                self._destroy_async(record)
                record.state = ExecutorState.TERMINATING
                record.pending_termination = containerizer_pb2.Termination(
                    state=mesos_pb2.TASK_LOST,
                    reasons=[Status.REASON_EXECUTOR_REREGISTRATION_TIMEOUT],
                    message="Executor did not re-register within "
                    f"{format_duration(EXECUTOR_REREGISTER_TIMEOUT_NS)}",
                )
        self._recovering = False

    # ---- public API (test thread) -----------------------------------------------

    def launch_task(self, task_info: mesos_pb2.TaskInfo) -> ExecutorRecord:
        """runTask: sandbox, ECP `launch` (raises ECPError on failure), `wait`."""
        task = mesos_pb2.TaskInfo()
        task.CopyFrom(task_info)
        if not task.HasField("slave_id"):
            task.slave_id.value = self.agent_id
        if task.HasField("executor") and not task.executor.HasField("framework_id"):
            task.executor.framework_id.CopyFrom(self.framework_info.id)
        record, launch_info = self._call(self._prepare_task, task)
        if launch_info is None:
            return record
        # The ECP runs off the actor: the agent keeps serving while it launches.
        try:
            self.ecp.launch(
                record.container_id,
                task if record.is_command_executor else None,
                launch_info,
                record.directory,
                record.user,
                record.checkpoint,
            )
        except ECPError as exc:
            self._call(self._launch_failed, record, exc)
            raise
        self._call(self._launched, record)
        return record

    def expect_failure(
        self, command: str, pattern: str = "", container_id: str | None = None
    ) -> ExpectedFailure:
        """Declare that `command` may fail (message matching `pattern`): close() lets it
        pass. The returned object's `seen` tells whether it happened."""
        expected = ExpectedFailure(command, pattern, container_id)
        with self._cond:
            self._expected.append(expected)
        return expected

    @property
    def failures(self) -> list[ECPFailure]:
        """Every logged-only ECP failure so far, this agent's and its recoveries'."""
        with self._cond:
            own = list(self._failures)
        for invoker in [*self._dead_invokers, self.ecp]:
            own.extend(invoker.failures)
        return own

    @property
    def errors(self) -> list[str]:
        """The failures as the agent's log lines would name them."""
        return [str(f) for f in self.failures]

    def unexpected_failures(self) -> list[ECPFailure]:
        """Failures no `expect_failure` declaration matches."""
        unexpected = []
        for failure in self.failures:
            excused = [e for e in self._expected if e.matches(failure)]
            for expected in excused:
                if failure not in expected.seen:
                    expected.seen.append(failure)
            if not excused:
                unexpected.append(failure)
        return unexpected

    def executor(self, executor_id: str) -> ExecutorRecord:
        """The record of an executor (the command executor's id is the task id)."""
        return self._executors[executor_id]

    def updates(self, task_id: str) -> list[ReceivedUpdate]:
        """Every update the agent forwarded for the task, in order."""
        with self._cond:
            return list(self._updates.get(task_id, []))

    def wait_for_state(self, task_id: str, state: int, timeout: float = 30.0) -> Status:
        """Block until an update with `state` arrives; AssertionError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for received in self._updates.get(task_id, []):
                    if received.status.state == state:
                        return received.status
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [
                        mesos_pb2.TaskState.Name(u.status.state)
                        for u in self._updates.get(task_id, [])
                    ]
                    raise AssertionError(
                        f"task {task_id} never reached {mesos_pb2.TaskState.Name(state)} "
                        f"in {timeout}s; saw {seen}; agent errors: {self.errors}"
                    )
                self._cond.wait(min(left, 0.2))

    def vm_name(self, container_id: str) -> str | None:
        """The libvirt domain the ECP recorded for a container: ``mh-<id>`` when it booted
        cold, a pool VM's own name when it claimed one; None before it has one."""
        from mesos_hyper.state import StateStore

        try:
            return StateStore(self.flags.work_dir / "mesos-hyper").get(container_id).domain
        except Exception:
            return None

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Block until predicate() holds (re-checked on every agent event)."""
        wait_for(self._cond, predicate, timeout, poll=0.2)

    def kill_task(self, task_id: str, grace: float | None = None) -> None:
        """Slave::killTask, with an optional KillPolicy grace period (seconds)."""
        self._call(self._kill_task, task_id, grace)

    def send_message(self, executor_id: str, data: bytes) -> None:
        """Framework message -> MESSAGE event."""

        def send() -> None:
            record = self._executors[executor_id]
            if record.stream is not None:
                record.stream.send(event(Event.MESSAGE, message=Event.Message(data=data)))

        self._call(send)

    def shutdown_executor(self, executor_id: str) -> None:
        """SHUTDOWN event, then `destroy` after the shutdown grace period."""
        self._call(self._shutdown_executor, self._executors[executor_id])

    def restart(self) -> RecoverResult:
        """Kill the agent 'process' and start a new one that recovers.

        Streams drop, ECP pipes close (running ECP calls live on), then
        `recover`, `containers`, orphans waited on and destroyed, `wait` on
        the recovered containers; UPDATE answers 503 until executors have had
        the re-registration timeout to subscribe again.
        """
        self.http.stop()
        self._generation += 1
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._actor.shutdown(wait=True)
        self.ecp.abandon()
        self._dead_invokers.append(self.ecp)
        recovered: list[ExecutorRecord] = []
        for record in list(self._executors.values()):
            if record.completed or not record.checkpoint:
                del self._executors[record.executor_id]
                continue
            record.stream = None
            record.state = ExecutorState.REGISTERING
            for task_id, task in list(record.queued.items()):
                record.launched[task_id] = TaskRecord(task)  # queued tasks are checkpointed
                del record.queued[task_id]
            recovered.append(record)
        self._actor = ThreadPoolExecutor(1, thread_name_prefix="agent-actor")
        self.ecp = ECPInvoker(self.flags, self.agent_id, self.http.pid, self.env, self.timeout)
        known = {r.container_id: (r.directory, r.user) for r in recovered}
        result = self.ecp.recover(known)
        for record in recovered:
            self._call(self._watch, record)
        self._recovering = bool(recovered)
        self.http.start()
        if recovered:
            self._later(self.reregister_timeout, self._reregister_timeout, recovered)
        return result

    def shutdown(self, graceful: bool = False) -> None:
        """Take every container down and fail if an ECP process is left.

        graceful: SHUTDOWN first and `destroy` after the grace period, as
        the agent does; otherwise `destroy` every container right away.
        """
        live = [r for r in self._executors.values() if not r.completed]
        if graceful:
            for record in live:
                self._call(self._shutdown_executor, record)
        else:
            for container_id in self.ecp.active():
                self._destroy(container_id)
        grace = self.flags.executor_shutdown_grace_period_ns / 1e9 if graceful else 0
        for record in live:
            if record.termination is not None:
                with contextlib.suppress(Exception):
                    record.termination.result(grace + self.timeout)
        self._generation += 1  # late timers and wait callbacks become no-ops
        self._actor.shutdown(wait=True)
        for thread in self._threads:
            thread.join(self.timeout)
        self.close()

    def close(self) -> None:
        """Stop HTTP, timers, actor; reap ECP calls; raise on leftovers or failures.

        Exiting calls get up to EXIT_GRACE_S, waited on through their pidfds (a loaded
        machine may be slow to end them); whatever still runs then is a LeakError. ECP
        failures the test did not expect raise UnexpectedECPFailures.
        """
        self._generation += 1
        for timer in self._timers:
            timer.cancel()
        self.http.stop()
        self._actor.shutdown(wait=True)
        invokers = [*self._dead_invokers, self.ecp]

        def leftovers() -> set[int]:
            alive: set[int] = set()
            for invoker in invokers:
                alive |= {p.pid for p in invoker.running()} | invoker.sessions_alive()
            return alive

        deadline = time.monotonic() + EXIT_GRACE_S
        leaked = leftovers()
        while leaked and time.monotonic() < deadline:
            procs.wait_gone(leaked, deadline)
            leaked = leftovers()  # reaps the exited calls; sessions may have changed
        for invoker in invokers:
            invoker.close()
        unexpected = self.unexpected_failures()
        failed = "".join(f"\n  {failure}" for failure in unexpected)
        if leaked:
            also = f"\nand unexpected ECP failures:{failed}" if unexpected else ""
            raise LeakError(f"ECP processes outlived the agent: {sorted(leaked)}{also}")
        if unexpected:
            raise UnexpectedECPFailures(
                "ECP calls failed (a 1.0.4 agent only logs these); declare the ones the "
                f"test means with Agent.expect_failure:{failed}"
            )
