"""VM templates: one pool VM booted and saved, and each later one restored from that image.

A restore costs a new QEMU loading about 70 MB (about 1.3 s of CPU here), where a boot
costs the guest about 4 s of CPU under TCG: refills are cheaper, so more pods per second
fit on a small host. A clone is paused at READY like a booted pool VM, and is claimed the
same way (``vmctl.pod``).

Every clone is a copy of one VM that ran nothing but our init. Before a task's code runs,
its claimant gives it what must not be shared: its kernel RNG is reseeded from the host
(the spec's seed; the cloud kernel has no vmgenid driver), its clock set, its hostname and
MAC set. What clones still share (the kernel's address layout and its boot-time secrets)
is in docs/security.md. Each clone has its own RAM: nothing is mapped from the template.

QEMU 7.2 cannot save a virtiofs device, nor restore a VM that has one, so a template boots
without a share. Each clone gets its share hot-plugged right after its restore, still in
the refill, and mounts it (the init's ``P`` record): a claim then binds the sandbox into it
as into a booted pool VM's.

On disk: ``<pool>/templates/<key>/vm.save``, where the key names everything a clone must
match (the domain's shape, the guest kernel and initramfs, QEMU). A template with another
key is stale and removed when a new one is built; a clone that fails to restore removes
its template, and the next refill builds a new one.

A restore fills the clone's guest RAM (shared memory, for virtiofs) with the zero pages
of the stream; ``zero_pages`` gives them back before the clone is published.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import secrets
import shutil
import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from mesos_hyper import config, log
from mesos_hyper.errors import VMError
from mesos_hyper.host.owners import qemu_pids
from vmctl import shares as vm_shares
from vmctl.connection import connect
from vmctl.domain import POOL_PREFIX, DomainSpec, ShareSpec
from vmctl.guest import protocol
from vmctl.lifecycle import Domain, destroy_by_name, release_pool_vm_parts
from vmctl.network import links
from vmctl.pool import weight, zero_pages
from vmctl.pool.boot import (
    boot_paused,
    connect_channels,
    new_workdir,
    pool_spec,
    publish,
    wait_for_status,
)
from vmctl.pool.save_image import copy_with_xml, read_header
from vmctl.pool.settings import PoolSettings
from vmctl.pool.store import PoolDirs, PoolVM, guest_identity

LOG = log.get(__name__)
IMAGE = "vm.save"
QEMU = Path("/usr/bin/qemu-system-x86_64")
TEMPLATE_PREFIX = POOL_PREFIX + "tpl-"  # the VM a template is saved from


def key(paths: config.Paths, settings: PoolSettings) -> str:
    """What a clone must match, hashed: its domain (but for its name and paths), the guest
    and QEMU (a new QEMU may not load an older one's image)."""
    shape = pool_spec(paths, settings, TEMPLATE_PREFIX + "key", Path("/"), share=False)
    try:
        st = QEMU.stat()
        qemu = f"{st.st_size}.{st.st_mtime_ns}"
    except OSError:
        qemu = "missing"
    text = "\n".join((shape.to_xml(), guest_identity(paths), qemu))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def templates_dir(dirs: PoolDirs) -> Path:
    return dirs.base / "templates"


def ensure(paths: config.Paths, settings: PoolSettings, dirs: PoolDirs) -> Path:
    """The current template's image, built first if there is none. Call with the fill lock."""
    current = key(paths, settings)
    image = templates_dir(dirs) / current / IMAGE
    if image.is_file():
        return image
    remove_all(dirs)  # stale ones: no clone would match them
    image.parent.mkdir(parents=True)
    t0 = time.monotonic()
    name = TEMPLATE_PREFIX + secrets.token_hex(6)
    workdir = new_workdir(dirs, name)
    partial = image.with_suffix(".partial")
    try:
        spec = pool_spec(paths, settings, name, workdir, share=False)
        domain, _ = boot_paused(spec)
        try:
            # libvirt writes the image and ends the domain; from then on it is only a file
            domain.libvirt_domain.save(str(partial))
        except libvirt.libvirtError as err:
            raise VMError(f"cannot save the template {name}: {err.get_error_message()}") from err
        finally:
            domain.release()
        read_header(partial)  # a raw image we can copy for clones
        os.replace(partial, image)
    except BaseException:
        with contextlib.suppress(VMError):
            destroy_by_name(name)  # its tap goes with it
        shutil.rmtree(image.parent, ignore_errors=True)
        raise
    finally:
        with contextlib.suppress(VMError):
            release_pool_vm_parts(name)
        shutil.rmtree(workdir, ignore_errors=True)
    log.event(
        LOG,
        "pool template saved",
        template=current,
        bytes=image.stat().st_size,
        build_s=f"{time.monotonic() - t0:.2f}",
    )
    return image


def _plug_share(spec: DomainSpec) -> DomainSpec:
    """The share a booted pool VM has from its boot, hot-plugged into the restored clone,
    which mounts it: a claim then binds the sandbox into it, as into a booted one's, and
    does not wait for a hot-plug (about 0.8 s of the guest's ACPI work under TCG)."""
    share = ShareSpec(vm_shares.vm_dir(spec.name), vm_shares.POOL_TAG)
    vm_shares.prepare(spec.name)
    domain = Domain(None, adopt=spec.name)
    socks: list[socket.socket] = []
    try:
        domain.attach(ET.tostring(share.element(), encoding="unicode"))
        socks = connect_channels(spec)
        domain.resume()
        socks[protocol.PORTS.index(protocol.CONTROL_PORT)].sendall(
            protocol.encode_mount_pool_share()
        )
        wait_for_status(socks[protocol.PORTS.index(protocol.STATUS_PORT)], spec.name, "SHARED")
        domain.suspend()
    finally:
        for sock in socks:
            sock.close()
        domain.release()
    return dataclasses.replace(spec, shares=[share])


def _trim(name: str) -> None:
    """The zero pages the restore allocated go back to the host (``zero_pages``); a VM left
    untrimmed works the same, only holding all of its RAM."""
    t0 = time.monotonic()
    try:
        pid = qemu_pids().get(name)
        if pid is None:
            raise VMError(f"no QEMU runs {name}")
        zeros = zero_pages.release(pid)
    except VMError as err:
        log.event(LOG, "restored pool VM keeps all its RAM", log.WARNING, vm=name, error=err)
        return
    log.event(
        LOG, "zero pages released", vm=name, mib=zeros >> 20, took_s=f"{time.monotonic() - t0:.2f}"
    )


def images(dirs: PoolDirs) -> list[Path]:
    """The saved templates (one, unless the pool's settings changed since it was saved)."""
    return sorted(templates_dir(dirs).glob(f"*/{IMAGE}"))


def remove_all(dirs: PoolDirs) -> None:
    shutil.rmtree(templates_dir(dirs), ignore_errors=True)


def restore_one(paths: config.Paths, settings: PoolSettings, dirs: PoolDirs, image: Path) -> PoolVM:
    """A new pool VM restored paused from ``image`` under a name of its own, published idle."""
    name = POOL_PREFIX + secrets.token_hex(6)
    workdir = new_workdir(dirs, name)
    spec = pool_spec(paths, settings, name, workdir, share=False)
    clone = workdir / IMAGE  # the template's image with this VM's XML; gone once loaded
    nic = spec.interfaces[0]
    t0 = time.monotonic()
    try:
        links.create_tap(nic.tap, nic.mac)
        copy_with_xml(image, clone, spec.to_xml())
        conn = connect()
        try:
            conn.restoreFlags(str(clone), None, libvirt.VIR_DOMAIN_SAVE_PAUSED)
        except libvirt.libvirtError as err:
            # the template no longer loads (a QEMU or libvirt change its key missed):
            # the next refill builds a new one
            shutil.rmtree(image.parent, ignore_errors=True)
            raise VMError(
                f"cannot restore {name} from the template: {err.get_error_message()}"
            ) from err
        clone.unlink()
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError as err:
            raise VMError(f"restored {name} is gone: {err.get_error_message()}") from err
        shares = weight.lower(dom)
        if vm_shares.ready():
            spec = _plug_share(spec)
        _trim(name)
        vm = publish(paths, settings, dirs, spec, shares, "template")
    except BaseException:
        with contextlib.suppress(VMError):
            destroy_by_name(name)  # its tap goes with it
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    log.event(LOG, "pool VM restored", vm=name, restore_s=f"{time.monotonic() - t0:.2f}")
    return vm
