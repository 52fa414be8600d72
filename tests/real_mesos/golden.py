"""The real 1.0.4 agent's ECP calls as golden files, and the agent double's against them.

``tests/test_real_mesos.py`` records what a real agent hands our ECP for one command task
(``recording_ecp.py``): the Launch, Update and Usage records and the environment of the
``launch`` call. Values that differ from run to run (ids, ports, directories) become
placeholders, and the result must equal ``tests/fixtures/real-agent-1.0.4/*.json``
(``MESOS_HYPER_UPDATE_GOLDEN=1`` rewrites them). ``tests/test_agent_double.py`` builds the
double's records from the same inputs and holds them against the same files, so neither
the double nor our reading of the agent can drift unnoticed.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from mesos_hyper.proto import containerizer_pb2, mesos_pb2
from tests.agent_double.ecp import call_environment, launch_call
from tests.agent_double.executor_info import (
    MESOS_VERSION,
    AgentFlags,
    add_resources,
    command_executor_info,
    launch_executor_info,
)

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "real-agent-1.0.4"
CALLS = ("launch", "update", "usage")
# what the test's framework registers as (tests/real_mesos/scheduler.py)
FRAMEWORK = {
    "user": "root",
    "name": "mesos-hyper-tests",
    "checkpoint": True,
    "failover_timeout": 600,
}
PLACEHOLDERS = {
    "container": "<container-id>",
    "framework": "<framework-id>",
    "agent": "<agent-id>",
    "agent_endpoint": "<agent-endpoint>",  # host:port of the agent's libprocess
    "work": "<agent-work-dir>",
    "launcher": "<launcher-dir>",
    "ecp": "<containerizer-path>",
    "host": "<hostname>",
    "image": "<image>",
    "agent_port": "<agent-port>",
    "libdir": "<mesos-libdir>",
}


def read_record(path: Path, message: type[Message]) -> Message:
    raw = path.read_bytes()
    (size,) = struct.unpack("=I", raw[:4])
    assert len(raw) == 4 + size, f"{path}: {len(raw)} bytes for a record of {size}"
    out = message()
    out.ParseFromString(raw[4:])
    return out


def normalized(doc: Any, values: dict[str, str]) -> Any:
    """``doc`` with each run-specific value (``values``: placeholder key -> value) replaced
    by its placeholder, longest value first."""
    pairs = sorted(((v, PLACEHOLDERS[k]) for k, v in values.items() if v), key=lambda p: -len(p[0]))
    if isinstance(doc, dict):
        return {normalized(k, values): normalized(v, values) for k, v in doc.items()}
    if isinstance(doc, list):
        return [normalized(v, values) for v in doc]
    if isinstance(doc, str):
        for value, placeholder in pairs:
            doc = doc.replace(value, placeholder)
    return doc


def shape(message: Message, values: dict[str, str]) -> Any:
    return normalized(json_format.MessageToDict(message, preserving_proto_field_name=True), values)


def recorded(record_dir: Path) -> dict[str, tuple[Message, dict[str, str]]]:
    """The first launch, update and usage call in ``record_dir``: (record, environment)."""
    kinds = {
        "launch": containerizer_pb2.Launch,
        "update": containerizer_pb2.Update,
        "usage": containerizer_pb2.Usage,
    }
    out: dict[str, tuple[Message, dict[str, str]]] = {}
    for path in sorted(record_dir.glob("*.bin")):
        command = path.stem.split("-", 1)[1]
        if command in kinds and command not in out:
            env = json.loads(path.with_name(path.stem + ".env.json").read_text())
            out[command] = (read_record(path, kinds[command]), env)
    return out


def golden_documents(
    calls: dict[str, tuple[Message, dict[str, str]]], values: dict[str, str]
) -> dict[str, Any]:
    """What the golden files hold: each call's record, and the launch's environment."""
    docs: dict[str, Any] = {name: shape(calls[name][0], values) for name in CALLS}
    docs["launch-env"] = normalized(dict(sorted(calls["launch"][1].items())), values)
    return docs


def load_golden() -> dict[str, Any]:
    return {
        name: json.loads((GOLDEN / f"{name}.json").read_text()) for name in (*CALLS, "launch-env")
    }


def write_golden(docs: dict[str, Any]) -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (GOLDEN / f"{name}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def double_documents(golden: dict[str, Any]) -> dict[str, Any]:
    """The double's calls for the golden launch's task, framework and directory, in the
    golden files' placeholders (the double is given the placeholders as its values; the
    two paths it checks for existence are temporary ones, then hidden the same way)."""
    launch = json_format.ParseDict(golden["launch"], containerizer_pb2.Launch())
    framework = json_format.ParseDict(
        {**FRAMEWORK, "id": {"value": PLACEHOLDERS["framework"]}}, mesos_pb2.FrameworkInfo()
    )
    scratch = Path(tempfile.mkdtemp(prefix="mh-golden."))
    try:
        (scratch / "libexec").mkdir()
        (scratch / "lib").mkdir()
        (scratch / "libexec/mesos-executor").touch(mode=0o755)
        (scratch / f"lib/libmesos-{MESOS_VERSION}.so").touch()
        flags = AgentFlags(
            work_dir=Path(PLACEHOLDERS["work"]),
            containerizer_path=PLACEHOLDERS["ecp"],
            launcher_dir=str(scratch / "libexec"),
            libdir=str(scratch / "lib"),
            switch_user=False,
        )
        # as mesos-agent --ip=127.0.0.1 --port=P sets them in its own environment
        agent_env = {"LIBPROCESS_IP": "127.0.0.1", "LIBPROCESS_PORT": PLACEHOLDERS["agent_port"]}
        executor = command_executor_info(framework, launch.task_info, flags)
        made, launch_env = launch_call(
            PLACEHOLDERS["container"],
            launch.task_info,
            launch_executor_info(executor, launch.task_info),
            Path(launch.directory),
            launch.user or None,
            launch.checkpoint,
            framework,
            agent_id=PLACEHOLDERS["agent"],
            agent_pid="slave(1)@" + PLACEHOLDERS["agent_endpoint"],
            flags=flags,
            agent_env=agent_env,
        )
        env = call_environment(agent_env, flags, launch_env)
    finally:
        shutil.rmtree(scratch)
    update = containerizer_pb2.Update()
    update.container_id.value = PLACEHOLDERS["container"]
    # the agent's update(executor resources + the queued task's), as Agent._update_and_run
    update.resources.extend(add_resources(executor.resources, launch.task_info.resources))
    usage = containerizer_pb2.Usage()
    usage.container_id.value = PLACEHOLDERS["container"]
    values = {"launcher": str(scratch / "libexec"), "libdir": str(scratch / "lib")}
    return {
        "launch": shape(made, values),
        "update": shape(update, values),
        "usage": shape(usage, values),
        "launch-env": normalized(dict(sorted(recorded_env(env).items())), values),
    }


def recorded_env(env: dict[str, str]) -> dict[str, str]:
    """What recording_ecp.py keeps of a call's environment."""
    return {
        k: v
        for k, v in env.items()
        if k.startswith(("MESOS_", "LIBPROCESS_")) and not k.startswith("MESOS_HYPER_")
    }
