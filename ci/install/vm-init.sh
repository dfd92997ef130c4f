#!/bin/busybox sh
# /init of the install.sh VM (ci/install-tests.sh): a busybox system on a real Debian kernel. It
# sets kernel.unprivileged_userns_clone to 0, runs the scenarios vm-nobody and vm-enable-userns of
# ci/install/scenarios.sh (install.sh and the static binaries are in /opt/release), prints their
# result lines on the console, and powers off.
# shellcheck shell=sh

# pivot_root(2) refuses the initial ramfs (EINVAL), and every sandbox pivots into its new
# root, so first move onto a tmpfs root as a booted system's real root would be.
if [ ! -e /.moved ]; then
    /bin/busybox mkdir -p /newroot
    /bin/busybox mount -t tmpfs -o mode=0755 root /newroot
    for path in /bin /sbin /lib /usr /boot /etc /opt /init; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            /bin/busybox cp -a "$path" /newroot/
        fi
    done
    /bin/busybox touch /newroot/.moved
    exec /bin/busybox switch_root /newroot /init
fi
/bin/busybox --install -s /usr/bin
export PATH=/usr/local/bin:/usr/bin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
# Only emergencies on the console, so kernel messages cannot split a result line.
echo 1 >/proc/sys/kernel/printk
ip link set lo up
hostname install-test
echo "@@VM-KERNEL@@ $(uname -r)"

if echo 0 >/proc/sys/kernel/unprivileged_userns_clone; then
    for scenario in vm-nobody vm-enable-userns; do
        RELEASE=/opt/release T="/tmp/install-tests-$scenario" sh /opt/tests/scenarios.sh "$scenario" 2>&1
    done
else
    echo "@@RESULT@@ fail vm: setting kernel.unprivileged_userns_clone to 0: this kernel refused it"
fi
echo "@@VM-DONE@@"
poweroff -f
