"""``mesos-hyper exec``'s way into a running pod: a unix socket its executor serves.

Only the executor can reach the guest (it holds the pod's control channel), so an
operator's command goes through it. The socket lives in a root-only directory under
``Paths.run``, not in the pod's directory, which the QEMU user owns. One request per
connection: a JSON line with the argv, the task and a timeout; the reply is a JSON line
with the exit code or an error. The command runs in the task's rootfs, cgroup, user and
environment, as ``docker exec`` does; its output is not carried back (redirect it into
``$MESOS_SANDBOX``, which the host sees).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mesos_hyper import config, log
from mesos_hyper.errors import HyperError, UsageError
from mesos_hyper.model.ids import validate_container_id

LOG = logging.getLogger(__name__)
MAX_REQUEST = 64 << 10
MAX_ARGS = 256
MAX_ARG = 4096
MAX_TIMEOUT_S = 3600.0
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ExecRequest:
    argv: tuple[str, ...]
    task_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S

    def encode(self) -> bytes:
        doc = {"argv": list(self.argv), "task_id": self.task_id, "timeout": self.timeout}
        return json.dumps(doc).encode() + b"\n"


def parse_request(raw: bytes) -> ExecRequest:
    """A request from the socket, checked field by field; UsageError names the defect."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UsageError("exec request is not JSON") from None
    if not isinstance(doc, dict):
        raise UsageError("exec request is not a JSON object")
    argv = doc.get("argv")
    if (
        not isinstance(argv, list)
        or not argv
        or len(argv) > MAX_ARGS
        or not all(isinstance(a, str) and 0 < len(a) <= MAX_ARG and "\0" not in a for a in argv)
    ):
        raise UsageError(
            f"exec argv must be 1 to {MAX_ARGS} non-empty strings of at most {MAX_ARG} bytes"
        )
    task_id = doc.get("task_id")
    if task_id is not None and (not isinstance(task_id, str) or not task_id):
        raise UsageError("exec task_id must be a non-empty string")
    timeout = doc.get("timeout", DEFAULT_TIMEOUT_S)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_TIMEOUT_S
    ):
        raise UsageError(f"exec timeout must be a number of seconds in (0, {MAX_TIMEOUT_S:g}]")
    return ExecRequest(tuple(argv), task_id, float(timeout))


def socket_path(container_id: str, paths: config.Paths | None = None) -> Path:
    name = validate_container_id(container_id) + ".sock"
    return (paths or config.Paths.from_env()).run / "exec" / name


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise UsageError(f"exec message is over {MAX_REQUEST} bytes")
    return data


class ExecServer:
    """Serves ``run(request) -> exit code`` on the container's socket until closed."""

    def __init__(self, path: Path, run: Callable[[ExecRequest], int]) -> None:
        self.path = path
        self._run = run
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        path.unlink(missing_ok=True)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self._sock.bind(str(path))
        finally:
            os.umask(old)
        self._sock.listen(8)
        self._closed = False
        threading.Thread(target=self._accept, name="exec-socket", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(10.0)
                request = parse_request(_read_line(conn))
                conn.settimeout(None)
                log.event(LOG, "exec", argv=" ".join(request.argv)[:200], task=request.task_id)
                reply: dict[str, object] = {"exit_code": self._run(request)}
            except (HyperError, TimeoutError, OSError) as err:
                reply = {"error": str(err) or type(err).__name__}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(reply).encode() + b"\n")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self.path.unlink(missing_ok=True)


def request_exec(container_id: str, request: ExecRequest) -> int:
    """The exit code of ``request`` run in the container; HyperError when it cannot run."""
    path = socket_path(container_id)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise HyperError(
                f"container {container_id} has no running pod on this host ({path})"
            ) from None
        sock.settimeout(request.timeout + 30.0)
        sock.sendall(request.encode())
        try:
            raw = _read_line(sock)
        except TimeoutError:
            raise HyperError(f"no answer from the executor of {container_id}") from None
    try:
        reply = json.loads(raw)
    except ValueError:
        raise HyperError(f"the executor of {container_id} ended the connection") from None
    if "error" in reply:
        raise HyperError(f"exec in {container_id}: {reply['error']}")
    return int(reply["exit_code"])
