"""How a task's end becomes a Mesos status: the words the command executor uses."""

from __future__ import annotations

import signal
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """How a task ended, as the status update that reports it."""

    state: str  # TASK_FINISHED | TASK_FAILED | TASK_KILLED
    message: str
    reason: str | None = None


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def from_exit(code: int, *, killed: bool) -> Outcome:
    """``code`` as Docker reports it (128+N for a signal death)."""
    if killed:
        return Outcome("TASK_KILLED", f"Command terminated with exit code {code} after a kill")
    if code == 0:
        return Outcome("TASK_FINISHED", "Command exited with status 0")
    if code > 128:
        return Outcome("TASK_FAILED", f"Command terminated with signal {_signal_name(code - 128)}")
    return Outcome("TASK_FAILED", f"Command exited with status {code}")


LIMITATIONS = {
    "memory": ("REASON_CONTAINER_LIMITATION_MEMORY", "Memory limit exceeded"),
    "disk": ("REASON_CONTAINER_LIMITATION_DISK", "Disk usage exceeded its limit"),
}


def from_limitation(resource: str, detail: str) -> Outcome:
    """A container the guest killed for breaking a limit: TASK_FAILED, as Mesos reports it."""
    reason, text = LIMITATIONS[resource]
    return Outcome("TASK_FAILED", f"{text}: {detail}", reason)
