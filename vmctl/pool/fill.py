"""Keeping the pool full, and emptying it: fill, drain, and the reap of what a crash left.

One filler runs per pool at a time (``fill.lock``) and makes one VM at a time: by booting
it (``vmctl.pool.boot``) or by restoring it from a template (``vmctl.pool.template``), as
``MESOS_HYPER_POOL_SOURCE`` says.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mesos_hyper import config, log
from mesos_hyper.errors import VMError
from vmctl import accel
from vmctl.lifecycle import destroy_by_name, list_ours, release_pool_vm_parts
from vmctl.pool import template
from vmctl.pool.boot import boot_one
from vmctl.pool.settings import PoolSettings
from vmctl.pool.store import PoolDirs, PoolVM, guest_identity, is_current

LOG = log.get(__name__)
MAX_LOG_BYTES = 1 << 20
HALF_CLAIM_S = 60.0


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
    """What a fill did: the VMs it made and what failed."""

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
                result.booted.append(make_one(paths, settings, dirs).name)
            except Exception as err:  # a pool that cannot fill leaves launches cold
                failures += 1
                result.failed.append(str(err))
                log.event(LOG, "pool VM failed to boot", log.ERROR, error=err)
    return result


def make_one(paths: config.Paths, settings: PoolSettings, dirs: PoolDirs) -> PoolVM:
    if settings.source == "template":
        image = template.ensure(paths, settings, dirs)
        return template.restore_one(paths, settings, dirs, image)
    return boot_one(paths, settings, dirs)


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
        template.remove_all(dirs)  # rebuilt by the next fill that restores from one
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
