"""``pull``, ``images``, ``rmi``, ``load`` and ``build-demo`` on a real store."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mesos_hyper.config import Paths
from mesos_hyper.errors import HyperError, NotFoundError, UsageError
from mesos_hyper.images import cli as images_cli
from mesos_hyper.images.build import build_demo_image
from mesos_hyper.images.image_config import resolve_user
from mesos_hyper.images.store import ImageStore
from tests.image_fixtures import debugfs, docker_save
from tests.registry_fixtures import registry  # noqa: F401

Run = Callable[..., int]


@pytest.fixture
def in_use() -> set[str]:
    return set()


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_use: set[str]) -> Run:
    monkeypatch.setenv("MESOS_HYPER_ROOT", str(tmp_path / "root"))
    parser = argparse.ArgumentParser()
    images_cli.register(parser.add_subparsers(required=True), in_use=in_use.__contains__)

    def run(*argv: str) -> int:
        args = parser.parse_args(argv)
        return args.func(args)

    return run


def test_demo_image_load_list_pull_rmi(
    tmp_path: Path, run: Run, in_use: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    demo = build_demo_image()
    layout = tmp_path / "demo-oci"
    assert run("build-demo", "--oci", str(layout)) == 0
    assert capsys.readouterr().out == f"{demo.manifest_digest}\n"

    assert run("load", "-i", str(layout)) == 0
    assert capsys.readouterr().out == f"Loaded image ID: {demo.config_digest}\n"
    saved = tmp_path / "demo.tar"
    docker_save(demo, saved, ["127.0.0.1:9/mesos-hyper/demo:latest", "demo:1"])
    assert run("load", "-i", str(saved)) == 0
    assert capsys.readouterr().out == (
        "Loaded image: 127.0.0.1:9/mesos-hyper/demo:latest\nLoaded image: demo:1\n"
    )

    assert run("images") == 0
    lines = capsys.readouterr().out.splitlines()
    short = demo.config_digest[7:19]
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    rows = sorted(line.split() for line in lines[1:])
    assert [row[:3] for row in rows] == [
        ["127.0.0.1:9/mesos-hyper/demo", "latest", short],
        ["demo", "1", short],
    ]
    assert rows[0][3].endswith("MB")
    assert run("images", "-q") == 0
    assert capsys.readouterr().out == f"{short}\n"

    # already local: no network (nothing listens on port 9)
    assert run("pull", "127.0.0.1:9/mesos-hyper/demo") == 0
    assert capsys.readouterr().out == f"{demo.config_digest}\n"

    in_use.add(demo.config_digest)
    with pytest.raises(HyperError, match="in use"):
        run("rmi", short)
    in_use.clear()
    with pytest.raises(NotFoundError, match="no-such"):
        run("rmi", "no-such:1", "demo:1", short)
    assert capsys.readouterr().out.splitlines() == [
        "Untagged: demo:1",
        "Untagged: 127.0.0.1:9/mesos-hyper/demo:latest",
        f"Deleted: {demo.config_digest}",
    ]
    assert ImageStore(Paths.from_env().images).list() == []


def test_demo_image_content(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    demo = build_demo_image()
    saved = tmp_path / "demo.tar"
    docker_save(demo, saved, ["demo:latest"])
    [image] = store.load(saved)
    assert image.config.cmd[:2] == ("/bin/sh", "-c") and "uname -r" in image.config.cmd[2]
    disk = store.base_disk(image)
    bins = debugfs(disk, "ls -l /bin")
    assert " busybox" in bins and " sh" in bins and " uname" in bins and " hostname" in bins
    assert 'Fast link dest: "busybox"' in debugfs(disk, "stat /bin/sh")
    assert "Mode:  01777" in debugfs(disk, "stat /tmp")
    passwd, group = store.user_db(image)
    assert resolve_user("app", passwd, group) == (1000, 1000, [100])
    assert "User:  1000" in debugfs(disk, "stat /home/app")


def test_usage_errors(run: Run) -> None:
    with pytest.raises(UsageError, match="--push"):
        run("build-demo")
    with pytest.raises(NotFoundError):
        run("load", "-i", "/nonexistent/archive.tar")


def _pull_on_a_terminal(ref: str, root: Path) -> str:
    """``mesos-hyper pull`` with a pseudo-terminal for its stderr, as a person runs it."""
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    env = {**os.environ, "MESOS_HYPER_ROOT": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesos_hyper.cli", "pull", ref],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0, out
    return out.decode()


def test_pull_shows_a_line_per_layer_on_a_terminal(tmp_path: Path, registry) -> None:  # noqa: F811
    from mesos_hyper.images.build import build_image, layer_from_dir, push_image

    layers = []
    for i, size in enumerate((300_000, 2_000_000)):
        src = tmp_path / f"layer{i}"
        src.mkdir()
        (src / f"data{i}").write_bytes(os.urandom(size))
        layers.append(layer_from_dir(src))
    first = build_image(layers, cmd=["/bin/true"])
    push_image(first, f"{registry.host}/t/progress:1")
    shown = _pull_on_a_terminal(f"{registry.host}/t/progress:1", tmp_path / "root")
    for layer in first.layers:
        name = layer.digest.split(":")[1][:12]
        assert f"{name}: Downloading" in shown and f"{name}: Pull complete" in shown, shown
    assert "\033[" in shown and "F" in shown  # redrawn in place
    # a second image on the first's bottom layer: that one is there already
    second = build_image([layers[0]], cmd=["/bin/false"])
    push_image(second, f"{registry.host}/t/progress:2")
    shown = _pull_on_a_terminal(f"{registry.host}/t/progress:2", tmp_path / "root")
    assert f"{layers[0].digest.split(':')[1][:12]}: Already exists" in shown, shown
