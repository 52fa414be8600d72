"""The end of a pod's output: the guest's DRAINED lets the host end the VM as soon as it has
read every byte the guest counted, and nothing a guest says ends the output sooner than
the bytes it counted. Against the fake guest of test_exec_streams, then in a real VM."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.test_exec_streams import FakeGuest
from vmctl.guest import protocol


class Output:
    """What the pod passed on, by stream."""

    def __init__(self) -> None:
        self.stdout = bytearray()
        self.stderr = bytearray()


class Waiter(threading.Thread):
    """``Pod.wait`` in a thread: its exit code, or what it raised."""

    def __init__(self, guest: FakeGuest) -> None:
        super().__init__(daemon=True)
        self.guest = guest
        self.result: int | BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.guest.pod.wait(30.0)
        except BaseException as err:  # handed to the test
            self.result = err


@pytest.fixture
def fake(tmp_path: Path):
    out = Output()
    guest = FakeGuest(tmp_path, on_stdout=out.stdout.extend, on_stderr=out.stderr.extend)
    yield guest, out
    guest.close()
    assert guest.pod._pump is not None
    guest.pod._pump.join(10)
    assert not guest.pod._pump.is_alive()
    guest.pod.destroy()


def _send(guest: FakeGuest, port: str, data: bytes) -> None:
    guest.ends[port].sendall(data)


def test_drained_ends_the_vm_once_every_counted_byte_has_arrived(fake) -> None:
    guest, out = fake
    big = bytes(range(256)) * 4096  # 1 MiB, more than a socket buffer holds
    guest.status(b"EXIT 0")
    # the counts come before the bytes: the host waits for them
    guest.status(f"SENT {len(big)} mh.stdout".encode())
    guest.status(b"SENT 3 mh.stderr")
    guest.status(b"DRAINED")
    waiter = Waiter(guest)
    sender = threading.Thread(target=_send, args=(guest, protocol.STDOUT_PORT, big))
    sender.start()
    time.sleep(0.3)
    assert not guest.killed.is_set(), "ended before stderr's 3 bytes came"
    _send(guest, protocol.STDERR_PORT, b"err")
    waiter.join(30)
    sender.join(30)
    assert waiter.result == 0
    assert guest.killed.is_set(), "the host did not end the drained VM itself"
    assert bytes(out.stdout) == big and bytes(out.stderr) == b"err"
    assert "drained" in guest.pod.timings


def test_a_count_never_reached_waits_for_the_vm_to_end(fake) -> None:
    guest, out = fake
    guest.status(b"EXIT 3")
    guest.status(b"SENT 10 mh.stdout")
    guest.status(b"SENT 0 mh.stderr")
    guest.status(b"DRAINED")
    _send(guest, protocol.STDOUT_PORT, b"only 9 b.")
    waiter = Waiter(guest)
    time.sleep(0.5)
    assert waiter.is_alive() and not guest.killed.is_set()
    guest.close()  # the VM ends by itself
    waiter.join(30)
    assert waiter.result == 3
    assert bytes(out.stdout) == b"only 9 b."
    assert "drained" not in guest.pod.timings


@pytest.mark.parametrize(
    "lines",
    [
        [b"SENT 0 mh.stdout", b"DRAINED"],  # stderr not counted
        [b"SENT 0 mh.stdout", b"SENT 0 mh.stderr"],  # counted, never DRAINED
    ],
    ids=["a port without a count", "counts without drained"],
)
def test_an_incomplete_account_waits_for_the_vm_to_end(fake, lines: list[bytes]) -> None:
    guest, _out = fake
    guest.status(b"EXIT 0")
    for line in lines:
        guest.status(line)
    waiter = Waiter(guest)
    time.sleep(0.5)
    assert waiter.is_alive() and not guest.killed.is_set()
    guest.close()
    waiter.join(30)
    assert waiter.result == 0


def test_a_malformed_count_is_a_protocol_violation(fake) -> None:
    guest, _out = fake
    guest.status(b"SENT 1 /etc/passwd")
    waiter = Waiter(guest)
    assert guest.killed.wait(10), "the host kept a guest that broke the protocol"
    waiter.join(30)
    assert isinstance(waiter.result, Exception)
    assert guest.pod.error is not None and "SENT" in guest.pod.error
