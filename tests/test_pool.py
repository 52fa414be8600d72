"""The warm pool on real VMs: claims, one use per VM, refills, races, destroys, recovery.

Each test has a pool of its own (MESOS_HYPER_POOL_DIR beside its state root), drained
before the leak check runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesos_hyper.config import Paths
from mesos_hyper.errors import UsageError, VMError
from mesos_hyper.host.owners import qemu_pids
from mesos_hyper.images.build import build_image, demo_rootfs, layer_from_dir, push_image
from mesos_hyper.images.store import ImageStore
from mesos_hyper.proto import mesos_pb2
from tests.agent_double import Agent
from tests.registry_fixtures import registry  # noqa: F401
from vmctl import shares as vm_shares
from vmctl.guest.protocol import ProcessSpec
from vmctl.lifecycle import destroy_by_name, list_ours, lookup
from vmctl.network import links
from vmctl.network.settings import NetSettings
from vmctl.pod import Pod, PodConfig
from vmctl.pool import save_image, template
from vmctl.pool import store as pool_store
from vmctl.pool.fill import drain, fill, fill_lock, reap, usable
from vmctl.pool.settings import PoolSettings

pytestmark = pytest.mark.vm
ECP = [sys.executable, "-m", "mesos_hyper.containerizer.cli"]
REFILL_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def image_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="mh-test-pool."))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def image(registry) -> str:  # noqa: F811
    with tempfile.TemporaryDirectory() as tmp:
        demo_rootfs(Path(tmp))
        layer = layer_from_dir(Path(tmp))
    ref = f"{registry.host}/t/pool:1"
    push_image(build_image([layer], cmd=["/bin/sh"]), ref)
    return ref


@pytest.fixture
def pool(image_root: Path, no_leaks, monkeypatch: pytest.MonkeyPatch) -> Iterator[Paths]:
    """A pool of one VM of its own; drained (and checked) before the leak check."""
    pool_dir = Path(tempfile.mkdtemp(prefix="pool.", dir=image_root))
    monkeypatch.setenv("MESOS_HYPER_POOL_DIR", str(pool_dir))
    monkeypatch.setenv("MESOS_HYPER_POOL_SIZE", "1")
    monkeypatch.setenv("MESOS_HYPER_ROOT", str(image_root))
    no_leaks.watch_root(image_root)
    paths = Paths.from_env()
    yield paths
    dirs = pool_store.PoolDirs(paths)
    with fill_lock(dirs, wait=True):  # a refill still booting finishes, then goes too
        drain(paths, stop=True)
        reap(paths, dirs)
    assert not [d.name for d in list_ours() if d.metadata.get("pool") == str(paths.pool)]
    shutil.rmtree(pool_dir, ignore_errors=True)


def idle_names(paths: Paths) -> set[str]:
    return {vm.name for vm in usable(paths, PoolSettings.from_env(), pool_store.PoolDirs(paths))}


def wait_idle(paths: Paths, count: int, timeout: float = REFILL_TIMEOUT_S) -> set[str]:
    deadline = time.monotonic() + timeout
    while len(names := idle_names(paths)) < count:
        assert time.monotonic() < deadline, f"the pool did not refill to {count} in {timeout}s"
        time.sleep(0.5)
    return names


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mesos_hyper.cli", "--log-level", "info", "run", *args],
        capture_output=True,
        env=dict(os.environ),
        timeout=300,
    )


def test_settings_are_checked() -> None:
    env = {"MESOS_HYPER_POOL_SIZE": "two"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        with pytest.raises(UsageError, match="MESOS_HYPER_POOL_SIZE='two'"):
            PoolSettings.from_env()
        mp.setenv("MESOS_HYPER_POOL_SIZE", "0")
        mp.setenv("MESOS_HYPER_POOL_MEMORY_MIB", "64")
        with pytest.raises(UsageError, match="below 128"):
            PoolSettings.from_env()


def test_a_pool_entry_is_read_only_from_a_small_regular_file(tmp_path: Path) -> None:
    """The VM's directory is the QEMU user's: a planted link, fifo or huge file is no entry
    (and never blocks a claim or a reap)."""
    vm = pool_store.PoolVM("mh-pool-x", 1, 512, "qemu", "guest", 1024, 1.0, "libvirtd")
    vm.write(tmp_path)
    assert pool_store.PoolVM.read(tmp_path) == vm
    entry = tmp_path / pool_store.ENTRY
    for plant in (
        lambda: os.mkfifo(entry),
        lambda: entry.symlink_to("/etc/passwd"),
        lambda: entry.write_text("{" + " " * pool_store.MAX_ENTRY_BYTES + "}"),
    ):
        entry.unlink()
        plant()
        assert pool_store.PoolVM.read(tmp_path) is None


def test_a_drained_pool_stays_empty_until_an_explicit_fill(pool: Paths) -> None:
    """A refill asked for just before a drain (a claim's) must not undo the drain."""
    drain(pool, stop=True)
    result = fill(pool)
    assert result.stopped and not result.booted
    assert not idle_names(pool)


def test_a_background_refill_never_remakes_a_removed_pool(tmp_path: Path) -> None:
    """A claim's refill that starts after its pool was drained and removed (the test
    suite's pools are) boots nothing: the removal took the drained marker with it."""
    gone = tmp_path / "pool"
    env = {**os.environ, "MESOS_HYPER_POOL_DIR": str(gone), "MESOS_HYPER_POOL_SIZE": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "vmctl.pool", "fill"], env=env, capture_output=True, timeout=60
    )
    assert res.returncode == 0, res.stderr.decode()
    assert not gone.exists()


def test_a_claimed_vm_runs_one_task_with_the_right_clock_and_is_never_reused(
    pool: Paths, image: str
) -> None:
    assert fill(pool).booted
    (first,) = idle_names(pool)
    time.sleep(15)  # paused: the guest's clock stands still meanwhile
    before = time.time()
    # what a hostile task would look for: other disks, NICs, shares, the host's clock
    probe = (
        "date +%s; hostname; echo $(ls /sys/block); echo $(ls /sys/class/net);"
        " echo shares=$(grep -c virtiofs /proc/mounts); echo routes=$(tail -n +2 /proc/net/route)"
    )
    res = run("--name", "pooled1", image, "sh", "-c", probe)
    after = time.time()
    assert res.returncode == 0, res.stderr.decode()
    err = res.stderr.decode()
    assert f'claimed a pool VM" vm={first}' in err or f"vm={first}" in err, err
    guest_time, hostname, disks, nics, shares, routes = res.stdout.decode().splitlines()
    assert before - 2 <= int(guest_time) <= after + 2, (before, guest_time, after)
    assert hostname == "pooled1"
    assert disks == "sda"  # its own rootfs and nothing else: no pool's, no other VM's
    # `run` gives it no network: the pool VM's own NIC stays on a tap that is down and on
    # no bridge, without an address or a route; and no share
    assert nics == "eth0 lo" and routes == "routes=" and shares == "shares=0"
    assert links.pool_tap_name(first) not in links.list_taps(NetSettings.from_env())  # gone
    assert lookup(first) is None  # used once: gone with its task, not back in the pool
    refilled = wait_idle(pool, 1)
    assert first not in refilled


GROWN = (
    "for i in $(seq 60); do [ $(cat /sys/devices/system/cpu/online) = 0-1 ] && break; sleep 1;"
    " done; cat /sys/devices/system/cpu/online; grep MemTotal /proc/meminfo"
)


def test_a_task_bigger_than_the_pool_class_grows_a_claimed_vm(pool: Paths, image: str) -> None:
    assert fill(pool).booted
    (first,) = idle_names(pool)
    res = run("--cpus", "2", "--memory", "1024", image, "sh", "-c", GROWN)
    assert res.returncode == 0, res.stderr.decode()
    assert f"vm={first}" in res.stderr.decode(), res.stderr.decode()
    online, _, mem_kib, _ = res.stdout.decode().split()
    assert online == "0-1"  # a second vCPU hot-plugged, brought up by our init
    assert int(mem_kib) > 900 << 10  # a DIMM beyond the pool VM's 512 MiB


def test_a_task_beyond_the_ceilings_boots_cold(pool: Paths, image: str) -> None:
    assert fill(pool).booted
    res = run("--cpus", "3", image, "true")  # MESOS_HYPER_MAX_VCPUS=2 in the tests
    assert res.returncode == 0, res.stderr.decode()
    assert "no pool VM fits; booting cold" in res.stderr.decode()
    assert "claimed a pool VM" not in res.stderr.decode()


def test_a_burst_on_an_empty_pool_falls_back_to_cold_boots(pool: Paths, image: str) -> None:
    results: list[subprocess.CompletedProcess[bytes]] = []
    threads = [
        threading.Thread(target=lambda: results.append(run(image, "echo", "burst")))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr[-500:] for r in results]
    assert all(r.stdout == b"burst\n" for r in results)
    cold = sum(b"booting cold" in r.stderr for r in results)
    claimed = sum(b"claimed a pool VM" in r.stderr for r in results)
    assert cold + claimed == 3 and cold >= 2  # one VM at most could have been booted


def test_claims_racing_a_refill_and_a_drain_never_share_a_vm(pool: Paths, image_root) -> None:
    os.environ["MESOS_HYPER_POOL_SIZE"] = "2"  # undone by the fixture's monkeypatch
    assert len(fill(pool).booted) == 2
    booted = idle_names(pool)
    dirs = pool_store.PoolDirs(pool)
    pool.containers.mkdir(parents=True, exist_ok=True)
    workdirs = [pool.containers / f"race-{i}" for i in range(4)]
    claimed: list[str] = []
    drained: list[str] = []
    start = threading.Barrier(6)

    def claimant(workdir: Path) -> None:
        start.wait()
        vm = pool_store.claim(
            dirs, workdir, vcpus=1, memory_mib=256, domain_type=_domain_type(), guest=_guest()
        )
        if vm is not None:
            claimed.append(vm.name)

    def drainer() -> None:
        start.wait()
        drained.extend(drain(pool))

    filled: list[str] = []

    def filler() -> None:
        start.wait()
        filled.extend(fill(pool).booted)

    threads = [threading.Thread(target=claimant, args=(w,)) for w in workdirs]
    threads += [threading.Thread(target=drainer), threading.Thread(target=filler)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(claimed) == len(set(claimed)), claimed
        assert not set(claimed) & set(drained), (claimed, drained)
        assert set(claimed) | set(drained) >= booted  # each went one way
        for name in claimed:  # still paused, waiting for its claimant
            dom = lookup(name)
            assert dom is not None and dom.info()[0] == 3, name  # VIR_DOMAIN_PAUSED
        assert not set(claimed) & idle_names(pool)
    finally:
        for workdir in workdirs:
            vm = pool_store.PoolVM.read(workdir)
            if vm is not None:
                destroy_by_name(vm.name)
            shutil.rmtree(workdir, ignore_errors=True)


def _domain_type() -> str:
    from vmctl import accel

    return accel.domain_type()


def _guest() -> str:
    return pool_store.guest_identity(Paths.from_env())


def test_destroy_during_a_claim_removes_the_claimed_vm(
    pool: Paths, image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ImageStore(pool.images)
    base = store.base_disk(store.pull(image))
    assert fill(pool).booted
    (vm_name,) = idle_names(pool)
    workdir = pool.containers / "destroyed-mid-claim"
    pod = Pod(
        PodConfig(
            name="destroyed-mid-claim",
            kernel=pool.kernel,
            initramfs=pool.initramfs,
            base_disk=base,
            workdir=workdir,
            pool=pool,
        )
    )
    adopt = Pod._adopt

    def adopt_while_destroyed(self: Pod, *args: object) -> None:
        adopt(self, *args)  # type: ignore[arg-type]
        killer = threading.Thread(target=self.destroy)
        killer.start()
        killer.join()

    monkeypatch.setattr(Pod, "_adopt", adopt_while_destroyed)
    with pytest.raises(VMError, match="destroyed while it started"):
        pod.start(ProcessSpec(["/bin/true"]), on_stdout=lambda _: None, on_stderr=lambda _: None)
    assert pod.pool_vm == vm_name
    assert lookup(vm_name) is None
    assert not workdir.exists()


def test_reap_removes_half_claimed_and_half_booted_vms_but_keeps_idle_ones(pool: Paths) -> None:
    os.environ["MESOS_HYPER_POOL_SIZE"] = "2"
    assert len(fill(pool).booted) == 2
    keep, half = sorted(idle_names(pool))
    dirs = pool_store.PoolDirs(pool)
    pool.containers.mkdir(parents=True, exist_ok=True)
    workdir = pool.containers / "claimant-died"
    os.rename(dirs.idle / half, workdir)  # a claim whose process died before it relabelled
    old = time.time() - 120
    os.utime(workdir / pool_store.ENTRY, (old, old))
    try:
        with fill_lock(dirs, wait=True):
            removed = reap(pool, dirs)
        assert half in removed and lookup(half) is None
        assert keep not in removed and lookup(keep) is not None
        assert idle_names(pool) == {keep}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def agent(tmp_path: Path, pool: Paths, no_leaks) -> Iterator[Agent]:
    env = {**os.environ, "MESOS_HYPER_GUEST_DIR": str(pool.guest)}
    agent = Agent(tmp_path, ECP, env, timeout=120, registration_timeout=120, switch_user=False)
    no_leaks.watch_agent(agent)
    yield agent
    with contextlib.suppress(Exception):
        agent.shutdown()


def _task(task_id: str, image: str, shell: str) -> mesos_pb2.TaskInfo:
    from tests.agent_double.executor_info import scalar_resources

    info = mesos_pb2.TaskInfo(name=task_id)
    info.task_id.value = task_id
    info.command.value = shell
    info.container.type = mesos_pb2.ContainerInfo.DOCKER
    info.container.docker.image = image
    info.resources.extend(scalar_resources({"cpus": 0.5, "mem": 64}))
    return info


def test_recover_keeps_idle_pool_vms_and_a_later_launch_claims_one(
    agent: Agent, pool: Paths, image: str
) -> None:
    assert fill(pool).booted
    (idle,) = idle_names(pool)
    result = agent.restart()  # the ECP's recover runs with the pool VM present
    assert not result.orphans
    assert lookup(idle) is not None and idle in idle_names(pool)
    record = agent.launch_task(
        _task("pooled", image, "ls /sys/block; cat /sys/class/net/eth0/address; cat /proc/mounts")
    )
    status = agent.wait_for_state("pooled", mesos_pb2.TASK_FINISHED, timeout=120)
    assert agent.vm_name(record.container_id) == idle, status.message
    agent.wait_for(lambda: record.completed, timeout=60)
    assert lookup(idle) is None
    out = (Path(record.directory) / "stdout").read_text()
    # a hostile task sees its own rootfs and sandbox share, nothing of the pool or others
    assert out.split("\n", 1)[0] == "sda", out
    # the pool VM's NIC now has the pod's MAC (52:54:00:..., see isolators.net.mac_for), not
    # the one it booted with (52:54:01:...): the pod's rules match that one
    assert out.splitlines()[1].startswith("52:54:00:"), out
    shares = [line.split()[:2] for line in out.splitlines() if " virtiofs " in line]
    # its sandbox, bound into the share the VM booted with (vmctl.shares), or hot-plugged
    # where libvirtd does not see the mounts there; nothing else of the pool's
    tag = vm_shares.POOL_TAG if vm_shares.ready() else "sandbox"
    assert shares == [[tag, "/mnt/mesos/sandbox"]], out


@pytest.fixture
def template_pool(pool: Paths, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.setenv("MESOS_HYPER_POOL_SOURCE", "template")
    return pool


def _template_images(paths: Paths) -> list[Path]:
    return template.images(pool_store.PoolDirs(paths))


def _guest_ram_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssShmem:"))


URANDOM = "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; hostname; date +%s"


def test_template_clones_each_run_one_task_as_vms_of_their_own(
    template_pool: Paths, image: str
) -> None:
    os.environ["MESOS_HYPER_POOL_SIZE"] = "2"
    result = fill(template_pool)
    assert len(result.booted) == 2, result.failed
    (saved,) = _template_images(template_pool)  # one boot, saved once
    dirs = pool_store.PoolDirs(template_pool)
    vms = {vm.name: vm for _, vm in dirs.idle_vms() if vm is not None}
    assert set(vms) == set(result.booted)
    assert {vm.source for vm in vms.values()} == {"template"}
    uuids = set()
    for name in vms:  # restored paused, under its own name, UUID and tap
        dom = lookup(name)
        assert dom is not None and dom.info()[0] == 3, name
        uuids.add(dom.UUIDString())
        assert links.pool_tap_name(name) in links.list_taps(NetSettings.from_env())
        # the zero pages its restore allocated went back: it holds about what the saved
        # VM held (its balloon had taken back all but 128 MiB), not all of its 512 MiB
        assert _guest_ram_kib(qemu_pids()[name]) < 200 << 10, name
    assert len(uuids) == 2
    status = subprocess.run(
        [sys.executable, "-m", "mesos_hyper.cli", "pool", "status", "--format", "json"],
        capture_output=True,
        check=True,
    )
    doc = json.loads(status.stdout)
    assert doc["source"] == "template" and doc["idle"] == 2
    assert [t["path"] for t in doc["templates"]] == [str(saved)]
    assert {vm["source"] for vm in doc["vms"]} == {"template"}
    outputs = []
    for i, name in enumerate(sorted(vms, key=lambda n: vms[n].booted_at)):
        before = time.time()
        res = run("--name", f"clone{i}", image, "sh", "-c", URANDOM)
        assert res.returncode == 0, res.stderr.decode()
        assert f"vm={name}" in res.stderr.decode()
        entropy, hostname, guest_time = res.stdout.decode().split()
        assert hostname == f"clone{i}"
        assert before - 2 <= int(guest_time) <= time.time() + 2  # its clock, not the template's
        outputs.append(entropy)
        assert lookup(name) is None  # used once
    assert len(set(outputs)) == 2, outputs  # reseeded: no two clones share their RNG
    assert _template_images(template_pool) == [saved]  # refills restore; nothing rebuilt
    drain(template_pool, stop=True)
    assert not _template_images(template_pool)


def test_a_template_that_no_longer_restores_is_built_again(template_pool: Paths) -> None:
    assert fill(template_pool).booted
    (saved,) = _template_images(template_pool)
    drain(template_pool)  # the VM goes; the template stays
    with open(saved, "r+b") as f:  # its QEMU stream cut short: no QEMU loads it
        f.truncate(save_image.read_header(saved).stream_offset + 4096)
    result = fill(template_pool, resume=True)
    assert len(result.failed) == 1 and "cannot restore" in result.failed[0], result
    assert len(result.booted) == 1  # from a template built again
    (rebuilt,) = _template_images(template_pool)
    assert rebuilt.stat().st_size > 4096 << 4
    assert {vm.source for _, vm in pool_store.PoolDirs(template_pool).idle_vms() if vm} == {
        "template"
    }


def test_a_template_clone_claimed_by_the_ecp_has_its_sandbox_bound_in_its_share(
    template_pool: Paths, agent: Agent, image: str
) -> None:
    assert fill(template_pool).booted
    (idle,) = idle_names(template_pool)
    (vm,) = [vm for _, vm in pool_store.PoolDirs(template_pool).idle_vms() if vm]
    # QEMU cannot save virtiofs: the share came by hot-plug after the restore, in the refill
    assert vm.shares == (vm_shares.TAGS if vm_shares.ready() else ())
    record = agent.launch_task(_task("cloned", image, "grep ' virtiofs ' /proc/mounts; echo ok"))
    status = agent.wait_for_state("cloned", mesos_pb2.TASK_FINISHED, timeout=120)
    assert agent.vm_name(record.container_id) == idle, status.message
    agent.wait_for(lambda: record.completed, timeout=60)
    out = (Path(record.directory) / "stdout").read_text()
    tag = vm_shares.POOL_TAG if vm_shares.ready() else "sandbox"
    assert [line.split()[:2] for line in out.splitlines()[:-1]] == [[tag, "/mnt/mesos/sandbox"]], (
        out
    )
    assert lookup(idle) is None
