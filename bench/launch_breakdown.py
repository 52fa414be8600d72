"""Where an ECP launch goes: the executor's "process started" timings, run by run.

Usage: PYTHONPATH=. .venv/bin/python bench/launch_breakdown.py IMAGE [RUNS] [pool|cold]

Each run launches `sleep 30` through the agent double (from a refilled pool, or cold),
prints launch to TASK_RUNNING and the executor's own step times (overlay, domain_start,
guest_ready, guest_prepared, limits, exec_started, exec_to_quota; the guest ones count from
the resume), then kills the task. The first run pulls the image and is not printed.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from bench.warm_start import Setup, kill_sleeper, launch_sleeper
from tests.agent_double import Agent
from tests.net_fixtures import make_test_network

STARTED = re.compile(r'msg="process started" .*?(overlay=.*)$')


def started_line(work: Path, seen: set[Path]) -> str:
    """The newest executor's step times (each task has an executor and sandbox of its own)."""
    for stderr in work.rglob("stderr"):
        if stderr in seen:
            continue
        for line in stderr.read_text(errors="replace").splitlines():
            if match := STARTED.search(line):
                seen.add(stderr)
                return match.group(1)
    return "(no process started line)"


def main() -> None:
    image = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    pooled = (sys.argv[3] if len(sys.argv) > 3 else "pool") == "pool"
    with make_test_network() as network:
        base = Path(tempfile.mkdtemp(prefix="mh-bench."))
        base.chmod(0o755)  # the QEMU user reaches the containers' directories through it
        setup = Setup(base, network.host)
        work = Path(tempfile.mkdtemp(prefix="mh-bench-agent."))
        ecp = [sys.executable, "-m", "mesos_hyper.containerizer.cli"]
        agent = Agent(work, ecp, setup.env_for(pooled), timeout=120, switch_user=False)
        seen: set[Path] = set()
        try:
            for i in range(runs + 1):
                starting, running = launch_sleeper(agent, setup, image, f"breakdown-{i}", pooled)
                line = started_line(work, seen)
                if i:
                    print(
                        f"launch to TASK_STARTING {starting:.2f}s, to TASK_RUNNING {running:.2f}s"
                        f"  {line}",
                        flush=True,
                    )
                kill_sleeper(agent, f"breakdown-{i}")
        finally:
            agent.shutdown()
            if pooled:
                setup.drain()
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
