"""`mesos-hyper run` end to end: a registry image, a real libvirt/QEMU guest, our init."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mesos_hyper.config import Paths
from mesos_hyper.images.build import build_image, demo_rootfs, layer_from_dir, push_image
from tests.registry_fixtures import registry  # noqa: F401

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def image_root():
    """A private state root; QEMU (user libvirt-qemu) must be able to traverse it."""
    root = Path(tempfile.mkdtemp(prefix="mh-test-root."))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _leaks_in_image_root(image_root, no_leaks):
    """The guests' overlays live under image_root: no_leaks checks it as well."""
    no_leaks.watch_root(image_root)


@pytest.fixture(scope="module")
def busybox_layer():
    with tempfile.TemporaryDirectory() as tmp:
        demo_rootfs(Path(tmp))
        return layer_from_dir(Path(tmp))


@pytest.fixture(scope="module")
def images(registry, busybox_layer):  # noqa: F811
    refs = {}
    plain = build_image([busybox_layer], cmd=["/bin/sh"])
    refs["plain"] = f"{registry.host}/t/plain:1"
    push_image(plain, refs["plain"])
    entry = build_image(
        [busybox_layer],
        entrypoint=["/bin/echo", "ep"],
        cmd=["default"],
        env=["PATH=/bin", "FROM_IMAGE=yes"],
        working_dir="/srv",
        user="app",
    )
    refs["entry"] = f"{registry.host}/t/entry:1"
    push_image(entry, refs["entry"])
    return refs


def run(image_root: Path, *args: str, **kw):
    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": str(image_root),
        "MESOS_HYPER_GUEST_DIR": str(Paths.from_env().guest),
    }
    return subprocess.run(
        [sys.executable, "-m", "mesos_hyper.cli", "run", *args],
        capture_output=True,
        env=env,
        timeout=180,
        **kw,
    )


def test_exit_code_streams_env_workdir_user(image_root, images, no_leaks):
    script = "echo out; echo err >&2; echo foo=$FOO; pwd; id -u; id -g; hostname; exit 3"
    res = run(
        image_root,
        "-e",
        "FOO=bar",
        "-w",
        "/data/work",
        "-u",
        "app",
        "--name",
        "c1",
        images["plain"],
        "sh",
        "-c",
        script,
    )
    assert res.returncode == 3, res.stderr
    assert res.stdout.decode().splitlines() == [
        "out",
        "foo=bar",
        "/data/work",
        "1000",
        "1000",
        "c1",
    ]
    assert b"err\n" in res.stderr and b"out" not in res.stderr


def test_signal_death_is_128_plus_n(image_root, images, no_leaks):
    res = run(image_root, images["plain"], "sh", "-c", "kill -KILL $$")
    assert res.returncode == 137, res.stderr


def test_image_entrypoint_cmd_env_workdir_user(image_root, images, no_leaks):
    res = run(image_root, images["entry"])
    assert (res.returncode, res.stdout) == (0, b"ep default\n"), res.stderr
    res = run(
        image_root,
        "--entrypoint",
        "/bin/sh",
        images["entry"],
        "-c",
        "echo $FROM_IMAGE $(pwd) $(id -u)",
    )
    assert (res.returncode, res.stdout) == (0, b"yes /srv 1000\n"), res.stderr


def test_missing_command_is_127_with_a_message(image_root, images, no_leaks):
    res = run(image_root, images["plain"], "/no/such/binary")
    assert res.returncode == 127
    assert b"/no/such/binary" in res.stderr and b"Traceback" not in res.stderr


def test_sigterm_stops_the_guest_gracefully(image_root, images, no_leaks):
    script = 'trap "echo got-term; exit 42" TERM; echo ready; while true; do sleep 0.1; done'
    env = {**os.environ, "MESOS_HYPER_ROOT": str(image_root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesos_hyper.cli", "run", images["plain"], "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 42, err
    assert out == b"got-term\n"


def test_unknown_image_is_one_clear_line(image_root, registry):  # noqa: F811
    res = run(image_root, f"{registry.host}/t/nothing:here", "true")
    assert res.returncode != 0
    lines = res.stderr.decode().strip().splitlines()
    assert lines[-1].startswith("mesos-hyper: ") and "t/nothing:here" in lines[-1]
    assert "Traceback" not in res.stderr.decode()
