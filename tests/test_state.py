"""The container state store: records, locking across processes, and waiting."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from mesos_hyper.errors import HyperError, NotFoundError, UsageError
from mesos_hyper.model.limits import Limits
from mesos_hyper.state import (
    AlreadyExistsError,
    ContainerRecord,
    StateError,
    StateStore,
    Status,
    Termination,
    WaitTimeoutError,
    default_root,
)

FAILED = Termination(status=3 << 8, state="TASK_FAILED", reasons=("REASON_EXECUTOR_TERMINATED",))


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state")


def test_lifecycle(store: StateStore) -> None:
    created = store.create("c1", sandbox="/sb", limits=Limits(cpus=1, mem_mb=64))
    assert created.status == Status.LAUNCHING and created.live
    assert store.get("c1") == created

    running = store.update("c1", status=Status.RUNNING, pids={"executor": 4242}, domain="mh-c1")
    assert (running.status, running.pids, running.domain) == (
        Status.RUNNING,
        {"executor": 4242},
        "mh-c1",
    )
    assert running.updated_at >= created.updated_at
    assert store.get("c1") == running

    ended = store.mark_terminated("c1", FAILED)
    assert ended.status == Status.TERMINATED and not ended.live
    assert ended.termination == FAILED and ended.terminated_at is not None
    # The first termination wins: a later destroy must not overwrite the real cause.
    assert store.mark_terminated("c1", Termination(status=9)).termination == FAILED

    store.create("c2")
    assert [r.container_id for r in store.list()] == ["c1", "c2"]
    store.remove("c1")
    assert [r.container_id for r in store.list()] == ["c2"]
    store.remove("c2")
    assert _files(store.containers_dir) == []


def test_record_json_round_trip(store: StateStore) -> None:
    store.create("c1", limits=Limits(cpus=0.5, mem_mb=128, disk_mb=10, ports=((31000, 31002),)))
    record = store.mark_terminated("c1", FAILED)
    text = (store.containers_dir / "c1" / "record.json").read_text()
    assert '"schema": 1' in text
    assert ContainerRecord.from_json(text) == record


def test_unknown_containers_are_not_found(store: StateStore) -> None:
    for call in (
        lambda: store.get("nope"),
        lambda: store.update("nope", status=Status.RUNNING),
        lambda: store.remove("nope"),
        lambda: store.wait_terminated("nope", timeout=1),
    ):
        with pytest.raises(NotFoundError, match="no container nope"):
            call()
    assert store.list() == []
    assert not (store.containers_dir / "nope").exists()


def test_create_refuses_a_second_live_record(store: StateStore) -> None:
    store.create("c1")
    with pytest.raises(AlreadyExistsError, match="container c1 already exists \\(launching\\)"):
        store.create("c1")
    store.mark_terminated("c1", FAILED)
    again = store.create("c1", sandbox="/new")
    assert again.status == Status.LAUNCHING and again.sandbox == "/new"


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", ".hidden"])
def test_unsafe_ids_are_refused(store: StateStore, bad: str) -> None:
    with pytest.raises(StateError, match="cannot name a record"):
        store.create(bad)
    with pytest.raises(StateError):
        store.get(bad)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"status": Status.TERMINATED}, "a termination goes with status 'terminated'"),
        ({"termination": FAILED}, "a termination goes with status 'terminated'"),
        ({"status": "exploded"}, "no status 'exploded'"),
        ({"container_id": "other"}, "the id of a record cannot change"),
        ({"pids": {"executor": -1}}, "pids must be positive"),
        ({"colour": "red"}, "unexpected keyword"),
    ],
)
def test_bad_updates_are_refused_and_change_nothing(
    store: StateStore, change: dict[str, object], expected: str
) -> None:
    before = store.create("c1")
    with pytest.raises(StateError, match=expected):
        store.update("c1", **change)
    assert store.get("c1") == before


def test_terminated_is_final(store: StateStore) -> None:
    store.create("c1")
    store.mark_terminated("c1", FAILED)
    with pytest.raises(StateError, match="cannot go from 'terminated' to 'running'"):
        store.update("c1", status=Status.RUNNING, termination=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "corrupt JSON"),
        ("[]", "not a JSON object"),
        ('{"schema": 99}', "schema 99, this mesos-hyper understands 1"),
        ('{"schema": 1, "container_id": "c1"}', "malformed record"),
        (
            '{"schema": 1, "container_id": "c1", "status": "running", "created_at": 1,'
            ' "updated_at": "soon"}',
            "malformed record",
        ),
        (
            '{"schema": 1, "container_id": "c1", "status": "running", "created_at": 1,'
            ' "updated_at": 2, "extra": 1}',
            "unknown fields",
        ),
    ],
)
def test_bad_records_are_one_line_errors(store: StateStore, text: str, expected: str) -> None:
    store.create("c1")
    (store.containers_dir / "c1" / "record.json").write_text(text)
    with pytest.raises(StateError, match=expected) as err:
        store.get("c1")
    assert "\n" not in str(err.value)
    assert "record.json" in str(err.value)


def test_a_failed_write_leaves_the_old_record_and_no_temp_file(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = store.create("c1")
    files = _files(store.root)

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        store.update("c1", status=Status.RUNNING)
    monkeypatch.undo()
    assert store.get("c1") == before
    assert _files(store.root) == files


def test_default_root_is_under_the_agent_work_dir(tmp_path: Path) -> None:
    assert default_root({"MESOS_WORK_DIRECTORY": "/var/lib/mesos"}) == Path(
        "/var/lib/mesos/mesos-hyper"
    )
    with pytest.raises(UsageError, match="MESOS_WORK_DIRECTORY is not set"):
        default_root({})


# ---- waiting ---------------------------------------------------------------


def _terminate_later(root: str, container_id: str, delay: float) -> None:
    time.sleep(delay)
    StateStore(root).mark_terminated(container_id, FAILED)


def test_wait_wakes_on_termination_by_another_process(store: StateStore) -> None:
    store.create("c1")
    store.update("c1", status=Status.RUNNING)
    proc = multiprocessing.get_context("fork").Process(
        target=_terminate_later, args=(str(store.root), "c1", 0.3)
    )
    start = time.monotonic()
    proc.start()
    try:
        # A 60 s fallback: only an inotify wake-up can return this fast.
        record = store.wait_terminated("c1", timeout=30, fallback_interval=60)
    finally:
        proc.join(10)
    elapsed = time.monotonic() - start
    assert proc.exitcode == 0
    assert record.termination == FAILED
    assert 0.25 < elapsed < 5


def test_wait_returns_at_once_when_already_terminated(store: StateStore) -> None:
    store.create("c1")
    store.mark_terminated("c1", FAILED)
    start = time.monotonic()
    assert store.wait_terminated("c1", fallback_interval=60).termination == FAILED
    assert time.monotonic() - start < 1


def test_wait_times_out(store: StateStore) -> None:
    store.create("c1")
    start = time.monotonic()
    with pytest.raises(WaitTimeoutError, match="container c1 still launching") as err:
        store.wait_terminated("c1", timeout=0.3)
    assert 0.25 < time.monotonic() - start < 3
    assert isinstance(err.value, HyperError) and isinstance(err.value, TimeoutError)


def test_wait_notices_removal(store: StateStore) -> None:
    store.create("c1")
    timer = threading.Timer(0.2, store.remove, args=("c1",))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(NotFoundError, match="no container c1"):
            store.wait_terminated("c1", timeout=30, fallback_interval=60)
    finally:
        timer.join()
    assert time.monotonic() - start < 5


def test_wait_falls_back_to_bounded_rereads_without_inotify(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mesos_hyper.state import inotify

    monkeypatch.setattr(inotify._libc, "inotify_init1", lambda flags: -1)
    store.create("c1")
    timer = threading.Timer(0.2, store.mark_terminated, args=("c1", FAILED))
    timer.start()
    start = time.monotonic()
    try:
        record = store.wait_terminated("c1", timeout=10, fallback_interval=0.5)
    finally:
        timer.join()
    assert record.termination == FAILED
    assert time.monotonic() - start < 3


# ---- concurrency -----------------------------------------------------------

WORKERS = 4
ROUNDS = 40


def _add_cpu(record: ContainerRecord) -> ContainerRecord:
    limits = dataclasses.replace(record.limits, cpus=(record.limits.cpus or 0) + 1)
    return dataclasses.replace(record, limits=limits)


def _hammer(root: str, worker: int, results: multiprocessing.Queue) -> None:
    """Puts (won, churned, refused, None), or (0, 0, 0, error) if a call failed that must not."""
    try:
        _hammer_rounds(StateStore(root), worker, results)
    except Exception as err:
        results.put((0, 0, 0, f"worker {worker}: {type(err).__name__}: {err}"))
        raise


def _hammer_rounds(store: StateStore, worker: int, results: multiprocessing.Queue) -> None:
    won = churned = refused = 0
    for i in range(ROUNDS):
        store.update("counter", _add_cpu)  # read-modify-write: no increment may be lost
        store.create(f"own-{worker}-{i}")
        try:
            store.create(f"race-{i}")  # every worker tries: exactly one may win
            won += 1
        except AlreadyExistsError:
            pass
        # churn: every worker creates, updates and removes one id at once. Only the create
        # may fail (another worker's record is live); whoever created it owns it until it
        # removes it, so its update and remove must not fail.
        try:
            store.create("churn")
        except AlreadyExistsError:
            refused += 1
        else:
            store.update("churn", status=Status.RUNNING)
            store.remove("churn")
            churned += 1
        store.list()
        store.remove(f"own-{worker}-{i}")
    results.put((won, churned, refused, None))


def test_many_processes_hammering_the_store(store: StateStore) -> None:
    store.create("counter", limits=Limits(cpus=0))
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_hammer, args=(str(store.root), n, results)) for n in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    assert [error for *_, error in outcomes if error] == []
    assert [p.exitcode for p in procs] == [0] * WORKERS

    assert store.get("counter").limits.cpus == WORKERS * ROUNDS
    assert sum(won for won, *_ in outcomes) == ROUNDS
    churned = sum(c for _, c, _, _ in outcomes)
    assert churned + sum(r for _, _, r, _ in outcomes) == WORKERS * ROUNDS
    assert churned >= ROUNDS // 4, outcomes  # the churn really ran, not only refusals
    records = {r.container_id for r in store.list()}
    assert records == {"counter"} | {f"race-{i}" for i in range(ROUNDS)}
    # No temp files, no orphaned lock files or directories.
    leftovers = [
        name
        for name in _files(store.root)
        if name != "store.lock"
        and not name.startswith(("containers/counter", "containers/race-"))
        and name != "containers"
    ]
    assert leftovers == []
    assert not [p for p in store.root.rglob(".*")]
