"""Docker's rules for turning an image config plus run options into the guest process.

Kept apart from the VM code so the CLI and the Mesos executor resolve commands the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mesos_hyper.errors import UsageError
from mesos_hyper.images.image_config import ImageConfig, resolve_user
from vmctl.guest.protocol import ProcessSpec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class RunOptions:
    """What a caller may override, as ``docker run`` allows.

    ``entrypoint`` replaces the image's Entrypoint and drops its Cmd (as ``--entrypoint``
    does); ``args`` replace the image's Cmd.
    """

    args: Sequence[str] = ()
    entrypoint: Sequence[str] | None = None
    env: Sequence[str] = ()
    workdir: str | None = None
    user: str | None = None
    hostname: str = "mesos-hyper"
    extra_env: Mapping[str, str] = field(default_factory=dict)


def command_line(config: ImageConfig, opts: RunOptions) -> list[str]:
    if opts.entrypoint is not None:
        argv = [*opts.entrypoint, *opts.args]
    else:
        argv = [*config.entrypoint, *(opts.args or config.cmd)]
    if not argv or not argv[0]:
        raise UsageError("no command specified: the image has no Entrypoint or Cmd, give one")
    return argv


def merge_env(base: Sequence[str], overrides: Sequence[str]) -> dict[str, str]:
    """Image env, then ``KEY=VAL`` overrides; a bare ``KEY`` copies the caller's value, like -e."""
    env: dict[str, str] = {}
    for item in base:
        key, _, value = item.partition("=")
        env[key] = value
    for item in overrides:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid environment variable {item!r}: expected KEY=VALUE")
        if sep:
            env[key] = value
        elif key in os.environ:
            env[key] = os.environ[key]
    return env


def home_directory(uid: int, passwd: str) -> str:
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 6 and fields[2] == str(uid):
            return fields[5] or "/"
    return "/"


def process_spec(config: ImageConfig, passwd: str, group: str, opts: RunOptions) -> ProcessSpec:
    argv = command_line(config, opts)
    workdir = opts.workdir or config.working_dir or "/"
    if not workdir.startswith("/"):
        raise UsageError(
            f"the working directory {workdir!r} is invalid, it must be an absolute path"
        )
    uid, gid, groups = resolve_user(
        opts.user if opts.user is not None else config.user, passwd, group
    )
    env = merge_env(config.env, opts.env)
    env.update(opts.extra_env)
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("HOSTNAME", opts.hostname)
    env.setdefault("HOME", home_directory(uid, passwd))
    return ProcessSpec(
        argv=argv,
        env=[f"{key}={value}" for key, value in env.items()],
        workdir=workdir,
        uid=uid,
        gid=gid,
        groups=list(groups),
        hostname=opts.hostname,
    )
