"""How big the warm pool is and what its VMs look like: every knob comes from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mesos_hyper.errors import UsageError

DEFAULT_SIZE = 2
DEFAULT_VCPUS = 1
DEFAULT_MEMORY_MIB = 512
# An idle pool VM is ballooned down to this at boot (off the critical path): a claim then
# only deflates the balloon to the task's size, which is cheap, where inflating it would
# compete with the task's start under the task's CPU quota.
IDLE_MEMORY_MIB = 128


def _int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise UsageError(f"{name}={value} is below {minimum}")
    return value


@dataclass(frozen=True)
class PoolSettings:
    size: int = DEFAULT_SIZE  # idle VMs kept ready; 0 turns the pool off
    vcpus: int = DEFAULT_VCPUS  # each pool VM's vCPUs: tasks needing more boot cold
    memory_mib: int = DEFAULT_MEMORY_MIB  # each pool VM's RAM; the balloon gives a task less

    @classmethod
    def from_env(cls) -> PoolSettings:
        return cls(
            size=_int("MESOS_HYPER_POOL_SIZE", DEFAULT_SIZE, 0),
            vcpus=_int("MESOS_HYPER_POOL_VCPUS", DEFAULT_VCPUS, 1),
            memory_mib=_int("MESOS_HYPER_POOL_MEMORY_MIB", DEFAULT_MEMORY_MIB, 128),
        )

    @property
    def enabled(self) -> bool:
        return self.size > 0

    def fits(self, vcpus: int, memory_mib: int) -> bool:
        return vcpus <= self.vcpus and memory_mib <= self.memory_mib
