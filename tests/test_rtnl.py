"""Our rtnetlink client against the kernel, in a throwaway network namespace."""

from __future__ import annotations

import errno
import struct
import uuid
from pathlib import Path

import pytest

from mesos_hyper.errors import HyperError
from tests.net_fixtures import make_test_network
from vmctl.network import rtnl
from vmctl.network.netns import with_netlink

IFF_PERSIST = 0x0800


def test_links_addresses_and_a_bridge_in_a_namespace() -> None:
    with make_test_network() as net:

        def work(nl: rtnl.Rtnl) -> None:
            lo = nl.link("lo")
            assert lo is not None and lo.index == 1 and lo.name == "lo"
            assert nl.link("mh-no-such") is None and nl.index("mh-no-such") is None
            nl.add_bridge("mhbrtest", "02:11:22:33:44:55")
            with pytest.raises(rtnl.NetlinkError) as made_twice:
                nl.add_bridge("mhbrtest", "02:11:22:33:44:55")
            assert made_twice.value.errno == errno.EEXIST
            bridge = nl.link("mhbrtest")
            assert bridge is not None and bridge.address == "02:11:22:33:44:55"
            assert "mhbrtest" in {link.name for link in nl.links()}
            nl.set_link(bridge.index, address="02:00:00:00:00:01", up=True)
            assert nl.link("mhbrtest").address == "02:00:00:00:00:01"
            nl.add_address(bridge.index, "10.99.0.1", 24)
            assert nl.addresses(bridge.index) == {"10.99.0.1"}
            with pytest.raises(rtnl.NetlinkError):
                nl.add_address(bridge.index, "10.99.0.1", 24)
            nl.set_link(bridge.index, up=False)
            nl.set_link(bridge.index, name="mhbrtest2")
            assert nl.index("mhbrtest") is None and nl.index("mhbrtest2") == bridge.index
            nl.delete_link(bridge.index)
            assert nl.index("mhbrtest2") is None
            with pytest.raises(rtnl.NetlinkError) as gone:
                nl.delete_link(bridge.index)
            assert gone.value.errno == errno.ENODEV

        with_netlink(net.host, work)


def test_a_tap_is_made_persistent_and_deleted() -> None:
    name = "mhtt" + uuid.uuid4().hex[:8]
    rtnl.create_tap(name)
    try:

        def look(nl: rtnl.Rtnl) -> rtnl.Link | None:
            return nl.link(name)

        tap = with_netlink(None, look)
        assert tap is not None and tap.address is not None
        flags = Path(f"/sys/class/net/{name}/tun_flags").read_text().strip()
        assert int(flags, 16) == rtnl.IFF_TAP | rtnl.IFF_NO_PI | IFF_PERSIST
    finally:
        with_netlink(None, lambda nl: nl.delete_link(nl.index(name)))
    assert with_netlink(None, lambda nl: nl.index(name)) is None


@pytest.mark.parametrize("bad", ["", "x" * 16, "a/b", "a\0b"])
def test_bad_interface_names_are_refused(bad: str) -> None:
    with pytest.raises(HyperError, match="not an interface name"):
        with_netlink(None, lambda nl: nl.link(bad))


@pytest.mark.parametrize("bad", ["52:54:00:01:02", "zz:54:00:01:02:03", ""])
def test_bad_macs_are_refused(bad: str) -> None:
    with pytest.raises(HyperError, match="not a MAC"):
        with_netlink(None, lambda nl: nl.set_link(1, address=bad))


def test_attributes_are_parsed_within_their_bounds() -> None:
    good = rtnl._attr(rtnl.IFLA_IFNAME, b"eth0\0") + rtnl._attr(4, b"\0" * 4)
    assert rtnl._attrs(good)[rtnl.IFLA_IFNAME] == b"eth0\0"
    cut = good + struct.pack("=HH", 200, 7) + b"xx"  # claims more than there is
    assert set(rtnl._attrs(cut)) == {rtnl.IFLA_IFNAME, 4}
