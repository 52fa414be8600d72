"""The Mesos v1 executor HTTP API (``/api/v1/executor``), spoken with requests.

Behaves as the 1.0 executor library does: SUBSCRIBE opens a record-io stream of JSON
events (``<length>\\n<json>``); every UPDATE carries a fresh uuid and is kept until the
agent ACKNOWLEDGEs it; on a re-subscribe the unacknowledged updates and tasks are sent
again. When the stream breaks a checkpointing executor retries until the recovery
timeout, one that does not checkpoint gives up at once.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import requests

from mesos_hyper import log
from mesos_hyper.errors import HyperError
from mesos_hyper.executor.settings import ExecutorSettings

LOG = logging.getLogger(__name__)
MAX_RECORD = 16 << 20
MAX_LENGTH_DIGITS = 12

Handler = Callable[[dict[str, Any]], None]


class StreamError(HyperError):
    """The agent's event stream broke the record-io framing."""


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


class AgentConnection:
    def __init__(self, settings: ExecutorSettings, handler: Handler) -> None:
        self.settings = settings
        self.handler = handler
        self.url = f"http://{settings.agent_endpoint}/api/v1/executor"
        self.session = requests.Session()
        self.agent_id: dict[str, str] | None = None
        self.gone = threading.Event()  # the agent is gone for good: the executor exits
        self.subscribed = threading.Event()
        self.subscribed_at: float | None = None
        self._cond = threading.Condition()
        self._unacked: dict[str, dict[str, Any]] = {}  # base64 uuid -> TaskStatus JSON
        self._tasks: dict[str, dict[str, Any]] = {}  # task id -> TaskInfo JSON, until acked
        self._closed = False
        self._thread: threading.Thread | None = None
        self._response: requests.Response | None = None

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
                    log.event(LOG, "the agent does not know this executor", logging.ERROR, why=why)
                    self._give_up()
                    return
            except (requests.RequestException, StreamError, ValueError) as err:
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
                log.event(LOG, "agent gone; not checkpointing, giving up", logging.ERROR, why=why)
                self._give_up()
                return
            if time.monotonic() - disconnected_at > self.settings.recovery_timeout:
                log.event(LOG, "agent not back within the recovery timeout", logging.ERROR, why=why)
                self._give_up()
                return
            log.event(LOG, "agent connection lost; retrying", logging.WARNING, why=why)
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
        resp = self.session.post(
            self.url,
            json=body,
            headers={"Accept": "application/json"},
            stream=True,
            timeout=(5, None),
        )
        self._response = resp
        if 400 <= resp.status_code < 500:
            raise AgentRefused(f"SUBSCRIBE answered {resp.status_code}: {resp.text[:200]}")
        if resp.status_code != 200:
            raise requests.HTTPError(f"SUBSCRIBE answered {resp.status_code}: {resp.text[:200]}")
        for raw in records(resp.iter_content(chunk_size=None)):
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise StreamError("event is not a JSON object")
            self._on_event(event)

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
        body = {"type": "UPDATE", **self._ids(), "update": {"status": status}}
        if not self._post_update(body, state):
            threading.Thread(
                target=self._resend, args=(status["uuid"], body, state), daemon=True
            ).start()
        log.event(LOG, "status update", task_id=task_id, state=state, message=message or "")
        return str(status["uuid"])

    def _post_update(self, body: dict[str, Any], state: str) -> bool:
        try:
            resp = self.session.post(self.url, json=body, timeout=10)
        except requests.RequestException as err:
            log.event(LOG, "update not delivered", logging.WARNING, state=state, error=err)
            return False
        if resp.status_code != 202:
            log.event(
                LOG, "agent refused an update", logging.WARNING, code=resp.status_code, state=state
            )
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
        the agent keeps the SUBSCRIBE connection open (seen: 10 s on a 1.0.4 agent)."""
        self._closed = True

    def close(self) -> None:
        self._closed = True
        if self._response is not None:
            self._response.close()
        self.session.close()
