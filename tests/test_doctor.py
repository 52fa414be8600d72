"""`mesos-hyper doctor` on this host, then broken one check at a time: a fake state root,
an unreachable libvirt, a missing or unforwarding network namespace, a full disk, a bad
registry or image name, and wrong agent flags. Each breakage is a FAIL line with its fix
and exit status 1."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesos_hyper.host import doctor
from tests.example_apps import DEMO_IMAGE

ECP = str(Path(sys.executable).parent / "mesos-hyper-containerizer")
GOOD_FLAGS = (
    f"--containerizers=external --containerizer_path={ECP} --switch_user=false "
    "--systemd_enable_support=false --resources=cpus:2;mem:2048;ports:[31000-32000]"
)


def _doctor(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesos_hyper.cli", "doctor", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _lines(result: subprocess.CompletedProcess[str], level: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(level)]


def test_this_host_passes_with_its_registry_and_good_agent_flags():
    result = _doctor("--image", DEMO_IMAGE, "--agent-flags", GOOD_FLAGS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not _lines(result, "FAIL"), result.stdout
    for check in (
        "accelerator",
        "guest kernel and initramfs",
        "libvirtd",
        "nftables",
        "disk",
        f"registry for {DEMO_IMAGE}",
        "agent flags",
    ):
        assert any(line.startswith(f"ok   {check}: ") for line in _lines(result, "ok")), check
    assert result.stdout.rstrip().endswith("this host can run tasks")


def test_an_empty_guest_dir_fails_the_guest_and_the_probe(tmp_path):
    result = _doctor(MESOS_HYPER_GUEST_DIR=str(tmp_path))
    assert result.returncode == 1
    assert (
        f"FAIL accelerator: not probed yet ({tmp_path}/accel.json) (fix: run `mesos-hyper host up`)"
        in result.stdout
    )
    assert f"FAIL guest kernel and initramfs: missing: {tmp_path}/vmlinuz" in result.stdout
    assert result.stdout.rstrip().endswith("2 blocking problem(s)")


def test_an_unreachable_libvirtd_fails(tmp_path):
    uri = f"qemu+unix:///system?socket={tmp_path}/no-libvirt-sock"
    result = _doctor(MESOS_HYPER_LIBVIRT_URI=uri)
    assert result.returncode == 1
    assert (
        f"FAIL libvirtd: does not answer on {uri} (fix: run `mesos-hyper host up`)" in result.stdout
    )


def test_a_missing_network_namespace_fails():
    result = _doctor(MESOS_HYPER_NETNS="mh-doctor-absent")
    assert result.returncode == 1
    assert (
        "FAIL pod network: MESOS_HYPER_NETNS=mh-doctor-absent: no such network namespace"
        in result.stdout
    )


@pytest.fixture
def namespace_with_a_bridge() -> Iterator[str]:
    """A namespace holding a pod bridge, with forwarding off (a fresh namespace's default)."""
    name = f"mhdoc-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "mhbr0", "type", "bridge"], check=True)
        # off explicitly: a new namespace may inherit the host's setting
        subprocess.run(
            ["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_forward=0"], check=True
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def test_forwarding_off_where_the_pods_bridge_is_fails(namespace_with_a_bridge):
    result = _doctor(MESOS_HYPER_NETNS=namespace_with_a_bridge)
    assert result.returncode == 1
    assert (
        f"FAIL pod network: ip_forward is 0 in namespace {namespace_with_a_bridge}" in result.stdout
    )
    subprocess.run(
        ["ip", "netns", "exec", namespace_with_a_bridge, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
        check=True,
    )
    fixed = _doctor(MESOS_HYPER_NETNS=namespace_with_a_bridge)
    assert f"ok   pod network: namespace {namespace_with_a_bridge}; bridge mhbr0 up" in fixed.stdout


@pytest.fixture
def tiny_root(tmp_path) -> Iterator[Path]:
    root = tmp_path / "tiny"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)], check=True)
    try:
        yield root
    finally:
        subprocess.run(["umount", str(root)], check=True)


def test_a_full_state_root_fails(tiny_root):
    result = _doctor(MESOS_HYPER_ROOT=str(tiny_root))
    assert result.returncode == 1
    assert f"FAIL disk: 0.0 GiB free under {tiny_root}" in result.stdout


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("127.0.0.1:1/nothing:latest", "cannot reach 127.0.0.1:1"),
        ("127.0.0.1:5000/mesos-hyper/no-such-image:latest", "not found on 127.0.0.1:5000"),
        ("Bad/Name", "invalid image reference 'Bad/Name'"),
    ],
)
def test_an_image_that_cannot_be_pulled_fails_with_why(image, why):
    result = _doctor("--image", image)
    assert result.returncode == 1
    (line,) = [line for line in _lines(result, "FAIL") if "registry for" in line]
    assert why in line and "MESOS_HYPER_INSECURE_REGISTRIES" in line


def test_wrong_agent_flags_each_fail_with_their_fix():
    result = _doctor(
        "--agent-flags",
        "--containerizers=docker,external --containerizer_path=/nonexistent --resources=cpus:1",
    )
    assert result.returncode == 1
    fails = "\n".join(_lines(result, "FAIL"))
    assert "--containerizers=docker,external (fix: --containerizers=external alone" in fails
    assert "--containerizer_path=/nonexistent is not an executable" in fails
    assert "--switch_user is on" in fails
    if not os.path.isdir("/run/systemd/system"):
        assert "--systemd_enable_support=false" in fails
    assert "warn agent flags: --resources offers no ports" in result.stdout


def test_agent_flags_read_as_mesos_variables_as_a_systemd_unit_gives_them():
    env_flags = (
        f"MESOS_CONTAINERIZERS=external MESOS_CONTAINERIZER_PATH={ECP} MESOS_SWITCH_USER=false "
        "MESOS_SYSTEMD_ENABLE_SUPPORT=false MESOS_RESOURCES=cpus:1;ports:[31000-31010]"
    )
    assert [f.level for f in doctor.agent_flags(doctor.split_flags(env_flags))] == [doctor.Level.OK]


def test_a_missing_virtiofsd_fails(monkeypatch):
    import vmctl.domain

    monkeypatch.setattr(vmctl.domain, "VIRTIOFSD", "/nonexistent/virtiofsd")
    finding = doctor.virtiofsd()
    assert finding.level is doctor.Level.FAIL
    assert finding.line() == (
        "FAIL virtiofsd: /nonexistent/virtiofsd is missing: no sandbox can be shared into a VM "
        "(fix: apt-get install qemu-system-x86)"
    )
