"""Record-io framing of the external containerizer protocol (Mesos 1.0).

Each message is a 4-byte length in the host's byte order followed by that many
bytes of protobuf. The agent writes one record to our stdin and never closes the
pipe, so we read exactly the length and the payload, never to EOF.
"""

from __future__ import annotations

import struct

from mesos_hyper.errors import HyperError

TYPE_CHECKING = False  # typing itself is not imported: the polled calls start fast
if TYPE_CHECKING:  # the polled calls frame records and never load protobuf (proto.wire)
    from typing import BinaryIO, TypeVar

    from google.protobuf.message import Message

    M = TypeVar("M", bound=Message)

_LENGTH = struct.Struct("=I")
MAX_RECORD_SIZE = 64 * 1024 * 1024
"""Bound on one record: a Launch is a few KiB; anything near this is garbage."""


class ProtocolError(HyperError):
    """The agent (or we) sent a record that is missing, truncated or malformed."""


def _read_exactly(fp: BinaryIO, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = fp.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_record(fp: BinaryIO, *, max_size: int = MAX_RECORD_SIZE) -> bytes:
    """Read one record's payload: exactly 4 + length bytes, nothing more."""
    header = _read_exactly(fp, _LENGTH.size)
    if not header:
        raise ProtocolError("expected a record-io message on stdin, got no data")
    if len(header) < _LENGTH.size:
        raise ProtocolError(
            f"truncated record-io length: got {len(header)} of {_LENGTH.size} bytes"
        )
    (size,) = _LENGTH.unpack(header)
    if size > max_size:
        raise ProtocolError(
            f"record-io length {size} exceeds the {max_size}-byte limit (not a record-io stream?)"
        )
    payload = _read_exactly(fp, size)
    if len(payload) < size:
        raise ProtocolError(f"truncated record-io payload: got {len(payload)} of {size} bytes")
    return payload


def write_record(fp: BinaryIO, data: bytes) -> None:
    """Write ``data`` as one record and flush, so the agent sees it at once."""
    if len(data) > 0xFFFFFFFF:
        raise ProtocolError(f"record of {len(data)} bytes does not fit a 32-bit length")
    fp.write(_LENGTH.pack(len(data)) + data)
    fp.flush()


def parse(message_cls: type[M], data: bytes) -> M:
    """Decode ``data`` as ``message_cls``, insisting on every required field."""
    from google.protobuf.message import DecodeError

    name = message_cls.DESCRIPTOR.full_name
    message = message_cls()
    try:
        message.ParseFromString(data)
    except DecodeError as err:
        raise ProtocolError(f"malformed {name} message ({len(data)} bytes): {err}") from None
    missing = message.FindInitializationErrors()
    if missing:
        raise ProtocolError(f"{name} message lacks required fields: {', '.join(missing)}")
    return message


def serialize(message: Message) -> bytes:
    """Encode ``message``; a missing required field is our bug, reported in one line."""
    missing = message.FindInitializationErrors()
    if missing:
        raise ProtocolError(
            f"refusing to send {message.DESCRIPTOR.full_name} without {', '.join(missing)}"
        )
    return message.SerializeToString()


def read_message(fp: BinaryIO, message_cls: type[M], *, max_size: int = MAX_RECORD_SIZE) -> M:
    """Read one record from ``fp`` and decode it as ``message_cls``."""
    return parse(message_cls, read_record(fp, max_size=max_size))


def write_message(fp: BinaryIO, message: Message) -> None:
    """Encode ``message`` and write it as one record."""
    write_record(fp, serialize(message))
