"""Image config parsing and Docker's user[:group] resolution."""

from __future__ import annotations

import json

import pytest

from mesos_hyper.errors import IntegrityError, UsageError
from mesos_hyper.images.build import Entry as E
from mesos_hyper.images.build import build_image, layer_from_entries
from mesos_hyper.images.image_config import ImageConfig, resolve_user

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:app:/home/app:/bin/sh
# a comment
broken line
worker:x:1001:100::/srv:/bin/sh
"""
GROUP = """\
root:x:0:
daemon:x:1:
users:x:100:app
app:x:1000:
video:x:44:app,worker
audio:x:29:worker
wheel:x:10:root
"""


def test_parse_builder_config() -> None:
    layer = layer_from_entries([E("a", data=b"a")])
    image = build_image(
        [layer],
        entrypoint=["/bin/sh", "-c"],
        cmd=["echo hi"],
        env=["A=1"],
        working_dir="/srv",
        user="app",
        labels={"k": "v"},
        exposed_ports=["80/tcp", "53/udp"],
    )
    config = ImageConfig.parse(image.config)
    assert config.entrypoint == ("/bin/sh", "-c") and config.cmd == ("echo hi",)
    assert config.env == ("A=1",) and config.working_dir == "/srv" and config.user == "app"
    assert config.labels == {"k": "v"} and config.exposed_ports == ("53/udp", "80/tcp")
    assert config.diff_ids == (layer.diff_id,) and config.architecture == "amd64"


def test_parse_docker_quirks() -> None:
    raw = {"config": {"Entrypoint": "/entry", "Cmd": None, "Env": None, "Labels": None}}
    config = ImageConfig.parse(json.dumps(raw).encode())
    assert config.entrypoint == ("/entry",) and config.cmd == () and config.env == ()
    assert ImageConfig.parse(b"{}") == ImageConfig()


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"config": []}', "config should be dict"),
        (b'{"config": {"Cmd": [1]}}', "config.Cmd should be a list of strings"),
        (b'{"config": {"Env": "A=1"}}', "config.Env should be a list of strings"),
        (b'{"config": {"User": 0}}', "config.User should be str"),
        (b'{"config": {"Labels": {"a": 1}}}', "config.Labels"),
        (b'{"rootfs": {"diff_ids": "x"}}', "rootfs.diff_ids"),
    ],
)
def test_parse_rejects_garbage(raw: bytes, needle: str) -> None:
    with pytest.raises(IntegrityError, match=needle):
        ImageConfig.parse(raw)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", (0, 0, [10])),
        ("root", (0, 0, [10])),
        ("app", (1000, 1000, [44, 100])),
        ("1000", (1000, 1000, [44, 100])),
        ("worker", (1001, 100, [29, 44])),
        ("4242", (4242, 0, [])),
        ("app:audio", (1000, 29, [])),
        ("app:4242", (1000, 4242, [])),
        ("4242:4343", (4242, 4343, [])),
        ("daemon:users", (1, 100, [])),
    ],
)
def test_resolve_user(user: str, expected: tuple[int, int, list[int]]) -> None:
    assert resolve_user(user, PASSWD, GROUP) == expected


@pytest.mark.parametrize(
    ("user", "needle"),
    [
        ("nobody", "unable to find user nobody"),
        ("app:nogroup", "unable to find group nogroup"),
        ("app:", "empty group"),
        ("99999999999", "out of range"),
    ],
)
def test_resolve_user_errors(user: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        resolve_user(user, PASSWD, GROUP)


def test_resolve_user_without_user_db() -> None:
    assert resolve_user("", "", "") == (0, 0, [])
    assert resolve_user("1000:1000", "", "") == (1000, 1000, [])
    with pytest.raises(UsageError, match="app"):
        resolve_user("app", "", "")
