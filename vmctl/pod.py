"""Running one process in a fresh VM: the host side of our init's protocol.

The domain starts paused; we connect to every channel socket and queue the process spec
before resuming it, so no output is lost. A pump thread reads status, stdout, stderr and
exec'd commands' output (bounded reads; the guest is untrusted: StatusParser and
FrameParser validate, and a frame must belong to a command that asked for output), and
ends when QEMU has closed every socket. The output has all arrived once the VM has ended,
or sooner, once the guest has said DRAINED and we have read from each output port as many
bytes as it counted there (protocol.py): then we end the VM ourselves.

QEMU runs unprivileged (Debian's libvirt-qemu user, libvirt's dynamic ownership labels the
overlay): the per-container directory that holds the overlay, the sockets and the console
log is handed to that user, the kernel, initramfs and base disks are world-readable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import selectors
import shutil
import signal
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import libvirt

from mesos_hyper import config, log
from mesos_hyper.errors import VMError
from vmctl import accel, disks, resize, shares
from vmctl.domain import (
    ChannelSpec,
    DiskSpec,
    DomainSpec,
    InterfaceSpec,
    ShareSpec,
    domain_name,
)
from vmctl.guest import protocol
from vmctl.lifecycle import Domain, destroy_by_name
from vmctl.pool import store as pool_store
from vmctl.pool import weight
from vmctl.pool.refill import request_refill
from vmctl.pool.settings import PoolSettings
from vmctl.pool.store import PoolVM
from vmctl.sizing import Ceilings

LOG = log.get(__name__)
QEMU_USER = "libvirt-qemu"
BOOT_TIMEOUT_S = float(os.environ.get("MESOS_HYPER_BOOT_TIMEOUT", "120"))
READ_CHUNK = 64 * 1024
CONSOLE_TAIL = 2048

Output = Callable[[bytes], None]
ExecOutput = Callable[[int, bytes], None]  # (protocol.STDOUT or STDERR, data)
ExecInput = Callable[[], bytes]  # the next input for a command's stdin; b"" at its end
# An exec's output the pump holds for its caller: past it, the pump stops reading mh.exec
# until the caller has passed it on (the guest then stops reading the command's pipes)
EXEC_QUEUE_BYTES = 256 * 1024
# after a command's EXIT, how long its output may pause before we stop waiting for its ends
EXEC_END_IDLE_S = 5.0
EXEC_KILL_WAIT_S = 5.0
# a destroy after the last container's exit waits this long for the rest of its output
OUTPUT_END_WAIT_S = protocol.DRAINED_WAIT_S + 1.0


@dataclass
class _Exec:
    """One exec'd command: shared by its caller, the pump and its stdin feeder (``cond``)."""

    slot: int
    streams: bool  # its output comes as mh.exec frames
    cond: threading.Condition = field(default_factory=threading.Condition)
    frames: deque[tuple[int, bytes]] = field(default_factory=deque)
    queued: int = 0
    ended: set[int] = field(default_factory=set)  # streams whose end frame came
    exit_code: int | None = None
    vm_gone: bool = False
    discard: bool = False  # its output is not wanted any more (a timeout)
    abandoned: bool = False  # its caller left: the slot is freed once the guest is done
    unacked: bool = False  # a stdin chunk was sent and its ACK has not come
    last_frame: float = 0.0

    def over(self) -> bool:
        """No more input: the command ended, or nobody waits for it."""
        return self.exit_code is not None or self.vm_gone or self.abandoned

    def done(self) -> bool:
        """The guest sends nothing more for this slot."""
        return self.vm_gone or (
            self.exit_code is not None and (not self.streams or len(self.ended) == 2)
        )


@dataclass
class PodConfig:
    """What a pod is made of: its kernel, rootfs, sizes, NIC, shares and pool."""

    name: str
    kernel: Path
    initramfs: Path
    base_disk: Path
    workdir: Path
    vcpus: int = 1
    memory_mib: int = 256
    disk_bytes: int | None = None
    domain_type: str | None = None
    shares: dict[str, Path] = field(default_factory=dict)  # virtiofs tag -> host directory
    metadata: dict[str, str] = field(default_factory=dict)
    interface: InterfaceSpec | None = None  # the pod's NIC: a tap made beforehand
    # claim a VM from this state root's warm pool when one fits (and ask for a refill)
    pool: config.Paths | None = None


def _qemu_ids() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(QEMU_USER)
    except KeyError:
        return 0, 0
    return entry.pw_uid, entry.pw_gid


def make_workdir(workdir: Path) -> None:
    """A VM's directory (overlay, sockets, console log), handed to the QEMU user."""
    workdir.mkdir(parents=True, mode=0o750)
    uid, gid = _qemu_ids()
    os.chown(workdir, uid, gid)


class Pod:
    """One VM running one process; use as a context manager so it is always destroyed."""

    def __init__(self, config: PodConfig) -> None:
        self.config = config
        self.domain_name = domain_name(config.name)
        self.timings: dict[str, float] = {}
        self.exit_code: int | None = None
        self.error: str | None = None
        self._domain: Domain | None = None
        self._socks: dict[str, socket.socket] = {}
        self._pump: threading.Thread | None = None
        self._ready = threading.Event()  # the guest's init waits for the spec
        self._prepared = threading.Event()  # the first container waits for go
        self._started = threading.Event()
        self._lock = threading.Lock()
        self._destroyed = False
        # per container (0 = the first): exit codes and the events that announce them
        self.exits: dict[int, int] = {}
        self._member_started: dict[int, threading.Event] = {}
        self._exited: dict[int, threading.Event] = {0: threading.Event()}
        self._members = 0
        self._readers: list[threading.Thread] = []
        self.broken_limits: dict[int, str] = {}  # container -> the limit it broke (memory, disk)
        self._free_slots = list(range(protocol.FIRST_EXEC_SLOT, protocol.MAX_SLOTS))
        self._execs: dict[int, _Exec] = {}  # slot -> its command, until the guest is done
        self._exec_lock = threading.Lock()  # never held over I/O: the pump takes it
        self.pool_vm: str | None = None  # the pool VM this pod claimed, if it did
        self._refill_due = False  # we looked in the pool: it needs topping up after our start
        self._bound_shares: set[str] = set()  # tags bound into a claimed VM's own share
        # the end of the output: the VM's, or the guest's DRAINED with every count read
        self._output_ended = threading.Event()
        self._sent: dict[str, int] = {}  # output port -> bytes the guest counted (SENT)
        self._received: dict[str, int] = {}  # output port -> bytes we passed on
        self._drained = False
        self._count_lock = threading.Lock()
        self._t_resume = 0.0  # what the guest's timings count from

    # ---- start ----------------------------------------------------------------

    def create(self) -> None:
        """The VM exists, paused, with the task's rootfs, NIC and shares: a claimed pool VM
        when one fits, else a new one. ``start`` calls it if the caller has not."""
        if self._domain is not None:
            return
        cfg = self.config
        self._check_not_destroyed()
        if cfg.workdir.exists():
            raise VMError(f"container {cfg.name} already exists ({cfg.workdir})")
        claimed = self._claim()
        if claimed is not None:
            try:
                self._build(claimed)
            except VMError as err:  # the VM is gone (_adopt); the task need not fail with it
                log.event(LOG, "claimed pool VM unusable; booting cold", log.WARNING, error=err)
                with contextlib.suppress(VMError):
                    destroy_by_name(claimed.name)  # if it failed before it was adopted
                shutil.rmtree(cfg.workdir, ignore_errors=True)
                self.domain_name, self.pool_vm, claimed = domain_name(cfg.name), None, None
        if claimed is None:
            make_workdir(cfg.workdir)
            self._build(None)
        self._check_not_destroyed()  # a destroy() that came before the domain existed

    def _build(self, claimed: PoolVM | None) -> None:
        """The task's rootfs overlay, then the claimed VM given its devices, or a new VM."""
        cfg = self.config
        t0 = time.monotonic()
        overlay = disks.create_overlay(cfg.base_disk, cfg.workdir / "rootfs.qcow2", cfg.disk_bytes)
        root_disk = DiskSpec(overlay, serial=protocol.member_disk_serial(0))
        shares = [ShareSpec(source, tag) for tag, source in cfg.shares.items()]
        interfaces = [cfg.interface] if cfg.interface else []
        metadata = {**cfg.metadata, "name": cfg.name, "workdir": str(cfg.workdir)}
        t1 = time.monotonic()
        if claimed is not None:
            self._adopt(claimed, [root_disk, *interfaces, *shares], metadata)
        else:
            ceilings = Ceilings.from_env().at_least(cfg.vcpus, cfg.memory_mib)
            self._domain = Domain(
                DomainSpec(
                    name=self.domain_name,
                    kernel=cfg.kernel,
                    initramfs=cfg.initramfs,
                    domain_type=cfg.domain_type or accel.domain_type(),
                    vcpus=cfg.vcpus,
                    memory_mib=cfg.memory_mib,
                    max_vcpus=ceilings.vcpus,
                    max_memory_mib=ceilings.memory_mib,
                    disks=[root_disk],
                    interfaces=interfaces,
                    channels=self._channels(),
                    console_log=cfg.workdir / "console.log",
                    shares=shares,
                    metadata=metadata,
                )
            )
        self.timings.update(overlay=t1 - t0, domain_start=time.monotonic() - t1)

    def _channels(self) -> list[ChannelSpec]:
        return [ChannelSpec(name, self.config.workdir / f"{name}.sock") for name in protocol.PORTS]

    def _claim(self) -> PoolVM | None:
        """A pool VM moved into our workdir, or None (no pool, none fits, none idle)."""
        cfg = self.config
        if cfg.pool is None:
            return None
        settings = PoolSettings.from_env()
        if not settings.enabled:
            return None
        claimed = None
        try:
            claimed = pool_store.claim(
                pool_store.PoolDirs(cfg.pool),
                cfg.workdir,
                vcpus=cfg.vcpus,
                memory_mib=cfg.memory_mib,
                domain_type=cfg.domain_type or accel.domain_type(),
                guest=pool_store.guest_identity(cfg.pool),
            )
        except VMError as err:  # a misplaced pool costs speed, not the task
            log.event(LOG, "pool unusable", log.ERROR, error=err)
        self._refill_due = True  # once this pod started, not while it does: see start()
        if claimed is None:
            log.event(
                LOG,
                "no pool VM fits; booting cold",
                pod=cfg.name,
                vcpus=cfg.vcpus,
                memory_mib=cfg.memory_mib,
                pool_vcpus=settings.vcpus,
                pool_memory_mib=settings.memory_mib,
            )
        return claimed

    def _adopt(
        self,
        vm: PoolVM,
        devices: list[DiskSpec | InterfaceSpec | ShareSpec],
        metadata: dict[str, str],
    ) -> None:
        """Our claimed VM becomes this pod's: relabelled, sized, and given its devices."""
        self.domain_name = vm.name
        self.pool_vm = vm.name
        try:
            self._domain = Domain(None, adopt=vm.name)
            self._domain.set_metadata(metadata)
            for device in devices:
                if isinstance(device, ShareSpec) and device.tag in vm.shares:
                    # into the share it booted with: see vmctl.shares
                    shares.attach(vm.name, device.tag, device.source)
                    self._bound_shares.add(device.tag)
                    continue
                if isinstance(device, InterfaceSpec):
                    from vmctl.network import links  # netlink: only for pods with a NIC

                    # the VM's own NIC becomes the pod's: its tap takes the pod's tap's
                    # name (and so its rules); the guest takes the pod's MAC from the spec
                    links.rename_tap(links.pool_tap_name(vm.name), device.tap, device.mac)
                    continue
                self._domain.attach(ET.tostring(device.element(), encoding="unicode"))
            dom = self._domain.libvirt_domain
            # a bigger task than the pool's class grows the VM by hot-plug (vmctl.resize)
            memory_mib, problems = resize.memory(dom, self.config.memory_mib)
            problems += resize.vcpus(dom, self.config.vcpus)
            if problems:
                raise VMError(f"claimed pool VM {vm.name} cannot grow: {'; '.join(problems)}")
            # the balloon gives it the task's RAM (the pool VM idles at less, see settings)
            dom.setMemoryFlags(memory_mib * 1024, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            weight.restore(dom, vm.cpu_shares)
        except Exception as err:
            if self._domain is not None:
                self._domain.release()
                self._domain = None
            with contextlib.suppress(VMError):
                destroy_by_name(vm.name)  # half-plugged: it can serve nobody now
            if isinstance(err, libvirt.libvirtError):
                raise VMError(f"claimed pool VM {vm.name}: {err.get_error_message()}") from err
            raise
        self.timings["guest_ready"] = 0.0  # it said READY when it was booted
        self._ready.set()

    def start(
        self,
        spec: protocol.ProcessSpec,
        on_stdout: Output,
        on_stderr: Output,
        before_resume: Callable[[], None] | None = None,
        before_exec: Callable[[], None] | None = None,
        after_exec: Callable[[], None] | None = None,
    ) -> None:
        """Create the VM if needed, resume it and start ``spec``; returns once the guest
        says STARTED.

        ``before_resume`` runs while the VM exists but is paused (QEMU holds its tap).
        ``before_exec`` runs once the guest has set the task up (rootfs, mounts, network:
        PREPARED) and before its process exists: limits applied there hold for everything
        the task runs, but not for our boot nor for the set-up, which are the pod's cost.
        ``after_exec`` runs the moment the guest says the process was exec'd (STARTED),
        before anything else: for the CPU quota, so that the exec is set-up too.
        """
        try:
            self._start(spec, on_stdout, on_stderr, before_resume, before_exec, after_exec)
        finally:
            if self._refill_due and self.config.pool is not None:
                # a refill boots a VM, which on a small TCG host would slow this start
                request_refill(self.config.pool)
                self._refill_due = False

    def _start(
        self,
        spec: protocol.ProcessSpec,
        on_stdout: Output,
        on_stderr: Output,
        before_resume: Callable[[], None] | None,
        before_exec: Callable[[], None] | None,
        after_exec: Callable[[], None] | None,
    ) -> None:
        cfg = self.config
        self.create()
        assert self._domain is not None
        t2 = self._t_resume = time.monotonic()
        for channel in self._channels():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(channel.socket))
            self._socks[channel.name] = sock
        self._pump = threading.Thread(
            target=self._pump_loop,
            args=(on_stdout, on_stderr, t2),
            name=f"pump-{cfg.name}",
            daemon=True,
        )
        self._pump.start()
        if before_resume is not None:
            before_resume()
        self._domain.resume()
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        if not self._ready.wait(BOOT_TIMEOUT_S):
            raise VMError(f"the guest of {cfg.name} did not boot within {BOOT_TIMEOUT_S:.0f}s")
        if "guest_ready" not in self.timings:
            raise VMError(self._death_message())
        spec_record = protocol.encode_spec(
            dataclasses.replace(
                self._for_guest(spec), clock=time.time(), seed=os.urandom(protocol.SEED_BYTES)
            )
        )
        # with no limits to apply in between, go follows the spec: the guest reads it once
        # it is PREPARED, and no round trip to us comes between its set-up and the exec
        self._send(spec_record if before_exec else spec_record + protocol.encode_go())
        if not self._prepared.wait(max(0.0, deadline - time.monotonic())):
            raise VMError(f"the guest of {cfg.name} did not set up within {BOOT_TIMEOUT_S:.0f}s")
        if "guest_prepared" not in self.timings:
            raise VMError(self._death_message())
        if before_exec is not None:
            t_limits = time.monotonic()
            before_exec()
            self.timings["limits"] = time.monotonic() - t_limits
            self._send(protocol.encode_go())
        if not self._started.wait(max(0.0, deadline - time.monotonic())):
            raise VMError(
                f"the guest of {cfg.name} did not start the process within {BOOT_TIMEOUT_S:.0f}s"
            )
        if "exec_started" not in self.timings and self.exit_code is None:
            raise VMError(self._death_message())
        if after_exec is not None:
            after_exec()
            # from STARTED's arrival: about how long the task's process ran unthrottled
            self.timings["exec_to_quota"] = (
                time.monotonic() - t2 - self.timings.get("exec_started", 0.0)
            )
        log.event(
            LOG,
            "process started",
            pod=cfg.name,
            pooled=self.pool_vm is not None,
            **{k: f"{v:.3f}" for k, v in self.timings.items()},
        )

    def _for_guest(self, spec: protocol.ProcessSpec) -> protocol.ProcessSpec:
        """Shares bound into a claimed VM's own share are bind-mounted by the guest."""
        mounts = [
            (protocol.BOUND_SHARE + tag if tag in self._bound_shares else tag, target)
            for tag, target in spec.mounts
        ]
        return dataclasses.replace(spec, mounts=mounts)

    def _pump_loop(self, on_stdout: Output, on_stderr: Output, t_resume: float) -> None:
        sel = selectors.DefaultSelector()
        sinks = {protocol.STDOUT_PORT: on_stdout, protocol.STDERR_PORT: on_stderr}
        ports = (protocol.STATUS_PORT, protocol.STDOUT_PORT, protocol.STDERR_PORT)
        for name in (*ports, protocol.EXEC_PORT):
            sel.register(self._socks[name], selectors.EVENT_READ, name)
        exec_sock = self._socks[protocol.EXEC_PORT]
        parser = protocol.StatusParser()
        frames = protocol.FrameParser()
        open_count = 4
        exec_paused = exec_broken = False
        try:
            while open_count:
                # an exec's caller passed its backlog on, or the VM is gone (only mh.exec left)
                if exec_paused and (open_count == 1 or not self._exec_backlog()):
                    sel.register(exec_sock, selectors.EVENT_READ, protocol.EXEC_PORT)
                    exec_paused = False
                for key, _ in sel.select(0.05 if exec_paused else None):
                    data = _recv(key.fileobj)  # type: ignore[arg-type]
                    if not data:
                        sel.unregister(key.fileobj)
                        open_count -= 1
                        continue
                    if key.data == protocol.STATUS_PORT:
                        try:
                            for event in parser.feed(data):
                                self._on_status(event, t_resume)
                        except ValueError as err:
                            self._violation(err)
                    elif key.data == protocol.EXEC_PORT:
                        if exec_broken:
                            continue
                        try:
                            for frame in frames.feed(data):
                                self._on_frame(frame)
                        except ValueError as err:
                            exec_broken = True
                            self._violation(err)
                        if self._exec_backlog():
                            sel.unregister(exec_sock)
                            exec_paused = True
                    else:
                        try:
                            sinks[key.data](data)
                        except Exception as err:  # a sink that fails must not kill the pump
                            log.event(LOG, "output sink failed", log.ERROR, error=err)
                        self._count(key.data, len(data))
        finally:
            sel.close()
            self._output_ended.set()
            self._ready.set()
            self._prepared.set()
            self._started.set()
            for event in (*self._exited.values(), *self._member_started.values()):
                event.set()  # the VM is gone: nobody waits for ever
            with self._exec_lock:
                execs = list(self._execs.values())
            for state in execs:
                with state.cond:
                    state.vm_gone = True
                    state.cond.notify_all()
                self._maybe_free(state)

    def _count(self, port: str, size: int) -> None:
        """``size`` more bytes of ``port`` passed on (only its reader thread calls this)."""
        self._received[port] = self._received.get(port, 0) + size
        if self._drained:
            self._check_drained()

    def _check_drained(self) -> None:
        """The output has ended once the guest said DRAINED and we read from every output
        port what it counted; a port it did not count keeps us waiting for the VM's end."""
        with self._count_lock:
            if self._output_ended.is_set():
                return
            ports = [name for name in list(self._socks) if protocol.is_output_port(name)]
            if all(self._received.get(p, 0) >= self._sent.get(p, 1 << 64) for p in ports):
                self.timings["drained"] = time.monotonic() - self._t_resume
                self._output_ended.set()

    def _violation(self, err: ValueError) -> None:
        self.error = f"protocol violation: {err}"
        log.event(LOG, "guest broke the protocol", log.ERROR, error=err)
        self._kill_domain()

    def _exec_backlog(self) -> bool:
        with self._exec_lock:
            return any(s.queued > EXEC_QUEUE_BYTES for s in self._execs.values())

    def _on_frame(self, frame: protocol.Frame) -> None:
        """An exec'd command's output; ValueError for a frame no command can have sent."""
        with self._exec_lock:
            state = self._execs.get(frame.slot)
        if state is None or not state.streams:
            raise ValueError(f"guest sent output of slot {frame.slot}, which runs no command")
        with state.cond:
            if frame.stream in state.ended:
                raise ValueError(f"guest sent output of slot {frame.slot} after its end")
            if not frame.data:
                state.ended.add(frame.stream)
            elif not (state.abandoned or state.discard):
                state.frames.append((frame.stream, frame.data))
                state.queued += len(frame.data)
            state.last_frame = time.monotonic()
            state.cond.notify_all()
        if not frame.data:
            self._maybe_free(state)

    def _on_exec_status(self, event: protocol.StatusEvent) -> None:
        with self._exec_lock:
            state = self._execs.get(event.container)
        if event.kind == "ACK":
            if state is None or not state.unacked:
                raise ValueError(f"guest acknowledged input slot {event.container} was not sent")
            with state.cond:
                state.unacked = False
                state.cond.notify_all()
        elif event.kind == "EXIT" and state is not None and event.value is not None:
            with state.cond:
                if state.exit_code is None:
                    state.exit_code = event.value
                state.last_frame = time.monotonic()
                state.cond.notify_all()
            self._maybe_free(state)

    def _on_status(self, event: protocol.StatusEvent, t_resume: float) -> None:
        now = time.monotonic() - t_resume
        if event.container >= protocol.FIRST_EXEC_SLOT or event.kind == "ACK":
            self._on_exec_status(event)
        elif event.kind == "READY":
            self.timings["guest_ready"] = now
            self._ready.set()
        elif event.kind == "PREPARED":
            self.timings["guest_prepared"] = now
            self._prepared.set()
        elif event.kind == "STARTED" and event.container:
            self._member_started.setdefault(event.container, threading.Event()).set()
        elif event.kind == "STARTED":
            self.timings["exec_started"] = now
            self._started.set()
        elif event.kind == "SENT" and event.value is not None:
            self._sent[event.message] = event.value
        elif event.kind == "DRAINED":
            self._drained = True
            self._check_drained()
        elif event.kind == "LIMIT":
            self.broken_limits.setdefault(event.container, event.message)
            log.event(
                LOG,
                "container broke its limit",
                pod=self.config.name,
                container=event.container,
                resource=event.message,
            )
        elif event.kind == "ERROR":
            self.error = event.message
            log.event(
                LOG,
                "guest reported an error",
                log.WARNING,
                pod=self.config.name,
                error=event.message,
            )
        elif event.kind == "EXIT" and event.value is not None:
            self.exits.setdefault(event.container, event.value)
            self._exited.setdefault(event.container, threading.Event()).set()
            self._member_started.setdefault(event.container, threading.Event()).set()
            if event.container == 0 and self.exit_code is None:
                self.exit_code = event.value
                self._prepared.set()
                self._started.set()

    # ---- control --------------------------------------------------------------

    def signal(self, signum: int, container: int = 0) -> None:
        self._send(protocol.encode_signal(signum, container))

    def _send(self, data: bytes) -> None:
        sock = self._socks.get(protocol.CONTROL_PORT)
        if sock is None:
            raise VMError(f"pod {self.config.name} is not running")
        try:
            with self._lock:
                sock.sendall(data)
        except OSError as err:
            raise VMError(f"pod {self.config.name}: control channel broken: {err}") from err

    def wait(self, timeout: float | None = None) -> int:
        """The process's exit code once its output has all been delivered and the VM has
        ended (we end it once the guest drained)."""
        if self._pump is None:
            raise VMError(f"pod {self.config.name} was never started")
        if not self._output_ended.wait(timeout):
            raise TimeoutError(f"pod {self.config.name} still running after {timeout}s")
        self._end_drained()
        self._pump.join(10.0)
        if self._domain is not None:
            self._domain.wait_ended(10.0)
        if self.exit_code is None:
            raise VMError(self._death_message())
        return self.exit_code

    # ---- pods: further containers in the same VM -------------------------------------

    def add_container(
        self,
        spec: protocol.ProcessSpec,
        base_disk: Path,
        on_stdout: Output,
        on_stderr: Output,
        disk_bytes: int | None = None,
    ) -> int:
        """Start ``spec`` as a further container of this VM (own rootfs, own output)."""
        if self._domain is None or not self._domain.alive():
            raise VMError(f"pod {self.config.name} is not running")
        with self._lock:
            self._members += 1
            index = self._members
        if index >= protocol.MAX_CONTAINERS:
            raise VMError(f"pod {self.config.name} is full ({protocol.MAX_CONTAINERS} containers)")
        workdir = self.config.workdir
        overlay = disks.create_overlay(base_disk, workdir / f"rootfs-{index}.qcow2", disk_bytes)
        channels = [
            ChannelSpec(name, workdir / f"{name}.sock") for name in protocol.member_ports(index)
        ]
        disk = DiskSpec(
            overlay, target="sd" + chr(ord("a") + index), serial=protocol.member_disk_serial(index)
        )
        self._exited[index] = threading.Event()
        started = self._member_started.setdefault(index, threading.Event())
        for device in (disk.element(), *(c.element() for c in channels)):
            self._domain.attach(ET.tostring(device, encoding="unicode"))
        socks = []
        for channel in channels:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(channel.socket))
            socks.append(sock)
            self._socks[channel.name] = sock
        reader = threading.Thread(
            target=self._read_outputs, args=(channels, socks, (on_stdout, on_stderr)), daemon=True
        )
        reader.start()
        self._readers.append(reader)
        self._send(protocol.encode_member_spec(index, self._for_guest(spec)))
        if not started.wait(BOOT_TIMEOUT_S) or (
            index not in self.exits and not self._domain.alive()
        ):
            raise VMError(self._death_message())
        log.event(LOG, "pod member started", pod=self.config.name, container=index)
        return index

    def _read_outputs(
        self,
        channels: list[ChannelSpec],
        socks: list[socket.socket],
        sinks: tuple[Output, Output],
    ) -> None:
        """Copy a pod member's stdout and stderr until the VM closes them."""
        sel = selectors.DefaultSelector()
        for channel, sock, sink in zip(channels, socks, sinks, strict=True):
            sel.register(sock, selectors.EVENT_READ, (channel.name, sink))
        try:
            while sel.get_map():
                for key, _ in sel.select():
                    data = _recv(key.fileobj)  # type: ignore[arg-type]
                    if not data:
                        sel.unregister(key.fileobj)
                        continue
                    port, sink = key.data
                    try:
                        sink(data)
                    except Exception as err:  # a failing sink must not stop the others
                        log.event(LOG, "output sink failed", log.ERROR, error=err)
                    self._count(port, len(data))
        finally:
            sel.close()

    def exec(
        self,
        container: int,
        spec: protocol.ProcessSpec,
        timeout: float,
        on_output: ExecOutput | None = None,
        stdin: ExecInput | None = None,
    ) -> int:
        """Run ``spec`` in a running container (its rootfs and cgroup); its exit code.

        Without ``on_output`` its output is discarded (health checks); with it, its stdout
        and stderr are passed on from this thread as they come, and the exit code returned
        once both have ended (or paused for EXEC_END_IDLE_S after the exit). ``stdin`` is
        read from a thread of its own, one guest ACK at a time; without it the command's
        stdin is /dev/null. On timeout the command's process group is killed and
        TimeoutError raised; an exception from ``on_output`` kills it too.
        """
        with self._exec_lock:
            if not self._free_slots:
                raise VMError(f"pod {self.config.name}: too many commands running at once")
            state = _Exec(self._free_slots.pop(0), streams=on_output is not None)
            self._execs[state.slot] = state
        io = (protocol.IO_OUTPUT if on_output else 0) | (protocol.IO_STDIN if stdin else 0)
        deadline = time.monotonic() + timeout
        try:
            self._send(protocol.encode_exec(state.slot, container, spec, io))
        except BaseException:
            with self._exec_lock:  # the guest never heard of it
                del self._execs[state.slot]
                self._free_slots.append(state.slot)
            raise
        try:
            if stdin is not None:
                threading.Thread(
                    target=self._feed_stdin,
                    args=(state, stdin),
                    name=f"exec-stdin-{self.config.name}-{state.slot}",
                    daemon=True,
                ).start()
            return self._follow(state, deadline, timeout, on_output)
        except BaseException:
            if state.exit_code is None and not state.vm_gone:  # its slot is still its own
                with contextlib.suppress(VMError):
                    self.signal(signal.SIGKILL, state.slot)
            raise
        finally:
            with state.cond:
                state.abandoned = True
                state.frames.clear()
                state.queued = 0
                state.cond.notify_all()
            self._maybe_free(state)

    def _follow(
        self, state: _Exec, deadline: float, timeout: float, on_output: ExecOutput | None
    ) -> int:
        """Passes the command's output on until it has ended; its exit code."""
        exit_seen: float | None = None
        while True:
            with state.cond:
                while not (state.frames or state.done()):
                    if exit_seen is None and state.exit_code is not None:
                        exit_seen = time.monotonic()
                    if exit_seen is None:
                        limit = deadline
                    else:
                        limit = max(exit_seen, state.last_frame) + EXEC_END_IDLE_S
                    left = limit - time.monotonic()
                    if left <= 0:
                        break
                    state.cond.wait(left)
                frames = list(state.frames)
                state.frames.clear()
                state.queued = 0
                code, gone, done = state.exit_code, state.vm_gone, state.done()
            for stream, data in frames:
                if on_output is not None:
                    on_output(stream, data)
            now = time.monotonic()
            if code is not None:
                if exit_seen is None:
                    exit_seen = now
                if done:
                    return code
                if now >= max(exit_seen, state.last_frame) + EXEC_END_IDLE_S or (
                    now >= exit_seen + protocol.EXEC_DRAIN_MAX_S + EXEC_END_IDLE_S
                ):
                    log.event(
                        LOG,
                        "exec'd command's output did not end",
                        log.WARNING,
                        pod=self.config.name,
                        slot=state.slot,
                    )
                    return code
            elif gone:
                raise VMError(self._death_message())
            elif now >= deadline:
                self._kill_exec(state)
                raise TimeoutError(f"the command did not finish within {timeout:g}s")

    def _kill_exec(self, state: _Exec) -> None:
        """SIGKILL to a command's process group; returns once the guest says it ended."""
        with state.cond:
            state.discard = True
            state.frames.clear()
            state.queued = 0
        with contextlib.suppress(VMError):
            self.signal(signal.SIGKILL, state.slot)
        with state.cond:
            state.cond.wait_for(
                lambda: state.exit_code is not None or state.vm_gone, EXEC_KILL_WAIT_S
            )
        if state.exit_code is None and not state.vm_gone:
            raise VMError(f"pod {self.config.name}: a killed command did not end")

    def _feed_stdin(self, state: _Exec, read: ExecInput) -> None:
        """The command's input, a chunk at a time: the next only once the guest took one."""
        size = protocol.STDIN_CHUNK
        try:
            while True:
                data = read()
                for chunk in [data[i : i + size] for i in range(0, len(data), size)] or [b""]:
                    with state.cond:
                        state.cond.wait_for(lambda: not state.unacked or state.over())
                        if state.over():
                            return
                        state.unacked = bool(chunk)
                    sock = self._socks.get(protocol.CONTROL_PORT)
                    if sock is None:
                        return
                    # under the control lock: the slot cannot be another command's before
                    # this chunk is on its way (a new X needs the lock, and the EXIT first)
                    with self._lock:
                        if state.over():
                            return
                        sock.sendall(protocol.encode_stdin(state.slot, chunk))
                if not data:
                    return
        except Exception as err:  # the caller's input failed: the command just gets no more
            log.event(LOG, "exec input failed", log.WARNING, pod=self.config.name, error=err)

    def _maybe_free(self, state: _Exec) -> None:
        """A slot is taken back once its caller left and the guest is done with it."""
        with self._exec_lock:
            if state.abandoned and state.done() and self._execs.get(state.slot) is state:
                del self._execs[state.slot]
                self._free_slots.append(state.slot)

    def set_memory_limit(self, container: int, limit_bytes: int) -> None:
        """A new hard memory limit for one container's cgroup in the guest."""
        self._send(protocol.encode_memory_limit(container, limit_bytes))

    def wait_container(self, index: int, timeout: float | None = None) -> int:
        """Exit code of one container of the pod; VMError if the VM died first."""
        event = self._exited.get(index)
        if event is None:
            raise VMError(f"pod {self.config.name} has no container {index}")
        if not event.wait(timeout):
            raise TimeoutError(f"container {index} of {self.config.name} still running")
        if index not in self.exits:
            raise VMError(self._death_message())
        return self.exits[index]

    def stop_container(self, index: int, grace_s: float) -> None:
        """SIGTERM one container, SIGKILL after ``grace_s``; the VM goes if it was the last."""
        with contextlib.suppress(VMError):
            self.signal(signal.SIGTERM, index)
        if self._exited[index].wait(grace_s):
            return
        others = [
            i
            for i in self._exited
            if i != index and i < protocol.MAX_CONTAINERS and i not in self.exits
        ]
        if not others:
            self._kill_domain()
            return
        with contextlib.suppress(VMError):
            self.signal(signal.SIGKILL, index)

    def stop(self, grace_s: float) -> int | None:
        """SIGTERM to the process, then destroy the VM after ``grace_s``."""
        with contextlib.suppress(VMError):
            self.signal(signal.SIGTERM)
        if self._pump is None:  # not started: nothing in it to be graceful to
            self._kill_domain()
        elif self._output_ended.wait(grace_s):
            self._end_drained()
        else:
            log.event(LOG, "grace period over, destroying", pod=self.config.name, grace_s=grace_s)
            self._kill_domain()
        return self.exit_code

    def _end_drained(self) -> None:
        """The guest drained its output and waits for its end: we end the VM (a guest's
        own power-off costs libvirt 200 ms more, see vmctl.processes)."""
        if self._drained and self._pump is not None and self._pump.is_alive():
            self._kill_domain()

    def _check_not_destroyed(self) -> None:
        """``start`` gives up once another thread has destroyed the pod (a kill at boot)."""
        if self._destroyed:
            self._release()
            raise VMError(f"pod {self.config.name} was destroyed while it started")

    def _kill_domain(self) -> None:
        if self._domain is not None:
            self._domain.destroy()

    def _death_message(self) -> str:
        tail = ""
        try:
            with open(self.config.workdir / "console.log", "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - CONSOLE_TAIL))
                lines = f.read().decode(errors="replace").strip().splitlines()
                tail = lines[-1][:200] if lines else ""
        except OSError:
            pass
        why = self.error or "the VM ended without reporting an exit status"
        return f"pod {self.config.name}: {why}" + (f" (console: {tail})" if tail else "")

    def destroy(self) -> None:
        """Idempotent: domain, sockets, overlay and the container directory all go."""
        with self._lock:
            if self._destroyed:
                return
            self._destroyed = True
        self._release()

    def _release(self) -> None:
        if self._pump is not None and self._all_exited():
            # the guest is ending by itself: the rest of the output first (OUTPUT_END_WAIT_S)
            self._output_ended.wait(OUTPUT_END_WAIT_S)
        try:
            self._kill_domain()
        finally:
            # shut down before closing: the readers see the end, where a socket closed
            # under their select would leave them waiting for the join's timeout
            socks = list(self._socks.values())
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            if self._pump is not None:
                self._pump.join(5.0)
            for reader in self._readers:
                reader.join(5.0)
            for sock in socks:
                sock.close()
            shutil.rmtree(self.config.workdir, ignore_errors=True)

    def _all_exited(self) -> bool:
        containers = [i for i in list(self._exited) if i < protocol.MAX_CONTAINERS]
        return all(i in self.exits for i in containers)

    def alive(self) -> bool:
        return self._domain is not None and self._domain.alive()

    def libvirt_domain(self) -> libvirt.virDomain:
        """For isolators: the running domain."""
        if self._domain is None:
            raise VMError(f"pod {self.config.name} is not running")
        return self._domain.libvirt_domain

    def __enter__(self) -> Pod:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.destroy()


def _recv(sock: socket.socket) -> bytes:
    """A bounded read of a channel; b"" at its end, or where QEMU broke it."""
    try:
        return sock.recv(READ_CHUNK)
    except OSError:
        return b""
