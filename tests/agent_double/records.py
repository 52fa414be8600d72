"""The agent-side bookkeeping the double keeps per executor and task."""

from __future__ import annotations

import enum
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mesos_hyper.proto import containerizer_pb2, mesos_pb2

if TYPE_CHECKING:
    from .executor_api import EventStream


class ExecutorState(enum.Enum):
    """Executor::State in slave.hpp."""

    REGISTERING = "REGISTERING"
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"


TERMINAL_STATES = frozenset(
    {
        mesos_pb2.TASK_FINISHED,
        mesos_pb2.TASK_FAILED,
        mesos_pb2.TASK_KILLED,
        mesos_pb2.TASK_LOST,
        mesos_pb2.TASK_ERROR,
    }
)


@dataclass
class ReceivedUpdate:
    """A status update as the agent handled it (after Slave::statusUpdate)."""

    status: mesos_pb2.TaskStatus
    timestamp: float
    from_executor: bool
    acknowledged: bool = False


@dataclass
class TaskRecord:
    """A launched task (Task in the agent) and its latest state."""

    info: mesos_pb2.TaskInfo
    state: int = mesos_pb2.TASK_STAGING


@dataclass
class ExecutorRecord:
    """One executor run (one container) on the agent."""

    framework_id: str
    executor_id: str
    info: mesos_pb2.ExecutorInfo
    container_id: str
    directory: Path
    user: str | None
    checkpoint: bool
    is_command_executor: bool
    resources: list[mesos_pb2.Resource]
    state: ExecutorState = ExecutorState.REGISTERING
    queued: dict[str, mesos_pb2.TaskInfo] = field(default_factory=dict)
    launched: dict[str, TaskRecord] = field(default_factory=dict)
    terminated: dict[str, TaskRecord] = field(default_factory=dict)
    stream: EventStream | None = None
    pending_termination: containerizer_pb2.Termination | None = None
    termination: Future | None = None
    subscribe_calls: list = field(default_factory=list)
    completed: bool = False

    def incomplete_tasks(self) -> bool:
        return bool(self.queued) or bool(self.launched)
