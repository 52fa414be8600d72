"""The warm start against its floors, as ratios measured in one run (median of RUNS each).

Usage: PYTHONPATH=. .venv/bin/python bench/warm_start.py IMAGE [RUNS]

Floors: a plain qemu boot of our kernel and initramfs to init (bench/startup.py's), a bare
boot of the kernel to its panic for lack of a root fs, and `python -c pass`. Measured:
- the agent double's ECP `launch` to TASK_RUNNING, from the warm pool and cold;
- `mesos-hyper run IMAGE echo hi` from its start to its first output and to its exit,
  from the pool and cold;
- the ECP's `containers` and `usage` calls.
The pool is refilled between runs and its refills are not counted in a launch. The pod
network lives in throwaway namespaces, as in the test suite.

The cold rows are also given against a floor measured just before each run (the median of
those ratios, "adjacent"): here the guest's boot took 2.6 s in one run and 4.1 s two runs
later, so a floor measured minutes apart says little about a cold run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.ecp_latency import times as ecp_times
from bench.startup import floor as init_floor
from mesos_hyper.config import Paths
from mesos_hyper.proto import mesos_pb2
from tests.agent_double import Agent
from tests.agent_double.ecp import call_environment
from tests.net_fixtures import make_test_network
from vmctl.pool.fill import drain, fill_lock, reap, usable
from vmctl.pool.settings import PoolSettings
from vmctl.pool.store import PoolDirs

PANIC = b"Kernel panic"


def panic_floor(paths: Paths) -> float:
    """qemu (TCG) booting the bare kernel until it panics for want of a root fs."""
    cmd = [
        "qemu-system-x86_64", "-accel", "tcg", "-m", "128", "-nographic", "-no-reboot",
        "-nodefaults", "-serial", "stdio", "-kernel", str(paths.kernel),
        "-append", "console=ttyS0 panic=-1",
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    elapsed = float("nan")
    for line in proc.stdout:
        if PANIC in line:
            elapsed = time.monotonic() - start
            break
    proc.kill()
    proc.wait()
    return elapsed


def median(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


class Setup:
    def __init__(self, base: Path, netns: str) -> None:
        self.root = base / "root"
        self.root.mkdir()
        self.pool_dir = base / "pool"
        self.env = {
            **os.environ,
            "MESOS_HYPER_ROOT": str(self.root),
            "MESOS_HYPER_GUEST_DIR": str(Paths.from_env().guest),
            "MESOS_HYPER_NETNS": netns,
            "MESOS_HYPER_POOL_DIR": str(self.pool_dir),
            "MESOS_HYPER_POOL_SIZE": "1",
        }
        self.paths = Paths(
            self.root, Path(self.env["MESOS_HYPER_GUEST_DIR"]), Path("/run/mesos-hyper"),
            self.pool_dir,
        )  # fmt: skip

    def env_for(self, pooled: bool) -> dict[str, str]:
        return {**self.env, "MESOS_HYPER_POOL_SIZE": "1" if pooled else "0"}

    def wait_pool(self) -> None:
        """Until the refill has an idle VM (not part of any measurement)."""
        settings = PoolSettings(size=1)
        dirs = PoolDirs(self.paths)
        dirs.make()  # as request_refill does: a background filler never makes the pool
        deadline = time.monotonic() + 300
        while not usable(self.paths, settings, dirs):
            if time.monotonic() > deadline:
                raise SystemExit("the pool did not refill within 300 s")
            subprocess.run([sys.executable, "-m", "vmctl.pool", "fill"], env=self.env, check=False)
            time.sleep(0.2)
        with fill_lock(dirs, wait=True):  # no refill competes with the measurement
            pass

    def drain(self) -> None:
        dirs = PoolDirs(self.paths)
        with fill_lock(dirs, wait=True):
            drain(self.paths, stop=True)
            reap(self.paths, dirs)


def launch_sleeper(
    agent: Agent, setup: Setup, image: str, task_id: str, pooled: bool
) -> tuple[float, float]:
    """Seconds from the launch of a `sleep 600` task to its TASK_STARTING and its
    TASK_RUNNING (a pool refill before it is not counted); the caller ends it with
    ``kill_sleeper``. TASK_STARTING's time is the one the executor stamped it with."""
    if pooled:
        setup.wait_pool()
    task = mesos_pb2.TaskInfo(name="bench")
    task.task_id.value = task_id
    task.command.value = "sleep 600"
    task.container.type = mesos_pb2.ContainerInfo.DOCKER
    task.container.docker.image = image
    wall, start = time.time(), time.monotonic()
    agent.launch_task(task)
    agent.wait_for_state(task_id, mesos_pb2.TASK_RUNNING, timeout=180)
    to_running = time.monotonic() - start
    starting = [u for u in agent.updates(task_id) if u.status.state == mesos_pb2.TASK_STARTING]
    return starting[0].timestamp - wall, to_running


def ecp_calls(runs: int, agent: Agent | None = None, task_id: str = "") -> dict[str, float]:
    """Medians of the polled ECP calls and their floor; with an agent, also ``usage`` of
    its running ``task_id`` (libvirt asked, the sandbox walked), as the agent polls it."""
    running = None
    if agent is not None:
        record = agent.executor(task_id)  # the command executor's id is the task's
        running = (call_environment(agent.env, agent.flags, None), record.container_id)
    return {name: statistics.median(taken) for name, taken in ecp_times(runs, running).items()}


def kill_sleeper(agent: Agent, task_id: str) -> None:
    agent.kill_task(task_id)
    agent.wait_for_state(task_id, mesos_pb2.TASK_KILLED, timeout=60)


def launch_to_running(
    setup: Setup,
    image: str,
    pooled: bool,
    runs: int,
    ecp_runs: int = 0,
    floors: list[float] | None = None,
    floor: Callable[[], float] | None = None,
) -> tuple[list[tuple[float, float]], dict[str, float]]:
    """Launch to (TASK_STARTING, TASK_RUNNING) times, and with ``ecp_runs`` the polled ECP
    calls timed while the last pod runs (no refill competes on the cold pass). With
    ``floor``, it is measured just before each counted launch, into ``floors``."""
    work = Path(tempfile.mkdtemp(prefix="mh-bench-agent."))
    ecp = [sys.executable, "-m", "mesos_hyper.containerizer.cli"]
    agent = Agent(work, ecp, setup.env_for(pooled), timeout=120, switch_user=False)
    times, calls = [], {}
    try:
        for i in range(runs + 1):  # the first pulls the image: not counted
            task_id = f"bench-{pooled}-{i}"
            if i and floor is not None and floors is not None:
                floors.append(floor())
            took = launch_sleeper(agent, setup, image, task_id, pooled)
            if i:
                times.append(took)
            if i == runs and ecp_runs:
                calls = ecp_calls(ecp_runs, agent, task_id)
            kill_sleeper(agent, task_id)
    finally:
        agent.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return times, calls


def run_cli(
    setup: Setup,
    image: str,
    pooled: bool,
    runs: int,
    floors: list[float] | None = None,
    floor: Callable[[], float] | None = None,
) -> tuple[list[float], list[float]]:
    """``run IMAGE echo hi``: (to its first output, to its exit) of each run; with
    ``floor``, it is measured just before each run, into ``floors``."""
    firsts, totals = [], []
    for _ in range(runs):
        if pooled:
            setup.wait_pool()
        if floor is not None and floors is not None:
            floors.append(floor())
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "mesos_hyper.cli", "run", image, "echo", "hi"],
            stdout=subprocess.PIPE,
            env=setup.env_for(pooled),
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        firsts.append(time.monotonic() - start)
        proc.wait()
        totals.append(time.monotonic() - start)
        assert line == b"hi\n" and proc.returncode == 0, (line, proc.returncode)
    return firsts, totals


def main() -> None:
    image = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    paths = Paths.from_env()
    floor_init = median(lambda: init_floor(paths), runs)
    floor_panic = median(lambda: panic_floor(paths), runs)
    rows: list[tuple[str, float, float, str]] = []
    with make_test_network() as network, tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        base = Path(tmp)
        base.chmod(0o711)
        setup = Setup(base, network.host)
        try:
            pool = launch_to_running(setup, image, True, runs)[0]
            cold_floors: list[float] = []
            cold, ecp = launch_to_running(
                setup, image, False, runs, runs * 4, cold_floors, lambda: init_floor(paths)
            )
            pool_first, pool_total = run_cli(setup, image, True, runs)
            run_floors: list[float] = []
            cold_first, cold_total = run_cli(
                setup, image, False, runs, run_floors, lambda: init_floor(paths)
            )
        finally:
            setup.drain()
    floor_python = ecp["python -c pass"]  # interleaved with the calls (bench.ecp_latency)
    starting = statistics.median(t for t, _ in pool + cold)
    pool_l2r = statistics.median(r for _, r in pool)
    cold_l2r = statistics.median(r for _, r in cold)
    rows += [
        ("launch to TASK_STARTING, either", starting, starting, "<= 0.3 s"),
        ("launch to TASK_RUNNING, pool", pool_l2r, pool_l2r / floor_init, "<= 0.35 x init floor"),
        ("launch to TASK_RUNNING, cold", cold_l2r, cold_l2r / floor_init, "<= 1.5 x init floor"),
        ("run to first output, pool", statistics.median(pool_first),
         statistics.median(pool_first) / floor_init, "(init floor)"),
        ("run to first output, cold", statistics.median(cold_first),
         statistics.median(cold_first) / floor_init, "<= 1.25 x init floor"),
        ("run echo hi, start to exit, pool", statistics.median(pool_total),
         statistics.median(pool_total) / floor_panic, "<= 0.3 x panic floor"),
        ("run echo hi, start to exit, cold", statistics.median(cold_total),
         statistics.median(cold_total) / floor_panic, "(panic floor)"),
        ("ECP usage", ecp["usage"], ecp["usage"] / floor_python, "<= 2 x python floor"),
        ("ECP containers", ecp["containers"], ecp["containers"] / floor_python,
         "<= 2 x python floor"),
        ("ECP usage, running pod", ecp["usage, running pod"],
         ecp["usage, running pod"] / floor_python, "<= 2 x python floor"),
    ]  # fmt: skip
    print(f"floors (median of {runs}): qemu boot to init {floor_init:.3f}s, kernel to panic "
          f"{floor_panic:.3f}s, python -c pass {floor_python * 1000:.1f}ms")  # fmt: skip
    print(f"{'measure':36s} {'median':>9s} {'ratio':>7s}  target")
    for name, value, ratio, target in rows:
        print(f"{name:36s} {value:8.3f}s {ratio:7.2f}  {target}")
    adjacent = [
        ("launch to TASK_RUNNING, cold", [r for _, r in cold], cold_floors),
        ("run to first output, cold", cold_first, run_floors),
    ]
    for name, values, floors in adjacent:
        ratios = [v / f for v, f in zip(values, floors, strict=True)]
        print(
            f"{name + ', adjacent':36s} {statistics.median(values):8.3f}s"
            f" {statistics.median(ratios):7.2f}  floors {', '.join(f'{f:.2f}' for f in floors)}"
        )


if __name__ == "__main__":
    main()
