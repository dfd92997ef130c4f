#!/bin/sh
# The install.sh scenarios of ci/install-tests.sh. This script runs INSIDE the environment under
# test (a debootstrap root, a Docker container, the qemu VM), as root, with busybox or a Debian
# userland. Every check prints one line for the caller to count:
#   @@RESULT@@ pass NAME
#   @@RESULT@@ fail NAME: WHY
# and the run ends with "@@SCENARIO-END@@ SCENARIO", so a crashed run is told from a finished one.
# The output of every command it runs is echoed with a "  | " prefix, for the logs.
#
# Usage: scenarios.sh SCENARIO
#   refused [FIX]    install.sh as root must refuse (exit 1), print why (and the command FIX as
#                    the remediation, when given), and write nothing
#   refused-force    the same (no remediation asked), then --force installs anyway and
#                    --uninstall removes it
#   installs MODE    install.sh as root installs (exit 0); the installed check says MODE as root
#                    and userns as nobody; a sandbox runs as nobody; --uninstall removes it all
#   vm-nobody        (knob at 0) as nobody: --check-only exits 1, an install into a prefix nobody
#                    owns exits 1 and writes nothing
#   vm-enable-userns (knob at 0) as root: --enable-userns -y flips the knob and persists it
# Environment: RELEASE (install.sh and the static binaries; default /opt/release), T (a scratch
# directory, left out of every "nothing changed" comparison; default /tmp/install-tests).
# shellcheck shell=sh
set -u

RELEASE="${RELEASE:-/opt/release}"
T="${T:-/tmp/install-tests}"
scenario="${1:-}"
mkdir -p "$T"
chmod 0755 "$T"

pass() { echo "@@RESULT@@ pass $scenario: $1"; }
fail() { echo "@@RESULT@@ fail $scenario: $1: $2"; }

# as_nobody CMD...: CMD as uid/gid 65534 without supplementary groups or capabilities.
as_nobody() {
    if command -v asuser >/dev/null 2>&1; then
        asuser 65534 65534 "$@"
    else
        setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"
    fi
}

# run NAME CMD...: runs CMD with stdin closed, keeps stdout+stderr in $T/NAME.log and the exit code
# in $rc, and echoes the output for the logs.
run() {
    name="$1"
    shift
    echo "  \$ $*"
    "$@" >"$T/$name.log" 2>&1 </dev/null
    rc=$?
    sed 's/^/  | /' "$T/$name.log"
    echo "  = exit $rc"
}

# check_rc NAME WANT: the last run's exit code.
check_rc() {
    if [ "$rc" = "$2" ]; then pass "$1 exits $2"; else fail "$1 exits $2" "it exited $rc"; fi
}

# check_has NAME LOG TEXT: LOG (a run's name) contains TEXT.
check_has() {
    if grep -qF -- "$3" "$T/$2.log"; then pass "$1"; else fail "$1" "no \"$3\" in the output of $2"; fi
}

# inventory [!] TYPE: the entries of the whole system that are (or with "!": are not) of find's
# -type TYPE, outside the pseudo file systems and $T, /tmp included.
inventory() {
    {
        find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path "$T" \) -prune \
            -o "$@" -print
        [ -d /tmp ] && find /tmp \( -path "$T" \) -prune -o "$@" -print
    } 2>/dev/null | LC_ALL=C sort -u
}
# mark NAME: remembers the time, the files and the directories before a step.
mark() {
    : >"$T/$1.marker"
    # busybox find compares whole seconds: what is written after this is in a later one.
    sleep 1
    inventory ! -type d >"$T/$1.before"
    inventory -type d >"$T/$1.dirs-before"
}
# written NAME: the entries written since mark NAME (their mtime is newer), one path a line.
written() {
    {
        find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path "$T" \) -prune \
            -o -newer "$T/$1.marker" -print
        [ -d /tmp ] && find /tmp \( -path "$T" \) -prune -o -newer "$T/$1.marker" -print
    } 2>/dev/null | LC_ALL=C sort -u
}
# added_or_removed NAME: the files added or removed since mark NAME, one path a line.
added_or_removed() {
    inventory ! -type d >"$T/$1.after"
    diff -u "$T/$1.before" "$T/$1.after" | sed -n 's/^[-+]\(\/.*\)/\1/p'
}
# changes NAME: what changed since mark NAME (written, added or removed), one path a line.
changes() {
    { written "$1"; added_or_removed "$1"; } | LC_ALL=C sort -u
}
# check_sees NAME PATH: the change detector works here: both of its halves see PATH, written
# since mark NAME, so that "nothing changed" means something.
check_sees() {
    if written "$1" | grep -qx "$2" && added_or_removed "$1" | grep -qx "$2"; then
        pass "the change detector sees $2 written and added"
    else
        fail "the change detector sees $2 written and added" \
            "written: $(written "$1" | tr '\n' ' '); added or removed: $(added_or_removed "$1" | tr '\n' ' ')"
    fi
}
# check_unchanged NAME WHAT: nothing changed since mark NAME.
check_unchanged() {
    changed="$(changes "$1")"
    if [ -z "$changed" ]; then
        pass "$2"
    else
        fail "$2" "changed: $(printf '%s' "$changed" | tr '\n' ' ')"
    fi
}

install_sh() { sh "$RELEASE/install.sh" --from "$RELEASE" "$@"; }

# installed_ok NAME PREFIX: the manifest exists and every file it lists is there.
installed_ok() {
    manifest="$2/share/sandprobe/install-manifest"
    if ! [ -s "$manifest" ]; then
        fail "$1: the manifest lists the installed files" "$manifest is missing or empty"
        return
    fi
    missing=""
    while IFS= read -r file; do
        case "$file" in /*) [ -f "$file" ] || missing="$missing $file" ;; esac
    done <"$manifest"
    count="$(grep -c '^/' "$manifest")"
    if [ -z "$missing" ] && [ -x "$2/bin/sandprobe" ] && [ -x "$2/bin/sandbox-run" ] \
        && grep -qx "$2/share/man/man1/sandprobe.1" "$manifest"; then
        pass "$1: all $count files of the manifest are installed (binaries, completions, man pages)"
    else
        fail "$1: all files of the manifest are installed" "missing:${missing:- (binaries or man page)}"
    fi
}

# uninstall_ok NAME PREFIX MARK [OPTION...]: --uninstall exits 0, every listed file is gone,
# and the sets of files and of directories equal those from before the install (mark MARK).
uninstall_ok() {
    u_name="$1" u_prefix="$2" u_before="$3"
    shift 3
    cp "$u_prefix/share/sandprobe/install-manifest" "$T/$u_name.manifest" 2>/dev/null \
        || : >"$T/$u_name.manifest"
    run "$u_name-uninstall" install_sh --prefix "$u_prefix" --uninstall "$@"
    set -- "$u_name" "$u_prefix" "$u_before"
    check_rc "$1: --uninstall" 0
    left=""
    while IFS= read -r file; do
        case "$file" in /*) ;; *) continue ;; esac
        if [ -e "$file" ] || [ -L "$file" ]; then left="$left $file"; fi
    done <<EOF_LIST
$(cat "$T/$1.manifest")
$2/share/sandprobe/install-manifest
EOF_LIST
    if [ -s "$T/$1.manifest" ] && [ -z "$left" ]; then
        pass "$1: --uninstall removed all $(grep -c '^/' "$T/$1.manifest") listed files and the manifest"
    else
        fail "$1: --uninstall removed every listed file" "still there:${left:- (the manifest was empty)}"
    fi
    inventory ! -type d >"$T/$1.after-uninstall"
    if diff -u "$T/$3.before" "$T/$1.after-uninstall" >"$T/$1.diff"; then
        pass "$1: after --uninstall the files of the system are exactly those from before the install"
    else
        fail "$1: after --uninstall the files are those from before" \
            "(+ added, - removed) $(sed -n 's/^\([-+]\)\(\/.*\)/\1\2/p' "$T/$1.diff" | tr '\n' ' ')"
    fi
    inventory -type d >"$T/$1.dirs-after-uninstall"
    dirs="$(diff -u "$T/$3.dirs-before" "$T/$1.dirs-after-uninstall" | sed -n 's/^[-+]\(\/.*\)/\1/p' | tr '\n' ' ')"
    if [ -z "$dirs" ]; then
        pass "$1: after --uninstall the directories are exactly those from before the install"
    else
        fail "$1: after --uninstall the directories are those from before" "changed: $dirs"
    fi
}

# --- the scenarios ---------------------------------------------------------------------------
# refused [REMEDIATION]: REMEDIATION is a command both runs must print as the fix.
refused() {
    remedy="${1:-}"
    run refused-check-only install_sh --check-only
    check_rc "--check-only" 1
    check_has "--check-only says no sandbox can be built here" refused-check-only \
        "this host cannot run sandboxes for you"
    check_has "--check-only prints the check's reasons (why:)" refused-check-only "why:"
    if [ -n "$remedy" ]; then
        check_has "--check-only prints the remediation \"$remedy\"" refused-check-only "$remedy"
    fi
    mark refused
    run refused-install install_sh -y
    check_rc "install -y" 1
    check_has "install -y says it is not installing" refused-install "not installing: no sandbox can be built here"
    check_has "install -y names --force and --enable-userns" refused-install "--force installs anyway"
    check_has "install -y prints the verdict" refused-install "verdict: unsupported"
    if [ -n "$remedy" ]; then
        check_has "install -y lists the remediation under \"to fix this host\"" refused-install \
            "to fix this host, as the check above says:"
        check_has "install -y prints the remediation \"$remedy\"" refused-install "    $remedy"
    fi
    check_unchanged refused "install -y wrote nothing"
    if [ -e /usr/local/bin/sandprobe ] || [ -e /usr/local/share/sandprobe ]; then
        fail "install -y left no binary and no manifest" "found /usr/local/bin/sandprobe or /usr/local/share/sandprobe"
    else
        pass "install -y left no binary and no manifest"
    fi
}

refused_force() {
    refused
    mark force
    run force-install install_sh -y --force
    check_rc "install -y --force" 0
    installed_ok "--force" /usr/local
    check_sees force /usr/local/bin/sandprobe
    run force-version /usr/local/bin/sandprobe --version
    check_rc "the installed sandprobe --version" 0
    uninstall_ok force /usr/local force
}

installs() {
    want="$1"
    run installs-check-only install_sh --check-only
    check_rc "--check-only" 0
    check_has "--check-only says $want" installs-check-only "verdict: $want"
    mark installs
    run installs-install install_sh -y
    check_rc "install -y" 0
    check_has "install -y ran the check before installing" installs-install \
        "checking this host before installing anything"
    installed_ok "install -y" /usr/local
    check_sees installs /usr/local/bin/sandprobe
    run installs-quiet-root /usr/local/bin/sandprobe check --quiet
    check_rc "the installed sandprobe check --quiet (root)" 0
    check_has "the installed sandprobe check --quiet says $want for root" installs-quiet-root "$want"
    run installs-quiet-nobody as_nobody /usr/local/bin/sandprobe check --quiet
    check_rc "the installed sandprobe check --quiet (nobody)" 0
    check_has "the installed sandprobe check --quiet says userns for nobody" installs-quiet-nobody userns
    run installs-sandbox as_nobody /usr/local/bin/sandbox-run -- /bin/sh -c "$sandboxed"
    check_rc "the installed sandbox-run (nobody)" 0
    check_has "the installed sandbox-run ran a command in a sandbox" installs-sandbox "sandboxed-as-"
    uninstall_ok installs /usr/local installs
}

# Run in the sandbox: says the uid it runs as there.
# shellcheck disable=SC2016 # expanded by the sandboxed shell
sandboxed='echo sandboxed-as-$(id -u)'
knob=/proc/sys/kernel/unprivileged_userns_clone
check_knob() {
    if [ "$(cat "$knob" 2>/dev/null)" = "$2" ]; then
        pass "$1: kernel.unprivileged_userns_clone is $2"
    else
        fail "$1: kernel.unprivileged_userns_clone is $2" "it is $(cat "$knob" 2>&1)"
    fi
}

vm_nobody() {
    check_knob "before" 0
    run nobody-check-only as_nobody sh "$RELEASE/install.sh" --from "$RELEASE" --check-only
    check_rc "--check-only as nobody" 1
    check_has "--check-only as nobody says no sandbox can be built" nobody-check-only \
        "this host cannot run sandboxes for you"
    prefix=/tmp/nobody-prefix
    mkdir -p "$prefix"
    chown 65534:65534 "$prefix"
    mark nobody
    run nobody-install as_nobody sh "$RELEASE/install.sh" --from "$RELEASE" --prefix "$prefix" -y
    check_rc "install -y as nobody into a prefix nobody owns" 1
    check_has "install as nobody says it is not installing" nobody-install "not installing"
    check_has "install as nobody prints the sysctl remediation" nobody-install \
        "sysctl -w kernel.unprivileged_userns_clone=1"
    found="$(find "$prefix" -mindepth 1 | tr '\n' ' ')"
    if [ -z "$found" ]; then
        pass "install as nobody wrote nothing into its prefix"
    else
        fail "install as nobody wrote nothing into its prefix" "found: $found"
    fi
    check_unchanged nobody "install as nobody changed nothing on the system"
    check_knob "after the refused install" 0
}

vm_enable_userns() {
    conf=/etc/sysctl.d/90-sandprobe-userns.conf
    check_knob "before" 0
    mark enable
    run enable-install install_sh --prefix /usr/local --enable-userns -y
    check_rc "--enable-userns -y" 0
    first="$(sed -n '/^verdict: /{p;q;}' "$T/enable-install.log")"
    if [ "$first" = "verdict: root-backed" ]; then
        pass "the first check said root-backed"
    else
        fail "the first check said root-backed" "it said \"$first\""
    fi
    check_has "install.sh said the host runs sandboxes only as root before the fix" enable-install \
        "only from a launcher started as root (root-backed mode)"
    check_has "install.sh rechecked after the fix and got userns" enable-install "after the fix: userns"
    check_knob "after --enable-userns" 1
    if [ "$(cat "$conf" 2>/dev/null)" = "kernel.unprivileged_userns_clone = 1" ]; then
        pass "$conf holds kernel.unprivileged_userns_clone = 1"
    else
        fail "$conf holds kernel.unprivileged_userns_clone = 1" "it holds \"$(cat "$conf" 2>&1)\""
    fi
    if grep -qx "$conf" /usr/local/share/sandprobe/install-manifest 2>/dev/null; then
        pass "the manifest lists $conf"
    else
        fail "the manifest lists $conf" "not listed"
    fi
    installed_ok "--enable-userns" /usr/local
    check_sees enable /etc/sysctl.d/90-sandprobe-userns.conf
    run enable-quiet-nobody as_nobody /usr/local/bin/sandprobe check --quiet
    check_rc "the installed sandprobe check --quiet (nobody)" 0
    if [ "$(cat "$T/enable-quiet-nobody.log")" = userns ]; then
        pass "the follow-up check as nobody says userns"
    else
        fail "the follow-up check as nobody says userns" "it says \"$(cat "$T/enable-quiet-nobody.log")\""
    fi
    run enable-check-only-nobody as_nobody sh "$RELEASE/install.sh" --from "$RELEASE" --check-only
    check_rc "--check-only as nobody after the fix" 0
    run enable-sandbox as_nobody /usr/local/bin/sandbox-run -- /bin/sh -c "$sandboxed"
    check_rc "the installed sandbox-run (nobody) after the fix" 0
    check_has "the installed sandbox-run ran a command in a sandbox as nobody" enable-sandbox "sandboxed-as-"
    if grep -qx "sysctl kernel.unprivileged_userns_clone 0" /usr/local/share/sandprobe/install-manifest 2>/dev/null; then
        pass "the manifest records the value before the fix"
    else
        fail "the manifest records the value before the fix" "no \"sysctl kernel.unprivileged_userns_clone 0\" line"
    fi
    uninstall_ok enable /usr/local enable -y
    check_has "--uninstall -y set the sysctl back" enable-uninstall "set kernel.unprivileged_userns_clone back to 0"
    check_knob "after --uninstall -y" 0
}

echo "@@SCENARIO-BEGIN@@ $scenario"
case "$scenario" in
    refused) refused "${2:-}" ;;
    refused-force) refused_force ;;
    installs) [ $# -ge 2 ] || { fail usage "installs needs MODE"; exit 2; }; installs "$2" ;;
    vm-nobody) vm_nobody ;;
    vm-enable-userns) vm_enable_userns ;;
    *) fail usage "unknown scenario \"$scenario\""; exit 2 ;;
esac
echo "@@SCENARIO-END@@ $scenario"
