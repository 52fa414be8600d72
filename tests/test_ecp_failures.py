"""The ECP's failure paths: a cleanup that raises never leaves a wait without its
Termination, destroy and recover say what they could not do, records do not pile up, and
net teardown keeps the lease while the tap or rules are still there."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mesos_hyper.containerizer import ecp, recordio
from mesos_hyper.errors import HyperError, VMError
from mesos_hyper.proto import containerizer_pb2
from mesos_hyper.state import StateStore, Status, Termination


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    monkeypatch.setenv("MESOS_WORK_DIRECTORY", str(tmp_path))
    return ecp._store()


def _dead_pid() -> tuple[int, int]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid, 1  # a start time that no live process of that pid has


def _message(kind: type, container_id: str) -> io.BytesIO:
    msg = kind()
    msg.container_id.value = container_id
    raw = msg.SerializeToString()
    return io.BytesIO(len(raw).to_bytes(4, sys.byteorder) + raw)


def _broken_cleanup(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def destroy_by_name(name: str) -> bool:
        calls.append(name)
        raise VMError("cannot reach libvirtd")

    def cleanup(container_id: str) -> None:
        raise OSError("netlink said no")

    monkeypatch.setattr("vmctl.lifecycle.destroy_by_name", destroy_by_name)
    monkeypatch.setattr("isolators.cleanup", cleanup)
    return calls


def test_wait_returns_a_termination_when_the_vm_cleanup_raises(store, monkeypatch):
    calls = _broken_cleanup(monkeypatch)
    pid, started = _dead_pid()
    store.create("c1", sandbox="/nonexistent")
    store.update("c1", domain="mh-c1", pids={"executor": pid, "executor_start": started})
    out = io.BytesIO()
    ecp.wait(_message(containerizer_pb2.Wait, "c1"), out)
    out.seek(0)
    term = recordio.read_message(out, containerizer_pb2.Termination)
    assert "executor exited unexpectedly" in term.message
    assert "could not all be removed" in term.message
    assert calls == ["mh-c1"]


def test_destroy_reports_a_cleanup_it_could_not_finish(store, monkeypatch):
    _broken_cleanup(monkeypatch)
    store.create("c2")
    store.update("c2", domain="mh-c2")
    with pytest.raises(HyperError, match="could not all be removed"):
        ecp.destroy(_message(containerizer_pb2.Destroy, "c2"))
    assert store.get("c2").status == Status.TERMINATED  # the agent still sees it ended
    assert not store.get("c2").destroyed  # and a later destroy or recover tries again


def test_recover_destroys_the_vm_of_a_terminated_record(store, monkeypatch):
    from vmctl.lifecycle import DomainInfo

    destroyed: list[str] = []
    root = str(store.root)
    ours = [
        DomainInfo("mh-done", True, {"state-root": root}),
        DomainInfo("mh-other-agent", True, {"state-root": "/elsewhere"}),
    ]
    monkeypatch.setattr("vmctl.lifecycle.list_ours", lambda: ours)
    monkeypatch.setattr("vmctl.lifecycle.destroy_by_name", lambda n: destroyed.append(n) or True)
    monkeypatch.setattr("isolators.net.collect", lambda settings, alive: ([], []))
    store.create("done")
    store.update("done", domain="mh-done")
    store.mark_terminated("done", Termination(status=0, state="TASK_FINISHED"))
    ecp.recover()
    assert destroyed == ["mh-done"]


def test_records_go_once_waited_and_destroyed_or_when_old(store):
    for cid in ("both", "old", "young"):
        store.create(cid)
        store.mark_terminated(cid, Termination(status=0, state="TASK_FINISHED"))
    store.closed_by("both", "waited")
    assert store.get("both").waited
    store.closed_by("both", "destroyed")
    assert [r.container_id for r in store.list()] == ["old", "young"]
    store.update("old", terminated_at=time.time() - 7200)
    assert store.collect(3600) == ["old"]
    assert [r.container_id for r in store.list()] == ["young"]
    store.create("live")
    store.closed_by("live", "waited")
    store.closed_by("live", "destroyed")
    assert store.get("live").live  # a live container's record never goes


def test_any_exception_in_an_ecp_command_is_one_line(monkeypatch, capsys):
    from mesos_hyper.containerizer import cli

    def boom() -> None:
        raise RuntimeError("something unexpected")

    monkeypatch.setattr(ecp, "recover", boom)
    assert cli.main(["recover"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: something unexpected" in err
    assert "Traceback" not in err


def test_net_teardown_keeps_the_lease_while_the_tap_is_still_there(monkeypatch):
    from isolators import net

    released: list[str] = []
    monkeypatch.setattr(net, "_remove_rules", lambda settings, cid, tap: None)
    monkeypatch.setattr(net.ipam, "release", lambda settings, cid: released.append(cid))

    def stuck_tap(settings: object, tap: str) -> None:
        raise OSError("Device or resource busy")

    monkeypatch.setattr(net.links, "delete_tap", stuck_tap)
    settings = net.NetSettings.from_env()
    with pytest.raises(OSError):
        net.teardown(settings, "c9")
    assert released == []
    monkeypatch.setattr(net.links, "delete_tap", lambda settings, tap: None)
    net.teardown(settings, "c9")
    assert released == ["c9"]


def test_collect_retries_and_reports_what_it_could_not_remove(monkeypatch):
    from isolators import net

    attempts: dict[str, int] = {}

    def teardown(settings: object, cid: str) -> None:
        attempts[cid] = attempts.get(cid, 0) + 1
        if cid == "stuck" or attempts[cid] < 2:
            raise OSError("busy")

    monkeypatch.setattr(net, "teardown", teardown)
    monkeypatch.setattr(
        net.ipam, "leases", lambda settings: {"a": "flaky", "b": "stuck", "c": "up"}
    )
    monkeypatch.setattr(net.firewall, "owned", lambda settings: set())
    removed, failed = net.collect(net.NetSettings.from_env(), alive={"up"}, attempts=3)
    assert removed == ["flaky"] and failed == ["stuck"]
    assert attempts == {"flaky": 2, "stuck": 3}


def test_a_launch_killed_before_its_executor_started_is_ended_by_the_next_call(store):
    from mesos_hyper.state.locks import flocked

    for cid in ("killed", "in-progress", "fresh"):
        store.create(cid)
    old = time.time() - 60
    store.update("killed", created_at=old)
    store.update("in-progress", created_at=old)
    with flocked(store.containers_dir / "in-progress" / ecp.LAUNCH_LOCK):
        ecp._reap_interrupted_launches(store)
    assert store.get("killed").status == Status.TERMINATED
    assert "interrupted" in (store.get("killed").termination.message or "")
    assert store.get("in-progress").live  # its launch still holds the lock
    assert store.get("fresh").live  # too young to tell
