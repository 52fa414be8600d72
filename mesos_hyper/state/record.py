"""The on-disk record of one container, as a typed dataclass with a schema version.

A record is what lets separate ECP invocations (launch, wait, usage, destroy,
containers) agree on a container: it is the only state they share.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from mesos_hyper.errors import HyperError
from mesos_hyper.model.limits import Limits

TYPE_CHECKING = False  # typing is not imported at run time: the polled ECP calls start fast
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 1


class StateError(HyperError):
    """A record is corrupt, of an unknown schema, or asked to change illegally."""


class AlreadyExistsError(StateError):
    """A live record with that container id already exists."""


class Status(enum.StrEnum):
    LAUNCHING = "launching"
    RUNNING = "running"
    TERMINATED = "terminated"


_ALLOWED = {
    Status.LAUNCHING: {Status.LAUNCHING, Status.RUNNING, Status.TERMINATED},
    Status.RUNNING: {Status.RUNNING, Status.TERMINATED},
    Status.TERMINATED: {Status.TERMINATED},
}


@dataclass(frozen=True)
class Termination:
    """How a container ended, in the terms of containerizer.Termination.

    ``status`` is waitpid-style (exit code << 8, or the signal number); ``state`` and
    ``reasons`` are enum names ("TASK_FAILED", "REASON_EXECUTOR_TERMINATED").
    """

    status: int | None = None
    state: str | None = None
    reasons: tuple[str, ...] = ()
    message: str | None = None


@dataclass(frozen=True)
class ContainerRecord:
    """One container as every ECP call sees it (see the module docstring)."""

    container_id: str
    status: Status
    created_at: float
    updated_at: float
    sandbox: str | None = None
    domain: str | None = None
    pids: Mapping[str, int] = field(default_factory=dict)  # e.g. {"executor": 1234}
    limits: Limits = field(default_factory=Limits)
    termination: Termination | None = None
    terminated_at: float | None = None
    # the agent's calls that close a container; once both came, the record can go
    waited: bool = False
    destroyed: bool = False

    @property
    def live(self) -> bool:
        return self.status != Status.TERMINATED

    def check(self) -> None:
        """Raise StateError unless the fields are consistent with each other."""
        if (self.status == Status.TERMINATED) != (self.termination is not None):
            raise StateError(
                f"container {self.container_id}: a termination goes with status"
                f" 'terminated' and only with it (status is {self.status.value!r})"
            )
        if any(not isinstance(p, int) or p <= 0 for p in self.pids.values()):
            raise StateError(f"container {self.container_id}: pids must be positive integers")

    def check_transition(self, new: ContainerRecord) -> None:
        if new.container_id != self.container_id:
            raise StateError(f"container {self.container_id}: the id of a record cannot change")
        if new.status not in _ALLOWED[self.status]:
            raise StateError(
                f"container {self.container_id}: cannot go from {self.status.value!r}"
                f" to {new.status.value!r}"
            )
        new.check()

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["pids"] = dict(self.pids)
        data["status"] = self.status.value
        return json.dumps({"schema": SCHEMA_VERSION, **data}, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str = "record") -> ContainerRecord:
        """Parse and validate; any defect is one StateError naming ``source``."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise StateError(f"{source}: corrupt JSON ({err.msg})") from None
        if not isinstance(data, dict):
            raise StateError(f"{source}: not a JSON object")
        schema = data.pop("schema", None)
        if schema != SCHEMA_VERSION:
            raise StateError(
                f"{source}: schema {schema!r}, this mesos-hyper understands {SCHEMA_VERSION}"
            )
        try:
            record = _build(data)
        except (KeyError, TypeError, ValueError) as err:
            raise StateError(f"{source}: malformed record ({type(err).__name__}: {err})") from None
        record.check()
        return record


def _opt(value: Any, kind: type) -> Any:
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    if kind is float and not math.isfinite(value):
        raise ValueError("non-finite number")
    return value


def _req(value: Any, kind: type) -> Any:
    if value is None:
        raise ValueError(f"missing {kind.__name__}")
    return _opt(value, kind)


def _build(data: dict[str, Any]) -> ContainerRecord:
    known = {f.name for f in dataclasses.fields(ContainerRecord)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    limits = data.get("limits") or {}
    term = data.get("termination")
    pids = data.get("pids") or {}
    if not isinstance(pids, dict):
        raise TypeError("pids must be an object")
    return ContainerRecord(
        container_id=_req(data["container_id"], str),
        status=Status(data["status"]),
        created_at=_req(data["created_at"], float),
        updated_at=_req(data["updated_at"], float),
        sandbox=_opt(data.get("sandbox"), str),
        domain=_opt(data.get("domain"), str),
        pids={_req(k, str): _req(v, int) for k, v in pids.items()},
        limits=Limits(
            cpus=_opt(limits.get("cpus"), float),
            mem_mb=_opt(limits.get("mem_mb"), float),
            disk_mb=_opt(limits.get("disk_mb"), float),
            gpus=_opt(limits.get("gpus"), float),
            ports=tuple((_req(b, int), _req(e, int)) for b, e in limits.get("ports") or ()),
        ),
        termination=None
        if term is None
        else Termination(
            status=_opt(term.get("status"), int),
            state=_opt(term.get("state"), str),
            reasons=tuple(_req(r, str) for r in term.get("reasons") or ()),
            message=_opt(term.get("message"), str),
        ),
        terminated_at=_opt(data.get("terminated_at"), float),
        waited=bool(_opt(data.get("waited"), bool)),
        destroyed=bool(_opt(data.get("destroyed"), bool)),
    )
