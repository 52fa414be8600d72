"""Host memory of an idle pool VM and of an idle pod, against the memory its guest uses.

Usage: PYTHONPATH=. .venv/bin/python bench/memory.py IMAGE [SETTLE_SECONDS] [RUNS]

Each run boots one pool VM (a throwaway pool), reads its QEMU's /proc/PID/smaps, then lets
`mesos-hyper run IMAGE sleep 600` claim it and reads the pod's after SETTLE_SECONDS
(default 20) idle, with the guest's own MemTotal - MemFree (`mesos-hyper exec`). The PSS is
split into the guest's RAM (the memfd mappings libvirt backs it with), QEMU's own anonymous
memory (the TCG translation cache, heap, stacks) and files (QEMU and its libraries, shared
with every other QEMU). Target (issue 13): PSS <= guest-used + 20 MiB for both.
The pod network lives in a throwaway namespace, as in the test suite.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.warm_start import Setup
from tests.net_fixtures import make_test_network
from vmctl.pool.store import PoolDirs

MIB = 1 << 20
TARGET_MIB = 20


def qemu_pid(domain: str) -> int:
    return int(Path(f"/run/libvirt/qemu/{domain}.pid").read_text())


def pss_parts(pid: int) -> dict[str, float]:
    """PSS in MiB: total, guest RAM (memfd), QEMU's anonymous memory, mapped files."""
    parts = {"total": 0.0, "guest RAM": 0.0, "QEMU anon": 0.0, "files": 0.0}
    kind = "files"
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split(maxsplit=5)
            if len(head) >= 5 and "-" in head[0] and len(head[1]) == 4:  # a mapping's header
                path = head[5].strip() if len(head) > 5 else ""
                if path.startswith("/memfd:"):
                    kind = "guest RAM"
                elif not path or path.startswith("["):
                    kind = "QEMU anon"
                else:
                    kind = "files"
            elif line.startswith("Pss:"):
                kib = int(line.split()[1])
                parts[kind] += kib / 1024
                parts["total"] += kib / 1024
    return parts


def pod_domain(env: dict[str, str], name: str) -> str | None:
    """The running pod's domain (a claimed pool VM keeps its own name), from `ps`."""
    out = subprocess.run(
        [sys.executable, "-m", "mesos_hyper.cli", "ps", "--format", "json"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = [d["domain"] for d in json.loads(out) if d["id"] == name and d["status"] == "running"]
    return found[0] if found else None


def guest_used_mib(env: dict[str, str], name: str) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "mesos_hyper.cli", "exec", name, "cat", "/proc/meminfo"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    info = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in out.splitlines())}
    return (info["MemTotal"] - info["MemFree"]) / 1024


def pool_vm(setup: Setup) -> str:
    idle = [path.name for path, _ in PoolDirs(setup.paths).idle_vms()]
    if len(idle) != 1:
        raise SystemExit(f"expected one idle pool VM, found {idle}")
    return idle[0]


def one_run(setup: Setup, image: str, settle: float, i: int) -> dict[str, dict[str, float]]:
    setup.wait_pool()
    pool = pss_parts(qemu_pid(pool_vm(setup)))
    name = f"bench-mem-{os.getpid()}-{i}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesos_hyper.cli", "run", "--name", name, image, "sleep", "600"],
        env=setup.env_for(True), stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while (domain := pod_domain(setup.env, name)) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the pod {name} did not start")
            time.sleep(0.5)
        time.sleep(settle)
        pod = pss_parts(qemu_pid(domain))
        pod["guest-used"] = guest_used_mib(setup.env, name)
    finally:
        proc.terminate()
        proc.wait(60)
    return {"pool VM": pool, "pod": pod}


def main() -> None:
    image = sys.argv[1]
    settle = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    with make_test_network() as network, tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        base = Path(tmp)
        base.chmod(0o711)
        setup = Setup(base, network.host)
        try:
            results = [one_run(setup, image, settle, i) for i in range(runs)]
        finally:
            setup.drain()
    print(f"median of {runs}, MiB; the pod after {settle:.0f} s idle")
    print(f"{'':8s} {'PSS':>7s} {'guest RAM':>10s} {'QEMU anon':>10s} {'files':>7s} {'used':>7s}")
    for which in ("pool VM", "pod"):
        row = {k: statistics.median(r[which].get(k, float("nan")) for r in results)
               for k in ("total", "guest RAM", "QEMU anon", "files", "guest-used")}  # fmt: skip
        print(
            f"{which:8s} {row['total']:7.1f} {row['guest RAM']:10.1f} {row['QEMU anon']:10.1f} "
            f"{row['files']:7.1f} {row['guest-used']:7.1f}"
        )
    print(f"target: PSS <= guest-used + {TARGET_MIB} MiB")


if __name__ == "__main__":
    main()
