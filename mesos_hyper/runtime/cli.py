"""``mesos-hyper run``."""

from __future__ import annotations

import argparse

from mesos_hyper.errors import UsageError
from mesos_hyper.runtime.run import RunRequest, run_cli
from mesos_hyper.runtime.spec import RunOptions


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="run an image's command in its own VM",
        description="Run IMAGE in a new VM with Docker's entrypoint/cmd rules. Output is "
        "streamed live; the exit status is the container's; Ctrl-C stops the guest gracefully.",
    )
    run.add_argument("--cpus", type=int, default=1, help="virtual CPUs (default 1)")
    run.add_argument(
        "--memory", type=int, default=256, metavar="MiB", help="guest RAM (default 256)"
    )
    run.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VAL")
    run.add_argument("-w", "--workdir", default=None, metavar="DIR")
    run.add_argument("-u", "--user", default=None, metavar="USER[:GROUP]")
    run.add_argument("--entrypoint", default=None, metavar="CMD")
    run.add_argument("--name", default=None)
    run.add_argument(
        "--pull",
        choices=("missing", "always", "never"),
        default="missing",
        help="when to pull the image (default: missing)",
    )
    run.add_argument("image", metavar="IMAGE")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARG")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.cpus < 1:
        raise UsageError("--cpus must be at least 1")
    if args.memory < 64:
        raise UsageError("--memory must be at least 64 MiB")
    if args.name is not None and not _valid_name(args.name):
        raise UsageError(f"invalid name {args.name!r}: use letters, digits, '.', '_' and '-'")
    options = RunOptions(
        args=list(args.args),
        entrypoint=_entrypoint(args.entrypoint),
        env=list(args.env),
        workdir=args.workdir,
        user=args.user,
    )
    request = RunRequest(
        image=args.image,
        options=options,
        cpus=args.cpus,
        memory_mib=args.memory,
        name=args.name,
        pull=args.pull,
    )
    return run_cli(request)


def _entrypoint(value: str | None) -> list[str] | None:
    """Like Docker: the flag is one program (not split); an empty string clears it."""
    if value is None:
        return None
    return [value] if value else []


def _valid_name(name: str) -> bool:
    return (
        0 < len(name) <= 64 and all(c.isalnum() or c in "._-" for c in name) and name[0].isalnum()
    )
