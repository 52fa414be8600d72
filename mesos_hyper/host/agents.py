"""Running Mesos agents as the host sees them: their flags, from argv or MESOS_* variables.

``doctor --agent`` checks those flags; ``ps`` and the other operator commands find each
agent's state root (``<work_dir>/mesos-hyper``) through them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


def parse_flags(flags: Sequence[str]) -> dict[str, str]:
    """``--name=value``, ``--[no-]name`` and ``MESOS_NAME=value`` as one map; argv wins."""
    given = {}
    for item in flags:
        if item.startswith("--"):
            name, _, value = item[2:].partition("=")
            if name.startswith("no-"):
                name, value = name[3:], "false"
            given[name] = value or "true"
        elif item.startswith("MESOS_") and "=" in item:
            name, _, value = item.partition("=")
            given.setdefault(name[len("MESOS_") :].lower(), value)
    return given


def running_agents() -> list[list[str]]:
    """Each running mesos-agent's argv and MESOS_* environment (its flags either way)."""
    found = subprocess.run(["pgrep", "-x", "mesos-agent"], capture_output=True, text=True)
    agents = []
    for pid in found.stdout.split():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # it exited while we looked
        items = [a.decode(errors="replace") for a in argv[1:] if a]
        items += [e.decode(errors="replace") for e in env if e.startswith(b"MESOS_")]
        agents.append(items)
    return agents


def state_roots() -> list[Path]:
    """The mesos-hyper state root of every running agent that has a work dir."""
    roots = []
    for flags in running_agents():
        work_dir = parse_flags(flags).get("work_dir")
        if work_dir:
            roots.append(Path(work_dir) / "mesos-hyper")
    return roots
