#!/bin/sh
# Runs a command inside a debootstrap root, in a mount namespace of its own, with /proc, /sys, /dev
# and a tmpfs /tmp mounted there. Nothing is mounted on the host: the namespace and its mounts go
# away with the command.
#
# Usage: enter-root.sh chroot|pivot ROOT CMD [ARG...]
#   chroot  a plain chroot(2) into ROOT, as `chroot ROOT CMD` does. ROOT is not a mount point and the
#           process is chrooted: the kernel refuses it new user namespaces (EPERM) and refuses to
#           change the propagation of its "/" (EINVAL), as on any host where a chroot is the root.
#   pivot   ROOT is bind-mounted onto itself and becomes the namespace's real root with
#           pivot_root(".", "."), the old root detached: what a booted system or a container has.
# Run as root (on the host).
set -eu

[ $# -ge 3 ] || { echo "usage: enter-root.sh chroot|pivot ROOT CMD [ARG...]" >&2; exit 2; }
mode="$1"
root="$2"
shift 2
case "$mode" in
    chroot | pivot) ;;
    *) echo "enter-root: unknown mode $mode" >&2; exit 2 ;;
esac

if [ "${SANDPROBE_ENTER_ROOT_INSIDE:-}" != 1 ]; then
    SANDPROBE_ENTER_ROOT_INSIDE=1 exec unshare --mount --propagation private "$0" "$mode" "$root" "$@"
fi

# The root's own mount first, so the mounts below land on it.
[ "$mode" = pivot ] && mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"

env_cmd="env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C"
if [ "$mode" = chroot ]; then
    # shellcheck disable=SC2086 # env_cmd is words on purpose
    exec chroot "$root" $env_cmd "$@"
fi
cd "$root"
# pivot_root(2)'s own recipe: the old root is stacked on "." and then detached. After it, "/" of
# this namespace is ROOT; umount is the root's own.
pivot_root . .
umount -l .
cd /
# shellcheck disable=SC2086 # env_cmd is words on purpose
exec $env_cmd "$@"
