# Sourced by the cluster's provisioning scripts (Vagrantfile), which run as root in a node
# with the repo rsynced to /vagrant. Each step says what it does and how long it took,
# and a failure names the step that failed.
set -eEuo pipefail

REPO=/vagrant
MESOS_PREFIX=/opt/mesos-1.0.4
. "$REPO/scripts/debian-packages.sh"
. "$REPO/scripts/cluster/packages.sh"
STEP=start
# errtrace runs the trap in each function the error leaves: say it once
trap '[ -n "${FAILED:-}" ] || printf "provisioning %s failed at step: %s\n" "$(hostname)" "$STEP" >&2; FAILED=1' ERR
say() { printf '==> %s: %s\n' "$(hostname)" "$*" >&2; }

# step NAME COMMAND...: run one provisioning step, timed
step() {
  STEP=$1
  shift
  local started=$SECONDS
  say "$STEP"
  "$@"
  say "$STEP: done in $((SECONDS - started)) s"
}

# The box's catch-all DHCP config sorts after Vagrant's per-link files, so the private
# link keeps its static address (an early box's 50-dhcp.network took it over: no
# address, and network-online.target held every unit for two minutes).
node_network() {
  if [ -e /etc/systemd/network/50-dhcp.network ]; then
    mv /etc/systemd/network/50-dhcp.network /etc/systemd/network/99-dhcp.network
    networkctl reload
  fi
  local ip=$1 deadline=$((SECONDS + 60))
  until ip -4 -o addr | grep -q " $ip/"; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "no address $ip on this node" >&2; return 1; }
    sleep 1
  done
}

# The box has them all; a standard Debian box gets them here, once.
node_packages() {
  ensure_packages "${NODE_PACKAGES[@]}"
}

# The host's Mesos build (scripts/cluster/prepare.sh packed it), at the prefix its
# binaries' RUNPATH names; replaced only when the host's build changed.
mesos_runtime() {
  local tarball=$REPO/.cluster/mesos-runtime.tar.gz stamp
  [ -f "$tarball" ] || { echo "no $tarball: run scripts/cluster/prepare.sh on the host" >&2; return 1; }
  stamp=$MESOS_PREFIX/.runtime-$(sha256sum "$tarball" | cut -c1-16)
  if [ ! -e "$stamp" ]; then
    rm -rf "$MESOS_PREFIX"
    tar -C "$(dirname "$MESOS_PREFIX")" -xzf "$tarball"
    touch "$stamp"
  fi
  local missing
  # ldd fails on the shell scripts among them: only its "not found" lines count
  missing=$(ldd "$MESOS_PREFIX"/sbin/mesos-* "$MESOS_PREFIX"/lib/libmesos-*.so 2>/dev/null |
    awk '/not found/ {print $1}' | sort -u | tr '\n' ' ' || true)
  [ -z "$missing" ] || { echo "Mesos needs libraries this node lacks: $missing" >&2; return 1; }
}

# install_unit NAME: the unit from examples/systemd, enabled; restarted if it changed
install_unit() {
  local src=$REPO/examples/systemd/$1 dst=/etc/systemd/system/$1
  if ! cmp -s "$src" "$dst"; then
    install -m 644 "$src" "$dst"
    systemctl daemon-reload
  fi
  systemctl enable -q "$1"
}

# write_if_changed PATH: stdin to PATH; status 0 when it changed
write_if_changed() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
    return 1
  fi
  install -m 644 "$tmp" "$1"
  rm -f "$tmp"
}

# wait_http URL SECONDS: until URL answers 2xx
wait_http() {
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 5 "$1"; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "$1 did not answer within $2 s" >&2; return 1; }
    sleep 2
  done
}
