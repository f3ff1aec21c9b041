#!/usr/bin/env bash
# Builds the Debian image (bookworm or trixie) that the test harness boots (QEMU) or starts (systemd-nspawn).
# Called by test/helpers/vm/image.ts, which computes the cache key, holds the build lock and renames
# OUT_DIR into the cache once this script succeeds. Run as root.
#
# Usage: build-test-image.sh OUT_DIR
# Environment (all required unless marked optional):
#   CHAOS_LAB_SUITE            Debian suite: bookworm (12) or trixie (13)
#   CHAOS_LAB_ARCH             (optional) Debian architecture, amd64 (default) or arm64. A foreign one runs its
#                              programs in the chroot through qemu-user-static, registered with binfmt_misc
#                              (mounted and registered here when the host has not done it)
#   CHAOS_LAB_MIRROR           Debian archive URI, read from the host's apt sources by the caller
#   CHAOS_LAB_SECURITY_MIRROR  (optional) debian-security URI, likewise
#   CHAOS_LAB_COMPONENTS       components for the image's apt sources, e.g. "main"
#   CHAOS_LAB_INCLUDE          comma-separated packages for debootstrap --include
#   CHAOS_LAB_KERNEL_PACKAGES  space-separated packages installed after debootstrap (kernel, initramfs)
#   CHAOS_LAB_PUBKEY_FILE      ed25519 public key authorized for the users admin and nosudo
#   CHAOS_LAB_DISK_SIZE        size of the sparse raw disk image, e.g. 4G
#
# Output in OUT_DIR: rootfs/ (the tree, for systemd-nspawn), disk.img (raw ext4 made from it with
# mkfs.ext4 -d, for QEMU), vmlinuz, initrd.img.
#
# SSH host keys are made once per image (by openssh-server's postinst during debootstrap), so every VM and
# container booted from one image shows the same host keys; tests connect with StrictHostKeyChecking=no.
set -euo pipefail

out=${1:?usage: build-test-image.sh OUT_DIR}
: "${CHAOS_LAB_SUITE:?}" "${CHAOS_LAB_MIRROR:?}" "${CHAOS_LAB_COMPONENTS:?}" "${CHAOS_LAB_INCLUDE:?}" "${CHAOS_LAB_KERNEL_PACKAGES:?}"
: "${CHAOS_LAB_PUBKEY_FILE:?}" "${CHAOS_LAB_DISK_SIZE:?}"
export LC_ALL=C DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
# dpkg (in debootstrap and apt alike) without an fsync per file: a failed build is thrown away anyway.
# Measured here: debootstrap 189 s with it, 298 s without, on a busy 2-core machine.
export DPKG_FORCE=security-mac,downgrade,unsafe-io

rootfs="$out/rootfs"
mkdir -p "$rootfs"

step_started=$SECONDS
step() { echo "== [$((SECONDS - step_started))s] $*"; }

cleanup() {
  # Only /proc is ever mounted inside the tree; debootstrap's own mounts are gone when it returns.
  if mountpoint -q "$rootfs/proc"; then umount "$rootfs/proc" || umount -l "$rootfs/proc"; fi
  rm -f "$rootfs/usr/sbin/policy-rc.d"
}
trap cleanup EXIT

in_root() { chroot "$rootfs" "$@"; }

suite=$CHAOS_LAB_SUITE
arch=${CHAOS_LAB_ARCH:-amd64}

# A foreign architecture's binaries run in the chroot through QEMU's user-mode emulator. The kernel finds it by
# binfmt_misc; the F flag (in qemu-user-static's own binfmt.d line) opens the emulator at registration, so it need
# not exist inside the chroot. Registering changes the whole machine (like installing binfmt-support would), and
# only for this one architecture.
foreign_binaries() {
  local qemu_arch
  case $arch in
    arm64) qemu_arch=aarch64 ;;
    *) echo "no user-mode emulator known for $arch" >&2; return 1 ;;
  esac
  local conf=/usr/lib/binfmt.d/qemu-$qemu_arch.conf
  [ -f "$conf" ] || { echo "$conf is missing: install qemu-user-static" >&2; return 1; }
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; fi
  if [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$qemu_arch" ]; then grep -v '^#' "$conf" >/proc/sys/fs/binfmt_misc/register; fi
  [ "$(head -n 1 "/proc/sys/fs/binfmt_misc/qemu-$qemu_arch")" = enabled ] || { echo "binfmt_misc entry qemu-$qemu_arch is disabled" >&2; return 1; }
}
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
  step "binfmt_misc: $arch programs through qemu-user-static"
  foreign_binaries
fi

step "debootstrap $suite ($arch) from $CHAOS_LAB_MIRROR"
debootstrap --arch="$arch" --variant=minbase --include="$CHAOS_LAB_INCLUDE" "$suite" "$rootfs" "$CHAOS_LAB_MIRROR"

step "apt sources (the host's mirror)"
rm -f "$rootfs/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: %s\n' "$CHAOS_LAB_MIRROR" "$suite" "$suite" "$CHAOS_LAB_COMPONENTS"
  printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  if [ -n "${CHAOS_LAB_SECURITY_MIRROR:-}" ]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: %s\n' "$CHAOS_LAB_SECURITY_MIRROR" "$suite" "$CHAOS_LAB_COMPONENTS"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  fi
} >"$rootfs/etc/apt/sources.list.d/debian.sources"

step "kernel and a small initramfs"
mkdir -p "$rootfs/etc/initramfs-tools/conf.d"
printf 'MODULES=list\nCOMPRESS=gzip\nRESUME=none\n' >"$rootfs/etc/initramfs-tools/conf.d/chaos-lab.conf"
# No services start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
mount -t proc proc "$rootfs/proc"
in_root apt-get -q update
# debootstrap takes the release as it was; bring in the suite's -updates and security fixes.
in_root apt-get -q -y upgrade
in_root apt-get -q -y install --no-install-recommends initramfs-tools
printf '%s\n' virtio_pci virtio_blk virtio_net ext4 >>"$rootfs/etc/initramfs-tools/modules"
# QEMU's arm "virt" machine also has virtio-mmio transports.
if [ "$arch" = arm64 ]; then printf '%s\n' virtio_mmio >>"$rootfs/etc/initramfs-tools/modules"; fi
# shellcheck disable=SC2086 # a list of package names
in_root apt-get -q -y install --no-install-recommends $CHAOS_LAB_KERNEL_PACKAGES
in_root apt-get -q clean
umount "$rootfs/proc"
rm -f "$rootfs/usr/sbin/policy-rc.d"

kernel=$(find "$rootfs/boot" -maxdepth 1 -name 'vmlinuz-*' | sort | tail -n 1)
initrd=$(find "$rootfs/boot" -maxdepth 1 -name 'initrd.img-*' | sort | tail -n 1)
[ -n "$kernel" ] && [ -n "$initrd" ] || { echo "no kernel or initrd under $rootfs/boot" >&2; exit 1; }
cp "$kernel" "$out/vmlinuz"
cp "$initrd" "$out/initrd.img"

step "system configuration"
echo chaos-lab >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tchaos-lab\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
printf '# The root file system is given on the kernel command line (root=/dev/vda rw). No swap.\n' >"$rootfs/etc/fstab"
# A fixed machine-id: an empty one would make systemd run its first-boot logic (presets, firstboot prompts).
rm -f "$rootfs/etc/machine-id" "$rootfs/var/lib/dbus/machine-id"
in_root systemd-machine-id-setup
# The guest clock is the emulator's; no NTP traffic from test machines.
ln -sf /dev/null "$rootfs/etc/systemd/system/systemd-timesyncd.service"
# Boot work with no use on a throwaway machine (seconds each under TCG).
ln -sf /dev/null "$rootfs/etc/systemd/system/e2scrub_reap.service"
ln -sf /dev/null "$rootfs/etc/systemd/system/e2scrub_all.timer"
# As on Ubuntu (pam_env reads this at every login, ssh included): users' commands find swapon, sysctl, ip.
echo 'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games"' >"$rootfs/etc/environment"

mkdir -p "$rootfs/etc/systemd/network"
cat >"$rootfs/etc/systemd/network/80-chaos-lab-dhcp.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=yes

[DHCPv4]
ClientIdentifier=mac
EOF
in_root systemctl enable systemd-networkd.service
# QEMU's user network answers DNS at 10.0.2.3; systemd-nspawn containers get the host's file instead.
rm -f "$rootfs/etc/resolv.conf"
printf 'nameserver 10.0.2.3\n' >"$rootfs/etc/resolv.conf"

cat >"$rootfs/etc/ssh/sshd_config.d/chaos-lab.conf" <<'EOF'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UseDNS no
EOF

step "users admin (passwordless sudo) and nosudo"
for user in admin nosudo; do
  in_root useradd --create-home --shell /bin/bash "$user"
  # '*': no password can log in, but the account is not locked, so key logins work.
  in_root usermod -p '*' "$user"
  install -d -m 0700 "$rootfs/home/$user/.ssh"
  install -m 0600 "$CHAOS_LAB_PUBKEY_FILE" "$rootfs/home/$user/.ssh/authorized_keys"
  in_root chown -R "$user:$user" "/home/$user/.ssh"
done
printf 'admin ALL=(ALL:ALL) NOPASSWD: ALL\n' >"$rootfs/etc/sudoers.d/chaos-lab-admin"
chmod 0440 "$rootfs/etc/sudoers.d/chaos-lab-admin"

step "disk image ($CHAOS_LAB_DISK_SIZE, sparse)"
truncate -s "$CHAOS_LAB_DISK_SIZE" "$out/disk.img"
mkfs.ext4 -q -F -L chaos-lab-root -d "$rootfs" "$out/disk.img"
step "done"
