"""One app's instances on a Mesos cluster: take offers, launch, follow states and health.

A pymesos ``Scheduler``: pymesos calls it from its own thread, so every field is guarded
by one condition. No restarts and no scaling: an instance that ends stays ended (this is
for trying apps and smoke tests; Marathon keeps apps running).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from pymesos import Scheduler

from mesos_hyper import log
from mesos_hyper.containerizer.recordio import ProtocolError
from mesos_hyper.deploy import probes
from mesos_hyper.deploy.marathon_app import (
    InsufficientPortsError,
    MarathonTask,
    marathon_task_id,
    task_info,
)
from mesos_hyper.deploy.v1_json import to_v1
from mesos_hyper.model.limits import Limits
from mesos_hyper.model.messages import resources_from_pb
from mesos_hyper.proto import mesos_pb2

LOG = log.get(__name__)
TERMINAL = {
    "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
    "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN",
}  # fmt: skip
DECLINE_SECONDS = 5.0

Say = Callable[[str], None]


@dataclass
class Instance:
    """One task a deployment launched, and what became of it."""

    task_id: str
    agent_id: str
    host: str
    made: MarathonTask
    state: str = "TASK_STAGING"
    message: str = ""
    ran: bool = False  # reached TASK_RUNNING
    mesos_healthy: bool | None = None  # the COMMAND check, from the agent's updates
    checks_passed: set[int] = field(default_factory=set)  # our probes of Marathon's checks

    @property
    def has_checks(self) -> bool:
        return self.made.task_info.HasField("health_check") or bool(self.made.marathon_checks)

    @property
    def healthy(self) -> bool:
        """Every check passed at least once (Marathon's "healthy" for a fresh instance)."""
        if self.made.task_info.HasField("health_check") and not self.mesos_healthy:
            return False
        return len(self.checks_passed) == len(self.made.marathon_checks)

    @property
    def ok(self) -> bool:
        return self.ran and (self.healthy or not self.has_checks)


def offered(offer: dict[str, Any]) -> Limits:
    """What an offer holds (v1 JSON, as pymesos hands it over)."""
    try:
        resources = [
            json_format.ParseDict(r, mesos_pb2.Resource(), ignore_unknown_fields=True)
            for r in offer.get("resources", [])
        ]
    except json_format.ParseError as err:
        raise ProtocolError(f"an offer's resources do not parse: {err}") from err
    return resources_from_pb(resources)


def fits(need: Limits, have: Limits) -> bool:
    return all(
        (want or 0.0) <= (got or 0.0) + 1e-9
        for want, got in (
            (need.cpus, have.cpus),
            (need.mem_mb, have.mem_mb),
            (need.disk_mb, have.disk_mb),
            (need.gpus, have.gpus),
        )
    )


def shortfall(need: Limits, have: Limits) -> str:
    """What an offer lacked for one instance, for the line that says why none launched."""
    lacking = [
        f"{name}: {want:g} needed, {got or 0.0:g} offered"
        for name, want, got in (
            ("cpus", need.cpus, have.cpus),
            ("mem", need.mem_mb, have.mem_mb),
            ("disk", need.disk_mb, have.disk_mb),
            ("gpus", need.gpus, have.gpus),
        )
        if want and want > (got or 0.0) + 1e-9
    ]
    return ", ".join(lacking)


def minus(have: Limits, need: Limits, ports: list[int]) -> Limits:
    left = set(have.port_numbers()) - set(ports)
    return Limits(
        cpus=(have.cpus or 0.0) - (need.cpus or 0.0),
        mem_mb=(have.mem_mb or 0.0) - (need.mem_mb or 0.0),
        disk_mb=(have.disk_mb or 0.0) - (need.disk_mb or 0.0),
        gpus=(have.gpus or 0.0) - (need.gpus or 0.0),
        ports=tuple((p, p) for p in sorted(left)),
    )


class Deployment(Scheduler):  # type: ignore[misc]
    """The pymesos callbacks (its base class ignores the rest), and what the command line
    waits on."""

    def __init__(self, app: dict[str, Any], instances: int, say: Say) -> None:
        self.app = app
        self.wanted = instances
        self.say = say
        self.instances: dict[str, Instance] = {}
        self.framework_id: str | None = None
        self.master_error: str | None = None
        self.stopping = False
        self.shortfalls: dict[str, str] = {}  # agent host -> what its last offer lacked
        self._cond = threading.Condition()
        self._probers: list[threading.Thread] = []

    # ---- pymesos callbacks --------------------------------------------------------

    def registered(self, driver: Any, framework_id: dict, master_info: dict) -> None:
        with self._cond:
            self.framework_id = framework_id["value"]
            self._cond.notify_all()
        self.say(f"registered as framework {framework_id['value']}")

    def reregistered(self, driver: Any, master_info: dict) -> None:
        log.event(LOG, "re-registered with the master")

    def resourceOffers(self, driver: Any, offers: list[dict]) -> None:
        for offer in offers:
            with self._cond:
                made = [] if self.stopping else self._take(offer)
            if made:
                driver.launchTasks(offer["id"], [to_v1(m.made.task_info) for m in made])
                for instance in made:
                    ports = ",".join(str(p) for p in instance.made.host_ports) or "-"
                    self.say(f"{instance.task_id}: launching on {instance.host} (ports {ports})")
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": DECLINE_SECONDS})
        with self._cond:
            if len(self.instances) >= self.wanted:
                driver.suppressOffers()

    def _take(self, offer: dict[str, Any]) -> list[Instance]:
        """As many of the missing instances as the offer holds."""
        try:
            have = offered(offer)
        except ProtocolError as err:
            log.event(LOG, "offer declined", log.WARNING, error=err)
            return []
        agent_id, host = offer["agent_id"]["value"], offer.get("hostname", "")
        made: list[Instance] = []
        while len(self.instances) < self.wanted:
            task_id = marathon_task_id(str(self.app.get("id", "")))
            try:
                task = task_info(
                    self.app,
                    task_id=task_id,
                    agent_host=host,
                    offered_ports=have.port_numbers(),
                    agent_id=agent_id,
                )
            except InsufficientPortsError as err:
                self._lacked(host, made, str(err))
                break
            need = resources_from_pb(task.task_info.resources)
            if not fits(need, have):
                self._lacked(host, made, shortfall(need, have))
                break
            have = minus(have, need, task.host_ports)
            instance = Instance(task_id, agent_id, host, task)
            self.instances[task_id] = instance
            made.append(instance)
        return made

    def _lacked(self, host: str, made: list[Instance], what: str) -> None:
        if not made:  # an offer that took some instances lacked nothing worth saying
            self.shortfalls[host or "?"] = what
            self._cond.notify_all()

    def statusUpdate(self, driver: Any, update: dict) -> None:
        task_id = update["task_id"]["value"]
        with self._cond:
            instance = self.instances.get(task_id)
            if instance is None:
                return
            before = (instance.state, instance.mesos_healthy)
            instance.state = update["state"]
            instance.message = update.get("message", "")
            if "healthy" in update:
                instance.mesos_healthy = bool(update["healthy"])
            first_run = instance.state == "TASK_RUNNING" and not instance.ran
            instance.ran = instance.ran or instance.state == "TASK_RUNNING"
            self._cond.notify_all()
        if (instance.state, instance.mesos_healthy) == before:
            return
        line = f"{task_id}: {instance.state}"
        if instance.mesos_healthy is not None:
            line += " healthy" if instance.mesos_healthy else " unhealthy"
        if first_run:
            ports = ",".join(str(p) for p in instance.made.host_ports) or "-"
            line += f" on {instance.host} (ports {ports})"
        if instance.message and instance.state in TERMINAL:
            line += f": {instance.message}"
        self.say(line)
        if first_run and instance.made.marathon_checks:
            self._start_probes(instance)

    def error(self, driver: Any, message: str) -> None:
        with self._cond:
            self.master_error = message
            self._cond.notify_all()
        self.say(f"error from the master: {message}")

    def disconnected(self, driver: Any) -> None:
        log.event(LOG, "disconnected from the master", log.WARNING)

    # ---- Marathon's own checks (HTTP, HTTPS, TCP), which Marathon runs itself ----

    def _start_probes(self, instance: Instance) -> None:
        for index, check in enumerate(instance.made.marathon_checks):
            thread = threading.Thread(
                target=self._probe_loop,
                args=(instance, index, check),
                name=f"probe-{index}",
                daemon=True,
            )
            thread.start()
            self._probers.append(thread)

    def _probe_loop(self, instance: Instance, index: int, check: dict[str, Any]) -> None:
        interval = max(1.0, float(check.get("intervalSeconds", 10)))
        timeout = max(1.0, float(check.get("timeoutSeconds", 10)))
        while True:
            with self._cond:
                if self.stopping or instance.state in TERMINAL:
                    return
            if probes.passes(check, timeout):
                with self._cond:
                    first = index not in instance.checks_passed
                    instance.checks_passed.add(index)
                    self._cond.notify_all()
                if first:
                    self.say(f"{instance.task_id}: {probes.describe(check)} passed")
            with self._cond:
                self._cond.wait_for(lambda: self.stopping, interval)

    # ---- what the command line waits on --------------------------------------------

    def wait(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is None else min(left, 1.0))
            return True

    def all_launched(self) -> bool:
        return len(self.instances) >= self.wanted

    def all_ended(self) -> bool:
        return len(self.instances) >= self.wanted and all(
            i.state in TERMINAL for i in self.instances.values()
        )

    def stop(self) -> None:
        with self._cond:
            self.stopping = True
            self._cond.notify_all()

    def live(self) -> list[Instance]:
        with self._cond:
            return [i for i in self.instances.values() if i.state not in TERMINAL]

    def summary(self) -> tuple[int, list[str]]:
        """How many instances did what was asked (ran, and healthy where checked), and
        a line for each that did not."""
        with self._cond:
            ok = [i for i in self.instances.values() if i.ok]
            missing = self.wanted - len(self.instances)
            lines = [
                f"{i.task_id}: never ran ({i.state}{': ' + i.message if i.message else ''})"
                if not i.ran
                else f"{i.task_id}: ran but never healthy"
                for i in self.instances.values()
                if not i.ok
            ]
            lacked = [f"{host}: {what}" for host, what in sorted(self.shortfalls.items())]
        if missing > 0:
            lines.append(
                f"{missing} instance(s) never got an offer that fits"
                + (f" ({'; '.join(lacked)})" if lacked else " (no offer came)")
            )
        return len(ok), lines
