"""``mesos-hyper pool status|fill|drain``: the warm pool of pre-booted VMs (vmctl.pool)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from mesos_hyper import config
from mesos_hyper.errors import HyperError


def register(sub: argparse._SubParsersAction) -> None:
    pool = sub.add_parser(
        "pool",
        help="the warm pool of pre-booted VMs (MESOS_HYPER_POOL_SIZE, _VCPUS, _MEMORY_MIB,"
        " _SOURCE)",
    )
    pool_sub = pool.add_subparsers(dest="pool_command", metavar="ACTION", required=True)
    status = pool_sub.add_parser("status", help="the pool's settings and its idle VMs")
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.set_defaults(func=_status)
    fill = pool_sub.add_parser(
        "fill", help="boot VMs until the pool is full (in the foreground; launches do it too)"
    )
    fill.set_defaults(func=_fill)
    drain = pool_sub.add_parser(
        "drain",
        help="destroy every idle pool VM and what crashes left; refills stay off until `fill`",
    )
    drain.set_defaults(func=_drain)


def _status(args: argparse.Namespace) -> int:
    from vmctl.pool import template
    from vmctl.pool.fill import fill_lock, usable
    from vmctl.pool.settings import PoolSettings
    from vmctl.pool.store import PoolDirs

    paths = config.Paths.from_env()
    settings = PoolSettings.from_env()
    dirs = PoolDirs(paths)
    fit = {vm.name for vm in usable(paths, settings, dirs)}
    with fill_lock(dirs, wait=False) as free:
        filling = not free
    now = time.time()
    vms = [
        {
            "name": entry.name,
            "vcpus": vm.vcpus if vm else None,
            "memory_mib": vm.memory_mib if vm else None,
            "age_s": round(now - vm.booted_at, 1) if vm else None,
            "source": vm.source if vm else None,
            "usable": entry.name in fit,
        }
        for entry, vm in dirs.idle_vms()
    ]
    doc = {
        "size": settings.size,
        "vcpus": settings.vcpus,
        "memory_mib": settings.memory_mib,
        "idle": len(fit),
        "filling": filling,
        "source": settings.source,
        "templates": [
            {
                "path": str(image),
                "bytes": image.stat().st_size,
                "age_s": round(now - image.stat().st_mtime, 1),
            }
            for image in template.images(dirs)
        ],
        "vms": vms,
    }
    if args.format == "json":
        json.dump(doc, sys.stdout, indent=2)
        print()
        return 0
    state = "off" if not settings.enabled else f"{len(fit)}/{settings.size} idle"
    if settings.enabled and dirs.stopped.exists():
        state += ", drained: refills off until `mesos-hyper pool fill`"
    print(
        f"pool: {state} ({settings.vcpus} vCPU, {settings.memory_mib} MiB each,"
        f" made by {settings.source})" + (", a refill is running" if filling else "")
    )
    for vm_doc in vms:
        note = "" if vm_doc["usable"] else "  (stale: removed at the next fill)"
        print(f"  {vm_doc['name']}  up {vm_doc['age_s']}s, {vm_doc['source']}{note}")
    for tpl in doc["templates"]:
        print(f"  template {tpl['path']}  {tpl['bytes'] >> 20} MiB, saved {tpl['age_s']}s ago")
    return 0


def _fill(_args: argparse.Namespace) -> int:
    from vmctl.pool.fill import fill
    from vmctl.pool.settings import PoolSettings

    settings = PoolSettings.from_env()
    if not settings.enabled:
        raise HyperError("the pool is off (MESOS_HYPER_POOL_SIZE=0)")
    print(f"filling the pool to {settings.size} VMs ...", file=sys.stderr, flush=True)
    result = fill(config.Paths.from_env(), settings, resume=True)
    if result.busy:
        print("a refill is already running; `mesos-hyper pool status` shows its progress")
        return 0
    for name in result.booted:
        print(f"booted {name}")
    for error in result.failed:
        print(f"failed: {error}", file=sys.stderr)
    return 1 if result.failed else 0


def _drain(_args: argparse.Namespace) -> int:
    from vmctl.pool.fill import drain, fill_lock, reap
    from vmctl.pool.store import PoolDirs

    paths = config.Paths.from_env()
    dirs = PoolDirs(paths)
    removed = drain(paths, stop=True)
    with fill_lock(dirs, wait=True):  # a refill running now finishes first, then goes too
        removed += drain(paths, stop=True) + reap(paths, dirs)
    for name in removed:
        print(f"removed {name}")
    print(f"pool drained ({len(removed)} removed); `mesos-hyper pool fill` refills it")
    return 0
