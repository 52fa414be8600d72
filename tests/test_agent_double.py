"""Proves the Mesos 1.0.4 agent double against a fake ECP and a fake executor.

The fake ECP logs exactly what it receives (argv, cwd, env, stdin bytes,
whether stdin is still open) and answers with canned records; the fake
executor speaks the v1 executor HTTP API with `requests`.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3

from mesos_hyper.proto import containerizer_pb2, mesos_pb2
from tests.agent_double import (
    Agent,
    AgentFlags,
    Call,
    ECPError,
    ECPInvoker,
    ECPTimeout,
    Event,
    ExecutorState,
    UnexpectedECPFailures,
    procs,
)
from tests.agent_double.durations import format_duration
from tests.agent_double.jsonmap import from_json, to_json

REPO = Path(__file__).resolve().parent.parent

FAKE_ECP = textwrap.dedent("""
    import json, os, select, struct, subprocess, sys, time
    from mesos_hyper.proto import containerizer_pb2 as c, mesos_pb2 as m

    state = os.environ["FAKE_ECP_DIR"]
    command = sys.argv[1]
    mode = open(os.path.join(state, "mode")).read().strip() if os.path.exists(
        os.path.join(state, "mode")) else ""
    entry = {"argv": sys.argv[1:], "cwd": os.getcwd(), "pid": os.getpid(), "ppid": os.getppid(),
             "sid": os.getsid(0), "env": dict(os.environ)}

    def log(**extra):
        entry.update(extra)
        with open(os.path.join(state, "log.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\\n")

    def read_exact(n):
        data = b""
        while len(data) < n:
            chunk = os.read(0, n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def reply(message):
        data = message.SerializeToString()
        sys.stdout.buffer.write(struct.pack("=I", len(data)) + data)
        sys.stdout.buffer.flush()

    def stdin_open():
        # A closed write end makes stdin readable (EOF); an open idle one does not.
        return not select.select([0], [], [], 0.3)[0]

    def containers_file():
        path = os.path.join(state, "containers")
        return open(path).read().split() if os.path.exists(path) else []

    if mode == f"eof-{command}":
        sys.stdin.buffer.read()  # Hangs while the agent keeps the pipe open.
        log(stdin=None)
        sys.exit(0)

    stdin = b""
    if command not in ("recover", "containers"):
        header = read_exact(4)
        stdin = header + read_exact(struct.unpack("=I", header)[0])
    sys.stderr.write(f"{command}-stderr\\n")
    sys.stderr.flush()
    fields = {"stdin": stdin.hex(), "stdin_open": stdin_open()}

    if mode == f"fail-{command}":
        sys.stderr.write("fake failure detail\\n")
        log(**fields)
        sys.exit(3)
    if command == "launch":
        launch = c.Launch.FromString(stdin[4:])
        with open(os.path.join(state, "containers"), "a") as f:
            f.write(launch.container_id.value + "\\n")
        log(**fields)
    elif command == "wait":
        cid = c.Wait.FromString(stdin[4:]).container_id.value
        child = subprocess.Popen(["sleep", "1000"])
        log(child=child.pid, **fields)
        exit_file = os.path.join(state, "exit-" + cid)
        try:
            while not os.path.exists(exit_file):
                time.sleep(0.05)
            reply(c.Termination(status=int(open(exit_file).read()), message="fake exit"))
        finally:  # stdout is gone if the agent died (restart): still clean up
            child.kill()
    elif command == "destroy":
        cid = c.Destroy.FromString(stdin[4:]).container_id.value
        waits = [json.loads(l) for l in open(os.path.join(state, "log.jsonl"))]
        waits = [w["pid"] for w in waits if w["argv"] == ["wait"]]
        alive = [p for p in waits if os.path.exists(f"/proc/{p}") and
                 open(f"/proc/{p}/stat").read().split(") ")[1][0] != "Z"]
        kept = [x for x in containers_file() if x != cid]
        open(os.path.join(state, "containers"), "w").write("\\n".join(kept) + "\\n")
        log(waits_alive=alive, **fields)
    elif command == "usage":
        if mode == "truncate-usage":
            sys.stdout.buffer.write(struct.pack("=I", 100) + b"xx")
        else:
            reply(m.ResourceStatistics(timestamp=12.5, mem_rss_bytes=4096))
        log(**fields)
    elif command == "containers":
        out = c.Containers()
        for cid in containers_file():
            out.containers.add(value=cid)
        reply(out)
        log(**fields)
    else:
        log(**fields)
""")


class FakeECP:
    """The fake ECP's state dir: mode switch, log, exit files."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "fake-ecp"
        self.dir.mkdir()
        self.script = tmp_path / "fake_ecp.py"
        self.script.write_text(FAKE_ECP)
        self.argv = [sys.executable, str(self.script)]
        self.env = dict(
            os.environ, FAKE_ECP_DIR=str(self.dir), PYTHONPATH=str(REPO), LIBPROCESS_PORT="5051"
        )

    def mode(self, mode: str) -> None:
        (self.dir / "mode").write_text(mode)

    def log(self) -> list[dict]:
        path = self.dir / "log.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def calls(self, command: str) -> list[dict]:
        return [e for e in self.log() if e["argv"] == [command]]

    def wait_for_call(self, command: str, count: int = 1, timeout: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.calls(command)) < count:
            assert time.monotonic() < deadline, f"no `{command}` call; log: {self.log()}"
            time.sleep(0.05)
        return self.calls(command)

    def exit(self, container_id: str, status: int) -> None:
        (self.dir / f"exit-{container_id}").write_text(str(status))


@pytest.fixture
def fake(tmp_path: Path) -> FakeECP:
    return FakeECP(tmp_path)


@pytest.fixture
def agent(tmp_path: Path, fake: FakeECP) -> Iterator[Agent]:
    agent = Agent(
        tmp_path, fake.argv, fake.env, timeout=15, default_container_image="busybox:latest"
    )
    yield agent
    agent.shutdown()


def command_task(task_id: str, grace_ns: int | None = None) -> mesos_pb2.TaskInfo:
    task = mesos_pb2.TaskInfo(name=task_id)
    task.task_id.value = task_id
    task.command.value = "sleep 1000"
    task.container.type = mesos_pb2.ContainerInfo.DOCKER
    task.container.docker.image = "busybox:latest"
    cpus = task.resources.add(name="cpus", type=mesos_pb2.Value.SCALAR)
    cpus.scalar.value = 0.5
    if grace_ns is not None:
        task.kill_policy.grace_period.nanoseconds = grace_ns
    return task


def stdin_message(entry: dict, cls: type) -> object:
    raw = bytes.fromhex(entry["stdin"])
    (size,) = struct.unpack("=I", raw[:4])
    assert int.from_bytes(raw[:4], sys.byteorder) == size == len(raw) - 4
    return cls.FromString(raw[4:])


def invoker(tmp_path: Path, fake: FakeECP, timeout: float = 10) -> ECPInvoker:
    flags = AgentFlags(work_dir=tmp_path / "work", containerizer_path=" ".join(fake.argv))
    return ECPInvoker(flags, "S0", "slave(1)@127.0.0.1:5051", fake.env, timeout)


# ---- ECP side -------------------------------------------------------------------


def test_launch_sends_one_native_record_and_the_executor_environment(
    agent: Agent, fake: FakeECP
) -> None:
    record = agent.launch_task(command_task("t1", grace_ns=1_500_000_000))
    (launch,) = fake.calls("launch")
    assert launch["stdin_open"] is True
    assert launch["cwd"] == str(record.directory)
    assert record.directory == (
        agent.flags.work_dir
        / "slaves"
        / agent.agent_id
        / "frameworks"
        / agent.framework_id
        / "executors"
        / "t1"
        / "runs"
        / record.container_id
    )
    message = stdin_message(launch, containerizer_pb2.Launch)
    assert message.container_id.value == record.container_id
    assert message.task_info.task_id.value == "t1"
    assert message.directory == str(record.directory)
    assert message.slave_id.value == agent.agent_id
    assert message.slave_pid == f"slave(1)@127.0.0.1:{agent.http.port}"
    assert message.checkpoint is True
    executor = message.executor_info
    assert executor.executor_id.value == "t1"
    assert executor.source == "t1"
    assert executor.name == "Command Executor (Task: t1) (Command: sh -c 'sleep 1000')"
    assert executor.container.docker.image == "busybox:latest"
    assert executor.command.value == "echo 'No such file or directory'; exit 1"
    assert executor.shutdown_grace_period.nanoseconds == 3_500_000_000
    assert {(r.name, round(r.scalar.value, 6)) for r in executor.resources} == {
        ("cpus", 0.6),
        ("mem", 32.0),
    }
    env = launch["env"]
    assert env["MESOS_FRAMEWORK_ID"] == agent.framework_id
    assert env["MESOS_EXECUTOR_ID"] == "t1"
    assert env["MESOS_DIRECTORY"] == str(record.directory)
    assert env["MESOS_SLAVE_ID"] == agent.agent_id
    assert env["MESOS_SLAVE_PID"] == agent.http.pid
    assert env["MESOS_AGENT_ENDPOINT"] == f"127.0.0.1:{agent.http.port}"
    assert env["MESOS_CHECKPOINT"] == "1"
    assert env["MESOS_HTTP_COMMAND_EXECUTOR"] == "0"
    assert env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] == "3500ms"
    assert env["MESOS_RECOVERY_TIMEOUT"] == "15mins"
    assert env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] == "2secs"
    assert env["MESOS_DEFAULT_CONTAINER_IMAGE"] == "busybox:latest"
    assert env["MESOS_LIBEXEC_DIRECTORY"] == "/usr/libexec/mesos"
    assert env["MESOS_WORK_DIRECTORY"] == str(agent.flags.work_dir)
    # mesos-agent sets its own port there; std::map::insert keeps it over the executor's 0
    assert env["LIBPROCESS_PORT"] == str(agent.http.port)
    pid_file = (
        agent.flags.work_dir
        / "meta"
        / "slaves"
        / agent.agent_id
        / "frameworks"
        / agent.framework_id
        / "executors"
        / "t1"
        / "runs"
        / record.container_id
        / "pids"
        / "forked.pid"
    )
    # The forked pid is the `sh -c` the agent ran (or the ECP if sh exec'd it).
    assert pid_file.read_text() in (str(launch["pid"]), str(launch["ppid"]))
    (wait,) = fake.wait_for_call("wait")
    assert wait["env"].get("MESOS_EXECUTOR_ID") is None  # only `launch` gets it
    assert stdin_message(wait, containerizer_pb2.Wait).container_id.value == record.container_id
    assert wait["stdin_open"] is True
    stderr = (record.directory / "stderr").read_text()
    assert stderr.startswith("launch-stderr\n")
    fake.exit(record.container_id, 0)
    agent.wait_for(lambda: record.completed)
    assert "wait-stderr\n" in (record.directory / "stderr").read_text()


def test_an_ecp_reading_stdin_to_eof_hangs_and_times_out(tmp_path: Path, fake: FakeECP) -> None:
    fake.mode("eof-launch")
    ecp = invoker(tmp_path, fake, timeout=2)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    task = command_task("t-eof")
    task.slave_id.value = "S0"
    framework = mesos_pb2.FrameworkInfo(user="root", name="f")
    framework.id.value = "F0"
    started = time.monotonic()
    with pytest.raises(ECPTimeout):
        ecp.launch("c-eof", task, None, sandbox, None, False, framework_info=framework)
    assert time.monotonic() - started >= 2
    assert fake.calls("launch") == []  # it never got past the read
    assert ecp.running() == [] and ecp.sessions_alive() == set()
    ecp.close()


def test_destroy_runs_destroy_then_sigkills_the_pending_wait_tree(
    tmp_path: Path, fake: FakeECP
) -> None:
    ecp = invoker(tmp_path, fake)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    task = command_task("t-d")
    task.slave_id.value = "S0"
    framework = mesos_pb2.FrameworkInfo(user="root", name="f")
    framework.id.value = "F0"
    ecp.launch("c-d", task, None, sandbox, None, False, framework_info=framework)
    termination = ecp.wait("c-d")
    (wait,) = fake.wait_for_call("wait")
    assert not termination.done()
    ecp.destroy("c-d")
    (destroy,) = fake.calls("destroy")
    assert destroy["waits_alive"] == [wait["pid"]]  # 1.0.4: destroy first ...
    assert termination.result(5).status == 9  # ... then SIGKILL (raw waitpid status)
    assert (
        not Path(f"/proc/{wait['child']}").exists()
        or Path(f"/proc/{wait['child']}/stat").read_text().split(") ")[1][0] == "Z"
    )
    assert [i.command for i in ecp.invocations] == ["launch", "wait", "destroy"]
    assert ecp.active() == set()
    with pytest.raises(ECPError, match="not running"):
        ecp.usage("c-d")
    ecp.close()
    assert ecp.sessions_alive() == set()


def test_recover_lists_containers_and_destroys_orphans(tmp_path: Path, fake: FakeECP) -> None:
    (fake.dir / "containers").write_text("known\norphan\n")
    ecp = invoker(tmp_path, fake)
    sandbox = tmp_path / "known-sandbox"
    sandbox.mkdir()
    result = ecp.recover({"known": (sandbox, None), "gone": (tmp_path, None)})
    assert result.recovered == {"known"}
    assert result.orphans == {"orphan"}
    assert result.orphan_terminations["orphan"].status == 9
    assert [(i.command, i.container_id) for i in ecp.invocations] == [
        ("recover", None),
        ("containers", None),
        ("wait", "orphan"),
        ("destroy", "orphan"),
    ]
    recover, containers = fake.calls("recover")[0], fake.calls("containers")[0]
    for entry in (recover, containers):
        assert entry["stdin"] == "" and entry["stdin_open"] is True
        assert entry["cwd"] == os.getcwd()  # no sandbox for these calls
    assert fake.calls("destroy")[0]["cwd"] == os.getcwd()  # orphans have no sandbox
    assert ecp.active() == {"known"}
    assert not (sandbox / "stderr").exists()  # sandbox-less calls: stderr to /dev/null
    ecp.destroy("known")
    ecp.close()


def test_usage_update_and_failures(tmp_path: Path, fake: FakeECP) -> None:
    ecp = invoker(tmp_path, fake)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    task = command_task("t-u")
    task.slave_id.value = "S0"
    framework = mesos_pb2.FrameworkInfo(user="root", name="f")
    framework.id.value = "F0"
    ecp.launch("c-u", task, None, sandbox, None, False, framework_info=framework)
    stats = ecp.usage("c-u")
    assert stats.timestamp == 12.5 and stats.mem_rss_bytes == 4096
    ecp.update("c-u", list(task.resources))
    update = stdin_message(fake.calls("update")[0], containerizer_pb2.Update)
    assert update.container_id.value == "c-u" and update.resources[0].name == "cpus"
    fake.mode("truncate-usage")
    with pytest.raises(ECPError, match="hit EOF unexpectedly"):
        ecp.usage("c-u")
    fake.mode("fail-update")
    with pytest.raises(ECPError, match="exited with status 3") as failure:
        ecp.update("c-u", [])
    assert "fake failure detail" in failure.value.stderr_tail
    fake.mode("")
    ecp.destroy("c-u")
    ecp.close()


def test_failed_launch_fails_the_task(agent: Agent, fake: FakeECP) -> None:
    fake.mode("fail-launch")
    with pytest.raises(ECPError, match="fake failure detail"):
        agent.launch_task(command_task("t-fail"))
    status = agent.wait_for_state("t-fail", mesos_pb2.TASK_FAILED)
    assert status.source == mesos_pb2.TaskStatus.SOURCE_SLAVE
    assert status.reason == mesos_pb2.TaskStatus.REASON_CONTAINER_LAUNCH_FAILED
    assert status.message.startswith("Failed to launch container: ")
    assert fake.calls("wait") == [] and fake.calls("destroy") == []


def _running_agent(tmp_path: Path, fake: FakeECP, task_id: str) -> tuple[Agent, str]:
    agent = Agent(tmp_path, fake.argv, fake.env, timeout=15)
    record = agent.launch_task(command_task(task_id))
    fake.wait_for_call("wait")
    return agent, record.container_id


def test_a_failed_destroy_fails_the_shutdown_unless_expected(tmp_path: Path, fake: FakeECP) -> None:
    fake.mode("fail-destroy")
    agent, container_id = _running_agent(tmp_path / "a", fake, "t-fd")
    with pytest.raises(UnexpectedECPFailures, match=f"destroy {container_id}: .*status 3"):
        agent.shutdown()
    assert "fake failure detail" in agent.errors[0]  # the ECP's stderr tail, as the log has

    agent, container_id = _running_agent(tmp_path / "b", fake, "t-fd2")
    expected = agent.expect_failure("destroy", "exited with status 3", container_id)
    agent.shutdown()  # declared: no error
    assert [f.container_id for f in expected.seen] == [container_id]


def test_a_failed_wait_fails_the_shutdown(tmp_path: Path, fake: FakeECP) -> None:
    fake.mode("fail-wait")
    agent = Agent(tmp_path, fake.argv, fake.env, timeout=15)
    record = agent.launch_task(command_task("t-fw"))
    status = agent.wait_for_state("t-fw", mesos_pb2.TASK_FAILED)
    assert status.message == "Abnormal executor termination"
    with pytest.raises(UnexpectedECPFailures, match=f"wait {record.container_id}: "):
        agent.shutdown()


def test_a_failed_orphan_destroy_is_logged_and_recovery_goes_on(
    tmp_path: Path, fake: FakeECP
) -> None:
    (fake.dir / "containers").write_text("orphan\n")
    fake.mode("fail-destroy")
    ecp = invoker(tmp_path, fake)
    result = ecp.recover({})
    assert result.orphans == {"orphan"}
    assert result.orphan_terminations["orphan"].status == 9  # unwait still SIGKILLs the wait
    assert [(f.command, f.container_id) for f in ecp.failures] == [("destroy", "orphan")]
    ecp.close()


def test_killtree_stops_each_process_before_listing_its_children(tmp_path: Path) -> None:
    """A shell forking all the time: nothing it forks escapes (stout stops, then walks)."""
    spawner = subprocess.Popen(
        ["sh", "-c", "while :; do sleep 1000 & sleep 0.01; done"], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 10
        while len(procs.session_members(spawner.pid)) < 10:
            assert time.monotonic() < deadline, "the spawner did not fork"
            time.sleep(0.05)
        killed = procs.killtree(spawner.pid)
        assert spawner.pid in killed and len(killed) >= 10
        spawner.wait(10)
        assert procs.wait_gone(procs.session_members(spawner.pid), time.monotonic() + 10) == set()
        assert procs.session_members(spawner.pid) == set()
    finally:
        for pid in procs.session_members(spawner.pid):
            os.kill(pid, signal.SIGKILL)
        spawner.kill()
        spawner.wait()


def test_wait_gone_returns_when_the_process_exits_not_at_the_deadline() -> None:
    quick = subprocess.Popen(["sleep", "0.2"])
    stuck = subprocess.Popen(["sleep", "1000"])
    try:
        started = time.monotonic()
        assert procs.wait_gone([quick.pid], started + 30) == set()
        assert time.monotonic() - started < 10
        assert procs.wait_gone([stuck.pid], time.monotonic() + 0.3) == {stuck.pid}
    finally:
        stuck.kill()
        stuck.wait()
        quick.wait()


def test_duration_format_matches_stout() -> None:
    assert format_duration(5_000_000_000) == "5secs"
    assert format_duration(3_500_000_000) == "3500ms"
    assert format_duration(15 * 60 * 10**9) == "15mins"
    assert format_duration(90 * 10**9) == "90secs"
    assert format_duration(1500) == "1500ns"
    assert format_duration(2 * 3600 * 10**9) == "2hrs"


# ---- HTTP side ------------------------------------------------------------------


class V1Executor:
    """A minimal v1 HTTP executor (the thing the ECP would start in the VM)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = f"http://{env['MESOS_AGENT_ENDPOINT']}/api/v1/executor"
        self.ids = {
            "framework_id": {"value": env["MESOS_FRAMEWORK_ID"]},
            "executor_id": {"value": env["MESOS_EXECUTOR_ID"]},
        }
        self.response: requests.Response | None = None

    def post(self, body: dict, **headers: str) -> requests.Response:
        headers = {"Content-Type": "application/json", **headers}
        return requests.post(self.url, data=json.dumps(body), headers=headers, timeout=10)

    def subscribe(self, **subscribe: list) -> requests.Response:
        body = {**self.ids, "type": "SUBSCRIBE", "subscribe": subscribe}
        self.response = requests.post(
            self.url,
            data=json.dumps(body),
            stream=True,
            timeout=10,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        return self.response

    def next_event(self) -> dict:
        assert self.response is not None
        raw = self.response.raw
        length = b""
        while not length.endswith(b"\n"):
            byte = raw.read(1)
            assert byte, "stream ended"
            length += byte
        return json.loads(raw.read(int(length)))

    def status(self, task_id: str, state: str, uid: bytes | None = None) -> dict:
        status: dict = {
            "task_id": {"value": task_id},
            "state": state,
            "source": "SOURCE_EXECUTOR",
            **{k: v for k, v in self.ids.items() if k == "executor_id"},
        }
        if uid is not None:
            status["uuid"] = base64.b64encode(uid).decode()
        return status

    def update(self, task_id: str, state: str, uid: bytes | None = None) -> requests.Response:
        return self.post(
            {**self.ids, "type": "UPDATE", "update": {"status": self.status(task_id, state, uid)}}
        )


def test_subscribe_launch_update_ack_kill(agent: Agent, fake: FakeECP) -> None:
    record = agent.launch_task(command_task("t-http"))
    executor = V1Executor(fake.calls("launch")[0]["env"])
    response = executor.subscribe()
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Transfer-Encoding"] == "chunked"
    subscribed = executor.next_event()
    assert subscribed["type"] == "SUBSCRIBED"
    assert subscribed["subscribed"]["executor_info"]["executor_id"] == {"value": "t-http"}
    assert subscribed["subscribed"]["agent_info"]["id"] == {"value": agent.agent_id}
    assert subscribed["subscribed"]["framework_info"]["id"] == {"value": agent.framework_id}
    assert subscribed["subscribed"]["framework_info"]["role"] == "*"  # stout prints defaults
    launch = executor.next_event()
    assert launch["type"] == "LAUNCH"
    assert launch["launch"]["task"]["task_id"] == {"value": "t-http"}
    assert launch["launch"]["task"]["agent_id"] == {"value": agent.agent_id}
    update = stdin_message(fake.calls("update")[0], containerizer_pb2.Update)
    assert {(r.name, round(r.scalar.value, 6)) for r in update.resources} == {
        ("cpus", 0.6),
        ("mem", 32.0),
    }  # `update` before LAUNCH, executor + task
    uid = uuid.uuid4().bytes
    assert executor.update("t-http", "TASK_RUNNING", uid).status_code == 202
    ack = executor.next_event()
    assert ack == {
        "type": "ACKNOWLEDGED",
        "acknowledged": {"task_id": {"value": "t-http"}, "uuid": base64.b64encode(uid).decode()},
    }
    running = agent.wait_for_state("t-http", mesos_pb2.TASK_RUNNING)
    assert running.uuid == uid and running.slave_id.value == agent.agent_id
    assert running.source == mesos_pb2.TaskStatus.SOURCE_EXECUTOR
    assert agent.updates("t-http")[0].acknowledged
    agent.send_message("t-http", b"\x00hi")
    assert executor.next_event() == {"type": "MESSAGE", "message": {"data": "AGhp"}}
    assert (
        executor.post({**executor.ids, "type": "MESSAGE", "message": {"data": "AAE="}}).status_code
        == 202
    )
    agent.wait_for(lambda: agent.messages == [("t-http", b"\x00\x01")])
    agent.kill_task("t-http", grace=2.5)
    assert executor.next_event() == {
        "type": "KILL",
        "kill": {
            "task_id": {"value": "t-http"},
            "kill_policy": {"grace_period": {"nanoseconds": 2_500_000_000}},
        },
    }
    assert executor.update("t-http", "TASK_KILLED", uuid.uuid4().bytes).status_code == 202
    assert executor.next_event()["type"] == "ACKNOWLEDGED"
    shrink = stdin_message(fake.calls("update")[1], containerizer_pb2.Update)
    assert {(r.name, round(r.scalar.value, 6)) for r in shrink.resources} == {
        ("cpus", 0.1),
        ("mem", 32.0),
    }  # terminal update: back to executor resources
    fake.exit(record.container_id, 0)
    agent.wait_for(lambda: record.completed)
    assert [u.status.state for u in agent.updates("t-http")] == [
        mesos_pb2.TASK_RUNNING,
        mesos_pb2.TASK_KILLED,
    ]
    response.close()


def test_malformed_calls_are_rejected_like_1_0_4(agent: Agent, fake: FakeECP) -> None:
    agent.launch_task(command_task("t-bad"))
    executor = V1Executor(fake.calls("launch")[0]["env"])
    running = executor.update("t-bad", "TASK_RUNNING", uuid.uuid4().bytes)
    assert running.status_code == 403  # not subscribed yet: Forbidden in 1.0.4
    assert requests.get(executor.url, timeout=5).status_code == 405
    no_type = requests.post(executor.url, data="{}", timeout=5)
    assert no_type.status_code == 400 and "Content-Type" in no_type.text
    assert executor.post({}, **{"Content-Type": "text/plain"}).status_code == 415
    bad_json = requests.post(
        executor.url, data="{", timeout=5, headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    missing = executor.post({"type": "SUBSCRIBE", "subscribe": {}})
    assert missing.status_code == 400 and "Missing required fields" in missing.text
    stranger = executor.post(
        {**executor.ids, "executor_id": {"value": "nope"}, "type": "SUBSCRIBE", "subscribe": {}}
    )
    assert stranger.status_code == 400 and stranger.text == "Executor cannot be found"
    refused = executor.post(
        {**executor.ids, "type": "SUBSCRIBE", "subscribe": {}}, Accept="text/html"
    )
    assert refused.status_code == 406
    executor.subscribe()
    assert executor.next_event()["type"] == "SUBSCRIBED"
    no_uuid = executor.update("t-bad", "TASK_RUNNING")
    assert no_uuid.status_code == 400 and "Expecting 'uuid' to be present" in no_uuid.text
    bad_uuid = executor.update("t-bad", "TASK_RUNNING", b"short")
    assert bad_uuid.status_code == 400 and "Not a valid UUID" in bad_uuid.text
    staging = executor.update("t-bad", "TASK_STAGING", uuid.uuid4().bytes)
    assert staging.status_code == 400 and "TASK_STAGING" in staging.text
    assert agent.updates("t-bad") == []
    assert executor.response is not None
    executor.response.close()


def test_restart_recovers_and_takes_unacknowledged_updates(agent: Agent, fake: FakeECP) -> None:
    record = agent.launch_task(command_task("t-r"))
    executor = V1Executor(fake.calls("launch")[0]["env"])
    stream = executor.subscribe()
    assert executor.next_event()["type"] == "SUBSCRIBED"
    assert executor.next_event()["type"] == "LAUNCH"
    old_wait = fake.wait_for_call("wait")[0]
    result = agent.restart()
    with pytest.raises(urllib3.exceptions.ProtocolError):
        executor.next_event()  # the stream died with the agent, no last chunk
    stream.close()
    assert result.recovered == {record.container_id} and result.orphans == set()
    commands = [e["argv"][0] for e in fake.log()]
    assert commands[-3:-1] == ["recover", "containers"] or commands[-2:] == [
        "recover",
        "containers",
    ]
    fake.wait_for_call("wait", 2)
    assert agent.executor("t-r").state == ExecutorState.REGISTERING
    assert executor.update("t-r", "TASK_RUNNING", uuid.uuid4().bytes).status_code == 503
    uid = uuid.uuid4().bytes
    unacked = {"status": executor.status("t-r", "TASK_RUNNING", uid)}
    task = to_json(
        mesos_pb2.TaskInfo(
            name="t-r",
            task_id=mesos_pb2.TaskID(value="t-r"),
            slave_id=mesos_pb2.SlaveID(value=agent.agent_id),
        )
    )
    executor.subscribe(unacknowledged_updates=[unacked], unacknowledged_tasks=[task])
    assert executor.next_event()["type"] == "SUBSCRIBED"
    ack = executor.next_event()
    assert (
        ack["type"] == "ACKNOWLEDGED"
        and ack["acknowledged"]["uuid"] == base64.b64encode(uid).decode()
    )
    assert agent.wait_for_state("t-r", mesos_pb2.TASK_RUNNING).uuid == uid
    assert len(agent.executor("t-r").subscribe_calls) == 2
    assert Path(f"/proc/{old_wait['pid']}").exists()  # the old `wait` outlived the agent
    agent.wait_for(lambda: not agent.recovering(), timeout=5)
    fake.exit(record.container_id, 0)
    agent.wait_for(lambda: record.completed)
    assert executor.response is not None
    executor.response.close()


def test_json_mapping_uses_v1_names_and_stout_rules() -> None:
    status = mesos_pb2.TaskStatus(
        state=mesos_pb2.TASK_LOST,
        uuid=b"\x01\x02",
        source=mesos_pb2.TaskStatus.SOURCE_SLAVE,
        reason=mesos_pb2.TaskStatus.REASON_SLAVE_RESTARTED,
    )
    status.task_id.value = "t"
    status.slave_id.value = "S0"
    out = to_json(status)
    assert out == {
        "task_id": {"value": "t"},
        "state": "TASK_LOST",
        "source": "SOURCE_AGENT",
        "reason": "REASON_AGENT_RESTARTED",
        "agent_id": {"value": "S0"},
        "uuid": "AQI=",
    }
    back = from_json({**out, "slave_id": {"value": "ignored"}, "extra": 1}, mesos_pb2.TaskStatus)
    assert back == status
    with pytest.raises(ValueError, match="Missing required fields"):
        from_json({"state": "TASK_LOST"}, mesos_pb2.TaskStatus)


def test_protobuf_subscribe_and_graceful_executor_shutdown(tmp_path: Path, fake: FakeECP) -> None:
    agent = Agent(
        tmp_path, fake.argv, fake.env, timeout=15, executor_shutdown_grace_period_ns=1_000_000_000
    )
    try:
        record = agent.launch_task(command_task("t-pb"))
        executor = V1Executor(fake.calls("launch")[0]["env"])
        call = Call(type=Call.SUBSCRIBE)
        call.framework_id.value = agent.framework_id
        call.executor_id.value = "t-pb"
        call.subscribe.SetInParent()
        response = requests.post(
            executor.url.replace("/api/", "/slave(1)/api/"),
            data=call.SerializeToString(),
            stream=True,
            timeout=10,
            headers={"Content-Type": "application/x-protobuf", "Accept": "application/x-protobuf"},
        )
        assert response.headers["Content-Type"] == "application/x-protobuf"
        executor.response = response

        def next_event() -> Event:
            length = b""
            while not length.endswith(b"\n"):
                length += response.raw.read(1)
            return Event.FromString(response.raw.read(int(length)))

        assert next_event().subscribed.agent_info.id.value == agent.agent_id
        assert next_event().launch.task.task_id.value == "t-pb"
        assert executor.update("t-pb", "TASK_RUNNING", uuid.uuid4().bytes).status_code == 202
        assert next_event().type == Event.ACKNOWLEDGED
        started = time.monotonic()
        agent.shutdown_executor("t-pb")
        assert next_event().type == Event.SHUTDOWN
        failed = agent.wait_for_state("t-pb", mesos_pb2.TASK_FAILED, timeout=10)
        assert time.monotonic() - started >= 1.0  # destroy only after the grace period
        assert failed.source == mesos_pb2.TaskStatus.SOURCE_SLAVE
        assert failed.reason == mesos_pb2.TaskStatus.REASON_EXECUTOR_TERMINATED
        assert failed.message == "Executor terminated"
        assert record.termination is not None and record.termination.result().status == 9
        response.close()
    finally:
        agent.shutdown()


def test_the_double_makes_the_calls_a_real_agent_made():
    """The golden files were recorded from a real 1.0.4 agent for a command task
    (tests/test_real_mesos.py); the double must build the same Launch (its ExecutorInfo
    included), environment, Update and Usage from the same task and framework."""
    from tests.real_mesos import golden

    recorded = golden.load_golden()
    made = golden.double_documents(recorded)
    for name, doc in recorded.items():
        assert made[name] == doc, name
