"""libvirt save images, as a template's clones copy them: the header checked, the stream intact."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from mesos_hyper.errors import VMError
from vmctl.guest import protocol
from vmctl.pool import save_image, zero_pages

STREAM = b"QEVM\x00\x00\x00\x03" + os.urandom(300_000)
COOKIE = b"<cookie><cpu mode='custom'/></cookie>\n\x00"


def make_image(
    path: Path,
    xml: bytes = b"<domain><name>mh-pool-t</name></domain>",
    *,
    data_len: int = 65536,
    version: int = 2,
    fmt: int = 0,
    magic: bytes = save_image.MAGIC,
    cookie_at: int | None = None,
) -> None:
    """An image laid out as libvirt 9.0 writes one (its XML padded to 64 KiB)."""
    body = xml + b"\0"
    data = body + COOKIE
    data += bytes(max(0, data_len - len(data)))
    offset = len(body) if cookie_at is None else cookie_at
    header = magic + struct.pack("<5I56x", version, data_len, 0, fmt, offset)
    path.write_bytes(header + data[:data_len] + STREAM)


def test_a_copy_carries_its_own_xml_and_the_stream_unchanged(tmp_path: Path) -> None:
    source, dest = tmp_path / "t.save", tmp_path / "c.save"
    make_image(source)
    xml = "<domain><name>mh-pool-clone</name><uuid>x</uuid></domain>"
    save_image.copy_with_xml(source, dest, xml)
    copy = save_image.read_header(dest)
    assert copy.xml == xml
    assert copy.cookie == COOKIE
    assert copy.data_len == 65536 and copy.stream_offset == save_image.HEADER_BYTES + 65536
    assert dest.read_bytes()[copy.stream_offset :] == STREAM
    assert oct(dest.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    "layout,message",
    [
        ({"magic": b"LibvirtQemudPart"}, "not a complete"),  # libvirt died while saving
        ({"version": 1}, "not ours"),
        ({"fmt": 2}, "not ours"),  # compressed
        ({"data_len": 0}, "out of bounds"),
        ({"data_len": 64 << 20}, "out of bounds"),
        ({"cookie_at": 0}, "out of bounds"),
        ({"cookie_at": 65536}, "out of bounds"),
        ({"cookie_at": 5}, "not where its header says"),
    ],
)
def test_a_bad_header_is_refused(tmp_path: Path, layout: dict, message: str) -> None:
    path = tmp_path / "t.save"
    make_image(path, **layout)
    with pytest.raises(VMError, match=message):
        save_image.read_header(path)
    with pytest.raises(VMError):
        save_image.copy_with_xml(path, tmp_path / "c.save", "<domain/>")
    assert not (tmp_path / "c.save").exists()


def test_a_cut_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.save"
    make_image(path)
    with open(path, "r+b") as f:
        f.truncate(save_image.HEADER_BYTES + 100)
    with pytest.raises(VMError, match="cut short"):
        save_image.read_header(path)
    path.write_bytes(b"Libvirt")
    with pytest.raises(VMError, match="not a complete"):
        save_image.read_header(path)
    with pytest.raises(VMError, match="cannot read"):
        save_image.read_header(tmp_path / "missing.save")


def test_xml_that_does_not_fit_the_header_is_refused(tmp_path: Path) -> None:
    source, dest = tmp_path / "t.save", tmp_path / "c.save"
    make_image(source, data_len=4096)
    with pytest.raises(VMError, match="does not fit"):
        save_image.copy_with_xml(source, dest, "<domain>" + "x" * 5000 + "</domain>")
    with pytest.raises(VMError, match="does not fit"):
        save_image.copy_with_xml(source, dest, "<domain>\0</domain>")
    assert not dest.exists()
    dest.write_bytes(b"")  # never overwritten: a clone's copy is made new
    with pytest.raises(VMError, match="cannot copy"):
        save_image.copy_with_xml(source, dest, "<domain/>")


def test_the_spec_carries_a_seed_of_32_bytes() -> None:
    seed = bytes(range(32))
    record = protocol.encode_spec(protocol.ProcessSpec(["/bin/true"], seed=seed))
    assert b"R" + struct.pack("<I", 64) + seed.hex().encode() in record
    with pytest.raises(ValueError, match="32 bytes"):
        protocol.encode_spec(protocol.ProcessSpec(["/bin/true"], seed=b"short"))


def test_zero_pages_are_punched_out_of_a_memfd_and_the_rest_is_kept() -> None:
    size = 8 << 20
    fd = os.memfd_create("mh-test-ram")
    try:
        os.ftruncate(fd, size)
        os.pwrite(fd, bytes(size), 0)  # every page allocated, as a restore leaves them
        marks = {3: b"a", 100: b"b", 2047: b"c"}  # pages holding data
        for page, byte in marks.items():
            os.pwrite(fd, byte * 10, page * zero_pages.PAGE + 7)
        assert os.fstat(fd).st_blocks * 512 >= size
        assert zero_pages.release(os.getpid()) == size - len(marks) * zero_pages.PAGE
        assert os.fstat(fd).st_blocks * 512 == len(marks) * zero_pages.PAGE
        assert os.fstat(fd).st_size == size
        for page, byte in marks.items():
            at = page * zero_pages.PAGE
            assert os.pread(fd, zero_pages.PAGE, at) == bytes(7) + byte * 10 + bytes(4079)
    finally:
        os.close(fd)
    with pytest.raises(VMError, match="cannot look"):
        zero_pages.release(2**22 + 1)  # above pid_max: no such process
