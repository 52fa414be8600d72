"""Loading `docker save` tarballs and OCI layouts, including hostile ones."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from mesos_hyper.errors import IntegrityError, UnsafeArchiveError, UsageError
from mesos_hyper.images.build import (
    BuiltImage,
    Entry,
    build_image,
    layer_from_entries,
    write_oci_layout,
)
from mesos_hyper.images.store import ImageStore
from tests.image_fixtures import docker_save


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@pytest.fixture
def image() -> BuiltImage:
    base = layer_from_entries(
        [
            Entry("etc", "dir"),
            Entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n"),
            Entry("etc/group", data=b"root:x:0:\nwww:x:33:\n"),
            Entry("bin", "dir"),
            Entry("bin/tool", data=b"v1", mode=0o755),
        ]
    )
    top = layer_from_entries([Entry("bin/tool", data=b"v2", mode=0o755)])
    return build_image([base, top], cmd=["/bin/tool"], user="web", working_dir="/var/www")


def _check(store: ImageStore, image: BuiltImage, loaded: list, name: str | None) -> None:
    assert [i.id for i in loaded] == [image.config_digest]
    got = store.get(name) if name else store.get(image.config_digest)
    assert got.id == image.config_digest and got.config.cmd == ("/bin/tool",)
    assert len(got.layers) == 2
    assert store.user_db(got)[0].startswith("root:x:0:0")
    assert store.base_disk(got).is_file()


@pytest.mark.parametrize("oci", [False, True], ids=["legacy", "docker25"])
def test_docker_save(tmp_path: Path, store: ImageStore, image: BuiltImage, oci: bool) -> None:
    path = tmp_path / "save.tar"
    docker_save(image, path, ["registry.test/team/tool:1.0", "tool:latest"], oci=oci)
    loaded = store.load(path)
    _check(store, image, loaded, "registry.test/team/tool:1.0")
    assert store.get("tool").id == image.config_digest
    assert store.get("docker.io/library/tool:latest").id == image.config_digest


def test_oci_layout_dir_and_tar(tmp_path: Path, store: ImageStore, image: BuiltImage) -> None:
    layout = tmp_path / "layout"
    write_oci_layout(image, layout, ref_name="registry.test/oci/tool:2")
    _check(store, image, store.load(layout), "registry.test/oci/tool:2")
    # the same layout as a tar, with a bare tag (no repository): loaded untagged
    other = build_image(list(image.layers), cmd=["/bin/other"])
    bare = tmp_path / "bare"
    write_oci_layout(other, bare, ref_name="latest")
    tar_path = tmp_path / "layout.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(bare, arcname=".")
    [loaded] = store.load(tar_path)
    assert loaded.id == other.config_digest and loaded.references == ()
    assert {i.id for i in store.list()} == {image.config_digest, other.config_digest}


def _hostile(path: Path, image: BuiltImage, **kw: object) -> None:
    docker_save(image, path, ["evil:1"], **kw)  # type: ignore[arg-type]


def test_hostile_outer_tarballs(tmp_path: Path, store: ImageStore, image: BuiltImage) -> None:
    traversal = tmp_path / "traversal.tar"
    _hostile(traversal, image, extra=[("../../etc/cron.d/evil", b"x")])
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./\.\./etc/cron\.d/evil'"):
        store.load(traversal)
    absolute = tmp_path / "absolute.tar"
    _hostile(absolute, image, extra=[("/etc/evil", b"x")])
    with pytest.raises(UnsafeArchiveError, match="'/etc/evil'"):
        store.load(absolute)

    link = tmp_path / "symlink.tar"
    with tarfile.open(link, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.type, info.linkname = tarfile.SYMTYPE, "../../../etc/shadow"
        tar.addfile(info)
    with pytest.raises(UnsafeArchiveError, match=r"manifest\.json"):
        store.load(link)

    config_escape = tmp_path / "config.tar"
    manifest = [{"Config": "../../etc/passwd", "RepoTags": [], "Layers": []}]
    with tarfile.open(config_escape, "w") as tar:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./\.\./etc/passwd'"):
        store.load(config_escape)
    assert store.list() == []


def test_tampered_content_is_refused(tmp_path: Path, store: ImageStore, image: BuiltImage) -> None:
    layout = tmp_path / "layout"
    write_oci_layout(image, layout, ref_name="registry.test/x:1")
    blob = layout / "blobs/sha256" / image.layers[1].digest.removeprefix("sha256:")
    blob.write_bytes(image.layers[0].blob)  # valid content, wrong digest
    with pytest.raises(IntegrityError, match=image.layers[1].digest):
        store.load(layout)
    assert store.list() == []

    wrong_layer = build_image([image.layers[0], layer_from_entries([Entry("x", data=b"x")])])
    forged = BuiltImage(
        wrong_layer.layers,
        image.config,
        image.config_digest,
        wrong_layer.manifest,
        wrong_layer.manifest_digest,
    )
    path = tmp_path / "forged.tar"
    docker_save(forged, path, ["forged:1"])
    with pytest.raises(IntegrityError, match="the config says"):
        store.load(path)
    assert store.list() == []


def test_not_an_archive(tmp_path: Path, store: ImageStore) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello")
    with pytest.raises(UsageError, match="neither a tar archive"):
        store.load(junk)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="neither a docker save archive"):
        store.load(empty)


@pytest.mark.parametrize(
    "dest", ["docker-archive:{dir}/d.tar:example.com/team/tool:3", "oci-archive:{dir}/o.tar:x:3"]
)
def test_archives_written_by_skopeo(
    tmp_path: Path, store: ImageStore, image: BuiltImage, dest: str
) -> None:
    """Real tools' output: skopeo's docker-archive links duplicate layers via symlinks."""
    write_oci_layout(image, tmp_path / "layout", ref_name="latest")
    target = dest.format(dir=tmp_path)
    subprocess.run(
        ["skopeo", "copy", "-q", f"oci:{tmp_path / 'layout'}:latest", target],
        check=True,
        capture_output=True,
    )
    [loaded] = store.load(Path(target.split(":")[1]))
    assert loaded.id == image.config_digest
    if target.startswith("docker-archive"):
        assert loaded.references == ("example.com/team/tool:3",)
    assert store.base_disk(loaded).is_file()
