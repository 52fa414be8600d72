"""A small rtnetlink client: the link and address requests our bridge and taps need.

pyroute2 did this before, but importing it took 0.2-0.3 s of CPU (asyncio and the whole
of its API) in every pod executor and every ``mesos-hyper run``, on the way to the task's
start. These are a dozen plain netlink requests on a ``NETLINK_ROUTE`` socket, and taps
are made as ``ip tuntap`` makes them (``TUNSETIFF``, ``TUNSETPERSIST``).

A socket belongs to the network namespace of the thread that made it (``netns.with_netlink``).
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from mesos_hyper.errors import HyperError

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 1, 2, 4
NLM_F_DUMP, NLM_F_EXCL, NLM_F_CREATE = 0x300, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFF_UP = 1
IFNAMSIZ = 16
TUNSETIFF, TUNSETPERSIST = 0x400454CA, 0x400454CB
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefix length, flags, scope, index
_ATTR = struct.Struct("=HH")  # rtattr: length, type
_ERRNO = struct.Struct("=i")
RECV_BYTES = 1 << 16


class NetlinkError(HyperError):
    """The kernel refused a request; ``errno`` says why."""

    def __init__(self, code: int, what: str) -> None:
        super().__init__(f"{what}: {os.strerror(code)}")
        self.errno = code


@dataclass(frozen=True)
class Link:
    """A network interface, as much of it as we look at."""

    index: int
    name: str
    address: str | None  # its MAC


def _attr(kind: int, payload: bytes) -> bytes:
    raw = _ATTR.pack(_ATTR.size + len(payload), kind) + payload
    return raw + bytes(-len(raw) % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    """The top-level attributes of a message's payload (a later duplicate wins)."""
    found = {}
    at = 0
    while at + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, at)
        if length < _ATTR.size or at + length > len(data):
            break
        found[kind & 0x3FFF] = data[at + _ATTR.size : at + length]  # less NLA_F_NESTED
        at += (length + 3) & ~3
    return found


def _name(value: str) -> bytes:
    raw = value.encode()
    if not raw or len(raw) >= IFNAMSIZ or b"/" in raw or b"\0" in raw:
        raise HyperError(f"not an interface name: {value!r}")
    return raw + b"\0"


def _mac(value: str) -> bytes:
    try:
        raw = bytes(int(part, 16) for part in value.split(":"))
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise HyperError(f"not a MAC address: {value!r}")
    return raw


def _link(payload: bytes) -> Link:
    _family, _type, index, _flags, _change = _IFINFO.unpack_from(payload)
    attrs = _attrs(payload[_IFINFO.size :])
    name = attrs.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode(errors="replace")
    mac = attrs.get(IFLA_ADDRESS)
    return Link(index, name, ":".join(f"{b:02x}" for b in mac) if mac else None)


class Rtnl:
    """One NETLINK_ROUTE socket in the namespace of the thread that makes it."""

    def __init__(self) -> None:
        self._sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
        )
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, kind: int, flags: int, body: bytes, what: str) -> list[tuple[int, bytes]]:
        """The replies to one request (a dump's every message); NetlinkError if refused."""
        self._seq += 1
        seq = self._seq
        flags |= NLM_F_REQUEST
        self._sock.send(_HEADER.pack(_HEADER.size + len(body), kind, flags, seq, 0) + body)
        replies = []
        while True:
            data = self._sock.recv(RECV_BYTES)
            at = 0
            while at + _HEADER.size <= len(data):
                length, rtype, rflags, rseq, _port = _HEADER.unpack_from(data, at)
                if length < _HEADER.size or at + length > len(data):
                    raise HyperError(f"{what}: a malformed netlink reply")
                payload = data[at + _HEADER.size : at + length]
                at += (length + 3) & ~3
                if rseq != seq:
                    continue  # a late reply to an earlier request
                if rtype == NLMSG_ERROR:
                    (code,) = _ERRNO.unpack_from(payload)
                    if code:
                        raise NetlinkError(-code, what)
                    return replies  # the ACK
                if rtype == NLMSG_DONE:
                    return replies
                replies.append((rtype, payload))
                if not rflags & NLM_F_MULTI and not flags & NLM_F_ACK:
                    return replies  # the one answer to a plain get

    # ---- links ----------------------------------------------------------------

    def link(self, name: str) -> Link | None:
        body = _IFINFO.pack(0, 0, 0, 0, 0) + _attr(IFLA_IFNAME, _name(name))
        try:
            replies = self._request(RTM_GETLINK, 0, body, f"looking up {name}")
        except NetlinkError as err:
            if err.errno == errno.ENODEV:
                return None
            raise
        links = [_link(payload) for kind, payload in replies if kind == RTM_NEWLINK]
        return links[0] if links else None

    def index(self, name: str) -> int | None:
        found = self.link(name)
        return found.index if found else None

    def links(self) -> list[Link]:
        body = _IFINFO.pack(0, 0, 0, 0, 0)
        replies = self._request(RTM_GETLINK, NLM_F_DUMP, body, "listing links")
        return [_link(payload) for kind, payload in replies if kind == RTM_NEWLINK]

    def set_link(
        self,
        index: int,
        *,
        name: str | None = None,
        address: str | None = None,
        master: int | None = None,
        up: bool | None = None,
        netns_fd: int | None = None,
    ) -> None:
        flags = IFF_UP if up else 0
        change = IFF_UP if up is not None else 0
        attrs = b""
        if name is not None:
            attrs += _attr(IFLA_IFNAME, _name(name))
        if address is not None:
            attrs += _attr(IFLA_ADDRESS, _mac(address))
        if master is not None:
            attrs += _attr(IFLA_MASTER, struct.pack("=I", master))
        if netns_fd is not None:
            attrs += _attr(IFLA_NET_NS_FD, struct.pack("=I", netns_fd))
        body = _IFINFO.pack(0, 0, index, flags, change) + attrs
        self._request(RTM_NEWLINK, NLM_F_ACK, body, f"changing link {index}")

    def add_bridge(self, name: str, address: str) -> None:
        info = _attr(IFLA_INFO_KIND, b"bridge")
        body = (
            _IFINFO.pack(0, 0, 0, 0, 0)
            + _attr(IFLA_IFNAME, _name(name))
            + _attr(IFLA_ADDRESS, _mac(address))
            + _attr(IFLA_LINKINFO, info)
        )
        flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        self._request(RTM_NEWLINK, flags, body, f"creating bridge {name}")

    def delete_link(self, index: int) -> None:
        body = _IFINFO.pack(0, 0, index, 0, 0)
        self._request(RTM_DELLINK, NLM_F_ACK, body, f"deleting link {index}")

    # ---- IPv4 addresses -------------------------------------------------------

    def addresses(self, index: int) -> set[str]:
        body = _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)
        replies = self._request(RTM_GETADDR, NLM_F_DUMP, body, "listing addresses")
        found = set()
        for kind, payload in replies:
            if kind != RTM_NEWADDR or len(payload) < _IFADDR.size:
                continue
            family, _prefix, _flags, _scope, at_index = _IFADDR.unpack_from(payload)
            attrs = _attrs(payload[_IFADDR.size :])
            raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
            if family == socket.AF_INET and at_index == index and raw and len(raw) == 4:
                found.add(str(ipaddress.IPv4Address(raw)))
        return found

    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        raw = ipaddress.IPv4Address(address).packed
        body = (
            _IFADDR.pack(socket.AF_INET, prefixlen, 0, 0, index)
            + _attr(IFA_LOCAL, raw)
            + _attr(IFA_ADDRESS, raw)
        )
        flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        self._request(RTM_NEWADDR, flags, body, f"adding {address} to link {index}")


def create_tap(name: str) -> None:
    """A persistent tap (no packet info header), as ``ip tuntap add mode tap`` makes it;
    EBUSY if a device of that name exists."""
    ifreq = _name(name).ljust(IFNAMSIZ, b"\0") + struct.pack("=H", IFF_TAP | IFF_NO_PI)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, ifreq.ljust(40, b"\0"))
        fcntl.ioctl(fd, TUNSETPERSIST, 1)
    except OSError as err:
        raise NetlinkError(err.errno or errno.EIO, f"creating tap {name}") from err
    finally:
        os.close(fd)
