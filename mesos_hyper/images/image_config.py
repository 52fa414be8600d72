"""The parts of an OCI/Docker image config that decide how a container runs, and user lookup.

The config blob comes from a registry or an archive, so it is validated field by field: a
wrong type is an IntegrityError here rather than a confusing failure inside the guest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mesos_hyper.errors import IntegrityError, UsageError

MAX_ID = 0xFFFFFFFE  # (uid_t)-1 means "no change" to the kernel


@dataclass(frozen=True)
class ImageConfig:
    """What of an image's config decides how its container runs."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    exposed_ports: tuple[str, ...] = ()
    diff_ids: tuple[str, ...] = ()
    architecture: str = ""
    os: str = ""
    created: str = ""

    @classmethod
    def parse(cls, raw: bytes) -> ImageConfig:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise IntegrityError(f"image config is not valid JSON: {err}") from None
        if not isinstance(doc, dict):
            raise IntegrityError("image config is not a JSON object")
        run = _get(doc, "config", dict) or {}
        rootfs = _get(doc, "rootfs", dict) or {}
        ports = _get(run, "ExposedPorts", dict, "config.") or {}
        return cls(
            entrypoint=_strings(run, "Entrypoint"),
            cmd=_strings(run, "Cmd"),
            env=_strings(run, "Env", allow_str=False),
            working_dir=_get(run, "WorkingDir", str, "config.") or "",
            user=_get(run, "User", str, "config.") or "",
            labels=_labels(run),
            exposed_ports=tuple(sorted(ports)),
            diff_ids=_strings(rootfs, "diff_ids", allow_str=False, prefix="rootfs."),
            architecture=_get(doc, "architecture", str) or "",
            os=_get(doc, "os", str) or "",
            created=_get(doc, "created", str) or "",
        )


def _get(doc: dict[str, Any], key: str, kind: type, prefix: str = "") -> Any:
    value = doc.get(key)
    if value is not None and not isinstance(value, kind):
        want, got = kind.__name__, type(value).__name__
        raise IntegrityError(f"image config field {prefix}{key} should be {want}, not {got}")
    return value


def _strings(
    doc: dict[str, Any], key: str, *, allow_str: bool = True, prefix: str = "config."
) -> tuple[str, ...]:
    """A list of strings; Docker's StrSlice also accepts one plain string."""
    value = doc.get(key)
    if value is None:
        return ()
    if allow_str and isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IntegrityError(f"image config field {prefix}{key} should be a list of strings")
    return tuple(value)


def _labels(run: dict[str, Any]) -> dict[str, str]:
    labels = _get(run, "Labels", dict, "config.") or {}
    if not all(isinstance(v, str) for v in labels.values()):
        raise IntegrityError("image config field config.Labels should map strings to strings")
    return dict(labels)


@dataclass(frozen=True)
class _Entry:
    """A line of the image's /etc/passwd or /etc/group."""

    name: str
    id: int
    gid: int
    members: tuple[str, ...]


def _parse_db(text: str, *, is_group: bool) -> list[_Entry]:
    """/etc/passwd (name:pw:uid:gid:...) or /etc/group (name:pw:gid:members) lines.

    Malformed lines are skipped, as libc does.
    """
    entries = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 4 or line.startswith(("#", "+", "-")):
            continue
        try:
            ident = int(fields[2])
            gid = ident if is_group else int(fields[3])
        except ValueError:
            continue
        members = tuple(m for m in fields[3].split(",") if m) if is_group else ()
        entries.append(_Entry(fields[0], ident, gid, members))
    return entries


def _numeric(text: str, what: str) -> int | None:
    if not text.isdigit():
        return None
    value = int(text)
    if value > MAX_ID:
        raise UsageError(f"{what} {text} is out of range (0-{MAX_ID})")
    return value


def resolve_user(user: str, passwd: str, group: str) -> tuple[int, int, list[int]]:
    """``user[:group]`` -> (uid, gid, supplementary gids), as Docker/runc resolve it.

    Names must exist in the image's /etc/passwd and /etc/group; numeric ids need not. A
    named or numeric user found in passwd gets its primary gid from there and, when no group
    is given, its memberships in /etc/group as supplementary groups.
    """
    user_part, sep, group_part = (user or "").partition(":")
    if sep and not group_part:
        raise UsageError(f"invalid user {user!r}: empty group after ':'")
    users = _parse_db(passwd, is_group=False)
    uid_num = _numeric(user_part, "uid")
    uid, gid, name = 0, 0, None
    if user_part:
        match = next(
            (u for u in users if (u.id == uid_num if uid_num is not None else u.name == user_part)),
            None,
        )
        if match is None and uid_num is None:
            raise UsageError(f"unable to find user {user_part}: no matching entries in passwd file")
        if match is not None:
            uid, gid, name = match.id, match.gid, match.name
        else:
            uid = uid_num or 0
    else:
        root = next((u for u in users if u.id == 0), None)
        if root is not None:
            gid, name = root.gid, root.name
    groups = _parse_db(group, is_group=True)
    if group_part:
        gid_num = _numeric(group_part, "gid")
        if gid_num is not None:
            return uid, gid_num, []
        found = next((g for g in groups if g.name == group_part), None)
        if found is None:
            raise UsageError(
                f"unable to find group {group_part}: no matching entries in group file"
            )
        return uid, found.id, []
    extra = sorted({g.id for g in groups if name is not None and name in g.members})
    return uid, gid, extra
