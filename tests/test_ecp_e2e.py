"""The ECP end to end: a Mesos 1.0.4 agent double drives mesos-hyper-containerizer, whose
pod executor speaks the v1 executor API and runs the task in a real VM."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import libvirt
import pytest

from mesos_hyper.config import Paths
from mesos_hyper.images.build import build_image, demo_rootfs, layer_from_dir, push_image
from mesos_hyper.proto import mesos_pb2
from mesos_hyper.state import StateStore
from tests.agent_double import Agent
from tests.agent_double.executor_info import scalar_resources
from tests.leaks import is_executor
from tests.registry_fixtures import registry  # noqa: F401
from vmctl.lifecycle import lookup

pytestmark = pytest.mark.vm
ECP = [sys.executable, "-m", "mesos_hyper.containerizer.cli"]


@pytest.fixture(scope="module")
def busybox_layer():
    with tempfile.TemporaryDirectory() as tmp:
        demo_rootfs(Path(tmp))
        return layer_from_dir(Path(tmp))


@pytest.fixture(scope="module")
def image(registry, busybox_layer):  # noqa: F811
    ref = f"{registry.host}/t/task:1"
    push_image(build_image([busybox_layer], cmd=["/bin/sh"]), ref)
    return ref


@pytest.fixture
def agent(tmp_path, no_leaks):
    """An agent double with its own state root; its leftovers are checked before the root
    goes, and ECP failures it only logged fail the test (Agent.expect_failure excuses)."""
    root = Path(tempfile.mkdtemp(prefix="mh-test-ecp."))
    root.chmod(0o711)
    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": str(root),
        "MESOS_HYPER_GUEST_DIR": str(Paths.from_env().guest),
    }
    # --switch_user=false, as docs/mesos-agent.md requires (docs/security.md says why)
    agent = Agent(tmp_path, ECP, env, timeout=120, registration_timeout=120, switch_user=False)
    no_leaks.watch_agent(agent)
    yield agent
    try:
        agent.shutdown()
    finally:
        try:
            no_leaks.check()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def task(
    task_id: str,
    image: str,
    shell: str,
    grace_ns: int | None = None,
    disk_mb: float | None = None,
) -> mesos_pb2.TaskInfo:
    info = mesos_pb2.TaskInfo(name=task_id)
    info.task_id.value = task_id
    info.command.value = shell
    info.container.type = mesos_pb2.ContainerInfo.DOCKER
    info.container.docker.image = image
    scalars = [("cpus", 0.5), ("mem", 64)] + ([("disk", disk_mb)] if disk_mb else [])
    for name, value in scalars:
        res = info.resources.add(name=name, type=mesos_pb2.Value.SCALAR)
        res.scalar.value = value
    if grace_ns is not None:
        info.kill_policy.grace_period.nanoseconds = grace_ns
    return info


def states(agent: Agent, task_id: str) -> list[str]:
    return [mesos_pb2.TaskState.Name(u.status.state) for u in agent.updates(task_id)]


def test_task_finishes_with_its_output_in_the_sandbox(agent, image):
    record = agent.launch_task(task("ok", image, "echo hello from $MESOS_TASK_ID; echo oops >&2"))
    agent.wait_for_state("ok", mesos_pb2.TASK_FINISHED, timeout=120)
    assert states(agent, "ok")[:3] == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    sandbox = Path(record.directory)
    assert (sandbox / "stdout").read_text() == "hello from ok\n"
    assert "oops" in (sandbox / "stderr").read_text()
    agent.wait_for(lambda: record.completed, timeout=60)


def test_task_failure_reports_the_exit_status(agent, image):
    agent.launch_task(task("bad", image, "exit 3"))
    status = agent.wait_for_state("bad", mesos_pb2.TASK_FAILED, timeout=120)
    assert "status 3" in status.message


def test_kill_with_grace(agent, image):
    """A KILL sends SIGTERM, and SIGKILL only once the task's kill-policy grace is over: a
    task that traps TERM and keeps running says it got it, and dies no sooner than that."""
    grace = 4.0
    script = "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.2; done"
    record = agent.launch_task(task("long", image, script, grace_ns=int(grace * 1e9)))
    agent.wait_for_state("long", mesos_pb2.TASK_RUNNING, timeout=120)
    stdout = Path(record.directory) / "stdout"

    def said(word: str) -> bool:
        return stdout.exists() and word in stdout.read_text()

    agent.wait_for(lambda: said("ready"), timeout=60)  # the trap is in place
    killed_at = time.monotonic()
    agent.kill_task("long")
    agent.wait_for_state("long", mesos_pb2.TASK_KILLED, timeout=60 + grace)
    waited = time.monotonic() - killed_at
    # not killed at once; the upper bound only guards against a hang on a loaded machine
    assert grace - 0.5 <= waited < grace + 60, waited
    agent.wait_for(lambda: said("got-term"), timeout=30)  # the TERM reached the task
    assert states(agent, "long")[-1] == "TASK_KILLED"


def test_bad_image_fails_the_task_with_a_reason(agent, registry):  # noqa: F811
    agent.launch_task(task("noimg", f"{registry.host}/t/missing:1", "true"))
    status = agent.wait_for_state("noimg", mesos_pb2.TASK_FAILED, timeout=60)
    assert "t/missing" in status.message
    assert status.reason == mesos_pb2.TaskStatus.REASON_CONTAINER_LAUNCH_FAILED


def _executor_pid(agent: Agent, container_id: str) -> int:
    """The pod executor's pid, as the ECP's launch recorded it in the container's record."""
    record = StateStore(agent.flags.work_dir / "mesos-hyper").get(container_id)
    pid = record.pids["executor"]
    assert is_executor(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")), pid
    return pid


def _pids(pattern: str) -> list[int]:
    res = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in res.stdout.split()]


def test_guest_qemu_killed_from_outside_fails_the_task(agent, image):
    record = agent.launch_task(task("victim", image, "sleep 1000"))
    agent.wait_for_state("victim", mesos_pb2.TASK_RUNNING, timeout=120)
    (qemu,) = _pids(f"guest={agent.vm_name(record.container_id)},")
    os.kill(qemu, 9)
    status = agent.wait_for_state("victim", mesos_pb2.TASK_FAILED, timeout=60)
    assert "exit status" in status.message
    agent.wait_for(lambda: record.completed, timeout=60)
    assert record.termination.result().state == mesos_pb2.TASK_FAILED


def test_executor_killed_from_outside_ends_the_container(agent, image):
    record = agent.launch_task(task("orphaned", image, "sleep 1000"))
    agent.wait_for_state("orphaned", mesos_pb2.TASK_RUNNING, timeout=120)
    os.kill(_executor_pid(agent, record.container_id), 9)
    agent.wait_for(lambda: record.completed, timeout=60)
    termination = record.termination.result()
    assert "executor exited unexpectedly" in termination.message
    assert not _pids(f"guest={agent.vm_name(record.container_id)},")
    # the dead executor could not remove its overlays: the ECP's cleanup did
    assert not (Path(agent.env["MESOS_HYPER_ROOT"]) / "containers" / record.container_id).exists()


def test_agent_restart_keeps_running_pods(agent, image):
    record = agent.launch_task(task("survivor", image, "sleep 1000"))
    agent.wait_for_state("survivor", mesos_pb2.TASK_RUNNING, timeout=120)
    result = agent.restart()
    assert record.container_id in result.recovered and not result.orphans
    assert _pids(f"guest={agent.vm_name(record.container_id)},")
    agent.kill_task("survivor")
    agent.wait_for_state("survivor", mesos_pb2.TASK_KILLED, timeout=60)


def test_five_concurrent_launches_all_run(agent, image):
    ids = [f"par{i}" for i in range(5)]
    for task_id in ids:
        agent.launch_task(task(task_id, image, "echo $MESOS_TASK_ID; sleep 3"))
    for task_id in ids:
        agent.wait_for_state(task_id, mesos_pb2.TASK_RUNNING, timeout=240)
    for task_id in ids:
        agent.wait_for_state(task_id, mesos_pb2.TASK_FINISHED, timeout=120)


def test_uris_are_fetched_and_the_sandbox_is_shared_with_the_guest(agent, image, tmp_path):
    import tarfile

    payload = tmp_path / "payload"
    (payload / "data").mkdir(parents=True)
    (payload / "data/hello.txt").write_text("hello from an archive\n")
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(payload / "data", arcname="data")
    tool = tmp_path / "tool.sh"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    info = task(
        "fetch",
        image,
        "cd $MESOS_SANDBOX; cat data/hello.txt; ./tool.sh; echo back > out.txt",
    )
    info.command.uris.add(value=f"file://{archive}")
    info.command.uris.add(value=str(tool), executable=True)
    record = agent.launch_task(info)
    agent.wait_for_state("fetch", mesos_pb2.TASK_FINISHED, timeout=120)
    sandbox = Path(record.directory)
    assert (sandbox / "stdout").read_text() == "hello from an archive\ntool ran\n"
    assert (sandbox / "out.txt").read_text() == "back\n"


def test_two_tasks_of_one_executor_share_a_pod_vm(agent, registry, busybox_layer):  # noqa: F811
    refs = {}
    for name, script in (
        ("web", "echo web-up; hostname; echo mine > /tmp/web; sleep 1000"),
        ("side", "echo side $(hostname) $(ls /tmp); exit 5"),
    ):
        refs[name] = f"{registry.host}/t/pod-{name}:1"
        push_image(build_image([busybox_layer], cmd=["/bin/sh", "-c", script]), refs[name])
    executor = mesos_pb2.ExecutorInfo(name="pod executor")
    executor.executor_id.value = "pod-1"
    executor.command.value = "unused: mesos-hyper is the executor"
    tasks = {}
    for name in ("web", "side"):
        info = task(name, refs[name], "")
        info.ClearField("command")
        info.executor.CopyFrom(executor)
        tasks[name] = info
    record = agent.launch_task(tasks["web"])
    agent.wait_for_state("web", mesos_pb2.TASK_RUNNING, timeout=120)
    (qemu,) = _pids(f"guest={agent.vm_name(record.container_id)},")
    agent.launch_task(tasks["side"])
    status = agent.wait_for_state("side", mesos_pb2.TASK_FAILED, timeout=60)
    assert "status 5" in status.message
    assert _pids(f"guest={agent.vm_name(record.container_id)},") == [qemu]  # the same VM
    out = (Path(record.directory) / "stdout").read_text()
    # one VM, one hostname; separate filesystems: the side task does not see /tmp/web
    assert "web-up" in out and "side web\n" in out
    agent.kill_task("web")
    agent.wait_for_state("web", mesos_pb2.TASK_KILLED, timeout=60)
    agent.wait_for(lambda: record.completed, timeout=60)
    assert not _pids(f"guest={agent.vm_name(record.container_id)},")


def _stats(agent: Agent, container_id: str):
    return agent.ecp.usage(container_id)


def _cpu_rate(agent: Agent, container_id: str, seconds: float = 5.0) -> float:
    first = _stats(agent, container_id)
    time.sleep(seconds)
    second = _stats(agent, container_id)
    used = (second.cpus_user_time_secs + second.cpus_system_time_secs) - (
        first.cpus_user_time_secs + first.cpus_system_time_secs
    )
    return used / (second.timestamp - first.timestamp)


def _guest_mib(agent: Agent, container_id: str, want: int, within: float = 60.0) -> int:
    """The balloon's size once it reaches ``want`` MiB (the guest gives pages back slowly)."""
    deadline = time.monotonic() + within
    while True:
        got = _stats(agent, container_id).mem_total_bytes >> 20
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(1)


def test_half_a_cpu_is_enforced_and_reported(agent, image):
    info = task("burn", image, "while :; do :; done")
    info.resources[0].scalar.value = 0.4  # cpus; the agent adds the executor's 0.1
    record = agent.launch_task(info)
    agent.wait_for_state("burn", mesos_pb2.TASK_RUNNING, timeout=120)
    # the guest booted unthrottled; the quota held before the task's process was sent
    dom = lookup(agent.vm_name(record.container_id) or "")
    assert dom is not None and dom.schedulerParameters()["global_quota"] == 50_000
    rate = _cpu_rate(agent, record.container_id, 6.0)
    assert 0.3 < rate < 0.7, rate
    second = _stats(agent, record.container_id)
    assert second.cpus_limit == pytest.approx(0.5)
    assert second.mem_rss_bytes > 0 and second.mem_limit_bytes > 0
    assert second.cpus_nr_throttled > 0
    agent.kill_task("burn")
    agent.wait_for_state("burn", mesos_pb2.TASK_KILLED, timeout=60)


GROWN_TASK = (
    "while :; do :; done & "
    "while :; do cat /sys/devices/system/cpu/online; grep MemTotal /proc/meminfo; sleep 1; done"
)


def _guest_sees(record, cpus: str, min_mib: int, within: float = 60.0) -> bool:
    """The task's own view, from its stdout: these CPUs online and at least this much RAM."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        lines = (Path(record.directory) / "stdout").read_text().splitlines()[-2:]
        if len(lines) == 2 and lines[0] == cpus and int(lines[1].split()[1]) >= min_mib << 10:
            return True
        time.sleep(1)
    return False


def test_update_grows_and_shrinks_cpu_and_memory_live_and_says_what_it_cannot(agent, image):
    info = task("grown", image, GROWN_TASK)
    info.resources[0].scalar.value = 0.4  # cpus; the agent adds the executor's 0.1
    record = agent.launch_task(info)  # mem: 64 + the executor's 32 = 96 MB, guest 160 MiB
    cid = record.container_id
    agent.wait_for_state("grown", mesos_pb2.TASK_RUNNING, timeout=120)
    assert _cpu_rate(agent, cid) < 0.7
    assert _guest_mib(agent, cid, 160) == 160
    assert _guest_sees(record, "0", 100)

    def update(cpus: float, mem: float) -> str:
        before = (Path(record.directory) / "stderr").read_text()
        agent.ecp.update(cid, scalar_resources({"cpus": cpus, "mem": mem}))
        return (Path(record.directory) / "stderr").read_text()[len(before) :]

    update(1.0, 64)  # a whole core, and the balloon shrinks the guest to 64 + 64 MiB
    assert _cpu_rate(agent, cid) > 0.8
    assert _guest_mib(agent, cid, 128) == 128
    stats = _stats(agent, cid)
    assert stats.cpus_limit == pytest.approx(1.0) and stats.mem_limit_bytes == 64 << 20
    # more than it booted with (a pool VM with the pool's RAM, a cold one with 160 MiB): a
    # second vCPU and RAM are hot-plugged, and the guest brings them online
    said = update(2.0, 700)
    assert "above" not in said, said
    dom = lookup(agent.vm_name(cid) or "")
    assert dom is not None
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 2
    assert _guest_mib(agent, cid, 764) == 764, said
    assert _guest_sees(record, "0-1", 700), (Path(record.directory) / "stdout").read_text()[-200:]
    # beyond the VM's ceilings (MESOS_HYPER_MAX_VCPUS=2, _MAX_MEMORY_MIB=2048 in the tests):
    # it grows to them and says what it could not give
    said = update(4.0, 4096)
    assert "4 vCPUs is above the VM's ceiling of 2" in said, said
    assert "mem 4160 MiB is above the VM's ceiling of 2048 MiB" in said, said
    most = dom.maxMemory() // 1024  # the ceiling, less what the 128 MiB DIMMs cannot fill
    assert 2048 - 128 < most <= 2048
    assert _guest_mib(agent, cid, most) == most
    assert agent.updates("grown")[-1].status.state == mesos_pb2.TASK_RUNNING  # unharmed
    agent.kill_task("grown")
    agent.wait_for_state("grown", mesos_pb2.TASK_KILLED, timeout=60)


def test_a_memory_hog_fails_with_the_memory_reason(agent, image):
    info = task("hog", image, "dd if=/dev/zero of=/dev/null bs=100M count=1; echo survived")
    record = agent.launch_task(info)
    status = agent.wait_for_state("hog", mesos_pb2.TASK_FAILED, timeout=120)
    assert status.reason == mesos_pb2.TaskStatus.REASON_CONTAINER_LIMITATION_MEMORY
    assert "Memory limit exceeded" in status.message
    termination = record.termination.result()
    assert mesos_pb2.TaskStatus.REASON_CONTAINER_LIMITATION_MEMORY in termination.reasons
    assert "survived" not in (Path(record.directory) / "stdout").read_text()


def test_a_disk_filler_fails_with_the_disk_reason_and_disk_usage_is_reported(agent, image):
    info = task("filler", image, "sleep 4; dd if=/dev/zero of=/fill bs=1M; sleep 60", disk_mb=32)
    record = agent.launch_task(info)
    agent.wait_for_state("filler", mesos_pb2.TASK_RUNNING, timeout=120)
    stats = _stats(agent, record.container_id)
    assert stats.disk_limit_bytes == 32 << 20 and stats.disk_used_bytes > 0
    status = agent.wait_for_state("filler", mesos_pb2.TASK_FAILED, timeout=120)
    assert status.reason == mesos_pb2.TaskStatus.REASON_CONTAINER_LIMITATION_DISK
    termination = record.termination.result()
    assert mesos_pb2.TaskStatus.REASON_CONTAINER_LIMITATION_DISK in termination.reasons
    assert "disk" in termination.message.lower()


def test_a_sandbox_filler_is_killed_with_the_disk_reason(agent, image):
    # count bounds the write even if the watcher failed; the limit is a quarter of it
    fill = 'dd if=/dev/zero of="$MESOS_SANDBOX/fill" bs=1M count=64; sleep 600'
    info = task("sandfill", image, fill, disk_mb=16)
    record = agent.launch_task(info)
    status = agent.wait_for_state("sandfill", mesos_pb2.TASK_FAILED, timeout=120)
    assert status.reason == mesos_pb2.TaskStatus.REASON_CONTAINER_LIMITATION_DISK
    assert "the sandbox holds" in status.message and "16 MB disk limit" in status.message
    termination = record.termination.result()
    assert mesos_pb2.TaskStatus.REASON_CONTAINER_LIMITATION_DISK in termination.reasons


def test_command_health_check_turns_healthy_then_kills_the_task(agent, image):
    info = task("checked", image, "touch /tmp/ok; sleep 12; rm /tmp/ok; sleep 600")
    hc = info.health_check
    hc.command.value = "test -e /tmp/ok"
    hc.delay_seconds, hc.interval_seconds, hc.timeout_seconds = 3, 1, 10
    hc.grace_period_seconds, hc.consecutive_failures = 0, 2
    agent.launch_task(info)
    agent.wait_for_state("checked", mesos_pb2.TASK_KILLED, timeout=180)
    running = [
        u.status for u in agent.updates("checked") if u.status.state == mesos_pb2.TASK_RUNNING
    ]
    healths = [s.healthy for s in running if s.HasField("healthy")]
    assert healths[:1] == [True] and healths[-2:] == [False, False]
    final = agent.updates("checked")[-1].status
    assert "Health check failed 2 times" in final.message


def test_exec_runs_in_the_task_container_and_returns_its_status(agent, image):
    info = task("execd", image, "echo task-env-ok > /tmp/mark; sleep 1000")
    var = info.command.environment.variables.add()
    var.name, var.value = "GREETING", "hi"
    record = agent.launch_task(info)
    agent.wait_for_state("execd", mesos_pb2.TASK_RUNNING, timeout=120)
    cli = [sys.executable, "-m", "mesos_hyper.cli", "exec", record.container_id, "--"]

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*cli, *argv], env=agent.env, capture_output=True, text=True, timeout=60
        )

    # the task's rootfs and environment; output reaches the host through the sandbox
    # (TASK_RUNNING says the task's process exists, not that it has written its mark yet)
    shell = "until [ -s /tmp/mark ]; do sleep 0.1; done; cat /tmp/mark; id -un; "
    shell += 'echo "$GREETING $MESOS_TASK_ID" ; exit 7'
    done = run("sh", "-c", f"({shell}) > $MESOS_SANDBOX/exec.out")
    assert done.returncode == 7, done.stderr
    out = (Path(record.directory) / "exec.out").read_text()
    assert out == "task-env-ok\nroot\nhi execd\n"
    missing = run("/no/such/binary")
    assert missing.returncode == 127
    slow = subprocess.run(
        [*cli[:-2], "--timeout", "1", record.container_id, "--", "sleep", "30"],
        env=agent.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert slow.returncode == 1 and "did not finish within 1s" in slow.stderr
    assert agent.updates("execd")[-1].status.state == mesos_pb2.TASK_RUNNING  # unharmed
    agent.kill_task("execd")
    agent.wait_for_state("execd", mesos_pb2.TASK_KILLED, timeout=60)
    agent.wait_for(lambda: record.completed, timeout=60)
    gone = run("true")
    assert gone.returncode == 1 and "has no running pod" in gone.stderr
