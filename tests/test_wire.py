"""The hand-written wire format of the ECP's polled calls, against the generated classes."""

from __future__ import annotations

import pytest

from mesos_hyper.containerizer.recordio import ProtocolError
from mesos_hyper.model.limits import Limits
from mesos_hyper.model.messages import resources_from_pb
from mesos_hyper.proto import containerizer_pb2 as cpb
from mesos_hyper.proto import mesos_pb2 as pb
from mesos_hyper.proto import wire


def test_field_numbers_and_types_are_those_of_mesos_proto() -> None:
    fields = pb.ResourceStatistics.DESCRIPTOR.fields_by_name
    for name, (number, kind) in wire.RESOURCE_STATISTICS.items():
        assert fields[name].number == number, name
        is_double = fields[name].type == fields[name].TYPE_DOUBLE
        assert (kind == wire.FIXED64) == is_double, name


def test_every_field_parses_back_as_resource_statistics() -> None:
    values: dict[str, float | int] = {
        name: (1.5 if kind == wire.FIXED64 else 7 + (1 << 40) * ("bytes" in name))
        for name, (_, kind) in wire.RESOURCE_STATISTICS.items()
    }
    stats = pb.ResourceStatistics.FromString(wire.resource_statistics(values))
    assert stats.IsInitialized()
    for name, value in values.items():
        assert getattr(stats, name) == value, name


def test_unknowns_stay_unset_and_a_timestamp_is_required() -> None:
    stats = pb.ResourceStatistics.FromString(
        wire.resource_statistics({"timestamp": 100.0, "mem_rss_bytes": 4096})
    )
    assert stats.timestamp == 100.0 and stats.mem_rss_bytes == 4096
    assert not stats.HasField("cpus_limit") and not stats.HasField("net_rx_bytes")
    with pytest.raises(ProtocolError, match="timestamp"):
        wire.resource_statistics({"mem_rss_bytes": 1})
    with pytest.raises(ProtocolError, match="no field"):
        wire.resource_statistics({"timestamp": 1.0, "nonsense": 1})
    with pytest.raises(ProtocolError, match="unsigned"):
        wire.resource_statistics({"timestamp": 1.0, "mem_rss_bytes": -1})


def test_containers_are_sorted_and_checked() -> None:
    parsed = cpb.Containers.FromString(wire.containers(["b", "a", "ü" * 100]))
    assert [c.value for c in parsed.containers] == ["a", "b", "ü" * 100]
    assert wire.containers([]) == b""
    with pytest.raises(ProtocolError):
        wire.containers(["../etc"])


@pytest.mark.parametrize("message", [cpb.Usage, cpb.Wait, cpb.Destroy])
def test_the_container_id_of_each_polled_message(message) -> None:
    raw = message(container_id=pb.ContainerID(value="c-1")).SerializeToString()
    assert wire.container_id_of(raw, message.DESCRIPTOR.full_name) == "c-1"


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "x\0y", "a\nb", "x" * 256])
def test_unsafe_container_ids_are_rejected(bad: str) -> None:
    raw = cpb.Wait(container_id=pb.ContainerID(value=bad)).SerializeToString()
    with pytest.raises(ProtocolError, match="container id"):
        wire.container_id_of(raw, "mesos.containerizer.Wait")


@pytest.mark.parametrize(
    "raw",
    [
        b"",  # no container_id
        b"\x0a\x05ab",  # truncated length
        b"\x0a\x02\x12\x00",  # a ContainerID without its value
        b"\x0a\x04\x0a\x02\xff\xfe",  # not UTF-8
        b"\x08" + b"\xff" * 11,  # overlong varint
        b"\x0b",  # wire type 3 (groups)
        b"\x00\x01",  # field number 0
        b"\x09\x01\x02",  # truncated fixed64
        b"\x08\x01",  # field 1 as a varint, not a message
    ],
)
def test_malformed_messages_are_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"malformed mesos\.containerizer\.Usage message"):
        wire.container_id_of(raw, "mesos.containerizer.Usage")


def test_unknown_fields_are_skipped_and_the_last_container_id_wins() -> None:
    first = cpb.Usage(container_id=pb.ContainerID(value="old")).SerializeToString()
    last = cpb.Usage(container_id=pb.ContainerID(value="new")).SerializeToString()
    unknown = b"\x10\x05" + b"\x19" + b"\x00" * 8 + b"\x25" + b"\x00" * 4 + b"\x2a\x01x"
    assert wire.container_id_of(first + unknown + last, "mesos.containerizer.Usage") == "new"


def _scalar(name: str, value: float, role: str = "*") -> pb.Resource:
    return pb.Resource(
        name=name, type=pb.Value.SCALAR, scalar=pb.Value.Scalar(value=value), role=role
    )


def _ranges(name: str, *ranges: tuple[int, int]) -> pb.Resource:
    return pb.Resource(
        name=name,
        type=pb.Value.RANGES,
        ranges=pb.Value.Ranges(range=[pb.Value.Range(begin=b, end=e) for b, e in ranges]),
    )


def _update(*resources: pb.Resource, cid: str = "c-1") -> cpb.Update:
    return cpb.Update(container_id=pb.ContainerID(value=cid), resources=list(resources))


@pytest.mark.parametrize(
    "update",
    [
        _update(),
        _update(_scalar("cpus", 1), _scalar("cpus", 0.5, role="web"), _scalar("mem", 256)),
        _update(_scalar("disk", 1024), _scalar("gpus", 1), _ranges("ports", (31000, 31005))),
        _update(_ranges("ports", (31010, 31010), (31000, 31002)), _ranges("ports", (5, 6))),
        _update(  # not ours: skipped whatever their type
            pb.Resource(name="foo", type=pb.Value.SET, set=pb.Value.Set(item=["a"])),
            _ranges("bar", (1, 2)),
            _scalar("cpus", 0.1),
        ),
        _update(
            pb.Resource(
                name="mem",
                type=pb.Value.SCALAR,
                scalar=pb.Value.Scalar(value=64),
                role="r",
                reservation=pb.Resource.ReservationInfo(principal="p"),
                disk=pb.Resource.DiskInfo(persistence=pb.Resource.DiskInfo.Persistence(id="v")),
            )
        ),
    ],
)
def test_an_update_reads_as_the_protobuf_path_reads_it(update: cpb.Update) -> None:
    raw = update.SerializeToString()
    assert wire.update_of(raw) == ("c-1", resources_from_pb(update.resources))


def test_an_update_sums_over_roles() -> None:
    update = _update(_scalar("cpus", 1), _scalar("cpus", 0.5, role="web"), _scalar("mem", 256))
    assert wire.update_of(update.SerializeToString()) == ("c-1", Limits(cpus=1.5, mem_mb=256))


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"", "container_id is missing"),
        (b"\x0a\x02\x10\x01", "the container id's value is missing"),
        (_update(_scalar("cpus", -1)).SerializeToString(), "bad value"),
        (_update(_scalar("mem", float("nan"))).SerializeToString(), "bad value"),
        (_update(_ranges("cpus", (1, 2))).SerializeToString(), "is not a scalar"),
        (_update(_scalar("ports", 3)).SerializeToString(), "not a set of ranges"),
        (_update(_ranges("ports", (0, 5))).SerializeToString(), "bad range"),
        (_update(_ranges("ports", (9, 5))).SerializeToString(), "bad range"),
        (_update().SerializeToString() + b"\x12\x02\x10\x00", "name is missing"),
        (_update().SerializeToString() + b"\x12\x02\x08\x00", "number where a message"),
        (_update().SerializeToString() + b"\x12\x03\x0a\x01x", "has no type"),
        (_update().SerializeToString() + b"\x12\x01\xff", "malformed Update"),
        (_update().SerializeToString() + b"\x10\x05", "not a message"),
        (_update(cid="../x").SerializeToString(), "container id"),
    ],
)
def test_a_bad_update_is_a_protocol_error(raw: bytes, needle: str) -> None:
    with pytest.raises(ProtocolError, match=needle):
        wire.update_of(raw)
