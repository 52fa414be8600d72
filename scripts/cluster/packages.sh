# Sourced by scripts/build-box.sh: every Debian package a cluster node needs, so that
# provisioning installs none (see build-box.sh). Needs scripts/debian-packages.sh first.

# a bootable, reachable Vagrant node
BOX_BASE_PACKAGES=(
  systemd-sysv udev dbus openssh-server sudo linux-image-cloud-amd64 grub-pc
  systemd-resolved ca-certificates rsync iproute2 iputils-ping less
)
# the shared libraries of the Mesos 1.0.4 that scripts/build-mesos.sh builds (its
# build-time -dev packages' runtime halves); the built prefix comes from the host
MESOS_RUNTIME_PACKAGES=(
  libzookeeper-mt2 libsvn1 libsasl2-2 libsasl2-modules libcurl4 libapr1 libaprutil1
  zlib1g libstdc++6
)
# the master's ZooKeeper, so that agents and frameworks find it with zk://
ZOOKEEPER_PACKAGES=(zookeeperd)

NODE_PACKAGES=(
  "${BOX_BASE_PACKAGES[@]}" "${MESOS_HYPER_PACKAGES[@]}" "${MESOS_RUNTIME_PACKAGES[@]}"
  "${ZOOKEEPER_PACKAGES[@]}"
)
