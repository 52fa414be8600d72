"""The Mesos v1 executor HTTP API (``/api/v1/executor``), spoken with http.client.

Behaves as the 1.0 executor library does: SUBSCRIBE opens a record-io stream of JSON
events (``<length>\\n<json>``); every UPDATE carries a fresh uuid and is kept until the
agent ACKNOWLEDGEs it; on a re-subscribe the unacknowledged updates and tasks are sent
again. When the stream breaks a checkpointing executor retries until the recovery
timeout, one that does not checkpoint gives up at once.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from mesos_hyper import log
from mesos_hyper.errors import HyperError
from mesos_hyper.executor.settings import ExecutorSettings

LOG = log.get(__name__)
MAX_RECORD = 16 << 20
MAX_LENGTH_DIGITS = 12

Handler = Callable[[dict[str, Any]], None]


class StreamError(HyperError):
    """The agent's event stream broke the record-io framing."""


class AgentHTTPError(HyperError):
    """The agent answered with an unexpected status (5xx while it recovers, say)."""


# What a lost or refused connection to the agent raises: the executor retries those.
CONNECTION_ERRORS = (OSError, http.client.HTTPException, AgentHTTPError)
CONNECT_TIMEOUT_S = 5.0
UPDATE_TIMEOUT_S = 10.0
READ_CHUNK = 64 * 1024


class AgentRefused(HyperError):
    """SUBSCRIBE answered 4xx: the agent does not know this executor (a 1.0.4 agent says
    "Executor cannot be found" for one whose launch it gave up on, or did not recover)."""


# 4xx answers in a row that mean the agent will never take this executor: it exits then
# (a launch the agent failed never gets a destroy, so nobody else would end it).
REFUSALS_TO_GIVE_UP = 3


def records(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Split a record-io byte stream into records, strictly and with bounds."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        while True:
            newline = buf.find(b"\n", 0, MAX_LENGTH_DIGITS + 1)
            if newline < 0:
                if len(buf) > MAX_LENGTH_DIGITS:
                    raise StreamError("record-io length prefix too long or missing")
                break
            digits = buf[:newline]
            if not digits.isdigit():
                raise StreamError(f"record-io length prefix is not a number: {digits[:20]!r}")
            length = int(digits)
            if length > MAX_RECORD:
                raise StreamError(f"record-io record of {length} bytes is too large")
            if len(buf) < newline + 1 + length:
                break
            yield buf[newline + 1 : newline + 1 + length]
            buf = buf[newline + 1 + length :]
    if buf:
        raise StreamError("record-io stream ended inside a record")


class Handoff:
    """The handler of a connection started before its executor exists: an event waits
    for it (the stream's thread blocks; what follows waits in the socket)."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._handler: Handler | None = None

    def handle(self, event: dict[str, Any]) -> None:
        self._ready.wait()
        assert self._handler is not None
        self._handler(event)

    def to(self, handler: Handler) -> None:
        self._handler = handler
        self._ready.set()


class AgentConnection:
    def __init__(
        self,
        settings: ExecutorSettings,
        handler: Handler,
        on_update: Callable[[str, str, str | None], None] | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.on_update = on_update  # (task id, state, message) of every update sent
        self.path = "/api/v1/executor"
        self.agent_id: dict[str, str] | None = None
        self.gone = threading.Event()  # the agent is gone for good: the executor exits
        self.subscribed = threading.Event()
        self.subscribed_at: float | None = None
        self._cond = threading.Condition()
        self._unacked: dict[str, dict[str, Any]] = {}  # base64 uuid -> TaskStatus JSON
        self._tasks: dict[str, dict[str, Any]] = {}  # task id -> TaskInfo JSON, until acked
        self._closed = False
        self._thread: threading.Thread | None = None
        self._stream: http.client.HTTPConnection | None = None

    # ---- subscription -----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="agent-api", daemon=True)
        self._thread.start()

    def _ids(self) -> dict[str, Any]:
        return {
            "framework_id": {"value": self.settings.framework_id},
            "executor_id": {"value": self.settings.executor_id},
        }

    def _run(self) -> None:
        disconnected_at: float | None = None
        backoff = 0.1
        refusals = 0
        while not self._closed:
            try:
                self._subscribe_once()
                why = "the agent closed the event stream"
                refusals = 0
            except AgentRefused as err:
                refusals += 1
                why = str(err)
                if refusals >= REFUSALS_TO_GIVE_UP:
                    log.event(LOG, "the agent does not know this executor", log.ERROR, why=why)
                    self._give_up()
                    return
            except (*CONNECTION_ERRORS, StreamError, ValueError) as err:
                why = f"{type(err).__name__}: {err}"
                refusals = 0
            except Exception:
                if self._closed:  # close() took the stream from under this reader
                    return
                raise
            if self._closed:
                return
            if self.subscribed.is_set() or disconnected_at is None:
                disconnected_at, backoff = time.monotonic(), 0.1  # a fresh disconnection
            self.subscribed.clear()
            if not self.settings.checkpoint:
                log.event(LOG, "agent gone; not checkpointing, giving up", log.ERROR, why=why)
                self._give_up()
                return
            if time.monotonic() - disconnected_at > self.settings.recovery_timeout:
                log.event(LOG, "agent not back within the recovery timeout", log.ERROR, why=why)
                self._give_up()
                return
            log.event(LOG, "agent connection lost; retrying", log.WARNING, why=why)
            time.sleep(backoff)
            backoff = min(backoff * 2, max(self.settings.subscription_backoff_max, 0.1))

    def _give_up(self) -> None:
        self.gone.set()
        with self._cond:
            self._cond.notify_all()
        self.handler({"type": "AGENT_GONE"})

    def _subscribe_once(self) -> None:
        with self._cond:
            subscribe = {
                "unacknowledged_tasks": list(self._tasks.values()),
                "unacknowledged_updates": [{"status": s} for s in self._unacked.values()],
            }
        body = {"type": "SUBSCRIBE", **self._ids(), "subscribe": subscribe}
        conn = self._connection(CONNECT_TIMEOUT_S)
        self._stream = conn
        resp = self._post(conn, body, accept="application/json")
        if 400 <= resp.status < 500:
            raise AgentRefused(f"SUBSCRIBE answered {resp.status}: {_text(resp)}")
        if resp.status != 200:
            raise AgentHTTPError(f"SUBSCRIBE answered {resp.status}: {_text(resp)}")
        if conn.sock is not None:
            conn.sock.settimeout(None)  # the stream stays open for as long as we run
        for raw in records(iter(lambda: resp.read1(READ_CHUNK), b"")):
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise StreamError("event is not a JSON object")
            self._on_event(event)

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.settings.agent_endpoint, timeout=timeout)

    def _post(
        self, conn: http.client.HTTPConnection, body: dict[str, Any], accept: str | None = None
    ) -> http.client.HTTPResponse:
        headers = {"Content-Type": "application/json"}
        if accept:
            headers["Accept"] = accept
        conn.request("POST", self.path, body=json.dumps(body).encode(), headers=headers)
        return conn.getresponse()

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            self.agent_id = event.get("subscribed", {}).get("agent_info", {}).get("id")
            self.subscribed_at = time.monotonic()
            self.subscribed.set()
            log.event(LOG, "subscribed to the agent", agent=self.settings.agent_endpoint)
        elif kind == "LAUNCH":
            task = event.get("launch", {}).get("task", {})
            task_id = task.get("task_id", {}).get("value")
            if task_id:
                with self._cond:
                    self._tasks[task_id] = task
        elif kind == "ACKNOWLEDGED":
            ack = event.get("acknowledged", {})
            with self._cond:
                status = self._unacked.pop(ack.get("uuid", ""), None)
                if status is not None:
                    self._tasks.pop(status["task_id"]["value"], None)
                self._cond.notify_all()
            return
        self.handler(event)

    # ---- updates ----------------------------------------------------------------

    def send_update(
        self,
        task_id: str,
        state: str,
        *,
        message: str | None = None,
        reason: str | None = None,
        healthy: bool | None = None,
    ) -> str:
        """Send a TaskStatus; kept until acknowledged (resent on re-subscribe)."""
        status: dict[str, Any] = {
            "task_id": {"value": task_id},
            "state": state,
            "source": "SOURCE_EXECUTOR",
            "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
            "executor_id": {"value": self.settings.executor_id},
            "timestamp": time.time(),
        }
        if self.agent_id:
            status["agent_id"] = self.agent_id
        if message is not None:
            status["message"] = message[:4096]
        if reason is not None:
            status["reason"] = reason
        if healthy is not None:
            status["healthy"] = healthy
        with self._cond:
            self._unacked[status["uuid"]] = status
        if self.on_update is not None:
            self.on_update(task_id, state, message)
        body = {"type": "UPDATE", **self._ids(), "update": {"status": status}}
        if not self._post_update(body, state):
            threading.Thread(
                target=self._resend, args=(status["uuid"], body, state), daemon=True
            ).start()
        log.event(LOG, "status update", task_id=task_id, state=state, message=message or "")
        return str(status["uuid"])

    def _post_update(self, body: dict[str, Any], state: str) -> bool:
        conn = self._connection(UPDATE_TIMEOUT_S)
        try:
            resp = self._post(conn, body)
            resp.read()
        except CONNECTION_ERRORS as err:
            log.event(LOG, "update not delivered", log.WARNING, state=state, error=err)
            return False
        finally:
            conn.close()
        if resp.status != 202:
            log.event(LOG, "agent refused an update", log.WARNING, code=resp.status, state=state)
            return False
        return True

    def _resend(self, uid: str, body: dict[str, Any], state: str) -> None:
        """Until delivered or acknowledged: an update a recovering agent refused (503) is
        otherwise resent only if the stream breaks, which it need not."""
        delay = 0.5
        while not (self._closed or self.gone.is_set()):
            time.sleep(delay)
            with self._cond:
                if uid not in self._unacked:
                    return
            if self._post_update(body, state):
                return
            delay = min(delay * 2, 5.0)

    def wait_acknowledged(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._unacked and not self.gone.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 1.0))
            return not self._unacked

    def abandon(self) -> None:
        """On the way to ``os._exit``: the reader may stop wherever it is. Closing the
        streaming response from another thread can block for seconds in urllib3 while
        the agent keeps the SUBSCRIBE connection open (seen: 10 s on a 1.0.4 agent with
        requests and urllib3)."""
        self._closed = True

    def close(self) -> None:
        self._closed = True
        if self._stream is not None:
            self._stream.close()


def _text(resp: http.client.HTTPResponse) -> str:
    """The start of an error answer's body, for the log."""
    try:
        return resp.read(200).decode(errors="replace")
    except CONNECTION_ERRORS:
        return ""
