"""``mesos-hyper exec``'s way into a running pod: a unix socket its executor serves.

Only the executor can reach the guest (it holds the pod's control channel), so an
operator's command goes through it. The socket lives in a root-only directory under
``Paths.run``, not in the pod's directory, which the QEMU user owns. The command runs in
the task's rootfs, cgroup, user and environment, as ``docker exec`` does.

The executor answers the agent's ``usage`` here too: the line ``USAGE_REQUEST`` gets one
``END`` frame, ``{"usage": {field: number}}`` in ResourceStatistics' names, measured
over the executor's open libvirt connection with its modules loaded. The ECP's
``usage`` is polled, and measuring in that short-lived process meant importing libvirt
and the isolators and connecting to libvirtd on every call.

One command per connection. The client sends a JSON line (at most ``MAX_REQUEST`` bytes):
the argv, the task, a timeout and whether it sends stdin. Then frames
``[kind:u8][len:u32 LE][payload]`` both ways, every one bounded before it is read:

- server -> client: ``STDOUT`` / ``STDERR`` output as it comes (``len`` <= ``MAX_FRAME``),
  then one ``END`` whose payload is a JSON object, ``{"exit_code": N}`` or
  ``{"error": "..."}`` (<= ``MAX_REQUEST``); the server closes the connection after it.
- client -> server, only with ``"stdin": true``: ``STDIN`` frames (``len`` <=
  ``MAX_FRAME``), an empty one closes the command's stdin. The server reads the next one
  only once the guest took the last (vmctl.pod), so a command that does not read its
  stdin holds the client back instead of filling a buffer.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mesos_hyper import config, log
from mesos_hyper.errors import HyperError, UsageError
from mesos_hyper.model.ids import validate_container_id

# The ECP's polled `usage` imports this module, for request_usage alone: not typing, and
# socket and threading only where the server and `exec` use them (socket.py's set-up of its
# enums was a tenth of that call)
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import BinaryIO

LOG = log.get(__name__)
MAX_REQUEST = 64 << 10
MAX_ARGS = 256
MAX_ARG = 4096
MAX_TIMEOUT_S = 3600.0
DEFAULT_TIMEOUT_S = 60.0
MAX_FRAME = 64 << 10
IO_TIMEOUT_S = 30.0  # a client that takes no output for this long loses its command
USAGE_REQUEST = b'{"op": "usage"}\n'
USAGE_TIMEOUT_S = 5.0  # then the ECP measures by itself
MAX_USAGE_FIELDS = 64

# frame kinds (STDOUT and STDERR are the guest protocol's stream numbers)
STDIN, STDOUT, STDERR, END = 0, 1, 2, 3
_HEADER = struct.Struct("<BI")


@dataclass(frozen=True)
class ExecStreams:
    """A command's I/O for the executor: ``on_output(kind, data)`` for its stdout and
    stderr, ``stdin()`` its next input (b"" at the end), None when it takes none."""

    on_output: Callable[[int, bytes], None]
    stdin: Callable[[], bytes] | None = None


@dataclass(frozen=True)
class ExecRequest:
    """A command to run in a task's pod, as the client sends it."""

    argv: tuple[str, ...]
    task_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    stdin: bool = False  # the client sends STDIN frames

    def encode(self) -> bytes:
        doc = {
            "argv": list(self.argv),
            "task_id": self.task_id,
            "timeout": self.timeout,
            "stdin": self.stdin,
        }
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
    stdin = doc.get("stdin", False)
    if not isinstance(stdin, bool):
        raise UsageError("exec stdin must be true or false")
    unknown = doc.keys() - {"argv", "task_id", "timeout", "stdin"}
    if unknown:
        raise UsageError(f"exec request has unknown fields: {', '.join(sorted(unknown))[:200]}")
    return ExecRequest(tuple(argv), task_id, float(timeout), stdin)


def socket_path(container_id: str, paths: config.Paths | None = None) -> Path:
    name = validate_container_id(container_id) + ".sock"
    return (paths or config.Paths.from_env()).run / "exec" / name


def _frame(kind: int, payload: bytes) -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


class _Reader:
    """Reads the request line and then frames from a socket; what it buffers is bounded by
    the line's or the frame's limit. UsageError for anything malformed or too large,
    EOFError at the end; a timeout leaves a partly read frame to be read again."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._buf = bytearray()

    def _fill(self, most: int) -> None:
        chunk = self._conn.recv(most)
        if not chunk:
            raise EOFError("the connection ended")
        self._buf += chunk

    def line(self) -> bytes:
        while b"\n" not in self._buf:
            if len(self._buf) > MAX_REQUEST:
                raise UsageError(f"exec message is over {MAX_REQUEST} bytes")
            try:
                self._fill(4096)
            except EOFError:
                break
        end = self._buf.find(b"\n") + 1 or len(self._buf)
        if end > MAX_REQUEST + 1:
            raise UsageError(f"exec message is over {MAX_REQUEST} bytes")
        line = bytes(self._buf[:end])
        del self._buf[:end]
        return line

    def _have(self, n: int) -> None:
        while len(self._buf) < n:
            self._fill(min(n - len(self._buf), MAX_FRAME))

    def frame(self, kinds: dict[int, int]) -> tuple[int, bytes]:
        """The next frame; ``kinds`` maps the kinds allowed here to their bound."""
        self._have(_HEADER.size)
        kind, length = _HEADER.unpack_from(self._buf)
        if kind not in kinds:
            raise UsageError(f"exec frame of unknown kind {kind}")
        if length > kinds[kind]:
            raise UsageError(f"exec frame of {length} bytes is over {kinds[kind]}")
        end = _HEADER.size + length
        self._have(end)  # consumed only once whole
        data = bytes(self._buf[_HEADER.size : end])
        del self._buf[:end]
        return kind, data


def _refuse_if_served(path: Path) -> None:
    """A live server's socket is never taken over: a `run` pod named like a Mesos
    container would otherwise steal that container's exec."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return  # none, or a stale one a crash left
    raise HyperError(f"{path} is served by another live container: not taken over")


Usage = dict[str, float | int]


class ExecServer:
    """Serves ``run(request, streams) -> exit code`` on the container's socket until closed,
    and ``usage()`` where given (a Mesos pod's executor)."""

    def __init__(
        self,
        path: Path,
        run: Callable[[ExecRequest, ExecStreams], int],
        usage: Callable[[], Usage] | None = None,
    ) -> None:
        import socket
        import threading

        self.path = path
        self._run = run
        self._usage = usage
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        _refuse_if_served(path)
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
        import threading

        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        import socket
        import threading

        finished = threading.Event()
        reader = _Reader(conn)

        def send(kind: int, data: bytes) -> None:
            conn.sendall(_frame(kind, data))

        def read_stdin() -> bytes:
            """The client's next input; b"" at its end, or once it broke the protocol."""
            while True:
                try:
                    return reader.frame({STDIN: MAX_FRAME})[1]
                except TimeoutError:  # an idle terminal, or a client that has left
                    if finished.is_set():
                        return b""
                except (OSError, EOFError):
                    return b""
                except UsageError as err:
                    log.event(LOG, "exec client broke the protocol", log.WARNING, error=err)
                    return b""

        with conn:
            try:
                conn.settimeout(10.0)
                line = reader.line()
                if line == USAGE_REQUEST:
                    self._serve_usage(send)
                    return
                request = parse_request(line)
                conn.settimeout(IO_TIMEOUT_S)
                log.event(LOG, "exec", argv=" ".join(request.argv)[:200], task=request.task_id)
                streams = ExecStreams(send, read_stdin if request.stdin else None)
                reply: dict[str, object] = {"exit_code": self._run(request, streams)}
            except (HyperError, TimeoutError, OSError) as err:
                reply = {"error": str(err) or type(err).__name__}
            finally:
                finished.set()
            with contextlib.suppress(OSError):
                send(END, json.dumps(reply).encode())
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # ends a stdin read still waiting on it

    def _serve_usage(self, send: Callable[[int, bytes], None]) -> None:
        reply: dict[str, object]
        if self._usage is None:
            reply = {"error": "this pod reports no usage here"}
        else:
            try:
                reply = {"usage": self._usage()}
            except Exception as err:  # the ECP measures by itself then
                reply = {"error": f"{type(err).__name__}: {err}"}
        with contextlib.suppress(OSError):
            send(END, json.dumps(reply).encode())

    def close(self) -> None:
        import socket

        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self.path.unlink(missing_ok=True)


def _send_stdin(sock: socket.socket, stdin: BinaryIO) -> None:
    """Our input to the command, then an empty frame for its end.

    A real file is read with os.read: this thread may still wait on a terminal when the
    command has ended, and a buffered reader's lock held then stops the interpreter's exit.
    """
    read: Callable[[int], bytes]
    try:
        read = functools.partial(os.read, stdin.fileno())
    except (AttributeError, OSError, ValueError):
        read = getattr(stdin, "read1", stdin.read)
    try:
        while True:
            data = read(MAX_FRAME)
            sock.sendall(_frame(STDIN, data))
            if not data:
                return
    except (OSError, ValueError):  # the exec ended and closed the socket
        return


def request_exec(
    container_id: str,
    request: ExecRequest,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
) -> int:
    """The exit code of ``request`` run in the container; HyperError when it cannot run.

    Its stdout and stderr are written to ``stdout`` and ``stderr`` as they come (dropped
    where None); ``stdin`` is read for its input when ``request.stdin``.
    """
    if request.stdin and stdin is None:
        raise ValueError("an exec request with stdin needs a stdin to read")
    path = socket_path(container_id)
    sinks = {STDOUT: stdout, STDERR: stderr}
    import socket
    import threading

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise HyperError(
                f"container {container_id} has no running pod on this host ({path})"
            ) from None
        sock.settimeout(request.timeout + IO_TIMEOUT_S)
        sock.sendall(request.encode())
        if request.stdin and stdin is not None:
            threading.Thread(target=_send_stdin, args=(sock, stdin), daemon=True).start()
        reader = _Reader(sock)
        while True:
            try:
                kind, data = reader.frame({STDOUT: MAX_FRAME, STDERR: MAX_FRAME, END: MAX_REQUEST})
            except TimeoutError:
                raise HyperError(f"no answer from the executor of {container_id}") from None
            except (OSError, EOFError, UsageError):
                raise HyperError(f"the executor of {container_id} ended the connection") from None
            if kind == END:
                break
            sink = sinks[kind]
            if sink is not None:
                try:
                    sink.write(data)
                    sink.flush()
                except BrokenPipeError:  # our reader left (`| head`): so does the command
                    raise HyperError(f"exec in {container_id}: output closed") from None
    try:
        reply = json.loads(data)
    except ValueError:
        raise HyperError(f"the executor of {container_id} sent a malformed reply") from None
    if not isinstance(reply, dict):
        raise HyperError(f"the executor of {container_id} sent a malformed reply")
    if "error" in reply:
        raise HyperError(f"exec in {container_id}: {reply['error']}")
    code = reply.get("exit_code")
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
        raise HyperError(f"the executor of {container_id} sent a malformed reply")
    return code


def request_usage(container_id: str, timeout: float = USAGE_TIMEOUT_S) -> Usage | None:
    """The pod's usage as its executor measures it; None where no executor answers in
    time or its answer is not a small object of finite numbers (the caller measures)."""
    import _socket  # socket.py's C core: all this needs, without socket.py's set-up

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(str(socket_path(container_id)))
        sock.sendall(USAGE_REQUEST)
        _, data = _Reader(sock).frame({END: MAX_REQUEST})
        reply = json.loads(data)
    except (OSError, EOFError, UsageError, ValueError):  # timeouts are OSErrors
        return None
    finally:
        sock.close()
    values = reply.get("usage") if isinstance(reply, dict) else None
    if not isinstance(values, dict) or len(values) > MAX_USAGE_FIELDS:
        return None
    for key, value in values.items():
        if (
            not isinstance(key, str)
            or isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return None
    return values
