"""``mesos-hyper host ...``: make a host ready to run pods, and clean up after crashes."""

from __future__ import annotations

import argparse

from mesos_hyper import config
from mesos_hyper.host import gc


def register(sub: argparse._SubParsersAction) -> None:
    host = sub.add_parser("host", help="prepare this host (guest kernel, accelerator, libvirtd)")
    host_sub = host.add_subparsers(dest="host_command", metavar="ACTION", required=True)

    up = host_sub.add_parser(
        "up", help="build the guest if needed, choose KVM or TCG, start libvirtd (idempotent)"
    )
    up.add_argument("--reprobe", action="store_true", help="probe KVM again instead of the cache")
    up.set_defaults(func=_up)

    build = host_sub.add_parser("build-guest", help="build the guest kernel and initramfs")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.set_defaults(func=_build_guest)

    doctor = sub.add_parser(
        "doctor",
        help="check that this host can run tasks; one line per check, with its fix",
        description="Checks the accelerator, the guest, libvirtd, virtiofsd, the pod network "
        "and free disk, and optionally a registry and a Mesos agent's flags. Exits 1 when a "
        "check fails that blocks launches (FAIL); warnings (warn) do not.",
    )
    doctor.add_argument("--image", help="also check that this image's registry serves it")
    flags = doctor.add_mutually_exclusive_group()
    flags.add_argument(
        "--agent-flags",
        metavar="FLAGS",
        help="also check these mesos-agent flags, e.g. '--containerizers=external ...'",
    )
    flags.add_argument(
        "--agent", action="store_true", help="also check the flags of the running mesos-agent"
    )
    doctor.set_defaults(func=_doctor)
    gc.register(sub)


def _build_guest(args: argparse.Namespace) -> int:
    from vmctl.guest.build import build_guest

    artifacts = build_guest(config.Paths.from_env().guest, force=args.force)
    print(f"guest kernel {artifacts.kernel_version}: {artifacts.kernel}, {artifacts.initramfs}")
    return 0


def _up(args: argparse.Namespace) -> int:
    # here, not at the top: every `mesos-hyper` command builds the whole parser
    from vmctl import accel, libvirtd
    from vmctl.guest.build import build_guest
    from vmctl.pool.refill import request_refill
    from vmctl.pool.settings import PoolSettings

    paths = config.Paths.from_env()
    artifacts = build_guest(paths.guest)
    print(f"guest: kernel {artifacts.kernel_version} in {paths.guest}")
    domain_type = accel.domain_type(paths, force_probe=args.reprobe)
    label = "KVM" if domain_type == "kvm" else "QEMU TCG (software emulation; KVM unusable here)"
    print(f"accelerator: {label}")
    how = libvirtd.ensure_running(config.libvirt_uri(), domain_type)
    print(f"libvirtd: {how} ({config.libvirt_uri()})")
    settings = PoolSettings.from_env()
    if settings.enabled:
        request_refill(paths)
        print(
            f"warm pool: filling to {settings.size} VMs in the background (mesos-hyper pool status)"
        )
    else:
        print("warm pool: off (MESOS_HYPER_POOL_SIZE=0)")
    return 0


def _doctor(args: argparse.Namespace) -> int:

    from mesos_hyper.errors import HyperError
    from mesos_hyper.host import agents, doctor
    from mesos_hyper.host.status_line import StatusLine

    agent = None
    if args.agent_flags is not None:
        agent = doctor.split_flags(args.agent_flags)
    elif args.agent:
        running = agents.running_agents()
        agent = running[0] if running else None
        if agent is None:
            raise HyperError("--agent: no mesos-agent runs here (give --agent-flags instead)")
    status = StatusLine()
    findings = doctor.run(config.Paths.from_env(), image=args.image, agent=agent, progress=status)
    status.clear()
    for finding in findings:
        print(finding.line())
    failed = [f for f in findings if f.level is doctor.Level.FAIL]
    print(f"{len(failed)} blocking problem(s)" if failed else "this host can run tasks")
    return 1 if failed else 0
