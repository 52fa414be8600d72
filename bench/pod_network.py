"""Pod network costs, all inside throwaway network namespaces (nothing on the host's own).

1. setup + teardown of a container's network (lease, tap, nft rules), N times;
2. one real pod VM serving a file with busybox httpd: request latency and download rate
   through its forwarded host port, from a namespace "outside" the agent.

Usage: PYTHONPATH=. .venv/bin/python bench/net_isolator.py [N]
"""

from __future__ import annotations

import ipaddress
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from isolators import net as net_isolator
from mesos_hyper.config import Paths
from mesos_hyper.images.build import demo_rootfs
from tests.net_fixtures import OUTSIDE_HOST_IP, make_test_network
from vmctl.domain import InterfaceSpec
from vmctl.guest.protocol import ProcessSpec
from vmctl.network.firewall import Forward
from vmctl.network.netns import run_in_netns
from vmctl.network.settings import NetSettings
from vmctl.pod import Pod, PodConfig

SERVE = (
    "mkdir -p /www && dd if=/dev/zero of=/www/blob bs=1M count=16 2>/dev/null && "
    "echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"
)


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1e3:.1f} ms, max {max(values) * 1e3:.1f} ms"


def _base_disk(work: Path) -> Path:
    tree = work / "tree"
    tree.mkdir()
    demo_rootfs(tree)
    disk = work / "base.ext4"
    subprocess.run(
        ["mkfs.ext4", "-q", "-O", "^has_journal", "-d", str(tree), str(disk), "48M"], check=True
    )
    disk.chmod(0o644)
    return disk


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    work = Path(tempfile.mkdtemp(prefix="mh-bench-net."))
    work.chmod(0o711)
    try:
        with make_test_network() as net:
            settings = NetSettings(
                subnet=ipaddress.IPv4Network("10.215.0.0/24"),
                bridge="mhbrbench",
                netns=net.host,
                lease_dir=work / "leases",
            )
            setups, teardowns = [], []
            for i in range(count):
                start = time.perf_counter()
                net_isolator.setup(settings, f"bench-{i}", "f", [Forward("tcp", 31000 + i, 80)])
                setups.append(time.perf_counter() - start)
                start = time.perf_counter()
                net_isolator.teardown(settings, f"bench-{i}")
                teardowns.append(time.perf_counter() - start)
            print(f"network setup x{count}: {_ms(setups)}")
            print(f"network teardown x{count}: {_ms(teardowns)}")
            _vm(settings, net.outside, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _vm(settings: NetSettings, outside: str, work: Path) -> None:
    att = net_isolator.setup(settings, "bench-vm", "f", [Forward("tcp", 31080, 8080)])
    paths = Paths.from_env()
    pod = Pod(
        PodConfig(
            name="bench-net",
            kernel=paths.boot_kernel,
            initramfs=paths.initramfs,
            base_disk=_base_disk(work),
            workdir=work / "pod",
            disk_bytes=96 << 20,
            interface=InterfaceSpec(att.tap, att.mac),
        )
    )
    try:
        started = time.perf_counter()
        pod.start(
            ProcessSpec(argv=["sh", "-c", SERVE], env=["PATH=/bin"], network=att.guest_config),
            lambda _: None,
            lambda _: None,
            before_resume=lambda: net_isolator.plug(settings, att),
        )
        base = f"http://{OUTSIDE_HOST_IP}:31080"

        def get(path: str) -> bytes:
            with urllib.request.urlopen(base + path, timeout=5) as reply:
                return reply.read()

        while True:
            try:
                run_in_netns(outside, get, "/index.html")
                break
            except OSError:
                if time.perf_counter() - started > 60:
                    raise
                time.sleep(0.2)
        print(f"boot to first answer on the host port: {time.perf_counter() - started:.1f} s")
        latencies = []
        for _ in range(50):
            start = time.perf_counter()
            run_in_netns(outside, get, "/index.html")
            latencies.append(time.perf_counter() - start)
        print(f"GET through the forward x50: {_ms(latencies)}")
        start = time.perf_counter()
        size = len(run_in_netns(outside, get, "/blob"))
        rate = size / (time.perf_counter() - start) / (1 << 20)
        print(f"download of {size >> 20} MiB through the forward: {rate:.1f} MiB/s")
    finally:
        pod.destroy()
        net_isolator.teardown(settings, "bench-vm")


if __name__ == "__main__":
    main()
