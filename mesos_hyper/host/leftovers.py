"""``mesos-hyper gc``'s finder: what dead containers left on this host, and why each is
dead. It looks and decides; ``mesos_hyper.host.gc`` acts and reports.

A container is live while a process of its own runs: its pod executor (found by its
environment, whichever agent started it), or a ``launch`` holding the launch lock, or,
for any VM, a process connected to its QEMU (``mesos-hyper run`` keeps no other state).
Everything of a container that is not live is a leftover: its VM, overlays, tap, address
lease, nft rules, exec socket and record. What cannot be told apart from work in progress
(a VM or directory younger than the grace period with no owner in sight) is kept, with a
line that says why. Warm-pool VMs are the pool's (``mesos-hyper pool``), never gc's.

The resources are listed before the liveness of their owners is read: a container that
starts in between has nothing in the list yet, and one listed is seen live if it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mesos_hyper import config
from mesos_hyper.containerizer import ecp
from mesos_hyper.containerizer.executor_process import alive
from mesos_hyper.errors import HyperError, NotFoundError
from mesos_hyper.host import owners
from mesos_hyper.observe.pods import discover_state_roots
from mesos_hyper.state import ContainerRecord, StateStore, Termination
from mesos_hyper.state.locks import flocked_if_free
from vmctl.lifecycle import DomainInfo
from vmctl.network.settings import NetSettings

# Kept when younger than this and no owner is in sight: a `run` between making its VM and
# connecting to it, a directory a pod is being made in, an image just pulled for a start.
GRACE_S = float(os.environ.get("MESOS_HYPER_GC_GRACE_SECONDS") or 120)
QCOW2_MAGIC = b"QFI\xfb"


@dataclass(frozen=True)
class Leftover:
    """Something of ours that nothing owns any more, and how to remove it."""

    kind: str
    name: str
    why: str
    remove: Callable[[], object] = field(compare=False)
    verbs: tuple[str, str] = ("removed", "remove")  # done, to do

    def line(self, *, dry_run: bool, error: BaseException | None = None) -> str:
        done, todo = self.verbs
        what = f"{self.kind} {self.name} ({self.why})"
        if error is not None:
            return f"could not {todo} {what}: {error}"
        return f"would {todo} {what}" if dry_run else f"{done} {what}"


@dataclass(frozen=True)
class Kept:
    """Something that looks left over but is kept, and why."""

    kind: str
    name: str
    why: str

    def line(self) -> str:
        return f"kept {self.kind} {self.name} ({self.why})"


@dataclass
class Findings:
    """What `gc` found: leftovers, things kept, and what it could not look at."""

    leftovers: list[Leftover] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what could not be looked at


def ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _uptime() -> float:
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def _process_age(pid: int) -> float | None:
    started = owners.start_time(pid)
    if started is None:
        return None
    return max(0.0, _uptime() - started / os.sysconf("SC_CLK_TCK"))


def _path_age(path: Path) -> float | None:
    """Since the path was made, renamed into place or last written (ctime or mtime)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return max(0.0, time.time() - max(st.st_ctime, st.st_mtime))


def backing_file(overlay: Path) -> str | None:
    """The backing file a qcow2 overlay names (its header), or None."""
    try:
        with open(overlay, "rb") as f:
            head = f.read(20)
            if len(head) < 20 or head[:4] != QCOW2_MAGIC:
                return None
            offset = int.from_bytes(head[8:16], "big")
            size = int.from_bytes(head[16:20], "big")
            if not offset or not 0 < size <= 4096:
                return None
            f.seek(offset)
            return f.read(size).decode(errors="replace")
    except OSError:
        return None


class Finder:
    """One look at the host. ``find()`` returns the leftovers in the order they must go:
    VMs first (they hold taps and overlays), then the network (the lease last, as
    isolators.net.teardown has it), files, records, and images."""

    def __init__(
        self,
        paths: config.Paths,
        settings: NetSettings,
        *,
        state_roots: Iterable[Path] = (),
        images: bool = False,
        grace_s: float = GRACE_S,
        say: Callable[[str], None] = lambda _s: None,
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.images = images
        self.grace_s = grace_s
        self.say = say
        self.found = Findings()
        self.roots = {paths.root.resolve()}
        # given, of running agents, of the environment (as `ps` finds them); then those
        # that VMs and executors name
        self.state_roots = set(discover_state_roots(state_roots))
        self.live: set[str] = set()  # container ids
        self.records: dict[str, tuple[StateStore, ContainerRecord]] = {}
        self.domains: list[DomainInfo] | None = None
        self.kept_workdirs: set[Path] = set()
        self.removed_workdirs: dict[Path, str] = {}  # -> why
        self.kept_domains: set[str] = set()

    # ---- looking ------------------------------------------------------------------

    def find(self) -> Findings:
        """Every leftover on this host, and what was kept in doubt."""
        self.say("listing VMs")
        self._list_domains()
        self.say("listing the pod network")
        leases, rule_owners, taps = self._list_network()
        self.say("listing overlays and sockets")
        overlay_dirs = self._list_dirs([root / "containers" for root in self.roots])
        sockets = sorted((self.paths.run / "exec").glob("*.sock"))
        run_logs = self._list_dirs([root / "run-logs" for root in self.roots])
        share_dirs = self._list_shares()
        self.say("finding which containers live")
        self._read_liveness()
        self.say("sorting out what is left")
        self._domains()
        self._network(leases, rule_owners, taps)
        self._overlays(overlay_dirs)
        self._exec_sockets(sockets)
        self._run_logs(run_logs)
        self._shares(share_dirs)
        self._records()
        if self.images:
            self.say("checking images")
            self._images()
        return self.found

    def _problem(self, what: str, err: BaseException) -> None:
        self.found.problems.append(f"{what}: {err}")

    def _list_domains(self) -> None:
        from vmctl.lifecycle import list_ours

        try:
            self.domains = list_ours()
        except Exception as err:  # libvirtd down: no VM, overlay or image is judged
            self._problem("cannot list VMs (their overlays and images are left alone too)", err)
            return
        for info in self.domains:
            workdir = info.metadata.get("workdir")
            if workdir and Path(workdir).parent.name == "containers":
                self.roots.add(Path(workdir).parent.parent.resolve())
            if info.metadata.get("state-root"):
                self.state_roots.add(Path(info.metadata["state-root"]))

    def _list_network(self) -> tuple[dict[Path, dict[str, str]], set[str], set[str]]:
        """(lease dir -> address -> owner, owners of nft rules, taps)."""
        from vmctl.network import firewall, ipam, links

        leases: dict[Path, dict[str, str]] = {}
        for root in sorted(self.roots):
            lease_dir = root / "net" / "leases"
            scoped = dataclasses.replace(self.settings, lease_dir=lease_dir)
            try:
                leases[lease_dir] = {str(a): o for a, o in ipam.leases(scoped).items()}
            except OSError as err:
                self._problem(f"cannot read the leases in {lease_dir}", err)
        if not self.settings.enabled:
            return leases, set(), set()
        rule_owners: set[str] = set()
        taps: set[str] = set()
        try:
            rule_owners = firewall.owned(self.settings)
        except HyperError as err:
            if self._pod_netns_exists():
                self._problem("cannot read the nft rules", err)
        try:
            taps = set(links.list_taps(self.settings))
        except Exception as err:  # NetlinkError
            self._problem("cannot list the taps", err)
        return leases, rule_owners, taps

    def _pod_netns_exists(self) -> bool:
        from vmctl.network.netns import netns_path

        return self.settings.netns is None or os.path.exists(netns_path(self.settings.netns))

    @staticmethod
    def _list_dirs(parents: Iterable[Path]) -> list[Path]:
        found = []
        for parent in parents:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                found += sorted(p for p in parent.iterdir() if p.is_dir() and not p.is_symlink())
        return found

    def _read_liveness(self) -> None:
        """Executors (any agent's), then the records of every state root in sight."""
        try:
            executors = owners.executors()
        except PermissionError as err:
            raise HyperError(f"cannot tell which containers live ({err}): run gc as root") from err
        for executor in executors:
            self.live.add(executor.container_id)
            if executor.state_root is not None:
                self.state_roots.add(executor.state_root)
        now = time.time()
        for state_root in sorted({root.resolve() for root in self.state_roots}):
            store = StateStore(state_root)
            try:
                records = store.list()
            except Exception as err:  # a corrupt record: the agent's own calls fail on it too
                self._problem(f"cannot read the records in {state_root}", err)
                continue
            for record in records:
                self.records.setdefault(record.container_id, (store, record))
                if record.live and self._starting_or_running(store, record, now):
                    self.live.add(record.container_id)

    @staticmethod
    def _starting_or_running(store: StateStore, record: ContainerRecord, now: float) -> bool:
        pid, started = record.pids.get("executor"), record.pids.get("executor_start")
        if pid:
            return alive(pid, started)
        if now - record.created_at < ecp.INTERRUPTED_LAUNCH_AGE_S:
            return True  # the launch may not hold its lock yet
        with flocked_if_free(store.containers_dir / record.container_id / ecp.LAUNCH_LOCK) as free:
            return not free  # a launch holds it: the executor is being started

    def death(self, container_id: str) -> str:
        """Why a container that is not live counts as dead, for its lines."""
        known = self.records.get(container_id)
        if known is None:
            return f"container {container_id}: no executor runs for it, and no record"
        record = known[1]
        if not record.live:
            ended = record.terminated_at or record.updated_at
            return f"container {container_id}: terminated {ago(time.time() - ended)} ago"
        if "executor" in record.pids:
            return f"container {container_id}: its executor is gone"
        return f"container {container_id}: its launch was interrupted before the executor started"

    # ---- judging ------------------------------------------------------------------

    def _add(self, kind: str, name: str, why: str, remove: Callable[[], object]) -> None:
        self.found.leftovers.append(Leftover(kind, name, why, remove))

    def _keep(self, kind: str, name: str, why: str) -> None:
        self.found.kept.append(Kept(kind, name, why))

    def _domains(self) -> None:
        if self.domains is None:
            return
        ours = [d for d in self.domains if "pool" not in d.metadata]  # the pool's own
        qemus = owners.qemu_pids()
        undecided = [d for d in ours if d.metadata.get("container-id") not in self.live]
        unseen = ""  # why nobody's attachments could be seen: then every VM in doubt stays
        try:
            holders = owners.attached(qemus[d.name] for d in undecided if d.name in qemus)
        except Exception as err:  # sock_diag unavailable (no unix_diag module)
            holders, unseen = {}, f"cannot see who drives it: {err}"
        for info in ours:
            cid = info.metadata.get("container-id")
            workdir = Path(info.metadata["workdir"]) if info.metadata.get("workdir") else None
            pod = f"container {cid}" if cid else f"pod {info.metadata.get('name', info.name)}"
            qemu = qemus.get(info.name)
            held = holders.get(qemu, set()) if qemu is not None else set()
            keep, why = cid is not None and cid in self.live, ""
            if not keep and unseen and qemu is not None:
                keep, why = True, f"{pod}: {unseen}"
            if not keep and held:
                keep = True  # a `run` pod's owner, or something in doubt: say who
                if cid is not None:
                    who = ", ".join(owners.describe(p) for p in sorted(held))
                    why = f"{self.death(cid)}, but {who} is connected to its VM"
            elif not keep and cid is None and qemu is not None:
                # the youngest sign of it: its QEMU, or its directory (a claimed pool VM's
                # QEMU is older than its claim, which renamed the directory into place)
                ages = [_process_age(qemu), _path_age(workdir) if workdir else None]
                age = min((a for a in ages if a is not None), default=None)
                if age is not None and age < self.grace_s:
                    keep = True
                    why = f"{pod}: started {ago(age)} ago; its process may not have attached yet"
            if keep:
                self.kept_domains.add(info.name)
                if workdir is not None:
                    self.kept_workdirs.add(workdir.resolve())
                # its network and files stay with it: a `run` pod's by name (its exec socket)
                self.live.add(cid or info.metadata.get("name", info.name))
                if why:
                    self._keep("domain", info.name, why)
                continue
            why = self.death(cid) if cid else f"{pod}: no process drives it"
            if not info.active:
                why += "; not running"
            if workdir is not None:
                self.removed_workdirs[workdir.resolve()] = why
            self._add("domain", info.name, why, self._domain_remover(info.name, cid))

    def _domain_remover(self, name: str, cid: str | None) -> Callable[[], None]:
        def remove() -> None:
            from mesos_hyper.sandbox.outputs import release_outputs
            from vmctl.lifecycle import destroy_by_name

            destroy_by_name(name)
            known = self.records.get(cid) if cid else None
            if known is not None and known[1].sandbox:  # no guest left to swap them
                release_outputs(known[1].sandbox)

        return remove

    def _network(
        self, leases: dict[Path, dict[str, str]], rule_owners: set[str], taps: set[str]
    ) -> None:
        from isolators import net
        from vmctl.network import firewall, links

        settings = self.settings
        owners_seen = rule_owners | {o for held in leases.values() for o in held.values()}
        known = owners_seen | set(self.records) | self.live
        known |= {c for d in self.domains or () if (c := d.metadata.get("container-id"))}
        for cid in sorted(owners_seen - self.live):
            why, tap = self.death(cid), links.tap_name(cid)

            def remove_rules(cid: str = cid, tap: str = tap) -> None:
                with firewall.locked(settings):
                    firewall.remove_container(settings, cid, tap)

            if cid in rule_owners:
                self._add("nft rules", f"mh:{cid}", why, remove_rules)
            if tap in taps:
                self._add("tap", tap, why, lambda tap=tap: links.delete_tap(settings, tap))
            for lease_dir, held in leases.items():
                for addr, owner in sorted(held.items()):
                    if owner == cid:
                        # teardown: rules and tap again (idempotent), the lease only once
                        # both are gone, so the address never routes to a live leftover
                        scoped = dataclasses.replace(settings, lease_dir=lease_dir)
                        self._add(
                            "lease",
                            f"{addr} in {lease_dir}",
                            why,
                            lambda scoped=scoped, cid=cid: net.teardown(scoped, cid),
                        )
        handled = {links.tap_name(c) for c in owners_seen - self.live}
        live_taps = {links.tap_name(c) for c in self.live}
        named = {links.tap_name(c): c for c in known}
        pool_prefix = links.TAP_PREFIX + "p"  # links.pool_tap_name's (a pod's is all hex)
        for tap in sorted(taps - handled - live_taps):
            if tap.startswith(pool_prefix):
                continue  # a warm-pool VM's: the pool's
            cid = named.get(tap)
            why = self.death(cid) if cid else "no live container has it"
            self._add("tap", tap, why, lambda tap=tap: links.delete_tap(settings, tap))

    def _overlays(self, dirs: list[Path]) -> None:
        from vmctl.pool.store import PoolVM

        pool_vms = {d.name for d in self.domains or () if "pool" in d.metadata}
        for path in dirs:
            resolved = path.resolve()
            if resolved in self.kept_workdirs or path.name in self.live:
                continue
            if resolved in self.removed_workdirs:
                why = self.removed_workdirs[resolved]
            else:
                claimed = PoolVM.read(path)
                if claimed is not None and claimed.name in pool_vms:
                    why = f"pool VM {claimed.name} claimed into it still runs: the pool reaps it"
                    self._keep("overlay", str(path), why)
                    continue
                age = _path_age(path)
                if path.name in self.records:
                    why = self.death(path.name)
                elif age is not None and age < self.grace_s:
                    self._keep(
                        "overlay", str(path), f"made {ago(age)} ago: a pod may be starting in it"
                    )
                    continue
                else:
                    why = "no VM uses it"
            self._add("overlay", str(path), why, lambda path=path: _rmtree(path))

    def _run_logs(self, dirs: list[Path]) -> None:
        """A `run` pod's output copy outlives it only when the run was killed: the run
        holds the directory's lock for as long as it runs (runtime.output_log)."""
        from mesos_hyper.runtime.output_log import held

        for path in dirs:
            if held(path):
                continue
            age = _path_age(path)
            if age is not None and age < self.grace_s:
                self._keep("run output", str(path), f"made {ago(age)} ago: its run may be starting")
                continue
            why = f"pod {path.name}: its `mesos-hyper run` is gone"
            self._add("run output", str(path), why, lambda path=path: _rmtree(path))

    def _list_shares(self) -> dict[str, Path]:
        """VM name -> its share directory under VM_SHARES (vmctl.shares), mounted or not."""
        from vmctl import shares

        found = {}
        try:
            points = shares.leftovers()
        except OSError as err:
            self._problem("cannot list the VM shares", err)
            return found
        for point in points:
            relative = Path(point).relative_to(shares.VM_SHARES)
            if relative.parts:
                found[relative.parts[0]] = shares.VM_SHARES / relative.parts[0]
        return found

    def _shares(self, share_dirs: dict[str, Path]) -> None:
        """A pool VM's share (with a claim's sandbox bound into it) outlives it when its
        QEMU died with nobody left to release it. Its VM is looked for after the share was
        listed (a filler makes the share just before the VM), and so are the pools'
        directories, where a VM being booted has its entry first."""
        from vmctl import shares

        if self.domains is None or not share_dirs:
            return
        running = set(owners.qemu_pids()) | {d.name for d in self.domains}
        pools = {self.paths.pool} | {Path(p) for d in self.domains if (p := d.metadata.get("pool"))}
        for name, path in sorted(share_dirs.items()):
            if name in running:
                continue
            if any(
                (pool / state / name).exists() for pool in pools for state in ("idle", "filling")
            ):
                continue  # booting, or waiting for its VM to be found (the pool reaps it)
            age = _path_age(path)
            if age is not None and age < self.grace_s:
                self._keep("VM share", str(path), f"made {ago(age)} ago: its VM may be booting")
                continue
            remove = functools.partial(shares.release, name)
            self._add("VM share", str(path), f"VM {name} is gone", remove)

    def _exec_sockets(self, sockets: list[Path]) -> None:
        for path in sockets:
            if path.stem not in self.live:
                remove = functools.partial(path.unlink, missing_ok=True)
                why = (
                    self.death(path.stem)
                    if path.stem in self.records
                    else f"pod {path.stem}: no executor or `mesos-hyper run` serves it"
                )
                self._add("exec socket", str(path), why, remove)

    def _records(self) -> None:
        now = time.time()
        for cid, (store, record) in sorted(self.records.items()):
            where = f"{cid} in {store.root}"
            if record.live and cid not in self.live:
                why = self.death(cid).split(": ", 1)[1]
                self.found.leftovers.append(
                    Leftover(
                        "record",
                        where,
                        why,
                        self._terminator(store, record, why),
                        ("marked terminated", "mark terminated"),
                    )
                )
            elif not record.live and record.terminated_at is not None:
                age = now - record.terminated_at
                if age > ecp.RECORD_TTL_S and cid not in self.live:
                    why = f"terminated {ago(age)} ago; the agent is done with it"
                    self._add("record", where, why, lambda s=store, c=cid: _remove_record(s, c))

    def _terminator(
        self, store: StateStore, record: ContainerRecord, why: str
    ) -> Callable[[], None]:
        """What ``recover`` does to a dead container's record, under its launch lock."""

        def terminate() -> None:
            from mesos_hyper.model import messages

            cid = record.container_id
            with (
                flocked_if_free(store.containers_dir / cid / ecp.LAUNCH_LOCK) as free,
                contextlib.suppress(NotFoundError),  # removed meanwhile: nothing left to end
            ):
                if not free:
                    raise HyperError("a launch holds it now")
                store.mark_terminated(
                    cid,
                    Termination(
                        status=messages.signal_status(signal.SIGKILL),
                        state="TASK_FAILED",
                        reasons=("REASON_EXECUTOR_TERMINATED",),
                        message=f"mesos-hyper gc found the container dead: {why}",
                    ),
                )

        return terminate

    def _images(self) -> None:
        from mesos_hyper.images.store import ImageStore
        from mesos_hyper.runtime import in_use

        if self.domains is None:
            return  # which images VMs use is unknown
        store = ImageStore(self.paths.images)
        try:
            images = store.list()
        except HyperError as err:
            self._problem(f"cannot list the images in {self.paths.images}", err)
            return
        # the images of the VMs that stay (a dead VM's goes first; rmi's check is repeated)
        used = {
            image
            for d in self.domains
            if d.name in self.kept_domains and (image := d.metadata.get("image"))
        }
        used_disks = set()
        for root in self.roots:
            for path in self._list_dirs([root / "containers"]):
                if path.resolve() in self.removed_workdirs:
                    continue  # going with its dead VM
                for overlay in path.glob("*.qcow2"):
                    backing = backing_file(overlay)
                    if backing:
                        used_disks.add(Path(backing).parent.name)
        root = self.paths.root.resolve()
        starting = sorted(
            e.container_id
            for e in owners.executors()
            if e.root.resolve() == root and not self._has_vm(e.container_id)
        )
        for image in images:
            hexid = image.id.removeprefix("sha256:")
            if image.id in used or hexid in used_disks:
                continue
            shown = image.references[0] if image.references else image.short_id
            name = f"{shown} ({image.short_id})"
            record = store.records / f"{hexid}.json"
            disk = store.disks / hexid
            ages = [a for a in (_path_age(record), _path_age(disk)) if a is not None]
            age = min(ages) if ages else None
            if starting:
                why = f"container(s) {', '.join(starting)} starting: their images are not known yet"
                self._keep("image", name, why)
            elif age is not None and age < self.grace_s:
                self._keep("image", name, f"pulled or used {ago(age)} ago: a start may want it")
            else:
                self._add(
                    "image",
                    name,
                    "no container uses it",
                    lambda image_id=image.id: store.remove(image_id, in_use=in_use),
                )
        known = {image.id.removeprefix("sha256:") for image in images}
        for disk in self._list_dirs([store.disks]):
            if disk.name.startswith(".") or disk.name in known or disk.name in used_disks:
                continue
            age = _path_age(disk)
            if age is not None and age < self.grace_s:
                self._keep("base disk", str(disk), f"made {ago(age)} ago")
                continue
            self._add("base disk", str(disk), "its image is gone", lambda d=disk: _remove_disk(d))

    def _has_vm(self, container_id: str) -> bool:
        return any(d.metadata.get("container-id") == container_id for d in self.domains or ())


def _remove_record(store: StateStore, container_id: str) -> None:
    with contextlib.suppress(NotFoundError):
        store.remove(container_id)


def _rmtree(path: Path) -> None:
    """Whatever is still there goes (the ECP's cleanup of the same container may race us)."""

    def gone_already(_fn: object, _path: str, info: tuple) -> None:
        if not isinstance(info[1], FileNotFoundError):
            raise info[1]

    shutil.rmtree(path, onerror=gone_already)


def _remove_disk(disk: Path) -> None:
    _rmtree(disk)
    with contextlib.suppress(FileNotFoundError):
        (disk.parent / f".{disk.name}.lock").unlink()
