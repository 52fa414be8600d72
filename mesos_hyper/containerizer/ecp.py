"""The seven commands a Mesos 1.0 agent runs its external containerizer with.

Each invocation is a short-lived process (``launch`` starts the detached pod executor and
returns); the state lives in records under ``$MESOS_WORK_DIRECTORY/mesos-hyper``.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path

from mesos_hyper import config, log
from mesos_hyper.containerizer import recordio
from mesos_hyper.errors import HyperError
from mesos_hyper.proto import wire
from mesos_hyper.state import ContainerRecord, StateStore, Status, Termination, default_root
from mesos_hyper.state.locks import flocked

TYPE_CHECKING = False  # not even typing is imported: `containers` and `usage` must start fast
if TYPE_CHECKING:
    from typing import BinaryIO

    from mesos_hyper.containerizer import executor_process
    from mesos_hyper.model import messages

LOG = log.get(__name__)
# Held by `launch` from just after the record exists until the executor's pid is in it: a
# record with no pid whose lock is free belongs to a launch that was killed.
LAUNCH_LOCK = "launch.lock"
INTERRUPTED_LAUNCH_AGE_S = 2.0
EXECUTOR_KILL_GRACE_S = 10.0  # the executor's TERM_BUDGET_S: it reports and cleans up within it
# Terminated records older than this go at the next launch or recover (some are never both
# waited on and destroyed: the agent SIGKILLs a pending wait before it destroys).
RECORD_TTL_S = float(os.environ.get("MESOS_HYPER_RECORD_TTL_SECONDS") or 3600)


def _store() -> StateStore:
    return StateStore(default_root())


def launch(stdin: BinaryIO) -> None:
    raw = recordio.read_record(stdin)
    store = _store()
    starting = _start_early(store, raw)
    try:
        from mesos_hyper.model import messages  # protobuf: 40 ms the executor imports beside
        from mesos_hyper.proto import containerizer_pb2

        request = messages.from_launch(recordio.parse(containerizer_pb2.Launch, raw))
        check_switch_user(request.user)
        store.create(request.container_id, sandbox=request.directory, limits=request.resources)
        cid = request.container_id
        with flocked(store.containers_dir / cid / LAUNCH_LOCK):
            _start_executor(store, request, raw, starting)
        starting = None
    finally:
        if starting is not None:
            starting.cancel()
    # housekeeping once the executor is on its way: the task's start waits for it
    store.collect(RECORD_TTL_S)
    _reap_interrupted_launches(store)


def _executor_env(store: StateStore, container_id: str, directory: str) -> dict[str, str]:
    env = {
        **os.environ,
        "MESOS_HYPER_CONTAINER_ID": container_id,
        "MESOS_HYPER_STATE_ROOT": str(store.root),
    }
    env.setdefault("MESOS_DIRECTORY", directory)
    return env


def _start_early(store: StateStore, raw: bytes) -> executor_process.Starting | None:
    """The executor, started before the launch is parsed (executor_process.Starting), where
    the record's container id reads and the agent named the sandbox; None otherwise (it is
    then started once the launch is parsed, and a malformed launch fails as it would)."""
    from mesos_hyper.containerizer import executor_process

    sandbox = os.environ.get("MESOS_DIRECTORY")
    try:
        cid = wire.container_id_of(raw, "mesos.containerizer.Launch")
    except HyperError:
        return None
    if not sandbox:
        return None
    try:
        return executor_process.Starting(Path(sandbox), _executor_env(store, cid, sandbox))
    except (OSError, HyperError) as err:
        log.event(LOG, "executor not started early", log.WARNING, error=err)
        return None


def _start_executor(
    store: StateStore,
    request: messages.LaunchRequest,
    raw: bytes,
    starting: executor_process.Starting | None,
) -> None:
    from mesos_hyper.containerizer import executor_process
    from mesos_hyper.model import messages

    cid = request.container_id
    try:
        store.launch_path(cid).write_bytes(raw)
        if starting is not None and starting.sandbox != Path(request.directory):
            starting.cancel()  # the agent's MESOS_DIRECTORY was not the launch's directory
            starting = None
        if starting is None:
            env = _executor_env(store, cid, request.directory)
            starting = executor_process.Starting(Path(request.directory), env)
        pid, started = starting.go()
    except Exception as err:
        store.mark_terminated(
            cid,
            Termination(
                status=messages.exit_status(1),
                state="TASK_FAILED",
                reasons=("REASON_CONTAINER_LAUNCH_FAILED",),
                message=f"launch failed: {err}",
            ),
        )
        raise
    store.update(cid, pids={"executor": pid, "executor_start": started})
    log.event(LOG, "launched", container=cid, executor_pid=pid)


def _reap_interrupted_launches(store: StateStore) -> None:
    """A `launch` SIGKILLed before it started the executor leaves a live record that the
    agent (which saw the launch fail) never waits on nor destroys: end it now."""
    from mesos_hyper.model import messages

    now = time.time()
    for record in store.list():
        if not record.live or "executor" in record.pids:
            continue
        if now - record.created_at < INTERRUPTED_LAUNCH_AGE_S:
            continue  # the launch may not hold its lock yet
        lock = store.containers_dir / record.container_id / LAUNCH_LOCK
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None  # killed before it took the lock
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a launch in progress
            store.mark_terminated(
                record.container_id,
                Termination(
                    status=messages.exit_status(1),
                    state="TASK_FAILED",
                    reasons=("REASON_CONTAINER_LAUNCH_FAILED",),
                    message="launch was interrupted before the executor started",
                ),
            )
            log.event(LOG, "ended an interrupted launch", container=record.container_id)
        finally:
            if fd is not None:
                os.close(fd)


def switch_user_allowed() -> bool:
    return os.environ.get("MESOS_HYPER_ALLOW_SWITCH_USER", "") in ("1", "true", "yes")


def check_switch_user(user: str | None) -> None:
    """A launch with a user comes from an agent with --switch_user (its default). Before
    every ECP call such an agent runs ``chown -R`` over the sandbox and chown(2)s
    ``<sandbox>/stderr`` as root, following a link there: a guest that plants
    ``stderr -> /etc/shadow`` gets the host's file chowned to the framework's user. Our
    tasks never run as host users, so the flag buys nothing; refuse unless told otherwise.
    """
    if user is None or switch_user_allowed():
        return
    raise HyperError(
        "the agent runs with --switch_user (user "
        f"{user!r}): it would chown the guest-writable sandbox, and whatever a guest's link "
        "at <sandbox>/stderr names, as root before every call; start mesos-agent with "
        "--switch_user=false (docs/security.md), or set MESOS_HYPER_ALLOW_SWITCH_USER=1 "
        "to accept that risk"
    )


def _executor(record: ContainerRecord) -> tuple[int | None, int | None]:
    return record.pids.get("executor"), record.pids.get("executor_start")


def _cleanup_vm(record: ContainerRecord) -> bool:
    """The VM, then what the isolators left on the host, of a container whose executor is
    gone (idempotent). Never raises: False, with the failures logged, when some of it is
    still there (libvirtd down, say); the next destroy or recover tries again."""
    import isolators
    from mesos_hyper.sandbox.outputs import release_outputs
    from vmctl.lifecycle import destroy_by_name

    clean = True
    for name in _domains_of(record):
        try:
            destroy_by_name(name)
        except Exception as err:
            log.event(LOG, "VM cleanup failed", log.ERROR, domain=name, error=err)
            clean = False
    if clean and record.sandbox:  # no guest left to swap them: a dead executor's pins go
        release_outputs(record.sandbox)
    from mesos_hyper.executor.exec_socket import socket_path

    socket_path(record.container_id).unlink(missing_ok=True)  # a SIGKILLed executor's
    try:
        isolators.cleanup(record.container_id)
    except Exception as err:
        log.event(LOG, "isolator cleanup failed", log.ERROR, error=err)
        clean = False
    return clean


def _domains_of(record: ContainerRecord) -> set[str]:
    """The VM the record names, and any labelled as this container's: an executor killed
    between claiming a pool VM and recording its name leaves one only the label tells."""
    from vmctl.lifecycle import list_ours

    names = {record.domain} if record.domain else set()
    try:
        names |= {
            info.name
            for info in list_ours()
            if info.metadata.get("container-id") == record.container_id
        }
    except Exception as err:  # libvirtd down: the record's name is still tried
        log.event(LOG, "domains not listed", log.WARNING, error=err)
    return names


def wait(stdin: BinaryIO, stdout: BinaryIO) -> None:
    from mesos_hyper.containerizer import executor_process
    from mesos_hyper.model import messages

    cid = wire.container_id_of(recordio.read_record(stdin), "mesos.containerizer.Wait")
    store = _store()
    record = store.get(cid)
    pid, started = _executor(record)

    def watch_executor() -> None:
        """Whatever fails here, the wait still gets its Termination. The VM's cleanup runs
        even when the executor recorded its end: it may have lost its VM (libvirtd restarted
        while it booted) and cannot have removed what it held no handle to."""
        message = "executor exited unexpectedly"
        try:
            if pid and started:
                executor_process.wait_exit(pid, started)
            time.sleep(0.5)  # the executor writes its termination just before it exits
            if not _cleanup_vm(store.get(cid)):
                message += " (its VM or network could not all be removed yet; see the log)"
        except Exception as err:
            log.event(LOG, "wait watcher failed", log.ERROR, error=err)
            message += f" ({type(err).__name__}: {err})"
        finally:
            store.mark_terminated(  # the first termination recorded wins: the executor's
                cid,
                Termination(
                    status=messages.signal_status(signal.SIGKILL),
                    state="TASK_FAILED",
                    reasons=("REASON_EXECUTOR_TERMINATED",),
                    message=message,
                ),
            )

    if record.live:
        import threading

        threading.Thread(target=watch_executor, daemon=True).start()
    record = store.wait_terminated(cid)
    term = record.termination
    assert term is not None
    recordio.write_message(
        stdout,
        messages.build_termination(term.status, term.state, tuple(term.reasons), term.message),
    )
    stdout.flush()
    store.closed_by(cid, "waited")


def destroy(stdin: BinaryIO) -> None:
    from mesos_hyper.containerizer import executor_process
    from mesos_hyper.model import messages

    cid = wire.container_id_of(recordio.read_record(stdin), "mesos.containerizer.Destroy")
    store = _store()
    record = store.get(cid)
    pid, started = _executor(record)
    executor_process.kill(pid, started, EXECUTOR_KILL_GRACE_S)
    record = store.get(cid)
    clean = _cleanup_vm(record)
    if record.live:
        store.mark_terminated(
            cid,
            Termination(
                status=messages.signal_status(signal.SIGKILL),
                state="TASK_KILLED",
                reasons=(),
                message="container destroyed",
            ),
        )
    if not clean:
        raise HyperError(f"container {cid}: its VM or network could not all be removed (see log)")
    store.closed_by(cid, "destroyed")
    log.event(LOG, "destroyed", container=cid)


def usage(stdin: BinaryIO, stdout: BinaryIO) -> None:

    cid = wire.container_id_of(recordio.read_record(stdin), "mesos.containerizer.Usage")
    record = _store().get(cid)
    limits = record.limits
    values: dict[str, float | int | None] = {
        "cpus_limit": limits.cpus,
        "mem_limit_bytes": int(limits.mem_mb * (1 << 20)) if limits.mem_mb else None,
        "disk_limit_bytes": int(limits.disk_mb * (1 << 20)) if limits.disk_mb else None,
    }
    if record.domain and record.status == Status.RUNNING:
        from mesos_hyper.executor.exec_socket import request_usage

        measured = request_usage(cid)  # the executor has libvirt at hand
        values.update(measured if measured is not None else _measure_usage(record))
    known = {k: v for k, v in values.items() if v is not None}
    recordio.write_record(stdout, wire.resource_statistics({"timestamp": time.time(), **known}))


def _measure_usage(record: ContainerRecord) -> dict[str, float | int]:
    """Usage measured here, for a pod whose executor does not answer."""
    import isolators
    from vmctl.lifecycle import lookup

    dom = lookup(record.domain) if record.domain else None
    return isolators.usage(dom, isolators.record_target(record)) if dom is not None else {}


def update(stdin: BinaryIO) -> None:
    cid, limits = wire.update_of(recordio.read_record(stdin))
    store = _store()
    store.get(cid)
    record = store.update(cid, limits=limits)
    if record.domain and record.status == Status.RUNNING:
        import isolators
        from vmctl.lifecycle import lookup

        dom = lookup(record.domain)
        if dom is not None:
            for problem in isolators.update(dom, isolators.record_target(record)):
                log.event(LOG, "limit not applied", log.WARNING, problem=problem)
    log.event(LOG, "limits updated", container=cid)


def _recover_pool() -> None:
    """Idle pool VMs survive an agent restart; half-claimed and half-booted ones go, and
    the pool is refilled in the background (never on the agent's critical path)."""
    from vmctl.pool.refill import request_refill

    request_refill(config.Paths.from_env())


def containers(stdout: BinaryIO) -> None:
    live = [r.container_id for r in _store().list() if r.live]
    recordio.write_record(stdout, wire.containers(live))


def recover() -> None:
    """Reconcile records with the processes and VMs that survived a restart."""
    from mesos_hyper.containerizer import executor_process
    from mesos_hyper.model import messages

    store = _store()
    store.collect(RECORD_TTL_S)
    _reap_interrupted_launches(store)
    live_domains = set()  # a terminated container's VM is an orphan like any other
    for record in store.list():
        if not record.live:
            continue
        pid, started = _executor(record)
        if executor_process.alive(pid, started):
            if record.domain:
                live_domains.add(record.domain)
            continue
        _cleanup_vm(record)
        store.mark_terminated(
            record.container_id,
            Termination(
                status=messages.signal_status(signal.SIGKILL),
                state="TASK_FAILED",
                reasons=("REASON_EXECUTOR_TERMINATED",),
                message="executor was gone when the agent recovered",
            ),
        )
        log.event(LOG, "recovered a dead container", container=record.container_id)
    from isolators import net
    from vmctl.lifecycle import destroy_by_name, list_ours
    from vmctl.network.settings import NetSettings

    alive = {r.container_id for r in store.list() if r.live}
    for info in list_ours():  # a pool VM is labelled with a container's root once claimed
        if info.metadata.get("state-root") == str(store.root) and info.name not in live_domains:
            destroy_by_name(info.name)
            log.event(LOG, "destroyed an orphan VM", domain=info.name)
    _recover_pool()
    removed, failed = net.collect(NetSettings.from_env(), alive)
    for gone in removed:
        log.event(LOG, "removed the network of a dead container", container=gone)
    if failed:
        raise HyperError(f"the network of {', '.join(failed)} could not be removed (see log)")
