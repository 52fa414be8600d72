"""The detached pod executor process: start it, know it is still ours, watch it, kill it."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

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


GO = b"go\n"  # on the executor's stdin: its launch record is in the store


class Starting:
    """An executor process that waits on its stdin before it reads its launch: ``launch``
    starts it as soon as it knows the container id, so that the executor's imports (0.1 s)
    run beside its own parse of the launch. ``go`` sends it on; the end of its stdin without
    it (``cancel``, or our death) ends it. Its own session; it logs to the sandbox's stderr."""

    def __init__(self, sandbox: Path, env: Mapping[str, str]) -> None:
        import subprocess  # here: the executor imports this module before it subscribes

        from mesos_hyper.sandbox.beneath import open_append

        self.sandbox = sandbox
        read, self._go = os.pipe()
        try:
            with open_append(sandbox, "stderr") as log:
                self.proc = subprocess.Popen(
                    EXECUTOR_ARGV,
                    cwd=sandbox,
                    env=dict(env),
                    stdin=read,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    close_fds=True,
                )
        except BaseException:
            os.close(self._go)
            raise
        finally:
            os.close(read)

    def go(self) -> tuple[int, int]:
        """(pid, start time) of the executor, now on its way."""
        try:
            os.write(self._go, GO)
        except OSError as err:
            raise OSError(f"the executor (pid {self.proc.pid}) died at once: {err}") from err
        finally:
            os.close(self._go)
        started = start_time(self.proc.pid)
        if started is None or self.proc.poll() is not None:
            raise OSError(
                f"the executor (pid {self.proc.pid}) died at once; see {self.sandbox / 'stderr'}"
            )
        return self.proc.pid, started

    def cancel(self) -> None:
        """It never reads its launch: ended and reaped."""
        with contextlib.suppress(OSError):
            os.close(self._go)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def wait_for_go() -> bool:
    """In the executor: True once ``launch`` said go, False if it gave up on us (the end of
    our stdin). Our stdin is /dev/null afterwards."""
    try:
        told = os.read(0, len(GO)) == GO
    finally:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    return told


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
