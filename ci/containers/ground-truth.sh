#!/opt/sandprobe/bin/sh
# shellcheck shell=sh
# The ground truth of ci/containers.sh, observed inside the container with busybox alone (no code of
# sandprobe): can the namespaces and mounts of a sandbox be built here, by whom?
#
# Usage: ground-truth.sh root|nobody
#   root:   run as uid 0. The userns chain runs as uid 65534 after root drops to it with su (that is
#           what a root invoker does in userns mode); the root-backed chain runs as root itself.
#   nobody: run as uid 65534. Only the userns chain applies.
#
# Each chain is busybox unshare with the namespaces of a sandbox and a fresh proc, and a tmpfs mount
# as its payload. KEY_full also brings the loopback interface up and pivots into that tmpfs, as the
# launcher does: that is the chain ci/containers.sh compares with the verdict; KEY alone is
# reported for the reader.
# Output: KEY=EXIT_CODE and KEY_error=LAST_STDERR_LINE lines, KEY in userns, userns_full,
# userns_as_uid0, root_backed, root_backed_full.
set -u

bin=/opt/sandprobe/bin
bb="$bin/busybox"
userns_chain="$bb unshare -U -r -m -p -n -i -u -f --mount-proc"
root_chain="$bb unshare -m -p -n -i -u -f --mount-proc"
tmpfs="$bb mount -t tmpfs tmpfs /tmp"
full="$bin/sh -c '$tmpfs && $bb ip link set lo up && $bb mkdir /tmp/old && cd /tmp && $bb pivot_root . old'"

# attempt KEY COMMAND: run COMMAND (a string for sh -c), print its exit code and last stderr line.
attempt() {
    err="$($bin/sh -c "$2" 2>&1 >/dev/null)"
    rc=$?
    echo "$1=$rc"
    echo "$1_error=$(echo "$err" | $bb tail -n 1)"
}

# as_nobody COMMAND: COMMAND as uid/gid 65534, dropped from root.
as_nobody() {
    echo "$bb su -s $bin/sh nobody -c \"exec $1\""
}

case "${1:-}" in
root)
    attempt userns "$(as_nobody "$userns_chain $tmpfs")"
    attempt userns_full "$(as_nobody "$userns_chain $full")"
    attempt userns_as_uid0 "$userns_chain $tmpfs"
    attempt root_backed "$root_chain $tmpfs"
    attempt root_backed_full "$root_chain $full"
    ;;
nobody)
    attempt userns "$userns_chain $tmpfs"
    attempt userns_full "$userns_chain $full"
    ;;
*)
    echo "usage: ground-truth.sh root|nobody" >&2
    exit 2
    ;;
esac
