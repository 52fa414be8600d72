#!/usr/bin/env bash
# Provisions a cluster agent node: mesos-hyper through the project's own scripts/install.sh,
# then mesos-agent 1.0.4 with the external containerizer, both as systemd units that start
# again at boot. Idempotent.
#   provision-agent.sh IP ZK_URL RESOURCES
IP=${1:?usage: provision-agent.sh IP ZK_URL RESOURCES}
ZK=${2:?}
RESOURCES=${3:?}
. /vagrant/scripts/cluster/node-common.sh

mesos_hyper() {
  # Python packages from the host's wheels: no compiler run in a slow node, and the
  # versions the host's suite passed with
  PIP_NO_INDEX=1 PIP_FIND_LINKS=$REPO/.cluster/wheels bash "$REPO/scripts/install.sh" node
}

agent_unit() {
  mkdir -p /var/lib/mesos/agent
  install_unit mesos-hyper-host.service
  install_unit mesos-agent.service
  # a changed flag file restarts the agent, which recovers its tasks; an unchanged one
  # leaves it running
  if write_if_changed /etc/default/mesos-agent <<CONF; then systemctl restart mesos-agent; fi
MESOS_MASTER=$ZK
MESOS_IP=$IP
MESOS_HOSTNAME=$IP
MESOS_PORT=5051
MESOS_WORK_DIR=/var/lib/mesos/agent
MESOS_CONTAINERIZERS=external
MESOS_CONTAINERIZER_PATH=/usr/local/bin/mesos-hyper-containerizer
MESOS_SWITCH_USER=false
MESOS_LAUNCHER=posix
MESOS_SYSTEMD_ENABLE_SUPPORT=false
MESOS_LAUNCHER_DIR=$MESOS_PREFIX/libexec/mesos
MESOS_RESOURCES=$RESOURCES
MESOS_EXECUTOR_REGISTRATION_TIMEOUT=5mins
CONF
  systemctl start mesos-hyper-host mesos-agent
}

step "network" node_network "$IP"
step "Debian packages" node_packages
step "Mesos runtime" mesos_runtime
step "mesos-hyper (scripts/install.sh)" mesos_hyper
step "mesos-agent unit" agent_unit
step "mesos-agent answering" wait_http "http://$IP:5051/health" 180
# the accelerator this node's probe chose, and why (docs/cluster.md)
say "agent ready: http://$IP:5051; accelerator: $(cat /var/lib/mesos-hyper/guest/accel.json)"
