"""Per-container copy-on-write overlays on a shared read-only base disk.

An overlay is a small qcow2 header and copies nothing; a virtual size above the base's gives
the container writable room (the guest init grows the ext4 online). ``qemu-img`` makes the
first one of each size, next to its base; every later one is a copy of that pristine header
(about 1 ms against 30 ms for the ``qemu-img`` process on each start).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mesos_hyper.errors import VMError

QEMU_IMG_TIMEOUT_S = 60.0  # writes a header only: more than this is a hung host


def base_size(base: Path) -> int:
    return base.stat().st_size


def create_overlay(base: Path, overlay: Path, size_bytes: int | None = None) -> Path:
    size = max(size_bytes or 0, base_size(base))
    pristine = _pristine(base, size)
    try:
        shutil.copyfile(pristine, overlay)
    except OSError as err:
        overlay.unlink(missing_ok=True)
        raise VMError(f"cannot create the overlay {overlay}: {err}") from err
    return overlay


def _pristine(base: Path, size: int) -> Path:
    """The untouched overlay of ``base`` at ``size``, made once; it goes with its base's
    directory (the image store removes both)."""
    pristine = base.with_name(f"overlay-{size}.qcow2")
    if pristine.exists():
        return pristine
    fd, tmp_name = tempfile.mkstemp(prefix=".overlay-", suffix=".qcow2", dir=base.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    cmd = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), tmp_name]
    try:
        subprocess.run(
            [*cmd, str(size)], check=True, capture_output=True, text=True,
            timeout=QEMU_IMG_TIMEOUT_S,
        )  # fmt: skip
        tmp.chmod(0o644)
        os.replace(tmp, pristine)  # whole or not at all, whoever made it first
    except subprocess.CalledProcessError as err:
        raise VMError(f"cannot create an overlay of {base}: {err.stderr.strip()}") from err
    except subprocess.TimeoutExpired:
        raise VMError(f"qemu-img took over {QEMU_IMG_TIMEOUT_S:g}s to create an overlay") from None
    finally:
        tmp.unlink(missing_ok=True)
    return pristine


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
