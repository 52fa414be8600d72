"""A reproducible newc cpio writer: sorted entries, fixed owners and mtimes."""

from __future__ import annotations

import gzip
import io
import stat
from dataclasses import dataclass


@dataclass(frozen=True)
class CpioEntry:
    """A file of the initramfs."""

    name: str
    mode: int  # full st_mode, type bits included
    data: bytes = b""


def _pad(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


def _header(out: io.BytesIO, ino: int, name: str, mode: int, size: int) -> None:
    raw = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(mode) else 1
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(raw), 0]
    head = b"070701" + b"".join(b"%08X" % value for value in fields)
    out.write(head + raw + _pad(len(head) + len(raw)))


def write_cpio_gz(entries: list[CpioEntry]) -> bytes:
    """newc archive of ``entries`` (parents must be listed), gzip'd with mtime 0."""
    out = io.BytesIO()
    for ino, entry in enumerate(sorted(entries, key=lambda e: e.name), start=1):
        _header(out, ino, entry.name, entry.mode, len(entry.data))
        out.write(entry.data + _pad(len(entry.data)))
    _header(out, 0, "TRAILER!!!", 0, 0)
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(out.getvalue())
    return packed.getvalue()
