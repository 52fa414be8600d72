"""``mesos-hyper ps``, ``inspect``, ``logs`` and ``stats``: what runs here, read only."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mesos_hyper.errors import NotFoundError, UsageError

SHORT_ID = 12


def register(sub: argparse._SubParsersAction) -> None:
    roots = argparse.ArgumentParser(add_help=False)
    roots.add_argument(
        "--state-root",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="an agent's mesos-hyper state root (<work_dir>/mesos-hyper) to read as well; "
        "those of running agents and of our VMs are found without it",
    )

    ps = sub.add_parser(
        "ps",
        parents=[roots],
        help="list the pods on this host, from run and from Mesos",
        description="Every pod on this host: those of `mesos-hyper run` and those of Mesos "
        "tasks (with their task ids, framework and executor), with image, VM, address, "
        "host ports, uptime, CPU time and memory. Idle warm-pool VMs are left out "
        "(`mesos-hyper pool status`).",
    )
    ps.add_argument("-q", "--quiet", action="store_true", help="only the container ids")
    ps.add_argument("-a", "--all", action="store_true", help="also containers that ended")
    ps.add_argument("--format", choices=("table", "json"), default="table")
    ps.add_argument("--no-trunc", action="store_true", help="do not shorten ids")
    ps.set_defaults(func=_ps)

    inspect = sub.add_parser(
        "inspect",
        parents=[roots],
        help="one pod as JSON: record, limits, VM, network, overlays, sandbox, executor",
    )
    inspect.add_argument("container", metavar="CONTAINER", help="container id, name or prefix")
    inspect.set_defaults(func=_inspect)

    logs = sub.add_parser(
        "logs",
        parents=[roots],
        help="a task's stdout and stderr from its sandbox, or the guest's console",
        description="The pod's stdout and stderr from its sandbox: to our stdout and stderr. "
        "The tasks of one executor share one pair of files, as in Mesos, and the executor's "
        "and the ECP's own log lines are in stderr too. --console shows the guest's serial "
        "console instead. On a terminal, control characters a guest wrote are shown as '?'.",
    )
    logs.add_argument("container", nargs="?", metavar="CONTAINER", help="id, name or prefix")
    logs.add_argument("--task", metavar="TASK_ID", help="the pod that runs this task")
    logs.add_argument("-f", "--follow", action="store_true", help="follow until the pod ends")
    logs.add_argument("--tail", type=int, default=None, metavar="N", help="the last N lines")
    logs.add_argument("--console", action="store_true", help="the guest's console log")
    logs.set_defaults(func=_logs)

    stats = sub.add_parser(
        "stats",
        parents=[roots],
        help="live CPU, memory, disk and network per pod",
        description="Like `docker stats`: refreshed every --interval seconds on a terminal "
        "until Ctrl-C; once, plain, on a pipe or with --no-stream.",
    )
    stats.add_argument("containers", nargs="*", metavar="CONTAINER")
    stats.add_argument("--no-stream", action="store_true", help="one sample, then exit")
    stats.add_argument("--interval", type=float, default=1.0, metavar="S")
    stats.add_argument("--format", choices=("table", "json"), default="table")
    stats.set_defaults(func=_stats)


# ---- ps ------------------------------------------------------------------------------


def _short(value: str | None, full: bool) -> str:
    if not value:
        return "-"
    return value if full or len(value) <= SHORT_ID else value[:SHORT_ID]


def _uptime(started: float | None) -> str:
    if started is None:
        return "-"
    secs = max(0, int(time.time() - started))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _ps(args: argparse.Namespace) -> int:
    from mesos_hyper.observe import stats as usage
    from mesos_hyper.observe.pods import find_pods

    pods = find_pods(args.state_root, all_records=args.all)
    if args.quiet:
        for pod in pods:
            print(pod.id)
        return 0
    light = {pod.id: usage.sample(pod, light=True) for pod in pods}
    if args.format == "json":
        docs = []
        for pod in pods:
            got = light[pod.id]
            docs.append(
                {
                    **_summary(pod),
                    "cpu_seconds": usage.cpu_seconds(got.values) if got else None,
                    "mem_rss_bytes": got.values.get("mem_rss_bytes") if got else None,
                }
            )
        print(json.dumps(docs, indent=1))
        return 0
    full = args.no_trunc
    rows = [
        ("CONTAINER", "TASKS", "FRAMEWORK", "EXECUTOR", "IMAGE", "DOMAIN", "STATE", "ADDRESS",
         "PORTS", "UP", "CPU", "MEM"),
    ]  # fmt: skip
    for pod in pods:
        got = light[pod.id]
        tasks = ",".join(f"{_short(t.task_id, full)}:{_state(t.state)}" for t in pod.tasks)
        rows.append(
            (
                _short(pod.id, full),
                tasks or "-",
                _short(pod.framework_id, full),
                _short(pod.executor_id, full),
                pod.image or "-",
                _short(pod.domain, full),
                pod.status if pod.record is None else f"{pod.status}/{pod.domain_state}",
                pod.address or "-",
                ",".join(pod.host_ports) or "-",
                _uptime(pod.started_at),
                f"{usage.cpu_seconds(got.values):.1f}s" if got else "-",
                usage.human_bytes(got.values.get("mem_rss_bytes")) if got else "-",
            )
        )
    _table(rows)
    return 0


def _state(state: str) -> str:
    return state.removeprefix("TASK_").lower()


def _summary(pod: Any) -> dict[str, Any]:
    return {
        "id": pod.id,
        "origin": pod.origin,
        "status": pod.status,
        "tasks": [dataclasses.asdict(t) for t in pod.tasks],
        "framework_id": pod.framework_id,
        "executor_id": pod.executor_id,
        "image": pod.image,
        "domain": pod.domain,
        "domain_state": pod.domain_state,
        "address": pod.address,
        "host_ports": list(pod.host_ports),
        "started_at": pod.started_at,
    }


# ---- inspect ---------------------------------------------------------------------------


def _inspect(args: argparse.Namespace) -> int:
    from mesos_hyper.observe.inspect import describe
    from mesos_hyper.observe.pods import find_pod

    pod = find_pod(args.container, None, args.state_root)
    print(json.dumps(describe(pod), indent=1, sort_keys=True))
    return 0


# ---- logs ------------------------------------------------------------------------------


def _logs(args: argparse.Namespace) -> int:
    from mesos_hyper.observe import logs
    from mesos_hyper.observe.pods import find_pod, find_pods

    if args.container is None and args.task is None:
        raise UsageError("logs needs a CONTAINER or --task")
    if args.tail is not None and args.tail < 0:
        raise UsageError("--tail must be 0 or more")
    pod = find_pod(args.container, args.task, args.state_root)
    if args.task is not None and len(pod.tasks) > 1:
        print(
            f"mesos-hyper: note: the {len(pod.tasks)} tasks of pod {pod.id} share its stdout "
            "and stderr",
            file=sys.stderr,
        )
    if args.console:
        if pod.workdir is None:
            raise NotFoundError(f"pod {pod.id} has no VM directory, so no console log")
        fd = logs.open_guest_file(pod.workdir, "console.log")
        if fd is None:
            raise NotFoundError(f"pod {pod.id} has no console log in {pod.workdir}")
        sources = [logs.Source(fd, sys.stdout.buffer, sys.stdout.isatty())]
    else:
        where = pod.output_dir
        sources = []
        for name, sink in (("stdout", sys.stdout.buffer), ("stderr", sys.stderr.buffer)):
            fd = logs.open_guest_file(where, name) if where else None
            if fd is not None:
                sources.append(logs.Source(fd, sink, sink.isatty()))
        if not sources:
            raise NotFoundError(f"pod {pod.id}: no stdout or stderr in {where or 'its sandbox'}")

    def ended() -> bool:
        now = [p for p in find_pods(args.state_root, all_records=True) if p.id == pod.id]
        return not now or now[0].status in ("terminated", "none", "shut off", "crashed")

    try:
        logs.show(sources, tail=args.tail, follow=args.follow, ended=ended)
    except KeyboardInterrupt:
        return 0
    finally:
        for source in sources:
            with contextlib.suppress(OSError):
                os.close(source.fd)
    return 0


# ---- stats -----------------------------------------------------------------------------


def _stats(args: argparse.Namespace) -> int:
    from mesos_hyper.observe import stats as usage
    from mesos_hyper.observe.pods import find_pod, find_pods

    if args.interval <= 0:
        raise UsageError("--interval must be positive")
    stream = not args.no_stream and sys.stdout.isatty() and args.format == "table"

    def chosen() -> list[Any]:
        if args.containers:
            return [find_pod(ref, None, args.state_root) for ref in args.containers]
        return find_pods(args.state_root)

    pods = chosen()
    before = {pod.id: usage.sample(pod) for pod in pods}
    try:
        while True:
            time.sleep(args.interval)
            pods = chosen() if not args.containers else pods
            after = {pod.id: usage.sample(pod) for pod in pods}
            found = [usage.between(p, before.get(p.id), after[p.id]) for p in pods]
            before = after
            if args.format == "json":
                print(json.dumps([s.as_json() for s in found], indent=1))
                return 0
            if stream:
                print("\033[H\033[2J", end="")
            _table([usage.HEADER, *(usage.row(s) for s in found)])
            if not stream:
                return 0
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
