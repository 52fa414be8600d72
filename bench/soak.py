"""Soak: launch/kill cycles through the Mesos 1.0.4 agent double, one random fault per cycle,
then a census of everything a container can leave on the host.

A fault-free test run proves a path works once; leaks show up only when processes die at
awkward moments and the cleanup that should follow runs late, twice or never. Each cycle
launches one task, injects one fault at a random moment of its first seconds, makes sure the
task reaches a terminal state (killing it if it still runs) and waits for its container to
end. A census (every K cycles and at the end) then looks for what only a live container may
hold: libvirt domains, QEMU, virtiofsd, executor and ECP processes, taps, address leases,
nft rules, overlay directories, live records, exec sockets, append-only sandbox outputs.
Something still there 10 s after its cycle counts as a leak, even if a later `recover`
(an agent restart) removes it. The pod network lives in throwaway namespaces, never the
host's; everything the run makes is removed at the end, after it has been counted.

Faults: none, kill_launch (SIGKILL the ECP's `launch`), kill_executor (SIGKILL the pod
executor while it pulls or boots), kill_qemu, restart_libvirtd (kept started with /dev/kvm
masked, as vmctl/libvirtd.py does), restart_agent (then `recover`), kill_task (a kill at a
random moment) and shutdown_executor (SHUTDOWN, then `destroy` after the grace period).

Usage (it boots VMs and restarts libvirtd: hold the machine's VM lock)::

    flock /tmp/mh-vm.lock env PYTHONPATH=. .venv/bin/python bench/soak.py --cycles 20
    ... --seed S --faults kill_launch,kill_qemu --command 'sleep 30' --logs DIR --json F

Exit status 1 if anything leaked or a cycle ended without a terminal state.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from isolators import net
from mesos_hyper import config
from mesos_hyper.config import Paths
from mesos_hyper.containerizer import executor_process
from mesos_hyper.executor.exec_socket import socket_path
from mesos_hyper.proto import mesos_pb2
from mesos_hyper.state import StateStore
from tests.agent_double import Agent, ECPError
from tests.agent_double.agent import LeakError
from tests.agent_double.procs import session_members, wait_gone
from tests.agent_double.records import TERMINAL_STATES, ExecutorRecord
from tests.leaks import waiting_pool_vms
from tests.net_fixtures import OUTSIDE_IP, make_test_network
from tests.test_ecp_e2e import task
from vmctl import accel, libvirtd
from vmctl.domain import domain_name
from vmctl.lifecycle import destroy_by_name, list_ours
from vmctl.network import firewall, ipam, links
from vmctl.network.settings import NetSettings

FAULTS = (
    "none",
    "kill_launch",
    "kill_executor",
    "kill_qemu",
    "restart_libvirtd",
    "restart_agent",
    "kill_task",
    "shutdown_executor",
)
COMMANDS = ("sleep 30", "sleep 30", "sleep 30", "echo hi")  # mostly long enough to be hit
ECP = [sys.executable, "-m", "mesos_hyper.containerizer.cli"]
BOOT_TIMEOUT_S = 150.0  # launch to RUNNING or a terminal state, on a loaded TCG host
SETTLE_S = 4.0  # after the fault, for its own consequence to show before we kill
KILL_WAIT_S = 60.0
LINGER_S = 20.0  # a container this long past its task's terminal state is reported
CENSUS_SETTLE_S = 10.0  # exiting executors, waits and cleanups get this long to finish


class SoakAbort(RuntimeError):
    """The host is not in a state to go on (libvirtd would not come back properly)."""


@dataclass
class Cycle:
    index: int
    fault: str
    command: str
    task_id: str
    container_id: str = ""
    sandbox: str = ""
    hit: bool = False  # the fault was really injected (a launch may exit before its kill)
    note: str = ""
    launch_error: str = ""
    states: list[str] = field(default_factory=list)
    terminal: str = "none"
    forced_kill: bool = False  # still running after the fault: killed by the soak
    lingered: bool = False  # its container outlived the terminal state by LINGER_S
    seconds: float = 0.0


@dataclass
class Report:
    seed: int
    image: str
    cycles: list[Cycle] = field(default_factory=list)
    leaks: dict[str, list[str]] = field(default_factory=dict)  # kind -> items, any census
    leaks_at_end: dict[str, list[str]] = field(default_factory=dict)  # the final census's
    leak_cycles: dict[str, str] = field(default_factory=dict)  # item -> "cycle N fault: note"
    ecp_failures: list[str] = field(default_factory=list)  # only logged by a real agent
    warnings: list[str] = field(default_factory=list)
    residue: dict[str, list[str]] = field(default_factory=dict)  # left after our cleanup
    census_errors: list[str] = field(default_factory=list)  # sources the census could not read
    namespaces: list[str] = field(default_factory=list)  # the throwaway ones it made
    seconds: float = 0.0

    @property
    def no_terminal(self) -> list[Cycle]:
        return [c for c in self.cycles if c.terminal == "none"]

    @property
    def ok(self) -> bool:
        return (
            not self.leaks and not self.no_terminal and not self.census_errors and self.cycles != []
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    def summary(self) -> str:
        times = [c.seconds for c in self.cycles] or [0.0]
        injected = Counter(c.fault for c in self.cycles if c.hit or c.fault == "none")
        missed = Counter(c.fault for c in self.cycles if not c.hit and c.fault != "none")
        faults = ", ".join(
            f"{kind} {injected[kind]}" + (f" (+{missed[kind]} missed)" if missed[kind] else "")
            for kind in FAULTS
            if injected[kind] or missed[kind]
        )
        states = Counter(c.terminal for c in self.cycles)
        lines = [
            f"soak: {len(self.cycles)} cycles, seed {self.seed}, image {self.image}",
            f"time per cycle: mean {statistics.mean(times):.1f}s, median "
            f"{statistics.median(times):.1f}s, min {min(times):.1f}s, max {max(times):.1f}s; "
            f"total {self.seconds:.0f}s",
            f"faults injected: {faults}",
            "terminal states: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items())),
        ]
        for cycle in self.no_terminal:
            lines.append(
                f"DEFECT: cycle {cycle.index} ({cycle.fault}) has no terminal state; "
                f"saw {cycle.states}"
            )
        for cycle in self.cycles:
            if cycle.lingered:
                lines.append(
                    f"note: cycle {cycle.index} ({cycle.fault}, {cycle.note}): the container "
                    f"outlived its task's {cycle.terminal} by {LINGER_S:.0f}s; the soak shut it "
                    "down"
                )
        if self.ecp_failures:
            lines.append(f"ECP failures a 1.0.4 agent only logs: {len(self.ecp_failures)}")
            lines += [f"  {line}" for line in self.ecp_failures]
        lines += [f"warning: {w}" for w in self.warnings]
        if self.leaks:
            total = sum(len(v) for v in self.leaks.values())
            lines.append(f"LEAKS: {total} (a leak a later agent restart cleared still counts)")
            for kind, items in sorted(self.leaks.items()):
                lines.append(f"  {kind}: {len(items)}")
                for item in items:
                    end = item in self.leaks_at_end.get(kind, ())
                    lines.append(
                        f"    {item}  [{self.leak_cycles.get(item, '?')}]"
                        f" {'still there at the end' if end else 'gone by the end'}"
                    )
        else:
            lines.append("leaks: none")
        if self.census_errors:
            lines.append("CENSUS INCOMPLETE: " + "; ".join(self.census_errors))
        if self.residue:
            lines.append("LEFT ON THE HOST AFTER THE SOAK'S OWN CLEANUP:")
            lines += [f"  {kind}: {items}" for kind, items in sorted(self.residue.items())]
        return "\n".join(lines)


# ---- processes ---------------------------------------------------------------------------


def _processes() -> Iterator[tuple[int, list[str]]]:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if argv and executor_process.start_time(int(entry)) is not None:
            yield int(entry), argv


def _environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read().split(b"\0")
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw if b"=" in item)
    return {key: value for key, _, value in pairs}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _sigkill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


_GUEST = re.compile(r"guest=(mh-[^,\s]+)")


def qemu_pids() -> dict[int, str]:
    """Every QEMU on the host -> the libvirt domain it runs ("" if none of ours): ``mh-<id>``
    for a cold boot, a pool VM's own name for a claimed one."""
    found = {}
    for pid, argv in _processes():
        if "qemu-system" in argv[0]:
            match = _GUEST.search(" ".join(argv))
            found[pid] = match.group(1) if match else ""
    return found


def _wait(predicate: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    """predicate()'s first truthy value within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value or None
        time.sleep(step)


# ---- libvirtd ----------------------------------------------------------------------------


def _systemd() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def _libvirtd_pids() -> list[int]:
    """Every libvirtd process, zombies included (they still hold the name for pgrep)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry}/comm").read_text().strip() == "libvirtd":
                    found.append(int(entry))
    return found


def _kvm_masked(pid: int) -> bool:
    try:
        mounts = Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:
        return False
    return any(line.split()[4] == "/dev/kvm" for line in mounts.splitlines())


def restart_libvirtd() -> str:
    """Stop libvirtd and start it the way `mesos-hyper host up` does (QEMU lives on).

    Under systemd the unit's drop-in masks /dev/kvm; by hand, vmctl.libvirtd starts it in a
    mount namespace with the mask, which is checked here: a libvirtd that sees a hanging
    /dev/kvm would stall every later boot, ours and everyone else's. Whatever happens,
    libvirtd answers again when this returns or raises.
    """
    if _systemd():
        try:
            subprocess.run(["systemctl", "restart", "libvirtd"], check=True, timeout=120)
        finally:
            ensure_libvirtd()
        return "restarted by systemd"
    domain_type = accel.domain_type()
    old = _libvirtd_pids()
    if len(old) != 1:
        raise SoakAbort(f"expected one libvirtd, found pids {old}")
    try:
        os.kill(old[0], signal.SIGTERM)
        if _wait(lambda: not _libvirtd_pids(), 30, 0.1) is None:
            _sigkill(old[0])
        how = ensure_libvirtd()
    finally:
        ensure_libvirtd()
    new = _libvirtd_pids()
    if domain_type != "kvm" and not (len(new) == 1 and _kvm_masked(new[0])):
        raise SoakAbort(f"libvirtd {new} came back without /dev/kvm masked")
    return f"libvirtd {old[0]} -> {new[0]} ({how})"


def ensure_libvirtd(timeout: float = 90.0) -> str:
    """libvirtd answering, started as `mesos-hyper host up` would if it is not.

    A stopping libvirtd (or its zombie) makes vmctl.libvirtd refuse to start another, so
    this waits for it to be gone first, and tries again until ``timeout``.
    """
    uri = config.libvirt_uri()
    deadline = time.monotonic() + timeout
    while True:
        if libvirtd.reachable(uri):
            return "answering"
        try:
            if _systemd() or _wait(lambda: not _libvirtd_pids(), 15, 0.1):
                return libvirtd.ensure_running(uri, accel.domain_type())
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise SoakAbort(f"libvirtd does not answer on {uri}: pids {_libvirtd_pids()}")
        time.sleep(1.0)


# ---- the soak ----------------------------------------------------------------------------


class Soak:
    def __init__(
        self,
        image: str,
        netns: str,
        seed: int,
        *,
        census_every: int = 1,
        command: str | None = None,
        logs: Path | None = None,
        progress: TextIO = sys.stderr,
    ) -> None:
        self.image = image
        self.logs = logs
        self.rng = random.Random(seed)
        self.census_every = census_every
        self.command = command
        self.progress = progress
        self.report = Report(seed=seed, image=image)
        self.tmp = Path(tempfile.mkdtemp(prefix="mh-soak."))
        self.tmp.chmod(0o711)  # the QEMU user walks into root/containers
        root, run = self.tmp / "root", self.tmp / "run"
        root.mkdir(mode=0o711)
        run.mkdir(mode=0o700)
        self.paths = Paths(root=root, guest=Paths.from_env().guest, run=run)
        self.env = {
            **os.environ,
            "MESOS_HYPER_ROOT": str(root),
            "MESOS_HYPER_GUEST_DIR": str(self.paths.guest),
            "MESOS_HYPER_RUN_DIR": str(run),  # exec sockets: ours alone, counted, removed
            "MESOS_HYPER_NETNS": netns,
            "MESOS_HYPER_DNS": OUTSIDE_IP,
            "MESOS_HYPER_LOG_LEVEL": "INFO",
            "MESOS_HYPER_REGISTRY_RETRY_SECONDS": "10",
        }
        self.net = dataclasses.replace(
            NetSettings.from_env(), netns=netns, lease_dir=root / "net" / "leases"
        )
        self.agent = Agent(
            self.tmp, ECP, self.env, timeout=120, registration_timeout=120, switch_user=False
        )
        for command_name in ("destroy", "wait", "update"):  # faults make some of them fail
            self.agent.expect_failure(command_name)
        self.store = StateStore(self.agent.flags.work_dir / "mesos-hyper")
        self.cycles_by_cid: dict[str, Cycle] = {}
        self.qemu_before = set(qemu_pids())
        self.taps_before = set(links.list_taps(self.net))
        self.known_leaks: dict[str, set[str]] = {}
        self.census_errors: list[str] = []

    def say(self, line: str) -> None:
        print(line, file=self.progress, flush=True)

    # ---- one cycle -----------------------------------------------------------------

    def run(self, schedule: Sequence[str], budget_s: float | None = None) -> Report:
        """The cycles, a census every ``census_every`` and a final one; no cycle starts
        once ``budget_s`` has passed (the run must end, and clean up, in time)."""
        started = time.monotonic()
        for index, fault in enumerate(schedule, 1):
            if budget_s is not None and time.monotonic() - started > budget_s:
                self.report.warnings.append(
                    f"time budget of {budget_s:.0f}s spent: {index - 1} of {len(schedule)} cycles"
                )
                break
            cycle = self.cycle(index, fault)
            self.report.cycles.append(cycle)
            self.say(
                f"[{index:3d}/{len(schedule)}] {fault:17s} {cycle.command:9s} -> "
                f"{cycle.terminal:14s} {cycle.seconds:5.1f}s  "
                f"{'' if cycle.hit or fault == 'none' else 'MISSED: '}{cycle.note}"
                + (" (killed by the soak)" if cycle.forced_kill else "")
                + (" (container lingered)" if cycle.lingered else "")
            )
            self.report.seconds = time.monotonic() - started
            if self.census_every and index % self.census_every == 0 and index < len(schedule):
                self.census_step(f"after cycle {index}")
        self.census_step("final")
        self.report.seconds = time.monotonic() - started
        return self.report

    def cycle(self, index: int, fault: str) -> Cycle:
        command = self.command or self.rng.choice(COMMANDS)
        cycle = Cycle(index, fault, command, task_id=f"soak-{index}")
        delay = self.rng.random()  # drawn now: the schedule stays reproducible for a seed
        start = time.monotonic()
        launcher = threading.Thread(target=self._launch, args=(cycle,), daemon=True)
        launcher.start()
        record: ExecutorRecord | None = _wait(lambda: self._record(cycle.task_id), 60)
        if record is None:
            launcher.join(self.agent.timeout * 2)
            cycle.note = "the agent never prepared the task"
            cycle.seconds = time.monotonic() - start
            return cycle
        cycle.container_id = record.container_id
        cycle.sandbox = str(record.directory)
        self.cycles_by_cid[record.container_id] = cycle
        try:
            cycle.hit, cycle.note = self.inject(fault, cycle, record, launcher, start, delay)
        except SoakAbort:
            raise
        except Exception as err:  # the fault itself broke: say so, go on with the cycle
            cycle.note = f"injection failed: {type(err).__name__}: {err}"
        fault_done = time.monotonic()
        launcher.join(self.agent.timeout * 2)
        self._reach_terminal(cycle, record, start, fault_done)
        self._wait_completed(cycle, record)
        cycle.states = [
            mesos_pb2.TaskState.Name(u.status.state) for u in self.agent.updates(cycle.task_id)
        ]
        cycle.seconds = time.monotonic() - start
        if self.logs is not None:
            self._keep_logs(cycle, record)
        return cycle

    def _keep_logs(self, cycle: Cycle, record: ExecutorRecord) -> None:
        """The sandbox's stdout and stderr (the ECP's and the executor's log lines)."""
        assert self.logs is not None
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in ("stdout", "stderr"):
            with contextlib.suppress(OSError):
                shutil.copyfile(
                    Path(record.directory) / name,
                    self.logs / f"cycle-{cycle.index:03d}-{cycle.fault}.{name}",
                )

    def _launch(self, cycle: Cycle) -> None:
        try:
            self.agent.launch_task(task(cycle.task_id, self.image, cycle.command))
        except ECPError as err:
            cycle.launch_error = str(err).splitlines()[0]
        except Exception as err:  # the double itself: recorded, the cycle goes on
            cycle.launch_error = f"{type(err).__name__}: {err}"

    def _record(self, task_id: str) -> ExecutorRecord | None:
        try:
            return self.agent.executor(task_id)
        except KeyError:
            return None

    def _terminal(self, task_id: str) -> str | None:
        for update in self.agent.updates(task_id):
            if update.status.state in TERMINAL_STATES:
                return mesos_pb2.TaskState.Name(update.status.state)
        return None

    def _seen(self, task_id: str, state: int) -> bool:
        return any(u.status.state == state for u in self.agent.updates(task_id))

    def _last_state(self, task_id: str) -> str:
        updates = self.agent.updates(task_id)
        return mesos_pb2.TaskState.Name(updates[-1].status.state) if updates else "no update yet"

    def _reach_terminal(
        self, cycle: Cycle, record: ExecutorRecord, start: float, fault_done: float
    ) -> None:
        """Wait for the fault's own outcome; a task that still runs then is killed."""
        task_id = cycle.task_id

        def settled() -> bool:
            now = time.monotonic()
            if self._terminal(task_id) or now > start + BOOT_TIMEOUT_S:
                return True
            return now > fault_done + SETTLE_S and (
                self._seen(task_id, mesos_pb2.TASK_RUNNING) or record.completed
            )

        _wait(settled, BOOT_TIMEOUT_S + SETTLE_S, 0.2)
        if self._terminal(task_id) is None:
            cycle.forced_kill = True
            with contextlib.suppress(Exception):
                self.agent.kill_task(task_id, 1.0)
            _wait(lambda: self._terminal(task_id), KILL_WAIT_S, 0.2)
        if self._terminal(task_id) is None:
            with contextlib.suppress(Exception):
                self.agent.shutdown_executor(task_id)
            grace = self.agent.flags.executor_shutdown_grace_period_ns / 1e9
            _wait(lambda: self._terminal(task_id), grace + KILL_WAIT_S, 0.2)
        cycle.terminal = self._terminal(task_id) or "none"

    def _wait_completed(self, cycle: Cycle, record: ExecutorRecord) -> None:
        """The container must end soon after its task; one that does not is shut down."""
        if _wait(lambda: record.completed, LINGER_S, 0.2):
            return
        cycle.lingered = True
        with contextlib.suppress(Exception):
            self.agent.shutdown_executor(cycle.task_id)
        grace = self.agent.flags.executor_shutdown_grace_period_ns / 1e9
        if _wait(lambda: record.completed, grace + KILL_WAIT_S, 0.2):
            return
        with contextlib.suppress(Exception):
            self.agent.ecp.destroy(record.container_id)
        _wait(lambda: record.completed, KILL_WAIT_S, 0.2)

    # ---- faults --------------------------------------------------------------------

    def inject(
        self,
        fault: str,
        cycle: Cycle,
        record: ExecutorRecord,
        launcher: threading.Thread,
        start: float,
        fraction: float,
    ) -> tuple[bool, str]:
        """Inject ``fault`` at a moment ``fraction`` (0..1) into its window; (hit, note)."""
        cid, task_id = record.container_id, cycle.task_id

        def at() -> str:
            return f"at {time.monotonic() - start:.1f}s, task {self._last_state(task_id)}"

        if fault == "none":
            return True, "no fault"
        if fault == "kill_launch":
            return self._kill_launch(cid, fraction, at)
        if fault == "kill_executor":
            pid = _wait(
                lambda: self._executor_pid(cid) or (-1 if not launcher.is_alive() else 0), 60
            )
            if not pid or pid < 0:
                return False, "no executor was started"
            time.sleep(3.0 * fraction)  # the pull (cold on the first cycle) or the boot
            started = self.store.get(cid).pids.get("executor_start")
            if not executor_process.alive(pid, started) or not _sigkill(pid):
                return False, f"the executor had already exited {at()}"
            return True, f"SIGKILL executor {pid} {at()}"
        if fault == "kill_qemu":

            def booted() -> int | None:
                ended = record.completed or self._terminal(task_id) is not None
                return self._qemu_of(cid) or (-1 if ended else None)

            found = _wait(booted, BOOT_TIMEOUT_S, 0.1)
            if not found or found < 0:
                return False, "no QEMU ever ran"
            time.sleep(2.0 * fraction)
            pid = self._qemu_of(cid)
            if pid is None or not _sigkill(pid):
                return False, f"QEMU had already exited {at()}"
            return True, f"SIGKILL qemu {pid} {at()}"
        if fault == "restart_libvirtd":
            time.sleep(4.0 * fraction)
            when = at()
            try:
                how = restart_libvirtd()
            except SoakAbort:
                raise
            except Exception:
                ensure_libvirtd()
                raise
            return True, f"{how} {when}"
        if fault == "restart_agent":
            launcher.join(self.agent.timeout * 2)
            time.sleep(3.0 * fraction)
            when = at()
            try:
                result = self.agent.restart()
            except Exception as err:  # the double is half restarted: nothing sane follows
                raise SoakAbort(f"agent restart {when} failed: {err}") from err
            kept = "recovered" if cid in result.recovered else "not recovered"
            return True, f"agent restarted {when}; {kept}, {len(result.orphans)} orphans"
        if fault == "kill_task":
            time.sleep(4.0 * fraction)
            if self._terminal(task_id):
                return False, f"the task had already ended {at()}"
            grace = (None, 0.0, 2.0)[int(fraction * 1000) % 3]
            when = at()
            self.agent.kill_task(task_id, grace)
            return True, f"kill (grace {grace}) {when}"
        if fault == "shutdown_executor":
            time.sleep(4.0 * fraction)
            if record.completed:
                return False, f"the executor had already ended {at()}"
            when = at()
            self.agent.shutdown_executor(task_id)
            return True, f"executor shut down {when}"
        raise ValueError(f"unknown fault {fault!r}")

    def _kill_launch(self, cid: str, fraction: float, at: Callable[[], str]) -> tuple[bool, str]:
        """SIGKILL the `launch` process (``python -m mesos_hyper.containerizer.cli launch``
        in the session the agent started it in) at one of three moments picked by
        ``fraction``: early (reading the request), once its record is written, or once it
        has forked the executor (before the executor's pid is recorded). A blind delay would
        mostly miss the last two, which are the ones that can leave something behind; the
        note says where it really was."""

        def invocation() -> int | None:
            for inv in self.agent.ecp.invocations:
                if inv.command == "launch" and inv.container_id == cid:
                    return inv.pid
            return None

        session = _wait(invocation, 30, 0.005)
        if session is None:
            return False, "no launch was invoked"

        def launch_process() -> int | None:
            for pid in session_members(session):
                argv = _argv(pid)
                if "mesos_hyper.containerizer.cli" in argv and "launch" in argv:
                    return pid
            return None

        pid = _wait(launch_process, 10, 0.005)
        if pid is None:
            return False, f"launch had already exited {at()}"
        aim = min(int(fraction * 3), 2)
        written = self.store.containers_dir / cid / "record.json"
        if aim == 0:
            time.sleep(0.1 * fraction * 3)
        elif aim == 1:
            _wait(lambda: written.exists() or not _alive(pid), 20, 0.002)
        else:
            _wait(lambda: _children(pid) or not _alive(pid), 20, 0.002)
        if self._executor_pid(cid):  # where it really was: the aim is only approximate
            stage = "after it recorded the executor's pid"
        elif _children(pid):
            stage = "after it forked the executor"
        elif written.exists():
            stage = "after its record, before the fork"
        else:
            stage = "before its record"
        if not _alive(pid) or not _sigkill(pid):
            return False, f"launch had already exited {at()}"
        return True, f"SIGKILL launch {pid} {stage} {at()}"

    def _executor_pid(self, cid: str) -> int | None:
        try:
            return self.store.get(cid).pids.get("executor")
        except Exception:
            return None

    def _domains_of(self, cid: str) -> set[str]:
        """The container's VM: ``mh-<id>`` booted cold, or the pool VM its record names."""
        return {domain_name(cid)} | ({vm} if (vm := self.agent.vm_name(cid)) else set())

    def _qemu_of(self, cid: str) -> int | None:
        names = self._domains_of(cid)
        for pid, domain in qemu_pids().items():
            if domain in names:
                return pid
        return None

    # ---- census --------------------------------------------------------------------

    def census(self) -> dict[str, set[str]]:
        """What the host holds for containers of this run (none should be live now).

        A source that cannot be read is a census error (the report is then not clean):
        a census that silently skips libvirt would call a leaking run clean.
        """
        self.census_errors = []
        found: dict[str, set[str]] = {}
        for source in (
            self._census_domains,
            self._census_processes,
            self._census_network,
            self._census_files,
        ):
            try:
                source(found)
            except Exception as err:
                self.census_errors.append(f"{source.__name__}: {type(err).__name__}: {err}")
        return found

    def _census_domains(self, found: dict[str, set[str]]) -> None:
        ensure_libvirtd()  # a census must not fail on a libvirtd some fault left down
        names = {name for cid in self.cycles_by_cid for name in self._domains_of(cid)}
        for dom in list_ours():
            if dom.metadata.get("state-root") == str(self.store.root) or dom.name in names:
                state = "running" if dom.active else "defined"
                found.setdefault("libvirt domains", set()).add(f"{dom.name} ({state})")

    def _census_processes(self, found: dict[str, set[str]]) -> None:
        ours = {name for cid in self.cycles_by_cid for name in self._domains_of(cid)}
        pool = waiting_pool_vms()  # the warm pool's idle and booting VMs
        for pid, domain in qemu_pids().items():
            if domain in ours and domain not in pool:
                found.setdefault("qemu processes", set()).add(f"pid {pid} ({domain})")
            elif pid not in self.qemu_before and domain not in pool:
                self._warn(f"a QEMU not of this soak appeared: pid {pid} ({domain})")
        for pid, argv in _processes():
            joined = " ".join(argv)
            if "mesos_hyper.executor" in joined:
                env = _environ(pid)
                if env.get("MESOS_HYPER_STATE_ROOT") == str(self.store.root):
                    found.setdefault("executor processes", set()).add(
                        f"pid {pid} ({env.get('MESOS_HYPER_CONTAINER_ID')})"
                    )
            elif Path(argv[0]).name == "virtiofsd" and str(self.tmp) in joined:
                found.setdefault("virtiofsd processes", set()).add(f"pid {pid} ({joined[-80:]})")
            elif "mesos_hyper.containerizer.cli" in joined:
                env = _environ(pid)
                if env.get("MESOS_WORK_DIRECTORY") == str(self.agent.flags.work_dir):
                    found.setdefault("ECP processes", set()).add(f"pid {pid} ({argv[-1]})")

    def _census_network(self, found: dict[str, set[str]]) -> None:
        by_tap = {links.tap_name(cid): cid for cid in self.cycles_by_cid}
        for tap in links.list_taps(self.net):
            if tap in by_tap:
                found.setdefault("taps", set()).add(f"{tap} ({by_tap[tap]})")
            elif tap not in self.taps_before:
                self._warn(f"a tap not of this soak appeared: {tap}")
        if os.path.exists(f"/run/netns/{self.net.netns}"):
            for owner in firewall.owned(self.net):
                found.setdefault("nft rules", set()).add(f"owned by {owner}")

    def _census_files(self, found: dict[str, set[str]]) -> None:
        for addr, owner in ipam.leases(self.net).items():
            found.setdefault("address leases", set()).add(f"{addr} ({owner})")
        if self.paths.containers.is_dir():
            for entry in os.listdir(self.paths.containers):
                found.setdefault("container dirs (overlays)", set()).add(
                    str(self.paths.containers / entry)
                )
        for rec in self.store.list():
            if rec.live:
                found.setdefault("live container records", set()).add(
                    f"{rec.container_id} ({rec.status.value})"
                )
        for cid, cycle in self.cycles_by_cid.items():
            for name in ("stdout", "stderr"):  # pinned files the agent's GC cannot remove
                path = Path(cycle.sandbox) / name
                if cycle.sandbox and _append_only(path):
                    found.setdefault("append-only sandbox files", set()).add(
                        f"{cycle.task_id}'s sandbox {name} ({cid})"
                    )
        sockets = socket_path("x", self.paths).parent
        if sockets.is_dir():
            for entry in os.listdir(sockets):
                found.setdefault("exec sockets", set()).add(str(sockets / entry))

    def _warn(self, line: str) -> None:
        if line not in self.report.warnings:
            self.report.warnings.append(line)

    def census_step(self, when: str) -> None:
        """A census once the newest cycles have had time to finish cleaning up."""
        deadline = time.monotonic() + CENSUS_SETTLE_S
        while True:
            found = self.census()
            new = {k: v - self.known_leaks.get(k, set()) for k, v in found.items()}
            if not any(new.values()) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        for kind, items in found.items():
            for item in sorted(items - self.known_leaks.get(kind, set())):
                owner = next((c for cid, c in self.cycles_by_cid.items() if cid in item), None)
                where = f"cycle {owner.index} {owner.fault}: {owner.note}" if owner else "?"
                self.report.leak_cycles.setdefault(item, where)
                self.say(f"  leak ({when}): {kind}: {item}  [{where}]")
                seen = self.report.leaks.setdefault(kind, [])
                if item not in seen:
                    seen.append(item)
        self.known_leaks = found
        self.report.leaks_at_end = {k: sorted(v) for k, v in found.items() if v}
        for error in self.census_errors:
            self.say(f"  census error ({when}): {error}")
            if error not in self.report.census_errors:
                self.report.census_errors.append(error)

    # ---- the end ---------------------------------------------------------------------

    def close(self) -> None:
        """Counted already: now every trace of the run goes, leaks included. Each step runs
        whatever the others did; what fails is a warning (and residue, if it stays)."""
        self.report.ecp_failures = self.agent.errors
        steps: list[tuple[str, Callable[[], object]]] = [
            ("agent shutdown", self._shutdown_agent),
            ("libvirtd", ensure_libvirtd),
            ("processes", self._kill_ours),
            ("domains", self._destroy_domains),
            ("networks", self._teardown_networks),
            ("directories", self._remove_tree),
        ]
        for name, step in steps:
            try:
                step()
            except Exception as err:
                self._warn(f"cleanup step {name} failed: {type(err).__name__}: {err}")
        self.report.residue = {k: sorted(v) for k, v in self.census().items() if v}
        if self.tmp.exists():
            self.report.residue["soak directory"] = [str(self.tmp)]

    def _shutdown_agent(self) -> None:
        try:
            self.agent.shutdown()
        except LeakError as err:  # ECP calls that outlived the agent
            self.report.leaks.setdefault("ECP processes after the agent", []).append(
                str(err).splitlines()[0]
            )

    def _kill_ours(self) -> None:
        """Leaked executors (and QEMU, ECP calls) of this run; gone before their files go."""
        found: dict[str, set[str]] = {}
        self._census_processes(found)
        pids = {int(item.split()[1]) for items in found.values() for item in items}
        for pid in pids:
            _sigkill(pid)
        wait_gone(pids, time.monotonic() + 10)

    def _destroy_domains(self) -> None:
        found: dict[str, set[str]] = {}
        self._census_domains(found)
        for item in found.get("libvirt domains", ()):
            destroy_by_name(item.split()[0])

    def _remove_tree(self) -> None:
        """Sandbox outputs a dead executor left append-only would block the removal."""
        for path in self.tmp.rglob("*"):
            if path.is_file() and not path.is_symlink() and _append_only(path):
                _set_flags(path, 0, FS_APPEND_FL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _teardown_networks(self) -> None:
        """Rules and taps would go with the namespace; this is the tidy way."""
        for cid in self.cycles_by_cid:
            net.teardown(self.net, cid)


FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_APPEND_FL = 0x00000020


def _set_flags(path: Path, add: int, remove: int) -> int | None:
    """chattr on one file (no link followed); its flags before, None if unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        flags: int = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
        wanted = (flags | add) & ~remove
        if wanted != flags:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", wanted))
        return flags
    except OSError:
        return None
    finally:
        os.close(fd)


def _append_only(path: Path) -> bool:
    flags = _set_flags(path, 0, 0)
    return flags is not None and bool(flags & FS_APPEND_FL)


def _children(pid: int) -> list[int]:
    """The process's children, from every one of its threads."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found += [
                    int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
                ]
    return found


def _argv(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def schedule_for(cycles: int, seed: int, faults: Sequence[str], round_robin: bool) -> list[str]:
    """One fault per cycle: at random, or each kind in turn (every kind in len(faults))."""
    if round_robin:
        return [faults[i % len(faults)] for i in range(cycles)]
    rng = random.Random(seed ^ 0x5EED)
    return [rng.choice(faults) for _ in range(cycles)]


@contextlib.contextmanager
def busybox_image() -> Iterator[str]:
    """A busybox image, as the tests build it, in a registry of our own on 127.0.0.1."""
    from mesos_hyper.images.build import build_image, demo_rootfs, layer_from_dir, push_image
    from tests.registry_fixtures import start_registry

    work = Path(tempfile.mkdtemp(prefix="mh-soak-registry."))
    registry = None
    try:
        registry = start_registry(work / "registry")
        rootfs = work / "rootfs"
        rootfs.mkdir()
        demo_rootfs(rootfs)
        ref = f"{registry.host}/soak/busybox:1"
        push_image(build_image([layer_from_dir(rootfs)], cmd=["/bin/sh"]), ref)
        yield ref
    finally:
        if registry is not None:
            registry.stop()
        shutil.rmtree(work, ignore_errors=True)


def soak(
    cycles: int,
    seed: int,
    *,
    image: str | None = None,
    faults: Sequence[str] = FAULTS,
    round_robin: bool = False,
    census_every: int = 1,
    command: str | None = None,
    logs: Path | None = None,
    budget_s: float | None = None,
    progress: TextIO = sys.stderr,
) -> Report:
    """The whole run: network namespaces, registry (unless ``image``), cycles, census,
    cleanup; a Report even when the soak stopped early (then it is not clean)."""
    schedule = schedule_for(cycles, seed, faults, round_robin)
    with contextlib.ExitStack() as stack:
        network = stack.enter_context(make_test_network())
        ref = image or stack.enter_context(busybox_image())
        run = Soak(
            ref,
            network.host,
            seed,
            census_every=census_every,
            command=command,
            logs=logs,
            progress=progress,
        )
        report = run.report
        report.namespaces = list(network.made)
        try:
            run.run(schedule, budget_s)
        except Exception as err:
            run.say(f"soak stopped early: {type(err).__name__}: {err}")
            with contextlib.suppress(Exception):
                run.census_step("after the error")
            report.leaks.setdefault("soak stopped early", []).append(f"{type(err).__name__}: {err}")
        finally:
            run.close()
    left = [name for name in network.made if os.path.exists(f"/run/netns/{name}")]
    if left:
        report.residue["network namespaces"] = left
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    parser.add_argument("--image", help="default: a busybox image in a registry started here")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help=f"comma list of {', '.join(FAULTS)}"
    )
    parser.add_argument("--round-robin", action="store_true", help="each fault kind in turn")
    parser.add_argument(
        "--census-every", type=int, default=1, metavar="K", help="census every K cycles (0: end)"
    )
    parser.add_argument("--command", help="the task's shell command (default: sleep 30 or echo hi)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--logs", type=Path, help="keep each cycle's sandbox stdout/stderr here")
    parser.add_argument(
        "--time-budget", type=float, metavar="S", help="start no cycle after S seconds"
    )
    args = parser.parse_args(argv)
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = set(faults) - set(FAULTS)
    if unknown or not faults:
        parser.error(f"unknown faults {sorted(unknown)}; choose from {', '.join(FAULTS)}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # `timeout` too: the cleanup still runs

    signal.signal(signal.SIGTERM, interrupted)
    print(f"soak: seed {seed}", file=sys.stderr, flush=True)
    try:
        report = soak(
            args.cycles,
            seed,
            image=args.image,
            faults=faults,
            round_robin=args.round_robin,
            census_every=args.census_every,
            command=args.command,
            logs=args.logs,
            budget_s=args.time_budget,
        )
    finally:
        ensure_libvirtd()  # whatever happened, the host's libvirtd answers as before
    print(report.summary())
    if args.json:
        args.json.write_text(report.to_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
