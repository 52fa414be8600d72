"""The field names of a Marathon 1.3 app definition, so that a typo is an error, not a no-op.

Marathon's own JSON reads skip what they do not know, so ``"healthcheck": [...]`` deploys an
app with no checks and nobody notices. We refuse an unknown name and suggest the close one.
The names are those of ``api/v2/json/Formats.scala`` and ``AppDefinition.scala`` at
v1.3.14; the read-only fields of ``GET /v2/apps/ID`` are accepted (and ignored) so that a
definition fetched from a Marathon can be deployed as it is.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

# A schema node: the names an object may hold, each with the schema of its value, or None
# where the value is not checked further (scalars, free-form maps such as env and labels).
Schema = Mapping[str, "Schema | None"]

_PORT_MAPPING: Schema = dict.fromkeys(
    ("containerPort", "hostPort", "servicePort", "protocol", "name", "labels")
)
_PORT_DEFINITION: Schema = dict.fromkeys(("port", "protocol", "name", "labels"))
_VOLUME: Schema = dict.fromkeys(("containerPath", "hostPath", "mode", "persistent", "external"))
_DOCKER: Schema = {
    "image": None,
    "network": None,
    "portMappings": _PORT_MAPPING,
    "privileged": None,
    "parameters": dict.fromkeys(("key", "value")),
    "forcePullImage": None,
}
_CONTAINER: Schema = {"type": None, "docker": _DOCKER, "volumes": _VOLUME, "appc": None}
_HEALTH_CHECK: Schema = {
    **dict.fromkeys(
        (
            "protocol", "path", "portIndex", "port", "gracePeriodSeconds", "intervalSeconds",
            "timeoutSeconds", "maxConsecutiveFailures", "ignoreHttp1xx",
        )
    ),
    "command": {"value": None},
}  # fmt: skip
_FETCH: Schema = dict.fromkeys(("uri", "extract", "executable", "cache", "outputFile"))
_READ_ONLY = (
    "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "deployments", "tasks",
    "lastTaskFailure", "taskStats", "readinessCheckResults", "versionInfo",
)  # fmt: skip

APP: Schema = {
    **dict.fromkeys(
        (
            "id", "cmd", "args", "user", "env", "instances", "cpus", "mem", "disk", "gpus",
            "executor", "constraints", "uris", "storeUrls", "ports", "requirePorts",
            "backoffSeconds", "backoffFactor", "maxLaunchDelaySeconds", "readinessChecks",
            "dependencies", "labels", "acceptedResourceRoles", "ipAddress", "version",
            "residency", "secrets", "taskKillGracePeriodSeconds", *_READ_ONLY,
        )
    ),
    "container": _CONTAINER,
    "portDefinitions": _PORT_DEFINITION,
    "healthChecks": _HEALTH_CHECK,
    "fetch": _FETCH,
    "upgradeStrategy": dict.fromkeys(("minimumHealthCapacity", "maximumOverCapacity")),
}  # fmt: skip


def unknown_fields(value: Any, schema: Schema = APP, where: str = "") -> list[str]:
    """One message per name ``value`` holds that ``schema`` does not, with a suggestion;
    lists of objects are checked item by item."""
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            out += unknown_fields(item, schema, f"{where}[{i}]")
        return out
    if not isinstance(value, dict):
        return []  # a wrong type is the converter's to report, with its own words
    out = []
    for name, inner in value.items():
        path = f"{where}.{name}" if where else str(name)
        if name not in schema:
            close = difflib.get_close_matches(str(name), list(schema), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            out.append(f"unknown field {path!r}{hint}")
        elif (sub := schema[name]) is not None:
            out += unknown_fields(inner, sub, path)
    return out
