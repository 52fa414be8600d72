#!/usr/bin/env bash
# Builds the Debian 12 vagrant-libvirt box the test cluster's nodes run (Vagrantfile), from
# Debian's mirror, for hosts that cannot reach Vagrant Cloud; then adds it to vagrant.
#   scripts/build-box.sh            build (if not built) and `vagrant box add`
#   scripts/build-box.sh --force    build again
# Run as root. Idempotent: a box already added with this script's package set is kept.
#
# The box carries every package a node needs (mesos-hyper's own, Mesos' runtime libraries,
# ZooKeeper), so provisioning installs nothing with apt: under TCG an `apt-get install`
# in a node spends minutes in its triggers, the initramfs one above all.
set -euo pipefail

cd "$(dirname "$0")/.."
BOX_NAME=${MESOS_HYPER_BOX_NAME:-mesos-hyper/debian12}
OUT=${MESOS_HYPER_BOX_DIR:-/var/cache/mesos-hyper/box}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SIZE_GIB=20
say() { printf '==> build-box: %s\n' "$*" >&2; }
die() { printf 'build-box: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it makes a loop device and a chroot)"
. scripts/debian-packages.sh
. scripts/cluster/packages.sh
ensure_packages debootstrap qemu-utils util-linux fdisk e2fsprogs vagrant vagrant-libvirt

# the set of packages is the box's version: a change builds a new box
version=$(printf '%s\n' "${NODE_PACKAGES[@]}" "$SIZE_GIB" | sha256sum | cut -c1-12)
box=$OUT/mesos-hyper-debian12-$version.box
if [ "${1:-}" != --force ] && vagrant box list 2>/dev/null | grep -q "^$BOX_NAME " \
  && [ -e "$OUT/.added-$version" ]; then
  say "$BOX_NAME ($version) is added; --force builds it again"
  exit 0
fi

mkdir -p "$OUT"
work=$(mktemp -d "$OUT/.build.XXXXXX")
root=$work/root
loop=
cleanup() {
  set +e
  for m in dev/pts dev proc sys; do mountpoint -q "$root/$m" && umount -l "$root/$m"; done
  mountpoint -q "$root" && umount -l "$root"
  if [ -n "$loop" ]; then partx -d "$loop" 2>/dev/null; losetup -d "$loop"; fi
  rm -rf "$work"
}
trap cleanup EXIT
step() { say "[$1] $2"; STEP=$2; }
trap 'printf "build-box: failed at: %s\n" "${STEP:-start}" >&2' ERR

started=$(date +%s)
step 1/7 "partitioning a ${SIZE_GIB} GiB disk"
truncate -s "${SIZE_GIB}G" "$work/disk.raw"
echo 'start=2048, type=83, bootable' | sfdisk -q "$work/disk.raw"
loop=$(losetup -f --show "$work/disk.raw")
partx -a "$loop"  # the partition device: losetup -P did not make one here
part=${loop}p1
for _ in $(seq 50); do [ -b "$part" ] && break; sleep 0.1; done
[ -b "$part" ] || die "no partition device $part"
mkfs.ext4 -q -L root "$part"
uuid=$(blkid -s UUID -o value "$part")
mkdir "$root"
mount "$part" "$root"

step 2/7 "debootstrap (minbase) from $MIRROR"
debootstrap --variant=minbase --include=systemd-sysv,udev,ca-certificates \
  bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

step 3/7 "installing the node packages (${#NODE_PACKAGES[@]})"
for m in dev dev/pts proc sys; do mount --bind "/$m" "$root/$m"; done
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"  # no daemon starts in the chroot
chmod +x "$root/usr/sbin/policy-rc.d"
# the host's sources where it has them (security updates too), else the mirror's
if cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" 2>/dev/null; then
  rm -f "$root/etc/apt/sources.list"
else
  echo "deb $MIRROR bookworm main" >"$root/etc/apt/sources.list"
fi
cp /etc/apt/apt.conf.d/99artifact-registry "$root/etc/apt/apt.conf.d/" 2>/dev/null || true
echo 'grub-pc grub-pc/install_devices_empty boolean true' | chroot "$root" debconf-set-selections
chroot "$root" apt-get update -qq
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends \
  "${NODE_PACKAGES[@]}" >"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log" >&2; die "apt-get failed"; }
chroot "$root" apt-get clean
rm -f "$root/usr/sbin/policy-rc.d"

step 4/7 "configuring: vagrant user, network, ssh, fstab"
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >"$root/etc/fstab"
echo node >"$root/etc/hostname"
chroot "$root" useradd -m -s /bin/bash -G sudo vagrant
echo 'vagrant:vagrant' | chroot "$root" chpasswd
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 440 "$root/etc/sudoers.d/vagrant"
install -d -m 700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
key=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1)
[ -n "$key" ] || die "vagrant's insecure public key not found (is the vagrant package installed?)"
install -m 600 -o 1000 -g 1000 "$key" "$root/home/vagrant/.ssh/authorized_keys"
# last in order: Vagrant's own per-link files (a private network's static address) win
cat >"$root/etc/systemd/network/99-dhcp.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
EOF
chroot "$root" systemctl enable -q systemd-networkd systemd-resolved ssh
# install.sh runs mesos-hyper's registry on 127.0.0.1:5000; the package's would take it
chroot "$root" systemctl disable -q docker-registry
# host keys made at first boot: every node gets its own
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/ssh-host-keys.service" <<'EOF'
[Unit]
Description=Make the SSH host keys this node lacks
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
EOF
chroot "$root" systemctl enable -q ssh-host-keys
echo 'UseDNS no' >"$root/etc/ssh/sshd_config.d/vagrant.conf"
# an empty machine-id: each node makes its own at first boot, and with it its own DHCP
# client id (a shared one gave only one node an address)
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# the guest kernel package mesos-hyper's `host up` builds its guest from, so a node's
# first `host up` needs no download
if ls /var/cache/mesos-hyper/debs/*.deb >/dev/null 2>&1; then
  install -d "$root/var/cache/mesos-hyper/debs"
  cp /var/cache/mesos-hyper/debs/*.deb "$root/var/cache/mesos-hyper/debs/"
fi
# packages are all in: no initramfs rebuild in a node
sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$root/etc/initramfs-tools/update-initramfs.conf"

step 5/7 "boot loader"
cat >"$root/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 net.ifnames=0"
GRUB_TERMINAL="console serial"
EOF
chroot "$root" grub-install --target=i386-pc "$loop" >"$work/grub.log" 2>&1 ||
  { cat "$work/grub.log" >&2; die "grub-install failed"; }
chroot "$root" update-grub >>"$work/grub.log" 2>&1
# update-grub names the loop partition it saw; the node's disk is found by UUID
sed -i "s|root=$part|root=UUID=$uuid|g" "$root/boot/grub/grub.cfg"
grep -q "root=UUID=$uuid" "$root/boot/grub/grub.cfg" || die "grub.cfg does not boot root=UUID=$uuid"

step 6/7 "compressing the disk"
for m in dev/pts dev proc sys; do umount "$root/$m"; done
fstrim "$root" 2>/dev/null || true
umount "$root"
partx -d "$loop"
losetup -d "$loop"
loop=
qemu-img convert -c -O qcow2 "$work/disk.raw" "$work/box.img"
rm "$work/disk.raw"

step 7/7 "packing and adding $BOX_NAME"
echo "{\"provider\":\"libvirt\",\"format\":\"qcow2\",\"virtual_size\":$SIZE_GIB}" \
  >"$work/metadata.json"
cat >"$work/Vagrantfile" <<'EOF'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.disk_bus = "virtio"
  end
end
EOF
tar -C "$work" -cf "$box.tmp" metadata.json Vagrantfile box.img
mv "$box.tmp" "$box"
vagrant box add --force --name "$BOX_NAME" "$box" >&2
# vagrant-libvirt uploads each build of the box into the `default` pool on first use and
# never removes one: drop earlier uploads that no node's disk is backed by
if virsh -q pool-info default >/dev/null 2>&1; then
  prefix="${BOX_NAME//\//-VAGRANTSLASH-}_vagrant_box_image_"
  volumes=$(virsh -q vol-list default | awk '{print $2}')
  backing=$(for v in $volumes; do qemu-img info -U "$v" 2>/dev/null; done |
    sed -n 's/^backing file: //p')
  for v in $volumes; do
    case "$(basename "$v")" in "$prefix"*) ;; *) continue ;; esac
    if ! grep -qxF "$v" <<<"$backing"; then
      virsh -q vol-delete --pool default "$(basename "$v")" >/dev/null && say "removed the old upload $(basename "$v")"
    fi
  done
fi
rm -f "$OUT"/.added-*
touch "$OUT/.added-$version"
trap - ERR
say "$BOX_NAME added from $box ($(du -h "$box" | cut -f1)) in $(($(date +%s) - started)) s"
