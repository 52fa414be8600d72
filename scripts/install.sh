#!/usr/bin/env bash
# Installs and starts everything mesos-hyper needs on a Debian 12 host (run as root).
# Idempotent: a second run checks each step and changes nothing that is already right.
#   scripts/install.sh          install only
#   scripts/install.sh demo     install, then run the demo image in a VM
#   scripts/install.sh node     install for a cluster node (Vagrantfile): without the test
#                               tools and pymesos, which only a developer's host needs
set -euo pipefail
MODE=${1:-}
case "$MODE" in
  "" | demo | node) ;;
  *) echo "usage: scripts/install.sh [demo|node]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
REPO=$(pwd)
REGISTRY=127.0.0.1:5000
DEMO_IMAGE=$REGISTRY/mesos-hyper/demo:latest
STATE=/var/lib/mesos-hyper
say() { printf '==> %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }

. scripts/debian-packages.sh
ensure_packages "${MESOS_HYPER_PACKAGES[@]}"

requirement=".[test]"
[ "$MODE" = node ] && requirement="."
stamp=.venv/.installed-$(printf '%s' "$requirement" | cat pyproject.toml - | sha256sum | cut -c1-16)
if [ ! -e "$stamp" ]; then
  say "creating the virtualenv in $REPO/.venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e "$requirement"
  rm -f .venv/.installed-*
  touch "$stamp"
else
  say "virtualenv: up to date"
fi
[ "$MODE" = node ] || bash scripts/install-pymesos.sh .venv
for tool in mesos-hyper mesos-hyper-containerizer; do
  ln -sfn "$REPO/.venv/bin/$tool" "/usr/local/bin/$tool"
done
# The agent starts the ECP every few seconds (usage, containers): its modules are compiled
# here, once, so that no call compiles them again. An editable install writes no bytecode
# itself, and with PYTHONDONTWRITEBYTECODE set (as in some CI images) nothing ever would;
# compiling took 12 ms of each polled call here (bench/ecp_latency.py).
.venv/bin/python -m compileall -q -j 0 mesos_hyper vmctl isolators >/dev/null

say "preparing the host (guest kernel + initramfs, KVM probe, libvirtd)"
.venv/bin/mesos-hyper host up

registry_up() { curl -fsS -o /dev/null "http://$REGISTRY/v2/" 2>/dev/null; }
if ! registry_up; then
  say "starting a local Docker registry on $REGISTRY"
  mkdir -p /etc/mesos-hyper "$STATE/registry" /var/log/mesos-hyper
  cat > /etc/mesos-hyper/registry.yml <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
YML
  if [ -d /run/systemd/system ]; then
    # the package's own unit serves :5000 with its own config (and auth): not ours
    systemctl disable -q --now docker-registry.service 2>/dev/null || true
    # a unit, so that it starts again at boot (the Vagrant cluster's agents reboot)
    cat > /etc/systemd/system/mesos-hyper-registry.service <<UNIT
[Unit]
Description=mesos-hyper's local Docker registry ($REGISTRY)
After=network.target

[Service]
ExecStart=/usr/bin/docker-registry serve /etc/mesos-hyper/registry.yml
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
    systemctl daemon-reload
    systemctl enable -q --now mesos-hyper-registry
  else
    setsid nohup docker-registry serve /etc/mesos-hyper/registry.yml \
      >>/var/log/mesos-hyper/registry.log 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 150); do
    registry_up && break
    sleep 0.2
  done
  registry_up || { echo "registry did not start" >&2; exit 1; }
else
  say "registry on $REGISTRY: running"
fi

say "seeding the demo image $DEMO_IMAGE (built here from busybox-static)"
.venv/bin/mesos-hyper build-demo --push "$DEMO_IMAGE"
say "seeding the pod example's images (the \"images\" of examples/pod-two-tasks.json)"
.venv/bin/python - "$REGISTRY" <<'PY'
import json, subprocess, sys
for ref, image in json.load(open("examples/pod-two-tasks.json"))["images"].items():
    ref = sys.argv[1] + "/" + ref.split("/", 1)[1]  # the example names 127.0.0.1:5000
    subprocess.run([".venv/bin/mesos-hyper", "build-demo", "--cmd", image["cmd"], "--push", ref],
                   check=True, stdout=subprocess.DEVNULL)
PY

if [ "$MODE" = demo ]; then
  say "host kernel: $(uname -r)"
  say "running $DEMO_IMAGE in its own VM"
  .venv/bin/mesos-hyper run "$DEMO_IMAGE"
fi
