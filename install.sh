#!/bin/sh
# sandprobe installer: checks the host first, then installs sandprobe and sandbox-run.
#
#   sh install.sh [--from DIR] [--prefix DIR] [--check-only] [--enable-userns] [--apparmor]
#                 [-y] [--force] [--uninstall] [--help]
#
# It runs `sandprobe check` before it changes anything, says in plain words whether this host can
# run sandboxes and how, and refuses to install where no sandbox can be built unless --force.
# --uninstall undoes what the manifest records: the files, the directories the install created,
# and (asked, or with -y) the sysctl --enable-userns changed.
# Exit codes:
#   0  installed (with --check-only: a sandbox mode is available to you)
#   1  this host cannot run sandboxes for you: nothing was changed (unless --force was given)
#   2  usage error
#   3  a host fix (--enable-userns, --apparmor) failed and was reverted
#   4  installing failed (missing binaries, no permission); anything half-written was removed
#   5  refused: root is needed for this (installing into PREFIX, applying a fix)
set -u

VERSION_URL_BASE="${SANDPROBE_RELEASE_URL:-}"   # a release download base, when one is published
from=""
prefix="/usr/local"
check_only=0
enable_userns=0
apparmor=0
assume_yes=0
force=0
uninstall=0

say() { printf 'sandprobe-install: %s\n' "$*"; }
fail() { code="$1"; shift; printf 'sandprobe-install: %s\n' "$*" >&2; exit "$code"; }

usage() {
    sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --from) [ $# -ge 2 ] || fail 2 "--from needs a directory"; from="$2"; shift 2 ;;
        --from=*) from="${1#--from=}"; shift ;;
        --prefix) [ $# -ge 2 ] || fail 2 "--prefix needs a directory"; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --check-only) check_only=1; shift ;;
        --enable-userns) enable_userns=1; shift ;;
        --apparmor) apparmor=1; shift ;;
        -y|--yes) assume_yes=1; shift ;;
        --force) force=1; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) fail 2 "unknown option: $1 (see --help)" ;;
    esac
done

case "$prefix" in
    /*) ;;
    *) fail 2 "--prefix must be an absolute path, not $prefix" ;;
esac
manifest_dir="$prefix/share/sandprobe"
manifest="$manifest_dir/install-manifest"

is_root() { [ "$(id -u)" = 0 ]; }

# Asks a yes/no question on the terminal (stdin may be this script, as in `curl … | sh`).
confirm() {
    [ "$assume_yes" = 1 ] && return 0
    if ( : < /dev/tty > /dev/tty ) 2>/dev/null; then
        printf 'sandprobe-install: %s [y/N] ' "$1" > /dev/tty
        read -r answer < /dev/tty || return 1
        case "$answer" in y|Y|yes|YES) return 0 ;; esac
        return 1
    fi
    say "no terminal to ask \"$1\": pass -y to agree in advance"
    return 1
}

# --- uninstall: undo exactly what the manifest records --------------------------------------
# The manifest has one line per change: a file's absolute path (a file written), "dir PATH" (a
# directory the install created), "sysctl KEY OLD" (a sysctl --enable-userns changed from OLD).
if [ "$uninstall" = 1 ]; then
    [ -f "$manifest" ] || fail 1 "nothing to uninstall: $manifest does not exist"
    is_root || [ -w "$manifest_dir" ] || fail 5 "root is needed to uninstall from $prefix"
    while IFS= read -r file; do
        case "$file" in /*) ;; *) continue ;; esac
        if [ -e "$file" ] || [ -L "$file" ]; then
            rm -f "$file" && say "removed $file"
        fi
        case "$file" in
            /etc/apparmor.d/*) command -v apparmor_parser >/dev/null 2>&1 \
                && apparmor_parser -R "$file" 2>/dev/null ;;
        esac
    done < "$manifest"
    # The running value goes back only with consent: other software may rely on it by now.
    grep '^sysctl ' "$manifest" | while read -r _ key old; do
        path="/proc/sys/$(printf '%s' "$key" | tr . /)"
        now="$(cat "$path" 2>/dev/null)" || continue
        [ "$now" != "$old" ] || continue
        if confirm "set $key back from $now to $old, its value before the install?"; then
            if printf '%s\n' "$old" > "$path" 2>/dev/null; then
                say "set $key back to $old"
            else
                say "failed to set $key back to $old: set it by hand (sysctl -w $key=$old)"
            fi
        else
            say "left $key at $now (its value before the install was $old)"
        fi
    done
    created_dirs="$(sed -n 's/^dir //p' "$manifest")"
    rm -f "$manifest"
    rmdir "$manifest_dir" 2>/dev/null
    # Deepest first; a directory that something else has put files into stays.
    printf '%s\n' "$created_dirs" | LC_ALL=C sort -r | while IFS= read -r dir; do
        [ -n "$dir" ] || continue
        if rmdir "$dir" 2>/dev/null; then
            say "removed the directory $dir"
        elif [ -d "$dir" ]; then
            say "kept the directory $dir: it is not empty"
        fi
    done
    say "uninstalled"
    exit 0
fi

# --- find the binaries ---------------------------------------------------------------------
arch="$(uname -m)"
case "$arch" in
    x86_64|amd64) arch=x86_64 ;;
    aarch64|arm64) arch=aarch64 ;;
    *) fail 4 "no sandprobe build for the $arch architecture" ;;
esac
if [ -z "$from" ]; then
    from="$(cd "$(dirname "$0")" && pwd)"
fi
bin_dir=""
for candidate in "$from" "$from/$arch" "$from/target/$arch-unknown-linux-musl/release"; do
    if [ -x "$candidate/sandprobe" ] && [ -x "$candidate/sandbox-run" ]; then
        bin_dir="$candidate"
        break
    fi
done
if [ -z "$bin_dir" ]; then
    if [ -n "$VERSION_URL_BASE" ]; then
        fail 4 "downloading from $VERSION_URL_BASE is not available in this build: give --from DIR"
    fi
    fail 4 "no sandprobe and sandbox-run for $arch in $from (build them with: cargo build --release --target $arch-unknown-linux-musl --bins)"
fi

# --- the pre-install check: before anything changes -------------------------------------
run_check() {
    "$bin_dir/sandprobe" check --no-color
    check_status=$?
    mode="$("$bin_dir/sandprobe" check --quiet 2>/dev/null)"
}
say "checking this host before installing anything"
run_check
case "$check_status" in
    0|1) ;;
    *) fail 4 "the host check itself failed (exit $check_status)" ;;
esac

explain_mode() {
    case "$mode" in
        userns) say "this host can run sandboxes with user namespaces: no root is needed to use them" ;;
        root-backed) say "this host can run sandboxes only from a launcher started as root (root-backed mode)" ;;
        *) say "this host cannot run sandboxes for you as it is now" ;;
    esac
}
explain_mode

if [ "$check_only" = 1 ]; then
    exit "$check_status"
fi

# --- host fixes, with consent ----------------------------------------------------------------
fixes="$("$bin_dir/sandprobe" check --print-fixes 2>/dev/null)"
tab="$(printf '\t')"

# Every change is recorded, for the manifest (and so --uninstall) and for undo on failure.
written=""
record() { written="$written$1
"; }
undo() {
    printf '%s' "$written" | while IFS= read -r file; do
        case "$file" in /*) rm -f "$file" ;; esac
    done
    printf '%s' "$written" | sed -n 's/^dir //p' | LC_ALL=C sort -r | while IFS= read -r dir; do
        rmdir "$dir" 2>/dev/null
    done
}
# make_dir DIR: mkdir -p, recording every directory it creates (for --uninstall).
make_dir() {
    missing=""
    dir="$1"
    while [ ! -d "$dir" ]; do
        missing="$dir
$missing"
        dir="$(dirname "$dir")"
    done
    mkdir -p "$1" || return 1
    # Parents first, as they were created.
    while IFS= read -r dir; do
        [ -n "$dir" ] && record "dir $dir"
    done <<EOF_DIRS
$missing
EOF_DIRS
    return 0
}
# Applies the sysctl remediation the check printed; reverts it if the follow-up check fails.
apply_sysctl_fix() {
    line="$(printf '%s\n' "$fixes" | grep "^sysctl_[^$tab]*${tab}sysctl${tab}" | grep "${tab}sysctl -w " | head -n 1)"
    [ -n "$line" ] || { say "no sysctl fix applies to this host"; return 1; }
    case "$line" in
        *"${tab}elsewhere${tab}"*)
            say "the fix is a sysctl, but /proc/sys cannot be changed from here (a container?): apply it on the host"
            return 1 ;;
    esac
    assignment="${line##*sysctl -w }"
    key="${assignment%%=*}"
    value="${assignment#*=}"
    path="/proc/sys/$(printf '%s' "$key" | tr . /)"
    [ -w "$path" ] || { say "$path is not writable from here: apply the fix on the host"; return 1; }
    old="$(cat "$path")"
    persist="/etc/sysctl.d/90-sandprobe-userns.conf"
    confirm "set $key from $old to $value now, and persist it in $persist?" || { say "not changing $key"; return 1; }
    had_persist=0
    [ -e "$persist" ] && had_persist=1
    had_dir=0
    [ -d /etc/sysctl.d ] && had_dir=1
    if printf '%s\n' "$value" > "$path" 2>/dev/null \
        && make_dir /etc/sysctl.d && printf '%s = %s\n' "$key" "$value" > "$persist"; then
        say "set $key = $value (persisted in $persist)"
        run_check >/dev/null
        if [ "$mode" = userns ]; then
            say "after the fix: userns"
            persisted_file="$persist"
            sysctl_before="$key $old"
            return 0
        fi
        say "the check still says $mode after the fix: reverting"
    else
        say "failed to set $key: reverting"
    fi
    printf '%s\n' "$old" > "$path" 2>/dev/null
    [ "$had_persist" = 1 ] || rm -f "$persist"
    [ "$had_dir" = 1 ] || rmdir /etc/sysctl.d 2>/dev/null
    exit 3
}

apply_apparmor_profile() {
    printf '%s\n' "$fixes" | grep -q '^apparmor_userns_profile' || { say "no AppArmor profile is needed here"; return 1; }
    command -v apparmor_parser >/dev/null 2>&1 || { say "apparmor_parser is not installed"; return 1; }
    confirm "load an AppArmor profile that lets $prefix/bin/sandprobe and sandbox-run create user namespaces?" \
        || return 1
    profile="/etc/apparmor.d/sandprobe"
    if "$prefix/bin/sandprobe" apparmor-profile > "$profile" && apparmor_parser -r "$profile"; then
        say "loaded $profile"
        apparmor_file="$profile"
        return 0
    fi
    rm -f "$profile"
    exit 3
}

persisted_file=""
sysctl_before=""
apparmor_file=""
if [ "$mode" != userns ] && [ "$enable_userns" = 1 ]; then
    is_root || fail 5 "root is needed to change a sysctl"
    apply_sysctl_fix || true
fi

if [ "$mode" = unsupported ] && [ "$force" != 1 ]; then
    if [ -n "$fixes" ]; then
        say "to fix this host, as the check above says:"
        printf '%s\n' "$fixes" | while IFS="$tab" read -r _id _layer place command; do
            printf '    %s%s\n' "$command" "$([ "$place" = elsewhere ] && echo '   # not from here: on the host')"
        done
    fi
    fail 1 "not installing: no sandbox can be built here for you (--force installs anyway; --enable-userns applies the sysctl fix)"
fi

# --- install -----------------------------------------------------------------------------------
if ! is_root && ! { mkdir -p "$prefix/bin" 2>/dev/null && [ -w "$prefix/bin" ]; }; then
    fail 5 "root is needed to install into $prefix (or give --prefix \$HOME/.local)"
fi
staging="$(mktemp -d)" || fail 4 "failed to create a temporary directory"
# shellcheck disable=SC2317 # called by the trap
cleanup() { rm -rf "$staging"; }
trap cleanup EXIT INT TERM
"$bin_dir/sandprobe" generate-assets --out "$staging/assets" >/dev/null \
    || fail 4 "failed to generate the completions and man pages"

put() {  # put SRC DEST MODE
    if ! { make_dir "$(dirname "$2")" && cp "$1" "$2.new.$$" && chmod "$3" "$2.new.$$" \
        && mv -f "$2.new.$$" "$2"; }; then
        rm -f "$2.new.$$"
        undo
        fail 4 "failed to install $2"
    fi
    record "$2"
}
put "$bin_dir/sandprobe" "$prefix/bin/sandprobe" 0755
put "$bin_dir/sandbox-run" "$prefix/bin/sandbox-run" 0755
for name in sandprobe sandbox-run; do
    put "$staging/assets/completions/$name.bash" "$prefix/share/bash-completion/completions/$name" 0644
    put "$staging/assets/completions/_$name" "$prefix/share/zsh/site-functions/_$name" 0644
    put "$staging/assets/completions/$name.fish" "$prefix/share/fish/vendor_completions.d/$name.fish" 0644
done
for page in "$staging"/assets/man/man1/*.1; do
    put "$page" "$prefix/share/man/man1/$(basename "$page")" 0644
done

if [ "$mode" != userns ] && printf '%s\n' "$fixes" | grep -q '^apparmor_userns_profile'; then
    # Ubuntu 23.10+: the check says AppArmor blocks user namespaces; offer the per-binary
    # profile for the paths just installed (asked unless --apparmor or -y said yes already).
    if [ "$apparmor" = 1 ] || confirm "load an AppArmor profile so the installed binaries may use user namespaces?"; then
        is_root || fail 5 "root is needed to load an AppArmor profile"
        assume_yes=1  # answered just above
        apply_apparmor_profile || true
    else
        say "not loading the AppArmor profile (install.sh --apparmor loads it later)"
    fi
fi
[ -n "$persisted_file" ] && record "$persisted_file"
[ -n "$sysctl_before" ] && record "sysctl $sysctl_before"
[ -n "$apparmor_file" ] && record "$apparmor_file"

if ! { make_dir "$manifest_dir" && printf '%s' "$written" > "$manifest"; }; then
    undo
    fail 4 "failed to write $manifest"
fi
say "installed sandprobe and sandbox-run into $prefix/bin ($(printf '%s' "$written" | grep -c '^/') files; listed in $manifest)"
"$prefix/bin/sandprobe" --version
explain_mode
case "$mode" in
    userns) say "next: sandbox-run -- /bin/sh   (then: sandprobe verify)" ;;
    root-backed) say "next, as root: sandbox-run -- /bin/sh   (then: sandprobe verify)" ;;
esac
exit 0
