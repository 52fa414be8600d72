"""The agent's /api/v1/executor endpoint (src/slave/http.cpp, 1.0.4).

Request checks in the agent's order (405, 400 no Content-Type, 415, 400
parse/validation, 406 Accept, 503 while recovering, 400 unknown framework or
executor, 403 not subscribed), SUBSCRIBE answered 200 with a chunked
record-io stream (`<decimal length>\\n<record>`), UPDATE/MESSAGE 202.
Agent logic is delegated to `ExecutorAPIDelegate` (see agent.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import select
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from google.protobuf.message import DecodeError, Message

from mesos_hyper.proto import mesos_pb2

from .jsonmap import JSONMappingError, from_json, to_json
from .records import ExecutorRecord, ExecutorState
from .v1_executor import Call, Event

log = logging.getLogger(__name__)

APPLICATION_JSON = "application/json"
APPLICATION_PROTOBUF = "application/x-protobuf"
PATHS = ("/api/v1/executor", "/slave(1)/api/v1/executor")


class ExecutorAPIDelegate(Protocol):
    """What the endpoint needs from the agent."""

    def recovering(self) -> bool: ...

    def find_executor(
        self, framework_id: str, executor_id: str
    ) -> tuple[bool, ExecutorRecord | None]: ...

    def subscribe(
        self, record: ExecutorRecord, subscribe: Message, stream: EventStream
    ) -> None: ...

    def status_update(
        self, record: ExecutorRecord, framework_id: str, status: mesos_pb2.TaskStatus
    ) -> None: ...

    def executor_message(self, record: ExecutorRecord, data: bytes) -> None: ...


_CLOSE = object()
_ABORT = object()


class EventStream:
    """One SUBSCRIBE response: events queued here are written as records."""

    def __init__(self, content_type: str) -> None:
        self.content_type = content_type
        self._queue: queue.Queue = queue.Queue()
        self.sent: list[Message] = []
        self.closed = threading.Event()

    def send(self, event: Message) -> None:
        """Queue an Event (HttpConnection::send)."""
        if not self.closed.is_set():
            self.sent.append(event)
            self._queue.put(event)

    def close(self) -> None:
        """End the stream cleanly (HttpConnection::close: last chunk)."""
        self._queue.put(_CLOSE)

    def abort(self) -> None:
        """Drop the connection without a last chunk (the agent died)."""
        self._queue.put(_ABORT)

    def encode(self, event: Message) -> bytes:
        """recordio::Encoder over the serialized event."""
        if self.content_type == APPLICATION_JSON:
            body = json.dumps(to_json(event), separators=(",", ":")).encode()
        else:
            body = event.SerializeToString()
        return str(len(body)).encode() + b"\n" + body

    def next_item(self, timeout: float) -> object | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


def _accepts(header: str | None, media: str) -> bool:
    """Request::acceptsMediaType: no header accepts everything; q=0 refuses."""
    if header is None or not header.strip():
        return True
    wanted_type, wanted_sub = media.split("/", 1)
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0] or "/" not in pieces[0]:
            continue
        kind, sub = pieces[0].lower().split("/", 1)
        q = 1.0
        for param in pieces[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if (kind, sub) in {("*", "*"), (wanted_type, "*"), (wanted_type, wanted_sub)}:
            return True
    return False


def _is_uuid(raw: bytes) -> bool:
    """stout UUID::fromBytes: 16 bytes with a known version."""
    return len(raw) == 16 and 1 <= raw[6] >> 4 <= 5


def validate_call(call: Message) -> str | None:
    """validation::executor::call::validate (src/slave/validation.cpp)."""
    if not call.IsInitialized():
        return "Not initialized: " + ", ".join(call.FindInitializationErrors())
    if not call.HasField("type"):
        return "Expecting 'type' to be present"
    if call.type == Call.SUBSCRIBE and not call.HasField("subscribe"):
        return "Expecting 'subscribe' to be present"
    if call.type == Call.MESSAGE and not call.HasField("message"):
        return "Expecting 'message' to be present"
    if call.type == Call.UPDATE:
        if not call.HasField("update"):
            return "Expecting 'update' to be present"
        status = call.update.status
        if not status.HasField("uuid"):
            return "Expecting 'uuid' to be present"
        if not _is_uuid(status.uuid):
            return "Not a valid UUID"
        if status.HasField("executor_id") and status.executor_id.value != call.executor_id.value:
            return (
                f"ExecutorID in Call: {call.executor_id.value} does not match ExecutorID "
                f"in TaskStatus: {status.executor_id.value}"
            )
        if status.source != mesos_pb2.TaskStatus.SOURCE_EXECUTOR:
            return (
                f"Received Call from executor {call.executor_id.value} of framework "
                f"{call.framework_id.value} with invalid source, expecting "
                "'SOURCE_EXECUTOR'"
            )
        if status.state == mesos_pb2.TASK_STAGING:
            return (
                f"Received TASK_STAGING from executor {call.executor_id.value} of "
                f"framework {call.framework_id.value} which is not allowed"
            )
    return None


@dataclass
class _Reply:
    code: int
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        log.debug("agent http: " + format, *args)

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def _reply(self, reply: _Reply) -> None:
        body = reply.body.encode()
        self.send_response(reply.code)
        for name, value in reply.headers:
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.owner.responses.append((self.command, self.path, reply.code))

    def _not_post(self) -> None:
        self._drain()
        if self.path.split("?")[0] not in PATHS:
            self._reply(_Reply(404))
        else:
            self._reply(
                _Reply(
                    405,
                    f"Expecting one of {{ 'POST' }}, but received '{self.command}'",
                    (("Allow", "POST"),),
                )
            )

    do_GET = do_PUT = do_DELETE = do_PATCH = _not_post

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        body = self._drain()
        if self.path.split("?")[0] not in PATHS:
            self._reply(_Reply(404))
            return
        result = self._handle(body)
        if isinstance(result, _Reply):
            self._reply(result)
        else:
            self._stream(*result)

    def _parse(self, body: bytes) -> Message | _Reply:
        content_type = self.headers.get("Content-Type")
        if content_type is None:
            return _Reply(400, "Expecting 'Content-Type' to be present")
        if content_type == APPLICATION_PROTOBUF:
            call = Call()
            try:
                call.ParseFromString(body)
            except DecodeError:
                return _Reply(400, "Failed to parse body into Call protobuf")
            if not call.IsInitialized():
                return _Reply(400, "Failed to parse body into Call protobuf")
            return call
        if content_type == APPLICATION_JSON:
            try:
                value = json.loads(body)
            except ValueError as exc:
                return _Reply(400, f"Failed to parse body into JSON: {exc}")
            try:
                return from_json(value, Call)
            except JSONMappingError as exc:
                return _Reply(400, f"Failed to convert JSON into Call protobuf: {exc}")
        return _Reply(
            415, f"Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}"
        )

    def _handle(self, body: bytes) -> _Reply | tuple[ExecutorRecord, Message, str]:
        delegate = self.server.owner.delegate
        call = self._parse(body)
        if isinstance(call, _Reply):
            return call
        error = validate_call(call)
        if error is not None:
            return _Reply(400, f"Failed to validate Executor::Call: {error}")
        accept = APPLICATION_JSON
        if call.type == Call.SUBSCRIBE:
            if _accepts(self.headers.get("Accept"), APPLICATION_JSON):
                accept = APPLICATION_JSON
            elif _accepts(self.headers.get("Accept"), APPLICATION_PROTOBUF):
                accept = APPLICATION_PROTOBUF
            else:
                return _Reply(
                    406,
                    f"Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'",
                )
        elif delegate.recovering():
            return _Reply(503, "Agent has not finished recovery")
        framework_known, record = delegate.find_executor(
            call.framework_id.value, call.executor_id.value
        )
        if not framework_known:
            return _Reply(400, "Framework cannot be found")
        if record is None:
            return _Reply(400, "Executor cannot be found")
        if record.state == ExecutorState.REGISTERING and call.type != Call.SUBSCRIBE:
            return _Reply(403, "Executor is not subscribed")
        self.server.owner.calls.append(call)
        if call.type == Call.SUBSCRIBE:
            return record, call, accept
        if call.type == Call.UPDATE:
            delegate.status_update(record, call.framework_id.value, call.update.status)
            return _Reply(202)
        if call.type == Call.MESSAGE:
            delegate.executor_message(record, call.message.data)
            return _Reply(202)
        return _Reply(501)

    def _stream(self, record: ExecutorRecord, call: Message, accept: str) -> None:
        stream = EventStream(accept)
        self.send_response(200)
        self.send_header("Content-Type", accept)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.server.owner.responses.append((self.command, self.path, 200))
        self.close_connection = True
        self.server.owner.delegate.subscribe(record, call.subscribe, stream)
        try:
            self._pump(stream)
        finally:
            stream.closed.set()

    def _pump(self, stream: EventStream) -> None:
        while True:
            item = stream.next_item(0.1)
            if item is None:
                if self._peer_closed():
                    return
                continue
            if item is _ABORT:
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            try:
                if item is _CLOSE:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                record = stream.encode(item)  # type: ignore[arg-type]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(record), record))
                self.wfile.flush()
            except OSError:
                return

    def _peer_closed(self) -> bool:
        ready, _, _ = select.select([self.connection], [], [], 0)
        if not ready:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: AgentHTTP) -> None:
        self.owner = owner
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, sock: socket.socket) -> None:
        with self._sockets_lock:
            self._sockets.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._sockets_lock:
            self._sockets.discard(sock)

    def drop_all(self) -> None:
        with self._sockets_lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class AgentHTTP:
    """HTTP server for executors on 127.0.0.1; stop()/start() keep the port."""

    def __init__(self, delegate: ExecutorAPIDelegate, port: int = 0) -> None:
        self.delegate = delegate
        self.port = port
        self.calls: list[Message] = []
        self.responses: list[tuple[str, str, int]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """ip:port, what MESOS_AGENT_ENDPOINT carries."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> str:
        """The agent's libprocess PID (MESOS_SLAVE_PID)."""
        return f"slave(1)@{self.endpoint}"

    def start(self) -> None:
        """Serve (again) on the same port."""
        if self._server is not None:
            raise RuntimeError("already serving")
        self._server = _Server(("127.0.0.1", self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="agent-http",
        )
        self._thread.start()

    def stop(self) -> None:
        """Die like an agent process: every connection dropped, no last chunk."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.drop_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def restart(self) -> None:
        """stop() then start() on the same port."""
        self.stop()
        self.start()


def event(kind: int, **fields: Message) -> Message:
    """Build an Event of `kind` with the given sub-messages copied in."""
    out = Event(type=kind)
    for name, value in fields.items():
        getattr(out, name).CopyFrom(value)
    return out
