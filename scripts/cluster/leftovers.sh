#!/usr/bin/env bash
# Prints what killed tasks left on this agent node, one line each; nothing when clean.
# Run as root in a node (scripts/cluster-smoke.sh does): task VMs (warm-pool VMs are the
# pool's), pod taps, nft rules of containers, pod executors.
set -uo pipefail
virsh -q list --all --name | grep '^mh-' | grep -v '^mh-pool-' | sed 's/^/domain: /'
ip -o link | grep -oE ' mht[0-9a-f]{12}\b' | sed 's/^ /tap: /'
nft -a list ruleset 2>/dev/null | grep -oE 'comment "mh:[^"]+"' | sort -u | sed 's/^/nft rule: /'
pgrep -af 'python3? -I -m mesos_hyper[.]executor' | sed 's/^/executor: /'
exit 0
