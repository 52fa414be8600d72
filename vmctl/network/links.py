"""The bridge and the taps, through netlink (pyroute2), never by running ``ip``."""

from __future__ import annotations

import contextlib
import hashlib

from mesos_hyper import log
from mesos_hyper.errors import HyperError
from vmctl.network.netns import run_in_netns, with_netlink
from vmctl.network.settings import NetSettings

TYPE_CHECKING = False  # pyroute2 is imported where netlink is used: `usage` needs none
if TYPE_CHECKING:
    from pyroute2 import IPRoute

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


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _sysctl(netns: str | None, key: str, value: str) -> None:
    def write() -> None:
        with open(f"/proc/sys/{key.replace('.', '/')}", "w") as f:
            f.write(value)

    run_in_netns(netns, write)


def ensure_bridge(settings: NetSettings) -> None:
    """The pods' bridge with the gateway address, up, and forwarding on (idempotent)."""

    def work(ipr: IPRoute) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        idx = _index(ipr, settings.bridge)
        mac = bridge_mac(settings.bridge)
        if idx is None:
            with contextlib.suppress(NetlinkError):  # another executor made it first
                ipr.link("add", ifname=settings.bridge, kind="bridge", address=mac)
            idx = _index(ipr, settings.bridge)
            if idx is None:
                raise HyperError(f"cannot create the pod bridge {settings.bridge}")
            log.event(LOG, "pod bridge created", bridge=settings.bridge, netns=settings.netns)
        if ipr.get_links(idx)[0].get_attr("IFLA_ADDRESS") != mac:  # made by an older build
            ipr.link("set", index=idx, address=mac)
        have = {a.get("address") for a in ipr.get_addr(index=idx, family=2)}
        if str(settings.gateway) not in have:
            with contextlib.suppress(NetlinkError):
                ipr.addr(
                    "add",
                    index=idx,
                    address=str(settings.gateway),
                    prefixlen=settings.subnet.prefixlen,
                )
        ipr.link("set", index=idx, state="up")

    with_netlink(settings.netns, work)
    _sysctl(settings.netns, "net.ipv4.ip_forward", "1")
    # a forwarded port answers on 127.0.0.1 too: DNAT of loopback traffic onto the bridge
    _sysctl(settings.netns, f"net.ipv4.conf.{settings.bridge}.route_localnet", "1")


def create_tap(name: str, guest_mac: str) -> None:
    """A persistent tap in the root namespace, where libvirtd opens it (idempotent)."""

    def work(ipr: IPRoute) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        if _index(ipr, name) is None:
            try:
                ipr.link("add", ifname=name, kind="tuntap", mode="tap")
                ipr.link("set", index=_index(ipr, name), address=host_tap_mac(guest_mac))
            except NetlinkError as err:
                raise HyperError(f"cannot create tap {name}: {err}") from err

    with_netlink(None, work)


def rename_tap(old: str, new: str, guest_mac: str) -> None:
    """A pool VM's tap (in the root namespace, down, held by its QEMU) becomes a pod's.

    A tap made for the pod beforehand is deleted first: its name is the one the pod's
    rules and teardown know, and QEMU never opened it.
    """

    def work(ipr: IPRoute) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        idx = _index(ipr, old)
        if idx is None:
            raise HyperError(f"the pool VM's tap {old} is gone")
        taken = _index(ipr, new)
        if taken is not None:
            ipr.link("del", index=taken)
        try:
            ipr.link("set", index=idx, ifname=new, address=host_tap_mac(guest_mac))
        except NetlinkError as err:
            raise HyperError(f"cannot rename tap {old} to {new}: {err}") from err

    with_netlink(None, work)


def plug_tap(settings: NetSettings, name: str) -> None:
    """Once QEMU holds the tap: into the pods' namespace, onto the bridge, up."""
    if settings.netns is not None:

        def move(root: IPRoute) -> None:
            idx = _index(root, name)
            if idx is not None:
                root.link("set", index=idx, net_ns_fd=settings.netns)

        with_netlink(None, move)

    def attach(ipr: IPRoute) -> None:
        idx = _index(ipr, name)
        bridge = _index(ipr, settings.bridge)
        if idx is None or bridge is None:
            raise HyperError(f"tap {name} or bridge {settings.bridge} is missing")
        ipr.link("set", index=idx, master=bridge)
        ipr.link("set", index=idx, state="up")

    with_netlink(settings.netns, attach)


def delete_tap(settings: NetSettings | None, name: str) -> None:
    """Idempotent; looks in the pods' namespace and in the root one (only there without
    ``settings``: a pool VM's tap, never plugged)."""

    def work(ipr: IPRoute) -> None:
        idx = _index(ipr, name)
        if idx is not None:
            ipr.link("del", index=idx)

    for space in {settings.netns if settings else None, None}:
        with contextlib.suppress(HyperError):  # the namespace itself is gone: so is the tap
            with_netlink(space, work)


def list_taps(settings: NetSettings) -> list[str]:
    def work(ipr: IPRoute) -> set[str]:
        return {
            link.get_attr("IFLA_IFNAME")
            for link in ipr.get_links()
            if (link.get_attr("IFLA_IFNAME") or "").startswith(TAP_PREFIX)
        }

    names: set[str] = set()
    for space in {settings.netns, None}:
        with contextlib.suppress(HyperError):
            names |= with_netlink(space, work)
    return sorted(names)


def tap_stats(settings: NetSettings, name: str) -> dict[str, int]:
    """net_* counters from the guest's side: what the host's tap sends, the guest receives.

    Read from the namespace's /proc/net/dev, not netlink: the agent polls ``usage``, and
    importing pyroute2 took longer than all the rest of the call.
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
