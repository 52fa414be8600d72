"""``mesos-hyper exec``: run a command in a running task's container, as ``docker exec``."""

from __future__ import annotations

import argparse

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
        "the task's user, environment and rootfs, as `docker exec` does. The exit status "
        "is the command's. Its output is not carried back: redirect it into "
        "$MESOS_SANDBOX, which is the task's sandbox on the host.",
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
    return request_exec(args.container_id, ExecRequest(tuple(argv), args.task, args.timeout))
