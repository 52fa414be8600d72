"""Process-tree kill as stout's os::killtree(pid, SIGKILL, groups, sessions).

The agent kills a pending `wait` with its whole tree, process groups and
sessions included; the double must do the same so an ECP that leaves helpers
in the wait's session sees them die exactly as under a real agent.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, sid) from /proc/<pid>/stat, None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[2]), int(fields[3])


def _table() -> dict[int, tuple[int, int, int]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                table[int(entry)] = info
    return table


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def killtree(pid: int) -> set[int]:
    """stout's killtree(pid, SIGKILL, true, true); the pids it signalled.

    Each process is SIGSTOPped *before* the process list is read for its children,
    groups and sessions: a stopped process cannot fork, and a fork racing the stop
    is aborted by the pending signal, so nothing escapes the walk. A root that is
    gone leaves the group and session it led. The test runner's own group and
    session (and those of the root's parent) are never entered.
    """
    table = _table()
    own = os.getpid()
    skip_groups = {os.getpgid(0)}
    skip_sessions = {os.getsid(0)}
    queue: deque[int] = deque()
    if pid in table:
        queue.append(pid)
        parent = table.get(table[pid][0])
        if parent is not None:
            skip_groups.add(parent[1])
            skip_sessions.add(parent[2])
    else:
        queue.extend(p for p, (_, pgid, sid) in table.items() if pgid == pid or sid == pid)
    visited: set[int] = set()
    while queue:
        member = queue.popleft()
        if member in visited or member == own:
            continue
        info = _stat(member)
        if info is None:
            continue
        _signal(member, signal.SIGSTOP)
        visited.add(member)
        table = _table()  # read after the stop: complete for this member
        queue.extend(p for p, (ppid, _, _) in table.items() if ppid == member)
        _, pgid, sid = info
        if pgid not in skip_groups:
            skip_groups.add(pgid)
            queue.extend(p for p, (_, g, _) in table.items() if g == pgid)
        if sid not in skip_sessions:
            skip_sessions.add(sid)
            queue.extend(p for p, (_, _, s) in table.items() if s == sid)
    for sig in (signal.SIGKILL, signal.SIGCONT):
        for member in visited:
            _signal(member, sig)
    return visited


def session_members(sid: int) -> set[int]:
    """Live processes in session `sid` (for leak checks)."""
    return {pid for pid, (_, _, s) in _table().items() if s == sid and _is_alive(pid)}


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def wait_gone(pids: Iterable[int], deadline: float) -> set[int]:
    """Block on pidfds until every pid has exited or `deadline` (monotonic) passes.

    Returns the pids still running then. An exited process counts as gone as soon
    as it is a zombie, as in `session_members`; nothing polls a clock.
    """
    fds: dict[int, int] = {}
    try:
        for pid in set(pids):
            try:
                fds[os.pidfd_open(pid)] = pid
            except ProcessLookupError:
                continue
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        while fds:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for fd, _ in poller.poll(left * 1000):
                poller.unregister(fd)
                os.close(fd)
                del fds[fd]
        return set(fds.values())
    finally:
        for fd in fds:
            os.close(fd)
