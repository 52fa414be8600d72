"""The exec socket: what an operator's request may hold, and the round trip."""

from __future__ import annotations

import json
import socket
import stat

import pytest

from mesos_hyper import config
from mesos_hyper.errors import HyperError, NotFoundError, UsageError
from mesos_hyper.executor.exec_socket import (
    MAX_REQUEST,
    ExecRequest,
    ExecServer,
    parse_request,
    request_exec,
    socket_path,
)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"argv": []}', "argv"),
        (b'{"argv": "ls"}', "argv"),
        (b'{"argv": ["ls", 3]}', "argv"),
        (b'{"argv": ["a\\u0000b"]}', "argv"),
        (json.dumps({"argv": ["x"] * 257}).encode(), "argv"),
        (b'{"argv": ["ls"], "timeout": 0}', "timeout"),
        (b'{"argv": ["ls"], "timeout": true}', "timeout"),
        (b'{"argv": ["ls"], "timeout": 1e9}', "timeout"),
        (b'{"argv": ["ls"], "task_id": 5}', "task_id"),
    ],
)
def test_bad_requests_are_refused_with_the_field_named(raw, needle):
    with pytest.raises(UsageError, match=needle):
        parse_request(raw)


def test_a_good_request_round_trips():
    request = ExecRequest(("sh", "-c", "exit 3"), "t1", 5.0)
    assert parse_request(request.encode()) == request


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MESOS_HYPER_RUN_DIR", str(tmp_path / "run"))
    return tmp_path / "run"


def test_the_server_answers_with_the_exit_code_or_the_error(run_dir):
    seen: list[ExecRequest] = []

    def run(request: ExecRequest) -> int:
        seen.append(request)
        if request.task_id == "missing":
            raise NotFoundError("no running task missing in this pod")
        return len(request.argv)

    path = socket_path("c1")
    server = ExecServer(path, run)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert request_exec("c1", ExecRequest(("a", "b", "c"))) == 3
        assert seen == [ExecRequest(("a", "b", "c"))]
        with pytest.raises(HyperError, match="exec in c1: no running task missing"):
            request_exec("c1", ExecRequest(("a",), "missing"))
        # a hostile client gets an error line, and the server goes on serving
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(str(path))
            raw.sendall(b"x" * (MAX_REQUEST + 10))
            assert b"over" in raw.recv(200)
        assert request_exec("c1", ExecRequest(("a",))) == 1
    finally:
        server.close()
    assert not path.exists()
    with pytest.raises(HyperError, match="no running pod"):
        request_exec("c1", ExecRequest(("a",)))


def test_container_ids_cannot_leave_the_socket_directory(run_dir):
    with pytest.raises(HyperError, match="safe file name"):
        socket_path("../etc")
    assert socket_path("ok", config.Paths.from_env()).parent == run_dir / "exec"
