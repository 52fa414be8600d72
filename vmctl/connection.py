"""The libvirt connection: one per process, with a running event loop for lifecycle events."""

from __future__ import annotations

import threading

import libvirt

from mesos_hyper import config
from mesos_hyper.errors import VMError

_lock = threading.Lock()
_conn: libvirt.virConnect | None = None
_loop_started = False


def _ignore_errors(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; we raise them as exceptions instead."""


def _start_event_loop() -> None:
    global _loop_started
    if _loop_started:
        return
    libvirt.virEventRegisterDefaultImpl()

    def run() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=run, name="libvirt-events", daemon=True).start()
    _loop_started = True


def connect() -> libvirt.virConnect:
    """The shared connection; VMError with the way out when libvirtd cannot be reached."""
    global _conn
    with _lock:
        if _conn is not None and _conn.isAlive():
            return _conn
        libvirt.registerErrorHandler(_ignore_errors, None)
        _start_event_loop()
        uri = config.libvirt_uri()
        try:
            _conn = libvirt.open(uri)
        except libvirt.libvirtError as err:
            raise VMError(
                f"cannot reach libvirtd at {uri} ({err.get_error_message()}); "
                "start it with `mesos-hyper host up`"
            ) from err
        return _conn
