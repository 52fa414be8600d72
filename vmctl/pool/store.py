"""The pool's directories and the atomic claim (see the package docstring for the layout)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mesos_hyper import config, log
from mesos_hyper.errors import VMError

LOG = log.get(__name__)
ENTRY = "vm.json"  # in a pool VM's directory, and moved with it into the container's
MAX_ENTRY_BYTES = 4096


@dataclass(frozen=True)
class PoolVM:
    """What a pool VM was booted as: a claim takes only one that fits and is current."""

    name: str
    vcpus: int
    memory_mib: int
    domain_type: str
    guest: str  # the kernel and initramfs it booted (guest_identity)
    cpu_shares: int  # the weight to give back at claim (it boots at the lowest)
    booted_at: float
    libvirtd: str = ""  # the libvirtd it was booted under (libvirtd_identity)
    # how far a claim can grow it by hot-plug (vmctl.sizing); 0: not at all
    max_vcpus: int = 0
    max_memory_mib: int = 0
    # the tags of the shares it booted with, under which a claim binds a directory
    # (vmctl.shares); a share of another tag is hot-plugged
    shares: tuple[str, ...] = ()
    source: str = "boot"  # how it came to be READY: "boot", or "template" (restored)

    def can_hold(self, vcpus: int, memory_mib: int) -> bool:
        return vcpus <= max(self.vcpus, self.max_vcpus) and memory_mib <= max(
            self.memory_mib, self.max_memory_mib
        )

    def write(self, directory: Path) -> None:
        """Before any tenant's code has run in the VM; still never through a link."""
        tmp = directory / (ENTRY + ".tmp")
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(asdict(self)))
        os.replace(tmp, directory / ENTRY)

    @classmethod
    def read(cls, directory: Path) -> PoolVM | None:
        """None unless a small regular file: the directory is the QEMU user's, and after a
        claim its tenant's QEMU could plant a link, a fifo or a huge file there."""
        try:
            fd = os.open(
                directory / ENTRY, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            )
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            raw = os.read(fd, MAX_ENTRY_BYTES + 1)
            if len(raw) > MAX_ENTRY_BYTES:
                return None
            data = json.loads(raw)
            data["shares"] = tuple(str(tag) for tag in data.get("shares", ()))
            return cls(**data)
        except (OSError, ValueError, TypeError, AttributeError):
            return None
        finally:
            os.close(fd)


def guest_identity(paths: config.Paths) -> str:
    """Changes whenever the guest kernel or initramfs is rebuilt: older pool VMs are stale."""
    parts = []
    for path in (paths.kernel, paths.initramfs):
        try:
            st = path.stat()
        except OSError:
            return "missing"
        parts.append(f"{st.st_size}.{st.st_mtime_ns}")
    return "-".join(parts)


LIBVIRTD_PID_FILE = Path("/run/libvirtd.pid")


def libvirtd_identity() -> str:
    """The running libvirtd, as pid and start time ("" when unknown). A libvirtd restarted
    since a pool VM booted refuses to hot-plug virtiofs into it ("'virtiofs' requires
    shared memory", libvirt 9.0), so such a VM is stale."""
    try:
        pid = int(LIBVIRTD_PID_FILE.read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return ""
    return f"{pid}:{stat[stat.rindex(')') + 2 :].split()[19]}"


def is_current(vm: PoolVM, guest: str, domain_type: str) -> bool:
    """Booted with today's kernel and initramfs, accelerator and libvirtd."""
    libvirtd = libvirtd_identity()
    return (
        vm.guest == guest
        and vm.domain_type == domain_type
        and (not libvirtd or not vm.libvirtd or vm.libvirtd == libvirtd)
    )


class PoolDirs:
    def __init__(self, paths: config.Paths) -> None:
        self.paths = paths
        self.base = paths.pool
        self.idle = self.base / "idle"
        self.filling = self.base / "filling"
        self.draining = self.base / "draining"
        self.fill_lock = self.base / "fill.lock"
        self.fill_log = self.base / "fill.log"
        self.stopped = self.base / "stopped"  # drained: no background refill until `fill`

    def make(self) -> None:
        for d in (self.idle, self.filling, self.draining):
            d.mkdir(parents=True, exist_ok=True)

    def idle_vms(self) -> list[tuple[Path, PoolVM | None]]:
        """Oldest first: a VM that waited longest is claimed first."""
        try:
            entries = list(self.idle.iterdir())
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            try:
                mtime = entry.stat().st_mtime
            except OSError:
                continue  # claimed meanwhile
            found.append((mtime, entry))
        return [(entry, PoolVM.read(entry)) for _, entry in sorted(found)]

    def claimed_vms(self) -> dict[str, float]:
        """Pool VMs moved into containers' directories (their entries moved with them):
        name -> when claimed."""
        claimed = {}
        try:
            workdirs = list(self.paths.containers.iterdir())
        except FileNotFoundError:
            return claimed
        for workdir in workdirs:
            vm = PoolVM.read(workdir)
            if vm is not None:
                with contextlib.suppress(OSError):
                    claimed[vm.name] = (workdir / ENTRY).stat().st_mtime
        return claimed


def claim(
    dirs: PoolDirs, workdir: Path, *, vcpus: int, memory_mib: int, domain_type: str, guest: str
) -> PoolVM | None:
    """Take an idle VM that can grow to the size asked, by renaming its directory to
    ``workdir``; None if none.

    ``rename(2)`` is the claim: of two claimants only one finds the directory, and the VM
    moves with its sockets, console log and entry in one step.
    """
    workdir.parent.mkdir(parents=True, exist_ok=True)  # else rename(2) fails as if lost
    for entry, vm in dirs.idle_vms():
        if vm is None or not is_current(vm, guest, domain_type):
            continue  # stale or being written: the filler's reap deals with it
        if vm.name != entry.name:
            continue  # the directory is the QEMU user's: trust its name, not its contents
        if not vm.can_hold(vcpus, memory_mib):
            continue
        try:
            os.rename(entry, workdir)
        except FileNotFoundError:
            continue  # another claimant (or a drain) took it first
        except OSError as err:
            if err.errno == errno.EXDEV:
                raise VMError(
                    f"the pool ({dirs.base}) is on another filesystem than {workdir.parent}: "
                    "set MESOS_HYPER_POOL_DIR beside MESOS_HYPER_ROOT"
                ) from err
            raise VMError(f"cannot claim pool VM {vm.name} into {workdir}: {err}") from err
        os.utime(workdir / ENTRY, follow_symlinks=False)  # when claimed: see fill.reap
        log.event(
            LOG,
            "claimed a pool VM",
            vm=vm.name,
            workdir=workdir,
            waited_s=f"{time.time() - vm.booted_at:.1f}",
        )
        return vm
    return None
