"""The guest kernel as an ELF that QEMU boots directly (PVH), from the distribution's bzImage.

A bzImage decompresses itself in the guest before Linux starts; under TCG that and the
real-mode set-up took 0.66 s of a 4.1 s boot here. Linux built with ``CONFIG_PVH`` carries
an ELF note with a 32-bit entry point, and QEMU starts such an ELF given as ``-kernel`` at
that entry, with the command line and initramfs as usual. Where the image is not one we
can unpack (an unknown compression, no PVH note), pods boot the bzImage.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import struct
import subprocess

SETUP_SECTS = 0x1F1  # the boot protocol's setup header (Documentation/x86/boot.rst)
HEADER_MAGIC = (0x202, b"HdrS")
PAYLOAD = 0x248  # payload_offset, payload_length (protocol 2.08 and later)
LZ4_LEGACY = b"\x02\x21\x4c\x18"
ELF_MAGIC = b"\x7fELF"
PHYS32_ENTRY = 0x12  # XEN_ELFNOTE_PHYS32_ENTRY
MAX_KERNEL = 256 << 20


def elf_for_pvh(bzimage: bytes) -> bytes | None:
    """The uncompressed kernel of ``bzimage`` if QEMU can boot it by PVH; None otherwise."""
    if len(bzimage) < 0x250 or bzimage[HEADER_MAGIC[0] : HEADER_MAGIC[0] + 4] != HEADER_MAGIC[1]:
        return None
    start = ((bzimage[SETUP_SECTS] or 4) + 1) * 512
    offset, length = struct.unpack_from("<II", bzimage, PAYLOAD)
    payload = bzimage[start + offset : start + offset + length]
    if len(payload) != length or length < 8:
        return None
    # the build appends the uncompressed size to every payload
    (size,) = struct.unpack_from("<I", payload, length - 4)
    elf = _decompress(payload[:-4])
    if elf is None or len(elf) != size or not elf.startswith(ELF_MAGIC):
        return None
    return elf if _has_pvh_entry(elf) else None


def _decompress(data: bytes) -> bytes | None:
    try:
        if data.startswith(b"\x1f\x8b"):
            return gzip.decompress(data)
        if data.startswith(b"\xfd7zXZ\x00"):
            return lzma.decompress(data)
        if data.startswith(LZ4_LEGACY) and shutil.which("lz4"):
            done = subprocess.run(["lz4", "-dc"], input=data, capture_output=True, timeout=120)
            return done.stdout if done.returncode == 0 and len(done.stdout) <= MAX_KERNEL else None
    except (OSError, EOFError, lzma.LZMAError, subprocess.TimeoutExpired):
        return None
    return None  # zstd, lzo, bzip2: not worth a tool of their own


def _has_pvh_entry(elf: bytes) -> bool:
    """The note Linux's CONFIG_PVH adds: name "Xen", type PHYS32_ENTRY, a 4-byte address."""
    return any(struct.pack("<III", 4, size, PHYS32_ENTRY) + b"Xen\x00" in elf for size in (4, 8))
