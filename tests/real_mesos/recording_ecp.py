"""Our ECP behind a recorder: what a real agent hands each call, kept for the golden files.

Run as ``python recording_ecp.py COMMAND`` (the cluster points ``--containerizer_path`` at
a two-line script that does so). The stdin record (4-byte native length + protobuf, as the
agent writes it; stdin then stays open) and the ``MESOS_*`` and ``LIBPROCESS_*``
environment of the call are written to ``$MESOS_HYPER_TEST_RECORD_DIR``; then our ECP runs
with the same record on a stdin that also stays open, and its stdout, stderr and exit
status are the call's.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time

WITH_RECORD = ("launch", "update", "usage", "wait", "destroy")


def _read_exact(n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = os.read(0, n - len(data))
        if not chunk:
            raise SystemExit(f"recording_ecp: stdin ended after {len(data)} of {n} bytes")
        data += chunk
    return data


def main() -> int:
    command = sys.argv[1]
    record = b""
    if command in WITH_RECORD:
        header = _read_exact(4)
        record = header + _read_exact(struct.unpack("=I", header)[0])
    out = os.environ.get("MESOS_HYPER_TEST_RECORD_DIR")
    if out:
        env = {k: v for k, v in os.environ.items() if k.startswith(("MESOS_", "LIBPROCESS_"))}
        env.pop("MESOS_HYPER_TEST_RECORD_DIR", None)
        stem = os.path.join(out, f"{time.time_ns()}-{command}")
        with open(stem + ".bin", "wb") as f:
            f.write(record)
        with open(stem + ".env.json", "w") as f:
            json.dump({k: v for k, v in env.items() if not k.startswith("MESOS_HYPER_")}, f)
    child = subprocess.Popen(
        [sys.executable, "-m", "mesos_hyper.containerizer.cli", command], stdin=subprocess.PIPE
    )
    assert child.stdin is not None
    if record:
        child.stdin.write(record)
        child.stdin.flush()
    return child.wait()  # stdin stays open until then, as the agent leaves it


if __name__ == "__main__":
    sys.exit(main())
