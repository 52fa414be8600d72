"""Per-container records under the agent's work dir, safe for concurrent ECP calls.

Layout (root defaults to ``$MESOS_WORK_DIRECTORY/mesos-hyper``, so two agents on
one host never share records)::

    root/store.lock                      store-wide lock: create, remove, list
    root/containers/<id>/record.json     the record, replaced atomically
    root/containers/<id>/record.lock     per-container lock: read-modify-write
    root/containers/<id>/launch.pb       the agent's Launch (the executor reads it)
    root/containers/<id>/tasks.json      the executor's tasks and their last states

Lock order is always store lock, then container lock. Readers need no lock:
records are only ever replaced by rename, so a read sees an old or a new record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from mesos_hyper import log
from mesos_hyper.errors import NotFoundError, UsageError
from mesos_hyper.fsutil import atomic_write
from mesos_hyper.state.locks import flocked
from mesos_hyper.state.record import (
    AlreadyExistsError,
    ContainerRecord,
    Limits,
    StateError,
    Status,
    Termination,
)

TYPE_CHECKING = False  # typing is not imported at run time: the polled ECP calls start fast
if TYPE_CHECKING:
    from typing import Any

logger = log.get(__name__)

RECORD = "record.json"
LAUNCH = "launch.pb"  # the agent's Launch, as it came: written by launch, read by the executor
LOCK = "record.lock"
FALLBACK_INTERVAL = 2.0
"""Longest sleep in ``wait_terminated`` between re-reads, in case an event is missed."""


class WaitTimeoutError(StateError, TimeoutError):
    """``wait_terminated`` gave up after its timeout."""


def default_root(env: Mapping[str, str] | None = None) -> Path:
    """``$MESOS_WORK_DIRECTORY/mesos-hyper``: the agent sets that variable on every call."""
    env = os.environ if env is None else env
    work_dir = env.get("MESOS_WORK_DIRECTORY")
    if not work_dir:
        raise UsageError("MESOS_WORK_DIRECTORY is not set: pass the state root explicitly")
    return Path(work_dir) / "mesos-hyper"


def _check_id(container_id: str) -> str:
    if (
        not container_id
        or "/" in container_id
        or "\0" in container_id
        or container_id in (".", "..")
        or container_id.startswith(".")
    ):
        raise StateError(f"container id {container_id!r} cannot name a record")
    return container_id


class StateStore:
    """Container records of one agent. All methods are safe across processes."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.containers_dir = self.root / "containers"

    def _dir(self, container_id: str) -> Path:
        return self.containers_dir / _check_id(container_id)

    def launch_path(self, container_id: str) -> Path:
        return self._dir(container_id) / LAUNCH

    def _ensure_root(self) -> None:
        self.containers_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _store_lock(self, *, shared: bool = False) -> Any:
        self._ensure_root()
        return flocked(self.root / "store.lock", shared=shared)

    @contextmanager
    def _container_locked(self, container_id: str) -> Iterator[None]:
        """The container's lock; NotFoundError (not a new lock) once it is removed."""
        with ExitStack() as stack:
            try:
                stack.enter_context(flocked(self._dir(container_id) / LOCK, create=False))
            except FileNotFoundError:
                raise NotFoundError(f"no container {container_id} in {self.root}") from None
            yield

    # ---- reads -----------------------------------------------------------

    def get(self, container_id: str) -> ContainerRecord:
        """The record of ``container_id``; NotFoundError if there is none."""
        path = self._dir(container_id) / RECORD
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError(f"no container {container_id} in {self.root}") from None
        record = ContainerRecord.from_json(text, source=str(path))
        if record.container_id != container_id:
            raise StateError(f"{path}: holds container {record.container_id!r}")
        return record

    def list(self) -> list[ContainerRecord]:
        """Every record, sorted by id; a snapshot taken under the shared store lock."""
        if not self.containers_dir.is_dir():
            return []
        records = []
        with self._store_lock(shared=True):
            for entry in sorted(os.listdir(self.containers_dir)):
                if entry.startswith("."):
                    continue
                try:
                    records.append(self.get(entry))
                except NotFoundError:
                    continue  # a create that failed half-way; its directory is empty
        return records

    # ---- writes ----------------------------------------------------------

    def create(
        self,
        container_id: str,
        *,
        sandbox: str | None = None,
        domain: str | None = None,
        limits: Limits | None = None,
        pids: Mapping[str, int] | None = None,
    ) -> ContainerRecord:
        """Write a new ``launching`` record. A live record of that id is an error;
        a terminated one is replaced (Mesos never reuses ids, but a retry might)."""
        directory = self._dir(container_id)
        now = time.time()
        record = ContainerRecord(
            container_id=container_id,
            status=Status.LAUNCHING,
            created_at=now,
            updated_at=now,
            sandbox=sandbox,
            domain=domain,
            pids=dict(pids or {}),
            limits=limits or Limits(),
        )
        record.check()
        with self._store_lock():
            directory.mkdir(exist_ok=True, mode=0o700)
            with flocked(directory / LOCK):
                try:
                    old = self.get(container_id)
                except NotFoundError:
                    old = None
                except StateError as err:
                    # A corrupt record is replaced: this launch owns the id now.
                    log.event(logger, "replacing bad state record", log.WARNING, error=err)
                    old = None
                if old is not None and old.live:
                    raise AlreadyExistsError(
                        f"container {container_id} already exists ({old.status.value})"
                    )
                atomic_write(directory / RECORD, record.to_json().encode())
        log.event(logger, "state record created", container=container_id)
        return record

    def update(
        self,
        container_id: str,
        change: Callable[[ContainerRecord], ContainerRecord] | None = None,
        /,
        **fields: Any,
    ) -> ContainerRecord:
        """Read-modify-write under the container's lock; returns the new record.

        Either pass ``change`` (old record -> new record) or field values, e.g.
        ``update(cid, status=Status.RUNNING, pids={"executor": 42})``.
        """
        with self._container_locked(container_id):
            old = self.get(container_id)
            new = change(old) if change is not None else old
            if fields:
                try:
                    new = dataclasses.replace(new, **fields)
                except TypeError as err:
                    raise StateError(f"container {container_id}: {err}") from None
            try:
                status = Status(new.status)
            except ValueError:
                raise StateError(f"container {container_id}: no status {new.status!r}") from None
            new = dataclasses.replace(new, status=status, updated_at=time.time())
            old.check_transition(new)
            atomic_write(self._dir(container_id) / RECORD, new.to_json().encode())
        return new

    def mark_terminated(self, container_id: str, termination: Termination) -> ContainerRecord:
        """Record how the container ended; the first termination recorded wins."""

        def terminate(old: ContainerRecord) -> ContainerRecord:
            if old.termination is not None:
                return old
            return dataclasses.replace(
                old, status=Status.TERMINATED, termination=termination, terminated_at=time.time()
            )

        return self.update(container_id, terminate)

    def remove(self, container_id: str) -> None:
        """Delete the record and its directory; NotFoundError if there is none."""
        import shutil  # here, as DirectoryWatch in wait: the polled calls only read

        directory = self._dir(container_id)
        with self._store_lock(), self._container_locked(container_id):
            shutil.rmtree(directory)
        log.event(logger, "state record removed", container=container_id)

    def closed_by(self, container_id: str, call: str) -> None:
        """The agent's ``wait`` or ``destroy`` is done with the container; once both are and
        it has terminated, its record goes (state must not grow without bound)."""
        try:
            record = self.update(container_id, **{call: True})
        except NotFoundError:
            return
        if not record.live and record.waited and record.destroyed:
            with contextlib.suppress(NotFoundError):
                self.remove(container_id)

    def collect(self, max_age_s: float) -> list[str]:
        """Remove the records of containers that terminated over ``max_age_s`` ago (the
        agent never waits on or destroys some of them: a wait it SIGKILLed, say)."""
        now, gone = time.time(), []
        for record in self.list():
            ended = record.terminated_at
            if not record.live and ended is not None and now - ended > max_age_s:
                with contextlib.suppress(NotFoundError):
                    self.remove(record.container_id)
                    gone.append(record.container_id)
        return gone

    # ---- waiting ---------------------------------------------------------

    def wait_terminated(
        self,
        container_id: str,
        *,
        timeout: float | None = None,
        fallback_interval: float = FALLBACK_INTERVAL,
    ) -> ContainerRecord:
        """Block until the record is ``terminated`` and return it, sleeping on inotify.

        NotFoundError if the record does not exist or is removed while we wait;
        WaitTimeoutError (a StateError and a TimeoutError) if ``timeout`` seconds pass.
        """
        from mesos_hyper.state.inotify import DirectoryWatch  # ctypes: see remove

        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            watch = DirectoryWatch(self._dir(container_id))
        except FileNotFoundError:
            raise NotFoundError(f"no container {container_id} in {self.root}") from None
        with watch:
            while True:
                # The watch exists before this read, so no change after it is missed.
                record = self.get(container_id)
                if not record.live:
                    return record
                sleep = fallback_interval
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise WaitTimeoutError(
                            f"container {container_id} still {record.status} after {timeout}s"
                        )
                    sleep = min(sleep, left)
                watch.wait(sleep)
