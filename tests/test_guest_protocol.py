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


def test_sent_lines_name_an_output_port_and_a_bounded_count() -> None:
    parse = protocol.parse_status_line
    assert parse(b"SENT 3 mh.stdout") == protocol.StatusEvent("SENT", 3, message="mh.stdout")
    assert parse(b"SENT 0 mh.c15.stderr") == protocol.StatusEvent(
        "SENT", 0, message="mh.c15.stderr"
    )
    assert parse(b"DRAINED") == protocol.StatusEvent("DRAINED")
    for bad in (
        b"SENT",
        b"SENT 3",
        b"SENT -1 mh.stdout",
        b"SENT 1 mh.status",
        b"SENT 1 mh.control",
        b"SENT 1 mh.exec",
        b"SENT 1 mh.c0.stdout",
        b"SENT 1 mh.c16.stdout",
        b"SENT 1 mh.c01.stdout",
        b"SENT 1 mh.c1.stdin",
        b"SENT 1 ../mh.stdout",
        b"SENT 1 mh.stdout x",
        b"SENT " + b"9" * 21 + b" mh.stdout",
        b"DRAINED now",
    ):
        with pytest.raises(ValueError):
            parse(bad)


def test_exec_records_carry_the_io_wanted_and_bounded_stdin() -> None:
    spec = protocol.ProcessSpec(["cat"])
    assert records(protocol.encode_exec(16, 0, spec))[0] == (b"X", b"16:0")  # health checks
    io = protocol.IO_OUTPUT | protocol.IO_STDIN
    assert records(protocol.encode_exec(31, 2, spec, io))[0] == (b"X", b"31:2:3")
    assert records(protocol.encode_stdin(17, b"abc")) == [(b"I", b"17:abc")]
    assert records(protocol.encode_stdin(17, b"")) == [(b"I", b"17:")]
    for bad in (
        lambda: protocol.encode_exec(15, 0, spec),
        lambda: protocol.encode_exec(16, 0, spec, 4),
    ):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError):
        protocol.encode_stdin(16, b"x" * (protocol.STDIN_CHUNK + 1))


def test_acks_name_an_exec_slot() -> None:
    assert protocol.parse_status_line(b"ACK 16") == protocol.StatusEvent("ACK", container=16)
    for bad in (b"ACK", b"ACK 3", b"ACK 32", b"ACK x", b"ACK 016"):
        with pytest.raises(ValueError):
            protocol.parse_status_line(bad)


def frame(slot: int, stream: int, data: bytes = b"", length: int | None = None) -> bytes:
    return struct.pack("<BBH", slot, stream, len(data) if length is None else length) + data


def test_frames_are_parsed_across_reads() -> None:
    parser = protocol.FrameParser()
    data = frame(16, 1, b"hello") + frame(31, 2, b"x" * protocol.MAX_FRAME) + frame(16, 1)
    got = []
    for i in range(0, len(data), 7):  # any split of the stream
        got += parser.feed(data[i : i + 7])
    assert got == [
        protocol.Frame(16, 1, b"hello"),
        protocol.Frame(31, 2, b"x" * protocol.MAX_FRAME),
        protocol.Frame(16, 1, b""),
    ]
    assert parser.pending == 0
    assert parser.feed(frame(16, 1, b"abc")[:5]) == [] and parser.pending == 5  # truncated


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (frame(15, 1, b"x"), "impossible slot"),
        (frame(32, 1, b"x"), "impossible slot"),
        (frame(0, 1, b"x"), "impossible slot"),
        (frame(16, 0, b"x"), "impossible stream"),
        (frame(16, 3, b"x"), "impossible stream"),
        (frame(16, 1, length=protocol.MAX_FRAME + 1), "frame of 4097 bytes"),
        (frame(16, 1, b"ok") + frame(16, 9), "impossible stream"),
    ],
)
def test_hostile_frames_are_refused_from_their_header(raw: bytes, needle: str) -> None:
    """A bad header is refused as soon as it is whole, before its data is waited for."""
    with pytest.raises(ValueError, match=needle):
        protocol.FrameParser().feed(raw)
