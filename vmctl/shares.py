"""A pre-booted VM's share: its own directory, into which a claim bind-mounts a sandbox.

virtiofsd serves one directory, fixed when the VM starts. A pool VM boots sharing
``<VM_SHARES>/<vm>`` (read-only, with an empty mount point per tag), and a claim
bind-mounts the pod's sandbox onto ``<VM_SHARES>/<vm>/<tag>``: no device is hot-plugged
(each hot-plugged PCI device cost the guest 0.85 s of ACPI work under TCG) and the guest
mounted the share while it booted.

The bind mount reaches virtiofsd by mount propagation: ``VM_SHARES`` is a shared mount in
the host's namespace, libvirtd's namespace is a slave of it (``--propagation slave``, or
systemd's default), and so is virtiofsd's own (it makes ``/`` a recursive slave). Where
libvirtd does not see the propagation (one started before ``mesos-hyper host up`` set
this up), ``ready`` says so, pool VMs boot without a share and a claim hot-plugs it.

The read-only bind of the VM's directory keeps a guest from writing anything beside its
sandbox there, where no disk limit would count it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path

from mesos_hyper.errors import VMError

VM_SHARES = Path(os.environ.get("MESOS_HYPER_VM_SHARES") or "/run/mesos-hyper/vm-shares")
TAGS = ("sandbox",)  # the shares a pool VM has mount points for (the pod executor's)
POOL_TAG = "mh.pool"  # the virtiofs tag of a pool VM's share; the guest mounts it at boot
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384
MS_SHARED = 1 << 20
MNT_DETACH, UMOUNT_NOFOLLOW = 2, 8
LIBVIRTD_PIDFILE = Path("/run/libvirtd.pid")

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: Path, flags: int) -> None:
    src = source.encode() if source is not None else None
    if _libc.mount(src, str(target).encode(), None, flags, None) != 0:
        err = ctypes.get_errno()
        raise VMError(f"mount {source or ''} on {target}: {os.strerror(err)}")


def _umount(target: Path) -> None:
    """Lazily (virtiofsd may still hold it), and never through a symlink at ``target``."""
    if _libc.umount2(str(target).encode(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
            raise VMError(f"umount {target}: {os.strerror(err)}")


def _mountinfo(pid: str = "self") -> list[tuple[str, list[str]]]:
    """(mount point, optional fields) of each mount that ``pid`` sees."""
    out = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            out.append((fields[4].replace("\\040", " "), fields[6:sep]))
    return out


def ensure_root() -> None:
    """``VM_SHARES`` as a shared mount of its own (idempotent); before libvirtd starts."""
    VM_SHARES.mkdir(parents=True, exist_ok=True, mode=0o755)
    if not any(point == str(VM_SHARES) for point, _ in _mountinfo()):
        _mount(str(VM_SHARES), VM_SHARES, MS_BIND)
    _mount(None, VM_SHARES, MS_SHARED)


def ready() -> bool:
    """Whether a mount under VM_SHARES made here reaches libvirtd (and its virtiofsd)."""
    try:
        pid = LIBVIRTD_PIDFILE.read_text().strip()
        ours = {point: opts for point, opts in _mountinfo()}
        theirs = {point: opts for point, opts in _mountinfo(pid)}
    except (OSError, ValueError):
        return False
    mine = ours.get(str(VM_SHARES), [])
    group = next((o.split(":")[1] for o in mine if o.startswith("shared:")), None)
    seen = theirs.get(str(VM_SHARES), [])
    # the same namespace (shared:N), or a slave of our peer group (master:N)
    return group is not None and (f"shared:{group}" in seen or f"master:{group}" in seen)


def vm_dir(name: str) -> Path:
    return VM_SHARES / name


def prepare(name: str) -> Path:
    """The VM's directory, with a mount point per tag, bound read-only onto itself."""
    path = vm_dir(name)
    VM_SHARES.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o755)
    for tag in TAGS:
        (path / tag).mkdir(mode=0o755)
    try:
        _mount(str(path), path, MS_BIND)
        _mount(None, path, MS_REMOUNT | MS_BIND | MS_RDONLY)
    except VMError:
        release(name)
        raise
    return path


def attach(name: str, tag: str, source: Path) -> None:
    """``source`` appears in the VM's share under ``tag``. Call while the VM is paused and
    before it ran anything but our init: the mount point was made by us at boot, and
    nothing of a tenant has been able to write under the VM's directory yet."""
    if tag not in TAGS:
        raise VMError(f"a pool VM has no mount point for share {tag!r}")
    _mount(str(source), vm_dir(name) / tag, MS_BIND | MS_REC)


def release(name: str) -> None:
    """Unmount and remove; idempotent. The VM's directory was bound read-only before the
    guest ran, so nothing in it but the sandbox's contents is the guest's doing."""
    path = vm_dir(name)
    if not path.is_dir():
        return
    for tag in TAGS:
        _umount(path / tag)
    _umount(path)
    for tag in TAGS:
        with contextlib.suppress(FileNotFoundError):
            (path / tag).rmdir()  # an empty mount point; never rmtree through a mount
    with contextlib.suppress(FileNotFoundError):
        path.rmdir()


def leftovers() -> list[str]:
    """Mounts under VM_SHARES and VM directories there (for the leak checks and gc)."""
    root = str(VM_SHARES) + "/"
    found = [point for point, _ in _mountinfo() if point.startswith(root)]
    if VM_SHARES.is_dir():
        found += [str(p) for p in VM_SHARES.iterdir()]
    return sorted(set(found))
