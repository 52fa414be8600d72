"""``mesos-hyper doctor``: is this host ready to run tasks, and if not, what fixes it.

Each check gives one finding: ok, a warning (launches work, slower or with less), or a
failure that blocks launches, each with its fix. Checks read state and never change it:
``host up`` is what sets a host up.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from mesos_hyper import config
from mesos_hyper.errors import HyperError
from mesos_hyper.host.agents import parse_flags

MIN_FREE_BYTES = 1 << 30  # below this a pull or a few overlays fill the disk
LOW_FREE_BYTES = 5 << 30
KVM_MASK_DEVICE = (1, 3)  # what vmctl.libvirtd binds over /dev/kvm: /dev/null's numbers


class Level(Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"  # blocks launches


@dataclass(frozen=True)
class Finding:
    """One check of `host doctor` and what to do about it."""

    check: str
    level: Level
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" (fix: {self.fix})" if self.fix and self.level is not Level.OK else ""
        return f"{self.level.value:4s} {self.check}: {self.detail}{fix}"


def _ok(check: str, detail: str) -> Finding:
    return Finding(check, Level.OK, detail)


def accelerator(paths: config.Paths) -> Finding:
    """What `host up`'s probe chose, and whether that answer still holds."""
    from vmctl import accel

    check = "accelerator"
    override = os.environ.get("MESOS_HYPER_ACCEL", "").strip().lower()
    if override:
        if override not in accel.DOMAIN_TYPES:
            return Finding(
                check, Level.FAIL, f"MESOS_HYPER_ACCEL={override!r}", "set it to kvm or tcg"
            )
        return _ok(check, f"{override.upper()}, set by MESOS_HYPER_ACCEL")
    cached = accel.cached_choice(paths)
    if cached is None:
        cache = paths.guest / accel.CACHE_NAME
        return Finding(check, Level.FAIL, f"not probed yet ({cache})", "run `mesos-hyper host up`")
    chosen = "KVM" if cached.domain_type == "kvm" else "TCG"
    why = cached.why
    if paths.kernel.is_file() and not cached.current:
        return Finding(
            check,
            Level.WARN,
            f"{chosen} was probed for another host or guest kernel ({why})",
            "run `mesos-hyper host up --reprobe`",
        )
    if chosen == "KVM":
        return _ok(check, f"KVM ({why})")
    if os.path.exists("/dev/kvm"):
        return _ok(check, f"TCG fallback: /dev/kvm exists but KVM lost the probe ({why})")
    return _ok(check, f"TCG: no /dev/kvm ({why})")


def guest(paths: config.Paths) -> Finding:
    check = "guest kernel and initramfs"
    missing = [p for p in (paths.kernel, paths.initramfs) if not p.is_file()]
    if missing:
        return Finding(
            check,
            Level.FAIL,
            "missing: " + ", ".join(str(p) for p in missing),
            "run `mesos-hyper host up` (it builds them)",
        )
    manifest = paths.guest / "manifest.json"
    try:
        version = json.loads(manifest.read_text()).get("kernel_version", "?")
    except (OSError, ValueError):
        version = "unknown (no manifest)"
    return _ok(check, f"kernel {version} in {paths.guest}")


def libvirtd_state(paths: config.Paths) -> Finding:
    """Reachable, and, where KVM lost the probe but /dev/kvm exists, blind to it."""
    from vmctl import libvirtd

    check = "libvirtd"
    uri = config.libvirt_uri()
    if not libvirtd.reachable(uri):
        return Finding(check, Level.FAIL, f"does not answer on {uri}", "run `mesos-hyper host up`")
    if not os.path.exists("/dev/kvm") or _probed_kvm(paths):
        return _ok(check, f"answers on {uri}")
    if _libvirtd_sees_kvm():
        return Finding(
            check,
            Level.WARN,
            f"answers on {uri}, but sees /dev/kvm, which hangs guests here: each domain start "
            "can stall on its KVM probing",
            "restart it with /dev/kvm masked: pkill -x libvirtd; mesos-hyper host up",
        )
    return _ok(check, f"answers on {uri}, with /dev/kvm masked (TCG)")


def _probed_kvm(paths: config.Paths) -> bool:
    from vmctl import accel

    cached = accel.cached_choice(paths)
    return cached is not None and cached.domain_type == "kvm"


def _libvirtd_sees_kvm() -> bool:
    """/dev/kvm as libvirtd sees it is the real device (not our mask, nor systemd's
    InaccessiblePaths node)."""
    found = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True)
    for pid in found.stdout.split():
        try:
            st = os.stat(f"/proc/{pid}/root/dev/kvm")
        except OSError:
            continue
        if not stat.S_ISCHR(st.st_mode):
            continue
        device = (os.major(st.st_rdev), os.minor(st.st_rdev))
        if device != KVM_MASK_DEVICE and device != (0, 0):
            return True
    return False


def virtiofsd() -> Finding:
    from vmctl.domain import VIRTIOFSD

    check = "virtiofsd"
    if not os.access(VIRTIOFSD, os.X_OK):
        return Finding(
            check,
            Level.FAIL,
            f"{VIRTIOFSD} is missing: no sandbox can be shared into a VM",
            "apt-get install qemu-system-x86",
        )
    from vmctl import shares

    if not shares.ready():
        return Finding(
            check,
            Level.WARN,
            f"{VIRTIOFSD} is there, but libvirtd does not see mounts under {shares.VM_SHARES}:"
            " pool VMs boot without their share and claims hot-plug it (slower)",
            "restart libvirtd: pkill -x libvirtd; mesos-hyper host up",
        )
    return _ok(check, f"{VIRTIOFSD}; the VM share root reaches libvirtd")


def network() -> Iterator[Finding]:
    """The pod network's namespace, nftables and forwarding; the bridge is made by the
    first pod, so its absence is no fault."""
    from vmctl.network import netns as ns
    from vmctl.network.settings import NetSettings

    check = "pod network"
    try:
        settings = NetSettings.from_env()
    except HyperError as err:
        yield Finding(check, Level.FAIL, str(err), "fix the MESOS_HYPER_POD_*/NET_* settings")
        return
    if not settings.enabled:
        yield _ok(check, "off (MESOS_HYPER_POD_NETWORK=off): tasks get no NIC")
        return
    where = f"namespace {settings.netns}" if settings.netns else "the root namespace"
    if settings.netns and not os.path.exists(ns.netns_path(settings.netns)):
        yield Finding(
            check,
            Level.FAIL,
            f"MESOS_HYPER_NETNS={settings.netns}: no such network namespace",
            f"ip netns add {settings.netns}, or unset MESOS_HYPER_NETNS",
        )
        return
    nft = shutil.which("nft")
    if nft is None:
        yield Finding("nftables", Level.FAIL, "nft is missing", "apt-get install nftables")
    else:
        res = subprocess.run(
            [*ns.nsenter_prefix(settings.netns), nft, "list", "tables"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if res.returncode != 0:
            yield Finding(
                "nftables",
                Level.FAIL,
                f"nft cannot list tables in {where}: {res.stderr.strip()[:200]}",
                "load nf_tables (modprobe nf_tables) and run as root",
            )
        else:
            ours = "present" if "mesos_hyper" in res.stdout else "made by the first pod"
            yield _ok("nftables", f"works in {where}; our tables: {ours}")
    forward = _read_sysctl(settings.netns, "net/ipv4/ip_forward")
    bridge = _read_sysctl(settings.netns, f"net/ipv4/conf/{settings.bridge}/forwarding")
    if bridge is None:
        yield _ok(check, f"{where}; bridge {settings.bridge} made by the first pod")
    elif forward != "1":
        yield Finding(
            check,
            Level.FAIL,
            f"ip_forward is {forward} in {where}: pods cannot reach out nor be reached",
            "sysctl -w net.ipv4.ip_forward=1 (and find what turned it off)",
        )
    else:
        yield _ok(check, f"{where}; bridge {settings.bridge} up, ip_forward on")
    # either way works: with it, DNAT to a pod on the same bridge is bridged tap to tap,
    # and the rules mark such packets for the bridge family (vmctl.network.firewall)
    loaded = os.path.isdir("/sys/module/br_netfilter")
    yield _ok(
        "br_netfilter",
        "loaded: bridged pod traffic also crosses the inet hooks, which our rules allow for"
        if loaded
        else "not loaded: traffic between pods is bridged without the inet hooks",
    )


def _read_sysctl(netns: str | None, key: str) -> str | None:
    from vmctl.network.netns import run_in_netns

    def read() -> str | None:
        try:
            return Path("/proc/sys", key).read_text().strip()
        except OSError:
            return None

    return run_in_netns(netns, read)


def disk(paths: config.Paths) -> Finding:
    check = "disk"
    where = paths.root if paths.root.exists() else paths.root.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError as err:
        return Finding(check, Level.FAIL, f"cannot stat {where}: {err}", "create the state root")
    text = f"{free / (1 << 30):.1f} GiB free under {where}"
    if free < MIN_FREE_BYTES:
        return Finding(check, Level.FAIL, text, "free space, or `mesos-hyper rmi` unused images")
    if free < LOW_FREE_BYTES:
        return Finding(check, Level.WARN, text, "free space before large images fill it")
    return _ok(check, text)


def registry(image: str) -> Finding:
    """Whether the image's manifest can be fetched, as a pull would."""
    from mesos_hyper.images.reference import Reference
    from mesos_hyper.images.registry import RegistryClient

    check = f"registry for {image}"
    try:
        ref = Reference.parse(image)
        client = RegistryClient(ref.registry, retry_seconds=0, timeout=10)
        _, _, digest = client.get_manifest(ref.repository, ref.ref)
    except HyperError as err:
        return Finding(
            check,
            Level.FAIL,
            str(err),
            "check the name and that the registry answers; a plain-http registry needs "
            "MESOS_HYPER_INSECURE_REGISTRIES",
        )
    return _ok(check, f"manifest {digest[:19]}")


def agent_flags(flags: Sequence[str]) -> Iterator[Finding]:
    """The flags (``--name=value`` or MESOS_NAME=value) a Mesos 1.0 agent needs for us."""
    given = parse_flags(flags)
    check = "agent flags"
    containerizers = given.get("containerizers")
    if containerizers != "external":
        yield Finding(
            check,
            Level.FAIL,
            f"--containerizers={containerizers or '(unset: mesos)'}",
            "--containerizers=external alone: with docker,external the Docker "
            "containerizer takes DOCKER tasks first",
        )
    path = given.get("containerizer_path")
    if not path or not os.access(path, os.X_OK):
        yield Finding(
            check,
            Level.FAIL,
            f"--containerizer_path={path or '(unset)'} is not an executable",
            "--containerizer_path=/usr/local/bin/mesos-hyper-containerizer",
        )
    if given.get("switch_user", "true").lower() not in ("false", "0", "no"):
        yield Finding(
            check,
            Level.FAIL,
            "--switch_user is on: launch refuses it (the agent would chown guest-written paths "
            "as root)",
            "--switch_user=false",
        )
    has_systemd = os.path.isdir("/run/systemd/system")
    systemd = given.get("systemd_enable_support", "true").lower() not in ("false", "0", "no")
    if systemd and not has_systemd:
        yield Finding(
            check,
            Level.FAIL,
            "--systemd_enable_support is on, on a host without systemd: the agent will not start",
            "--systemd_enable_support=false",
        )
    if "ports:" not in given.get("resources", "") and "resources" in given:
        yield Finding(
            check,
            Level.WARN,
            "--resources offers no ports: tasks with BRIDGE or HOST ports never fit",
            "add ports:[31000-32000] to --resources",
        )
    if containerizers == "external" and path and os.access(path, os.X_OK):
        yield _ok(check, f"--containerizers=external --containerizer_path={path}")


def run(
    paths: config.Paths,
    *,
    image: str | None = None,
    agent: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda _s: None,
) -> list[Finding]:
    """Every check, in order; ``progress`` hears what is being checked."""
    steps: list[tuple[str, Callable[[], Iterator[Finding] | Finding]]] = [
        ("the accelerator", lambda: accelerator(paths)),
        ("the guest", lambda: guest(paths)),
        ("libvirtd", lambda: libvirtd_state(paths)),
        ("virtiofsd", virtiofsd),
        ("the pod network", network),
        ("free disk", lambda: disk(paths)),
    ]
    if image is not None:
        steps.append((f"the registry of {image}", lambda: registry(image)))
    if agent is not None:
        steps.append(("the agent's flags", lambda: agent_flags(agent)))
    findings: list[Finding] = []
    for what, step in steps:
        progress(f"checking {what}")
        result = step()
        findings.extend([result] if isinstance(result, Finding) else list(result))
    return findings


def split_flags(text: str) -> list[str]:
    return shlex.split(text)
