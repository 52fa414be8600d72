"""``mesos-hyper gc [--dry-run] [--images]``: remove what dead containers left behind.

The finder (``mesos_hyper.host.leftovers``) decides what is dead; this module removes it,
one line per thing on stdout, and ends with a summary. The exit status is 1 when
something could not be removed (its line carries the error) or could not be looked at.
On a terminal, a status line on stderr says which step is running: listing the host's
VMs and nft rules, or destroying a VM, takes seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from mesos_hyper import config, log
from mesos_hyper.host.status_line import StatusLine

if TYPE_CHECKING:  # the finder imports libvirt: only `gc` itself pays for it
    from mesos_hyper.host import leftovers

LOG = log.get(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    gc = sub.add_parser(
        "gc",
        help="remove what dead containers left: VMs, overlays, taps, leases, nft rules, records",
        description="Finds and removes, with a line for each, what containers that no longer "
        "live left on this host: VMs nobody drives, overlays, taps, address leases, nft rules "
        "and exec sockets of dead containers, stale records; with --images, also images and "
        "base disks no container uses. A container whose executor (or `mesos-hyper run`) "
        "still runs is never touched, nor are warm-pool VMs (`mesos-hyper pool drain`). What "
        "cannot be told from a starting container is kept, with a line saying why. Exits 1 "
        "when something could not be removed.",
    )
    gc.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")
    gc.add_argument(
        "--images", action="store_true", help="also remove images and base disks no container uses"
    )
    gc.add_argument(
        "--state-root",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="an agent's mesos-hyper state root (<work_dir>/mesos-hyper) to check as well; "
        "those of running agents, $MESOS_WORK_DIRECTORY and our VMs are found without it",
    )
    gc.set_defaults(func=_gc)


def _gc(args: argparse.Namespace) -> int:
    from mesos_hyper.host import leftovers
    from vmctl.network.settings import NetSettings

    status = StatusLine()
    try:
        found = leftovers.Finder(
            config.Paths.from_env(),
            NetSettings.from_env(),
            state_roots=args.state_root,
            images=args.images,
            say=status,
        ).find()
    finally:
        status.clear()
    return collect(found, dry_run=args.dry_run, status=status)


def collect(
    found: leftovers.Findings,
    *,
    dry_run: bool,
    status: StatusLine | None = None,
    out: TextIO | None = None,
) -> int:
    """Remove (or with ``dry_run`` list) each leftover in order; 1 if anything failed."""
    out = out or sys.stdout
    status = status or StatusLine()
    done = failed = 0
    for item in found.leftovers:
        error: BaseException | None = None
        if not dry_run:
            status(f"{item.verbs[1]} {item.kind} {item.name}")
            try:
                item.remove()
            except Exception as err:  # reported on its line; the others still go
                error = err
            status.clear()
        print(item.line(dry_run=dry_run, error=error), file=out, flush=True)
        if not dry_run:
            _log(item, error)
        if error is None:
            done += 1
        else:
            failed += 1
    for kept in found.kept:
        print(kept.line(), file=out)
    for problem in found.problems:
        print(f"could not look: {problem}", file=out)
    if not done and not failed:
        parts = ["nothing left behind"]
    elif dry_run:
        parts = [f"{done} to remove (dry run: nothing changed)"]
    else:
        parts = [f"{done} removed"] + ([f"{failed} could not be removed"] if failed else [])
    if found.kept:
        parts.append(f"{len(found.kept)} kept in doubt")
    if found.problems:
        parts.append(f"{len(found.problems)} could not be looked at")
    print("gc: " + ", ".join(parts), file=out)
    return 1 if failed or found.problems else 0


def _log(item: leftovers.Leftover, error: BaseException | None) -> None:
    """The same as a structured log line, for hosts that keep stderr."""
    fields: dict[str, object] = {"kind": item.kind, "name": item.name, "why": item.why}
    if error is None:
        log.event(LOG, f"gc: {item.verbs[0]}", **fields)
    else:
        log.event(LOG, f"gc: could not {item.verbs[1]}", log.ERROR, error=error, **fields)
