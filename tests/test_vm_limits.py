"""What the guest init enforces and reports: memory cgroups, full disks, exec, managed files."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from mesos_hyper.config import Paths
from mesos_hyper.images.build import demo_rootfs
from vmctl.guest.protocol import ProcessSpec
from vmctl.pod import Pod, PodConfig

pytestmark = pytest.mark.vm
ENV = ["PATH=/bin"]


@pytest.fixture(scope="module")
def base_disk():
    workdir = Path(tempfile.mkdtemp(prefix="mh-test-limits."))
    workdir.chmod(0o711)
    tree = workdir / "tree"
    tree.mkdir()
    demo_rootfs(tree)
    (tree / "etc" / "resolv.conf").symlink_to("/init")  # hostile: must be replaced, not followed
    disk = workdir / "base.ext4"
    subprocess.run(
        ["mkfs.ext4", "-q", "-O", "^has_journal", "-m", "0", "-d", str(tree), str(disk), "16M"],
        check=True,
    )
    disk.chmod(0o644)
    yield disk
    shutil.rmtree(workdir, ignore_errors=True)


def _pod(base_disk: Path, name: str, disk_bytes: int = 64 << 20, memory_mib: int = 256) -> Pod:
    paths = Paths.from_env()
    return Pod(
        PodConfig(
            name=name,
            kernel=paths.boot_kernel,
            initramfs=paths.initramfs,
            base_disk=base_disk,
            workdir=base_disk.parent / name,
            disk_bytes=disk_bytes,
            memory_mib=memory_mib,
        )
    )


def _run(pod: Pod, spec: ProcessSpec) -> tuple[int, bytes]:
    out = bytearray()
    pod.start(spec, out.extend, lambda _b: None)
    return pod.wait(120), bytes(out)


def test_a_memory_hog_is_oom_killed_in_its_cgroup_and_reported(base_disk, no_leaks):
    hog = "dd if=/dev/zero of=/dev/null bs=96M count=1; echo survived"
    with _pod(base_disk, "memhog") as pod:
        code, out = _run(
            pod, ProcessSpec(argv=["sh", "-c", hog], env=ENV, mem_limit_bytes=32 << 20)
        )
    assert code == 137 and pod.broken_limits == {0: "memory"}
    assert b"survived" not in out


def test_memory_within_the_limit_is_not_reported(base_disk, no_leaks):
    with _pod(base_disk, "memok") as pod:
        code, _ = _run(
            pod,
            ProcessSpec(
                argv=["dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1"],
                env=ENV,
                mem_limit_bytes=64 << 20,
            ),
        )
    assert code == 0 and pod.broken_limits == {}


def test_a_disk_filler_is_killed_with_the_disk_limit_and_the_host_file_stays_bounded(
    base_disk, no_leaks
):
    fill = "dd if=/dev/zero of=/fill bs=1M; sleep 30"
    limit = 48 << 20
    with _pod(base_disk, "diskfill", disk_bytes=base_disk.stat().st_size + limit) as pod:
        code, _ = _run(pod, ProcessSpec(argv=["sh", "-c", fill], env=ENV, enforce_disk=True))
        overlay = pod.config.workdir / "rootfs.qcow2"
        allocated = overlay.stat().st_blocks * 512
    assert pod.broken_limits == {0: "disk"} and code == 137
    assert allocated < base_disk.stat().st_size + limit + (8 << 20)


def test_exec_runs_in_the_container_and_times_out(base_disk, no_leaks):
    ready = threading.Event()
    with _pod(base_disk, "exec") as pod:
        pod.start(
            ProcessSpec(argv=["sh", "-c", "touch /marker; echo ready; exec sleep 600"], env=ENV),
            lambda b: ready.set() if b"ready" in b else None,
            lambda _b: None,
        )
        assert ready.wait(30)
        assert pod.exec(0, ProcessSpec(argv=["test", "-e", "/marker"], env=ENV), 30) == 0
        assert pod.exec(0, ProcessSpec(argv=["sh", "-c", "exit 3"], env=ENV), 30) == 3
        assert pod.exec(0, ProcessSpec(argv=["no-such-binary"], env=ENV), 30) == 127
        with pytest.raises(TimeoutError):
            pod.exec(0, ProcessSpec(argv=["sleep", "100"], env=ENV), 1.0)
        assert pod.exec(0, ProcessSpec(argv=["true"], env=ENV), 30) == 0  # slots come back
        pod.stop(0.5)


def test_managed_files_replace_what_the_image_has(base_disk, no_leaks):
    files = {
        "/etc/hosts": "127.0.0.1 localhost\n10.1.2.3 web\n",
        "/etc/resolv.conf": "nameserver 10.0.0.53\n",
    }
    with _pod(base_disk, "files") as pod:
        code, out = _run(
            pod,
            ProcessSpec(
                argv=[
                    "sh",
                    "-c",
                    "cat /etc/hosts /etc/resolv.conf; test -L /etc/resolv.conf || echo plain",
                ],
                env=ENV,
                files=files,
            ),
        )
    assert code == 0
    assert out.decode() == files["/etc/hosts"] + files["/etc/resolv.conf"] + "plain\n"
