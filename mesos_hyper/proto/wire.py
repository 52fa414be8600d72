"""The protobuf wire format of the ECP's polled calls, without the protobuf runtime.

The agent runs ``containers`` and ``usage`` for every container every few seconds. Importing
the protobuf runtime, our generated modules and the message dataclasses was about 80 ms of
their 200 ms. These calls speak three small messages, so they are encoded and decoded here:
``Usage`` in (its ContainerID), ``Containers`` and ``ResourceStatistics`` out. ``Update``
in too: the agent sends one between an executor's SUBSCRIBED and its first LAUNCH, so
every task's TASK_STARTING waited for it (158 ms with protobuf, against 81 ms for usage). The field
numbers are those of ``mesos.proto`` and ``containerizer.proto``; tests/test_wire.py checks
each against the generated classes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping

from mesos_hyper.containerizer.recordio import ProtocolError
from mesos_hyper.model.ids import validate_container_id
from mesos_hyper.model.limits import Limits, Resource, sum_resources

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
_DOUBLE = struct.Struct("<d")

# ResourceStatistics: field -> (number, wire type); doubles are FIXED64, integers VARINT
RESOURCE_STATISTICS: dict[str, tuple[int, int]] = {
    "timestamp": (1, FIXED64),
    "processes": (30, VARINT),
    "threads": (31, VARINT),
    "cpus_user_time_secs": (2, FIXED64),
    "cpus_system_time_secs": (3, FIXED64),
    "cpus_limit": (4, FIXED64),
    "cpus_nr_periods": (7, VARINT),
    "cpus_nr_throttled": (8, VARINT),
    "cpus_throttled_time_secs": (9, FIXED64),
    "mem_total_bytes": (36, VARINT),
    "mem_limit_bytes": (6, VARINT),
    "mem_file_bytes": (10, VARINT),
    "mem_anon_bytes": (11, VARINT),
    "mem_cache_bytes": (39, VARINT),
    "mem_rss_bytes": (5, VARINT),
    "mem_swap_bytes": (40, VARINT),
    "disk_limit_bytes": (26, VARINT),
    "disk_used_bytes": (27, VARINT),
    "net_rx_packets": (14, VARINT),
    "net_rx_bytes": (15, VARINT),
    "net_rx_errors": (16, VARINT),
    "net_rx_dropped": (17, VARINT),
    "net_tx_packets": (18, VARINT),
    "net_tx_bytes": (19, VARINT),
    "net_tx_errors": (20, VARINT),
    "net_tx_dropped": (21, VARINT),
}


def _varint(value: int) -> bytes:
    if value < 0:
        raise ProtocolError(f"{value} cannot be sent as an unsigned integer")
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _length_field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | LENGTH) + _varint(len(data)) + data


def resource_statistics(values: Mapping[str, float | int]) -> bytes:
    """The ``usage`` answer; ``values`` are named as ResourceStatistics' fields, and
    ``timestamp`` (required) must be among them."""
    if "timestamp" not in values:
        raise ProtocolError("ResourceStatistics needs a timestamp")
    out = bytearray()
    for name, value in values.items():
        try:
            number, kind = RESOURCE_STATISTICS[name]
        except KeyError:
            raise ProtocolError(f"ResourceStatistics has no field {name!r}") from None
        out += _varint(number << 3 | kind)
        out += _DOUBLE.pack(float(value)) if kind == FIXED64 else _varint(int(value))
    return bytes(out)


def containers(container_ids: Iterable[str]) -> bytes:
    """The ``containers`` answer (Containers: repeated ContainerID), sorted so it is stable."""
    out = bytearray()
    for value in sorted(container_ids):
        container_id = _length_field(1, validate_container_id(value).encode())
        out += _length_field(1, container_id)
    return bytes(out)


def container_id_of(message: bytes, name: str) -> str:
    """The validated ContainerID of a message whose field 1 is one (``name``: the message's
    full name, for the error: mesos.containerizer.Usage, .Wait or .Destroy)."""
    try:
        text = _text(_last(message, 1, "container_id"), 1, "the container id's value")
    except ProtocolError as err:
        raise ProtocolError(f"malformed {name} message ({len(message)} bytes): {err}") from None
    return validate_container_id(text)


def update_of(message: bytes) -> tuple[str, Limits]:
    """A mesos.containerizer.Update: its container id and its resources, summed."""
    try:
        cid = _text(_last(message, 1, "container_id"), 1, "the container id's value")
        resources = [_resource(v) for number, v in _fields(message) if number == 2]
    except ProtocolError as err:
        raise ProtocolError(f"malformed Update message ({len(message)} bytes): {err}") from None
    return validate_container_id(cid), sum_resources(resources)


def _resource(value: int | bytes) -> Resource:
    """mesos.Resource: name 1, type 2 (a Value.Type), scalar 3 {value 1: double}, ranges 4
    {range 1: {begin 1, end 2}}; the rest (role, reservation, disk, ...) is not ours."""
    if not isinstance(value, bytes):
        raise ProtocolError("a resource that is not a message")
    name = _text(value, 1, "a resource's name")
    kinds = [v for number, v in _fields(value) if number == 2]
    if not kinds or not isinstance(kinds[-1], int):
        raise ProtocolError(f"resource {name!r} has no type")
    scalar = 0.0
    for number, field in _fields(value):
        if number == 3:
            bits = _int(_last(_bytes(field), 1, f"resource {name!r}'s scalar value"))
            scalar = _DOUBLE.unpack(bits.to_bytes(8, "little"))[0]
    ranges = [
        (_int(_last(_bytes(r), 1, "a range's begin")), _int(_last(_bytes(r), 2, "a range's end")))
        for number, field in _fields(value)
        if number == 4
        for n, r in _fields(_bytes(field))
        if n == 1
    ]
    return name, kinds[-1], scalar, ranges


def _last(data: bytes, number: int, what: str) -> int | bytes:
    """The last field ``number`` of ``data`` (protobuf's rule for a repeated singular)."""
    values = [v for n, v in _fields(data) if n == number]
    if not values:
        raise ProtocolError(f"{what} is missing")
    return values[-1]


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtocolError("a number where a message belongs")
    return value


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise ProtocolError("a message where a number belongs")
    return value


def _text(data: int | bytes, number: int, what: str) -> str:
    try:
        return _bytes(_last(_bytes(data), number, what)).decode()
    except UnicodeDecodeError:
        raise ProtocolError(f"{what} is not UTF-8") from None


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field; never reads past ``data``."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, kind = key >> 3, key & 7
        if number == 0:
            raise ProtocolError("field number 0")
        if kind == VARINT:
            value, pos = _read_varint(data, pos)
            yield number, value
        elif kind in (FIXED64, FIXED32):
            size = 8 if kind == FIXED64 else 4
            if pos + size > len(data):
                raise ProtocolError("truncated fixed-size field")
            yield number, int.from_bytes(data[pos : pos + size], "little")
            pos += size
        elif kind == LENGTH:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise ProtocolError("truncated length-delimited field")
            yield number, data[pos : pos + size]
            pos += size
        else:
            raise ProtocolError(f"wire type {kind}")


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtocolError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos
