"""Process-tree kill as stout's os::killtree(pid, SIGKILL, groups, sessions).

The agent kills a pending `wait` with its whole tree, process groups and
sessions included; the double must do the same so an ECP that leaves helpers
in the wait's session sees them die exactly as under a real agent.
"""

from __future__ import annotations

import contextlib
import os
import signal
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


def tree(pid: int) -> set[int]:
    """pid, its descendants, and everything sharing their groups/sessions."""
    table = _table()
    if pid not in table:
        return set()
    own = os.getpid()
    mine = table.get(own, (0, os.getpgid(0), os.getsid(0)))
    members = {pid}
    changed = True
    while changed:
        changed = False
        groups = {table[p][1] for p in members if p in table}
        sessions = {table[p][2] for p in members if p in table}
        # Never reach into the test runner's own group or session.
        groups.discard(mine[1])
        sessions.discard(mine[2])
        for other, (ppid, pgid, sid) in table.items():
            if other in members or other == own:
                continue
            if ppid in members or pgid in groups or sid in sessions:
                members.add(other)
                changed = True
    return members


def killtree(pid: int) -> set[int]:
    """SIGSTOP the tree (so nothing forks away), SIGKILL it, SIGCONT it."""
    members = tree(pid)
    for sig in (signal.SIGSTOP, signal.SIGKILL, signal.SIGCONT):
        for member in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, sig)
    return members


def session_members(sid: int) -> set[int]:
    """Live processes in session `sid` (for leak checks)."""
    return {pid for pid, (_, _, s) in _table().items() if s == sid and _is_alive(pid)}


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"
