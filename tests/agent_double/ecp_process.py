"""One invocation of the external containerizer program, as libprocess runs it.

`sh -c "<containerizer_path> <command>"`, setsid, cwd = sandbox, three pipes.
stdin gets one record (4-byte native length + protobuf) and is then left open
until the process is reaped (Subprocess::Data keeps the fd until then).
stderr is pumped into `<sandbox>/stderr` (O_APPEND) or /dev/null.
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from . import procs

STDERR_TAIL_BYTES = 4096
_POLL = 0.1


class Abandoned(Exception):
    """The agent that ran this call died (restart); nobody reads it any more."""


def encode_record(payload: bytes) -> bytes:
    """stout protobuf::write: uint32 length in host byte order, then the bytes."""
    return struct.pack("=I", len(payload)) + payload


def waitpid_status(returncode: int) -> int:
    """Popen's returncode back into the raw waitpid status the agent sees."""
    return (returncode & 0xFF) << 8 if returncode >= 0 else -returncode & 0x7F


def describe_status(status: int) -> str:
    """WSTRINGIFY."""
    if os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        return f"terminated with signal {os.WTERMSIG(status)}"
    return f"wait status {status}"


class ECPProcess:
    """A running `<containerizer_path> <command>` and its pipes."""

    def __init__(
        self,
        containerizer_path: str,
        command: str,
        env: Mapping[str, str],
        sandbox: Path | None,
        stdin_record: bytes | None,
    ) -> None:
        self.command = command
        self.stdin_record = stdin_record
        self._tail = bytearray()
        self._tail_lock = threading.Lock()
        self._abandoned = threading.Event()
        stderr_path = sandbox / "stderr" if sandbox is not None else Path("/dev/null")
        self._stderr_fd = os.open(
            stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
        )
        self.proc = subprocess.Popen(
            ["sh", "-c", f"{containerizer_path} {command}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            cwd=sandbox,
            env=dict(env),
            close_fds=True,
        )
        self.pid = self.proc.pid
        self._pump = threading.Thread(
            target=self._pump_stderr, daemon=True, name=f"ecp-{command}-stderr"
        )
        self._pump.start()
        self._writer: threading.Thread | None = None
        if stdin_record is not None:
            self._writer = threading.Thread(
                target=self._write_stdin, daemon=True, name=f"ecp-{command}-stdin"
            )
            self._writer.start()

    def _write_stdin(self) -> None:
        assert self.proc.stdin is not None and self.stdin_record is not None
        view = memoryview(self.stdin_record)
        try:
            while view:
                view = view[os.write(self.proc.stdin.fileno(), view) :]
        except (BrokenPipeError, ValueError, OSError):
            pass  # The ECP exited before reading; the agent ignores that too.
        # Deliberately NOT closed: the real agent keeps it open until reaped.

    def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        try:
            while not self._abandoned.is_set():
                if not select.select([fd], [], [], _POLL)[0]:
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                os.write(self._stderr_fd, chunk)
                with self._tail_lock:
                    self._tail += chunk
                    del self._tail[:-STDERR_TAIL_BYTES]
        except OSError:
            pass
        finally:
            os.close(self._stderr_fd)
            self.proc.stderr.close()

    def stderr_tail(self) -> str:
        """The last bytes this invocation wrote to stderr (for error messages)."""
        self._pump.join(timeout=0.5)
        with self._tail_lock:
            return self._tail.decode(errors="replace")

    def read_record(self, deadline: float | None) -> bytes | None:
        """stout protobuf::read: 4-byte length then that many bytes.

        None when stdout hits EOF before any length; raises ValueError on a
        short read; TimeoutError when the deadline passes.
        """
        header = self._read_exact(4, deadline)
        if not header:
            return None
        if len(header) < 4:
            raise ValueError("Failed to read size: hit EOF unexpectedly")
        (size,) = struct.unpack("=I", header)
        payload = self._read_exact(size, deadline)
        if len(payload) < size:
            raise ValueError(
                f"Failed to read message of size {size} bytes: hit EOF unexpectedly, "
                "possible corruption"
            )
        return payload

    def _read_exact(self, size: int, deadline: float | None) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        data = bytearray()
        while len(data) < size:
            if self._abandoned.is_set():
                raise Abandoned(self.command)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"`{self.command}` wrote no complete record to stdout")
            if not select.select([fd], [], [], _POLL)[0]:
                continue
            chunk = os.read(fd, size - len(data))
            if not chunk:
                break
            data += chunk
        return bytes(data)

    def wait_status(self, deadline: float | None) -> int:
        """Reap and return the raw waitpid status; TimeoutError past deadline."""
        while True:
            if self._abandoned.is_set():
                raise Abandoned(self.command)
            try:
                returncode = self.proc.wait(_POLL)
                break
            except subprocess.TimeoutExpired as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"`{self.command}` did not exit in time") from exc
        self._close_pipes()
        return waitpid_status(returncode)

    def kill(self) -> None:
        """killtree + reap: used when a call overruns its timeout."""
        procs.killtree(self.pid)
        self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self._writer is not None:
            self._writer.join(timeout=1)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(OSError):
                    pipe.close()

    def abandon(self) -> None:
        """The agent died: its pipe ends close, the ECP process lives on."""
        self._abandoned.set()
        self._pump.join(2 * _POLL + 1)
        time.sleep(2 * _POLL)  # let a reader blocked in select() notice first
        self._close_pipes()

    def join_stderr(self, timeout: float) -> None:
        """Wait for the stderr pump (it ends when every writer closed stderr)."""
        self._pump.join(timeout)
