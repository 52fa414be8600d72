"""Builds the guest: Debian's cloud kernel, its virtio modules and our init in an initramfs.

Reproducible: the same kernel package, init source and compiler give the same bytes
(sorted cpio, fixed owners and mtimes, gzip mtime 0). Idempotent: the inputs are hashed
into ``manifest.json`` and a matching build returns at once. Installed by rename, so a
crash never leaves a half-written kernel or initramfs behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mesos_hyper import config, log
from mesos_hyper.errors import HyperError
from vmctl.guest.cpio import CpioEntry, write_cpio_gz
from vmctl.guest.pvh import elf_for_pvh

LOG = log.get(__name__)
META_PACKAGE = "linux-image-cloud-amd64"
INIT_SOURCE = Path(__file__).parent / "init" / "init.c"
PVH_KERNEL = "vmlinux"  # the kernel as an ELF pods boot by PVH (vmctl.guest.pvh)
DEB_CACHE = Path(os.environ.get("MESOS_HYPER_DEB_CACHE", "/var/cache/mesos-hyper/debs"))
# Loaded in dependency order by our init; ext4 is built into the cloud kernel.
MODULES = (
    "virtio_pci",
    "virtio_scsi",
    "sd_mod",
    "virtio_console",
    "virtio_balloon",
    "virtio_net",
    "virtiofs",
    "overlay",
)
FORMAT = 3  # 2: the PVH kernel (vmlinux); 3: modules without their signatures
# What the kernel's sign-file appends to a module: PKCS#7, a 12-byte struct
# module_signature whose last 4 bytes are the PKCS#7's length (big-endian), this marker.
SIGNATURE_MARKER = b"~Module signature appended~\n"
SIGNATURE_INFO_BYTES = 12


@dataclass(frozen=True)
class GuestArtifacts:
    """The guest kernel and initramfs built, and their manifest."""

    kernel: Path
    initramfs: Path
    kernel_version: str
    manifest: Path


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    kw.setdefault("timeout", 600)  # a compile or depmod of the guest: minutes at worst
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    except FileNotFoundError as err:
        raise HyperError(
            f"guest build needs {cmd[0]}: install it (scripts/install.sh does)"
        ) from err
    except subprocess.TimeoutExpired:
        raise HyperError(f"guest build: {cmd[0]} did not finish within {kw['timeout']}s") from None
    except subprocess.CalledProcessError as err:
        detail = (err.stderr or err.stdout or "").strip().splitlines()[-1:] or [""]
        raise HyperError(f"guest build: {' '.join(cmd[:3])} failed: {detail[0]}") from err


def _download(package: str) -> Path:
    """``apt-get download`` into the cache; an already cached .deb serves when offline."""
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    try:
        _run(["apt-get", "download", package], cwd=DEB_CACHE)
    except HyperError:
        cached = sorted(DEB_CACHE.glob(f"{package}_*.deb"))
        if not cached:
            raise
        log.event(LOG, "apt-get download failed; using the cached package", package=package)
    debs = sorted(DEB_CACHE.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    if not debs:
        raise HyperError(f"guest build: apt-get did not produce {package}")
    return debs[-1]


def _kernel_package() -> Path:
    meta = _download(META_PACKAGE)
    depends = _run(["dpkg-deb", "-f", str(meta), "Depends"]).stdout
    match = re.search(r"(linux-image-[0-9][^\s,(]*-cloud-amd64)", depends)
    if not match:
        raise HyperError(f"guest build: cannot find the kernel package in {meta.name}: {depends}")
    return _download(match.group(1))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inputs(kernel_deb: Path) -> dict[str, str]:
    gcc = _run(["gcc", "--version"]).stdout.splitlines()[0]
    return {
        "format": str(FORMAT),
        "kernel_package": kernel_deb.name,
        "kernel_package_sha256": _sha256(kernel_deb.read_bytes()),
        "init_sha256": _sha256(INIT_SOURCE.read_bytes()),
        "modules": ",".join(MODULES),
        "gcc": gcc,
    }


def _module_closure(moddir: Path, wanted: tuple[str, ...]) -> list[str]:
    """Module paths (relative to ``moddir``) with every dependency before its user."""
    deps: dict[str, list[str]] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        name, _, rest = line.partition(":")
        deps[name] = rest.split()
    by_name = {Path(path).name.removesuffix(".ko"): path for path in deps}
    ordered: list[str] = []

    def visit(path: str) -> None:
        if path in ordered:
            return
        for dep in reversed(deps[path]):  # modules.dep lists the deepest dependency last
            visit(dep)
        ordered.append(path)

    for module in wanted:
        if module.replace("-", "_") not in by_name and module not in by_name:
            raise HyperError(f"guest build: the kernel has no module {module}")
        visit(by_name.get(module) or by_name[module.replace("-", "_")])
    return ordered


def _compile_init(work: Path) -> bytes:
    out = work / "init"
    _run(
        [
            "gcc",
            "-static",
            "-Os",
            "-Wall",
            "-Werror",
            "-s",
            f"-ffile-prefix-map={INIT_SOURCE.parent}=.",
            "-o",
            str(out),
            str(INIT_SOURCE),
        ]
    )
    return out.read_bytes()


def unsigned_module(module: bytes, name: str) -> bytes:
    """The module without Debian's appended signature.

    The guest kernel checks a signature by hashing the whole module and verifying RSA, which
    under TCG took 0.6 s of every boot for our 17 modules; it does not enforce signatures
    (no ``module.sig_enforce``, no lockdown), so a bad one only taints it. The modules come
    from the kernel package apt verified, into an initramfs only the host writes.
    """
    if not module.endswith(SIGNATURE_MARKER):
        return module
    info_end = len(module) - len(SIGNATURE_MARKER)
    if info_end < SIGNATURE_INFO_BYTES:
        raise HyperError(f"guest build: module {name} has a truncated signature")
    signature_bytes = int.from_bytes(module[info_end - 4 : info_end], "big")
    end = info_end - SIGNATURE_INFO_BYTES - signature_bytes
    if end <= 0 or not module.startswith(b"\x7fELF"):
        raise HyperError(f"guest build: module {name} has a malformed signature")
    return module[:end]


def _initramfs(init: bytes, moddir: Path, modules: list[str]) -> bytes:
    entries = [
        CpioEntry(d, stat.S_IFDIR | 0o755)
        for d in ("dev", "proc", "sys", "rootfs", "lib", "lib/modules")
    ]
    entries.append(CpioEntry("init", stat.S_IFREG | 0o755, init))
    order = []
    for module in modules:
        name = Path(module).name
        content = unsigned_module((moddir / module).read_bytes(), name)
        entries.append(CpioEntry(f"lib/modules/{name}", stat.S_IFREG | 0o644, content))
        order.append(f"/lib/modules/{name}")
    entries.append(
        CpioEntry(
            "lib/modules/load.order", stat.S_IFREG | 0o644, ("\n".join(order) + "\n").encode()
        )
    )
    return write_cpio_gz(entries)


def _current(dest: Path, inputs: dict[str, str]) -> GuestArtifacts | None:
    manifest = dest / "manifest.json"
    try:
        doc = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("inputs") != inputs:
        return None
    kernel, initramfs = dest / "vmlinuz", dest / "initramfs.cpio.gz"
    files = [(kernel, "vmlinuz_size"), (initramfs, "initramfs_size")]
    if "vmlinux_size" in doc:
        files.append((dest / PVH_KERNEL, "vmlinux_size"))
    for path, key in files:
        if not path.is_file() or path.stat().st_size != doc.get(key):
            return None
    return GuestArtifacts(kernel, initramfs, doc["kernel_version"], manifest)


def build_guest(dest: Path, *, force: bool = False) -> GuestArtifacts:
    kernel_deb = _kernel_package()
    inputs = _inputs(kernel_deb)
    if not force and (current := _current(dest, inputs)):
        log.event(LOG, "guest up to date", dest=dest, kernel=current.kernel_version)
        return current
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=dest) as tmp:
        work = Path(tmp)
        tree = work / "deb"
        _run(["dpkg-deb", "-x", str(kernel_deb), str(tree)])
        versions = [p.name for p in (tree / "lib/modules").iterdir()]
        if len(versions) != 1:
            raise HyperError(
                f"guest build: expected one kernel in {kernel_deb.name}, got {versions}"
            )
        version = versions[0]
        _run(["depmod", "-b", str(tree), version])
        moddir = tree / "lib/modules" / version
        kernel = (tree / "boot" / f"vmlinuz-{version}").read_bytes()
        initramfs = _initramfs(_compile_init(work), moddir, _module_closure(moddir, MODULES))
        doc = {
            "inputs": inputs,
            "kernel_version": version,
            "vmlinuz_sha256": _sha256(kernel),
            "vmlinuz_size": len(kernel),
            "initramfs_sha256": _sha256(initramfs),
            "initramfs_size": len(initramfs),
        }
        outputs = [("vmlinuz", kernel), ("initramfs.cpio.gz", initramfs)]
        elf = elf_for_pvh(kernel)
        if elf is None:  # pods boot the bzImage
            log.event(LOG, "no PVH kernel: pods boot the compressed one", kernel=version)
            (dest / PVH_KERNEL).unlink(missing_ok=True)
        else:
            doc.update(vmlinux_sha256=_sha256(elf), vmlinux_size=len(elf))
            outputs.append((PVH_KERNEL, elf))
        for name, data in outputs:
            (work / name).write_bytes(data)
            (work / name).chmod(0o644)
            os.replace(work / name, dest / name)
        (work / "manifest.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        os.replace(work / "manifest.json", dest / "manifest.json")
    log.event(
        LOG, "guest built", dest=dest, kernel=version, initramfs_sha256=doc["initramfs_sha256"]
    )
    return GuestArtifacts(
        dest / "vmlinuz", dest / "initramfs.cpio.gz", version, dest / "manifest.json"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="build the mesos-hyper guest kernel + initramfs")
    parser.add_argument("--dest", type=Path, default=config.Paths.from_env().guest)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    log.setup("INFO")
    built = build_guest(args.dest, force=args.force)
    print(f"{built.kernel} {built.initramfs} ({built.kernel_version})")


if __name__ == "__main__":
    main()
