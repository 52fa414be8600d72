"""Where pods are networked and how: every knob comes from the environment."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mesos_hyper.errors import UsageError

ISOLATION_MODES = ("framework", "none")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def _host_nameservers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """The host's nameservers a pod can reach: loopback ones (a local stub) are not."""
    servers = []
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                addr = ipaddress.ip_address(parts[1])
            except ValueError:
                continue
            if addr.version == 4 and not addr.is_loopback:
                servers.append(str(addr))
    return servers


@dataclass(frozen=True)
class NetSettings:
    """The pod network's settings, from the environment."""

    subnet: ipaddress.IPv4Network
    enabled: bool = True  # off: no pod gets a NIC (MESOS_HYPER_POD_NETWORK=off)
    bridge: str = "mhbr0"
    netns: str | None = None  # a name under /run/netns; None = the root namespace
    isolation: str = "framework"  # "framework": pods reach only their framework's pods
    blocked: tuple[ipaddress.IPv4Network, ...] = ()
    dns: tuple[str, ...] = ()
    lease_dir: Path = field(default=Path("/var/lib/mesos-hyper/net/leases"))

    def __post_init__(self) -> None:
        if not _IFNAME.match(self.bridge):
            raise UsageError(f"bad bridge name {self.bridge!r}")
        if self.isolation not in ISOLATION_MODES:
            raise UsageError(f"MESOS_HYPER_NET_ISOLATION must be one of {ISOLATION_MODES}")
        if self.subnet.prefixlen > 29:
            raise UsageError(f"pod subnet {self.subnet} is too small")
        if self.netns is not None and not re.match(r"^[A-Za-z0-9_.-]+$", self.netns):
            raise UsageError(f"bad network namespace name {self.netns!r}")

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1

    @classmethod
    def from_env(cls) -> NetSettings:
        env = os.environ
        root = Path(env.get("MESOS_HYPER_ROOT") or "/var/lib/mesos-hyper")
        try:
            subnet = ipaddress.IPv4Network(env.get("MESOS_HYPER_POD_SUBNET") or "10.213.0.0/16")
            blocked = tuple(
                ipaddress.IPv4Network(item.strip())
                for item in (env.get("MESOS_HYPER_NET_BLOCKED") or "169.254.0.0/16").split(",")
                if item.strip()
            )
            dns_raw = env.get("MESOS_HYPER_DNS")
            if dns_raw is None:
                dns = tuple(_host_nameservers())
            else:
                dns = tuple(
                    str(ipaddress.IPv4Address(item.strip()))
                    for item in dns_raw.split(",")
                    if item.strip()
                )
        except ValueError as err:
            raise UsageError(f"bad network setting: {err}") from None
        switch = env.get("MESOS_HYPER_POD_NETWORK") or "on"
        if switch not in ("on", "off"):
            raise UsageError(f"MESOS_HYPER_POD_NETWORK must be on or off, not {switch!r}")
        return cls(
            subnet=subnet,
            enabled=switch == "on",
            bridge=env.get("MESOS_HYPER_BRIDGE") or "mhbr0",
            netns=env.get("MESOS_HYPER_NETNS") or None,
            isolation=env.get("MESOS_HYPER_NET_ISOLATION") or "framework",
            blocked=blocked,
            dns=dns,
            lease_dir=root / "net" / "leases",
        )
