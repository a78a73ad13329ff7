#!/bin/sh
# pytest-kdump: mmdebstrap's customize hook for the Debian guest (a real board's stand-in).
# Runs on the host as root with the new root filesystem in $1 and the image folder in $2.
# Only what a board owner would do by hand: a host name, root's log-in, the network, the SSH
# key, the root fstab, and the kdump initrd kdump-tools builds at first boot (here, once).
set -eu
root=$1
image=$2

echo kdump-guest > "$root/etc/hostname"
printf '127.0.1.1\tkdump-guest\n' >> "$root/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' > "$root/etc/fstab"
# root logs in on the serial console with a password (labgrid's ShellDriver), over SSH with
# the image's key (labgrid's SSHDriver)
chroot "$root" sh -c 'echo root:kdump | chpasswd'
mkdir -p -m 700 "$root/root/.ssh"
cp "$image/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
chmod 600 "$root/root/.ssh/authorized_keys"
# QEMU user-mode networking: DHCP on the first Ethernet interface, in the crash kernel too
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' > "$root/etc/systemd/network/20-wired.network"
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
# the "script" saver's upload, run only by a crash kernel booted with its unit (kdump.arm())
here=$(dirname "$0")
install -m 755 "$here/kdump-upload" "$root/usr/local/sbin/kdump-upload"
install -m 644 "$here/kdump-upload.service" "$root/etc/systemd/system/kdump-upload.service"
# timers that would start package downloads during a test
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
    >/dev/null 2>&1 || true
# the kdump initrd: kdump-tools' kernel hook skips chroots and builds it at first boot (~65 s
# under TCG); build it the way the hook does, keeping MODULES=most (MODULES=dep would look at
# the build host's hardware)
release=$(basename "$(ls "$root"/boot/vmlinuz-* | head -n 1)" | sed 's/^vmlinuz-//')
chroot "$root" sh -eu -c '
    release=$1
    rm -rf /var/lib/kdump/initramfs-tools
    mkdir -p /var/lib/kdump
    cp -pr /etc/initramfs-tools /var/lib/kdump/
    echo KDUMP=y >> /var/lib/kdump/initramfs-tools/initramfs.conf
    mkinitramfs -d /var/lib/kdump/initramfs-tools -o /var/lib/kdump/initrd.img-$release $release
    # kdump-config rebuilds the initrd when the sysctls it holds differ from these
    cp /etc/kdump/sysctl.conf /var/lib/kdump/latest_sysctls-$release
    kdump-config symlinks $release >/dev/null
' sh "$release"
test -s "$root/var/lib/kdump/initrd.img-$release"
