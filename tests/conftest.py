"""Suite-wide settings: bounded registry retries, and a check that nothing leaks."""

from __future__ import annotations

import os

import pytest

# Failing registry calls give up after this long (production default: 60 s).
os.environ.setdefault("MESOS_HYPER_REGISTRY_RETRY_SECONDS", "3")
os.environ.setdefault("MESOS_HYPER_LOG_LEVEL", "INFO")


def _qemu_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"qemu-system" in f.read().split(b"\0")[0]:
                        pids.add(int(entry))
            except OSError:
                continue
    return pids


@pytest.fixture
def no_leaks():
    """Fails the test if it leaves a domain of ours or a QEMU process behind."""
    from vmctl.lifecycle import list_ours

    before_domains = {d.name for d in list_ours()}
    before_qemu = _qemu_pids()
    from vmctl.network import links
    from vmctl.network.settings import NetSettings

    before_taps = set(links.list_taps(NetSettings.from_env()))
    yield
    leaked = {d.name for d in list_ours()} - before_domains
    assert not leaked, f"leaked libvirt domains: {leaked}"
    assert not (_qemu_pids() - before_qemu), "leaked qemu processes"
    from vmctl.network import links
    from vmctl.network.settings import NetSettings

    assert not (set(links.list_taps(NetSettings.from_env())) - before_taps), "leaked taps"


@pytest.fixture(scope="session", autouse=True)
def pod_network_namespace():
    """Every pod network of the suite lives in one test namespace, never the host's own.

    It has an "outside" neighbour (tests.net_fixtures.OUTSIDE_IP) to play a client beyond
    the agent; deleting the namespaces at the end removes the bridge, taps and rules.
    """
    from tests.net_fixtures import leftovers, make_test_network

    before = set(leftovers("mh-"))
    with make_test_network() as net:
        os.environ["MESOS_HYPER_NETNS"] = net.host
        os.environ["MESOS_HYPER_DNS"] = "192.168.77.2"
        os.environ["MESOS_HYPER_TEST_OUTSIDE_NETNS"] = net.outside
        try:
            yield net
        finally:
            os.environ.pop("MESOS_HYPER_NETNS", None)
    leaked = set(leftovers("mh-")) - before
    assert not leaked, f"leaked network namespaces: {sorted(leaked)}"
