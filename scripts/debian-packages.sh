# Sourced by the set-up scripts: ensure_packages PKG... installs the Debian packages that
# are missing (one apt-get run, quiet), and says which; nothing when all are there.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
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
