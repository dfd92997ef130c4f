#!/usr/bin/env bash
# install.sh, tested for real in three environments (the checks themselves are in
# ci/install/scenarios.sh, which runs inside each environment):
#
#   root    A clean Debian 12 root made with debootstrap (minbase), extracted afresh onto a tmpfs
#           for each of two runs, each in a mount namespace of its own (ci/install/enter-root.sh):
#           - chroot: a plain chroot. The kernel refuses a chrooted process new user namespaces
#             (EPERM), and "/" of a chroot is no mount point, so making it private fails (EINVAL):
#             no sandbox can be built, install.sh must refuse (exit 1), print why and write
#             nothing; --force installs; --uninstall removes every file it listed.
#           - pivot: the root bind-mounted onto itself and made the namespace's real root with
#             pivot_root, as on a booted system: install.sh installs (exit 0), the installed
#             `sandprobe check --quiet` says userns as root and as nobody, the installed sandbox-run
#             runs a command as nobody, and --uninstall restores the files from before.
#   docker  The same Debian root as a Docker image (FROM scratch), install.sh and the binaries
#           bind-mounted read-only: with Docker's defaults install.sh must refuse (exit 1, reasons
#           printed, nothing written); with seccomp=unconfined + systempaths=unconfined it must
#           install and the installed check must say userns.
#   vm      Debian 12's kernel under qemu (TCG) with a busybox initramfs (ci/install/vm-init.sh) and
#           kernel.unprivileged_userns_clone=0: as nobody, --check-only exits 1 and an install into
#           a prefix nobody owns exits 1 and writes nothing; as root, `--prefix /usr/local
#           --enable-userns -y` first sees root-backed, sets the knob to 1, persists it in
#           /etc/sysctl.d/90-sandprobe-userns.conf, and the follow-up check as nobody says userns.
#
# Usage: ci/install-tests.sh [--only root|docker|vm]... [--no-build] [--out DIR] [--install-sh FILE]
#   --only ENV         run only this environment (repeatable; default: all three)
#   --no-build         use the static binaries already in target/x86_64-unknown-linux-musl/release
#   --out DIR          where the logs go (default target/install-tests)
#   --install-sh FILE  test FILE instead of the repository's install.sh (to see a broken one fail)
# Run as root. Installs what it needs with apt (qemu-system-x86, busybox-static, cpio, gcc,
# debootstrap, docker.io), reuses the caches of ci/containers.sh and ci/kernels.sh under
# /var/cache/sandprobe, or $SANDPROBE_CACHE (the debootstrap tarball, the Debian 12 kernel: each
# is made in the same layout when missing), starts dockerd only if it
# is not running and stops what it started. Everything it starts or mounts is gone on exit.
# Prints "install-tests: N passed, N failed"; exits 0 only when every check passed.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
here="$repo/ci/install"
cache="${SANDPROBE_CACHE:-/var/cache/sandprobe}"
musl=x86_64-unknown-linux-musl
bindir="$repo/target/$musl/release"
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
tarball="$cache/debootstrap/$suite-minbase-amd64.tar.gz"
out="$repo/target/install-tests"
install_sh="$repo/install.sh"
build=1
only=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --only)
            [ $# -ge 2 ] || usage
            case "$2" in root | docker | vm) only+=("$2") ;; *) usage ;; esac
            shift 2
            ;;
        --no-build) build=0; shift ;;
        --out) [ $# -ge 2 ] || usage; out="$2"; shift 2 ;;
        --install-sh)
            if [ $# -lt 2 ] || ! [ -f "$2" ]; then usage; fi
            install_sh="$(realpath "$2")"
            shift 2
            ;;
        -h | --help) usage ;;
        *) echo "install-tests: unknown argument $1" >&2; usage ;;
    esac
done
[ ${#only[@]} -gt 0 ] || only=(root docker vm)
wants() { [[ " ${only[*]} " == *" $1 "* ]]; }
[ "$(id -u)" = 0 ] || { echo "install-tests: run as root (namespaces, docker, apt)" >&2; exit 2; }

log() { echo "install-tests: $*" >&2; }
start=$(date +%s)
phase_start=$start
phase() {
    local now
    now=$(date +%s)
    log "[$((now - phase_start)) s] $1"
    phase_start=$now
}

# --- cleanup: every exit path -------------------------------------------------------------------
work="$(mktemp -d /tmp/sandprobe-install-tests.XXXXXX)"
run_id="$$"
dockerd_pid=""
bg_pids=()
cleanup() {
    local status=$? pid
    trap - EXIT INT TERM
    # The VM and the root runs first (timeout passes the signal on to qemu and to unshare's child).
    for pid in "${bg_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${bg_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        docker ps -aq --filter "label=sandprobe-ci-install=$run_id" | xargs -r docker rm -f >/dev/null 2>&1 || true
    fi
    if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
        log "stopping the dockerd this script started (pid $dockerd_pid)"
        kill -TERM "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 1 30); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 1
        done
        kill -KILL "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    # The roots were mounted only inside namespaces that died with their command; refuse to
    # delete through a mount that is still there all the same.
    if grep -q " $work/" /proc/self/mountinfo; then
        log "something is still mounted under $work: not deleting it"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- results ------------------------------------------------------------------------------------
passed=0
failed=0
result() { # pass|fail ENV TEXT
    if [ "$1" = pass ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    printf 'install-tests: %-4s %-17s %s\n' "$1" "$2" "$3"
}
# collect ENV LOG SCENARIO...: counts the result lines of LOG, and fails each SCENARIO that did
# not reach its end marker.
collect() {
    local env="$1" file="$2" line verdict text scenario
    shift 2
    while IFS= read -r line; do
        line="${line%$'\r'}"
        # A console may put escape sequences before a marker.
        case "$line" in
            *"@@RESULT@@ "*)
                line="${line#*@@RESULT@@ }"
                verdict="${line%% *}"
                text="${line#* }"
                result "$verdict" "$env" "$text"
                ;;
            *"@@NOTE@@ "*) printf 'install-tests: note %-17s %s\n' "$env" "${line#*@@NOTE@@ }" ;;
        esac
    done <"$file"
    for scenario in "$@"; do
        if ! tr -d '\r' <"$file" | grep -q "@@SCENARIO-END@@ $scenario\$"; then
            result fail "$env" "$scenario: the scenario did not run to its end (see $file)"
        fi
    done
}

# --- what the host needs ------------------------------------------------------------------------
mkdir -p "$cache/apt-archives" "$cache/debootstrap" "$out/logs"
rm -f "$out"/logs/*.log
apt_opts=(-o DPkg::Lock::Timeout=600 -o "Dir::Cache::archives=$cache/apt-archives")
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_opts[@]}" "$@" \
        >/dev/null 2>&1 || {
        apt-get update -qq -o DPkg::Lock::Timeout=600 >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_opts[@]}" "$@" >/dev/null
    }
}
need=()
command -v unshare >/dev/null && command -v pivot_root >/dev/null || need+=(util-linux)
if wants root || wants docker; then command -v debootstrap >/dev/null || need+=(debootstrap); fi
if wants docker; then command -v dockerd >/dev/null || need+=(docker.io); fi
if wants vm; then
    command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
    { [ -x /bin/busybox ] && file -L /bin/busybox | grep -q "statically linked"; } || need+=(busybox-static)
    command -v cpio >/dev/null || need+=(cpio)
    command -v gcc >/dev/null || need+=(gcc libc6-dev)
fi
command -v file >/dev/null || need+=(file)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt_install "${need[@]}"
fi

# The static binaries: built when missing or older than their sources.
stale=0
for bin in sandprobe sandbox-run; do
    if [ ! -x "$bindir/$bin" ] \
        || [ -n "$(cd "$repo" && find src probes Cargo.toml Cargo.lock -newer "$bindir/$bin" -print -quit)" ]; then
        stale=1
    fi
done
if [ "$stale" = 1 ] && [ "$build" = 1 ]; then
    log "building the static binaries ($musl)"
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$musl"; then
        rustup target add "$musl" >&2
    fi
    cargo build --release --locked --target "$musl" --bins --manifest-path "$repo/Cargo.toml" >&2
fi
for bin in sandprobe sandbox-run; do
    [ -x "$bindir/$bin" ] || { log "$bindir/$bin is missing (build it, or drop --no-build)"; exit 1; }
    file "$bindir/$bin" | grep -Eq "static(ally|-pie) linked" || { log "$bin is not statically linked"; exit 1; }
done
# What every environment gets: install.sh and the binaries (/opt/release), and the scenarios
# (/opt/tests).
release="$work/release"
tests="$work/tests"
mkdir -p "$release" "$tests"
install -m 0755 "$bindir/sandprobe" "$bindir/sandbox-run" "$release/"
install -m 0755 "$install_sh" "$release/install.sh"
install -m 0755 "$here/scenarios.sh" "$tests/"
chmod 0755 "$work"
log "binaries: $("$release/sandprobe" --version)"

# The Debian root: ci/containers.sh's cached debootstrap tarball, made here if it is missing.
if (wants root || wants docker) && [ ! -s "$tarball" ]; then
    log "debootstrap $suite (minbase) from $mirror"
    mkdir -p "$cache/debootstrap/debs"
    debootstrap --variant=minbase --arch=amd64 --cache-dir="$cache/debootstrap/debs" \
        "$suite" "$work/debootstrap-root" "$mirror" >"$out/logs/debootstrap.log" 2>&1 \
        || { tail -n 20 "$out/logs/debootstrap.log" >&2; exit 1; }
    rm -rf "$work/debootstrap-root/var/cache/apt/archives/"*.deb "$work/debootstrap-root/var/lib/apt/lists/"*
    tar --numeric-owner -C "$work/debootstrap-root" -czf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$work/debootstrap-root"
fi
phase "prerequisites ready"

# fetch_kernel_if_missing DIR: Debian 12's kernel in ci/kernels.sh's cache layout (vmlinuz, config,
# config_path, release, version, packages), fetched from this host's own apt sources when it is a
# Debian 12 host and the cache is empty. Elsewhere, ci/kernels.sh fills the cache.
fetch_kernel_if_missing() {
    local dir="$1" x image abi config_path
    if [ -s "$dir/vmlinuz" ] && [ -s "$dir/config" ] && [ -s "$dir/release" ] && [ -s "$dir/config_path" ]; then
        return 0
    fi
    if [ "$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)" != "$suite" ]; then
        log "no cached kernel in $dir and this host is not Debian 12: run ci/kernels.sh once"
        return 0
    fi
    log "fetching Debian 12's kernel into $dir"
    x="$work/kernel-extract"
    mkdir -p "$dir/debs" "$x"
    {
        image="$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')"
        if [ -z "$image" ]; then
            apt-get update -qq -o DPkg::Lock::Timeout=600
            image="$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')"
        fi
        [ -n "$image" ] || { echo "no linux-image-* behind linux-image-amd64"; return 0; }
        abi="${image#linux-image-}"
        rm -f "$dir"/debs/*.deb
        (cd "$dir/debs" && apt-get download -qq "$image") || return 0
        dpkg -x "$dir"/debs/"${image}"_*.deb "$x"
        config_path="boot/config-$abi"
        if ! [ -s "$x/boot/vmlinuz-$abi" ] || ! [ -s "$x/$config_path" ]; then
            echo "no vmlinuz or config in $image"
            return 0
        fi
        cp "$x/$config_path" "$dir/config"
        echo "$config_path" >"$dir/config_path"
        dpkg-deb -f "$dir"/debs/"${image}"_*.deb Version >"$dir/version"
        echo "$image" >"$dir/packages"
        echo "$abi" >"$dir/release"
        cp "$x/boot/vmlinuz-$abi" "$dir/vmlinuz.new" && mv "$dir/vmlinuz.new" "$dir/vmlinuz"
    } >"$out/logs/kernel-fetch.log" 2>&1
    rm -rf "$x"
}

# --- the VM: started first, it runs while the other environments are tested ---------------------
vm_pid=""
vm_log="$out/logs/vm.log"
if wants vm; then
    kdir="$cache/kernels/$suite"
    fetch_kernel_if_missing "$kdir"
    if ! [ -s "$kdir/vmlinuz" ] || ! [ -s "$kdir/config" ] || ! [ -s "$kdir/release" ] \
        || ! [ -s "$kdir/config_path" ]; then
        result fail vm "Debian 12's kernel is in $kdir (see $out/logs/kernel-fetch.log; ci/kernels.sh fills it too)"
    else
        gcc -static -Os -Wall -Wextra -Werror -o "$work/asuser" "$repo/ci/kernels/asuser.c"
        vroot="$work/vm-root"
        config_path="$(cat "$kdir/config_path")"
        mkdir -p "$vroot/usr/bin" "$vroot/etc" "$vroot/opt" "$vroot/$(dirname "$config_path")"
        ln -s usr/bin "$vroot/bin"
        ln -s usr/bin "$vroot/sbin"
        ln -s usr/lib "$vroot/lib"
        install -m 0755 /bin/busybox "$work/asuser" "$vroot/usr/bin/"
        cp -a "$release" "$tests" "$vroot/opt/"
        install -m 0755 "$here/vm-init.sh" "$vroot/init"
        cp "$kdir/config" "$vroot/$config_path"
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
            >"$vroot/etc/passwd"
        printf 'root:x:0:\nnogroup:x:65534:\n' >"$vroot/etc/group"
        (cd "$vroot" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$work/initrd.gz"
        log "booting Debian 12's kernel $(cat "$kdir/release") under qemu (TCG) in the background"
        timeout 300 qemu-system-x86_64 -accel tcg -m 768 -nographic -no-reboot \
            -kernel "$kdir/vmlinuz" -initrd "$work/initrd.gz" \
            -append "console=ttyS0 quiet loglevel=1 panic=-1" </dev/null >"$vm_log" 2>&1 &
        vm_pid=$!
        bg_pids+=("$vm_pid")
    fi
fi

# --- the debootstrap roots ----------------------------------------------------------------------
# in_root MODE SCENARIO...: install.sh run through enter-root.sh in a fresh copy of the root. The
# copy is extracted onto a tmpfs (mounted in a mount namespace of its own, so it vanishes with the
# run) as a directory inside it: the root itself is not a mount point, as a chroot's root is not.
in_root() {
    local mode="$1" fs="$work/fs-$1" rc=0 pid
    shift
    mkdir -p "$fs"
    # shellcheck disable=SC2016 # expanded by the inner shell
    timeout 300 unshare --mount --propagation private sh -c '
        set -e
        mount -t tmpfs -o mode=0755 install-tests "$1"
        mkdir -m 0755 "$1/root"
        tar --numeric-owner -xzf "$2" -C "$1/root"
        cp -a "$3" "$4" "$1/root/opt/"
        shift 4
        exec "$@"' sh "$fs" "$tarball" "$release" "$tests" \
        "$here/enter-root.sh" "$mode" "$fs/root" sh /opt/tests/scenarios.sh "$@" \
        >"$out/logs/root-$mode.log" 2>&1 &
    pid=$!
    bg_pids+=("$pid")
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || log "root ($mode): the scenario exited $rc"
    collect "root ($mode)" "$out/logs/root-$mode.log" "$1"
}
if wants root; then
    in_root chroot refused-force
    in_root pivot installs userns
    phase "debootstrap roots done"
fi

# --- docker -------------------------------------------------------------------------------------
# The image: the same debootstrap root, FROM scratch, rebuilt when the tarball changes.
if wants docker; then
    export DOCKER_BUILDKIT=0
    if ! docker info >/dev/null 2>&1; then
        log "starting dockerd"
        dockerd >"$out/logs/dockerd.log" 2>&1 &
        dockerd_pid=$!
        for _ in $(seq 1 60); do
            docker info >/dev/null 2>&1 && break
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 1
        done
    fi
    if ! docker info >/dev/null 2>&1; then
        result fail docker "dockerd is running (see $out/logs/dockerd.log)"
    else
        image="sandprobe-ci/install-debian-$suite"
        stamp="$(stat -c '%s-%Y' "$tarball")"
        if [ "$(docker image inspect -f '{{index .Config.Labels "sandprobe-ci.rootfs"}}' "$image" 2>/dev/null)" != "$stamp" ]; then
            log "building $image"
            ctx="$work/docker-context"
            mkdir -p "$ctx"
            ln "$tarball" "$ctx/rootfs.tar.gz" 2>/dev/null || cp "$tarball" "$ctx/rootfs.tar.gz"
            docker build -f "$here/debian.Dockerfile" --label "sandprobe-ci.rootfs=$stamp" -t "$image" "$ctx" \
                >"$out/logs/docker-build.log" 2>&1 || { tail -n 20 "$out/logs/docker-build.log" >&2; exit 1; }
            rm -rf "$ctx"
        fi
        # in_docker ID FLAGS SCENARIO...
        in_docker() {
            local id="$1" flags_text="$2" container="sandprobe-ci-install-$run_id-$1" rc=0 pid flags
            shift 2
            read -r -a flags <<<"$flags_text"
            docker run -d --name "$container" --label "sandprobe-ci-install=$run_id" "${flags[@]}" \
                -v "$release:/opt/release:ro" -v "$tests:/opt/tests:ro" "$image" >/dev/null
            timeout 300 docker exec --user 0 "$container" sh /opt/tests/scenarios.sh "$@" \
                >"$out/logs/docker-$id.log" 2>&1 &
            pid=$!
            bg_pids+=("$pid")
            wait "$pid" || rc=$?
            [ "$rc" = 0 ] || log "docker ($id): the scenario exited $rc"
            docker rm -f "$container" >/dev/null
            collect "docker ($id)" "$out/logs/docker-$id.log" "$1"
        }
        in_docker default "" refused \
            "docker run --security-opt seccomp=unconfined --security-opt systempaths=unconfined"
        in_docker unconfined "--security-opt seccomp=unconfined --security-opt systempaths=unconfined" \
            installs userns
    fi
    if [ -n "$dockerd_pid" ]; then
        log "stopping the dockerd this script started"
        kill -TERM "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
        dockerd_pid=""
    fi
    phase "docker done"
fi

# --- the VM's results ---------------------------------------------------------------------------
if [ -n "$vm_pid" ]; then
    rc=0
    wait "$vm_pid" || rc=$?
    if tr -d '\r' <"$vm_log" | grep -q "@@VM-DONE@@\$"; then
        result pass vm "the VM booted Debian 12's kernel $(tr -d '\r' <"$vm_log" | sed -n 's/.*@@VM-KERNEL@@ //p') and ran to the end"
    else
        result fail vm "the VM ran to the end (qemu exit $rc; see $vm_log)"
    fi
    collect vm "$vm_log" vm-nobody vm-enable-userns
    phase "VM done"
fi

log "logs in $out/logs; total $(($(date +%s) - start)) s"
echo "install-tests: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
