"""net: a pod's network from start to end, on the devices and rules of vmctl.network.

``setup`` (before the VM exists; it needs the task's ports and framework, which the other
resources do not) takes an address, makes the tap and the container's rules; ``prepare``
turns that into the domain's NIC; ``plug`` (after QEMU holds the tap, before the guest
runs) puts the tap on the bridge; ``usage`` reads the tap's counters; ``cleanup`` removes
all of it from a bare container id, so it also works after a crash.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from dataclasses import dataclass, field

import libvirt

from isolators import Target, Tuning
from mesos_hyper import log
from vmctl.domain import InterfaceSpec
from vmctl.network import firewall, ipam, links
from vmctl.network.firewall import ContainerRules, Forward
from vmctl.network.settings import NetSettings

LOG = log.get(__name__)


@dataclass(frozen=True)
class Attachment:
    """A pod's place on the network: its tap, MAC and address."""

    container_id: str
    tap: str
    mac: str
    ip: ipaddress.IPv4Address
    prefixlen: int
    gateway: ipaddress.IPv4Address
    dns: tuple[str, ...] = ()
    forwards: list[Forward] = field(default_factory=list)

    @property
    def guest_config(self) -> str:
        """What the guest init's ``N`` record takes."""
        return f"{self.ip}/{self.prefixlen} {self.gateway} {self.mac}"


def mac_for(ip: ipaddress.IPv4Address) -> str:
    """Locally administered, unique per address (52:54:00 is QEMU's prefix)."""
    b = ip.packed
    return f"52:54:00:{b[1]:02x}:{b[2]:02x}:{b[3]:02x}"


def setup(
    settings: NetSettings, container_id: str, framework_id: str, forwards: list[Forward]
) -> Attachment:
    try:
        with firewall.locked(settings):
            links.ensure_bridge(settings)
            firewall.ensure_base(settings)
            ip = ipam.allocate(settings, container_id)
            attachment = Attachment(
                container_id=container_id,
                tap=links.tap_name(container_id),
                mac=mac_for(ip),
                ip=ip,
                prefixlen=settings.subnet.prefixlen,
                gateway=settings.gateway,
                dns=settings.dns,
                forwards=list(forwards),
            )
            links.create_tap(attachment.tap, attachment.mac)
            firewall.add_container(
                settings,
                ContainerRules(
                    container_id, framework_id, attachment.tap, ip, attachment.mac, forwards
                ),
            )
    except Exception:
        teardown(settings, container_id)
        raise
    log.event(
        LOG,
        "pod network set up",
        container=container_id,
        ip=ip,
        tap=attachment.tap,
        forwards=",".join(f"{f.host_port}->{f.container_port}/{f.proto}" for f in forwards),
    )
    return attachment


def plug(settings: NetSettings, attachment: Attachment) -> None:
    links.plug_tap(settings, attachment.tap)


def add_forwards(settings: NetSettings, attachment: Attachment, forwards: list[Forward]) -> None:
    """A later task of the pod brings its own ports; they go with that task."""
    with firewall.locked(settings):
        firewall.add_forwards(settings, attachment.container_id, str(attachment.ip), forwards)


def remove_forwards(settings: NetSettings, attachment: Attachment, forwards: list[Forward]) -> None:
    with firewall.locked(settings):
        firewall.remove_forwards(settings, attachment.container_id, forwards)


def teardown(settings: NetSettings, container_id: str) -> None:
    """Rules, tap, then lease of the container; idempotent.

    The lease goes last and only once the rules and the tap are gone: a lease released
    under a live tap or live rules would hand the address, and the traffic those still
    route, to the next pod. Rules and tap are each tried whatever the other did.
    """
    tap = links.tap_name(container_id)
    errors = []
    for step in (
        lambda: _remove_rules(settings, container_id, tap),
        lambda: links.delete_tap(settings, tap),
    ):
        try:
            step()
        except Exception as err:  # keep going: the other part must still go
            errors.append(err)
            log.event(LOG, "network teardown step failed", log.WARNING, error=err)
    if errors:
        raise errors[0]
    ipam.release(settings, container_id)


def _remove_rules(settings: NetSettings, container_id: str, tap: str) -> None:
    with firewall.locked(settings):
        firewall.remove_container(settings, container_id, tap)


def usage(settings: NetSettings, container_id: str) -> dict[str, int]:
    if ipam.lease_of(settings, container_id) is None:  # no network: no netlink round trip
        return {}
    with contextlib.suppress(Exception):
        return links.tap_stats(settings, links.tap_name(container_id))
    return {}


class NetIsolator:
    def __init__(self, settings: NetSettings | None = None) -> None:
        self._settings = settings

    @property
    def settings(self) -> NetSettings:
        if self._settings is None:
            self._settings = NetSettings.from_env()
        return self._settings

    def prepare(self, target: Target, tuning: Tuning) -> None:
        if target.network is not None:
            tuning.interface = InterfaceSpec(target.network.tap, target.network.mac)

    def update(self, dom: libvirt.virDomain, target: Target) -> list[str]:
        # The agent's update carries cpus and mem; a container's ports are fixed by its
        # tasks, which bring and take their own forwards (add_forwards, remove_forwards).
        return []

    def usage(self, dom: libvirt.virDomain, target: Target) -> dict[str, float | int]:
        return dict(usage(self.settings, target.container_id)) if target.container_id else {}

    def cleanup(self, container_id: str) -> None:
        # setup takes the lease first and teardown gives it back last: no lease, nothing else
        if ipam.lease_of(self.settings, container_id) is not None:
            teardown(self.settings, container_id)


def collect(
    settings: NetSettings, alive: set[str], attempts: int = 3
) -> tuple[list[str], list[str]]:
    """Recovery: the network of every container not in ``alive`` goes.

    Returns (removed, failed); each teardown is tried ``attempts`` times before it counts
    as failed, and only a teardown that finished counts as removed.
    """
    gone = {owner for owner in ipam.leases(settings).values() if owner not in alive}
    gone |= firewall.owned(settings) - alive
    removed, failed = [], []
    for container_id in sorted(gone):
        for attempt in range(attempts):
            try:
                teardown(settings, container_id)
            except Exception as err:
                log.event(
                    LOG,
                    "network teardown failed",
                    log.WARNING,
                    container=container_id,
                    attempt=attempt + 1,
                    error=err,
                )
                time.sleep(0.2 * (attempt + 1))
                continue
            removed.append(container_id)
            break
        else:
            failed.append(container_id)
    return removed, failed
