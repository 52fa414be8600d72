"""Suite-wide settings: bounded registry retries, and a check that nothing leaks."""

from __future__ import annotations

import os

import pytest

# Failing registry calls give up after this long (production default: 60 s).
os.environ.setdefault("MESOS_HYPER_REGISTRY_RETRY_SECONDS", "3")
os.environ.setdefault("MESOS_HYPER_LOG_LEVEL", "INFO")


def _qemu_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"qemu-system" in f.read().split(b"\0")[0]:
                        pids.add(int(entry))
            except OSError:
                continue
    return pids


@pytest.fixture
def no_leaks():
    """Fails the test if it leaves a domain of ours or a QEMU process behind."""
    from vmctl.lifecycle import list_ours

    before_domains = {d.name for d in list_ours()}
    before_qemu = _qemu_pids()
    yield
    leaked = {d.name for d in list_ours()} - before_domains
    assert not leaked, f"leaked libvirt domains: {leaked}"
    assert not (_qemu_pids() - before_qemu), "leaked qemu processes"
