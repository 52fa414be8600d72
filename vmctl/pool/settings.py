"""How big the warm pool is and what its VMs look like: every knob comes from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from mesos_hyper.config import env_choice, env_int

DEFAULT_SIZE = 2
DEFAULT_VCPUS = 1
DEFAULT_MEMORY_MIB = 512
# An idle pool VM is ballooned down to this at boot (off the critical path): a claim then
# only deflates the balloon to the task's size, which is cheap, where inflating it would
# compete with the task's start under the task's CPU quota.
IDLE_MEMORY_MIB = 128
# How a refill makes a pool VM: "boot" boots each one (about 4 s of CPU under TCG here);
# "template" boots one, saves it, and restores each from that image (vmctl.pool.template).
SOURCES = ("boot", "template")
DEFAULT_SOURCE = "boot"


@dataclass(frozen=True)
class PoolSettings:
    """How big the pool is and what its VMs look like (the environment's knobs)."""

    size: int = DEFAULT_SIZE  # idle VMs kept ready; 0 turns the pool off
    vcpus: int = DEFAULT_VCPUS  # each pool VM's vCPUs: tasks needing more boot cold
    memory_mib: int = DEFAULT_MEMORY_MIB  # each pool VM's RAM; the balloon gives a task less
    source: str = DEFAULT_SOURCE  # how refills make pool VMs (SOURCES)

    @classmethod
    def from_env(cls) -> PoolSettings:
        return cls(
            size=env_int("MESOS_HYPER_POOL_SIZE", DEFAULT_SIZE, 0),
            vcpus=env_int("MESOS_HYPER_POOL_VCPUS", DEFAULT_VCPUS, 1),
            memory_mib=env_int("MESOS_HYPER_POOL_MEMORY_MIB", DEFAULT_MEMORY_MIB, 128),
            source=env_choice("MESOS_HYPER_POOL_SOURCE", DEFAULT_SOURCE, SOURCES),
        )

    @property
    def enabled(self) -> bool:
        return self.size > 0
