"""Suite-wide settings: bounded registry retries, and a check that nothing leaks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.leaks import LeakCheck

# Failing registry calls give up after this long (production default: 60 s).
os.environ.setdefault("MESOS_HYPER_REGISTRY_RETRY_SECONDS", "3")
os.environ.setdefault("MESOS_HYPER_LOG_LEVEL", "INFO")


@pytest.fixture
def no_leaks() -> Iterator[LeakCheck]:
    """Fails the test if it leaves anything of a container behind (see tests.leaks):
    domains, QEMU/virtiofsd/executor processes, taps, nft rules, leases, overlays, live
    records, exec sockets.

    A fixture that gives an agent its own root registers it before use with
    ``no_leaks.watch_agent(agent)`` (or ``watch_root``), and calls ``no_leaks.check()``
    before it deletes that root; the check at teardown repeats nothing already reported.
    """
    from tests.leaks import LeakCheck

    check = LeakCheck.for_host()
    yield check
    check.check()


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
