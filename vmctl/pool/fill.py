"""Booting pool VMs, and removing them: fill, drain, and the reap of what a crash left.

A pool VM boots at the lowest CPU weight (``weight``), is paused the moment its init says
READY, and only then becomes ``idle``. One filler runs per state root at a time
(``fill.lock``), and boots one VM at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
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
from vmctl.lifecycle import Domain, destroy_by_name, list_ours, release_pool_vm_parts
from vmctl.network import links
from vmctl.pod import BOOT_TIMEOUT_S, make_workdir
from vmctl.pool import weight
from vmctl.pool.settings import IDLE_MEMORY_MIB, PoolSettings
from vmctl.pool.store import PoolDirs, PoolVM, guest_identity, is_current, libvirtd_identity
from vmctl.sizing import Ceilings

BALLOON_TIMEOUT_S = 10.0

LOG = log.get(__name__)
MAX_LOG_BYTES = 1 << 20
HALF_CLAIM_S = 60.0


def pool_metadata(paths: config.Paths, guest: str) -> dict[str, str]:
    """Until claimed, a pool VM names its pool's root (a claim relabels it as the task's)."""
    return {"pool": str(paths.pool), "guest": guest}


def boot_one(paths: config.Paths, settings: PoolSettings, dirs: PoolDirs) -> PoolVM:
    """Boot one VM to READY, pause it, and publish it as idle."""
    name = POOL_PREFIX + secrets.token_hex(6)
    guest = guest_identity(paths)
    domain_type = accel.domain_type(paths)
    workdir = dirs.filling / name
    if not dirs.filling.is_dir():  # removed under us: see fill's only_if_present
        raise VMError(f"the pool directory {dirs.base} is gone")
    make_workdir(workdir)
    channels = [ChannelSpec(port, workdir / f"{port}.sock") for port in protocol.PORTS]
    # its NIC, on a tap of its own that a claim renames to its pod's: a NIC hot-plugged at
    # claim time cost the guest 0.85 s of ACPI hot-plug handling under TCG
    nic = InterfaceSpec(links.pool_tap_name(name), links.pool_guest_mac(name))
    ceilings = Ceilings.from_env().at_least(settings.vcpus, settings.memory_mib)
    # its share, where a claim binds the pod's sandbox (if mounts reach libvirtd's virtiofsd)
    share_tags = vm_shares.TAGS if vm_shares.ready() else ()
    spec = DomainSpec(
        name=name,
        kernel=paths.boot_kernel,
        initramfs=paths.initramfs,
        domain_type=domain_type,
        vcpus=settings.vcpus,
        memory_mib=settings.memory_mib,
        current_memory_mib=IDLE_MEMORY_MIB,
        max_vcpus=ceilings.vcpus,
        max_memory_mib=ceilings.memory_mib,
        interfaces=[nic],
        shares=[ShareSpec(vm_shares.vm_dir(name), vm_shares.POOL_TAG)] if share_tags else [],
        cmdline=KERNEL_CMDLINE + (" mh.pool_share" if share_tags else ""),
        channels=channels,
        console_log=workdir / "console.log",
        shared_memory=True,
        metadata=pool_metadata(paths, guest),
    )
    t0 = time.monotonic()
    domain: Domain | None = None
    socks: list[socket.socket] = []
    try:
        links.create_tap(nic.tap, nic.mac)
        if share_tags:
            vm_shares.prepare(name)
        domain = Domain(spec)
        shares = weight.lower(domain.libvirt_domain)
        for channel in channels:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(channel.socket))
            socks.append(sock)
        domain.resume()
        _wait_ready(socks[protocol.PORTS.index(protocol.STATUS_PORT)], name)
        _wait_ballooned(domain, name)
        domain.suspend()
        vm = PoolVM(
            name,
            settings.vcpus,
            settings.memory_mib,
            domain_type,
            guest,
            shares,
            time.time(),
            libvirtd_identity(),
            ceilings.vcpus,
            ceilings.memory_mib,
            share_tags,
        )
        vm.write(workdir)
        os.rename(workdir, dirs.idle / name)
    except BaseException:
        if domain is not None:
            with contextlib.suppress(VMError):
                domain.destroy()
        release_pool_vm_parts(name)
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        for sock in socks:
            sock.close()
        if domain is not None:
            domain.release()
    log.event(LOG, "pool VM ready", vm=name, boot_s=f"{time.monotonic() - t0:.2f}")
    return vm


def _wait_ready(sock: socket.socket, name: str) -> None:
    parser = protocol.StatusParser()
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise VMError(f"pool VM {name} did not boot within {BOOT_TIMEOUT_S:.0f}s")
        sock.settimeout(left)
        try:
            data = sock.recv(protocol.MAX_STATUS_LINE)
        except TimeoutError:
            continue
        if not data:
            raise VMError(f"pool VM {name} ended while it booted")
        for event in parser.feed(data):
            if event.kind == "READY":
                return
            raise VMError(f"pool VM {name} said {event.kind} before READY")


def _wait_ballooned(domain: Domain, name: str) -> None:
    """Until the guest has given the balloon all but IDLE_MEMORY_MIB (about 0.4 s under
    TCG). Paused before, it would finish after its claim, beside the task's start."""
    deadline = time.monotonic() + BALLOON_TIMEOUT_S
    while domain.libvirt_domain.memoryStats().get("actual", 0) > IDLE_MEMORY_MIB * 1024:
        if time.monotonic() > deadline:
            log.event(LOG, "pool VM paused before its balloon settled", log.WARNING, vm=name)
            return
        time.sleep(0.05)


@contextlib.contextmanager
def fill_lock(dirs: PoolDirs, *, wait: bool) -> Iterator[bool]:
    """True when held: then no filler runs, and ``filling/`` holds only leftovers."""
    dirs.make()
    fd = os.open(dirs.fill_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


@dataclass
class FillResult:
    booted: list[str]
    failed: list[str]
    busy: bool = False  # another filler holds the lock
    stopped: bool = False  # drained: only an explicit fill refills it


def fill(
    paths: config.Paths,
    settings: PoolSettings | None = None,
    *,
    resume: bool = False,
    only_if_present: bool = False,
) -> FillResult:
    """Boot VMs until ``settings.size`` fit ones are idle; reaps leftovers first.

    A drained pool stays empty (a refill requested just before the drain must not undo
    it) until a fill with ``resume``, as ``mesos-hyper pool fill`` does. A background
    refill passes ``only_if_present``: the pool directory its requester made is gone
    (removed with its drained pool, marker and all), so it must not be made again.
    """
    settings = settings or PoolSettings.from_env()
    dirs = PoolDirs(paths)
    result = FillResult([], [])
    if only_if_present and not dirs.base.is_dir():
        result.stopped = True
        return result
    with fill_lock(dirs, wait=False) as held:
        if not held:
            result.busy = True
            return result
        if resume:
            dirs.stopped.unlink(missing_ok=True)
        elif dirs.stopped.exists():
            result.stopped = True
            return result
        _trim_log(dirs.fill_log)
        reap(paths, dirs)
        failures = 0
        while len(usable(paths, settings, dirs)) < settings.size and failures < 2:
            try:
                result.booted.append(boot_one(paths, settings, dirs).name)
            except Exception as err:  # a pool that cannot fill leaves launches cold
                failures += 1
                result.failed.append(str(err))
                log.event(LOG, "pool VM failed to boot", log.ERROR, error=err)
    return result


def usable(paths: config.Paths, settings: PoolSettings, dirs: PoolDirs) -> list[PoolVM]:
    guest, domain_type = guest_identity(paths), accel.domain_type(paths)
    return [
        vm
        for _, vm in dirs.idle_vms()
        if vm is not None
        and is_current(vm, guest, domain_type)
        and vm.vcpus == settings.vcpus
        and vm.memory_mib == settings.memory_mib
    ]


def drain(paths: config.Paths, *, only_stale: bool = False, stop: bool = False) -> list[str]:
    """Remove idle VMs (all, or only those no claim would take); their names. With ``stop``
    the pool stays empty until an explicit fill (``fill(resume=True)``)."""
    settings = PoolSettings.from_env()
    dirs = PoolDirs(paths)
    dirs.make()
    if stop:
        dirs.stopped.touch()
    keep = {vm.name for vm in usable(paths, settings, dirs)} if only_stale else set()
    removed = []
    for entry, _ in dirs.idle_vms():
        if entry.name in keep:
            continue
        target = dirs.draining / entry.name
        try:
            os.rename(entry, target)  # the same atomic step a claim takes
        except FileNotFoundError:
            continue
        _remove(target)
        removed.append(entry.name)
    return removed


def _remove(workdir: Path) -> None:
    destroy_by_name(workdir.name)
    shutil.rmtree(workdir, ignore_errors=True)


def reap(paths: config.Paths, dirs: PoolDirs) -> list[str]:
    """What a crash left: boots no filler runs, unfinished drains, idle entries whose VM is
    gone (a host reboot), stale VMs, and pool domains nobody holds or whose claim died
    half-way. Call with the fill lock.
    """
    removed = []
    for leftover_dir in (dirs.filling, dirs.draining):
        for entry in list(leftover_dir.iterdir()):
            _remove(entry)
            removed.append(entry.name)
    ours = {info.name for info in list_ours() if info.metadata.get("pool") == str(paths.pool)}
    for entry, _ in dirs.idle_vms():
        if entry.name not in ours:  # its VM is gone: nothing to claim
            release_pool_vm_parts(entry.name)
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    removed += drain(paths, only_stale=True)
    idle = {entry.name for entry, _ in dirs.idle_vms()}
    claimed = dirs.claimed_vms()  # listed after idle: a VM claimed meanwhile is in one
    for name in ours:
        # still labelled as the pool's well after its claim: its claimant died before it
        # relabelled the VM (a live one does so within milliseconds)
        half_claimed = name in claimed and time.time() - claimed[name] > HALF_CLAIM_S
        if name not in idle and (name not in claimed or half_claimed):
            with contextlib.suppress(VMError):
                destroy_by_name(name)
                removed.append(name)
    for name in removed:
        log.event(LOG, "pool leftover removed", vm=name)
    return removed


def _trim_log(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_size > MAX_LOG_BYTES:
            os.truncate(path, 0)
