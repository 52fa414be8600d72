"""``mesos-hyper pull | images | rmi | load | build-demo``.

``rmi`` must not delete an image a container is using. Whether one is comes from
``mesos_hyper.runtime.in_use(image_id) -> bool`` unless a callable is passed to
``register(sub, in_use=...)`` (tests, or an embedding that knows better).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mesos_hyper.config import Paths
from mesos_hyper.errors import HyperError, UsageError
from mesos_hyper.images.progress import Progress
from mesos_hyper.images.store import Image, ImageStore

InUse = Callable[[str], bool]
_HUB_PREFIXES = ("docker.io/library/", "docker.io/", "index.docker.io/", "registry-1.docker.io/")


def register(sub: argparse._SubParsersAction, *, in_use: InUse | None = None) -> None:
    pull = sub.add_parser("pull", help="pull an image from a registry")
    pull.add_argument("--force", action="store_true", help="ask the registry even if it is local")
    pull.add_argument("reference", metavar="REF")
    pull.set_defaults(func=pull_cmd)

    images = sub.add_parser("images", help="list local images")
    images.add_argument("-q", "--quiet", action="store_true", help="only show image ids")
    images.set_defaults(func=images_cmd)

    rmi = sub.add_parser(
        "rmi",
        help="remove images",
        description="Untag or remove images; refused while a container uses the image.",
    )
    rmi.add_argument("references", nargs="+", metavar="REF")
    rmi.set_defaults(func=functools.partial(rmi_cmd, in_use=in_use or runtime_in_use))

    load = sub.add_parser("load", help="load images from a docker save tarball or an OCI layout")
    load.add_argument("-i", "--input", required=True, type=Path, metavar="FILE|DIR")
    load.set_defaults(func=load_cmd)

    demo = sub.add_parser("build-demo", help="build the busybox demo image (no Docker needed)")
    demo.add_argument("--push", metavar="REF", help="push it to a registry as REF")
    demo.add_argument("--oci", type=Path, metavar="DIR", help="write it as an OCI layout")
    demo.add_argument("--cmd", metavar="SHELL", help="its Cmd: /bin/sh -c SHELL")
    demo.set_defaults(func=build_demo_cmd)


def runtime_in_use(image_id: str) -> bool:
    """Asks the runtime (libvirt) whether a pod was started from the image."""
    from mesos_hyper.runtime import in_use

    return in_use(image_id)


def store() -> ImageStore:
    return ImageStore(Paths.from_env().images)


def pull_cmd(args: argparse.Namespace) -> int:
    progress = Progress() if sys.stderr.isatty() else None
    image = store().pull(args.reference, force=args.force, progress=progress)
    print(image.id)
    return 0


def short_name(name: str) -> str:
    """A canonical name as docker shows it: Docker Hub names without their registry."""
    for prefix in _HUB_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def display_name(name: str) -> tuple[str, str]:
    """("repository", "tag") for the images table."""
    name = short_name(name)
    if "@" in name:
        return name.split("@", 1)[0], "<none>"
    repo, _, tag = name.rpartition(":")
    return (repo, tag) if repo and "/" not in tag else (name, "<none>")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.3g}{unit}"
        value /= 1000
    return f"{value:.3g}TB"


def image_rows(images: Sequence[Image]) -> list[tuple[str, str, str, str]]:
    rows = []
    for image in images:
        tags = [display_name(n) for n in image.references if "@" not in n]
        if not tags:
            digests = [display_name(n) for n in image.references]
            tags = digests[:1] or [("<none>", "<none>")]
        rows += [(repo, tag, image.short_id, human_size(image.size)) for repo, tag in tags]
    return rows


def images_cmd(args: argparse.Namespace) -> int:
    images = store().list()
    if args.quiet:
        for image in images:
            print(image.short_id)
        return 0
    rows = [("REPOSITORY", "TAG", "IMAGE ID", "SIZE"), *image_rows(images)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(
            "   ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)),
            row[3],
            sep="   ",
        )
    return 0


def rmi_cmd(args: argparse.Namespace, *, in_use: InUse) -> int:
    """Each REF in turn; failures are reported and the others still removed."""
    the_store = store()
    failures: list[HyperError] = []
    for ref in args.references:
        try:
            for line in the_store.remove(ref, in_use=in_use):
                verb, _, name = line.partition(": ")
                print(f"{verb}: {short_name(name)}")
        except HyperError as err:
            failures.append(err)
    if failures:
        for err in failures[:-1]:
            print(f"mesos-hyper: {err}", file=sys.stderr)
        raise failures[-1]
    return 0


def load_cmd(args: argparse.Namespace) -> int:
    for image in store().load(args.input):
        tags = [n for n in image.references if "@" not in n]
        for name in tags:
            print(f"Loaded image: {short_name(name)}")
        if not tags:
            print(f"Loaded image ID: {image.id}")
    return 0


def build_demo_cmd(args: argparse.Namespace) -> int:
    if not args.push and not args.oci:
        raise UsageError("build-demo needs --push REF and/or --oci DIR")
    from mesos_hyper.images import build  # the demo's builder: not for the other commands

    image = build.build_demo_image(args.cmd)
    if args.oci:
        build.write_oci_layout(image, args.oci, ref_name="latest")
    if args.push:
        build.push_image(image, args.push)
    print(image.manifest_digest)
    return 0
