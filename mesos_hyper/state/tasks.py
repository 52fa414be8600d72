"""The tasks of one container and their last states, for ``ps`` and ``inspect``.

Only the executor knows a pod's tasks (members join through the agent's LAUNCH events,
never through the ECP), so it writes what it last reported for each next to the
container's record. The file is the executor's alone; readers take what they find, and a
missing or damaged file only means "no tasks known".
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TASKS = "tasks.json"
MAX_TASKS = 256  # Mesos has no bound; a pod holds at most 16 containers (vmctl.guest)
MAX_MESSAGE = 200
MAX_FILE = 1 << 20


@dataclass(frozen=True)
class TaskState:
    """The last status a task's executor sent, kept so that a restart can resend it."""

    task_id: str
    state: str  # TASK_STARTING, TASK_RUNNING, ...
    updated_at: float
    message: str = ""


class TaskLedger:
    """What one executor reported for each of its tasks, kept in ``<container dir>/tasks.json``."""

    def __init__(self, container_dir: Path) -> None:
        self.path = container_dir / TASKS
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskState] = {}

    def note(self, task_id: str, state: str, message: str | None = None) -> None:
        """Record a status; never raises, because bookkeeping must not fail an update."""
        from mesos_hyper.fsutil import atomic_write

        with self._lock:
            self._tasks[task_id] = TaskState(
                task_id, state, time.time(), (message or "")[:MAX_MESSAGE]
            )
            while len(self._tasks) > MAX_TASKS:
                self._tasks.pop(next(iter(self._tasks)))
            data = json.dumps([asdict(t) for t in self._tasks.values()]).encode()
            with contextlib.suppress(OSError):  # the record went: so did its directory
                atomic_write(self.path, data, mode=0o600, durable=False)


def read_tasks(container_dir: Path) -> list[TaskState]:
    """The tasks an executor recorded, in the order it first reported them."""
    try:
        with open(container_dir / TASKS, "rb") as f:
            raw = f.read(MAX_FILE + 1)
        doc = json.loads(raw) if len(raw) <= MAX_FILE else []
    except (OSError, ValueError):
        return []
    out = []
    for item in doc if isinstance(doc, list) else []:
        with contextlib.suppress(TypeError, KeyError):
            out.append(
                TaskState(
                    str(item["task_id"]),
                    str(item["state"]),
                    float(item["updated_at"]),
                    str(item.get("message", "")),
                )
            )
    return out
