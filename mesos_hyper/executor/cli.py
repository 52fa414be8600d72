"""``mesos-hyper exec``: run a command in a running container, as ``docker exec``."""

from __future__ import annotations

import argparse
import sys

from mesos_hyper.errors import UsageError
from mesos_hyper.executor.exec_socket import (
    DEFAULT_TIMEOUT_S,
    MAX_TIMEOUT_S,
    ExecRequest,
    request_exec,
)


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "exec",
        help="run a command in a running container (a Mesos task's or a run pod's)",
        description="Run CMD in the container of a running Mesos task or `mesos-hyper run` "
        "pod, inside its VM, with the container's user, environment and rootfs, as "
        "`docker exec` does. Its stdout and "
        "stderr are streamed to ours as they come; with -i our stdin is its stdin (our "
        "end of file closes it), else its stdin is /dev/null. The exit status is the "
        "command's (126: it cannot be run, 127: not found); 1 with a message when it "
        "could not run or was killed at --timeout.",
    )
    run.add_argument(
        "-i",
        "--interactive",
        action="store_true",
        help="pass our stdin to the command",
    )
    run.add_argument(
        "--task", default=None, metavar="TASK_ID", help="which task, in a pod of several"
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"kill the command after S seconds (default {DEFAULT_TIMEOUT_S:g}, at most "
        f"{MAX_TIMEOUT_S:g})",
    )
    run.add_argument(
        "container_id",
        metavar="CONTAINER",
        help="a Mesos container id, a run pod's name, or a unique prefix of one (mesos-hyper ps)",
    )
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD")
    run.set_defaults(func=_exec)


def _exec(args: argparse.Namespace) -> int:
    argv = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not argv:
        raise UsageError("exec needs a command to run")
    if not 0 < args.timeout <= MAX_TIMEOUT_S:
        raise UsageError(f"--timeout must be in (0, {MAX_TIMEOUT_S:g}]")
    request = ExecRequest(tuple(argv), args.task, args.timeout, stdin=args.interactive)
    return request_exec(
        _resolve(args.container_id, args.task),
        request,
        stdin=sys.stdin.buffer if args.interactive else None,
        stdout=sys.stdout.buffer,
        stderr=sys.stderr.buffer,
    )


def _resolve(ref: str, task_id: str | None) -> str:
    """The container ``ref`` names: itself when its socket exists, else as ``ps`` finds it
    (a prefix, a domain name); else ``ref``, for the exec's own "no running pod" error."""
    from mesos_hyper.errors import HyperError, NotFoundError
    from mesos_hyper.executor.exec_socket import socket_path

    try:
        if socket_path(ref).exists():
            return ref
    except HyperError:
        pass  # not a container id: maybe a prefix or a domain name
    from mesos_hyper.observe.pods import find_pod

    try:
        return find_pod(ref, task_id).id
    except NotFoundError:
        return ref
