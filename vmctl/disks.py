"""Per-container copy-on-write overlays on a shared read-only base disk.

Creating one writes a small qcow2 header and copies nothing; a virtual size above the
base's gives the container writable room (the guest init grows the ext4 online).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from mesos_hyper.errors import VMError

QEMU_IMG_TIMEOUT_S = 60.0  # writes a header only: more than this is a hung host


def base_size(base: Path) -> int:
    return base.stat().st_size


def create_overlay(base: Path, overlay: Path, size_bytes: int | None = None) -> Path:
    size = max(size_bytes or 0, base_size(base))
    cmd = [
        "qemu-img",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        str(base),
        str(overlay),
        str(size),
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT_S)
    except subprocess.CalledProcessError as err:
        overlay.unlink(missing_ok=True)
        raise VMError(f"cannot create the overlay {overlay}: {err.stderr.strip()}") from err
    except subprocess.TimeoutExpired:
        overlay.unlink(missing_ok=True)
        raise VMError(f"qemu-img took over {QEMU_IMG_TIMEOUT_S:g}s to create {overlay}") from None
    return overlay


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
