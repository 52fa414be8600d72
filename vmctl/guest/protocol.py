"""The wire protocol between the host and our guest init (``vmctl/guest/init/init.c``).

Five virtio-serial ports in every VM (cold or pool), named so the init can find them in
/sys/class/virtio-ports:

- ``mh.control`` (host -> guest): binary records ``[tag:u8][len:u32 LE][payload]``.
  First a process spec (tags ``A`` argv, ``E`` env ``K=V``, ``W`` workdir, ``U`` uid,
  ``G`` gid, ``S`` supplementary gid, ``H`` hostname, ``M`` ``tag:/target`` to mount a
  virtiofs share of the host inside the rootfs, ``F`` ``path\ncontent`` for /etc/hosts,
  /etc/resolv.conf and /etc/hostname, ``N`` ``ADDR/PREFIX GATEWAY`` for the pod's NIC,
  ``L`` ``memory BYTES`` or ``disk`` for the container's limits, ``T`` ``SECONDS.MICROS``
  the host's time to set the guest clock to, ``R`` 64 hex digits of host entropy the guest
  adds to its RNG and reseeds it with) closed by ``Z``;
  Before it, a template's clone may get ``P`` (empty): mount the pool share that was
  hot-plugged after its restore, answered by ``SHARED`` on ``mh.status``;
  afterwards ``K`` records carry a signal number (decimal) to deliver to the container
  process, and ``L`` records ``k:BYTES`` a new memory limit for container ``k``.
- Limits: the guest puts each container in its own memory cgroup; it reports
  ``LIMIT memory [k]`` when the container was OOM-killed and ``LIMIT disk [k]`` (then kills
  it) when its rootfs is full; the container's ``EXIT`` follows.
- ``mh.status`` (guest -> host): text lines ``READY``, ``PREPARED`` (the first container's
  rootfs, mounts and network are set up; its process waits for a ``G`` record, sent once
  the host has applied the task's limits, or ends the pod on a ``K``), ``STARTED <pid>``,
  ``ERROR <message>``, ``EXIT <code>`` (signal deaths as 128+N, as Docker does), ``ACK <slot>``
  (stdin of an exec'd command, below). When no container is left, the guest kills what
  remains, syncs, and says ``SENT <bytes> <port>`` for each output port (what its tasks
  wrote there, counted by the kernel) and then ``DRAINED``: once the host has read that
  much from each port it has all the output, and ends the VM itself (``vmctl.pod``); the
  guest powers off ``DRAINED_WAIT_S`` later if it did not.
- ``mh.stdout`` / ``mh.stderr`` (guest -> host): the process's raw output streams.
- ``mh.exec`` (guest -> host): the output of exec'd commands, as frames
  ``[slot:u8][stream:u8 1 stdout, 2 stderr][len:u16 LE][data]``, ``len`` at most
  ``MAX_FRAME``; a frame of length 0 is that stream's end, sent once per stream. The
  guest never blocks on this port: what the host does not read waits in a bounded buffer,
  and the commands' pipes wait behind it.

The first container's rootfs is the disk with virtio serial ``mh-c0``.

Pods: a further container ``k`` (1..15) is started with a ``C`` record holding ``k``,
followed by its spec; its rootfs is the disk with virtio serial ``mh-c<k>``, its output
goes to ports ``mh.c<k>.stdout`` / ``mh.c<k>.stderr``, signals are ``K`` ``k:signum``,
and its status lines end with `` <k>``. The VM powers off when no container is left.

Exec (``mesos-hyper exec``, health-check commands): ``X`` ``slot:k[:io]`` followed by a
spec runs a command in container ``k``'s rootfs and cgroup; slots are 16..31 and report
``STARTED``/``EXIT`` like members; ``K`` ``slot:signum`` signals its process group. ``io``
is a bit mask, 0 when absent (health checks): without bit 1 the output is discarded, and
the command's stdin is /dev/null without bit 2.

- Output (bit 1): the guest sends the command's stdout and stderr as ``mh.exec`` frames of
  its slot, and then each stream's end frame. Output and status come over different ports:
  the host matches them by waiting, after the slot's ``EXIT``, for both end frames. The
  guest ends an exited command's streams once they were idle (nothing to read while the
  host kept up) for ``EXEC_DRAIN_S``, and at the latest ``EXEC_DRAIN_MAX_S`` after its
  exit: a daemonised grandchild may hold the pipes open, and its later output is dropped.
  The host takes a slot back only once it has the EXIT and both ends, so a frame is never
  taken for the output of the slot's next command.
- Stdin (bit 2): ``I`` records ``slot:`` + up to ``STDIN_CHUNK`` bytes, an empty one
  closes the command's stdin. Credit of one chunk: the host sends the next chunk only once
  the guest has said ``ACK <slot>``, which it does once the chunk is in the command's
  stdin pipe (or was dropped because the command closed its stdin or ended; ``ACK`` lines
  of a slot all come before its ``EXIT``). The guest holds at most one chunk per slot and
  never blocks on the pipe: a command that never reads its stdin only stops its input.

The guest is untrusted: status lines and output frames are bounded and validated here
(vmctl.pod checks that a frame's slot runs a command that asked for output).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

CONTROL_PORT = "mh.control"
STATUS_PORT = "mh.status"
STDOUT_PORT = "mh.stdout"
STDERR_PORT = "mh.stderr"
EXEC_PORT = "mh.exec"
PORTS = (CONTROL_PORT, STATUS_PORT, STDOUT_PORT, STDERR_PORT, EXEC_PORT)

# exec streams (mh.exec frames) and ``X`` io bits
STDOUT = 1
STDERR = 2
IO_OUTPUT = 1
IO_STDIN = 2
MAX_FRAME = 4096  # data bytes of one mh.exec frame
FRAME_HEADER = 4
STDIN_CHUNK = 16 * 1024  # data bytes of one ``I`` record
EXEC_DRAIN_S = 2.0  # the guest ends an exited command's idle streams after this
EXEC_DRAIN_MAX_S = 30.0  # ... and all of them after this

MAX_STATUS_LINE = 4096
MAX_RECORD = 1 << 20


@dataclass(frozen=True)
class ProcessSpec:
    """What the guest init runs: already resolved (no names, no image defaults left)."""

    argv: list[str]
    env: list[str] = field(default_factory=list)
    workdir: str = "/"
    uid: int = 0
    gid: int = 0
    groups: list[int] = field(default_factory=list)
    hostname: str = "mesos-hyper"
    # (virtiofs tag, target); a tag after BOUND_SHARE names a directory of the share the
    # VM booted with (a claimed pool VM's, vmctl.shares) to bind-mount instead
    mounts: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # MANAGED_FILES path -> content
    network: str | None = None  # "ADDR/PREFIX GATEWAY", pod-wide, read from the first spec
    mem_limit_bytes: int | None = None
    enforce_disk: bool = False
    clock: float | None = None  # host time (epoch s): a pool VM's clock stood while it was paused
    # host entropy the guest reseeds its RNG with before the task: every clone of a template
    # woke with the template's RNG state (vmctl.pool.template)
    seed: bytes | None = None


SEED_BYTES = 32
MANAGED_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname")


def _record(tag: bytes, payload: bytes) -> bytes:
    if len(payload) > MAX_RECORD:
        raise ValueError(f"control record {tag!r} too large ({len(payload)} bytes)")
    return tag + struct.pack("<I", len(payload)) + payload


def encode_spec(spec: ProcessSpec) -> bytes:
    if not spec.argv:
        raise ValueError("a process needs at least argv[0]")
    out = [_record(b"A", arg.encode()) for arg in spec.argv]
    out += [_record(b"E", var.encode()) for var in spec.env]
    out.append(_record(b"W", spec.workdir.encode()))
    out.append(_record(b"U", str(spec.uid).encode()))
    out.append(_record(b"G", str(spec.gid).encode()))
    out += [_record(b"S", str(g).encode()) for g in spec.groups]
    out.append(_record(b"H", spec.hostname.encode()))
    for tag, target in spec.mounts:
        if ":" in tag or not target.startswith("/"):
            raise ValueError(f"bad mount {tag!r} -> {target!r}")
        out.append(_record(b"M", f"{tag}:{target}".encode()))
    for path, content in spec.files.items():
        if path not in MANAGED_FILES:
            raise ValueError(f"the guest only writes {', '.join(MANAGED_FILES)}, not {path!r}")
        out.append(_record(b"F", f"{path}\n{content}".encode()))
    if spec.network:
        out.append(_record(b"N", spec.network.encode()))
    if spec.mem_limit_bytes:
        out.append(_record(b"L", f"memory {int(spec.mem_limit_bytes)}".encode()))
    if spec.enforce_disk:
        out.append(_record(b"L", b"disk"))
    if spec.clock is not None:
        out.append(_record(b"T", f"{spec.clock:.6f}".encode()))
    if spec.seed is not None:
        if len(spec.seed) != SEED_BYTES:
            raise ValueError(f"a seed is {SEED_BYTES} bytes, not {len(spec.seed)}")
        out.append(_record(b"R", spec.seed.hex().encode()))
    out.append(_record(b"Z", b""))
    return b"".join(out)


MAX_CONTAINERS = 16
FIRST_EXEC_SLOT = MAX_CONTAINERS
MAX_SLOTS = 2 * MAX_CONTAINERS
DRAINED_WAIT_S = 2  # the guest's wait for the host to end it after DRAINED (init.c's)


BOUND_SHARE = "@"


def member_disk_serial(index: int) -> str:
    return f"mh-c{index}"


def member_ports(index: int) -> tuple[str, str]:
    return f"mh.c{index}.stdout", f"mh.c{index}.stderr"


def is_output_port(name: str) -> bool:
    """``mh.stdout``, ``mh.stderr``, or a pod member's ``mh.c<k>.stdout|stderr``."""
    if name in (STDOUT_PORT, STDERR_PORT):
        return True
    head, dot, stream = name.rpartition(".")
    index = head.removeprefix("mh.c")
    return (
        dot == "."
        and stream in ("stdout", "stderr")
        and head.startswith("mh.c")
        and index.isdigit()
        and len(index) <= 2
        and index == str(int(index))
        and 0 < int(index) < MAX_CONTAINERS
    )


def encode_member_spec(index: int, spec: ProcessSpec) -> bytes:
    if not 0 < index < MAX_CONTAINERS:
        raise ValueError(f"pod member index {index} out of range")
    return _record(b"C", str(index).encode()) + encode_spec(spec)


def _check_exec_slot(slot: int) -> None:
    if not FIRST_EXEC_SLOT <= slot < MAX_SLOTS:
        raise ValueError(f"bad exec slot {slot}")


def encode_exec(slot: int, container: int, spec: ProcessSpec, io: int = 0) -> bytes:
    _check_exec_slot(slot)
    if not 0 <= container < MAX_CONTAINERS or io & ~(IO_OUTPUT | IO_STDIN):
        raise ValueError(f"bad exec container {container} or io {io}")
    head = f"{slot}:{container}" + (f":{io}" if io else "")
    return _record(b"X", head.encode()) + encode_spec(spec)


def encode_stdin(slot: int, data: bytes) -> bytes:
    """A chunk for an exec'd command's stdin; empty closes it."""
    _check_exec_slot(slot)
    if len(data) > STDIN_CHUNK:
        raise ValueError(f"stdin chunk of {len(data)} bytes is over {STDIN_CHUNK}")
    return _record(b"I", f"{slot}:".encode() + data)


def encode_mount_pool_share() -> bytes:
    return _record(b"P", b"")


def encode_go() -> bytes:
    """Start the first container's process, which waits since PREPARED."""
    return _record(b"G", b"")


def encode_memory_limit(container: int, limit_bytes: int) -> bytes:
    return _record(b"L", f"{container}:{int(limit_bytes)}".encode())


def encode_signal(signum: int, container: int = 0) -> bytes:
    payload = str(int(signum)) if container == 0 else f"{container}:{int(signum)}"
    return _record(b"K", payload.encode())


@dataclass(frozen=True)
class StatusEvent:
    """A line the guest's init wrote on its status port."""

    # READY | SHARED | PREPARED | STARTED | ERROR | EXIT | ACK | LIMIT (memory or disk) |
    # SENT (value: bytes, message: the port) | DRAINED
    kind: str
    value: int | None = None
    message: str = ""
    container: int = 0


class StatusParser:
    """Turns bytes from ``mh.status`` into events; rejects anything malformed."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[StatusEvent]:
        self._buf += data
        events = []
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            events.append(parse_status_line(line))
        if len(self._buf) > MAX_STATUS_LINE:
            raise ValueError("guest sent an over-long status line")
        return events


def parse_status_line(line: bytes) -> StatusEvent:
    if len(line) > MAX_STATUS_LINE:
        raise ValueError("guest sent an over-long status line")
    text = line.decode("utf-8", "replace").rstrip("\r")
    kind, _, rest = text.partition(" ")
    if kind in ("READY", "PREPARED", "SHARED", "DRAINED") and not rest:
        return StatusEvent(kind)
    if kind == "SENT":
        count, _, port = rest.partition(" ")
        if not (count.isdigit() and len(count) <= 20 and is_output_port(port)):
            raise ValueError(f"guest sent a malformed SENT line: {text[:80]!r}")
        return StatusEvent("SENT", int(count), message=port)
    number, _, index = rest.partition(" ")
    if kind in ("STARTED", "EXIT") and number.isdigit() and len(number) <= 10:
        container = 0
        if index:
            if not index.isdigit() or not 0 < int(index) < MAX_SLOTS:
                raise ValueError(f"guest named an impossible container {index[:8]!r}")
            container = int(index)
        value = int(number)
        if kind == "EXIT" and value > 255:
            raise ValueError(f"guest reported an impossible exit code {value}")
        return StatusEvent(kind, value, container=container)
    if kind == "ACK":
        if not (rest.isdigit() and len(rest) <= 2 and FIRST_EXEC_SLOT <= int(rest) < MAX_SLOTS):
            raise ValueError(f"guest acknowledged input of an impossible slot {rest[:8]!r}")
        return StatusEvent("ACK", container=int(rest))
    if kind == "LIMIT":
        resource, _, index = rest.partition(" ")
        if resource in ("memory", "disk") and (
            not index or (index.isdigit() and 0 < int(index) < MAX_CONTAINERS)
        ):
            return StatusEvent("LIMIT", message=resource, container=int(index or 0))
        raise ValueError(f"guest sent a malformed limit line: {text[:80]!r}")
    if kind == "ERROR":
        return StatusEvent("ERROR", message="".join(c for c in rest if c.isprintable())[:512])
    raise ValueError(f"guest sent a malformed status line: {text[:80]!r}")


@dataclass(frozen=True)
class Frame:
    """A chunk of an exec'd command's output, from the exec port."""

    slot: int
    stream: int  # STDOUT or STDERR
    data: bytes  # empty: the stream's end


class FrameParser:
    """Turns bytes from ``mh.exec`` into frames; rejects malformed ones (which slots may
    send is the pod's to check). Holds at most one partial frame."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf + data
        frames, at = [], 0
        while len(buf) - at >= FRAME_HEADER:
            slot, stream, length = struct.unpack_from("<BBH", buf, at)
            if not FIRST_EXEC_SLOT <= slot < MAX_SLOTS:
                raise ValueError(f"guest sent output of an impossible slot {slot}")
            if stream not in (STDOUT, STDERR):
                raise ValueError(f"guest sent output of an impossible stream {stream}")
            if length > MAX_FRAME:
                raise ValueError(f"guest sent an output frame of {length} bytes")
            end = at + FRAME_HEADER + length
            if len(buf) < end:
                break
            frames.append(Frame(slot, stream, buf[at + FRAME_HEADER : end]))
            at = end
        self._buf = buf[at:]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of a frame not complete yet (a VM that ended mid-frame cut it short)."""
        return len(self._buf)
