"""A container's resources: what Mesos gave it, what the isolators hold it to and what its
record keeps. One type for all three (summed over roles; None means "not given", not 0)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mesos_hyper.containerizer.recordio import ProtocolError

SCALAR, RANGES = 0, 1  # mesos.Value.Type
SCALARS = ("cpus", "mem", "disk", "gpus")
# one mesos.Resource: name, type, scalar value, ranges (from protobuf or from proto.wire)
Resource = tuple[str, int, float, Sequence[tuple[int, int]]]


@dataclass(frozen=True)
class Limits:
    """What a container may use, summed from its resources; None where none was given."""

    cpus: float | None = None
    mem_mb: float | None = None
    disk_mb: float | None = None
    gpus: float | None = None
    ports: tuple[tuple[int, int], ...] = ()  # inclusive ranges

    def port_numbers(self) -> list[int]:
        return [p for begin, end in self.ports for p in range(begin, end + 1)]


def sum_resources(resources: Iterable[Resource]) -> Limits:
    """Sum scalars and join port ranges over all roles; unknown names are ignored."""
    scalars: dict[str, float] = {}
    ports: list[tuple[int, int]] = []
    for name, kind, value, ranges in resources:
        if name in SCALARS:
            if kind != SCALAR:
                raise ProtocolError(f"resource {name!r} is not a scalar")
            if not math.isfinite(value) or value < 0:
                raise ProtocolError(f"resource {name!r} has a bad value {value}")
            scalars[name] = scalars.get(name, 0.0) + value
        elif name == "ports":
            if kind != RANGES:
                raise ProtocolError("resource 'ports' is not a set of ranges")
            for begin, end in ranges:
                if not 1 <= begin <= end <= 65535:
                    raise ProtocolError(f"resource 'ports' has a bad range [{begin}-{end}]")
                ports.append((begin, end))
    return Limits(
        cpus=scalars.get("cpus"),
        mem_mb=scalars.get("mem"),
        disk_mb=scalars.get("disk"),
        gpus=scalars.get("gpus"),
        ports=tuple(sorted(ports)),
    )
