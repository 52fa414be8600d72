"""The image store: pulls from a real registry, lookups, tags, removal and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mesos_hyper.errors import HyperError, NotFoundError, RegistryError, UsageError
from mesos_hyper.images.build import (
    BuiltImage,
    Entry,
    build_image,
    layer_from_entries,
    push_image,
)
from mesos_hyper.images.store import ImageStore
from tests.image_fixtures import docker_save
from tests.registry_fixtures import registry  # noqa: F401  (fixture)

BASE = layer_from_entries(
    [
        Entry("etc", "dir"),
        Entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
        Entry("shared", data=b"shared layer"),
    ]
)


def _image(tag: str) -> BuiltImage:
    return build_image([BASE, layer_from_entries([Entry(tag, data=tag.encode())])], cmd=[tag])


def _load(tmp_path: Path, store: ImageStore, image: BuiltImage, *tags: str) -> None:
    path = tmp_path / f"{image.config_digest[7:19]}.tar"
    docker_save(image, path, tags)
    store.load(path)


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def never_in_use(_image_id: str) -> bool:
    return False


def test_pull_from_registry_then_cached(registry, store: ImageStore) -> None:  # noqa: F811
    image = _image("app")
    ref = f"{registry.host}/team/app:1.0"
    push_image(image, ref)
    pulled = store.pull(ref)
    assert pulled.id == image.config_digest
    assert pulled.manifest_digest == image.manifest_digest
    assert pulled.layers == tuple(layer.digest for layer in image.layers)
    assert pulled.references == (ref,)
    assert pulled.size == len(image.config) + sum(len(layer.blob) for layer in image.layers)
    assert store.base_disk(pulled).is_file()
    assert store.get(f"{registry.host}/team/app:1.0").id == pulled.id
    # by digest: a new name for the same image
    by_digest = store.pull(f"{registry.host}/team/app@{image.manifest_digest}")
    assert by_digest.id == pulled.id
    assert f"{registry.host}/team/app@{image.manifest_digest}" in by_digest.references
    # a moved tag: force re-asks the registry, the old image keeps no name
    newer = _image("app2")
    push_image(newer, ref)
    assert store.pull(ref).id == pulled.id  # not forced: the local answer
    assert store.pull(ref, force=True).id == newer.config_digest
    assert ref not in store.get(pulled.id).references


def test_cached_pull_needs_no_network(tmp_path: Path, store: ImageStore) -> None:
    image = _image("offline")
    ref = "127.0.0.1:9/nowhere/offline:1"  # port 9: nothing listens
    _load(tmp_path, store, image, ref)
    assert store.pull(ref).id == image.config_digest
    with pytest.raises(RegistryError):
        store.pull(ref, force=True)
    with pytest.raises(RegistryError):
        store.pull("127.0.0.1:9/nowhere/offline:2")


def test_lookups(tmp_path: Path, store: ImageStore) -> None:
    image = _image("look")
    _load(tmp_path, store, image, "registry.test/look:1")
    hexid = image.config_digest.removeprefix("sha256:")
    for name in (
        image.config_digest,
        hexid,
        hexid[:12],
        f"sha256:{hexid[:8]}",
        "registry.test/look:1",
    ):
        assert store.get(name).id == image.config_digest
    with pytest.raises(NotFoundError, match=r"no such image: registry\.test/look:2"):
        store.get("registry.test/look:2")
    with pytest.raises(NotFoundError):
        store.get("0000000000ab")
    with pytest.raises(UsageError):
        store.get("Not A Reference!")


def test_remove(tmp_path: Path, store: ImageStore) -> None:
    one, two = _image("one"), _image("two")
    _load(tmp_path, store, one, "registry.test/one:1", "registry.test/one:latest")
    _load(tmp_path, store, two, "registry.test/two:1")
    loaded_one = store.get("registry.test/one:1")
    disk = store.base_disk(loaded_one)
    shared = loaded_one.layers[0]  # docker save layers are stored uncompressed
    assert store.get("registry.test/two:1").layers[0] == shared

    used = {one.config_digest}
    with pytest.raises(HyperError, match="in use by a container"):
        store.remove(one.config_digest, in_use=used.__contains__)
    assert disk.exists() and len(store.list()) == 2

    # a name of an image with other names only untags it, even while in use
    assert store.remove("registry.test/one:latest", in_use=used.__contains__) == [
        "Untagged: registry.test/one:latest"
    ]
    assert store.get(one.config_digest).references == ("registry.test/one:1",)
    with pytest.raises(HyperError, match="in use"):
        store.remove("registry.test/one:1", in_use=used.__contains__)

    done = store.remove("registry.test/one:1", in_use=never_in_use)
    assert done == ["Untagged: registry.test/one:1", f"Deleted: {one.config_digest}"]
    assert not disk.parent.exists()
    assert not store.blobs.has(one.config_digest)
    assert not store.blobs.has(loaded_one.layers[1])
    assert not store.blobs.has(loaded_one.manifest_digest)
    assert store.blobs.has(shared)  # still used by "two"
    assert [i.id for i in store.list()] == [two.config_digest]
    tags = json.loads((store.root / "tags.json").read_text())
    assert tags == {"registry.test/two:1": two.config_digest}
    with pytest.raises(NotFoundError):
        store.remove("registry.test/one:1", in_use=never_in_use)

    store.remove("registry.test/two:1", in_use=never_in_use)
    assert store.list() == [] and sorted(store.blobs.digests()) == []
