"""libvirt domain XML from small Python objects (ElementTree, no string templates).

A pod domain boots our kernel directly, has one disk on a virtio-scsi controller (the
container's qcow2 overlay), virtio-serial channels to our init, a serial console logged to
a file, and nothing else the guest does not need, with room to hot-plug vCPUs and RAM up
to its ceilings. Our metadata marks the domains that are ours.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from vmctl.sizing import MEMORY_SLOTS

NAME_PREFIX = "mh-"
POOL_PREFIX = NAME_PREFIX + "pool-"  # a warm-pool VM (vmctl.pool), named before any task
METADATA_NS = "https://mesos-hyper.invalid/xmlns/pod/1"
METADATA_PREFIX = "mh"
# memhp_default_state: DIMMs hot-plugged into a growing VM come online by themselves, and
# memmap_on_memory keeps their page structs in the new RAM, not in what the guest had.
# swiotlb=noforce: room for RAM above 4 GiB made the kernel reserve a 64 MiB bounce buffer
# that only devices doing 32-bit DMA need; ours are virtio, which does not use it.
# init_on_alloc=0: Debian's kernel zeroes every page it allocates, the balloon's too, and
# under TCG a pool VM's balloon (512 to 128 MiB) then took 2 s of CPU instead of 0.4 s.
# That hardening keeps a kernel's stale memory from its own processes; every page of a
# pod's VM only ever held that pod's data (it came zeroed from the host), see security.md.
# cryptomgr.notests: the kernel's crypto self-tests (known-answer tests of every algorithm
# it registers, a check of its own code, not of anything a tenant supplies) took 0.5 s of
# each boot under TCG; fips=1 would run them regardless. noreplace-smp: a VM booted with
# one of several possible vCPUs online rewrote every LOCK prefix of the kernel for one CPU
# (0.25 s under TCG, and undone when a vCPU is hot-plugged); the LOCKs stay, as for SMP.
KERNEL_CMDLINE = (
    "console=ttyS0 quiet panic=-1 rdinit=/init memhp_default_state=online"
    " memory_hotplug.memmap_on_memory=1 swiotlb=noforce init_on_alloc=0"
    " cryptomgr.notests=1 noreplace-smp"
)
# The machine is q35 and every PCI device of ours is an integrated endpoint of its root
# bus, in a slot we name. On i440fx ("pc") QEMU 7.2's _PRT is an AML loop over 128 entries
# that the guest runs for every PCI device it enables: 0.14 s each under TCG, 0.4-0.7 s of a
# boot (QEMU 9.2 made it a table); q35's is a table (3-10 ms a device). Without a slot of
# ours libvirt would put each device behind a PCIe root port, which the guest probes too.
# The root bus takes no hot-plug: a domain that needs one gets root ports for it.
PCI_SLOTS = tuple(range(1, 0x1F))  # 0x00 is the host bridge, 0x1f the ICH9 functions


def pci_address(slot: int) -> ET.Element:
    return ET.Element(
        "address", type="pci", domain="0x0000", bus="0x00", slot=f"{slot:#04x}", function="0x0"
    )


@dataclass(frozen=True)
class DiskSpec:
    """A disk on the VM's virtio-scsi controller; the guest finds it by ``serial``.

    SCSI, not virtio-blk: a disk added to a running VM is then a LUN on a controller that
    is already there, which the guest scans in milliseconds. A virtio-blk disk is a PCI
    device, and the guest's ACPI hot-plug handling took 0.85 s per device under TCG here.
    """

    path: Path
    target: str = "sda"
    format: str = "qcow2"
    readonly: bool = False
    serial: str | None = None

    def element(self) -> ET.Element:
        el = ET.Element("disk", type="file", device="disk")
        ET.SubElement(el, "driver", name="qemu", type=self.format, discard="unmap")
        ET.SubElement(el, "source", file=str(self.path))
        ET.SubElement(el, "target", dev=self.target, bus="scsi")
        if self.serial:
            ET.SubElement(el, "serial").text = self.serial
        if self.readonly:
            ET.SubElement(el, "readonly")
        return el


@dataclass(frozen=True)
class ChannelSpec:
    """A virtio-serial port the guest finds by ``name``, a unix socket on the host."""

    name: str
    socket: Path

    def element(self) -> ET.Element:
        el = ET.Element("channel", type="unix")
        ET.SubElement(el, "source", mode="bind", path=str(self.socket))
        ET.SubElement(el, "target", type="virtio", name=self.name)
        return el


@dataclass(frozen=True)
class InterfaceSpec:
    """A virtio NIC on a tap we created (libvirt opens it by name and leaves it alone)."""

    tap: str
    mac: str

    def element(self) -> ET.Element:
        el = ET.Element("interface", type="ethernet")
        ET.SubElement(el, "mac", address=self.mac)
        ET.SubElement(el, "target", dev=self.tap, managed="no")
        ET.SubElement(el, "model", type="virtio")
        return el


@dataclass(frozen=True)
class DimmSpec:
    """RAM hot-plugged into a running VM (NUMA node 0, the only one)."""

    size_mib: int

    def element(self) -> ET.Element:
        el = ET.Element("memory", model="dimm")
        target = ET.SubElement(el, "target")
        ET.SubElement(target, "size", unit="MiB").text = str(self.size_mib)
        ET.SubElement(target, "node").text = "0"
        return el


VIRTIOFSD = "/usr/lib/qemu/virtiofsd"


@dataclass(frozen=True)
class ShareSpec:
    """A host directory the guest mounts with virtiofs under ``tag``."""

    source: Path
    tag: str

    def element(self) -> ET.Element:
        el = ET.Element("filesystem", type="mount", accessmode="passthrough")
        ET.SubElement(el, "driver", type="virtiofs")
        ET.SubElement(el, "binary", path=VIRTIOFSD)
        ET.SubElement(el, "source", dir=str(self.source))
        ET.SubElement(el, "target", dir=self.tag)
        return el


@dataclass(frozen=True)
class DomainSpec:
    """Everything a pod's libvirt domain is made of (``to_xml``)."""

    name: str
    kernel: Path
    initramfs: Path
    domain_type: str = "qemu"  # "kvm" or "qemu" (TCG)
    vcpus: int = 1
    memory_mib: int = 256  # the most the balloon can give the guest at boot
    current_memory_mib: int | None = None  # what it boots with (the balloon takes the rest)
    # room to grow by hot-plug (vmctl.sizing, vmctl.resize); None: none
    max_vcpus: int | None = None
    max_memory_mib: int | None = None
    cmdline: str = KERNEL_CMDLINE
    disks: list[DiskSpec] = field(default_factory=list)
    interfaces: list[InterfaceSpec] = field(default_factory=list)
    channels: list[ChannelSpec] = field(default_factory=list)
    console_log: Path | None = None
    shares: list[ShareSpec] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    # virtiofs needs guest RAM that virtiofsd can map; a pool VM gets its share hot-plugged
    shared_memory: bool = False
    # PCIe root ports for PCI devices hot-plugged later (a template's clone gets its share)
    hotplug_ports: int = 0

    def __post_init__(self) -> None:
        if not self.name.startswith(NAME_PREFIX):
            raise ValueError(f"domain names must start with {NAME_PREFIX!r}: {self.name!r}")
        if self.domain_type not in ("kvm", "qemu"):
            raise ValueError(f"unknown domain type {self.domain_type!r}")

    def to_xml(self) -> str:
        dom = ET.Element("domain", type=self.domain_type)
        ET.SubElement(dom, "name").text = self.name
        meta = ET.SubElement(dom, "metadata")
        meta.append(metadata_element(self.metadata))
        grows_memory = (self.max_memory_mib or 0) > self.memory_mib
        if grows_memory:
            most = ET.SubElement(dom, "maxMemory", slots=str(MEMORY_SLOTS), unit="MiB")
            most.text = str(self.max_memory_mib)
        ET.SubElement(dom, "memory", unit="MiB").text = str(self.memory_mib)
        if self.current_memory_mib is not None:
            current = ET.SubElement(dom, "currentMemory", unit="MiB")
            current.text = str(min(self.current_memory_mib, self.memory_mib))
        max_vcpus = max(self.vcpus, self.max_vcpus or 0)
        vcpu = ET.SubElement(dom, "vcpu")
        vcpu.text = str(max_vcpus)
        if max_vcpus > self.vcpus:
            vcpu.set("current", str(self.vcpus))
        if self.shares or self.shared_memory:
            backing = ET.SubElement(dom, "memoryBacking")
            ET.SubElement(backing, "source", type="memfd")
            ET.SubElement(backing, "access", mode="shared")
        os_el = ET.SubElement(dom, "os")
        ET.SubElement(os_el, "type", arch="x86_64", machine="q35").text = "hvm"
        ET.SubElement(os_el, "kernel").text = str(self.kernel)
        ET.SubElement(os_el, "initrd").text = str(self.initramfs)
        ET.SubElement(os_el, "cmdline").text = self.cmdline
        features = ET.SubElement(dom, "features")
        ET.SubElement(features, "acpi")
        if self.domain_type == "kvm" or grows_memory:
            cpu = ET.SubElement(dom, "cpu")
            if self.domain_type == "kvm":
                cpu.set("mode", "host-passthrough")
            if grows_memory:  # libvirt hot-plugs DIMMs only into a NUMA guest
                numa = ET.SubElement(cpu, "numa")
                ET.SubElement(
                    numa, "cell", id="0", cpus=f"0-{max_vcpus - 1}",
                    memory=str(self.memory_mib), unit="MiB",
                )  # fmt: skip
        ET.SubElement(dom, "clock", offset="utc")
        for event in ("on_poweroff", "on_reboot", "on_crash"):
            ET.SubElement(dom, event).text = "destroy"
        devices = ET.SubElement(dom, "devices")
        ET.SubElement(devices, "emulator").text = "/usr/bin/qemu-system-x86_64"
        pci: list[ET.Element] = []  # in PCI_SLOTS, in this order
        for disk in self.disks:
            devices.append(disk.element())
        for interface in self.interfaces:
            pci.append(interface.element())
            devices.append(pci[-1])
        for share in self.shares:
            pci.append(share.element())
            devices.append(pci[-1])
        ET.SubElement(devices, "controller", type="usb", model="none")
        pci.append(
            ET.SubElement(devices, "controller", type="scsi", index="0", model="virtio-scsi")
        )
        if self.channels:
            pci.append(ET.SubElement(devices, "controller", type="virtio-serial", index="0"))
        for channel in self.channels:
            devices.append(channel.element())
        if self.console_log is not None:
            serial = ET.SubElement(devices, "serial", type="file")
            ET.SubElement(serial, "source", path=str(self.console_log))
            ET.SubElement(serial, "target", port="0")
        # The balloon lets `update` shrink or grow guest memory later; its free page
        # reporting hands the host back what the guest freed (the init sets the order).
        pci.append(ET.SubElement(devices, "memballoon", model="virtio", freePageReporting="on"))
        for index in range(1, self.hotplug_ports + 1):  # 0 is the root bus, pcie-root
            port = ET.SubElement(
                devices, "controller", type="pci", index=str(index), model="pcie-root-port"
            )
            pci.append(port)
        if len(pci) > len(PCI_SLOTS):
            raise ValueError(f"{self.name}: {len(pci)} PCI devices, room for {len(PCI_SLOTS)}")
        for device, slot in zip(pci, PCI_SLOTS, strict=False):
            device.append(pci_address(slot))
        return ET.tostring(dom, encoding="unicode")


def metadata_element(entries: dict[str, str]) -> ET.Element:
    """Our ``<mh:pod>`` element; libvirt can also replace it on a running domain."""
    pod = ET.Element(f"{{{METADATA_NS}}}pod")
    for key, value in sorted(entries.items()):
        ET.SubElement(pod, f"{{{METADATA_NS}}}entry", key=key).text = value
    return pod


def read_metadata(xml: str) -> dict[str, str] | None:
    """Our metadata from a domain's XML, or None if the domain is not ours."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    name = root.findtext("name") or ""
    pod = root.find(f"metadata/{{{METADATA_NS}}}pod")
    if pod is None or not name.startswith(NAME_PREFIX):
        return None
    return {el.get("key", ""): el.text or "" for el in pod.findall(f"{{{METADATA_NS}}}entry")}


def domain_name(container_name: str) -> str:
    return NAME_PREFIX + container_name
