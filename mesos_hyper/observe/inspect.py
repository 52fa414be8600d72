"""``inspect``: everything the host knows of one pod, as one JSON document."""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from typing import Any

from mesos_hyper.observe.pods import PodView


def _alive(pid: int | None) -> bool | None:
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _record(pod: PodView) -> dict[str, Any] | None:
    if pod.record is None:
        return None
    doc = dataclasses.asdict(pod.record)
    doc["status"] = pod.record.status.value
    doc["pids"] = dict(pod.record.pids)
    return doc


def _domain(pod: PodView) -> dict[str, Any] | None:
    """The VM as libvirt runs it: size, devices, and the overlays it writes."""
    import libvirt

    from vmctl.lifecycle import lookup

    if pod.domain is None:
        return None
    doc: dict[str, Any] = {"name": pod.domain, "state": pod.domain_state, "metadata": pod.metadata}
    dom = lookup(pod.domain)
    if dom is None:
        return doc
    try:
        root = ET.fromstring(dom.XMLDesc(0))
    except libvirt.libvirtError:
        return doc  # gone while we looked
    vcpu = root.find("vcpu")
    doc["vcpus"] = {
        "current": int(vcpu.get("current", vcpu.text or 0)) if vcpu is not None else None,
        "max": int(vcpu.text or 0) if vcpu is not None else None,
    }
    memory = root.find("currentMemory")
    doc["memory_kib"] = int(memory.text or 0) if memory is not None else None
    max_memory = root.find("maxMemory")
    doc["max_memory_kib"] = int(max_memory.text or 0) if max_memory is not None else None
    doc["disks"] = [
        {
            "file": (d.find("source").get("file") if d.find("source") is not None else None),
            "target": d.find("target").get("dev") if d.find("target") is not None else None,
            "serial": d.findtext("serial"),
        }
        for d in root.findall("devices/disk")
    ]
    doc["interfaces"] = [
        {
            "tap": i.find("target").get("dev") if i.find("target") is not None else None,
            "mac": i.find("mac").get("address") if i.find("mac") is not None else None,
        }
        for i in root.findall("devices/interface")
    ]
    doc["shares"] = [
        {
            "tag": f.find("target").get("dir") if f.find("target") is not None else None,
            "source": f.find("source").get("dir") if f.find("source") is not None else None,
        }
        for f in root.findall("devices/filesystem")
    ]
    doc["overlays"] = [d["file"] for d in doc["disks"] if d["file"]]
    return doc


def _claimed_nic(domain: dict[str, Any], container_id: str, address: str) -> None:
    """A pool VM's NIC as its claim left it: libvirt still names the pool's tap and MAC,
    which the claim renamed to the pod's tap and replaced with the pod's MAC in the guest."""
    import ipaddress

    from isolators.net import mac_for
    from vmctl.network.links import pool_tap_name, tap_name

    for nic in domain.get("interfaces", []):
        if nic["tap"] == pool_tap_name(domain["name"]):
            nic["renamed_from"] = {"tap": nic["tap"], "mac": nic["mac"]}
            nic["tap"] = tap_name(container_id)
            nic["mac"] = mac_for(ipaddress.IPv4Address(address))


def describe(pod: PodView) -> dict[str, Any]:
    """The record, the limits, the VM, the network attachment, the overlays, the sandbox,
    the tasks and the executor of ``pod``; what is missing is null."""
    from vmctl.network.links import tap_name

    record = pod.record
    domain = _domain(pod)
    if domain and pod.address:
        _claimed_nic(domain, pod.id, pod.address)
    return {
        "id": pod.id,
        "origin": pod.origin,
        "status": pod.status,
        "image": pod.image,
        "framework_id": pod.framework_id,
        "executor_id": pod.executor_id,
        "tasks": [dataclasses.asdict(t) for t in pod.tasks],
        "limits": dataclasses.asdict(record.limits) if record else None,
        "record": _record(pod),
        "state_root": str(pod.state_root) if pod.state_root else None,
        "domain": domain,
        "network": {
            "address": pod.address,
            "tap": tap_name(pod.id) if pod.address else None,
            "host_ports": list(pod.host_ports),
        },
        "overlays": domain.get("overlays", []) if domain else [],
        "sandbox": pod.sandbox,
        "workdir": str(pod.workdir) if pod.workdir else None,
        "console_log": str(pod.workdir / "console.log") if pod.workdir else None,
        "executor": {"pid": pod.executor_pid, "alive": _alive(pod.executor_pid)},
        "started_at": pod.started_at,
    }
