"""``ps``, ``inspect``, ``logs`` and ``stats`` on real pods: a Mesos task through the agent
double, and a ``mesos-hyper run`` pod; and the log reader against hostile files."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mesos_hyper.errors import HyperError
from mesos_hyper.observe import logs
from mesos_hyper.proto import mesos_pb2
from mesos_hyper.state import StateStore, Termination
from tests.agent_double import Agent
from tests.registry_fixtures import registry  # noqa: F401
from tests.test_ecp_e2e import agent, busybox_layer, image, task  # noqa: F401
from tests.test_network_e2e import _bridge
from tests.test_run_cli import image_root  # noqa: F401

CLI = [sys.executable, "-m", "mesos_hyper.cli"]
TALKER = "i=0; while :; do echo line-$i; echo err-$i >&2; i=$((i+1)); sleep 0.2; done"


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout}s")


@pytest.mark.vm
def test_ps_inspect_logs_and_stats_see_a_mesos_task(agent: Agent, image):  # noqa: F811
    info = task("talker", image, TALKER)
    _bridge(info, 31876, 80)
    record = agent.launch_task(info)
    agent.wait_for_state("talker", mesos_pb2.TASK_RUNNING, timeout=120)
    cid, env = record.container_id, agent.env

    # ps: the task, its framework and executor, the VM, the address and the host port
    listed = cli(env, "ps", "--no-trunc")
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith(cid)]
    assert "talker:running" in row and "running/running" in row and "tcp/31876" in row, row
    assert cid in cli(env, "ps", "-q").stdout.split()
    docs = json.loads(cli(env, "ps", "--format", "json").stdout)
    (doc,) = [d for d in docs if d["id"] == cid]
    assert [(t["task_id"], t["state"]) for t in doc["tasks"]] == [("talker", "TASK_RUNNING")]
    assert doc["origin"] == "mesos" and doc["domain"] == agent.vm_name(cid)
    assert doc["executor_id"] == "talker" and doc["framework_id"]
    assert doc["address"] and doc["host_ports"] == ["tcp/31876"]
    assert doc["cpu_seconds"] > 0 and doc["mem_rss_bytes"] > 1 << 20

    # inspect: record, limits, VM, network, overlays, sandbox, executor
    shown = cli(env, "inspect", cid[:8])
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["record"]["status"] == "running" and detail["sandbox"] == str(record.directory)
    assert detail["limits"]["cpus"] >= 0.5 and detail["limits"]["mem_mb"] >= 64
    assert detail["domain"]["name"] == agent.vm_name(cid)
    assert detail["domain"]["vcpus"]["current"] >= 1
    assert detail["overlays"] and all(Path(p).is_file() for p in detail["overlays"])
    assert detail["network"]["address"] == doc["address"]
    assert detail["network"]["tap"] in {i["tap"] for i in detail["domain"]["interfaces"]}
    assert detail["executor"]["alive"] is True and detail["executor"]["pid"] > 0
    assert cli(env, "inspect", "no-such-pod").returncode != 0

    # logs: the last lines of each stream, to our own stdout and stderr; by task id too
    tail = cli(env, "logs", "--tail", "3", cid)
    assert tail.returncode == 0, tail.stderr
    lines = tail.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("line-") for line in lines), lines
    assert "err-" in tail.stderr and "line-" not in tail.stderr
    assert cli(env, "logs", "--task", "talker", "--tail", "1").stdout.startswith("line-")

    # stats: live figures, plain once on a pipe
    stats = cli(env, "stats", "--no-stream", "--format", "json", cid)
    (figures,) = json.loads(stats.stdout)
    assert figures["cpu_percent"] is not None and figures["mem_rss_bytes"] > 1 << 20
    assert figures["disk_used_bytes"] > 0 and "net_rx_bytes" in figures
    table = cli(env, "stats", cid).stdout.splitlines()
    assert table[0].startswith("CONTAINER") and table[1].startswith(cid) and len(table) == 2
    shown = _on_a_terminal(env, "stats", "--interval", "0.5", cid, seconds=4.0)
    assert shown.count(b"\033[H\033[2J") >= 2, shown  # redrawn, not appended
    assert shown.count(cid.encode()) >= 2

    # logs -f: new lines as they come, and it ends by itself when the pod does
    follow = subprocess.Popen(
        [*CLI, "logs", "-f", "--tail", "0", cid],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first = follow.stdout.readline()
        second = follow.stdout.readline()
        assert first.startswith("line-") and second.startswith("line-")
        assert int(second[5:]) == int(first[5:]) + 1
        agent.kill_task("talker")
        agent.wait_for_state("talker", mesos_pb2.TASK_KILLED, timeout=60)
        follow.wait(timeout=60)
        assert follow.returncode == 0
    finally:
        follow.kill()
        follow.wait()
    agent.wait_for(lambda: record.completed, timeout=60)
    # ended: gone from ps, still there for ps -a while the record is kept
    assert cid not in cli(env, "ps", "-q").stdout.split()


@pytest.mark.vm
def test_ps_inspect_logs_and_stats_see_a_run_pod(image_root, image, no_leaks):  # noqa: F811
    from mesos_hyper.config import Paths

    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": str(image_root),
        "MESOS_HYPER_GUEST_DIR": str(Paths.from_env().guest),
    }
    name = f"obs-{os.getpid()}"
    run = subprocess.Popen(
        [*CLI, "run", "--name", name, image, "sh", "-c", "echo hi; exec sleep 300"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert run.stdout.readline() == b"hi\n"
        docs = json.loads(cli(env, "ps", "--format", "json").stdout)
        (doc,) = [d for d in docs if d["id"] == name]
        assert doc["origin"] == "run" and doc["status"] == "running" and doc["image"] == image
        detail = json.loads(cli(env, "inspect", name).stdout)
        assert detail["domain"]["state"] == "running" and detail["record"] is None
        # logs: the copy of what run streams; exec: as docker exec, into the run's container
        shown = cli(env, "logs", name)
        assert shown.returncode == 0 and shown.stdout == "hi\n", shown.stderr
        execd = cli(env, "exec", name, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
        assert (execd.returncode, execd.stdout, execd.stderr) == (3, "out\n", "err\n")
        piped = subprocess.run(
            [*CLI, "exec", "-i", name[:6], "--", "wc", "-c"],
            env=env,
            input=b"x" * 100_000,
            capture_output=True,
            timeout=60,
        )
        assert piped.returncode == 0 and piped.stdout.split() == [b"100000"], piped.stderr
        twin = cli(env, "run", "--name", name, image, "true")
        assert twin.returncode != 0 and "runs already" in twin.stderr
        console = cli(env, "logs", "--console", name)
        assert console.returncode == 0, console.stderr
        (figures,) = json.loads(cli(env, "stats", "--format", "json", name).stdout)
        assert figures["mem_rss_bytes"] > 1 << 20
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
    assert name not in cli(env, "ps", "-q").stdout.split()
    assert not (image_root / "run-logs" / name).exists()


def _on_a_terminal(env: dict[str, str], *args: str, seconds: float) -> bytes:
    """What a command shows on a pseudo-terminal in ``seconds``, then Ctrl-C (it must
    exit 0 on it)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=follower, stderr=follower)
    os.close(follower)
    shown, deadline = b"", time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if select.select([leader], [], [], 0.2)[0]:
                shown += os.read(leader, 65536)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(leader)
    return shown


def test_ps_shows_a_launching_container_that_has_no_vm_yet(tmp_path):
    store = StateStore(tmp_path / "agent" / "mesos-hyper")
    store.create("starting-1", sandbox=str(tmp_path / "sandbox"))
    env = {**os.environ, "MESOS_HYPER_RUN_DIR": str(tmp_path / "run")}
    res = cli(env, "ps", "--no-trunc", "--state-root", str(store.root))
    assert res.returncode == 0, res.stderr
    (row,) = [line for line in res.stdout.splitlines() if line.startswith("starting-1")]
    assert "launching/none" in row, row
    detail = json.loads(cli(env, "inspect", "starting-1", "--state-root", str(store.root)).stdout)
    assert detail["record"]["status"] == "launching" and detail["domain"] is None
    assert detail["sandbox"] == str(tmp_path / "sandbox")
    store.mark_terminated("starting-1", Termination())
    assert "starting-1" not in cli(env, "ps", "-q", "--state-root", str(store.root)).stdout
    assert "starting-1" in cli(env, "ps", "-a", "-q", "--state-root", str(store.root)).stdout


def _file(tmp_path: Path, name: str, data: bytes) -> int:
    (tmp_path / name).write_bytes(data)
    fd = logs.open_guest_file(tmp_path, name)
    assert fd is not None
    return fd


@pytest.mark.parametrize(
    ("data", "lines", "want"),
    [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 2, b"b\nc"),
        (b"a\nb\nc\n", 10, b"a\nb\nc\n"),
        (b"a\nb\nc\n", 0, b""),
        (b"", 3, b""),
        (b"x" * 200_000 + b"\nlast\n", 1, b"last\n"),
        (b"".join(b"%d\n" % i for i in range(50_000)), 2, b"49998\n49999\n"),
    ],
)
def test_tail_offset_finds_the_last_lines(tmp_path, data, lines, want):
    fd = _file(tmp_path, "f", data)
    try:
        sink = io.BytesIO()
        logs.copy_new(logs.Source(fd, sink, clean=False), logs.tail_offset(fd, lines))
        assert sink.getvalue() == want
    finally:
        os.close(fd)


def test_what_a_guest_wrote_cannot_drive_the_terminal(tmp_path):
    fd = _file(tmp_path, "f", b"ok\x1b[2J\x1b]0;title\x07\r\n\tend\xc2\x9b\n")
    try:
        sink = io.BytesIO()
        logs.copy_new(logs.Source(fd, sink, clean=True), 0)
        assert sink.getvalue() == b"ok?[2J?]0;title??\n\tend?\n"
    finally:
        os.close(fd)


def test_links_and_non_files_a_guest_planted_are_refused(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("host file")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "stdout").symlink_to(secret)
    os.mkfifo(sandbox / "stderr")
    for name in ("stdout", "stderr"):
        with pytest.raises(HyperError, match="refused"):
            logs.open_guest_file(sandbox, name)
    assert logs.open_guest_file(sandbox, "missing") is None
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "link-to-dir"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(HyperError):
        logs.open_guest_file(link, "stdout")
