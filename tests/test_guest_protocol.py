"""The host side of the guest protocol: records as the init reads them, status validation."""

from __future__ import annotations

import struct

import pytest

from vmctl.guest import protocol


def records(data: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    while data:
        tag, length = data[:1], struct.unpack("<I", data[1:5])[0]
        out.append((tag, data[5 : 5 + length]))
        data = data[5 + length :]
    return out


def test_a_spec_carries_the_host_clock_for_a_pool_vm() -> None:
    spec = protocol.ProcessSpec(["/bin/true"], clock=1764590000.25)
    got = records(protocol.encode_spec(spec))
    assert (b"T", b"1764590000.250000") in got
    assert got[-1] == (b"Z", b"")
    assert not [
        r for r in records(protocol.encode_spec(protocol.ProcessSpec(["x"]))) if r[0] == b"T"
    ]


def test_status_lines_are_validated() -> None:
    parser = protocol.StatusParser()
    assert [e.kind for e in parser.feed(b"READY\nSTARTED 7\nEXIT 3 2\n")] == [
        "READY",
        "STARTED",
        "EXIT",
    ]
    with pytest.raises(ValueError):
        protocol.parse_status_line(b"EXIT 999")
    with pytest.raises(ValueError):
        parser.feed(b"x" * (protocol.MAX_STATUS_LINE + 1))
