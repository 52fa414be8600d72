"""A domain's host processes, its QEMU and virtiofsd daemons, ended before libvirt's destroy.

libvirt ends a QEMU with SIGTERM and looks again only 200 ms later
(virProcessKillPainfully), holding the domain meanwhile; it does so as soon as QEMU's
monitor socket closes, which is before the dying QEMU has been reaped, so even a QEMU that
was killed, or whose guest powered off, costs those 200 ms: every destroy took 210-230 ms
here. So we first take copies of QEMU's sockets (pidfd_getfd): its death then closes
nothing that libvirt sees. We SIGKILL QEMU and its virtiofsd daemons, wait until they have
been reaped (10-20 ms), and drop the copies; libvirt then finds the monitor closed and
nothing left to kill. It takes the end for a crash (its domain log and event say so); we
only do this to a domain we are destroying.

Nothing depends on it: where a pid file is missing or names some other process, or the
kernel lacks pidfd_getfd, libvirt's destroy does it all, slowly. The pid files are
libvirt's (qemu:///system): ``<name>.pid`` for QEMU, and
``<id>-<first 20 characters of name>-<alias>-fs.pid`` for each virtiofsd. A pid counts
only if /proc says it is that domain's QEMU, or a virtiofsd, once its pidfd is open (so a
pid reused meanwhile is never signalled).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import libvirt

from mesos_hyper.host.owners import argv_of, is_qemu, is_virtiofsd, qemu_domain

RUN_DIR = Path("/run/libvirt/qemu")
GONE_WAIT_S = 1.0
SHORT_NAME = 20  # libvirt's VIR_DOMAIN_SHORT_NAME_MAX
SYS_PIDFD_GETFD = 438  # the same on every architecture


def kill(dom: libvirt.virDomain) -> None:
    """SIGKILL the domain's QEMU and virtiofsd daemons; returns once they are reaped, or
    after GONE_WAIT_S. Best effort: never raises."""
    try:
        name, dom_id = dom.name(), dom.ID()
    except libvirt.libvirtError:
        return
    if dom_id < 0:  # not running
        return
    qemu_pid = _read_pid(RUN_DIR / f"{name}.pid")
    qemu = _pidfd(qemu_pid, lambda argv: _runs(argv, name))
    if qemu is None:
        return
    fds = [qemu] + [
        fd
        for pidfile in RUN_DIR.glob(f"{dom_id}-{name[:SHORT_NAME]}-*-fs.pid")
        for pid in _with_children(_read_pid(pidfile))
        if (fd := _pidfd(pid, is_virtiofsd)) is not None
    ]
    held = _copy_sockets(qemu, qemu_pid)
    try:
        for fd in fds:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
        _wait_gone(fds, time.monotonic() + GONE_WAIT_S)
    finally:
        for fd in (*held, *fds):
            os.close(fd)


def _copy_sockets(pidfd: int, pid: int) -> list[int]:
    """Our own copies of every socket the process holds; none where the kernel cannot."""
    import ctypes  # only here: a destroy

    libc = ctypes.CDLL(None, use_errno=True)
    copies: list[int] = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return copies
    for entry in fds:
        try:
            if not os.readlink(f"/proc/{pid}/fd/{entry}").startswith("socket:"):
                continue
        except OSError:
            continue
        copy = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(entry), 0)
        if copy < 0:
            if ctypes.get_errno() in (errno.ENOSYS, errno.EPERM):
                break  # no copies at all: the plain, slower end
            continue
        copies.append(copy)
    return copies


def _runs(argv: list[bytes], name: str) -> bool:
    return is_qemu(argv) and qemu_domain(argv) == name


def _read_pid(pidfile: Path) -> int:
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() and len(text) < 10 else 0


def _with_children(pid: int) -> list[int]:
    """virtiofsd forks its sandboxed worker; both go."""
    if pid <= 0:
        return []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *(int(child) for child in children if child.isdigit())]


def _pidfd(pid: int, accept: Callable[[list[bytes]], bool]) -> int | None:
    """A pidfd of ``pid`` if, once it is open, the process is the one ``accept`` wants."""
    if pid <= 1:
        return None
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        if accept(argv_of(pid)):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _wait_gone(fds: list[int], deadline: float) -> None:
    """Until each process has been reaped: libvirt's kill(pid, 0) still finds a zombie."""
    for fd in fds:
        while time.monotonic() < deadline:
            try:
                signal.pidfd_send_signal(fd, 0)
            except OSError:
                break
            time.sleep(0.002)
