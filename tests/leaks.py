"""What a test can leave behind on the host, and the check that it left nothing.

``LeakCheck`` snapshots each kind of leftover before a test and diffs after it:
libvirt domains; QEMU, virtiofsd and pod executor processes (the warm pool's idle VMs
excepted); taps; nft rules,
sets and tables in the pod network's namespace; and, per state root, address
leases, per-container overlay directories, live container records and exec
sockets. Roots a test moves through an agent's environment (its own
``MESOS_HYPER_ROOT``, its work dir) are added with ``watch_root``/``watch_agent``
before the test uses them. Processes still exiting get a bounded wait on their
pidfds; nothing sleeps on a clock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mesos_hyper.config import Paths
from mesos_hyper.containerizer.executor_process import start_time
from mesos_hyper.host.owners import argv_of, is_executor, is_qemu, is_virtiofsd, qemu_domain
from mesos_hyper.state import StateStore

if TYPE_CHECKING:
    from tests.agent_double import Agent

PROCESS_EXIT_GRACE_S = 20.0
"""How long leaked processes get to exit (on a loaded machine) before they count."""
NFT_TABLE = "mesos_hyper"  # vmctl.network.firewall.TABLE: made once, kept for the namespace
NFT_COMMENT = "mh:"  # every rule a container adds carries "mh:<container id>"

Snapshot = dict[str, frozenset[object]]
Probe = Callable[[], Mapping[str, Iterable[object]]]


@dataclass(frozen=True)
class Proc:
    """A process, told apart from a later one with its pid by its start time."""

    pid: int
    start: int
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.cmdline}"


PROCESS_KINDS: dict[str, Callable[[list[bytes]], bool]] = {
    "qemu processes": is_qemu,
    "virtiofsd processes": is_virtiofsd,
    "executor processes": is_executor,
}


def process_probe(kinds: Mapping[str, Callable[[list[bytes]], bool]] = PROCESS_KINDS) -> Probe:
    """One pass over /proc sorting processes into ``kinds`` by their argv."""

    def probe() -> dict[str, set[object]]:
        found: dict[str, set[object]] = {kind: set() for kind in kinds}
        pool = waiting_pool_vms()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                argv = argv_of(entry)
            except OSError:
                continue
            if is_qemu(argv) and qemu_domain(argv) in pool:
                continue
            if is_virtiofsd(argv) and virtiofsd_vm(argv) in pool:  # its share's daemon
                continue
            for kind, matches in kinds.items():
                if matches(argv):
                    start = start_time(int(entry))
                    if start is not None:
                        cmdline = b" ".join(argv).decode(errors="replace")
                        found[kind].add(Proc(int(entry), start, cmdline))
        return found

    return probe


def waiting_pool_vms() -> set[str]:
    """Warm-pool VMs that are idle or booting, in any pool (the suite's, or one a set-up
    step filled): the pool's, not a test's leftovers. A claimed one that outlives its task
    is a leak like any other VM.

    A VM the filler is booting has its tap and share before libvirt has its domain, so
    the entries of the pools in sight (those of our domains, and this environment's)
    are what counts, not the domains.
    """
    from vmctl.lifecycle import list_ours

    infos = list_ours()
    pools = {Path(p) for info in infos if (p := info.metadata.get("pool"))}
    pools.add(Paths.from_env().pool)
    waiting: set[str] = set()
    for pool in pools:
        for state in ("idle", "filling"):
            with contextlib.suppress(OSError):
                waiting.update(entry.name for entry in (pool / state).iterdir())
    return waiting


def virtiofsd_vm(argv: list[bytes]) -> str | None:
    """The pool VM whose own share a virtiofsd serves (vmctl.shares), if any."""
    from vmctl import shares

    prefix = f"source={shares.VM_SHARES}/".encode()
    for arg in argv:
        for option in arg.split(b","):
            if option.startswith(prefix):
                return option[len(prefix) :].split(b"/")[0].decode(errors="replace")
    return None


def domain_probe() -> dict[str, set[object]]:
    from vmctl.lifecycle import list_ours

    pool = waiting_pool_vms()
    return {"libvirt domains": {d.name for d in list_ours() if d.name not in pool}}


def network_probe() -> dict[str, set[object]]:
    """Taps, and in the pod network's namespace the nft rules and sets containers own and
    any table besides the two base ones (made once and kept; other tables count only in a
    namespace of the pod network's own, not in the host's)."""
    from vmctl import shares
    from vmctl.network import links
    from vmctl.network.netns import nsenter_prefix
    from vmctl.network.settings import NetSettings

    settings = NetSettings.from_env()
    waiting = waiting_pool_vms()
    pool_taps = {links.pool_tap_name(name) for name in waiting}
    found: dict[str, set[object]] = {"taps": set(links.list_taps(settings)) - pool_taps}
    # a waiting pool VM's share directory and its read-only bind; nothing bound into it
    pool_dirs = {str(shares.vm_dir(name)) for name in waiting}
    found["VM share mounts and directories"] = set(shares.leftovers()) - pool_dirs
    rules: set[object] = set()
    sets: set[object] = set()
    tables: set[object] = set()
    if shutil.which("nft") is not None:
        cmd = [*nsenter_prefix(settings.netns), "nft", "-j", "-a", "list", "ruleset"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
        items = json.loads(res.stdout).get("nftables", []) if res.stdout.strip() else []
        for item in items:
            if "table" in item:
                table = item["table"]
                ours = table["name"] == NFT_TABLE and table["family"] in ("inet", "bridge")
                if not ours and settings.netns is not None:  # the host's own come and go
                    tables.add(f"table {table['family']} {table['name']}")
            elif "rule" in item:
                rule = item["rule"]
                comment = str(rule.get("comment", ""))
                if rule.get("table") == NFT_TABLE and comment.startswith(NFT_COMMENT):
                    rules.add(
                        f"{rule['family']} {NFT_TABLE} {rule['chain']} "
                        f"handle {rule['handle']} ({comment})"
                    )
            elif "set" in item:
                group = item["set"]
                if group.get("table") == NFT_TABLE and group["name"] != "blocked":
                    elems = sorted(str(e) for e in group.get("elem", []))
                    sets.add(f"{group['family']} {NFT_TABLE} {group['name']} {elems}")
    found.update({"nft rules": rules, "nft sets": sets, "nft tables": tables})
    return found


def root_probe(root: Path) -> Probe:
    """Address leases, per-container overlay directories and `run` pods' output copies
under a MESOS_HYPER_ROOT."""
    from vmctl.network import ipam
    from vmctl.network.settings import NetSettings

    def probe() -> dict[str, set[object]]:
        lease_dir = root / "net" / "leases"  # as NetSettings.from_env places it
        settings = dataclasses.replace(NetSettings.from_env(), lease_dir=lease_dir)
        leases = {f"{addr} (container {owner})" for addr, owner in ipam.leases(settings).items()}
        containers = root / "containers"
        overlays = set(os.listdir(containers)) if containers.is_dir() else set()
        run_logs = root / "run-logs"
        outputs = set(os.listdir(run_logs)) if run_logs.is_dir() else set()
        return {
            f"address leases in {lease_dir}": leases,
            f"overlays in {containers}": overlays,
            f"run output copies in {run_logs}": outputs,
        }

    return probe


def records_probe(state_root: Path) -> Probe:
    """Container records not yet terminated in a state store (an agent's work dir)."""

    def probe() -> dict[str, set[object]]:
        records = StateStore(state_root).list()
        live = {f"{r.container_id} ({r.status.value})" for r in records if r.live}
        return {f"live container records in {state_root}": live}

    return probe


def exec_socket_probe(run_dir: Path) -> Probe:
    """The executors' exec sockets (mesos_hyper.executor.exec_socket.socket_path)."""

    def probe() -> dict[str, set[object]]:
        directory = run_dir / "exec"
        return {f"exec sockets in {directory}": {p.name for p in directory.glob("*.sock")}}

    return probe


def wait_exited(procs: Iterable[Proc], deadline: float) -> None:
    """Until each process has exited or ``deadline`` (monotonic) passes; a pid that is
    another process's by now (a new start time) is not waited for."""
    from tests.agent_double.procs import wait_gone

    wait_gone([p.pid for p in procs if start_time(p.pid) == p.start], deadline)


class LeakCheck:
    """Snapshots before a test; ``check()`` raises AssertionError naming what leaked."""

    def __init__(self, probes: Iterable[Probe], grace_s: float = PROCESS_EXIT_GRACE_S) -> None:
        self.grace_s = grace_s
        self._probes: list[Probe] = []
        self._before: Snapshot = {}
        self._reported: set[str] = set()
        self._watched: set[tuple[str, Path]] = set()
        for probe in probes:
            self.add(probe)

    @classmethod
    def for_host(cls) -> LeakCheck:
        """Everything of the host and the paths the test process's environment names."""
        paths = Paths.from_env()
        probes = [domain_probe, process_probe(), network_probe]
        check = cls(probes)
        check.watch_root(paths.root)
        check.watch_run_dir(paths.run)
        work_dir = os.environ.get("MESOS_WORK_DIRECTORY")
        if work_dir:
            check.watch_state(Path(work_dir) / "mesos-hyper")
        return check

    def add(self, probe: Probe) -> None:
        """Watch one more probe from now on (its current state is the baseline)."""
        self._probes.append(probe)
        for kind, items in probe().items():
            self._before[kind] = self._before.get(kind, frozenset()) | frozenset(items)

    def _watch(self, kind: str, path: Path, probe: Callable[[Path], Probe]) -> None:
        key = (kind, Path(path).resolve())
        if key not in self._watched:
            self._watched.add(key)
            self.add(probe(key[1]))

    def watch_root(self, root: Path) -> None:
        """Leases and overlays under a MESOS_HYPER_ROOT (watched once however often named)."""
        self._watch("root", root, root_probe)

    def watch_state(self, state_root: Path) -> None:
        """Live records of a state store root (``$MESOS_WORK_DIRECTORY/mesos-hyper``)."""
        self._watch("state", state_root, records_probe)

    def watch_run_dir(self, run_dir: Path) -> None:
        """Exec sockets under a MESOS_HYPER_RUN_DIR."""
        self._watch("run", run_dir, exec_socket_probe)

    def watch_agent(self, agent: Agent) -> None:
        """What an agent double's ECP and executors use: its env's root and run dir, and the
        state store under its work dir. Call before the agent launches anything."""
        env = agent.env
        self.watch_root(Path(env.get("MESOS_HYPER_ROOT") or "/var/lib/mesos-hyper"))
        self.watch_run_dir(Path(env.get("MESOS_HYPER_RUN_DIR") or "/run/mesos-hyper"))
        self.watch_state(agent.flags.work_dir / "mesos-hyper")

    def snapshot(self) -> Snapshot:
        found: dict[str, frozenset[object]] = {}
        for probe in self._probes:
            for kind, items in probe().items():
                found[kind] = found.get(kind, frozenset()) | frozenset(items)
        return found

    def leaked(self) -> dict[str, set[object]]:
        """What is there now and was not before, by kind; processes get to exit first."""
        diff = self._diff(self.snapshot())
        exiting = [p for items in diff.values() for p in items if isinstance(p, Proc)]
        if exiting:
            wait_exited(exiting, time.monotonic() + self.grace_s)
            diff = self._diff(self.snapshot())  # exiting processes may take things along
        return diff

    def _diff(self, now: Snapshot) -> dict[str, set[object]]:
        out = {}
        for kind, items in now.items():
            new = set(items - self._before.get(kind, frozenset()))
            if new:
                out[kind] = new
        return out

    def check(self) -> None:
        """Raise AssertionError listing every leftover not reported by an earlier check."""
        lines = []
        for kind, items in sorted(self.leaked().items()):
            for item in sorted(items, key=str):
                line = f"{kind}: {item}"
                if line not in self._reported:
                    self._reported.add(line)
                    lines.append(line)
        if lines:
            raise AssertionError("the test leaked:\n  " + "\n  ".join(lines))
