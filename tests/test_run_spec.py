"""Docker's entrypoint/cmd/env/workdir/user rules, as `mesos-hyper run` applies them."""

import pytest

from mesos_hyper.errors import UsageError
from mesos_hyper.images.image_config import ImageConfig
from mesos_hyper.runtime.spec import DEFAULT_PATH, RunOptions, process_spec

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nwheel:x:10:app\n"


def spec(config: ImageConfig, **opts):
    return process_spec(config, PASSWD, GROUP, RunOptions(**opts))


@pytest.mark.parametrize(
    ("entrypoint", "cmd", "opts", "argv"),
    [
        ((), ("sh",), {}, ["sh"]),
        (("/entry",), ("a", "b"), {}, ["/entry", "a", "b"]),
        (("/entry",), ("a",), {"args": ["x"]}, ["/entry", "x"]),
        ((), ("sh",), {"args": ["echo", "hi"]}, ["echo", "hi"]),
        (("/entry",), ("a",), {"entrypoint": ["/other"]}, ["/other"]),
        (("/entry",), ("a",), {"entrypoint": ["/other"], "args": ["z"]}, ["/other", "z"]),
        (("/entry",), ("a",), {"entrypoint": [], "args": ["ls"]}, ["ls"]),
    ],
)
def test_entrypoint_and_cmd_follow_docker(entrypoint, cmd, opts, argv):
    assert spec(ImageConfig(entrypoint=entrypoint, cmd=cmd), **opts).argv == argv


def test_no_command_is_a_clear_error():
    with pytest.raises(UsageError, match="no command"):
        spec(ImageConfig())


def test_env_image_then_overrides_then_defaults(monkeypatch):
    monkeypatch.setenv("FROM_HOST", "h")
    got = spec(
        ImageConfig(cmd=("sh",), env=("A=1", "B=2")),
        env=["B=3", "FROM_HOST", "NOT_ON_HOST"],
        hostname="box",
    ).env
    env = dict(item.split("=", 1) for item in got)
    assert env["A"] == "1" and env["B"] == "3" and env["FROM_HOST"] == "h"
    assert "NOT_ON_HOST" not in env
    assert env["PATH"] == DEFAULT_PATH and env["HOSTNAME"] == "box" and env["HOME"] == "/root"


def test_bad_env_entry():
    with pytest.raises(UsageError, match="environment variable"):
        spec(ImageConfig(cmd=("sh",)), env=["=x"])


def test_workdir_and_user():
    config = ImageConfig(cmd=("sh",), working_dir="/srv", user="app")
    got = spec(config)
    assert (got.workdir, got.uid, got.gid, got.groups) == ("/srv", 1000, 1000, [10])
    assert "HOME=/home/app" in got.env
    got = spec(config, workdir="/tmp", user="0:10")
    assert (got.workdir, got.uid, got.gid) == ("/tmp", 0, 10)
    with pytest.raises(UsageError, match="absolute"):
        spec(config, workdir="relative")
    with pytest.raises(UsageError, match="nobody"):
        spec(config, user="nobody")
