"""The apps in ``examples/`` as the tests load them, and the framework-level pod example."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from mesos_hyper.deploy.marathon_app import DEFAULT_AGENT_ID
from mesos_hyper.proto import mesos_pb2

DEMO_IMAGE = "127.0.0.1:5000/mesos-hyper/demo:latest"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def pod_task_infos(
    doc: dict[str, Any], *, agent_id: str = DEFAULT_AGENT_ID
) -> list[mesos_pb2.TaskInfo]:
    """``examples/pod-two-tasks.json`` (v1 JSON: ``agent_id``) -> our v0 TaskInfos."""
    out = []
    for task in doc["tasks"]:
        task = copy.deepcopy(task)
        task.pop("agent_id", None)
        task["slave_id"] = {"value": agent_id}
        out.append(json_format.ParseDict(task, mesos_pb2.TaskInfo()))
    return out
