"""A minimal Mesos v1 scheduler over HTTP (``/api/v1/scheduler``, JSON): subscribe, take
offers, launch, acknowledge, kill, tear down. It stays registered until ``teardown``, as a
long-running framework such as Marathon does, so nothing but our executor ends a task."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from mesos_hyper.executor.agent_api import records
from tests.conditions import wait_for

Event = dict[str, Any]


class Scheduler:
    def __init__(self, master: str, name: str = "mesos-hyper-tests", checkpoint: bool = True):
        self.url = f"http://{master}/api/v1/scheduler"
        self.framework: dict[str, Any] = {
            "user": "root",
            "name": name,
            "checkpoint": checkpoint,
            "failover_timeout": 600,
        }
        self.framework_id: str | None = None
        self.stream_id: str | None = None
        self.offers: list[Event] = []
        self.updates: list[tuple[float, Event]] = []  # (monotonic time, status)
        self.acked: dict[str, float] = {}  # uuid -> when we acknowledged it
        self._cond = threading.Condition()
        self._session = requests.Session()
        self._response: requests.Response | None = None
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._closed = False

    def start(self, timeout: float = 60) -> None:
        self._thread.start()
        self.wait_for(lambda: self.framework_id is not None, timeout)

    def _run(self) -> None:
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": self.framework}}
        resp = self._session.post(
            self.url,
            json=body,
            headers={"Accept": "application/json"},
            stream=True,
            timeout=(10, None),
        )
        self._response = resp
        resp.raise_for_status()
        self.stream_id = resp.headers["Mesos-Stream-Id"]
        try:
            for raw in records(resp.iter_content(chunk_size=None)):
                self._on_event(json.loads(raw))
        except Exception:
            if not self._closed:
                raise

    def _on_event(self, event: Event) -> None:
        kind = event.get("type")
        ack = None
        with self._cond:
            if kind == "SUBSCRIBED":
                self.framework_id = event["subscribed"]["framework_id"]["value"]
                self.framework["id"] = {"value": self.framework_id}
            elif kind == "OFFERS":
                self.offers.extend(event["offers"].get("offers", []))
            elif kind == "UPDATE":
                status = event["update"]["status"]
                self.updates.append((time.monotonic(), status))
                ack = status if "uuid" in status else None
            self._cond.notify_all()
        if ack is not None:  # outside the lock: an HTTP call
            self._acknowledge(ack)

    def _acknowledge(self, status: Event) -> None:
        self._call(
            "ACKNOWLEDGE",
            acknowledge={
                "agent_id": status["agent_id"],
                "task_id": status["task_id"],
                "uuid": status["uuid"],
            },
        )
        with self._cond:
            self.acked[status["uuid"]] = time.monotonic()
            self._cond.notify_all()

    def _call(self, kind: str, **fields: Any) -> None:
        body = {"type": kind, "framework_id": {"value": self.framework_id}, **fields}
        resp = self._session.post(
            self.url, json=body, headers={"Mesos-Stream-Id": self.stream_id or ""}, timeout=30
        )
        if resp.status_code != 202:
            raise RuntimeError(f"{kind} answered {resp.status_code}: {resp.text[:300]}")

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        wait_for(self._cond, predicate, timeout, poll=0.5)

    def launch(self, task: Event, timeout: float = 60) -> Event:
        """Launch ``task`` (TaskInfo JSON without agent_id) on the first offer; the offer."""
        self.wait_for(lambda: bool(self.offers), timeout)
        with self._cond:
            offer = self.offers.pop(0)
            others, self.offers = self.offers, []
        task = {**task, "agent_id": offer["agent_id"]}
        self._call(
            "ACCEPT",
            accept={
                "offer_ids": [offer["id"]],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
                "filters": {"refuse_seconds": 1},
            },
        )
        if others:
            self._call("DECLINE", decline={"offer_ids": [o["id"] for o in others]})
        return offer

    def states(self, task_id: str) -> list[str]:
        with self._cond:
            return [s["state"] for _, s in self.updates if s["task_id"]["value"] == task_id]

    def wait_for_state(self, task_id: str, state: str, timeout: float) -> tuple[float, Event]:
        """(when it arrived, the status) of the task's first update in ``state``."""
        found: list[tuple[float, Event]] = []

        def seen() -> bool:
            found[:] = [
                (t, s)
                for t, s in self.updates
                if s["task_id"]["value"] == task_id and s["state"] == state
            ]
            return bool(found)

        try:
            self.wait_for(seen, timeout)
        except AssertionError:
            raise AssertionError(
                f"task {task_id} never reached {state} in {timeout}s; saw {self.states(task_id)}"
            ) from None
        return found[0]

    def kill(self, task_id: str, agent_id: str) -> None:
        self._call("KILL", kill={"task_id": {"value": task_id}, "agent_id": {"value": agent_id}})

    def teardown(self) -> None:
        # closed first: an update still on the stream is acknowledged after the TEARDOWN,
        # and the master, which no longer knows the framework, answers that with a 400
        self._closed = True
        if self.framework_id is not None:
            with contextlib.suppress(requests.RequestException, RuntimeError):
                self._call("TEARDOWN")
        if self._response is not None:
            self._response.close()
        self._session.close()


def command_task(task_id: str, image: str, shell: str, cpus: float = 0.2, mem: float = 64) -> Event:
    """A command task in a DOCKER container, as mesos-execute or Marathon builds it."""
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": shell, "shell": True},
        "container": {"type": "DOCKER", "docker": {"image": image, "network": "HOST"}},
    }
