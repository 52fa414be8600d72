"""The registry client against Debian's real docker-registry (and skopeo as another client)."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from mesos_hyper.errors import IntegrityError, NotFoundError, RegistryError
from mesos_hyper.images.blobs import BlobStore
from mesos_hyper.images.build import (
    Entry,
    build_image,
    canonical_json,
    layer_from_entries,
    push_image,
    write_oci_layout,
)
from mesos_hyper.images.manifest import DOCKER_LIST, OCI_INDEX
from mesos_hyper.images.pull import pull
from mesos_hyper.images.reference import Reference
from mesos_hyper.images.registry import RegistryClient
from tests.registry_fixtures import registry, token_registry  # noqa: F401


def _image(marker: str, layers: int = 1):
    built = [
        layer_from_entries([Entry(f"etc/{marker}-{i}", data=f"{marker} {i}\n".encode())])
        for i in range(layers)
    ]
    return build_image(built, cmd=["/bin/sh"])


def _store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_pull_oci_image_with_several_layers(registry, tmp_path):  # noqa: F811
    image = _image("multi", layers=3)
    push_image(image, f"{registry.host}/t/multi:1")
    store = _store(tmp_path)
    pulled = pull(Reference.parse(f"{registry.host}/t/multi:1"), store)
    assert pulled.manifest_digest == image.manifest_digest
    assert pulled.config == image.config
    assert sorted(store.digests()) == sorted([*image.blobs(), image.manifest_digest])


def test_pull_docker_schema2_manifest(registry, tmp_path):  # noqa: F811
    image = _image("schema2")
    client = RegistryClient(registry.host)
    for digest, data in image.blobs().items():
        client.push_blob("t/schema2", data, digest)
    manifest = json.loads(image.manifest)
    manifest["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json"
    manifest["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
    for layer in manifest["layers"]:
        layer["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    raw = canonical_json(manifest)
    digest = client.push_manifest("t/schema2", "v2", raw, manifest["mediaType"])
    pulled = pull(Reference.parse(f"{registry.host}/t/schema2:v2"), _store(tmp_path))
    assert pulled.manifest_digest == digest


def _push_index(registry, repo, entries, media_type=OCI_INDEX):  # noqa: F811
    client = RegistryClient(registry.host)
    manifests = []
    for image, arch in entries:
        for digest, data in image.blobs().items():
            client.push_blob(repo, data, digest)
        client.push_manifest(repo, image.manifest_digest, image.manifest, image.media_type)
        manifests.append(
            {
                "mediaType": image.media_type,
                "digest": image.manifest_digest,
                "size": len(image.manifest),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    index = canonical_json({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests})
    client.push_manifest(repo, "multi", index, media_type)


def test_index_resolves_to_linux_amd64(registry, tmp_path):  # noqa: F811
    arm, amd = _image("arm"), _image("amd")
    _push_index(registry, "t/index", [(arm, "arm64"), (amd, "amd64")])
    pulled = pull(Reference.parse(f"{registry.host}/t/index:multi"), _store(tmp_path))
    assert pulled.manifest_digest == amd.manifest_digest


def test_manifest_list_without_amd64_is_a_clear_error(registry, tmp_path):  # noqa: F811
    _push_index(registry, "t/armonly", [(_image("arm2"), "arm64")], media_type=DOCKER_LIST)
    with pytest.raises(NotFoundError, match=r"no linux/amd64 image.*linux/arm64"):
        pull(Reference.parse(f"{registry.host}/t/armonly:multi"), _store(tmp_path))


def test_unknown_tag_and_repository_name_reference_and_registry(registry, tmp_path):  # noqa: F811
    push_image(_image("known"), f"{registry.host}/t/known:1")
    with pytest.raises(NotFoundError, match=rf"{registry.host}/t/known:nope.*not found"):
        pull(Reference.parse(f"{registry.host}/t/known:nope"), _store(tmp_path))
    with pytest.raises(NotFoundError, match=rf"{registry.host}/t/never"):
        pull(Reference.parse(f"{registry.host}/t/never:1"), _store(tmp_path))


def test_unreachable_registry_gives_up_within_the_bound(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = RegistryClient(f"127.0.0.1:{port}", retry_seconds=2)
    started = time.monotonic()
    with pytest.raises(RegistryError, match=rf"cannot reach 127.0.0.1:{port}.*gave up"):
        pull(Reference.parse(f"127.0.0.1:{port}/t/x:1"), _store(tmp_path), client=client)
    assert time.monotonic() - started < 10


def test_corrupt_blob_is_rejected_and_nothing_is_cached(registry, tmp_path):  # noqa: F811
    image = _image("corrupt")
    push_image(image, f"{registry.host}/t/corrupt:1")
    layer = image.layers[0].digest.removeprefix("sha256:")
    data = registry.storage / f"docker/registry/v2/blobs/sha256/{layer[:2]}/{layer}/data"
    data.write_bytes(b"\x1f\x8b" + b"tampered" * 10)
    store = _store(tmp_path)
    with pytest.raises(IntegrityError, match=f"sha256:{layer}"):
        pull(Reference.parse(f"{registry.host}/t/corrupt:1"), store)
    assert not store.has(image.layers[0].digest)
    assert not any(p.name.startswith(".incoming") for p in (tmp_path / "blobs/sha256").iterdir())


def test_cached_blobs_are_not_fetched_again(registry, tmp_path):  # noqa: F811
    image = _image("cached", layers=2)
    push_image(image, f"{registry.host}/t/cached:1")
    store = _store(tmp_path)
    pull(Reference.parse(f"{registry.host}/t/cached:1"), store)
    client = RegistryClient(registry.host)
    fetched: list[str] = []
    real = client.session.request

    def counting(method, url, **kw):
        if "/blobs/" in url:
            fetched.append(url)
        return real(method, url, **kw)

    client.session.request = counting  # type: ignore[method-assign]
    pull(Reference.parse(f"{registry.host}/t/cached:1"), store, client=client)
    assert fetched == []


def test_token_auth_with_docker_config(token_registry, tmp_path, monkeypatch):  # noqa: F811
    ref = f"{token_registry.host}/t/secret:1"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty"))
    with pytest.raises(RegistryError, match="no credentials"):
        pull(Reference.parse(ref), _store(tmp_path))
    config = tmp_path / "docker"
    config.mkdir()
    auth = base64.b64encode(f"{token_registry.user}:{token_registry.password}".encode()).decode()
    (config / "config.json").write_text(
        json.dumps({"auths": {token_registry.host: {"auth": auth}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    image = _image("secret")
    push_image(image, ref)
    pulled = pull(Reference.parse(ref), _store(tmp_path / "second"))
    assert pulled.manifest_digest == image.manifest_digest
    scopes = {r["scope"] for r in token_registry.extra["issuer"].requests if r["auth"]}
    assert "repository:t/secret:pull" in scopes


def test_image_pushed_by_skopeo_is_pulled(registry, tmp_path):  # noqa: F811
    image = _image("skopeo")
    layout = tmp_path / "layout"
    write_oci_layout(image, layout, ref_name="v1")
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            f"oci:{layout}:v1",
            f"docker://{registry.host}/t/skopeo:v1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pulled = pull(Reference.parse(f"{registry.host}/t/skopeo:v1"), _store(tmp_path))
    assert pulled.config_digest == image.config_digest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busybox", ("docker.io", "library/busybox", "latest", None)),
        ("team/app:1.2", ("docker.io", "team/app", "1.2", None)),
        ("127.0.0.1:5000/a/b", ("127.0.0.1:5000", "a/b", "latest", None)),
        ("localhost/x@sha256:" + "a" * 64, ("localhost", "x", None, "sha256:" + "a" * 64)),
    ],
)
def test_reference_defaults(text, expected):
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == expected


@pytest.mark.parametrize("text", ["", "UPPER/case", "a:b:c", "x@sha256:short", "a//b", " x"])
def test_bad_references_are_usage_errors(text):
    from mesos_hyper.errors import UsageError

    with pytest.raises(UsageError, match="invalid image reference"):
        Reference.parse(text)
