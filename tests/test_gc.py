"""`mesos-hyper gc` on real leftovers: a task whose executor was SIGKILLed while nothing
watched it (its VM, tap, lease, nft rules, overlay, exec socket and live record stay), a
`mesos-hyper run` SIGKILLed under its VM, records long dead, unused images and a base disk
whose image is gone. A dry run lists each and changes nothing, gc removes each, a second
gc finds nothing; a live task and a live `run` pod are untouched and still work."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from mesos_hyper.config import Paths
from mesos_hyper.containerizer.ecp import LAUNCH_LOCK, RECORD_TTL_S
from mesos_hyper.containerizer.executor_process import start_time
from mesos_hyper.host import owners
from mesos_hyper.images.build import build_image, push_image
from mesos_hyper.images.store import ImageStore
from mesos_hyper.proto import mesos_pb2
from mesos_hyper.state import StateStore, Termination
from mesos_hyper.state.locks import flocked
from tests.agent_double import Agent
from tests.registry_fixtures import registry  # noqa: F401
from tests.test_ecp_e2e import ECP, busybox_layer, image, task  # noqa: F401
from vmctl.lifecycle import list_ours, lookup
from vmctl.network import firewall, ipam, links
from vmctl.network.settings import NetSettings

pytestmark = pytest.mark.vm
CLI = [sys.executable, "-m", "mesos_hyper.cli"]


@pytest.fixture
def agent(tmp_path, no_leaks):
    """An agent double with its own state root and run dir (gc would see the host's exec
    sockets in the shared one), checked for leftovers before the root goes."""
    root = Path(tempfile.mkdtemp(prefix="mh-test-gc."))
    root.chmod(0o711)
    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": str(root),
        "MESOS_HYPER_RUN_DIR": str(root / "run"),
        "MESOS_HYPER_GUEST_DIR": str(Paths.from_env().guest),
    }
    double = Agent(tmp_path, ECP, env, timeout=120, registration_timeout=120, switch_user=False)
    no_leaks.watch_agent(double)
    yield double
    try:
        double.shutdown()
    finally:
        try:
            no_leaks.check()
        finally:
            shutil.rmtree(root, ignore_errors=True)


class RunPod:
    """A `mesos-hyper run` in the background; its stdout lines are collected."""

    def __init__(self, agent: Agent, ref: str, name: str, shell: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [*CLI, "run", "--name", name, ref, "sh", "-c", shell],
            env=agent.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def wait_for_lines(self, count: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            assert self.proc.poll() is None, f"run {self.name} ended: {self.lines}"
            assert time.monotonic() < deadline, f"run {self.name} printed only {self.lines}"
            time.sleep(0.2)

    def domain(self) -> str:
        (name,) = [d.name for d in list_ours() if d.metadata.get("name") == self.name]
        return name


def gc(agent: Agent, *args: str, grace: str = "0") -> subprocess.CompletedProcess:
    """gc as an operator runs it beside this agent: its environment, its state root."""
    env = {**agent.env, "MESOS_HYPER_GC_GRACE_SECONDS": grace}
    roots = ["--state-root", str(agent.flags.work_dir / "mesos-hyper")]
    res = subprocess.run(
        [*CLI, "gc", *roots, *args], env=env, capture_output=True, text=True, timeout=300
    )
    print(f"$ gc {' '.join(args)}\n{res.stdout}{res.stderr}")
    return res


def kill_executor_unwatched(agent: Agent, container_id: str) -> None:
    """SIGKILL the executor while the agent's `wait` (which would clean up) is stopped."""
    container = agent.ecp._actives[container_id]
    agent.wait_for(lambda: container.wait_process is not None, timeout=30)
    os.killpg(container.wait_process.pid, signal.SIGSTOP)
    store = StateStore(agent.flags.work_dir / "mesos-hyper")
    pid = store.get(container_id).pids["executor"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def _tick(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def test_gc_removes_each_leftover_after_a_dry_run_and_spares_live_pods(
    agent,
    image,  # noqa: F811
    registry,  # noqa: F811
    busybox_layer,  # noqa: F811
):
    root = Path(agent.env["MESOS_HYPER_ROOT"])
    store = StateStore(agent.flags.work_dir / "mesos-hyper")
    settings = NetSettings.from_env()
    lease_settings = dataclasses.replace(settings, lease_dir=root / "net" / "leases")

    # live: a task that ticks into its sandbox, and a run pod that ticks on stdout
    alive = agent.launch_task(
        task("alive", image, "while :; do date +%s%N > $MESOS_SANDBOX/tick; sleep 1; done")
    )
    victim = agent.launch_task(task("victim", image, "sleep 1000"))
    keeper = RunPod(agent, image, "keeper", "while :; do echo tick; sleep 1; done")
    orphan = RunPod(agent, image, "orphan", "echo up; sleep 1000")
    for task_id in ("alive", "victim"):
        agent.wait_for_state(task_id, mesos_pb2.TASK_RUNNING, timeout=240)
    keeper.wait_for_lines(1)
    orphan.wait_for_lines(1)
    alive_vm, victim_vm = agent.vm_name(alive.container_id), agent.vm_name(victim.container_id)
    keeper_vm, orphan_vm = keeper.domain(), orphan.domain()

    # the leftovers, made for real
    orphan.proc.kill()
    orphan.proc.wait(30)
    kill_executor_unwatched(agent, victim.container_id)
    cid = victim.container_id
    tap = links.tap_name(cid)
    addr = ipam.lease_of(lease_settings, cid)
    overlays = [root / "containers" / cid, root / "containers" / "orphan"]
    sock = root / "run" / "exec" / f"{cid}.sock"
    orphan_output = root / "run-logs" / "orphan"
    ended = Termination(status=9, state="TASK_FAILED", reasons=(), message="long ago")
    store.create("ancient")
    store.mark_terminated("ancient", ended)
    store.update("ancient", terminated_at=time.time() - 2 * RECORD_TTL_S)
    store.create("interrupted")  # a launch killed before it started the executor
    store.update("interrupted", created_at=time.time() - 60)

    def leftovers_there() -> list[bool]:
        return [
            lookup(victim_vm) is not None,
            lookup(orphan_vm) is not None,
            tap in links.list_taps(settings),
            ipam.lease_of(lease_settings, cid) is not None,
            cid in firewall.owned(settings),
            *(p.is_dir() for p in overlays),
            sock.exists(),
            orphan_output.is_dir(),
            (root / "run" / "exec" / "orphan.sock").exists(),
            store.get(cid).live,
            store.get("interrupted").live,
            "ancient" in {r.container_id for r in store.list()},
        ]

    assert addr is not None
    assert all(leftovers_there()), leftovers_there()
    state_root = store.root.resolve()
    gone = f"container {cid}: its executor is gone"
    expected = [
        ("remove", f"domain {victim_vm} ({gone})"),
        ("remove", f"domain {orphan_vm} (pod orphan: no process drives it)"),
        ("remove", f"nft rules mh:{cid} ({gone})"),
        ("remove", f"tap {tap} ({gone})"),
        ("remove", f"lease {addr} in {root / 'net' / 'leases'} ({gone})"),
        ("remove", f"overlay {overlays[0]} ({gone})"),
        ("remove", f"overlay {overlays[1]} (pod orphan: no process drives it)"),
        ("remove", f"exec socket {sock} ({gone})"),
        ("remove", f"run output {orphan_output} (pod orphan: its `mesos-hyper run` is gone)"),
        (
            "remove",
            f"exec socket {root / 'run' / 'exec' / 'orphan.sock'} (pod orphan: no executor or "
            "`mesos-hyper run` serves it)",
        ),
        ("mark terminated", f"record {cid} in {state_root} (its executor is gone)"),
        (
            "mark terminated",
            f"record interrupted in {state_root} (its launch was interrupted before the executor",
        ),
        ("remove", f"record ancient in {state_root} (terminated 2 h ago"),
    ]
    spared = [alive.container_id, alive_vm, keeper_vm, "keeper", "alive"]

    # a process still connected to the dead container's VM: in doubt, all of it is kept
    with socket.socket(socket.AF_UNIX) as attached:
        attached.connect(str(sorted(overlays[0].glob("*.sock"))[0]))
        doubt = gc(agent, "--dry-run")
    assert f"kept domain {victim_vm} ({gone}, but pid {os.getpid()} (" in doubt.stdout
    assert not [line for line in doubt.stdout.splitlines() if cid in line and "would" in line]

    dry = gc(agent, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    for verb, line in expected:
        assert f"would {verb} {line}" in dry.stdout
    assert f"gc: {len(expected)} to remove (dry run: nothing changed)" in dry.stdout
    assert all(leftovers_there()), leftovers_there()

    done = gc(agent)
    assert done.returncode == 0, done.stdout + done.stderr
    for verb, line in expected:
        past = "removed" if verb == "remove" else "marked terminated"
        assert f"{past} {line}" in done.stdout
    assert f"gc: {len(expected)} removed" in done.stdout
    assert not any(leftovers_there()), leftovers_there()
    for out in (dry.stdout, done.stdout):
        assert not [line for line in out.splitlines() for s in spared if s in line], out

    again = gc(agent)
    assert again.returncode == 0 and again.stdout.strip() == "gc: nothing left behind", again.stdout

    # the live pods are untouched and still run, the run pod's exec and output copy too
    assert lookup(alive_vm) is not None and lookup(keeper_vm) is not None
    execd = subprocess.run(
        [*CLI, "exec", "keeper", "--", "echo", "still here"],
        env=agent.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert execd.returncode == 0 and execd.stdout == "still here\n", execd.stderr
    assert (root / "run-logs" / "keeper" / "stdout").read_text().startswith("tick\n")
    tick = Path(alive.directory) / "tick"
    before, seen = _tick(tick), len(keeper.lines)
    agent.wait_for(lambda: _tick(tick) != before, timeout=30)
    keeper.wait_for_lines(seen + 2, timeout=30)

    # the agent's `wait` goes on and reports the end gc recorded
    os.killpg(agent.ecp._actives[cid].wait_process.pid, signal.SIGCONT)
    agent.wait_for(lambda: victim.completed, timeout=60)
    assert "mesos-hyper gc found the container dead" in victim.termination.result().message

    # images: one no container uses, and a base disk whose image is gone (an rmi that died
    # between dropping the record and the disk)
    images = ImageStore(root / "images")
    refs = {}
    for name, cmd in (("unused", ["/bin/true"]), ("orphaned", ["/bin/false"])):
        refs[name] = f"{registry.host}/t/{name}:1"
        push_image(build_image([busybox_layer], cmd=cmd), refs[name])
        images.base_disk(images.pull(refs[name]))
    unused, orphaned = images.get(refs["unused"]), images.get(refs["orphaned"])
    orphan_disk = images.disks / orphaned.id.removeprefix("sha256:")
    (images.records / f"{orphaned.id.removeprefix('sha256:')}.json").unlink()
    used = images.get(image)

    young = gc(agent, "--images", "--dry-run", grace="600")
    assert f"kept image {refs['unused']} ({unused.short_id}) (pulled or used" in young.stdout
    assert f"kept base disk {orphan_disk} (made " in young.stdout

    dry = gc(agent, "--images", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove image {refs['unused']} ({unused.short_id}) (no container uses it)" in (
        dry.stdout
    )
    assert f"would remove base disk {orphan_disk} (its image is gone)" in dry.stdout
    assert used.short_id not in dry.stdout
    assert images.get(refs["unused"]) and orphan_disk.is_dir()
    assert "image" not in gc(agent, "--dry-run").stdout  # not without --images

    done = gc(agent, "--images")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed image {refs['unused']} ({unused.short_id})" in done.stdout
    assert f"removed base disk {orphan_disk}" in done.stdout
    assert {i.id for i in images.list()} == {used.id}
    assert not orphan_disk.exists()
    assert gc(agent, "--images").stdout.strip() == "gc: nothing left behind"

    keeper.proc.send_signal(signal.SIGTERM)
    keeper.proc.wait(60)
    agent.kill_task("alive")
    agent.wait_for_state("alive", mesos_pb2.TASK_KILLED, timeout=60)


def test_gc_says_what_it_is_doing_on_a_terminal_only(tmp_path):
    """The status line goes to stderr when it is a terminal, and is cleared before the
    results; a pipe gets none of it. (An empty root: nothing of this test to remove.)"""
    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": str(tmp_path / "root"),
        "MESOS_HYPER_RUN_DIR": str(tmp_path / "run"),
    }
    argv = [*CLI, "gc", "--dry-run", "--state-root", str(tmp_path / "agent" / "mesos-hyper")]
    piped = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "listing VMs" not in piped.stderr and "\033[K" not in piped.stderr
    assert piped.stdout.splitlines()[-1].startswith("gc: ")

    leader, follower = pty.openpty()
    with os.fdopen(leader, "rb", buffering=0) as terminal:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=follower)
        os.close(follower)
        out, _ = proc.communicate(timeout=120)
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the child's end is closed
            while chunk := terminal.read(4096):
                shown += chunk
    assert proc.returncode == 0
    assert b"\r\033[Klisting VMs..." in shown and b"finding which containers live" in shown
    assert shown.endswith(b"\r\033[K"), shown  # cleared before the results
    assert out.decode().splitlines()[-1].startswith("gc: ")


def test_gc_leaves_launching_and_running_containers_alone(tmp_path):
    """A record whose executor runs, or whose launch holds the launch lock, is live; one
    whose executor is gone is not. Decided from the processes and locks, not the clock."""
    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": str(tmp_path / "root"),
        "MESOS_HYPER_RUN_DIR": str(tmp_path / "run"),
    }
    store = StateStore(tmp_path / "agent" / "mesos-hyper")
    long_ago = time.time() - 60
    gone = subprocess.Popen(["true"])
    gone_start = start_time(gone.pid)
    gone.wait()
    records = {
        "running": {"executor": os.getpid(), "executor_start": start_time(os.getpid())},
        "launching": {},
        "dead": {"executor": gone.pid, "executor_start": gone_start},
    }
    for cid, pids in records.items():
        store.create(cid)
        store.update(cid, pids=pids, created_at=long_ago)
    argv = [*CLI, "gc", "--dry-run", "--state-root", str(store.root)]

    def dry_run() -> str:
        res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        return res.stdout

    with flocked(store.containers_dir / "launching" / LAUNCH_LOCK):
        out = dry_run()
    assert f"would mark terminated record dead in {store.root} (its executor is gone)" in out
    assert "record running" not in out and "record launching" not in out
    out = dry_run()  # the launch that held the lock is gone without starting an executor
    assert f"would mark terminated record launching in {store.root} (its launch was" in out
    assert "record running" not in out
    assert all(store.get(cid).live for cid in records)


def test_a_removal_that_fails_is_reported_on_its_line_and_the_rest_still_go():
    from mesos_hyper.host.gc import collect
    from mesos_hyper.host.leftovers import Findings, Kept, Leftover

    removed = []

    def fail() -> None:
        raise OSError("device or resource busy")

    found = Findings(
        leftovers=[
            Leftover("overlay", "/x/a", "no VM uses it", fail),
            Leftover("tap", "mht1", "no live container has it", lambda: removed.append("mht1")),
        ],
        kept=[Kept("domain", "mh-y", "pod y: started 3 s ago")],
    )
    out = io.StringIO()
    assert collect(found, dry_run=False, out=out) == 1
    assert out.getvalue().splitlines() == [
        "could not remove overlay /x/a (no VM uses it): device or resource busy",
        "removed tap mht1 (no live container has it)",
        "kept domain mh-y (pod y: started 3 s ago)",
        "gc: 1 removed, 1 could not be removed, 1 kept in doubt",
    ]
    assert removed == ["mht1"]
    dry = io.StringIO()
    assert collect(found, dry_run=True, out=dry) == 0
    assert dry.getvalue().splitlines()[:2] == [
        "would remove overlay /x/a (no VM uses it)",
        "would remove tap mht1 (no live container has it)",
    ]
    assert removed == ["mht1"]


def test_gc_removes_what_a_claimed_pool_vm_left_when_its_qemu_died(agent, image):  # noqa: F811
    """A task on a claimed pool VM whose executor, then QEMU, were SIGKILLed: no VM is
    left, but its share (with the sandbox bound into it), tap, lease, rules, overlay, exec
    socket and record are, and gc finds each."""
    from vmctl import shares
    from vmctl.domain import POOL_PREFIX
    from vmctl.pool.refill import request_refill
    from vmctl.pool.settings import PoolSettings
    from vmctl.pool.store import PoolDirs

    if not PoolSettings.from_env().enabled or not shares.ready():
        pytest.skip("no warm pool, or pool VMs boot without a share here")
    paths = Paths.from_env()
    pool = PoolDirs(paths)
    request_refill(paths)  # run alone, nothing has asked the pool for a VM yet
    agent.wait_for(lambda: bool(pool.idle_vms()), timeout=240)
    record = agent.launch_task(task("crashed", image, "sleep 1000"))
    agent.wait_for_state("crashed", mesos_pb2.TASK_RUNNING, timeout=240)
    cid, vm = record.container_id, agent.vm_name(record.container_id)
    assert vm and vm.startswith(POOL_PREFIX), vm
    kill_executor_unwatched(agent, cid)
    os.kill(owners.qemu_pids()[vm], signal.SIGKILL)
    agent.wait_for(lambda: lookup(vm) is None, timeout=60)
    share = shares.vm_dir(vm)
    root = Path(agent.env["MESOS_HYPER_ROOT"])
    assert share.is_dir()

    dry = gc(agent, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    gone = f"container {cid}: its executor is gone"
    expected = [
        f"VM share {share} (VM {vm} is gone)",
        f"tap {links.tap_name(cid)} ({gone})",
        f"nft rules mh:{cid} ({gone})",
        f"overlay {root / 'containers' / cid} ({gone})",
        f"exec socket {root / 'run' / 'exec' / cid}.sock ({gone})",
    ]
    for line in expected:
        assert f"would remove {line}" in dry.stdout
    assert "would remove lease " in dry.stdout and "domain" not in dry.stdout
    assert share.is_dir()

    done = gc(agent)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in expected:
        assert f"removed {line}" in done.stdout
    assert not share.exists() and not (root / "containers" / cid).exists()
    assert gc(agent).stdout.strip() == "gc: nothing left behind"
    os.killpg(agent.ecp._actives[cid].wait_process.pid, signal.SIGCONT)
    agent.wait_for(lambda: record.completed, timeout=60)
