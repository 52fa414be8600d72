"""Container ids: they name files and directories, so each must be one safe path component.

Kept apart from ``messages`` so that the ECP's fast calls (``containers``, ``usage``) can
check ids without importing the protobuf runtime.
"""

from __future__ import annotations

from mesos_hyper.containerizer.recordio import ProtocolError

MAX_ID_LENGTH = 255
"""Container ids name files and directories; keep them within one path component."""


def validate_container_id(value: str) -> str:
    """Return ``value`` if it is safe as one file name, else raise ProtocolError."""
    if not value:
        raise ProtocolError("container id is empty")
    if "/" in value or "\0" in value or value in (".", ".."):
        raise ProtocolError(f"container id {value!r} is not a safe file name")
    if len(value.encode()) > MAX_ID_LENGTH:
        raise ProtocolError(f"container id is longer than {MAX_ID_LENGTH} bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ProtocolError(f"container id {value!r} contains control characters")
    return value
