"""Where the time goes from `mesos-hyper run` to the guest's first output, by phase.

Usage: .venv/bin/python bench/startup.py IMAGE [RUNS]   (IMAGE in a reachable registry)
Prints the pull (uncached, then cached), rootfs build, domain start, guest boot, exec and
first-output times, next to a plain qemu boot of the same kernel+initramfs to init.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mesos_hyper.config import Paths
from mesos_hyper.images.store import ImageStore
from mesos_hyper.runtime.spec import RunOptions, process_spec
from vmctl.accel import MARKER, probe_command
from vmctl.pod import Pod, PodConfig


def floor(paths: Paths) -> float:
    """qemu-system-x86_64 (TCG) booting our kernel+initramfs until init prints its marker."""
    start = time.monotonic()
    cmd = probe_command(paths.kernel, paths.initramfs, "tcg")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    for line in proc.stdout:
        if MARKER in line:
            elapsed = time.monotonic() - start
            break
    proc.wait()
    return elapsed


def one_run(root: Path, image_ref: str, cold: bool) -> dict[str, float]:
    paths = Paths(root=root, guest=Paths.from_env().guest, run=root / "run")
    if cold:
        shutil.rmtree(paths.images, ignore_errors=True)
    store = ImageStore(paths.images)
    t0 = time.monotonic()
    image = store.pull(image_ref)
    t1 = time.monotonic()
    base = store.base_disk(image)
    t2 = time.monotonic()
    passwd, group = store.user_db(image)
    spec = process_spec(image.config, passwd, group, RunOptions(args=["echo", "hi"]))
    first = threading.Event()
    t_first: list[float] = []

    def out(_data: bytes) -> None:
        if not first.is_set():
            t_first.append(time.monotonic())
            first.set()

    with Pod(
        PodConfig(
            name="bench",
            kernel=paths.boot_kernel,
            initramfs=paths.initramfs,
            base_disk=base,
            workdir=paths.containers / "bench",
        )
    ) as pod:
        t3 = time.monotonic()
        pod.start(spec, out, lambda _d: None)
        first.wait(60)
        pod.wait()
        timings = pod.timings
    return {
        "pull": t1 - t0,
        "rootfs": t2 - t1,
        "overlay": timings["overlay"],
        "domain_start": timings["domain_start"],
        "guest_boot_to_ready": timings["guest_ready"],
        "exec": timings["exec_started"] - timings["guest_ready"],
        "run_to_first_output": t_first[0] - t0,
        "pod_to_first_output": t_first[0] - t3,
    }


def main() -> None:
    image_ref = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    root = Path(tempfile.mkdtemp(prefix="mh-bench."))
    root.chmod(0o711)
    try:
        cold = one_run(root, image_ref, cold=True)
        warm = [one_run(root, image_ref, cold=False) for _ in range(runs)]
        print("phase                   cold     warm(median)")
        for key in cold:
            print(f"{key:22s} {cold[key]:7.3f}s  {statistics.median(w[key] for w in warm):7.3f}s")
        floors = [floor(Paths.from_env()) for _ in range(runs)]
        print(f"{'qemu_boot_floor':22s}          {statistics.median(floors):7.3f}s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
