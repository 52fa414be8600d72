"""nftables rules for pods: NAT, port forwards, host protection and tenant isolation.

Two tables of our own, made once (``ensure_base``): ``inet mesos_hyper`` routes and guards
traffic between pods and the world, ``bridge mesos_hyper`` guards traffic between pods on
the bridge (switched, it never reaches the inet hooks). Every rule a container adds carries
the comment ``mh:<container id>`` and goes with it (``remove_container``). Rules are built
from validated values only (addresses, ports, interface names); changes go through
``nft -f -`` as one transaction, and reading uses nft's JSON output.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from mesos_hyper.errors import HyperError
from vmctl.network.netns import nsenter_prefix
from vmctl.network.settings import NetSettings

TABLE = "mesos_hyper"
DNAT_MARK = 0x00100000  # one skb mark bit: "this packet goes to a published port"
COMMENT = "mh:"
_SAFE = re.compile(r"^[A-Za-z0-9_.:-]+$")


@dataclass(frozen=True)
class Forward:
    """A host port forwarded to a pod's port."""

    proto: str  # "tcp" | "udp"
    host_port: int
    container_port: int

    def __post_init__(self) -> None:
        if self.proto not in ("tcp", "udp"):
            raise HyperError(f"unsupported port mapping protocol {self.proto!r}")
        for port in (self.host_port, self.container_port):
            if not 0 < port < 65536:
                raise HyperError(f"port {port} out of range")


@dataclass(frozen=True)
class ContainerRules:
    """What a container's nft rules are made from."""

    container_id: str
    framework_id: str
    tap: str
    ip: ipaddress.IPv4Address
    mac: str
    forwards: list[Forward] = field(default_factory=list)


def _nft(settings: NetSettings, args: list[str], script: str | None = None) -> str:
    cmd = [*nsenter_prefix(settings.netns), "nft", *args]
    try:
        res = subprocess.run(cmd, input=script, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise HyperError("nft not found: install nftables") from None
    except subprocess.TimeoutExpired:
        raise HyperError(f"nft {' '.join(args)} did not answer within 30s") from None
    if res.returncode != 0:
        raise HyperError(f"nft {' '.join(args)} failed: {res.stderr.strip()[:400]}")
    return res.stdout


@contextmanager
def locked(settings: NetSettings) -> Iterator[None]:
    """One writer at a time across executors (the base check and port checks race)."""
    settings.lease_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(settings.lease_dir.parent / "firewall.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _framework_set(framework_id: str) -> str:
    return "fw_" + hashlib.sha256(framework_id.encode()).hexdigest()[:12]


def _base_script(settings: NetSettings) -> str:
    br, net = settings.bridge, settings.subnet
    blocked = ", ".join(str(n) for n in settings.blocked)
    blocked_set = f"elements = {{ {blocked} }}" if blocked else ""
    # A published port is public: another tenant reaches it as the outside does. With
    # br_netfilter, DNAT to a pod on the same bridge is bridged, tap to tap; the bridge
    # family has no conntrack here, so the inet side marks DNATed packets for it.
    isolate = (
        f"        meta mark & {DNAT_MARK:#x} == {DNAT_MARK:#x} accept\n"
        f'        iifname "{"mht*"}" oifname "{"mht*"}" drop\n'
        if settings.isolation == "framework"
        else ""
    )
    return f"""table inet {TABLE} {{
    set blocked {{ type ipv4_addr; flags interval; {blocked_set} }}
    chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
    chain mark_dnat {{
        type filter hook prerouting priority dstnat + 10; policy accept;
        ct status dnat meta mark set meta mark | {DNAT_MARK:#x}
    }}
    chain output {{ type nat hook output priority -100; policy accept; }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {net} oifname != "{br}" masquerade
        oifname "{br}" ip saddr 127.0.0.0/8 masquerade
        oifname "{br}" ip saddr {net} ct status dnat masquerade
    }}
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname "{br}" ct state established,related accept
        iifname "{br}" drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        ct state established,related accept
        oifname "{br}" ct status dnat accept
        iifname "{br}" ip daddr @blocked drop
        iifname "{br}" accept
        oifname "{br}" drop
    }}
}}
table bridge {TABLE} {{
    chain prerouting {{ type filter hook prerouting priority filter; policy accept; }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
{isolate}    }}
}}
"""


def _ruleset(settings: NetSettings) -> list[dict]:
    out = _nft(settings, ["-j", "-a", "list", "ruleset"])
    return json.loads(out).get("nftables", []) if out.strip() else []


def ensure_base(settings: NetSettings) -> None:
    """Our two tables, made in one transaction unless they are there already."""
    have = {
        (item["table"]["family"], item["table"]["name"])
        for item in _ruleset(settings)
        if "table" in item
    }
    if {("inet", TABLE), ("bridge", TABLE)} <= have:
        return
    # `delete`, not `destroy`: nftables 1.0.6 (Debian 12) has no `destroy`; these exist
    script = "".join(f"delete table {fam} {TABLE}\n" for fam, name in have if name == TABLE)
    _nft(settings, ["-f", "-"], script + _base_script(settings))


def _check(value: str) -> str:
    if not _SAFE.match(value):
        raise HyperError(f"refusing an unsafe value in a firewall rule: {value!r}")
    return value


def _owned_rules(settings: NetSettings) -> list[dict]:
    return [
        item["rule"]
        for item in _ruleset(settings)
        if "rule" in item
        and item["rule"].get("table") == TABLE
        and str(item["rule"].get("comment", "")).startswith(COMMENT)
    ]


def _dports(rule: dict) -> set[tuple[str, int]]:
    """(proto, port) pairs a rule's ``<proto> dport <port>`` matches name."""
    out = set()
    for expr in rule.get("expr", []):
        match = expr.get("match", {})
        left = match.get("left", {}).get("payload", {})
        if left.get("field") == "dport" and isinstance(match.get("right"), int):
            out.add((left.get("protocol", ""), match["right"]))
    return out


def forwarded_ports(settings: NetSettings) -> dict[tuple[str, int], str]:
    """(proto, host port) -> owning container, read back from the DNAT rules."""
    taken = {}
    for rule in _owned_rules(settings):
        if rule["chain"] == "prerouting":
            owner = rule["comment"][len(COMMENT) :]
            taken.update(dict.fromkeys(_dports(rule), owner))
    return taken


def _forward_lines(
    settings: NetSettings, container_id: str, ip: str, forwards: list[Forward]
) -> list[str]:
    """DNAT rules for ``forwards``; a host port another container holds is refused."""
    comment = json.dumps(COMMENT + container_id)  # quoted for nft; the id is data, never syntax
    taken = forwarded_ports(settings)
    lines = []
    for fwd in forwards:
        owner = taken.get((fwd.proto, fwd.host_port))
        if owner == container_id:
            continue  # already there (a second task of the pod with the same port)
        if owner is not None:
            raise HyperError(
                f"host port {fwd.host_port}/{fwd.proto} is already forwarded to container {owner}"
            )
        for chain in ("prerouting", "output"):
            lines.append(
                f"add rule inet {TABLE} {chain} fib daddr type local {fwd.proto} dport "
                f"{fwd.host_port} dnat ip to {ip}:{fwd.container_port} comment {comment}"
            )
    return lines


def add_container(settings: NetSettings, rules: ContainerRules) -> None:
    tap, cid = _check(rules.tap), rules.container_id
    comment = json.dumps(COMMENT + cid)
    ip, mac = str(rules.ip), _check(rules.mac)
    lines = _forward_lines(settings, cid, ip, rules.forwards)
    for match in (f"ether saddr != {mac}", f"ip saddr != {ip}", f"arp saddr ip != {ip}"):
        lines.append(
            f'add rule bridge {TABLE} prerouting iifname "{tap}" {match} drop comment {comment}'
        )
    if settings.isolation == "framework":
        group = _framework_set(rules.framework_id)
        lines.append(f"add set bridge {TABLE} {group} {{ type ifname; }}")
        lines.append(f'add element bridge {TABLE} {group} {{ "{tap}" }}')
        lines.append(
            f'insert rule bridge {TABLE} forward iifname "{tap}" oifname @{group} accept '
            f"comment {comment}"
        )
    _nft(settings, ["-f", "-"], "\n".join(lines) + "\n")


def add_forwards(
    settings: NetSettings, container_id: str, ip: str, forwards: list[Forward]
) -> None:
    """More forwards for a running container (a later task of its pod)."""
    lines = _forward_lines(settings, container_id, ip, forwards)
    if lines:
        _nft(settings, ["-f", "-"], "\n".join(lines) + "\n")


def remove_forwards(settings: NetSettings, container_id: str, forwards: list[Forward]) -> None:
    """The container's DNAT rules for these host ports (their task has ended)."""
    wanted = {(fwd.proto, fwd.host_port) for fwd in forwards}
    lines = []
    for rule in _owned_rules(settings):
        mine = rule["comment"] == COMMENT + container_id
        if mine and rule["chain"] in ("prerouting", "output") and wanted & _dports(rule):
            lines.append(f"delete rule inet {TABLE} {rule['chain']} handle {rule['handle']}")
    if lines:
        _nft(settings, ["-f", "-"], "\n".join(lines) + "\n")


def remove_container(settings: NetSettings, container_id: str, tap: str | None = None) -> None:
    """Every rule the container owns, and its tap in its framework's set (idempotent)."""
    items = _ruleset(settings)
    lines = []
    for item in items:
        rule = item.get("rule")
        if rule and rule.get("table") == TABLE and rule.get("comment") == COMMENT + container_id:
            lines.append(
                f"delete rule {rule['family']} {TABLE} {rule['chain']} handle {rule['handle']}"
            )
    if tap:
        for item in items:
            group = item.get("set")
            if not group or group.get("table") != TABLE or group["family"] != "bridge":
                continue
            elems = group.get("elem", [])
            if tap in elems:
                lines.append(f'delete element bridge {TABLE} {group["name"]} {{ "{_check(tap)}" }}')
                if elems == [tap]:
                    lines.append(f"delete set bridge {TABLE} {group['name']}")
    if lines:
        _nft(settings, ["-f", "-"], "\n".join(lines) + "\n")


def owned(settings: NetSettings) -> set[str]:
    """Containers that still have rules."""
    return {rule["comment"][len(COMMENT) :] for rule in _owned_rules(settings)}
