"""Mesos's rules for a task's CommandInfo in a Docker image (1.0.4 ``src/docker/docker.cpp``).

shell=true overrides the image's entrypoint with ``/bin/sh -c value``; shell=false keeps
the entrypoint and passes ``value`` (when set) and ``arguments`` as the command.
"""

from __future__ import annotations

from collections.abc import Mapping

from mesos_hyper.errors import UsageError
from mesos_hyper.model.messages import CommandSpec
from mesos_hyper.runtime.spec import RunOptions

SANDBOX_MOUNT = "/mnt/mesos/sandbox"


def run_options(
    command: CommandSpec | None,
    *,
    task_env: Mapping[str, str],
    hostname: str,
    user: str | None = None,
) -> RunOptions:
    """``task_env`` is what Mesos adds for the task (MESOS_*, sandbox); CommandInfo env wins."""
    env = dict(task_env)
    env["MESOS_SANDBOX"] = SANDBOX_MOUNT
    if command is None:
        return RunOptions(hostname=hostname, extra_env=env, user=user)
    env.update(command.environment())
    if command.shell:
        if not command.value:
            raise UsageError("Shell specified but no command value provided")
        entrypoint: list[str] | None = ["/bin/sh"]
        args = ["-c", command.value]
    else:
        entrypoint = None
        args = ([command.value] if command.value else []) + list(command.arguments)
    return RunOptions(
        args=args,
        entrypoint=entrypoint,
        hostname=hostname,
        user=command.user or user,
        extra_env=env,
    )
