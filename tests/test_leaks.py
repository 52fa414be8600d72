"""The leak check itself: it names what a test left behind, and only that (no VM booted)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mesos_hyper.state import StateStore, Termination
from tests.agent_double import Agent
from tests.leaks import LeakCheck, is_executor, process_probe
from vmctl.network.netns import nsenter_prefix

FAKE_EXECUTOR = "import sys, time\ntime.sleep(float(sys.argv[1]))\n"


def test_what_a_root_holds_is_named_once_and_what_was_there_before_is_not(
    tmp_path: Path,
) -> None:
    root, state, run = tmp_path / "root", tmp_path / "work" / "mesos-hyper", tmp_path / "run"
    (root / "containers" / "older").mkdir(parents=True)
    check = LeakCheck([])
    check.watch_root(root)
    check.watch_root(root)  # once however often named
    check.watch_state(state)
    check.watch_run_dir(run)
    check.check()  # nothing changed: quiet

    (root / "containers" / "c1").mkdir()
    (root / "net" / "leases").mkdir(parents=True)
    (root / "net" / "leases" / "10.213.0.5").write_text("c1\n")
    store = StateStore(state)
    store.create("c1")
    store.create("c2")
    store.mark_terminated("c2", Termination(status=9, state="TASK_KILLED"))
    (run / "exec").mkdir(parents=True)
    (run / "exec" / "c1.sock").touch()
    with pytest.raises(AssertionError) as raised:
        check.check()
    lines = str(raised.value).splitlines()[1:]
    assert sorted(line.strip() for line in lines) == sorted(
        [
            f"address leases in {root / 'net' / 'leases'}: 10.213.0.5 (container c1)",
            f"exec sockets in {run / 'exec'}: c1.sock",
            f"live container records in {state}: c1 (launching)",
            f"overlays in {root / 'containers'}: c1",
        ]
    )
    check.check()  # reported already: the fixture's final check does not repeat it


def test_watch_agent_covers_the_agents_root_run_dir_and_state_store(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MESOS_HYPER_ROOT": str(tmp_path / "root"),
        "MESOS_HYPER_RUN_DIR": str(tmp_path / "run"),
    }
    agent = Agent(tmp_path, ["false"], env)
    try:
        check = LeakCheck([])
        check.watch_agent(agent)
        StateStore(agent.flags.work_dir / "mesos-hyper").create("mine")
        (tmp_path / "root" / "containers" / "mine").mkdir(parents=True)
        (tmp_path / "run" / "exec").mkdir(parents=True)
        (tmp_path / "run" / "exec" / "mine.sock").touch()
        with pytest.raises(AssertionError) as raised:
            check.check()
        assert str(raised.value).count("mine") == 3
    finally:
        agent.close()


def _fake_executor(tmp_path: Path, marker: str, seconds: float) -> subprocess.Popen:
    """A real ``python -m mesos_hyper.executor`` command line that only sleeps."""
    package = tmp_path / "fake" / "mesos_hyper" / "executor"
    package.mkdir(parents=True, exist_ok=True)
    (package.parent / "__init__.py").touch()
    (package / "__init__.py").touch()
    (package / "__main__.py").write_text(FAKE_EXECUTOR)
    argv = [sys.executable, "-m", "mesos_hyper.executor", str(seconds), marker]
    proc = subprocess.Popen(argv, cwd=package.parent.parent, env={"PATH": os.environ["PATH"]})
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 10
    while marker.encode() not in cmdline.read_bytes():  # empty for a moment after exec
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    return proc


def test_an_executor_left_running_is_named_and_one_exiting_is_waited_for(
    tmp_path: Path,
) -> None:
    marker = f"leak-test-{uuid.uuid4().hex}".encode()
    mine = {"executor processes": lambda argv: is_executor(argv) and marker in argv}
    check = LeakCheck([process_probe(mine)], grace_s=0.5)
    stuck = _fake_executor(tmp_path, marker.decode(), 1000)
    try:
        with pytest.raises(AssertionError, match=f"executor processes: pid {stuck.pid}: .*"):
            check.check()
    finally:
        stuck.kill()
        stuck.wait()

    check = LeakCheck([process_probe(mine)], grace_s=60)
    exiting = _fake_executor(tmp_path, marker.decode(), 1.5)
    started = time.monotonic()
    try:
        check.check()  # woken by its pidfd when it exits, not at the grace's end
        assert time.monotonic() - started < 30
    finally:
        exiting.kill()
        exiting.wait()


def test_is_executor_reads_the_module_not_the_environment() -> None:
    assert is_executor([b"/venv/bin/python3", b"-I", b"-m", b"mesos_hyper.executor"])
    assert not is_executor([b"python3", b"-m", b"mesos_hyper.containerizer.cli", b"wait"])
    assert not is_executor([b"grep", b"mesos_hyper.executor"])


def _nft(netns: str, script: str) -> None:
    cmd = [*nsenter_prefix(netns), "nft", "-f", "-"]
    subprocess.run(cmd, input=script + "\n", text=True, check=True, timeout=30)


def test_nft_rules_sets_and_foreign_tables_in_the_pod_namespace_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyroute2 import netns

    from tests.leaks import network_probe

    name = f"mh-leaktest-{uuid.uuid4().hex[:8]}"  # a namespace of its own, removed after
    netns.create(name)
    try:
        monkeypatch.setenv("MESOS_HYPER_NETNS", name)
        _nft(name, "add table inet mesos_hyper")
        _nft(name, "add chain inet mesos_hyper forward { type filter hook forward priority 0; }")
        check = LeakCheck([network_probe])  # the base table is no leak: it is kept
        _nft(
            name,
            'add rule inet mesos_hyper forward iifname "mht0" drop comment "mh:leaky"\n'
            "add set inet mesos_hyper fw_0123 { type ifname; }\n"
            "add table inet someone_elses\n",
        )
        with pytest.raises(AssertionError) as raised:
            check.check()
        text = str(raised.value)
        assert "nft rules: inet mesos_hyper forward handle" in text and "(mh:leaky)" in text
        assert "nft sets: inet mesos_hyper fw_0123 []" in text
        assert "nft tables: table inet someone_elses" in text
    finally:
        netns.remove(name)
