"""Running containers: from an image and a request to a process in its own VM."""

from __future__ import annotations


def in_use(image_id: str) -> bool:
    """True while a pod of ours (running or defined) was started from ``image_id``."""
    from vmctl.lifecycle import list_ours

    return any(info.metadata.get("image") == image_id for info in list_ours())
