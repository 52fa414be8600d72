"""The ECP program's answers to malformed input and to unknown containers: no VM is booted,
so these run with the rest of the quick suite (they lived in the VM-marked e2e module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mesos_hyper.proto import containerizer_pb2

ECP = [sys.executable, "-m", "mesos_hyper.containerizer.cli"]


def _ecp(tmp_path: Path, command: str, data: bytes | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MESOS_WORK_DIRECTORY": str(tmp_path)}
    return subprocess.run([*ECP, command], input=data, capture_output=True, env=env, timeout=60)


@pytest.mark.parametrize(
    ("command", "data", "needle"),
    [
        ("launch", b"", "no data"),
        ("launch", b"\x10\x00", "length"),
        ("usage", (100).to_bytes(4, sys.byteorder) + b"abc", "truncated"),
        ("usage", (1 << 31).to_bytes(4, sys.byteorder), "exceeds"),
        (
            "wait",
            (3).to_bytes(4, sys.byteorder) + b"\xff\xff\xff",
            "malformed mesos.containerizer.Wait message",
        ),
        (
            "update",
            (4).to_bytes(4, sys.byteorder) + b"\x12\x02\x08\x01",
            "malformed Update message",
        ),
        ("frobnicate", b"", "unknown command"),
    ],
)
def test_malformed_input_is_one_clear_line(
    tmp_path: Path, command: str, data: bytes, needle: str
) -> None:
    res = _ecp(tmp_path, command, data)
    assert res.returncode != 0
    err = res.stderr.decode()
    assert needle and needle.lower() in err.lower(), err
    assert err.startswith("mesos-hyper-containerizer") and err.count("\n") == 1, err


def test_unknown_container_and_empty_containers(tmp_path: Path) -> None:
    msg = containerizer_pb2.Usage()
    msg.container_id.value = "nope"
    raw = msg.SerializeToString()
    res = _ecp(tmp_path, "usage", len(raw).to_bytes(4, sys.byteorder) + raw)
    assert res.returncode != 0 and b"nope" in res.stderr
    res = _ecp(tmp_path, "containers", None)
    assert res.returncode == 0
    length = int.from_bytes(res.stdout[:4], sys.byteorder)
    assert length == len(res.stdout) - 4 == 0


def test_an_agent_with_switch_user_is_refused_unless_allowed(tmp_path: Path) -> None:
    """A 1.0.4 agent with --switch_user (the double's default, as the agent's) chowns the
    sandbox and whatever <sandbox>/stderr links to before every call: the launch fails
    with the flag to set, and nothing is started."""
    from mesos_hyper.proto import mesos_pb2
    from tests.agent_double import Agent, ECPError

    env = {**os.environ, "MESOS_HYPER_ROOT": str(tmp_path / "root")}
    agent = Agent(tmp_path, ECP, env, timeout=60)
    try:
        info = mesos_pb2.TaskInfo(name="t")
        info.task_id.value = "t"
        info.command.value = "true"
        with pytest.raises(ECPError) as caught:
            agent.launch_task(info)
        text = str(caught.value)
        assert "--switch_user=false" in text and "Traceback" not in text
        assert not (tmp_path / "root" / "containers").exists() or not any(
            (tmp_path / "root" / "containers").iterdir()
        )
    finally:
        agent.shutdown()


def _launch_record(container_id: str, directory: str) -> bytes:
    msg = containerizer_pb2.Launch()
    msg.container_id.value = container_id
    msg.directory = directory  # no executor info: the launch is refused once parsed
    raw = msg.SerializeToString()
    return len(raw).to_bytes(4, sys.byteorder) + raw


def test_a_refused_launch_ends_the_executor_it_started_early(tmp_path: Path) -> None:
    """``launch`` starts the executor before it parses the launch (executor_process.Starting):
    a launch it then refuses ends that executor before it did anything."""
    from mesos_hyper.host.owners import executors

    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    env = {**os.environ, "MESOS_WORK_DIRECTORY": str(tmp_path), "MESOS_DIRECTORY": str(sandbox)}
    res = subprocess.run(
        [*ECP, "launch"],
        input=_launch_record("refused-early", str(sandbox)),
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert res.returncode != 0 and "no executor info" in res.stderr.decode(), res.stderr
    assert (sandbox / "stderr").exists(), "the executor was not started early"
    assert (sandbox / "stderr").read_bytes() == b""
    assert not [e for e in executors() if e.container_id == "refused-early"]


def test_an_early_executor_whose_launch_died_exits_quietly(tmp_path: Path) -> None:
    """The end of its stdin without the word to go (the launch was SIGKILLed) ends it."""
    from mesos_hyper.containerizer.executor_process import Starting

    env = {**os.environ, "MESOS_HYPER_CONTAINER_ID": "orphan", "MESOS_DIRECTORY": str(tmp_path)}
    starting = Starting(tmp_path, env)
    os.close(starting._go)  # what the launch's death does
    assert starting.proc.wait(30) == 0
    assert (tmp_path / "stderr").read_bytes() == b""
