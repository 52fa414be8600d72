"""Running code inside a named network namespace.

setns() moves only the calling thread, so the work runs on a short-lived thread that
enters the namespace first; sockets made there (netlink included) stay in that namespace
whichever thread uses them later.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from mesos_hyper.errors import HyperError
from vmctl.network.rtnl import Rtnl

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(name: str) -> str:
    return f"/run/netns/{name}"


def run_in_netns(name: str | None, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` inside netns ``name`` (None: right here)."""
    if name is None:
        return fn(*args)
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            fd = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            error.append(HyperError(f"network namespace {name!r} is not there: {err.strerror}"))
            return
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                error.append(HyperError(f"cannot enter netns {name!r}: {os.strerror(err)}"))
                return
        finally:
            os.close(fd)
        try:
            result.append(fn(*args))
        except BaseException as err:  # handed to the caller
            error.append(err)

    thread = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def with_netlink(name: str | None, work: Callable[[Rtnl], T]) -> T:
    """``work(rtnl)`` with a netlink socket of netns ``name``, made on a thread inside it."""

    def run() -> T:
        with Rtnl() as rtnl:
            return work(rtnl)

    return run_in_netns(name, run)


def nsenter_prefix(name: str | None) -> list[str]:
    """Argv prefix that runs a program inside netns ``name``."""
    return [] if name is None else ["nsenter", f"--net={netns_path(name)}"]
