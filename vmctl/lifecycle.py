"""Domain lifecycle: start paused, resume, wait for the end by libvirt events, stop, destroy.

Waiting never polls: a lifecycle callback on the libvirt event loop sets a threading.Event
when the domain stops, crashes or disappears.
"""

from __future__ import annotations

import contextlib
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import libvirt

from mesos_hyper import log
from mesos_hyper.errors import VMError
from vmctl.connection import connect
from vmctl.domain import (
    METADATA_NS,
    METADATA_PREFIX,
    NAME_PREFIX,
    POOL_PREFIX,
    DomainSpec,
    metadata_element,
    read_metadata,
)

LOG = log.get(__name__)
_ENDED = {
    libvirt.VIR_DOMAIN_EVENT_STOPPED,
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN,
    libvirt.VIR_DOMAIN_EVENT_CRASHED,
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED,
}


class Domain:
    """A transient domain of ours and an Event that is set when it has ended."""

    def __init__(self, spec: DomainSpec | None, *, adopt: str | None = None) -> None:
        """Start ``spec`` paused, or with ``adopt`` take over a running domain of ours (a
        pool VM just claimed)."""
        self.name = spec.name if spec is not None else str(adopt)
        self.ended = threading.Event()
        self._conn = connect()
        self._callback: int | None = None
        self._callback = self._conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event, None
        )
        if spec is None:
            try:
                self._dom = self._conn.lookupByName(self.name)
            except libvirt.libvirtError as err:
                self._unregister()
                raise VMError(f"no domain {self.name}: {err.get_error_message()}") from err
            return
        try:
            self._dom = self._conn.createXML(spec.to_xml(), libvirt.VIR_DOMAIN_START_PAUSED)
        except libvirt.libvirtError as err:
            self._unregister()
            # libvirtd may have created it and lost the reply (a restart mid-call): the
            # name is ours alone, so whatever answers to it now must go
            with contextlib.suppress(VMError, libvirt.libvirtError):
                destroy_by_name(self.name)
            raise VMError(
                f"libvirt could not start {self.name}: {err.get_error_message()}"
            ) from err
        log.event(LOG, "domain created paused", domain=self.name, type=spec.domain_type)

    def _on_event(
        self, _conn: object, dom: libvirt.virDomain, event: int, _detail: int, _op: object
    ) -> None:
        if dom.name() == self.name and event in _ENDED:
            self.ended.set()

    def release(self) -> None:
        """Stop watching a domain that runs on without us (a paused pool VM)."""
        self._unregister()

    def _unregister(self) -> None:
        if self._callback is not None:
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.domainEventDeregisterAny(self._callback)
            self._callback = None

    def resume(self) -> None:
        try:
            self._dom.resume()
        except libvirt.libvirtError as err:
            raise VMError(f"cannot resume {self.name}: {err.get_error_message()}") from err

    @property
    def libvirt_domain(self) -> libvirt.virDomain:
        return self._dom

    def attach(self, device_xml: str) -> None:
        """Hot-plug a device (a pod member's disk or output channel) into the running VM."""
        try:
            self._dom.attachDeviceFlags(device_xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as err:
            raise VMError(f"cannot hot-plug into {self.name}: {err.get_error_message()}") from err

    def set_metadata(self, entries: dict[str, str]) -> None:
        """Replace our metadata on the running domain (a claimed pool VM names its task)."""
        xml = ET.tostring(metadata_element(entries), encoding="unicode")
        try:
            self._dom.setMetadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                xml,
                METADATA_PREFIX,
                METADATA_NS,
                libvirt.VIR_DOMAIN_AFFECT_LIVE,
            )
        except libvirt.libvirtError as err:
            raise VMError(f"cannot relabel {self.name}: {err.get_error_message()}") from err

    def suspend(self) -> None:
        try:
            self._dom.suspend()
        except libvirt.libvirtError as err:
            raise VMError(f"cannot pause {self.name}: {err.get_error_message()}") from err

    def alive(self) -> bool:
        """Asks libvirtd; after a libvirtd restart the handle is stale, so look the domain
        up again on a fresh connection rather than take a live pod for dead (which would
        start a duplicate VM for the next task)."""
        if self.ended.is_set():
            return False
        try:
            return bool(self._dom.isActive())
        except libvirt.libvirtError:
            pass
        try:
            self._reconnect()
            return bool(self._dom.isActive())
        except (libvirt.libvirtError, VMError):
            return False

    def _reconnect(self) -> None:
        """A fresh connection and handle; the lifecycle callback goes with the new one."""
        conn = connect()
        try:
            dom = conn.lookupByName(self.name)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                self.ended.set()  # it really is gone
            raise
        if conn is not self._conn:
            self._callback = None  # it died with the old connection
            self._conn = conn
            self._callback = conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event, None
            )
        self._dom = dom
        log.event(LOG, "libvirt handle renewed", domain=self.name)

    def wait_ended(self, timeout: float | None = None) -> bool:
        """True once the domain is gone; the event also covers an end we did not see."""
        if self.ended.wait(timeout if timeout is not None else None):
            return True
        if not self.alive():
            self.ended.set()
        return self.ended.is_set()

    def destroy(self) -> None:
        """Idempotent: a domain that has already gone is fine."""
        try:
            self._destroy_once()
        except libvirt.libvirtError as err:
            if err.get_error_code() not in (
                libvirt.VIR_ERR_NO_DOMAIN,
                libvirt.VIR_ERR_OPERATION_INVALID,
            ):
                raise VMError(f"cannot destroy {self.name}: {err.get_error_message()}") from err
        self.ended.set()
        self._unregister()
        if self.name.startswith(POOL_PREFIX):
            release_pool_vm_parts(self.name)

    def _destroy_once(self) -> None:
        from vmctl import processes  # /proc and pidfds: only where a domain goes

        try:
            processes.kill(self._dom)
            self._dom.destroy()
        except libvirt.libvirtError:
            if _conn_alive(self._conn):
                raise
            # a stale handle after a libvirtd restart: its errors vary (broken pipe, then
            # "client socket is closed"), so ask the connection rather than the error code
            self._reconnect()
            self._dom.destroy()


def _conn_alive(conn: libvirt.virConnect) -> bool:
    try:
        return bool(conn.isAlive())
    except libvirt.libvirtError:
        return False


@dataclass(frozen=True)
class DomainInfo:
    """One of our domains, as libvirt lists it."""

    name: str
    active: bool
    metadata: dict[str, str]


def list_ours() -> list[DomainInfo]:
    """Domains with our name prefix and metadata, running or defined."""
    conn = connect()
    found = []
    for dom in conn.listAllDomains():
        if not dom.name().startswith(NAME_PREFIX):
            continue
        try:
            meta = read_metadata(dom.XMLDesc())
            active = bool(dom.isActive())
        except libvirt.libvirtError:
            continue  # it went away while we looked
        if meta is not None:
            found.append(DomainInfo(dom.name(), active, meta))
    return found


def lookup(name: str) -> libvirt.virDomain | None:
    """One of our running domains by name, or None."""
    try:
        return connect().lookupByName(name)
    except libvirt.libvirtError:
        return None


def destroy_by_name(name: str, attempts: int = 5) -> bool:
    """Destroy (and undefine) one of our domains by name; False if it was not there.

    Retried for about 10 s: a libvirtd that has just restarted answers with a dead
    connection, or holds the domain's job while it reconnects to its QEMU, and a domain
    given up on then would run on with nobody to end it.
    """
    if not name.startswith(NAME_PREFIX):
        raise VMError(f"refusing to destroy {name!r}: not a mesos-hyper domain")
    for attempt in range(attempts):
        try:
            existed = _destroy_by_name_once(name)
            if name.startswith(POOL_PREFIX):
                release_pool_vm_parts(name)
            return existed
        except (libvirt.libvirtError, VMError) as err:
            if attempt == attempts - 1:
                message = err.get_error_message() if isinstance(err, libvirt.libvirtError) else err
                raise VMError(f"cannot remove {name}: {message}") from err
            log.event(LOG, "domain removal failed; retrying", log.WARNING, error=err)
            time.sleep(1.0 + attempt)
    return False


def release_pool_vm_parts(name: str) -> None:
    """What a pool VM has on the host besides its domain goes with it: its tap (unless a
    claim renamed it to its pod's, which the pod's network teardown removes) and its
    share directory with the sandbox bound into it (vmctl.shares)."""
    from vmctl import shares
    from vmctl.network import links  # netlink: only for pool VMs

    try:
        shares.release(name)
        links.delete_tap(None, links.pool_tap_name(name))
    except Exception as err:  # HyperError, NetlinkError: the VM is gone all the same
        raise VMError(f"cannot remove what {name} left on the host: {err}") from err


def _destroy_by_name_once(name: str) -> bool:
    conn = connect()
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise
    from vmctl import processes

    processes.kill(dom)
    for action in (dom.destroy, dom.undefine):
        try:
            action()
        except libvirt.libvirtError as err:
            if err.get_error_code() not in (
                libvirt.VIR_ERR_NO_DOMAIN,
                libvirt.VIR_ERR_OPERATION_INVALID,
            ):
                raise
    log.event(LOG, "domain destroyed", domain=name)
    return True
