"""Suite-wide settings: bounded registry retries, and a check that nothing leaks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.leaks import LeakCheck

# Failing registry calls give up after this long (production default: 60 s).
os.environ.setdefault("MESOS_HYPER_REGISTRY_RETRY_SECONDS", "3")
os.environ.setdefault("MESOS_HYPER_LOG_LEVEL", "INFO")
# how far a VM can grow by hot-plug: bounded, so a test asking for more than that stays small
os.environ.setdefault("MESOS_HYPER_MAX_MEMORY_MIB", "2048")
os.environ.setdefault("MESOS_HYPER_MAX_VCPUS", "2")


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
def warm_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The suite runs with the warm pool on, as production does: one pool for every test's
    state root (on the same filesystem, so a claim can move a pool VM into any of them),
    drained at the end. ``MESOS_HYPER_POOL_SIZE=0`` runs the suite cold instead."""
    from mesos_hyper.config import Paths
    from vmctl.pool.fill import drain, fill_lock, reap
    from vmctl.pool.store import PoolDirs

    os.environ.setdefault("MESOS_HYPER_POOL_SIZE", "1")
    os.environ["MESOS_HYPER_POOL_DIR"] = str(tmp_path_factory.mktemp("pool"))
    try:
        yield
    finally:
        paths = Paths.from_env()
        dirs = PoolDirs(paths)
        with fill_lock(dirs, wait=True):
            drain(paths, stop=True)
            reap(paths, dirs)
        os.environ.pop("MESOS_HYPER_POOL_DIR", None)
        _no_orphaned_pool_vms()


def _no_orphaned_pool_vms() -> None:
    """A pool VM whose pool directory is gone was booted by a refill that outlived its
    test's pool: nobody would ever claim or drain it. Removed, and the run fails."""
    from vmctl.lifecycle import destroy_by_name, list_ours

    orphans = [
        d.name
        for d in list_ours()
        if d.metadata.get("pool") and not Path(d.metadata["pool"]).is_dir()
    ]
    for name in orphans:
        destroy_by_name(name)
    assert not orphans, f"pool VMs outlived their pools: {orphans}"


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
