#!/bin/busybox sh
# /init of the kernel matrix's initramfs. It sets one knob, runs `sandprobe check` and
# `sandprobe verify` as root and as nobody, observes an independent ground truth with busybox
# unshare, prints every result base64-encoded between markers on the console, and powers off.
#
# The boot's parameters come from the kernel command line:
#   sandprobe.knob=default|userns-clone-0|max-userns-0
# and the environment's name from /etc/matrix-label (one line, written when the image is built).
# shellcheck shell=sh

# pivot_root(2) refuses the initial ramfs (EINVAL), and every sandbox pivots into its new
# root, so first move onto a tmpfs root as a booted system's real root would be.
if [ ! -e /.moved ]; then
    /bin/busybox mkdir -p /newroot
    /bin/busybox mount -t tmpfs -o mode=0755 root /newroot
    for path in /bin /sbin /lib /usr /boot /etc /init; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            /bin/busybox cp -a "$path" /newroot/
        fi
    done
    /bin/busybox touch /newroot/.moved
    exec /bin/busybox switch_root /newroot /init
fi
/bin/busybox --install -s /usr/bin
export PATH=/usr/bin
mkdir -p /proc /sys /dev /tmp /mnt /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
# Only emergencies on the console, so kernel messages cannot split a result line.
echo 1 >/proc/sys/kernel/printk
ip link set lo up
hostname matrix

out=/run/out
mkdir -p "$out"
mount -t tmpfs -o mode=0755 tmpfs "$out"

knob=default
read -r cmdline </proc/cmdline
for word in $cmdline; do
    case "$word" in
        sandprobe.knob=*) knob="${word#sandprobe.knob=}" ;;
    esac
done

knob_error=""
case "$knob" in
    default) knob_label="default" ;;
    userns-clone-0)
        knob_label="unprivileged_userns_clone=0"
        echo 0 >/proc/sys/kernel/unprivileged_userns_clone || knob_error="cannot set kernel.unprivileged_userns_clone"
        ;;
    max-userns-0)
        knob_label="max_user_namespaces=0"
        echo 0 >/proc/sys/user/max_user_namespaces || knob_error="cannot set user.max_user_namespaces"
        ;;
    *) knob_label="$knob"; knob_error="unknown knob setting $knob" ;;
esac
base_label="$(cat /etc/matrix-label)"

# emit NAME FILE: one result, base64 between markers (the console adds \r; the host strips it).
emit() {
    echo "@@SANDPROBE-BEGIN $1@@"
    base64 <"$2"
    echo "@@SANDPROBE-END $1@@"
}

# record NAME CMD...: run CMD, keep its stdout, stderr and exit code.
record() {
    name="$1"
    shift
    "$@" >"$out/$name.out" 2>"$out/$name.err" </dev/null
    echo $? >"$out/$name.rc"
}

as_nobody() { asuser 65534 65534 "$@"; }
# The ground truth: busybox unshare, a program independent of sandprobe. The unprivileged
# userns chain as nobody; the same chain as root; and the root-backed chain (no user namespace)
# as root. Each also mounts a tmpfs inside, brings loopback up and pivots into the tmpfs, as
# every sandbox does.
inner="mount -t tmpfs gt /mnt && ip link set lo up && mkdir /mnt/old && cd /mnt && pivot_root . old"
record truth-nobody-userns as_nobody busybox unshare -U -r -m -p -n -i -u -f --mount-proc sh -c "$inner"
record truth-root-userns busybox unshare -U -r -m -p -n -i -u -f --mount-proc sh -c "$inner"
record truth-root-rootbacked busybox unshare -m -p -n -i -u -f --mount-proc sh -c "$inner"

record check-root sandprobe check --json --label "$base_label / $knob_label / root"
record check-nobody as_nobody sandprobe check --json --label "$base_label / $knob_label / nobody"
record verify-root sandprobe verify --mode auto --json
record verify-nobody as_nobody sandprobe verify --mode auto --json

{
    echo "knob=$knob"
    echo "knob_error=$knob_error"
    echo "uname=$(uname -r)"
    echo "unprivileged_userns_clone=$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo absent)"
    echo "max_user_namespaces=$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo absent)"
    echo "nobody_id=$(as_nobody id 2>&1)"
} >"$out/meta.txt"

echo "@@SANDPROBE-RESULTS@@"
emit meta "$out/meta.txt"
for name in truth-nobody-userns truth-root-userns truth-root-rootbacked check-root check-nobody verify-root verify-nobody; do
    for part in out err rc; do
        emit "$name.$part" "$out/$name.$part"
    done
done
echo "@@SANDPROBE-DONE@@"
poweroff -f
