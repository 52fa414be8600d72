#!/usr/bin/env bash
# Provisions the cluster's master node: ZooKeeper and mesos-master 1.0.4 as systemd units,
# so that agents and frameworks find the master with zk://. Idempotent.
#   provision-master.sh IP
IP=${1:?usage: provision-master.sh IP}
. /vagrant/scripts/cluster/node-common.sh

zookeeper() {
  systemctl enable -q zookeeper
  systemctl start zookeeper
}

master_unit() {
  mkdir -p /var/lib/mesos/master
  install_unit mesos-master.service
  # a changed flag file restarts the master; an unchanged one leaves it running
  if write_if_changed /etc/default/mesos-master <<CONF; then systemctl restart mesos-master; fi
MESOS_ZK=zk://$IP:2181/mesos
MESOS_QUORUM=1
MESOS_IP=$IP
MESOS_HOSTNAME=$IP
MESOS_PORT=5050
MESOS_WORK_DIR=/var/lib/mesos/master
MESOS_CLUSTER=mesos-hyper
CONF
  systemctl start mesos-master
}

step "network" node_network "$IP"
step "Debian packages" node_packages
step "Mesos runtime" mesos_runtime
step "ZooKeeper" zookeeper
step "mesos-master unit" master_unit
step "mesos-master answering" wait_http "http://$IP:5050/health" 180
say "master ready: http://$IP:5050, zk://$IP:2181/mesos"
