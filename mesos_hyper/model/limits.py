"""A container's resources: what Mesos gave it, what the isolators hold it to and what its
record keeps. One type for all three (summed over roles; None means "not given", not 0)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    cpus: float | None = None
    mem_mb: float | None = None
    disk_mb: float | None = None
    gpus: float | None = None
    ports: tuple[tuple[int, int], ...] = ()  # inclusive ranges

    def port_numbers(self) -> list[int]:
        return [p for begin, end in self.ports for p in range(begin, end + 1)]
