"""The bridge and the taps, through netlink (``rtnl``), never by running ``ip``."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os

from mesos_hyper import log
from mesos_hyper.errors import HyperError
from vmctl.network import rtnl
from vmctl.network.netns import netns_path, run_in_netns, with_netlink
from vmctl.network.rtnl import NetlinkError, Rtnl
from vmctl.network.settings import NetSettings

LOG = log.get(__name__)
TAP_PREFIX = "mht"
STAT_KEYS = ("bytes", "packets", "errors", "dropped")


def tap_name(container_id: str) -> str:
    """15 characters at most (IFNAMSIZ), stable for a container id."""
    return TAP_PREFIX + hashlib.sha256(container_id.encode()).hexdigest()[:12]


def pool_tap_name(vm_name: str) -> str:
    """A pool VM's own tap until a claim renames it to its pod's (``tap_name``)."""
    return TAP_PREFIX + "p" + hashlib.sha256(vm_name.encode()).hexdigest()[:11]


def pool_guest_mac(vm_name: str) -> str:
    """A pool VM's NIC until its pod's init sets the pod's MAC (52:54:01, never a pod's)."""
    b = hashlib.sha256(vm_name.encode()).digest()
    return f"52:54:01:{b[0]:02x}:{b[1]:02x}:{b[2]:02x}"


def bridge_mac(bridge: str) -> str:
    """A fixed, locally administered MAC for the bridge.

    A bridge without one takes the lowest MAC of its ports and changes it as taps come
    and go; guests that cached the gateway's old MAC then send to a tap port instead.
    """
    digest = hashlib.sha256(bridge.encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def host_tap_mac(guest_mac: str) -> str:
    """The host end of a tap: fe:... as libvirt makes it, never the guest's own MAC."""
    return "fe:" + guest_mac.split(":", 1)[1]


def _sysctl(netns: str | None, key: str, value: str) -> None:
    def write() -> None:
        with open(f"/proc/sys/{key.replace('.', '/')}", "w") as f:
            f.write(value)

    run_in_netns(netns, write)


def ensure_bridge(settings: NetSettings) -> None:
    """The pods' bridge with the gateway address, up, and forwarding on (idempotent)."""

    def work(nl: Rtnl) -> None:
        mac = bridge_mac(settings.bridge)
        bridge = nl.link(settings.bridge)
        if bridge is None:
            try:
                nl.add_bridge(settings.bridge, mac)
            except NetlinkError as err:
                if err.errno != errno.EEXIST:  # else another executor made it first
                    raise HyperError(
                        f"cannot create the pod bridge {settings.bridge}: {err}"
                    ) from err
            bridge = nl.link(settings.bridge)
            if bridge is None:
                raise HyperError(f"cannot create the pod bridge {settings.bridge}")
            log.event(LOG, "pod bridge created", bridge=settings.bridge, netns=settings.netns)
        if bridge.address != mac:  # made by an older build
            nl.set_link(bridge.index, address=mac)
        if str(settings.gateway) not in nl.addresses(bridge.index):
            with contextlib.suppress(NetlinkError):  # added meanwhile
                nl.add_address(bridge.index, str(settings.gateway), settings.subnet.prefixlen)
        nl.set_link(bridge.index, up=True)

    with_netlink(settings.netns, work)
    _sysctl(settings.netns, "net.ipv4.ip_forward", "1")
    # a forwarded port answers on 127.0.0.1 too: DNAT of loopback traffic onto the bridge
    _sysctl(settings.netns, f"net.ipv4.conf.{settings.bridge}.route_localnet", "1")


def create_tap(name: str, guest_mac: str) -> None:
    """A persistent tap in the root namespace, where libvirtd opens it (idempotent)."""

    def work(nl: Rtnl) -> None:
        if nl.index(name) is None:
            try:
                rtnl.create_tap(name)
                index = nl.index(name)
                if index is None:
                    raise HyperError(f"tap {name} vanished as it was made")
                nl.set_link(index, address=host_tap_mac(guest_mac))
            except NetlinkError as err:
                raise HyperError(f"cannot create tap {name}: {err}") from err

    with_netlink(None, work)


def rename_tap(old: str, new: str, guest_mac: str) -> None:
    """A pool VM's tap (in the root namespace, down, held by its QEMU) becomes a pod's.

    A tap made for the pod beforehand is deleted first: its name is the one the pod's
    rules and teardown know, and QEMU never opened it.
    """

    def work(nl: Rtnl) -> None:
        index = nl.index(old)
        if index is None:
            raise HyperError(f"the pool VM's tap {old} is gone")
        taken = nl.index(new)
        if taken is not None:
            nl.delete_link(taken)
        try:
            nl.set_link(index, name=new, address=host_tap_mac(guest_mac))
        except NetlinkError as err:
            raise HyperError(f"cannot rename tap {old} to {new}: {err}") from err

    with_netlink(None, work)


def plug_tap(settings: NetSettings, name: str) -> None:
    """Once QEMU holds the tap: into the pods' namespace, onto the bridge, up."""
    if settings.netns is not None:
        netns = settings.netns

        def move(root: Rtnl) -> None:
            index = root.index(name)
            if index is None:
                return
            fd = os.open(netns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
            try:
                root.set_link(index, netns_fd=fd)
            finally:
                os.close(fd)

        with_netlink(None, move)

    def attach(nl: Rtnl) -> None:
        index = nl.index(name)
        bridge = nl.index(settings.bridge)
        if index is None or bridge is None:
            raise HyperError(f"tap {name} or bridge {settings.bridge} is missing")
        nl.set_link(index, master=bridge)
        nl.set_link(index, up=True)

    with_netlink(settings.netns, attach)


def delete_tap(settings: NetSettings | None, name: str) -> None:
    """Idempotent; looks in the pods' namespace and in the root one (only there without
    ``settings``: a pool VM's tap, never plugged)."""

    def work(nl: Rtnl) -> None:
        index = nl.index(name)
        if index is not None:
            with contextlib.suppress(NetlinkError):  # gone meanwhile
                nl.delete_link(index)

    for space in {settings.netns if settings else None, None}:
        with contextlib.suppress(HyperError):  # the namespace itself is gone: so is the tap
            with_netlink(space, work)


def list_taps(settings: NetSettings) -> list[str]:
    def work(nl: Rtnl) -> set[str]:
        return {link.name for link in nl.links() if link.name.startswith(TAP_PREFIX)}

    names: set[str] = set()
    for space in {settings.netns, None}:
        with contextlib.suppress(HyperError):
            names |= with_netlink(space, work)
    return sorted(names)


def tap_stats(settings: NetSettings, name: str) -> dict[str, int]:
    """net_* counters from the guest's side: what the host's tap sends, the guest receives.

    Read from the namespace's /proc/net/dev, which needs no netlink socket.
    """

    def read() -> str:
        with open("/proc/thread-self/net/dev") as f:  # this thread's namespace
            return f.read()

    for line in run_in_netns(settings.netns, read).splitlines()[2:]:
        ifname, _, counters = line.partition(":")
        if ifname.strip() == name:
            values = [int(v) for v in counters.split()]  # 8 received, then 8 sent
            rx = dict(zip(STAT_KEYS, values[:4], strict=True))  # bytes packets errs drop
            tx = dict(zip(STAT_KEYS, values[8:12], strict=True))
            out = {f"net_rx_{key}": tx[key] for key in STAT_KEYS}
            out.update({f"net_tx_{key}": rx[key] for key in STAT_KEYS})
            return out
    return {}
