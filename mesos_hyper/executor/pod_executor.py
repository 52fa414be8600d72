"""The pod executor: one per Mesos executor, on the host, beside its VM.

This is the thin agent-API side: __main__ subscribes to the agent at once (before any slow
work, even the launch's parse, so the agent's executor registration timeout never fires and
its ``update`` call runs while we import the rest), hands each LAUNCH to a
TaskRunner and each KILL to its runner, and exits as Mesos's command executor does once the
last task's terminal update is acknowledged (or the acknowledgement timeout has passed),
recording the container's termination for the ECP's ``wait`` first. SIGTERM (the ECP's
destroy) kills every task within the destroy's grace and exits the same way.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesos_hyper import config, log
from mesos_hyper.errors import HyperError, NotFoundError, UsageError
from mesos_hyper.executor.settings import ExecutorSettings
from mesos_hyper.executor.task_status import Outcome, from_limitation
from mesos_hyper.model.messages import (
    LaunchRequest,
    TaskSpec,
    exit_status,
    task_from_v1_json,
)
from mesos_hyper.sandbox.outputs import open_outputs, release_outputs
from mesos_hyper.state import StateStore, Termination
from mesos_hyper.state.tasks import TaskLedger

if TYPE_CHECKING:
    from mesos_hyper.executor.agent_api import AgentConnection
    from mesos_hyper.executor.exec_socket import ExecRequest, ExecStreams
    from mesos_hyper.executor.pod_manager import PodManager
    from mesos_hyper.executor.task_runner import TaskContext, TaskRunner

LOG = log.get(__name__)
ACK_TIMEOUT_S = 30.0
# The ECP's destroy SIGKILLs the executor this long after its SIGTERM (ecp.py).
TERM_BUDGET_S = 10.0
# Of that, what the tasks get before they are killed; the rest is for reporting and cleanup.
TERM_TASK_GRACE_S = 5.0
# The agent sends its queued tasks right after SUBSCRIBED: an executor that has none this
# long after has nothing to run (its task was killed before it registered, or it was
# launched while the agent restarted) and exits, as no 1.0.4 agent shuts it down.
IDLE_EXIT_S = 10.0
# The pod's machinery is imported once the first task heard TASK_STARTING, or after this.
FIRST_LAUNCH_WAIT_S = 1.0


class PodExecutor:
    def __init__(
        self,
        settings: ExecutorSettings,
        launch: LaunchRequest,
        store: StateStore,
        paths: config.Paths,
        default_image: str | None,
        connection: AgentConnection,
    ) -> None:
        """``connection`` is started (__main__ subscribes before it has read the launch);
        its handler hands its events to ``handle``."""
        self.settings = settings
        self.launch = launch
        self.store = store
        self.sandbox = Path(launch.directory)
        self.tasks: dict[str, TaskRunner] = {}
        self.done = threading.Event()
        self.last_outcome: Outcome | None = None
        self.paths = paths
        self.default_image = default_image
        ledger = TaskLedger(store.containers_dir / launch.container_id)
        self.connection = connection
        connection.on_update = ledger.note
        self._lock = threading.Lock()
        self._terminating = threading.Event()
        self._launched_any = False
        # One pair of output files per executor, as Mesos has: opened once, before any
        # guest runs, never by name again (the sandbox is guest-writable), pinned meanwhile.
        self.outputs = open_outputs(self.sandbox, pin=launch.user is None)
        self.pods: PodManager | None = None
        self.context: TaskContext | None = None
        self._prepared = threading.Event()  # pods and context exist
        self._heard = threading.Event()  # the first launch was answered (or refused)

    def _prepare(self) -> None:
        """The pod's machinery (libvirt, the image store): imported and built while
        the subscription is on its way, not before it, so the agent hears from us first."""
        from mesos_hyper.executor.pod_manager import PodManager
        from mesos_hyper.executor.task_runner import TaskContext
        from mesos_hyper.images.store import ImageStore

        self.pods = PodManager(
            self.launch,
            self.settings.framework_id,
            self.store,
            self.paths,
            self.sandbox,
            on_sandbox_full=self._on_sandbox_full,
            run_exec=self._exec,
        )
        self.context = TaskContext(
            pods=self.pods,
            images=ImageStore(self.paths.images),
            sandbox=self.sandbox,
            send_update=self.connection.send_update,
            default_image=self.default_image,
            task_env=self._task_env,
        )
        self._prepared.set()

    # ---- events from the agent -------------------------------------------------

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "LAUNCH":
            self._on_launch(event.get("launch", {}).get("task", {}))
        elif kind == "KILL":
            kill = event.get("kill", {})
            self.kill(kill.get("task_id", {}).get("value", ""), _grace(kill.get("kill_policy")))
        elif kind in ("SHUTDOWN", "AGENT_GONE"):
            log.event(LOG, "shutting down", why=kind)
            self._kill_all(self.settings.shutdown_grace_period)
        elif kind == "ERROR":
            log.event(LOG, "agent sent an error", log.WARNING, message=event.get("error"))

    def _on_launch(self, task_doc: dict[str, Any]) -> None:
        """TASK_STARTING goes out at once; the task's runner needs the pod's machinery, which
        ``_prepare`` imports only after that (see run). Events are handled one at a time,
        so a KILL for this task is handled after its runner exists."""
        try:
            task = task_from_v1_json(task_doc)
        except HyperError as err:
            task_id = str(task_doc.get("task_id", {}).get("value", "unknown"))
            self.connection.send_update(task_id, "TASK_FAILED", message=str(err))
            self._heard.set()
            return
        refused = self._refused(task)
        if not refused:
            self.connection.send_update(task.task_id, "TASK_STARTING")
        self._heard.set()
        if not refused:
            self._prepared.wait()
            self._start_runner(task)

    def _refused(self, task: TaskSpec) -> bool:
        """A duplicate task id, or a task that came as the executor shuts down."""
        with self._lock:
            if task.task_id in self.tasks:
                self.connection.send_update(
                    task.task_id,
                    "TASK_FAILED",
                    message="a task with this id is already running",
                    reason="REASON_TASK_INVALID",
                )
                return True
            if self._terminating.is_set():
                self.connection.send_update(
                    task.task_id, "TASK_KILLED", message="the executor is shutting down"
                )
                return True
        return False

    def _start_runner(self, task: TaskSpec) -> None:
        from mesos_hyper.executor.task_runner import TaskRunner

        assert self.context is not None
        with self._lock:
            if self._terminating.is_set():
                self.connection.send_update(
                    task.task_id, "TASK_KILLED", message="the executor is shutting down"
                )
                return
            runner = TaskRunner(task, self.context, self.outputs)
            self.tasks[task.task_id] = runner
            self._launched_any = True
            self.done.clear()
        runner.start(self._task_ended, self._task_reported)

    def kill(self, task_id: str, grace_s: float | None, why: Outcome | None = None) -> None:
        runner = self.tasks.get(task_id)
        if runner is None:
            log.event(LOG, "kill for an unknown task", log.WARNING, task_id=task_id)
            return
        runner.kill(grace_s, why)

    def _kill_all(self, grace_s: float, why: Outcome | None = None) -> None:
        with self._lock:
            runners = list(self.tasks.values())
            if not runners:
                self.done.set()
        for runner in runners:
            runner.kill(grace_s, why)

    def _on_sandbox_full(self, why: str) -> None:
        self._kill_all(0.0, from_limitation("disk", why))

    # ---- the end of a task -----------------------------------------------------------

    def _task_ended(self, runner: TaskRunner) -> None:
        """Before its status goes out: the task leaves the pod, and the pod goes with its
        last task, so resources are free by the time the framework hears of it."""
        assert self.pods is not None  # a task ran
        self.pods.leave(runner.task_id)
        with self._lock:
            last = all(r is runner or r.outcome is not None for r in self.tasks.values())
        if last:
            self.pods.teardown()

    def _task_reported(self, runner: TaskRunner) -> None:
        with self._lock:
            self.last_outcome = runner.outcome
            self.tasks.pop(runner.task_id, None)
            if not self.tasks:
                self.done.set()

    # ---- exec ------------------------------------------------------------------------

    def _exec(self, request: ExecRequest, streams: ExecStreams) -> int:
        """``mesos-hyper exec``: the command in the task's container, its I/O streamed."""
        with self._lock:
            started = [t for t in self.tasks.values() if t.index is not None and not t.outcome]
        if request.task_id is not None:
            started = [t for t in started if t.task_id == request.task_id]
            if not started:
                raise NotFoundError(f"no running task {request.task_id} in this pod")
        elif len(started) != 1:
            names = ", ".join(t.task_id for t in started) or "none"
            raise UsageError(f"name one of the pod's running tasks with --task ({names})")
        (runner,) = started
        pod, index = runner.pod, runner.index
        if pod is None or index is None or runner.spec_for is None:
            raise NotFoundError(f"task {runner.task_id} is not running")
        spec = runner.spec_for(runner.spec.command, request.argv)
        return pod.exec(index, spec, request.timeout, streams.on_output, streams.stdin)

    def _task_env(self, task: TaskSpec) -> dict[str, str]:
        return {
            "MESOS_TASK_ID": task.task_id,
            "MESOS_FRAMEWORK_ID": self.settings.framework_id,
            "MESOS_EXECUTOR_ID": self.settings.executor_id,
            "MESOS_CONTAINER_NAME": f"mesos-hyper-{self.launch.container_id}",
        }

    # ---- the process ----------------------------------------------------------

    def _idle(self) -> bool:
        at = self.connection.subscribed_at
        return not self._launched_any and at is not None and time.monotonic() - at > IDLE_EXIT_S

    def _on_sigterm(self, _signum: int, _frame: object) -> None:
        self._terminating.set()

    def run(self) -> int:
        """Until every task has ended and been reported; the container's Termination."""
        signal.signal(signal.SIGTERM, self._on_sigterm)
        term_at: float | None = None
        try:
            # the imports would slow the first TASK_STARTING down (the GIL): after it
            self._heard.wait(FIRST_LAUNCH_WAIT_S)
            self._prepare()
            while not self.done.wait(0.2):
                if self._idle():
                    log.event(LOG, "no task to run; exiting", waited_s=IDLE_EXIT_S)
                    break
                if self._terminating.is_set() and term_at is None:
                    term_at = time.monotonic()
                    log.event(LOG, "SIGTERM: killing every task", grace_s=TERM_TASK_GRACE_S)
                    grace = min(self.settings.shutdown_grace_period, TERM_TASK_GRACE_S)
                    self._kill_all(grace)
            if term_at is None:
                self.connection.wait_acknowledged(ACK_TIMEOUT_S)
            else:  # what is left of the destroy's budget
                left = TERM_BUDGET_S - (time.monotonic() - term_at) - 1.0
                self.connection.wait_acknowledged(max(0.0, left))
        finally:
            if self.pods is not None:  # idempotent; after an unexpected error, all we can do
                self.pods.teardown()
            for stream in self.outputs:
                stream.close()
            release_outputs(self.sandbox)
        outcome = self.last_outcome or Outcome("TASK_KILLED", "executor shut down")
        code = 0 if outcome.state == "TASK_FINISHED" else 1
        self.store.mark_terminated(
            self.launch.container_id,
            Termination(
                status=exit_status(code),
                state=outcome.state,
                reasons=(outcome.reason,) if outcome.reason else (),
                message=outcome.message,
            ),
        )
        self.connection.abandon()  # the process ends with os._exit (__main__)
        log.event(LOG, "executor done", state=outcome.state)
        return 0


def _grace(kill_policy: dict[str, Any] | None) -> float | None:
    if not kill_policy or "grace_period" not in kill_policy:
        return None
    return int(kill_policy["grace_period"].get("nanoseconds", 0)) / 1e9
