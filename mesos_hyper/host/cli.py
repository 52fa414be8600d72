"""``mesos-hyper host ...``: make a host ready to run pods, and clean up after crashes."""

from __future__ import annotations

import argparse

from mesos_hyper import config
from vmctl import accel, libvirtd
from vmctl.guest.build import build_guest
from vmctl.pool.refill import request_refill
from vmctl.pool.settings import PoolSettings


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


def _build_guest(args: argparse.Namespace) -> int:
    artifacts = build_guest(config.Paths.from_env().guest, force=args.force)
    print(f"guest kernel {artifacts.kernel_version}: {artifacts.kernel}, {artifacts.initramfs}")
    return 0


def _up(args: argparse.Namespace) -> int:
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
