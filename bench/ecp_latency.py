"""Median latency of the ECP calls the agent makes every few seconds, `usage` and
`containers`, as a ratio to the bare start of the same interpreter (`python -c pass`),
measured interleaved in the same run. Target (issue 13): each at most 2x.

Usage: .venv/bin/python bench/ecp_latency.py [RUNS]
Runs the installed `mesos-hyper-containerizer`, as the agent does, against a scratch
MESOS_WORK_DIRECTORY holding one launching container record.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mesos_hyper.proto import containerizer_pb2
from mesos_hyper.state import StateStore, default_root

ECP = str(Path(sys.executable).parent / "mesos-hyper-containerizer")
TARGET = 2.0


def call(argv: list[str], data: bytes | None, env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(argv, input=data, capture_output=True, env=env, check=True)
    return time.monotonic() - start


def usage_request(container_id: str) -> bytes:
    """The record-io framed Usage message the agent writes to the call's stdin."""
    msg = containerizer_pb2.Usage()
    msg.container_id.value = container_id
    raw = msg.SerializeToString()
    return len(raw).to_bytes(4, sys.byteorder) + raw


def times(runs: int, running: tuple[dict[str, str], str] | None = None) -> dict[str, list[float]]:
    """The floor and each polled call, ``runs`` rounds, against one scratch record; with
    ``running`` (the agent's ECP environment and a container id), also ``usage`` of that
    running pod, which asks libvirt and walks the sandbox."""
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "MESOS_WORK_DIRECTORY": work}
        StateStore(default_root(env)).create("bench", sandbox=work)
        cases: dict[str, tuple[list[str], bytes | None, dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], None, env),
            "usage": ([ECP, "usage"], usage_request("bench"), env),
            "containers": ([ECP, "containers"], None, env),
        }
        if running:
            cases["usage, running pod"] = ([ECP, "usage"], usage_request(running[1]), running[0])
        taken: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):  # interleaved, so a busy spell hits all alike
            for name, (argv, data, case_env) in cases.items():
                taken[name].append(call(argv, data, case_env))
        return taken


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    taken = times(runs)
    floor = statistics.median(taken["python -c pass"])
    for name, values in taken.items():
        median = statistics.median(values)
        print(
            f"{name:18s} median {median * 1000:6.1f} ms  {median / floor:4.2f}x the floor "
            f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, n={runs})"
        )
    print(f"target: each polled call <= {TARGET:.1f}x the floor")


if __name__ == "__main__":
    main()
