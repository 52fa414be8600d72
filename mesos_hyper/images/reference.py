"""Image references ``[registry/]repository[:tag][@digest]`` with Docker Hub's defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mesos_hyper.errors import UsageError

HUB = "docker.io"
HUB_ENDPOINT = "registry-1.docker.io"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class Reference:
    """An image name, split as Docker splits it."""

    registry: str  # "docker.io" for Docker Hub, else host[:port]
    repository: str  # "library/busybox" for Hub official images
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        def bad(why: str) -> UsageError:
            return UsageError(f"invalid image reference {text!r}: {why}")

        if not text or len(text) > 512 or text != text.strip():
            raise bad("empty, too long or padded with spaces")
        rest, digest = text, None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if not _DIGEST.match(digest):
                raise bad("a digest must be sha256:<64 hex digits>")
        tag = None
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1 :]
            if not _TAG.match(tag):
                raise bad(f"bad tag {tag!r}")
        first, _, remainder = rest.partition("/")
        if remainder and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, remainder
            if not _HOST.match(registry):
                raise bad(f"bad registry host {registry!r}")
        else:
            registry, repository = HUB, rest
        if registry in ("index.docker.io", HUB_ENDPOINT):
            registry = HUB
        if registry == HUB and "/" not in repository:
            repository = f"library/{repository}"
        if not repository or not all(_COMPONENT.match(c) for c in repository.split("/")):
            raise bad("repository names are lowercase letters, digits and . _ - separators")
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry, repository, tag, digest)

    @property
    def ref(self) -> str:
        """What goes into /v2/<repository>/manifests/<ref>."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        name = self.repository
        if self.registry == HUB:
            name = name.removeprefix("library/")
        else:
            name = f"{self.registry}/{name}"
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name
