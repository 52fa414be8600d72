"""Executor pieces on their own: the v1 event stream parser, giving up on a lost agent,
Mesos durations, and the URI fetcher (http, file, archives, hostile archives)."""

from __future__ import annotations

import functools
import io
import socket
import tarfile
import threading
import time
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mesos_hyper.errors import UnsafeArchiveError, UsageError
from mesos_hyper.executor.agent_api import AgentConnection, StreamError, records
from mesos_hyper.executor.fetcher import FetchError, fetch_all
from mesos_hyper.executor.settings import ExecutorSettings, parse_duration
from mesos_hyper.model.messages import UriSpec


def test_record_io_stream_is_split_strictly():
    chunks = [b"5\nhel", b"lo3\nabc", b"0\n"]
    assert list(records(iter(chunks))) == [b"hello", b"abc", b""]
    with pytest.raises(StreamError, match="not a number"):
        list(records(iter([b"x\n"])))
    with pytest.raises(StreamError, match="too large"):
        list(records(iter([b"999999999\n"])))
    with pytest.raises(StreamError, match="ended inside"):
        list(records(iter([b"10\nabc"])))


@pytest.mark.parametrize(
    ("text", "seconds"), [("5secs", 5), ("1.5mins", 90), ("100ms", 0.1), ("2hrs", 7200)]
)
def test_mesos_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_missing_executor_environment_is_named():
    with pytest.raises(UsageError, match="MESOS_AGENT_ENDPOINT"):
        ExecutorSettings.from_env({"MESOS_FRAMEWORK_ID": "f", "MESOS_EXECUTOR_ID": "e"})


def _settings(port: int, checkpoint: bool, recovery: str = "1secs") -> ExecutorSettings:
    return ExecutorSettings.from_env(
        {
            "MESOS_FRAMEWORK_ID": "f",
            "MESOS_EXECUTOR_ID": "e",
            "MESOS_DIRECTORY": "/tmp",
            "MESOS_AGENT_ENDPOINT": f"127.0.0.1:{port}",
            "MESOS_CHECKPOINT": "1" if checkpoint else "0",
            "MESOS_RECOVERY_TIMEOUT": recovery,
            "MESOS_SUBSCRIPTION_BACKOFF_MAX": "200ms",
        }
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("checkpoint", "lower", "upper"), [(False, 0, 1.5), (True, 0.9, 6)])
def test_lost_agent_is_given_up_on(checkpoint, lower, upper):
    events: list[dict] = []
    conn = AgentConnection(_settings(_closed_port(), checkpoint), events.append)
    started = time.monotonic()
    conn.start()
    assert conn.gone.wait(10)
    assert lower <= time.monotonic() - started <= upper
    assert events == [{"type": "AGENT_GONE"}]
    conn.close()


@pytest.fixture
def http_dir(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *_a: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _tar_gz(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def test_http_fetch_extract_executable_and_output_file(http_dir, tmp_path):
    root, url = http_dir
    (root / "app.tar.gz").write_bytes(_tar_gz({"app/run.sh": b"#!/bin/sh\n"}))
    (root / "tool").write_bytes(b"#!/bin/sh\necho tool\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("conf/a.txt", "a")
    (root / "conf.zip").write_bytes(buf.getvalue())
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    fetch_all(
        [
            UriSpec(f"{url}/app.tar.gz"),
            UriSpec(f"{url}/tool", executable=True),
            UriSpec(f"{url}/conf.zip"),
            UriSpec(f"{url}/tool", extract=False, output_file="bin/renamed"),
        ],
        sandbox,
    )
    assert (sandbox / "app/run.sh").read_bytes() == b"#!/bin/sh\n"
    assert (sandbox / "tool").stat().st_mode & 0o111
    assert (sandbox / "conf/a.txt").read_text() == "a"
    assert (sandbox / "bin/renamed").is_file()


def test_fetch_failures_name_the_uri_and_leave_nothing(http_dir, tmp_path):
    _root, url = http_dir
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    with pytest.raises(FetchError, match=r"missing\.tgz: HTTP 404"):
        fetch_all([UriSpec(f"{url}/missing.tgz")], sandbox)
    with pytest.raises(FetchError, match="unsupported scheme"):
        fetch_all([UriSpec("hdfs://nn/x")], sandbox)
    with pytest.raises(FetchError, match="inside the sandbox"):
        fetch_all([UriSpec(f"{url}/x", output_file="../escape")], sandbox)
    assert list(sandbox.iterdir()) == []


@pytest.mark.parametrize(
    ("entries", "links"),
    [
        ({"../evil": b"x"}, None),
        ({"/abs": b"x"}, None),
        ({}, {"link": "/etc"}),
        ({"link/passwd": b"x"}, {"link": "../.."}),
    ],
)
def test_hostile_archives_are_refused(http_dir, tmp_path, entries, links):
    root, url = http_dir
    (root / "bad.tar.gz").write_bytes(_tar_gz(entries, links))
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    with pytest.raises((UnsafeArchiveError, FetchError)):
        fetch_all([UriSpec(f"{url}/bad.tar.gz")], sandbox)
    assert not (tmp_path / "evil").exists() and not Path("/abs").exists()
