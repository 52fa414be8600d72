# Sourced by the set-up scripts: ensure_packages PKG... installs the Debian packages that
# are missing (one apt-get run, quiet), and says which; nothing when all are there.

# what mesos-hyper itself needs on a host (scripts/install.sh; the cluster's box has them)
MESOS_HYPER_PACKAGES=(
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
  busybox-static docker-registry skopeo umoci e2fsprogs nftables iproute2 cpio kmod procps lz4
  gcc libc6-dev python3-venv python3-dev curl ca-certificates tini
)

ensure_packages() {
  local missing=() installed pkg
  # one dpkg-query for all: one per package took 20 s in a TCG node
  installed=" $(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null |
    awk '/ ok installed$/ {printf "%s ", $1}' || true)"
  for pkg in "$@"; do
    [[ $installed == *" $pkg "* ]] || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    printf '==> Debian packages: all present\n' >&2
    return 0
  fi
  printf '==> installing Debian packages: %s\n' "${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
}
