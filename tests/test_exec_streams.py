"""``mesos-hyper exec`` streams like ``docker exec``: the host side against a fake (and
hostile) guest on socket pairs, then end to end in a real task's VM."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mesos_hyper.errors import VMError
from mesos_hyper.proto import mesos_pb2
from tests.registry_fixtures import registry  # noqa: F401
from tests.test_ecp_e2e import agent, busybox_layer, image, task  # noqa: F401
from vmctl import pod as pod_module
from vmctl.guest import protocol
from vmctl.pod import Pod, PodConfig

SPEC = protocol.ProcessSpec(["cat"])


class FakeGuest:
    """A Pod whose ports are socket pairs; this end plays the guest init. The pod's kill
    closes them all, as QEMU does when its domain is destroyed."""

    def __init__(
        self,
        tmp_path: Path,
        on_stdout: pod_module.Output = lambda _b: None,
        on_stderr: pod_module.Output = lambda _b: None,
    ) -> None:
        self.pod = Pod(
            PodConfig(
                name="fake",
                kernel=tmp_path / "k",
                initramfs=tmp_path / "i",
                base_disk=tmp_path / "d",
                workdir=tmp_path / "pod",
            )
        )
        self.ends: dict[str, socket.socket] = {}
        for name in protocol.PORTS:
            host, guest = socket.socketpair()
            self.pod._socks[name] = host
            self.ends[name] = guest
        self.killed = threading.Event()
        self.pod._kill_domain = self._kill  # type: ignore[method-assign]
        self.pod._pump = threading.Thread(
            target=self.pod._pump_loop,
            args=(on_stdout, on_stderr, time.monotonic()),
            daemon=True,
        )
        self.pod._pump.start()

    def _kill(self) -> None:
        self.killed.set()
        self.close()

    def close(self) -> None:
        for sock in self.ends.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.ends[protocol.CONTROL_PORT].recv(n - len(data))
            assert chunk, "the host closed the control port"
            data += chunk
        return data

    def record(self) -> tuple[bytes, bytes]:
        tag, length = self._exactly(1), struct.unpack("<I", self._exactly(4))[0]
        return tag, self._exactly(length)

    def exec_record(self) -> bytes:
        """An X record and its spec: the X payload."""
        tag, payload = self.record()
        assert tag == b"X"
        while self.record()[0] != b"Z":
            pass
        return payload

    def status(self, line: bytes) -> None:
        self.ends[protocol.STATUS_PORT].sendall(line + b"\n")

    def frame(self, slot: int, stream: int, data: bytes = b"", length: int | None = None) -> None:
        size = len(data) if length is None else length
        self.ends[protocol.EXEC_PORT].sendall(struct.pack("<BBH", slot, stream, size) + data)


class Call(threading.Thread):
    """``Pod.exec`` in a thread: its result, or what it raised."""

    def __init__(self, guest: FakeGuest, timeout: float = 30.0, stdin: list[bytes] | None = None):
        super().__init__(daemon=True)
        self.guest, self.timeout = guest, timeout
        self.output: list[tuple[int, bytes]] = []
        self.inputs = list(stdin) if stdin is not None else None
        self.result: int | BaseException | None = None
        self.start()

    def _read(self) -> bytes:
        assert self.inputs is not None
        return self.inputs.pop(0) if self.inputs else b""

    def run(self) -> None:
        try:
            self.result = self.guest.pod.exec(
                0,
                SPEC,
                self.timeout,
                on_output=lambda stream, data: self.output.append((stream, data)),
                stdin=self._read if self.inputs is not None else None,
            )
        except BaseException as err:  # handed to the test
            self.result = err

    def outcome(self) -> int | BaseException | None:
        self.join(30)
        assert not self.is_alive()
        return self.result


@pytest.fixture
def guest(tmp_path):
    fake = FakeGuest(tmp_path)
    yield fake
    fake.close()
    assert fake.pod._pump is not None
    fake.pod._pump.join(10)  # the guest's ends are gone: the pump ends by itself
    assert not fake.pod._pump.is_alive()
    fake.pod.destroy()


def test_output_and_input_flow_and_the_exit_waits_for_both_ends(guest):
    call = Call(guest, stdin=[b"a" * (protocol.STDIN_CHUNK + 10), b"tail"])
    assert guest.exec_record() == b"16:0:3"
    got = b""
    while True:  # one chunk at a time: the next only after our ACK
        tag, payload = guest.record()
        assert tag == b"I" and payload.startswith(b"16:")
        if payload == b"16:":
            break
        got += payload[3:]
        assert len(payload) - 3 <= protocol.STDIN_CHUNK
        guest.status(b"ACK 16")
    assert got == b"a" * (protocol.STDIN_CHUNK + 10) + b"tail"
    guest.frame(16, protocol.STDOUT, b"out")
    guest.frame(16, protocol.STDERR, b"err")
    guest.status(b"EXIT 3 16")
    guest.frame(16, protocol.STDOUT)
    time.sleep(0.3)
    assert call.is_alive()  # stderr has not ended yet: its output may still come
    guest.frame(16, protocol.STDERR, b"late")
    guest.frame(16, protocol.STDERR)
    assert call.outcome() == 3
    assert call.output == [(1, b"out"), (2, b"err"), (2, b"late")]
    assert not guest.killed.is_set()
    assert guest.pod._free_slots.count(16) == 1 and not guest.pod._execs


def test_a_stalled_input_ends_with_the_timeout_and_the_slot_comes_back(guest):
    call = Call(guest, timeout=1.0, stdin=[b"x" * 100, b"more"])
    guest.exec_record()
    tag, _ = guest.record()
    assert tag == b"I"  # never acknowledged: "more" must not come
    tag, payload = guest.record()
    assert (tag, payload) == (b"K", b"16:9")
    guest.status(b"ACK 16")  # dropped with the killed command, before its EXIT
    guest.status(b"EXIT 137 16")
    guest.frame(16, protocol.STDOUT)
    guest.frame(16, protocol.STDERR)
    outcome = call.outcome()
    assert isinstance(outcome, TimeoutError) and "within 1s" in str(outcome)
    deadline = time.monotonic() + 5
    while 16 not in guest.pod._free_slots and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 16 in guest.pod._free_slots
    assert not guest.killed.is_set()


def test_missing_ends_cost_a_bounded_wait(guest, monkeypatch):
    monkeypatch.setattr(pod_module, "EXEC_END_IDLE_S", 0.5)
    call = Call(guest)
    guest.exec_record()
    guest.frame(16, protocol.STDOUT, b"x")
    guest.status(b"EXIT 0 16")
    assert call.outcome() == 0
    assert 16 not in guest.pod._free_slots  # not reused until the guest ends the streams
    guest.frame(16, protocol.STDOUT)
    guest.frame(16, protocol.STDERR)
    deadline = time.monotonic() + 5
    while 16 not in guest.pod._free_slots and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 16 in guest.pod._free_slots and not guest.killed.is_set()


def _header(slot: int, stream: int, length: int) -> bytes:
    return struct.pack("<BBH", slot, stream, length)


@pytest.mark.parametrize(
    ("attack", "needle"),
    [
        (lambda g: g.frame(3, protocol.STDOUT, b"x"), "impossible slot"),
        (lambda g: g.frame(40, protocol.STDOUT, b"x"), "impossible slot"),
        (lambda g: g.frame(16, 3, b"x"), "impossible stream"),
        (lambda g: g.frame(16, 0, b""), "impossible stream"),
        (lambda g: g.frame(16, protocol.STDOUT, b"", length=protocol.MAX_FRAME + 1), "bytes"),
        (lambda g: g.frame(17, protocol.STDOUT, b"x"), "runs no command"),
        (lambda g: (g.frame(16, 1), g.frame(16, 1, b"x")), "after its end"),
        (lambda g: g.status(b"ACK 16"), "was not sent"),
        (lambda g: g.status(b"ACK 5"), "impossible slot"),
    ],
)
def test_a_hostile_guest_is_killed_and_the_exec_fails(guest, attack, needle):
    call = Call(guest)
    guest.exec_record()
    attack(guest)
    assert guest.killed.wait(10)
    assert needle in (guest.pod.error or "") and "protocol violation" in guest.pod.error
    outcome = call.outcome()
    assert isinstance(outcome, VMError) and "protocol violation" in str(outcome)


def test_a_health_check_exec_gets_no_frames(guest):
    """Without on_output the guest is asked for no streams: a frame is a violation."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(_plain_exec(guest)), daemon=True)
    thread.start()
    assert guest.exec_record() == b"16:0"
    guest.frame(16, protocol.STDOUT, b"x")
    assert guest.killed.wait(10) and "runs no command" in (guest.pod.error or "")
    thread.join(30)
    assert isinstance(result[0], VMError)


def _plain_exec(guest: FakeGuest) -> object:
    try:
        return guest.pod.exec(0, SPEC, 30.0)
    except BaseException as err:  # handed to the test
        return err


def test_a_frame_cut_short_by_the_vm_ending_fails_the_exec_without_a_hang(guest):
    call = Call(guest)
    guest.exec_record()
    guest.ends[protocol.EXEC_PORT].sendall(_header(16, protocol.STDOUT, 100) + b"partial")
    guest.close()  # the VM died mid-frame
    outcome = call.outcome()
    assert isinstance(outcome, VMError)
    assert call.output == []


def test_the_pump_stops_reading_output_its_caller_has_not_taken(guest, monkeypatch):
    """A slow consumer holds the guest back (the port is left unread) instead of the host
    buffering its output, and nothing is lost."""
    monkeypatch.setattr(pod_module, "EXEC_QUEUE_BYTES", 8 * 1024)
    release = threading.Event()
    taken: list[bytes] = []

    def slow(_stream: int, data: bytes) -> None:
        release.wait(30)
        taken.append(data)

    result: list[object] = []

    def run() -> None:
        result.append(guest.pod.exec(0, SPEC, 60.0, on_output=slow))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    guest.exec_record()
    port = guest.ends[protocol.EXEC_PORT]
    port.setblocking(False)
    chunk = _header(16, 1, protocol.MAX_FRAME) + b"y" * protocol.MAX_FRAME
    sent = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the host stops reading: a full socket
        try:
            port.send(chunk)
            sent += 1
        except BlockingIOError:
            time.sleep(0.2)
            try:
                port.send(chunk)
                sent += 1
            except BlockingIOError:
                break
    assert time.monotonic() < deadline, "the host read output nobody took"
    with guest.pod._exec_lock:
        queued = guest.pod._execs[16].queued
    assert queued < 8 * 1024 + pod_module.READ_CHUNK + protocol.MAX_FRAME
    release.set()
    port.setblocking(True)
    guest.status(b"EXIT 0 16")
    guest.frame(16, 1)
    guest.frame(16, 2)
    thread.join(30)
    assert result == [0]
    assert b"".join(taken) == b"y" * (protocol.MAX_FRAME * sent)


# ---- end to end, in a real task's VM --------------------------------------------------


@pytest.mark.vm
def test_exec_streams_output_takes_input_and_passes_the_status(agent, image):  # noqa: F811
    info = task("streamed", image, "echo started; sleep 1000")
    record = agent.launch_task(info)
    agent.wait_for_state("streamed", mesos_pb2.TASK_RUNNING, timeout=120)
    cli = [sys.executable, "-m", "mesos_hyper.cli", "exec"]
    cid = record.container_id

    def run(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*cli, *args], env=agent.env, input=data, capture_output=True, timeout=120
        )

    # stdout and stderr apart, in order, and the command's status
    done = run(cid, "--", "sh", "-c", "echo out; echo err >&2; echo more; exit 5")
    assert (done.returncode, done.stdout, done.stderr) == (5, b"out\nmore\n", b"err\n")
    # more output than one frame, one pipe and the pump's queue, all of it
    big = run(cid, "--", "dd", "if=/dev/zero", "bs=1024", "count=600")
    assert big.returncode == 0, big.stderr
    assert big.stdout == b"\0" * (600 << 10) and b"records out" in big.stderr
    # -i: our stdin is its stdin, through the guest's flow control, and its end closes it
    payload = os.urandom(400 << 10)
    echoed = run("-i", cid, "--", "cat", data=payload)
    assert echoed.returncode == 0, echoed.stderr
    assert echoed.stdout == payload
    counted = run("-i", cid, "--", "wc", "-c", data=payload)
    assert counted.stdout.split() == [str(len(payload)).encode()]
    # without -i its stdin is /dev/null
    assert run(cid, "--", "cat", data=b"not passed").stdout == b""
    # a command that never reads its stdin: our input waits, the command still ends
    ignored = run("-i", cid, "--", "sh", "-c", "sleep 2; echo done", data=payload * 4)
    assert (ignored.returncode, ignored.stdout) == (0, b"done\n")
    # ... and while one sits on its unread input, the init serves the others
    stuck: list[subprocess.CompletedProcess[bytes]] = []
    sitter = threading.Thread(
        target=lambda: stuck.append(
            run("-i", "--timeout", "15", cid, "--", "sleep", "1000", data=payload * 4)
        )
    )
    sitter.start()
    time.sleep(3)
    meanwhile = run(cid, "--", "echo", "meanwhile")
    assert (meanwhile.returncode, meanwhile.stdout) == (0, b"meanwhile\n")
    assert sitter.is_alive()
    sitter.join(120)
    assert stuck[0].returncode == 1 and b"did not finish within 15s" in stuck[0].stderr
    # Docker's statuses; the task is unharmed and later execs work
    assert run(cid, "--", "/no/such/binary").returncode == 127
    assert agent.updates("streamed")[-1].status.state == mesos_pb2.TASK_RUNNING
    again = run(cid, "--", "sh", "-c", 'echo "$MESOS_TASK_ID"')
    assert (again.returncode, again.stdout) == (0, b"streamed\n")
    agent.kill_task("streamed")
    agent.wait_for_state("streamed", mesos_pb2.TASK_KILLED, timeout=60)
    agent.wait_for(lambda: record.completed, timeout=60)
