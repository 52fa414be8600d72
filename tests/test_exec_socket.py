"""The exec socket: what an operator's request may hold, and the round trip."""

from __future__ import annotations

import io
import json
import socket
import stat
import struct
import threading
import time

import pytest

from mesos_hyper import config
from mesos_hyper.errors import HyperError, NotFoundError, UsageError
from mesos_hyper.executor import exec_socket
from mesos_hyper.executor.exec_socket import (
    END,
    MAX_FRAME,
    MAX_REQUEST,
    STDERR,
    STDIN,
    STDOUT,
    USAGE_REQUEST,
    ExecRequest,
    ExecServer,
    ExecStreams,
    parse_request,
    request_exec,
    request_usage,
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
        (b'{"argv": ["ls"], "stdin": 1}', "stdin"),
        (b'{"argv": ["ls"], "tty": true}', "unknown fields: tty"),
    ],
)
def test_bad_requests_are_refused_with_the_field_named(raw, needle):
    with pytest.raises(UsageError, match=needle):
        parse_request(raw)


def test_a_good_request_round_trips():
    request = ExecRequest(("sh", "-c", "exit 3"), "t1", 5.0)
    assert parse_request(request.encode()) == request
    interactive = ExecRequest(("cat",), stdin=True)
    assert parse_request(interactive.encode()) == interactive
    assert parse_request(b'{"argv": ["ls"]}') == ExecRequest(("ls",))  # older clients


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MESOS_HYPER_RUN_DIR", str(tmp_path / "run"))
    return tmp_path / "run"


def test_the_server_answers_with_the_exit_code_or_the_error(run_dir):
    seen: list[ExecRequest] = []

    def run(request: ExecRequest, _streams: ExecStreams) -> int:
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
            kind, length = struct.unpack("<BI", raw.recv(5))
            assert kind == END and b"over" in raw.recv(length)
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


def _frames(sock: socket.socket) -> list[tuple[int, bytes]]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    out = []
    while data:
        kind, length = struct.unpack("<BI", data[:5])
        out.append((kind, data[5 : 5 + length]))
        data = data[5 + length :]
    return out


def test_output_streams_and_input_round_trips(run_dir):
    """What the executor's command writes reaches our stdout and stderr apart, and our
    stdin reaches it; the exit code ends it all."""

    def run(request: ExecRequest, streams: ExecStreams) -> int:
        assert streams.stdin is not None
        total = 0
        while data := streams.stdin():
            total += len(data)
            streams.on_output(STDOUT, data)
        streams.on_output(STDERR, f"{total} bytes".encode())
        return 4

    path = socket_path("c2")
    server = ExecServer(path, run)
    try:
        payload = bytes(range(256)) * 1000
        out, err = io.BytesIO(), io.BytesIO()
        request = ExecRequest(("cat",), stdin=True)
        assert request_exec("c2", request, io.BytesIO(payload), out, err) == 4
        assert out.getvalue() == payload and err.getvalue() == b"256000 bytes"
        # output without a sink is dropped, not an error
        assert request_exec("c2", request, io.BytesIO(b"x")) == 4
    finally:
        server.close()


def test_client_frames_are_bounded_and_checked(run_dir):
    """An over-long or unknown stdin frame ends the command's input; nothing unbounded is
    read, and the server answers."""
    inputs: list[bytes] = []

    def run(request: ExecRequest, streams: ExecStreams) -> int:
        assert streams.stdin is not None
        while data := streams.stdin():
            inputs.append(data)
        return 0

    path = socket_path("c3")
    server = ExecServer(path, run)
    try:
        for bad in (
            struct.pack("<BI", STDIN, MAX_FRAME + 1) + b"x" * 100,
            struct.pack("<BI", 9, 1) + b"x",
        ):
            with socket.socket(socket.AF_UNIX) as raw:
                raw.connect(str(path))
                good = struct.pack("<BI", STDIN, 2) + b"ok"
                raw.sendall(ExecRequest(("cat",), stdin=True).encode() + good + bad)
                assert _frames(raw) == [(END, b'{"exit_code": 0}')]
        assert inputs == [b"ok", b"ok"]
    finally:
        server.close()


def test_a_client_that_leaves_gets_its_command_stopped(run_dir):
    """Output to a client that has gone fails the run (vmctl.pod kills the command)."""
    failed = threading.Event()
    connected = threading.Event()

    def run(request: ExecRequest, streams: ExecStreams) -> int:
        connected.wait(10)
        try:
            for _ in range(1000):
                streams.on_output(STDOUT, b"z" * 4096)
        except OSError:
            failed.set()
            raise
        return 0

    path = socket_path("c4")
    server = ExecServer(path, run)
    try:
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(str(path))
            raw.sendall(ExecRequest(("yes",)).encode())
        connected.set()
        assert failed.wait(10)
    finally:
        server.close()


def test_input_that_pauses_mid_frame_is_read_whole(run_dir, monkeypatch):
    """The server's reads time out to notice a finished command; a frame it had begun to
    read is read again whole, not taken for the next header."""
    monkeypatch.setattr(exec_socket, "IO_TIMEOUT_S", 0.2)
    inputs: list[bytes] = []

    def run(request: ExecRequest, streams: ExecStreams) -> int:
        assert streams.stdin is not None
        while data := streams.stdin():
            inputs.append(data)
        return 0

    path = socket_path("c5")
    server = ExecServer(path, run)
    try:
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(str(path))
            raw.sendall(ExecRequest(("cat",), stdin=True).encode() + b"\0\5\0")
            time.sleep(0.5)
            raw.sendall(b"\0\0ab")
            time.sleep(0.5)
            raw.sendall(b"cde" + struct.pack("<BI", STDIN, 0))
            assert _frames(raw) == [(END, b'{"exit_code": 0}')]
        assert inputs == [b"abcde"]
    finally:
        server.close()


def _one_reply_server(path, reply: bytes) -> threading.Thread:
    """A stand-in executor that answers one connection with ``reply`` (a raw END frame's
    payload; None: it never answers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                assert conn.recv(len(USAGE_REQUEST)) == USAGE_REQUEST
                if reply is not None:
                    conn.sendall(struct.pack("<BI", END, len(reply)) + reply)
                else:
                    time.sleep(1.5)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_the_executor_answers_usage_and_a_pod_without_it_says_so(run_dir):
    calls = []

    def usage() -> dict[str, float | int]:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("domain vanished")
        return {"cpus_user_time_secs": 1.5, "mem_rss_bytes": 4096}

    server = ExecServer(socket_path("c1"), lambda _r, _s: 0, usage)
    plain = ExecServer(socket_path("run-pod"), lambda _r, _s: 0)  # a `run` pod's
    try:
        assert request_usage("c1") == {"cpus_user_time_secs": 1.5, "mem_rss_bytes": 4096}
        assert request_usage("c1") is None  # it failed there: the ECP measures itself
        assert request_usage("c1") == {"cpus_user_time_secs": 1.5, "mem_rss_bytes": 4096}
        assert request_usage("run-pod") is None
        assert request_exec("c1", ExecRequest(("a",))) == 0  # exec still served alike
    finally:
        server.close()
        plain.close()
    assert request_usage("c1") is None  # no executor at all


@pytest.mark.parametrize(
    "reply",
    [
        b"not json",
        b"[1]",
        b'{"usage": [1]}',
        b'{"usage": {"cpus_user_time_secs": "1"}}',
        b'{"usage": {"cpus_user_time_secs": true}}',
        b'{"usage": {"cpus_user_time_secs": NaN}}',
        b'{"usage": {"cpus_user_time_secs": Infinity}}',
        json.dumps({"usage": {f"f{i}": i for i in range(65)}}).encode(),
        None,  # no answer within the timeout
    ],
)
def test_a_usage_reply_that_is_not_small_and_numeric_is_not_used(run_dir, reply):
    thread = _one_reply_server(socket_path("c2"), reply)
    try:
        assert request_usage("c2", timeout=0.5) is None
    finally:
        thread.join(5)
        socket_path("c2").unlink(missing_ok=True)
