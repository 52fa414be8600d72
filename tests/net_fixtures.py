"""Network namespaces for tests: a host namespace for the pod network, an outside one,
and stand-in pods (a veth whose host end plays the tap) — traffic never leaves them."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from pyroute2 import IPRoute, netns

from vmctl.network.netns import run_in_netns

# In the names of this process's namespaces: the leak check sees only its own, never those
# of another test session running on the same machine.
SESSION_TAG = f"{os.getpid():x}"
OUTSIDE_HOST_IP = "192.168.77.1"
OUTSIDE_IP = "192.168.77.2"
T = TypeVar("T")


@dataclass
class TestNet:
    host: str  # the namespace the pod network lives in (MESOS_HYPER_NETNS)
    outside: str  # a machine beyond the host
    made: list[str]

    def add_ns(self, prefix: str) -> str:
        name = f"{prefix}-{SESSION_TAG}-{uuid.uuid4().hex[:8]}"
        netns.create(name)
        self.made.append(name)
        return name


def _pyroute2_in(ns: str | None, work: Callable[[IPRoute], T]) -> T:
    """pyroute2 in netns ``ns``, for what only the fixtures do (veth pairs, routes); the code
    under test has its own netlink client (vmctl.network.rtnl)."""

    def run() -> T:
        with IPRoute() as ipr:
            return work(ipr)

    return run_in_netns(ns, run)


def _veth(a_ns: str | None, a_name: str, b_ns: str, b_name: str) -> None:
    """A veth pair made under temporary names (the root namespace has its own eth0)."""
    tmp_a, tmp_b = "mhva" + uuid.uuid4().hex[:8], "mhvb" + uuid.uuid4().hex[:8]
    with IPRoute() as root:
        root.link("add", ifname=tmp_a, kind="veth", peer=tmp_b)
        root.link("set", index=root.link_lookup(ifname=tmp_b)[0], net_ns_fd=b_ns)
        if a_ns is not None:
            root.link("set", index=root.link_lookup(ifname=tmp_a)[0], net_ns_fd=a_ns)
    for ns, tmp, name in ((a_ns, tmp_a, a_name), (b_ns, tmp_b, b_name)):
        _pyroute2_in(
            ns,
            lambda ipr, tmp=tmp, name=name: ipr.link(
                "set", index=ipr.link_lookup(ifname=tmp)[0], ifname=name
            ),
        )


def _addr_up(ns: str, name: str, cidr: str, gateway: str | None = None, mac: str | None = None):
    iface = ipaddress.IPv4Interface(cidr)

    def work(ipr: IPRoute) -> None:
        idx = ipr.link_lookup(ifname=name)[0]
        if mac:
            ipr.link("set", index=idx, address=mac)
        ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        ipr.link("set", index=idx, state="up")
        lo = ipr.link_lookup(ifname="lo")[0]
        ipr.link("set", index=lo, state="up")
        if gateway:
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway)

    _pyroute2_in(ns, work)


@contextlib.contextmanager
def make_test_network() -> Iterator[TestNet]:
    net = TestNet(host="", outside="", made=[])
    try:
        net.host = net.add_ns("mh-host")
        net.outside = net.add_ns("mh-out")
        _pyroute2_in(
            net.host, lambda ipr: ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        )
        veth = "mhv" + uuid.uuid4().hex[:8]
        _veth(net.host, veth, net.outside, "eth0")
        _addr_up(net.host, veth, f"{OUTSIDE_HOST_IP}/24")
        _addr_up(net.outside, "eth0", f"{OUTSIDE_IP}/24")
        yield net
    finally:
        for name in reversed(net.made):
            with contextlib.suppress(Exception):
                netns.remove(name)


def fake_pod(
    net: TestNet, host_end: str, ip: ipaddress.IPv4Address, prefix: int, gateway, mac, bridge: str
) -> str:
    """A namespace standing in for a pod VM; its veth's host end is named like its tap."""
    pod = net.add_ns("mh-pod")
    _veth(net.host, host_end, pod, "eth0")
    _addr_up(pod, "eth0", f"{ip}/{prefix}", str(gateway), mac)

    def plug(ipr: IPRoute) -> None:
        idx = ipr.link_lookup(ifname=host_end)[0]
        ipr.link("set", index=idx, master=ipr.link_lookup(ifname=bridge)[0], state="up")

    _pyroute2_in(net.host, plug)
    return pod


class Server:
    """A TCP server in a namespace that answers each connection with its peer's address."""

    def __init__(self, ns: str | None, host: str, port: int) -> None:
        def make() -> socket.socket:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(8)
            return sock

        self.sock = run_in_netns(ns, make)
        self.peers: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            with conn:
                conn.sendall(f"hello {peer[0]}\n".encode())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def connect(
    ns: str | None, host: str, port: int, timeout: float = 1.0, source: str | None = None
) -> str | None:
    """What the server said, or None when the connection failed."""

    def go() -> str | None:
        try:
            with socket.create_connection(
                (host, port), timeout=timeout, source_address=(source, 0) if source else None
            ) as sock:
                return sock.recv(100).decode()
        except OSError:
            return None

    return run_in_netns(ns, go)


def leftovers(prefix: str) -> list[str]:
    """This session's namespaces named ``prefix...`` that still exist."""
    return (
        [n for n in os.listdir("/run/netns") if n.startswith(prefix) and f"-{SESSION_TAG}-" in n]
        if os.path.isdir("/run/netns")
        else []
    )
