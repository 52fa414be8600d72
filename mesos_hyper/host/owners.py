"""Which processes are alive on this host, and who holds each of our VMs.

``gc`` never takes a container for dead on a record alone: a container lives while a
process of its own runs. These helpers read /proc and the kernel's table of unix sockets
(sock_diag), so they work for pods whose owner left no state behind (``mesos-hyper run``
keeps none): a VM's owner is whoever is connected to its QEMU, besides libvirt's own.
tests/leaks.py sorts processes with the same predicates.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mesos_hyper.containerizer.executor_process import start_time

# libvirt's helpers hold sockets of every QEMU: connected to one, they own nothing
LIBVIRT_HELPERS = frozenset({b"libvirtd", b"virtqemud", b"virtlogd", b"virtlockd"})


def argv_of(pid: int | str) -> list[bytes]:
    """The process's argv; OSError if it is gone (or a kernel thread's, empty)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")[:-1]


def is_qemu(argv: list[bytes]) -> bool:
    return bool(argv) and b"qemu-system" in argv[0]


def is_virtiofsd(argv: list[bytes]) -> bool:
    return bool(argv) and os.path.basename(argv[0]) == b"virtiofsd"


def is_executor(argv: list[bytes]) -> bool:
    """``python [flags] -m mesos_hyper.executor [args]``."""
    return (b"-m", b"mesos_hyper.executor") in itertools.pairwise(argv)


def qemu_domain(argv: list[bytes]) -> str | None:
    """The domain a QEMU process runs (libvirt passes ``-name guest=NAME,...``)."""
    for flag, value in itertools.pairwise(argv):
        if flag == b"-name" and value.startswith(b"guest="):
            return value[6:].split(b",")[0].decode(errors="replace")
    return None


def processes() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, argv) of every process that is still there when read."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                yield int(entry), argv_of(entry)
            except OSError:
                continue


@dataclass(frozen=True)
class Executor:
    """A running pod executor and the container it serves (from its environment)."""

    pid: int
    start: int
    container_id: str
    state_root: Path | None
    root: Path  # its MESOS_HYPER_ROOT


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        items = f.read().split(b"\0")
    env = {}
    for item in items:
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def executors() -> list[Executor]:
    """Every pod executor running on this host, whichever agent started it.

    An executor whose environment cannot be read raises PermissionError: without it, a
    live container would look dead (gc runs as root, as the agent does).
    """
    found = []
    for pid, argv in processes():
        if not is_executor(argv):
            continue
        started = start_time(pid)
        try:
            env = _environ(pid)
        except FileNotFoundError:
            continue  # exited meanwhile
        except ProcessLookupError:
            continue
        cid = env.get("MESOS_HYPER_CONTAINER_ID")
        if started is None or not cid:
            continue
        state_root = env.get("MESOS_HYPER_STATE_ROOT")
        found.append(
            Executor(
                pid,
                started,
                cid,
                Path(state_root) if state_root else None,
                Path(env.get("MESOS_HYPER_ROOT") or "/var/lib/mesos-hyper"),
            )
        )
    return found


def qemu_pids() -> dict[str, int]:
    """Domain name -> the pid of the QEMU that runs it."""
    found = {}
    for pid, argv in processes():
        if is_qemu(argv):
            name = qemu_domain(argv)
            if name is not None:
                found[name] = pid
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _unix_peers() -> dict[int, int]:
    """Socket inode -> its peer's, for every connected unix socket of this namespace."""
    from pyroute2 import DiagSocket
    from pyroute2.netlink.diag import SS_ALL, UDIAG_SHOW_PEER

    with DiagSocket() as diag:
        diag.bind()
        answers = diag.get_sock_stats(family=socket.AF_UNIX, states=SS_ALL, show=UDIAG_SHOW_PEER)
    peers = {}
    for answer in answers:
        peer = answer.get_attr("UNIX_DIAG_PEER")
        if peer:
            peers[int(answer["udiag_ino"])] = int(peer)
    return peers


def _is_helper(pid: int) -> bool:
    """QEMU itself, its virtiofsd, or one of libvirt's daemons."""
    try:
        argv = argv_of(pid)
    except OSError:
        return True  # gone: holds nothing
    if is_qemu(argv) or is_virtiofsd(argv):
        return True
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            comm = f.read().strip()
    except OSError:
        return True
    return comm in LIBVIRT_HELPERS


def attached(qemus: Iterable[int]) -> dict[int, set[int]]:
    """For each QEMU pid, the other processes connected to its sockets: the executor or
    the ``mesos-hyper run`` that drives the VM through its channels (libvirt's daemons and
    virtiofsd left out). An empty set: nobody drives that VM any more."""
    wanted = {pid: _socket_inodes(pid) for pid in qemus}
    if not wanted:
        return {}
    peers = _unix_peers()
    peer_of = {pid: {peers[i] for i in inodes if i in peers} for pid, inodes in wanted.items()}
    every_peer = set().union(*peer_of.values())
    holders: dict[int, set[int]] = {}  # peer inode -> pids that hold it
    for pid, _ in processes():
        for inode in _socket_inodes(pid) & every_peer:
            holders.setdefault(inode, set()).add(pid)
    out = {}
    for qemu, inodes in peer_of.items():
        pids = {p for inode in inodes for p in holders.get(inode, ())}
        out[qemu] = {p for p in pids if p != qemu and not _is_helper(p)}
    return out


def describe(pid: int) -> str:
    """``pid N (argv...)`` for a line, shortened."""
    try:
        text = b" ".join(argv_of(pid)).decode(errors="replace")
    except OSError:
        text = "gone"
    return f"pid {pid} ({text[:60]})"
