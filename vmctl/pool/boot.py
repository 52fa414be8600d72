"""Booting one pool VM to READY: its domain, its boot at the lowest weight, its entry.

What every pool VM is (``pool_spec``) and how one is published idle (``publish``) are the
same whether it was booted here or restored from a template (``vmctl.pool.template``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import time
from pathlib import Path

from mesos_hyper import config, log
from mesos_hyper.errors import VMError
from vmctl import accel
from vmctl import shares as vm_shares
from vmctl.domain import (
    KERNEL_CMDLINE,
    POOL_PREFIX,
    ChannelSpec,
    DomainSpec,
    InterfaceSpec,
    ShareSpec,
)
from vmctl.guest import protocol
from vmctl.lifecycle import Domain, destroy_by_name
from vmctl.network import links
from vmctl.pod import BOOT_TIMEOUT_S, make_workdir
from vmctl.pool import weight
from vmctl.pool.settings import IDLE_MEMORY_MIB, PoolSettings
from vmctl.pool.store import PoolDirs, PoolVM, guest_identity, libvirtd_identity
from vmctl.sizing import Ceilings

BALLOON_TIMEOUT_S = 10.0
LOG = log.get(__name__)


def pool_metadata(paths: config.Paths, guest: str) -> dict[str, str]:
    """Until claimed, a pool VM names its pool's root (a claim relabels it as the task's)."""
    return {"pool": str(paths.pool), "guest": guest}


def pool_spec(
    paths: config.Paths, settings: PoolSettings, name: str, workdir: Path, *, share: bool
) -> DomainSpec:
    """What every pool VM is, booted or restored from a template: ``name`` and ``workdir``
    are all that differ between two of them."""
    channels = [ChannelSpec(port, workdir / f"{port}.sock") for port in protocol.PORTS]
    # its NIC, on a tap of its own that a claim renames to its pod's: a NIC hot-plugged at
    # claim time cost the guest 0.85 s of ACPI hot-plug handling under TCG
    nic = InterfaceSpec(links.pool_tap_name(name), links.pool_guest_mac(name))
    ceilings = Ceilings.from_env().at_least(settings.vcpus, settings.memory_mib)
    return DomainSpec(
        name=name,
        kernel=paths.boot_kernel,
        initramfs=paths.initramfs,
        domain_type=accel.domain_type(paths),
        vcpus=settings.vcpus,
        memory_mib=settings.memory_mib,
        current_memory_mib=IDLE_MEMORY_MIB,
        max_vcpus=ceilings.vcpus,
        max_memory_mib=ceilings.memory_mib,
        interfaces=[nic],
        # its share, where a claim binds the pod's sandbox (if mounts reach virtiofsd)
        shares=[ShareSpec(vm_shares.vm_dir(name), vm_shares.POOL_TAG)] if share else [],
        cmdline=KERNEL_CMDLINE + (" mh.pool_share" if share else ""),
        channels=channels,
        console_log=workdir / "console.log",
        shared_memory=True,  # a claim may hot-plug virtiofs, which needs it
        hotplug_ports=0 if share else 1,  # a template's clone gets its share hot-plugged
        metadata=pool_metadata(paths, guest_identity(paths)),
    )


def publish(
    paths: config.Paths,
    settings: PoolSettings,
    dirs: PoolDirs,
    spec: DomainSpec,
    shares: int,
    source: str,
) -> PoolVM:
    """Its entry written, a paused READY VM moves from ``filling/`` to ``idle/``."""
    assert spec.max_vcpus is not None and spec.max_memory_mib is not None
    vm = PoolVM(
        spec.name,
        settings.vcpus,
        settings.memory_mib,
        spec.domain_type,
        guest_identity(paths),
        shares,
        time.time(),
        libvirtd_identity(),
        spec.max_vcpus,
        spec.max_memory_mib,
        vm_shares.TAGS if spec.shares else (),
        source,
    )
    workdir = dirs.filling / spec.name
    vm.write(workdir)
    os.rename(workdir, dirs.idle / spec.name)
    return vm


def new_workdir(dirs: PoolDirs, name: str) -> Path:
    workdir = dirs.filling / name
    if not dirs.filling.is_dir():  # removed under us: see fill's only_if_present
        raise VMError(f"the pool directory {dirs.base} is gone")
    make_workdir(workdir)
    return workdir


def boot_one(paths: config.Paths, settings: PoolSettings, dirs: PoolDirs) -> PoolVM:
    """Boot one VM to READY, pause it, and publish it as idle."""
    name = POOL_PREFIX + secrets.token_hex(6)
    workdir = new_workdir(dirs, name)
    share = vm_shares.ready()
    spec = pool_spec(paths, settings, name, workdir, share=share)
    t0 = time.monotonic()
    try:
        if share:
            vm_shares.prepare(name)
        domain, shares = boot_paused(spec)
        domain.release()
        vm = publish(paths, settings, dirs, spec, shares, "boot")
    except BaseException:
        with contextlib.suppress(VMError):
            destroy_by_name(name)  # booted but not published; its tap and share go with it
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    log.event(LOG, "pool VM ready", vm=name, boot_s=f"{time.monotonic() - t0:.2f}")
    return vm


def boot_paused(spec: DomainSpec) -> tuple[Domain, int]:
    """Boot ``spec`` at the lowest weight to READY, its balloon settled, and pause it: the
    Domain and the weight to give back at claim. On failure nothing of it runs on (its tap
    and share are the caller's)."""
    nic = spec.interfaces[0]
    domain: Domain | None = None
    socks: list[socket.socket] = []
    try:
        links.create_tap(nic.tap, nic.mac)
        domain = Domain(spec)
        shares = weight.lower(domain.libvirt_domain)
        socks = connect_channels(spec)
        domain.resume()
        wait_for_status(socks[protocol.PORTS.index(protocol.STATUS_PORT)], spec.name, "READY")
        _wait_ballooned(domain, spec.name)
        domain.suspend()
    except BaseException:
        if domain is not None:
            with contextlib.suppress(VMError):
                domain.destroy()
            domain.release()
        raise
    finally:
        for sock in socks:
            sock.close()
    return domain, shares


def connect_channels(spec: DomainSpec) -> list[socket.socket]:
    """The host's ends of the VM's control ports, in ``protocol.PORTS`` order."""
    socks: list[socket.socket] = []
    try:
        for channel in spec.channels:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            socks.append(sock)
            sock.connect(str(channel.socket))
    except OSError as err:
        for sock in socks:
            sock.close()
        raise VMError(f"cannot connect to {spec.name}'s control ports: {err}") from err
    return socks


def wait_for_status(sock: socket.socket, name: str, kind: str) -> None:
    """Until the guest's init says ``kind`` (READY after its boot), and nothing else first."""
    parser = protocol.StatusParser()
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise VMError(f"pool VM {name} did not say {kind} within {BOOT_TIMEOUT_S:.0f}s")
        sock.settimeout(left)
        try:
            data = sock.recv(protocol.MAX_STATUS_LINE)
        except TimeoutError:
            continue
        if not data:
            raise VMError(f"pool VM {name} ended before it said {kind}")
        try:
            events = parser.feed(data)
        except ValueError as err:
            raise VMError(f"pool VM {name}: {err}") from err
        for event in events:
            if event.kind == kind:
                return
            raise VMError(f"pool VM {name} said {event.kind} before {kind}")


def _wait_ballooned(domain: Domain, name: str) -> None:
    """Until the guest has given the balloon all but IDLE_MEMORY_MIB (about 0.4 s under
    TCG). Paused before, it would finish after its claim, beside the task's start."""
    deadline = time.monotonic() + BALLOON_TIMEOUT_S
    while domain.libvirt_domain.memoryStats().get("actual", 0) > IDLE_MEMORY_MIB * 1024:
        if time.monotonic() > deadline:
            log.event(LOG, "pool VM paused before its balloon settled", log.WARNING, vm=name)
            return
        time.sleep(0.05)
