"""``mesos-hyper exec``: run a command in a running task's container, as ``docker exec``."""

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
        help="run a command in a running task's container",
        description="Run CMD in the container of a running task, inside its pod VM, with "
        "the task's user, environment and rootfs, as `docker exec` does. Its stdout and "
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
    run.add_argument("container_id", metavar="CONTAINER_ID", help="the Mesos container id")
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
        args.container_id,
        request,
        stdin=sys.stdin.buffer if args.interactive else None,
        stdout=sys.stdout.buffer,
        stderr=sys.stderr.buffer,
    )
