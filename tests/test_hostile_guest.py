"""Hostile guests: what a task plants in its sandbox (shared read-write into its VM) never
makes the root-run executor touch a host path outside it, and the tasks still get a clear
status while the host stays responsive."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from mesos_hyper.images.build import build_image, push_image
from mesos_hyper.proto import mesos_pb2
from tests.registry_fixtures import registry  # noqa: F401
from tests.test_ecp_e2e import agent, busybox_layer, image, states, task  # noqa: F401

pytestmark = pytest.mark.vm


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pod_task(name: str, ref: str, executor_id: str) -> mesos_pb2.TaskInfo:
    info = task(name, ref, "")
    info.ClearField("command")
    info.executor.executor_id.value = executor_id
    info.executor.name = "pod executor"
    info.executor.command.value = "unused: mesos-hyper is the executor"
    return info


UNPIN_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY), flags = 0;
        if (fd < 0 || ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) { perror(argv[i]); continue; }
        flags &= ~FS_APPEND_FL;
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0) perror(argv[i]);
        else printf("unpinned %s\n", argv[i]);
    }
    return 0;
}
"""


def _unpin_layer(tmp_path: Path):
    """A guest tool that tries to clear the append-only pin itself (chattr -a)."""
    import subprocess

    from mesos_hyper.images.build import layer_from_dir

    src, root = tmp_path / "unpin.c", tmp_path / "unpin-root"
    (root / "bin").mkdir(parents=True)
    src.write_text(UNPIN_C)
    subprocess.run(
        ["gcc", "-static", "-O1", "-o", str(root / "bin/unpin"), str(src)], check=True, timeout=120
    )
    return layer_from_dir(root)


def _usage_answers_quickly(agent, container_id: str) -> float:  # noqa: F811
    started = time.monotonic()
    agent.ecp.usage(container_id)
    return time.monotonic() - started


def test_planted_output_links_never_reach_the_host(agent, registry, busybox_layer, tmp_path):  # noqa: F811
    """The reported attack: task 1 swaps stdout/stderr for links to host paths, task 2
    joins the pod; its output must not land in those host files."""
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary"
    canary.write_text("untouched\n")
    before = _digest(canary)
    plant = (  # each step on its own: the pinned files refuse the first ones
        "cd /mnt/mesos/sandbox; /bin/unpin stdout stderr; rm -f stdout stderr; mv stdout moved;"
        f" ln -sf {outside}/pwned-out stdout; ln -sf {canary} stderr;"
        " ln -s /etc etc-link; ln -s .. up; mkfifo fifo; touch planted; sleep 1000"
    )
    refs = {}
    layers = [busybox_layer, _unpin_layer(tmp_path)]
    for name, script in (("planter", plant), ("joiner", "echo second-task-out; echo err >&2")):
        refs[name] = f"{registry.host}/t/hostile-{name}:1"
        push_image(build_image(layers, cmd=["/bin/sh", "-c", script]), refs[name])
    record = agent.launch_task(_pod_task("planter", refs["planter"], "hostile-pod"))
    agent.wait_for_state("planter", mesos_pb2.TASK_RUNNING, timeout=120)
    sandbox = Path(record.directory)
    agent.wait_for(lambda: (sandbox / "planted").exists(), timeout=60)
    for name in ("stdout", "stderr"):  # pinned append-only: not unlinked, moved or replaced
        assert (sandbox / name).is_file() and not (sandbox / name).is_symlink()
    # the guest's own FS_IOC_SETFLAGS through virtiofs is refused: it cannot unpin them
    assert "unpinned" not in (sandbox / "stdout").read_text()
    assert "stdout: " in (sandbox / "stderr").read_text()  # unpin's perror
    assert (sandbox / "etc-link").is_symlink() and (sandbox / "fifo").is_fifo()

    agent.launch_task(_pod_task("joiner", refs["joiner"], "hostile-pod"))
    status = agent.wait_for_state("joiner", mesos_pb2.TASK_FINISHED, timeout=120)
    assert status.message

    assert not (outside / "pwned-out").exists(), "the executor followed the guest's link"
    assert _digest(canary) == before
    assert sorted(p.name for p in outside.iterdir()) == ["canary"]
    assert "second-task-out" in (sandbox / "stdout").read_text()
    assert _usage_answers_quickly(agent, record.container_id) < 30
    agent.kill_task("planter")
    agent.wait_for_state("planter", mesos_pb2.TASK_KILLED, timeout=60)
    agent.wait_for(lambda: record.completed, timeout=60)
    assert _digest(canary) == before and not (outside / "pwned-out").exists()


def test_sparse_files_links_fifos_and_a_swapping_dir_are_measured_safely(agent, image, tmp_path):  # noqa: F811
    """1 TiB sparse file, links to / and .., a fifo and a directory swapped for a link to
    / in a loop: the disk watcher counts only what the sandbox really holds, never what the
    links point at, the task keeps running, and usage stays quick."""
    script = (
        "cd $MESOS_SANDBOX; truncate -s 1T sparse; ln -s / root-link; ln -s .. up;"
        " mkfifo pipe; (while true; do mkdir -p d/e; rm -rf d; ln -s / d; rm d; done) &"
        " touch ready; sleep 1000"
    )
    info = task("swapper", image, script, disk_mb=64)
    record = agent.launch_task(info)
    agent.wait_for_state("swapper", mesos_pb2.TASK_RUNNING, timeout=120)
    agent.wait_for(lambda: (Path(record.directory) / "ready").exists(), timeout=60)
    for _ in range(3):  # several watcher rounds and usage calls while the guest swaps
        assert _usage_answers_quickly(agent, record.container_id) < 30
        stats = agent.ecp.usage(record.container_id)
        assert stats.disk_used_bytes < 64 << 20, stats.disk_used_bytes
        time.sleep(2)
    assert states(agent, "swapper") == ["TASK_STARTING", "TASK_RUNNING"]
    agent.kill_task("swapper")
    agent.wait_for_state("swapper", mesos_pb2.TASK_KILLED, timeout=60)
    agent.wait_for(lambda: record.completed, timeout=60)


def test_a_tree_too_deep_to_measure_fails_the_task_with_the_disk_reason(agent, image):  # noqa: F811
    """A tree deeper than the watcher walks could hide any amount of data: the task is
    held to its disk limit as if it were over it, with a message that says why."""
    script = (
        "cd $MESOS_SANDBOX && i=0; while [ $i -lt 400 ]; do mkdir d && cd d; i=$((i+1)); done;"
        " sleep 1000"
    )
    info = task("deep", image, script, disk_mb=64)
    record = agent.launch_task(info)
    status = agent.wait_for_state("deep", mesos_pb2.TASK_FAILED, timeout=180)
    assert status.reason == mesos_pb2.TaskStatus.REASON_CONTAINER_LIMITATION_DISK
    assert "measured" in status.message, status.message
    agent.wait_for(lambda: record.completed, timeout=60)
