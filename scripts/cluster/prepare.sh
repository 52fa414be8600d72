#!/usr/bin/env bash
# Readies this host to bring up the test cluster (Vagrantfile). Run as root; idempotent.
# What the nodes take from the host, so that no node compiles anything:
#   - the box (scripts/build-box.sh), unless MESOS_HYPER_BOX names another;
#   - .cluster/mesos-runtime.tar.gz: the Mesos 1.0.4 that scripts/build-mesos.sh built,
#     stripped, without headers and static libraries (a 20-minute build per node is not
#     acceptable);
#   - .cluster/wheels: the Python packages of mesos-hyper, at the versions of this host's
#     .venv (libvirt-python would otherwise compile in every node).
set -euo pipefail

cd "$(dirname "$0")/../.."
OUT=.cluster
PREFIX=/opt/mesos-1.0.4
say() { printf '==> cluster prepare: %s\n' "$*" >&2; }
die() { printf 'cluster prepare: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
. scripts/debian-packages.sh
ensure_packages vagrant vagrant-libvirt dnsmasq-base rsync binutils ruby
[ -x .venv/bin/pip ] || die "no .venv here: run scripts/install.sh first"
[ -S /var/run/libvirt/libvirt-sock ] ||
  die "libvirt is not running: run scripts/install.sh (or mesos-hyper host up)"

bash scripts/build-mesos.sh
mkdir -p "$OUT"
runtime=$OUT/mesos-runtime.tar.gz
if [ ! "$runtime" -nt "$PREFIX/.mesos-hyper-built" ]; then
  say "packing the Mesos runtime from $PREFIX"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp -a "$PREFIX" "$work/"
  copy=$work/$(basename "$PREFIX")
  rm -rf "$copy/include" "$copy/.mesos-hyper-built"
  find "$copy" \( -name '*.a' -o -name '*.la' \) -delete
  find "$copy" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
    while IFS= read -r -d '' f; do
      if head -c4 "$f" | grep -q 'ELF'; then strip --strip-unneeded "$f"; fi
    done
  tar -C "$work" -czf "$runtime.tmp" "$(basename "$PREFIX")"
  mv "$runtime.tmp" "$runtime"
  rm -rf "$work"
  trap - EXIT
fi
say "Mesos runtime: $runtime ($(du -h "$runtime" | cut -f1))"

wheels=$OUT/wheels
# pinned to this .venv; packages installed from a path (pymesos' http-parser) are not
# the nodes' and cannot be constraints
pins() { .venv/bin/pip freeze --exclude-editable | grep -v ' @ '; }
stamp=$wheels/.from-$(pins | sha256sum | cut -c1-16)
if [ ! -e "$stamp" ]; then
  say "building the nodes' wheels at this .venv's versions"
  rm -rf "$wheels"
  .venv/bin/pip wheel -q -w "$wheels" -c <(pins) \
    . pip setuptools wheel
  rm -f "$wheels"/mesos_hyper-*.whl  # the node installs its /vagrant copy, editable
  touch "$stamp"
fi
say "wheels: $wheels ($(find "$wheels" -name '*.whl' | wc -l) packages)"

if [ -z "${MESOS_HYPER_BOX:-}" ]; then
  bash scripts/build-box.sh
else
  say "box: $MESOS_HYPER_BOX (MESOS_HYPER_BOX)"
fi
