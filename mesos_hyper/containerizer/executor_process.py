"""The detached pod executor process: start it, know it is still ours, watch it, kill it."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from mesos_hyper.sandbox.beneath import open_append

# -I: its cwd is the sandbox, which a guest can write; the cwd must never be on sys.path
# (a planted module would run as root), nor may PYTHON* variables steer it.
EXECUTOR_ARGV = [sys.executable, "-I", "-m", "mesos_hyper.executor"]


def start_time(pid: int) -> int | None:
    """Clock ticks since boot when ``pid`` started (/proc/pid/stat field 22): tells pid reuse."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 else None


def spawn(sandbox: Path, env: Mapping[str, str]) -> tuple[int, int]:
    """Start the executor in its own session, logging to the sandbox's stderr; (pid, start)."""
    with open_append(sandbox, "stderr") as log:
        proc = subprocess.Popen(
            EXECUTOR_ARGV,
            cwd=sandbox,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    started = start_time(proc.pid)
    if started is None:
        raise OSError(f"the executor (pid {proc.pid}) died at once; see {sandbox / 'stderr'}")
    return proc.pid, started


def alive(pid: int | None, started: int | None) -> bool:
    return bool(pid and started and start_time(pid) == started)


def wait_exit(pid: int, started: int) -> None:
    """Block until the process exits (pidfd: no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if start_time(pid) != started:
            return
        select.select([fd], [], [])
    finally:
        os.close(fd)


def kill(pid: int | None, started: int | None, grace_s: float) -> None:
    """SIGTERM the executor's process group, SIGKILL after ``grace_s``."""
    if not alive(pid, started):
        return
    assert pid is not None and started is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        while alive(pid, started) and time.monotonic() < deadline:
            select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if alive(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            select.select([fd], [], [], 5.0)
    finally:
        os.close(fd)
