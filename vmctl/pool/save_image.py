"""libvirt's QEMU save image: its header and domain XML, and a copy with other XML.

libvirt restores a saved image only as the domain it was saved as: another UUID is
refused ("Target domain uuid ... does not match source"), and two running domains cannot
share one UUID. A template's clones therefore each restore from their own copy of the
template's image, whose embedded XML names the clone. The XML sits in a padded area of a
fixed header; the QEMU migration stream after it is copied unchanged, by
``copy_file_range`` (a reflink where the filesystem has them).

The layout (libvirt's ``virQEMUSaveHeader``, stable since version 2): the 16-byte magic,
then little-endian u32s ``version``, ``data_len``, ``was_running``, ``format`` (0: raw,
the only one we write or read), ``cookieOffset`` and 14 unused; then ``data_len`` bytes:
the NUL-terminated XML, at ``cookieOffset`` the NUL-terminated cookie, then zeros.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from mesos_hyper.errors import VMError

MAGIC = b"LibvirtQemudSave"
VERSION = 2
RAW = 0
_FIELDS = struct.Struct("<5I56x")  # version .. cookieOffset, then 14 unused u32
HEADER_BYTES = len(MAGIC) + _FIELDS.size
MAX_DATA_BYTES = 1 << 20  # libvirt pads a few KiB of XML to 64 KiB; refuse anything huge


@dataclass(frozen=True)
class SaveImage:
    """A save image's header: where its XML and cookie are, and where its stream starts."""

    xml: str
    cookie: bytes  # libvirt's save cookie (CPU model and such), NUL-terminated
    data_len: int
    was_running: bool

    @property
    def stream_offset(self) -> int:
        return HEADER_BYTES + self.data_len


def read_header(path: Path) -> SaveImage:
    """The image's header; a VMError for anything but a raw version-2 image of ours."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)
            if len(head) < HEADER_BYTES or head[: len(MAGIC)] != MAGIC:
                raise VMError(f"{path} is not a complete libvirt save image")
            version, data_len, was_running, fmt, cookie_at = _FIELDS.unpack_from(head, len(MAGIC))
            if version != VERSION or fmt != RAW:
                raise VMError(f"{path}: save image version {version}, format {fmt}: not ours")
            if not 0 < data_len <= MAX_DATA_BYTES or not 0 < cookie_at < data_len:
                raise VMError(f"{path}: save image header out of bounds")
            data = f.read(data_len)
    except OSError as err:
        raise VMError(f"cannot read the save image {path}: {err}") from err
    if len(data) < data_len:
        raise VMError(f"{path}: save image cut short")
    xml, cookie = data[: cookie_at - 1], data[cookie_at:]
    if data[cookie_at - 1] != 0 or b"\0" in xml or b"\0" not in cookie:
        raise VMError(f"{path}: save image XML is not where its header says")
    try:
        text = xml.decode()
    except UnicodeDecodeError as err:
        raise VMError(f"{path}: save image XML is not UTF-8") from err
    return SaveImage(text, cookie[: cookie.index(b"\0") + 1], data_len, bool(was_running))


def copy_with_xml(source: Path, dest: Path, xml: str) -> None:
    """``dest``: ``source`` with ``xml`` as its domain XML (it must fit the padded area)."""
    image = read_header(source)
    body = xml.encode() + b"\0"
    if b"\0" in body[:-1] or len(body) + len(image.cookie) > image.data_len:
        raise VMError(f"the XML for {dest.name} does not fit the save image's header")
    data = body + image.cookie
    data += bytes(image.data_len - len(data))
    header = MAGIC + _FIELDS.pack(VERSION, image.data_len, int(image.was_running), RAW, len(body))
    try:
        fd = os.open(
            dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
    except OSError as err:  # never over another file
        raise VMError(f"cannot copy the save image to {dest}: {err}") from err
    done = False
    try:
        with open(source, "rb") as src, open(fd, "wb", closefd=False) as out:
            out.write(header + data)
            out.flush()
            size = os.fstat(src.fileno()).st_size
            offset = image.stream_offset
            while offset < size:
                copied = os.copy_file_range(src.fileno(), fd, size - offset, offset)
                if copied == 0:
                    raise VMError(f"{source} shrank while it was copied")
                offset += copied
        done = True
    except OSError as err:
        raise VMError(f"cannot copy the save image to {dest}: {err}") from err
    finally:
        os.close(fd)
        if not done:
            dest.unlink(missing_ok=True)
