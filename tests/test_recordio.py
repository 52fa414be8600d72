"""Record-io framing: exact reads on a pipe the agent never closes, clear errors."""

from __future__ import annotations

import io
import os
import struct
import sys
import threading

import pytest

from mesos_hyper.containerizer.recordio import (
    ProtocolError,
    parse,
    read_message,
    read_record,
    serialize,
    write_message,
    write_record,
)
from mesos_hyper.errors import HyperError
from mesos_hyper.proto import containerizer_pb2, mesos_pb2

# "Record-IO Proto Example: Launch" from Mesos's docs/external-containerizer.md
# (last version before its removal, commit f6a0e72c5^): offset, then the bytes.
GOLDEN_LAUNCH_HEXDUMP = """
    00000000 4002 0000 0a26 0a24 3433 3532 3533 6162 2d64 3234 362d 3437
    00000018 6265 2d61 3335 302d 3335 3432 3034 3635 6438 3638 1a81 020a
    00000030 030a 0131 2a16 0a04 6370 7573 1000 1a09 0900 0000 0000 0000
    00000048 4032 012a 2a15 0a03 6d65 6d10 001a 0909 0000 0000 0000 9040
    00000060 3201 2a2a 160a 0464 6973 6b10 001a 0909 0000 0000 0000 9040
    00000078 3201 2a2a 180a 0570 6f72 7473 1001 220a 0a08 0898 f201 1080
    00000090 fa01 3201 2a3a 2a1a 2865 6368 6f20 274e 6f20 7375 6368 2066
    000000a8 696c 6520 6f72 2064 6972 6563 746f 7279 273b 2065 7869 7420
    000000c0 3142 2b0a 2932 3031 3430 3532 362d 3031 3530 3036 2d31 3637
    000000d8 3737 3334 332d 3535 3430 332d 3632 3536 372d 3030 3030 4a3d
    000000f0 436f 6d6d 616e 6420 4578 6563 7574 6f72 2028 5461 736b 3a20
    00000108 3129 2028 436f 6d6d 616e 643a 2073 6820 2d63 2027 7768 696c
    00000120 6520 7472 7565 203b 2e2e 2e27 2952 0131 22c5 012f 746d 702f
    00000138 4578 7465 726e 616c 436f 6e74 6169 6e65 7269 7a65 7254 6573
    00000150 745f 4c61 756e 6368 5f6c 5855 6839 662f 736c 6176 6573 2f32
    00000168 3031 3430 3532 362d 3031 3530 3036 2d31 3637 3737 3334 332d
    00000180 3535 3430 332d 3632 3536 372d 302f 6672 616d 6577 6f72 6b73
    00000198 2f32 3031 3430 3532 362d 3031 3530 3036 2d31 3637 3737 3334
    000001b0 332d 3535 3430 332d 3632 3536 372d 3030 3030 2f65 7865 6375
    000001c8 746f 7273 2f31 2f72 756e 732f 3433 3532 3533 6162 2d64 3234
    000001e0 362d 3437 6265 2d61 3335 302d 3335 3432 3034 3635 6438 3638
    000001f8 2a04 7469 6c6c 3228 0a26 3230 3134 3035 3236 2d30 3135 3030
    00000210 362d 3136 3737 3733 3433 2d35 3534 3033 2d36 3235 3637 2d30
    00000228 3a18 736c 6176 6528 3129 4031 3237 2e30 2e30 2e31 3a35 3534
    00000240 3033 4000
"""


def _golden() -> bytes:
    rows = (line.split(None, 1) for line in GOLDEN_LAUNCH_HEXDUMP.strip().splitlines())
    return bytes.fromhex("".join(hexpart for _offset, hexpart in rows))


@pytest.mark.skipif(sys.byteorder != "little", reason="the golden record was taken on x86")
def test_golden_launch_from_mesos_docs() -> None:
    data = _golden()
    assert len(data) == 4 + 0x240
    launch = read_message(io.BytesIO(data), containerizer_pb2.Launch)

    assert launch.container_id.value == "435253ab-d246-47be-a350-35420465d868"
    assert not launch.HasField("task_info")
    executor = launch.executor_info
    assert executor.executor_id.value == "1"
    assert executor.framework_id.value == "20140526-015006-16777343-55403-62567-0000"
    assert executor.command.value == "echo 'No such file or directory'; exit 1"
    assert executor.command.shell is True  # default
    assert executor.name == "Command Executor (Task: 1) (Command: sh -c 'while true ;...')"
    scalars = {
        r.name: r.scalar.value for r in executor.resources if r.type == mesos_pb2.Value.SCALAR
    }
    assert scalars == {"cpus": 2.0, "mem": 1024.0, "disk": 1024.0}
    (ports,) = [r for r in executor.resources if r.name == "ports"]
    assert [(r.begin, r.end) for r in ports.ranges.range] == [(31000, 32000)]
    assert {r.role for r in executor.resources} == {"*"}
    assert launch.directory.startswith("/tmp/ExternalContainerizerTest_Launch_lXUh9f/slaves/")
    assert launch.directory.endswith("/executors/1/runs/435253ab-d246-47be-a350-35420465d868")
    assert launch.user == "till"
    assert launch.slave_id.value == "20140526-015006-16777343-55403-62567-0"
    assert launch.slave_pid == "slave(1)@127.0.0.1:55403"
    assert launch.HasField("checkpoint") and launch.checkpoint is False
    # Re-encoding gives the agent's bytes back: our field numbers are its numbers.
    assert serialize(launch) == data[4:]


def test_reads_exactly_one_record_from_a_pipe_left_open() -> None:
    read_fd, write_fd = os.pipe()
    try:
        message = containerizer_pb2.Wait(container_id=mesos_pb2.ContainerID(value="c1"))
        with os.fdopen(os.dup(write_fd), "wb") as writer:
            write_message(writer, message)
            writer.write(b"trailing bytes that belong to nobody")
            writer.flush()
        # write_fd stays open, like the agent's end of our stdin.
        result: list[object] = []
        with os.fdopen(read_fd, "rb", closefd=False) as reader:
            thread = threading.Thread(
                target=lambda: result.append(read_message(reader, containerizer_pb2.Wait)),
                daemon=True,
            )
            thread.start()
            thread.join(timeout=5)
        assert not thread.is_alive(), "read_record waited for EOF"
        assert result == [message]
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_record_round_trip_and_host_byte_order() -> None:
    buf = io.BytesIO()
    write_record(buf, b"abc")
    write_record(buf, b"")
    assert buf.getvalue()[:4] == struct.pack("=I", 3)
    buf.seek(0)
    assert read_record(buf) == b"abc"
    assert read_record(buf) == b""


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"", "got no data"),
        (b"\x05\x00", "truncated record-io length: got 2 of 4 bytes"),
        (struct.pack("=I", 10) + b"abc", "truncated record-io payload: got 3 of 10 bytes"),
        (struct.pack("=I", 0xFFFFFFFF), "exceeds the"),
        (b"GET / HTTP/1.1\r\n", "exceeds the"),
    ],
)
def test_bad_streams_raise_one_line_errors(stream: bytes, expected: str) -> None:
    with pytest.raises(ProtocolError, match=expected) as err:
        read_record(io.BytesIO(stream))
    assert isinstance(err.value, HyperError)
    assert "\n" not in str(err.value)


def test_max_size_is_configurable() -> None:
    data = struct.pack("=I", 100) + b"x" * 100
    with pytest.raises(ProtocolError, match="exceeds the 99-byte limit"):
        read_record(io.BytesIO(data), max_size=99)
    assert read_record(io.BytesIO(data), max_size=100) == b"x" * 100


def test_parse_rejects_malformed_protobuf() -> None:
    with pytest.raises(ProtocolError, match=r"malformed mesos.containerizer.Launch message"):
        parse(containerizer_pb2.Launch, b"\x0a\x05abc")


def test_parse_rejects_missing_required_fields() -> None:
    with pytest.raises(ProtocolError, match="lacks required fields: container_id"):
        parse(containerizer_pb2.Wait, b"")
    # Nested required fields count too: TaskInfo needs name, task_id, slave_id.
    launch = containerizer_pb2.Launch(container_id=mesos_pb2.ContainerID(value="c"))
    launch.task_info.name = "t"
    data = launch.SerializePartialToString()
    with pytest.raises(ProtocolError, match=r"task_info\.task_id"):
        parse(containerizer_pb2.Launch, data)


def test_serialize_refuses_incomplete_messages() -> None:
    with pytest.raises(ProtocolError, match="without container_id"):
        write_message(io.BytesIO(), containerizer_pb2.Usage())
