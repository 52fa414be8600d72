"""Median latency of the ECP calls the agent makes every few seconds: `usage`, `containers`.

Usage: .venv/bin/python bench/ecp_latency.py [RUNS]
Runs against a scratch MESOS_WORK_DIRECTORY holding one launching container record.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from mesos_hyper.proto import containerizer_pb2
from mesos_hyper.state import StateStore, default_root


def call(command: str, data: bytes | None, env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "mesos_hyper.containerizer.cli", command],
        input=data,
        capture_output=True,
        env=env,
        check=True,
    )
    return time.monotonic() - start


def times(runs: int) -> dict[str, list[float]]:
    """Each polled call, ``runs`` times, against a scratch work dir with one record."""
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "MESOS_WORK_DIRECTORY": work}
        StateStore(default_root(env)).create("bench", sandbox=work)
        msg = containerizer_pb2.Usage()
        msg.container_id.value = "bench"
        raw = msg.SerializeToString()
        usage = len(raw).to_bytes(4, sys.byteorder) + raw
        return {
            command: [call(command, data, env) for _ in range(runs)]
            for command, data in (("usage", usage), ("containers", None))
        }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    for command, taken in times(runs).items():
        print(
            f"{command:11s} median {statistics.median(taken) * 1000:6.1f} ms "
            f"(min {min(taken) * 1000:.1f}, max {max(taken) * 1000:.1f}, n={runs})"
        )


if __name__ == "__main__":
    main()
