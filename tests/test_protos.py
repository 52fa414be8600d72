"""The generated code is current, and the wire contract matches Mesos 1.0.4.

The tables below were transcribed from include/mesos/mesos.proto and
include/mesos/containerizer/containerizer.proto at tag 1.0.4; each entry reads
"number label type [= default]". A field renumbered, relabelled or retyped in our
.proto files breaks the agent silently, so it must break here loudly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor as _d

from mesos_hyper.proto import containerizer_pb2, mesos_pb2

REPO = Path(__file__).resolve().parent.parent
GENERATED = [
    "mesos_hyper/proto/mesos_pb2.py",
    "mesos_hyper/proto/mesos_pb2.pyi",
    "mesos_hyper/proto/containerizer_pb2.py",
    "mesos_hyper/proto/containerizer_pb2.pyi",
]

FIELDS_1_0_4: dict[str, dict[str, str]] = {
    "mesos.containerizer.Launch": {
        "container_id": "1 required mesos.ContainerID",
        "task_info": "2 optional mesos.TaskInfo",
        "executor_info": "3 optional mesos.ExecutorInfo",
        "directory": "4 optional string",
        "user": "5 optional string",
        "slave_id": "6 optional mesos.SlaveID",
        "slave_pid": "7 optional string",
        "checkpoint": "8 optional bool",
    },
    "mesos.containerizer.Update": {
        "container_id": "1 required mesos.ContainerID",
        "resources": "2 repeated mesos.Resource",
    },
    "mesos.containerizer.Wait": {
        "container_id": "1 required mesos.ContainerID",
    },
    "mesos.containerizer.Destroy": {
        "container_id": "1 required mesos.ContainerID",
    },
    "mesos.containerizer.Usage": {
        "container_id": "1 required mesos.ContainerID",
    },
    "mesos.containerizer.Termination": {
        "status": "3 optional int32",
        "state": "4 optional mesos.TaskState",
        "reasons": "5 repeated mesos.TaskStatus.Reason",
        "message": "2 optional string",
    },
    "mesos.containerizer.Containers": {
        "containers": "1 repeated mesos.ContainerID",
    },
    "mesos.ContainerID": {
        "value": "1 required string",
    },
    "mesos.TaskInfo": {
        "name": "1 required string",
        "task_id": "2 required mesos.TaskID",
        "slave_id": "3 required mesos.SlaveID",
        "resources": "4 repeated mesos.Resource",
        "executor": "5 optional mesos.ExecutorInfo",
        "command": "7 optional mesos.CommandInfo",
        "container": "9 optional mesos.ContainerInfo",
        "health_check": "8 optional mesos.HealthCheck",
        "kill_policy": "12 optional mesos.KillPolicy",
        "data": "6 optional bytes",
        "labels": "10 optional mesos.Labels",
        "discovery": "11 optional mesos.DiscoveryInfo",
    },
    "mesos.ExecutorInfo": {
        "executor_id": "1 required mesos.ExecutorID",
        "framework_id": "8 optional mesos.FrameworkID",
        "command": "7 required mesos.CommandInfo",
        "container": "11 optional mesos.ContainerInfo",
        "resources": "5 repeated mesos.Resource",
        "name": "9 optional string",
        "source": "10 optional string",
        "data": "4 optional bytes",
        "discovery": "12 optional mesos.DiscoveryInfo",
        "shutdown_grace_period": "13 optional mesos.DurationInfo",
        "labels": "14 optional mesos.Labels",
    },
    "mesos.CommandInfo": {
        "uris": "1 repeated mesos.CommandInfo.URI",
        "environment": "2 optional mesos.Environment",
        "shell": "6 optional bool = true",
        "value": "3 optional string",
        "arguments": "7 repeated string",
        "user": "5 optional string",
    },
    "mesos.CommandInfo.URI": {
        "value": "1 required string",
        "executable": "2 optional bool",
        "extract": "3 optional bool = true",
        "cache": "4 optional bool",
        "output_file": "5 optional string",
    },
    "mesos.Environment.Variable": {
        "name": "1 required string",
        "value": "2 required string",
    },
    "mesos.ContainerInfo": {
        "type": "1 required mesos.ContainerInfo.Type",
        "volumes": "2 repeated mesos.Volume",
        "hostname": "4 optional string",
        "docker": "3 optional mesos.ContainerInfo.DockerInfo",
        "mesos": "5 optional mesos.ContainerInfo.MesosInfo",
        "network_infos": "7 repeated mesos.NetworkInfo",
    },
    "mesos.ContainerInfo.DockerInfo": {
        "image": "1 required string",
        "network": "2 optional mesos.ContainerInfo.DockerInfo.Network = HOST",
        "port_mappings": "3 repeated mesos.ContainerInfo.DockerInfo.PortMapping",
        "privileged": "4 optional bool = false",
        "parameters": "5 repeated mesos.Parameter",
        "force_pull_image": "6 optional bool",
        "volume_driver": "7 optional string",
    },
    "mesos.ContainerInfo.DockerInfo.PortMapping": {
        "host_port": "1 required uint32",
        "container_port": "2 required uint32",
        "protocol": "3 optional string",
    },
    "mesos.ContainerInfo.MesosInfo": {
        "image": "1 optional mesos.Image",
    },
    "mesos.Image": {
        "type": "1 required mesos.Image.Type",
        "appc": "2 optional mesos.Image.Appc",
        "docker": "3 optional mesos.Image.Docker",
        "cached": "4 optional bool = true",
    },
    "mesos.Image.Docker": {
        "name": "1 required string",
        "credential": "2 optional mesos.Credential",
    },
    "mesos.Volume": {
        "mode": "3 required mesos.Volume.Mode",
        "container_path": "1 required string",
        "host_path": "2 optional string",
        "image": "4 optional mesos.Image",
        "source": "5 optional mesos.Volume.Source",
    },
    "mesos.NetworkInfo": {
        "ip_addresses": "5 repeated mesos.NetworkInfo.IPAddress",
        "name": "6 optional string",
        "groups": "3 repeated string",
        "labels": "4 optional mesos.Labels",
    },
    "mesos.Resource": {
        "name": "1 required string",
        "type": "2 required mesos.Value.Type",
        "scalar": "3 optional mesos.Value.Scalar",
        "ranges": "4 optional mesos.Value.Ranges",
        "set": "5 optional mesos.Value.Set",
        "role": "6 optional string = *",
        "reservation": "8 optional mesos.Resource.ReservationInfo",
        "disk": "7 optional mesos.Resource.DiskInfo",
        "revocable": "9 optional mesos.Resource.RevocableInfo",
    },
    "mesos.Value": {
        "type": "1 required mesos.Value.Type",
        "scalar": "2 optional mesos.Value.Scalar",
        "ranges": "3 optional mesos.Value.Ranges",
        "set": "4 optional mesos.Value.Set",
        "text": "5 optional mesos.Value.Text",
    },
    "mesos.Value.Range": {
        "begin": "1 required uint64",
        "end": "2 required uint64",
    },
    "mesos.HealthCheck": {
        "http": "1 optional mesos.HealthCheck.HTTPCheckInfo",
        "delay_seconds": "2 optional double = 15",
        "interval_seconds": "3 optional double = 10",
        "timeout_seconds": "4 optional double = 20",
        "consecutive_failures": "5 optional uint32 = 3",
        "grace_period_seconds": "6 optional double = 10",
        "command": "7 optional mesos.CommandInfo",
    },
    "mesos.HealthCheck.HTTPCheckInfo": {  # 1.0.4 calls it HTTP: names are not on the wire
        "port": "1 required uint32",
        "path": "2 optional string = /",
        "statuses": "4 repeated uint32",
    },
    "mesos.KillPolicy": {
        "grace_period": "1 optional mesos.DurationInfo",
    },
    "mesos.DurationInfo": {
        "nanoseconds": "1 required int64",
    },
    "mesos.Label": {
        "key": "1 required string",
        "value": "2 optional string",
    },
    "mesos.Parameter": {
        "key": "1 required string",
        "value": "2 required string",
    },
    "mesos.DiscoveryInfo": {
        "visibility": "1 required mesos.DiscoveryInfo.Visibility",
        "name": "2 optional string",
        "environment": "3 optional string",
        "location": "4 optional string",
        "version": "5 optional string",
        "ports": "6 optional mesos.Ports",
        "labels": "7 optional mesos.Labels",
    },
    "mesos.Port": {
        "number": "1 required uint32",
        "name": "2 optional string",
        "protocol": "3 optional string",
        "visibility": "4 optional mesos.DiscoveryInfo.Visibility",
        "labels": "5 optional mesos.Labels",
    },
    "mesos.FrameworkInfo": {
        "user": "1 required string",
        "name": "2 required string",
        "id": "3 optional mesos.FrameworkID",
        "failover_timeout": "4 optional double = 0",
        "checkpoint": "5 optional bool = false",
        "role": "6 optional string = *",
        "hostname": "7 optional string",
        "principal": "8 optional string",
        "webui_url": "9 optional string",
        "capabilities": "10 repeated mesos.FrameworkInfo.Capability",
        "labels": "11 optional mesos.Labels",
    },
    "mesos.TaskStatus": {
        "task_id": "1 required mesos.TaskID",
        "state": "2 required mesos.TaskState",
        "message": "4 optional string",
        "source": "9 optional mesos.TaskStatus.Source",
        "reason": "10 optional mesos.TaskStatus.Reason",
        "data": "3 optional bytes",
        "slave_id": "5 optional mesos.SlaveID",
        "executor_id": "7 optional mesos.ExecutorID",
        "timestamp": "6 optional double",
        "uuid": "11 optional bytes",
        "healthy": "8 optional bool",
        "labels": "12 optional mesos.Labels",
        "container_status": "13 optional mesos.ContainerStatus",
    },
    "mesos.ResourceStatistics": {
        "timestamp": "1 required double",
        "processes": "30 optional uint32",
        "threads": "31 optional uint32",
        "cpus_user_time_secs": "2 optional double",
        "cpus_system_time_secs": "3 optional double",
        "cpus_limit": "4 optional double",
        "cpus_nr_periods": "7 optional uint32",
        "cpus_nr_throttled": "8 optional uint32",
        "cpus_throttled_time_secs": "9 optional double",
        "mem_total_bytes": "36 optional uint64",
        "mem_total_memsw_bytes": "37 optional uint64",
        "mem_limit_bytes": "6 optional uint64",
        "mem_soft_limit_bytes": "38 optional uint64",
        "mem_file_bytes": "10 optional uint64",
        "mem_anon_bytes": "11 optional uint64",
        "mem_cache_bytes": "39 optional uint64",
        "mem_rss_bytes": "5 optional uint64",
        "mem_mapped_file_bytes": "12 optional uint64",
        "mem_swap_bytes": "40 optional uint64",
        "mem_unevictable_bytes": "41 optional uint64",
        "mem_low_pressure_counter": "32 optional uint64",
        "mem_medium_pressure_counter": "33 optional uint64",
        "mem_critical_pressure_counter": "34 optional uint64",
        "disk_limit_bytes": "26 optional uint64",
        "disk_used_bytes": "27 optional uint64",
        "perf": "13 optional mesos.PerfStatistics",
        "net_rx_packets": "14 optional uint64",
        "net_rx_bytes": "15 optional uint64",
        "net_rx_errors": "16 optional uint64",
        "net_rx_dropped": "17 optional uint64",
        "net_tx_packets": "18 optional uint64",
        "net_tx_bytes": "19 optional uint64",
        "net_tx_errors": "20 optional uint64",
        "net_tx_dropped": "21 optional uint64",
        "net_tcp_rtt_microsecs_p50": "22 optional double",
        "net_tcp_rtt_microsecs_p90": "23 optional double",
        "net_tcp_rtt_microsecs_p95": "24 optional double",
        "net_tcp_rtt_microsecs_p99": "25 optional double",
        "net_tcp_active_connections": "28 optional double",
        "net_tcp_time_wait_connections": "29 optional double",
        "net_traffic_control_statistics": "35 repeated mesos.TrafficControlStatistics",
        "net_snmp_statistics": "42 optional mesos.SNMPStatistics",
    },
}
# Fields Mesos 1.1.0 added (include/mesos/mesos.proto at tag 1.1.0): TCP health checks and
# the check type. New numbers only, so they change nothing a 1.0 agent or framework sends.
FIELDS_ADDED_IN_1_1_0: dict[str, dict[str, str]] = {
    "mesos.HealthCheck": {
        "type": "8 optional mesos.HealthCheck.Type",
        "tcp": "9 optional mesos.HealthCheck.TCPCheckInfo",
    },
    "mesos.HealthCheck.HTTPCheckInfo": {"scheme": "3 optional string"},
    "mesos.HealthCheck.TCPCheckInfo": {"port": "1 required uint32"},
}
ENUMS_ADDED_IN_1_1_0 = {"mesos.HealthCheck.Type": {"UNKNOWN": 0, "COMMAND": 1, "HTTP": 2, "TCP": 3}}

ENUMS_1_0_4: dict[str, dict[str, int]] = {
    "mesos.TaskState": {
        "TASK_STAGING": 6,
        "TASK_STARTING": 0,
        "TASK_RUNNING": 1,
        "TASK_KILLING": 8,
        "TASK_FINISHED": 2,
        "TASK_FAILED": 3,
        "TASK_KILLED": 4,
        "TASK_LOST": 5,
        "TASK_ERROR": 7,
    },
    "mesos.TaskStatus.Reason": {
        "REASON_COMMAND_EXECUTOR_FAILED": 0,
        "REASON_CONTAINER_LAUNCH_FAILED": 21,
        "REASON_CONTAINER_LIMITATION": 19,
        "REASON_CONTAINER_LIMITATION_DISK": 20,
        "REASON_CONTAINER_LIMITATION_MEMORY": 8,
        "REASON_CONTAINER_PREEMPTED": 17,
        "REASON_CONTAINER_UPDATE_FAILED": 22,
        "REASON_EXECUTOR_REGISTRATION_TIMEOUT": 23,
        "REASON_EXECUTOR_REREGISTRATION_TIMEOUT": 24,
        "REASON_EXECUTOR_TERMINATED": 1,
        "REASON_EXECUTOR_UNREGISTERED": 2,
        "REASON_FRAMEWORK_REMOVED": 3,
        "REASON_GC_ERROR": 4,
        "REASON_INVALID_FRAMEWORKID": 5,
        "REASON_INVALID_OFFERS": 6,
        "REASON_MASTER_DISCONNECTED": 7,
        "REASON_RECONCILIATION": 9,
        "REASON_RESOURCES_UNKNOWN": 18,
        "REASON_SLAVE_DISCONNECTED": 10,
        "REASON_SLAVE_REMOVED": 11,
        "REASON_SLAVE_RESTARTED": 12,
        "REASON_SLAVE_UNKNOWN": 13,
        "REASON_TASK_INVALID": 14,
        "REASON_TASK_UNAUTHORIZED": 15,
        "REASON_TASK_UNKNOWN": 16,
    },
    "mesos.TaskStatus.Source": {"SOURCE_MASTER": 0, "SOURCE_SLAVE": 1, "SOURCE_EXECUTOR": 2},
    "mesos.ContainerInfo.Type": {"DOCKER": 1, "MESOS": 2},
    "mesos.ContainerInfo.DockerInfo.Network": {"HOST": 1, "BRIDGE": 2, "NONE": 3, "USER": 4},
    "mesos.Image.Type": {"APPC": 1, "DOCKER": 2},
    "mesos.Volume.Mode": {"RW": 1, "RO": 2},
    "mesos.Value.Type": {"SCALAR": 0, "RANGES": 1, "SET": 2, "TEXT": 3},
}

_LABELS = {1: "optional", 2: "required", 3: "repeated"}
_TYPES = {
    value: name[len("TYPE_") :].lower()
    for name, value in vars(_d.FieldDescriptor).items()
    if name.startswith("TYPE_")
}


def _describe(field: _d.FieldDescriptor) -> str:
    if field.message_type is not None:
        kind = field.message_type.full_name
    elif field.enum_type is not None:
        kind = field.enum_type.full_name
    else:
        kind = _TYPES[field.type]
    text = f"{field.number} {_LABELS[_label(field)]} {kind}"
    if field.has_default_value:
        default = field.default_value
        if field.enum_type is not None:
            default = field.enum_type.values_by_number[default].name
        elif isinstance(default, bool):
            default = str(default).lower()
        elif isinstance(default, float):
            default = f"{default:g}"
        text += f" = {default}"
    return text


def _label(field: _d.FieldDescriptor) -> int:
    if field.is_repeated:
        return 3
    return 2 if field.is_required else 1


def _message(full_name: str) -> _d.Descriptor:
    module = containerizer_pb2 if full_name.startswith("mesos.containerizer.") else mesos_pb2
    return module.DESCRIPTOR.pool.FindMessageTypeByName(full_name)


def test_generated_code_matches_the_proto_files(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHON=sys.executable)
    subprocess.run(
        ["bash", str(REPO / "scripts/gen-protos.sh"), str(tmp_path)],
        check=True,
        env=env,
        capture_output=True,
    )
    for rel in GENERATED:
        fresh = (tmp_path / rel).read_text()
        committed = (REPO / rel).read_text()
        assert fresh == committed, f"{rel} is stale: run scripts/gen-protos.sh"


@pytest.mark.parametrize("full_name", sorted(FIELDS_1_0_4.keys() | FIELDS_ADDED_IN_1_1_0.keys()))
def test_fields_match_mesos_1_0_4_plus_the_1_1_0_additions(full_name: str) -> None:
    ours = {f.name: _describe(f) for f in _message(full_name).fields}
    assert ours == {**FIELDS_1_0_4.get(full_name, {}), **FIELDS_ADDED_IN_1_1_0.get(full_name, {})}


@pytest.mark.parametrize("full_name", sorted(ENUMS_1_0_4.keys() | ENUMS_ADDED_IN_1_1_0.keys()))
def test_enums_match_mesos_1_0_4_plus_the_1_1_0_additions(full_name: str) -> None:
    enum = mesos_pb2.DESCRIPTOR.pool.FindEnumTypeByName(full_name)
    expected = ENUMS_1_0_4.get(full_name) or ENUMS_ADDED_IN_1_1_0[full_name]
    assert {v.name: v.number for v in enum.values} == expected


def test_termination_keeps_field_1_free() -> None:
    # 0.2x had `required bool killed = 1`; an old reader would misparse a reuse.
    assert 1 not in _message("mesos.containerizer.Termination").fields_by_number


def test_packages_are_the_mesos_ones() -> None:
    assert mesos_pb2.DESCRIPTOR.package == "mesos"
    assert containerizer_pb2.DESCRIPTOR.package == "mesos.containerizer"
    assert containerizer_pb2.Launch.DESCRIPTOR.fields_by_name["task_info"].message_type is (
        mesos_pb2.TaskInfo.DESCRIPTOR
    )
