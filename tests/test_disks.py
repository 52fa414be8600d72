"""Overlays: the first of each size comes from qemu-img, the rest are copies of it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mesos_hyper.errors import VMError
from vmctl import disks


def info(path: Path) -> dict:
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", str(path)], check=True, capture_output=True
    )
    return json.loads(out.stdout)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    where = tmp_path / "disks" / "ab"
    where.mkdir(parents=True)
    path = where / "base.ext4"
    path.write_bytes(b"\xaa" * 65536)  # raw: any bytes do
    return path


def test_overlays_of_a_size_are_copies_of_one_pristine_header(base: Path, tmp_path: Path) -> None:
    size = 8 << 20
    first = disks.create_overlay(base, tmp_path / "one.qcow2", size)
    (base.parent / "stray").write_text("")  # the pristine is found by name, not by listing
    second = disks.create_overlay(base, tmp_path / "two.qcow2", size)
    for overlay in (first, second):
        meta = info(overlay)
        assert meta["format"] == "qcow2"
        assert meta["virtual-size"] == size
        assert meta["backing-filename"] == str(base)
        assert meta["backing-filename-format"] == "raw"
        subprocess.run(["qemu-img", "check", "-q", str(overlay)], check=True)
    assert first.read_bytes() == second.read_bytes()
    assert not first.samefile(second)  # each container writes its own
    made = sorted(p.name for p in base.parent.iterdir() if p.name.endswith(".qcow2"))
    assert made == [f"overlay-{size}.qcow2"]


def test_an_overlay_is_never_smaller_than_its_base(base: Path, tmp_path: Path) -> None:
    overlay = disks.create_overlay(base, tmp_path / "o.qcow2")
    assert info(overlay)["virtual-size"] == base.stat().st_size


def test_a_write_to_an_overlay_leaves_the_pristine_and_the_base_alone(
    base: Path, tmp_path: Path
) -> None:
    overlay = disks.create_overlay(base, tmp_path / "o.qcow2")
    pristine = base.with_name(f"overlay-{base.stat().st_size}.qcow2")
    before = pristine.read_bytes()
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0x55 0 4096", str(overlay)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert pristine.read_bytes() == before
    assert base.read_bytes() == b"\xaa" * 65536
    fresh = disks.create_overlay(base, tmp_path / "fresh.qcow2")
    assert fresh.read_bytes() == before


def test_an_overlay_qemu_img_refuses_leaves_nothing_and_a_clear_error(
    base: Path, tmp_path: Path
) -> None:
    with pytest.raises(VMError, match=r"cannot create an overlay of .*too large"):
        disks.create_overlay(base, tmp_path / "o.qcow2", 1 << 62)
    assert sorted(p.name for p in base.parent.iterdir()) == ["base.ext4"]
    assert not (tmp_path / "o.qcow2").exists()
