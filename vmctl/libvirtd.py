"""Starting libvirtd (and virtlogd) so that it suits the accelerator we use.

Where KVM does not work but ``/dev/kvm`` exists (nested virtualisation that hangs guests),
libvirtd's capability probing stalls every domain start for ~40 s. We then start libvirtd
in a mount namespace of its own (a slave of the host's, see vmctl.shares) in which
``/dev/kvm`` is masked by a root-only character device: libvirt then finds KVM unusable
for the QEMU user, offers TCG only and keeps its capability cache (a mask that QEMU's user
can open makes it re-probe on every start).
On hosts run by systemd we leave the daemon to systemd and mask ``/dev/kvm`` with a drop-in.

Started by hand, libvirtd runs in the foreground under ``tini -s``, a child subreaper: the
QEMU processes libvirtd daemonizes are then reaped the moment they exit. Left to a PID 1
that reaps late (a container's, here every 2 s), each domain destroy waited on the zombie:
2 s per VM, where QEMU itself exits in 5 ms.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import libvirt

from mesos_hyper import log
from mesos_hyper.errors import VMError
from vmctl import shares

LOG = log.get(__name__)
SYSTEMD_DROPIN = Path("/etc/systemd/system/libvirtd.service.d/mesos-hyper-no-kvm.conf")
START_TIMEOUT_S = 30.0
KVM_MASK = Path("/run/mesos-hyper/kvm-mask")
LIBVIRTD_LOG = Path("/var/log/libvirt/libvirtd-foreground.log")


def reachable(uri: str) -> bool:
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError:
        return False
    conn.close()
    return True


def _running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True, timeout=30).returncode == 0


def _systemd() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def _start_with_systemd(mask_kvm: bool) -> None:
    if mask_kvm:
        SYSTEMD_DROPIN.parent.mkdir(parents=True, exist_ok=True)
        SYSTEMD_DROPIN.write_text("[Service]\nInaccessiblePaths=-/dev/kvm\n")
    elif SYSTEMD_DROPIN.exists():
        SYSTEMD_DROPIN.unlink()
    subprocess.run(["systemctl", "daemon-reload"], check=True, timeout=120)
    subprocess.run(["systemctl", "restart", "virtlogd", "libvirtd"], check=True, timeout=120)


def _start_by_hand(mask_kvm: bool) -> None:
    if not _running("virtlogd"):
        subprocess.run(["virtlogd", "--daemon"], check=True, timeout=60)
    if _running("libvirtd"):
        raise VMError(
            "libvirtd is running but not answering; stop it (pkill -x libvirtd) and run "
            "`mesos-hyper host up` again"
        )
    tini = shutil.which("tini")
    if tini is None:
        raise VMError("tini is missing (apt-get install tini): libvirtd runs under it")
    if mask_kvm and os.path.exists("/dev/kvm"):
        KVM_MASK.parent.mkdir(parents=True, exist_ok=True)
        KVM_MASK.unlink(missing_ok=True)
        os.mknod(KVM_MASK, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        script = f"mount --bind {KVM_MASK} /dev/kvm && exec libvirtd"
        # slave: the mask stays ours, and mounts under vmctl.shares.VM_SHARES reach it
        daemon = ["unshare", "--mount", "--propagation", "slave", "sh", "-c", script]
    else:
        daemon = ["libvirtd"]
    LIBVIRTD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LIBVIRTD_LOG, "ab") as out:
        subprocess.Popen(
            [tini, "-s", "--", *daemon],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # outlives us, and no terminal's signals reach it
        )


def ensure_running(uri: str, domain_type: str) -> str:
    """Make libvirtd answer on ``uri``; return how it was found or started."""
    try:
        shares.ensure_root()  # before libvirtd starts: its namespace copies the mount
    except (OSError, VMError) as err:
        log.event(LOG, "no shared VM share root; claims hot-plug shares", log.WARNING, error=err)
    if reachable(uri):
        if not shares.ready():
            log.event(
                LOG,
                "libvirtd does not see mounts under the VM share root: pool VMs boot without"
                " a share and claims hot-plug it (restart libvirtd: pkill -x libvirtd, then"
                " mesos-hyper host up)",
                log.WARNING,
                root=shares.VM_SHARES,
            )
        log.event(LOG, "libvirtd already running", uri=uri)
        return "already running"
    if not uri.startswith("qemu:///system"):
        raise VMError(f"cannot reach libvirt at {uri}; start that daemon yourself")
    mask_kvm = domain_type != "kvm"
    try:
        if _systemd():
            _start_with_systemd(mask_kvm)
            how = "started by systemd"
        else:
            _start_by_hand(mask_kvm)
            how = "started" + (" with /dev/kvm masked (TCG)" if mask_kvm else "")
    except (OSError, subprocess.CalledProcessError) as err:
        raise VMError(f"could not start libvirtd: {err}") from err
    deadline = time.monotonic() + START_TIMEOUT_S
    while not reachable(uri):
        if time.monotonic() > deadline:
            raise VMError(f"libvirtd did not answer on {uri} within {START_TIMEOUT_S:.0f}s")
        time.sleep(0.2)
    log.event(LOG, "libvirtd ready", uri=uri, how=how)
    return how
