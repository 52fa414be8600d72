"""The executor environment a Mesos 1.0 agent sets (containerizer.cpp executorEnvironment)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mesos_hyper.errors import UsageError

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "secs": 1.0,
    "mins": 60.0,
    "hrs": 3600.0,
    "days": 86400.0,
    "weeks": 604800.0,
}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-z]+)\s*$")


def parse_duration(text: str) -> float:
    """Seconds from a stout Duration string such as "5secs", "1.5mins" or "100ms"."""
    match = _DURATION.match(text)
    if not match or match.group(2) not in _UNITS:
        raise UsageError(f"invalid Mesos duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class ExecutorSettings:
    """What the agent tells an executor through its environment."""

    framework_id: str
    executor_id: str
    agent_endpoint: str  # host:port
    directory: str
    checkpoint: bool
    shutdown_grace_period: float
    recovery_timeout: float
    subscription_backoff_max: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ExecutorSettings:
        def need(name: str) -> str:
            value = env.get(name)
            if not value:
                raise UsageError(
                    f"{name} is not set: the executor must be started by a Mesos agent"
                )
            return value

        def duration(name: str, default: str) -> float:
            return parse_duration(env.get(name) or default)

        return cls(
            framework_id=need("MESOS_FRAMEWORK_ID"),
            executor_id=need("MESOS_EXECUTOR_ID"),
            agent_endpoint=need("MESOS_AGENT_ENDPOINT"),
            directory=need("MESOS_DIRECTORY"),
            checkpoint=env.get("MESOS_CHECKPOINT") == "1",
            shutdown_grace_period=duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
            recovery_timeout=duration("MESOS_RECOVERY_TIMEOUT", "15mins"),
            subscription_backoff_max=duration("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
        )
