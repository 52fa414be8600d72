"""Domain XML and the Pod lifecycle against real libvirtd/QEMU."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mesos_hyper.config import Paths
from mesos_hyper.errors import VMError
from mesos_hyper.host.owners import processes
from mesos_hyper.images.build import demo_rootfs
from vmctl.domain import ChannelSpec, DiskSpec, DomainSpec, ShareSpec, read_metadata
from vmctl.guest.protocol import ProcessSpec
from vmctl.lifecycle import list_ours
from vmctl.pod import Pod, PodConfig


def test_domain_xml_has_only_what_the_guest_needs(tmp_path):
    spec = DomainSpec(
        name="mh-x",
        kernel=Path("/k"),
        initramfs=Path("/i"),
        vcpus=2,
        memory_mib=300,
        disks=[DiskSpec(tmp_path / "o.qcow2")],
        shares=[ShareSpec(tmp_path, "sandbox")],
        channels=[ChannelSpec("mh.status", tmp_path / "s.sock")],
        console_log=tmp_path / "console.log",
        metadata={"container-id": "abc"},
    )
    root = ET.fromstring(spec.to_xml())
    assert root.get("type") == "qemu"
    assert root.findtext("os/kernel") == "/k" and root.findtext("vcpu") == "2"
    # the disk is a LUN of the virtio-scsi controller: a later disk needs no PCI hot-plug
    assert root.find("devices/disk/target").get("bus") == "scsi"
    assert root.find("devices/controller[@type='scsi']").get("model") == "virtio-scsi"
    assert root.find("devices/channel/target").get("name") == "mh.status"
    assert root.find("devices/controller[@type='usb']").get("model") == "none"
    assert root.find("devices/graphics") is None and root.find("devices/interface") is None
    assert {e.text for e in root.findall("*") if e.tag.startswith("on_")} == {"destroy"}
    assert read_metadata(spec.to_xml()) == {"container-id": "abc"}
    assert root.find("devices/filesystem/driver").get("type") == "virtiofs"
    assert root.find("devices/filesystem/target").get("dir") == "sandbox"
    assert root.find("memoryBacking/access").get("mode") == "shared"
    # q35, every PCI device an integrated endpoint in a slot of its own (see PCI_SLOTS)
    assert root.find("os/type").get("machine") == "q35"
    addresses = root.findall("devices/*/address")
    assert len(addresses) == 4  # virtiofs, virtio-scsi, virtio-serial, balloon
    assert {a.get("bus") for a in addresses} == {"0x00"}
    assert len({a.get("slot") for a in addresses}) == 4
    assert root.find("devices/controller[@model='pcie-root-port']") is None
    with pytest.raises(ValueError):
        DomainSpec(name="other", kernel=Path("/k"), initramfs=Path("/i"))


def test_a_domain_that_hot_plugs_pci_has_root_ports_for_it():
    spec = DomainSpec(name="mh-x", kernel=Path("/k"), initramfs=Path("/i"), hotplug_ports=1)
    root = ET.fromstring(spec.to_xml())
    ports = root.findall("devices/controller[@model='pcie-root-port']")
    assert len(ports) == 1 and ports[0].find("address").get("bus") == "0x00"
    many = [ShareSpec(Path(f"/s{i}"), f"t{i}") for i in range(40)]
    with pytest.raises(ValueError, match="PCI devices"):
        DomainSpec(name="mh-x", kernel=Path("/k"), initramfs=Path("/i"), shares=many).to_xml()


def test_domain_xml_has_room_to_grow_by_hot_plug():
    spec = DomainSpec(
        name="mh-x",
        kernel=Path("/k"),
        initramfs=Path("/i"),
        vcpus=1,
        memory_mib=160,
        max_vcpus=4,
        max_memory_mib=2048,
    )
    root = ET.fromstring(spec.to_xml())
    assert root.findtext("vcpu") == "4" and root.find("vcpu").get("current") == "1"
    most = root.find("maxMemory")
    assert most.text == "2048" and most.get("unit") == "MiB" and int(most.get("slots")) > 0
    assert root.findtext("memory") == "160"
    # libvirt plugs DIMMs only into a NUMA guest: one cell with every possible vCPU
    cell = root.find("cpu/numa/cell")
    assert cell.get("cpus") == "0-3" and cell.get("memory") == "160"
    assert "memhp_default_state=online" in root.findtext("os/cmdline")
    # no room: none of it
    flat = ET.fromstring(
        DomainSpec(name="mh-y", kernel=Path("/k"), initramfs=Path("/i"), vcpus=2).to_xml()
    )
    assert flat.find("maxMemory") is None and flat.find("cpu") is None
    assert flat.findtext("vcpu") == "2" and flat.find("vcpu").get("current") is None


@pytest.fixture
def base_disk():
    workdir = Path(tempfile.mkdtemp(prefix="mh-test-pod."))
    workdir.chmod(0o711)
    tree = workdir / "tree"
    tree.mkdir()
    demo_rootfs(tree)
    disk = workdir / "base.ext4"
    subprocess.run(
        ["mkfs.ext4", "-q", "-O", "^has_journal", "-d", str(tree), str(disk), "32M"], check=True
    )
    disk.chmod(0o644)
    yield disk
    shutil.rmtree(workdir, ignore_errors=True)


def _pod(base_disk: Path, name: str) -> Pod:
    paths = Paths.from_env()
    return Pod(
        PodConfig(
            name=name,
            kernel=paths.kernel,
            initramfs=paths.initramfs,
            base_disk=base_disk,
            workdir=base_disk.parent / name,
            disk_bytes=64 << 20,
            metadata={"test": "yes"},
        )
    )


@pytest.mark.vm
def test_qemu_killed_from_outside_is_a_vmerror_and_leaves_nothing(base_disk, no_leaks):
    pod = _pod(base_disk, "killed")
    with pod:
        pod.start(
            ProcessSpec(argv=["sleep", "1000"], env=["PATH=/bin"]), lambda _b: None, lambda _b: None
        )
        assert any(d.name == pod.domain_name and d.metadata["test"] == "yes" for d in list_ours())
        qemu = subprocess.run(
            ["pgrep", "-f", f"guest={pod.domain_name}"], capture_output=True, text=True
        )
        os.kill(int(qemu.stdout.split()[0]), signal.SIGKILL)
        with pytest.raises(VMError, match="without reporting an exit status"):
            pod.wait(60)
    assert not pod.config.workdir.exists()


@pytest.mark.vm
def test_stop_with_grace_then_destroy(base_disk, no_leaks):
    ready = threading.Event()
    with _pod(base_disk, "stubborn") as pod:
        script = "trap '' TERM; echo ready; exec sleep 1000"
        spec = ProcessSpec(argv=["sh", "-c", script], env=["PATH=/bin"])
        pod.start(spec, lambda b: ready.set() if b"ready" in b else None, lambda _b: None)
        assert ready.wait(30)
        assert pod.stop(1.0) is None  # SIGTERM ignored: destroyed after the grace period
        with pytest.raises(VMError):
            pod.wait(30)
    pod.destroy()  # idempotent


@pytest.mark.vm
def test_the_host_ends_a_drained_vm_with_all_its_output(base_disk, no_leaks):
    """The guest counts what its task wrote (DRAINED); the host ends the VM once it has
    read that much, without waiting for the guest's power-off, and loses nothing."""
    out, err = bytearray(), bytearray()
    script = "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done; echo bye >&2"
    with _pod(base_disk, "drained") as pod:
        pod.start(ProcessSpec(argv=["sh", "-c", script], env=["PATH=/bin"]), out.extend, err.extend)
        assert pod.wait(120) == 0
        assert "drained" in pod.timings, "the host waited for the guest's power-off"
        lines = bytes(out).decode().splitlines()
        assert lines == [f"line {i}" for i in range(3000)]
        assert bytes(err) == b"bye\n"
        name = pod.domain_name
    assert not [p for p, argv in processes() if f"guest={name}".encode() in b" ".join(argv)]
