#!/usr/bin/env bash
# The kernel matrix: boots Debian's real kernels (11, 12, 13, unstable) under qemu (TCG), each
# once per knob setting (default, kernel.unprivileged_userns_clone=0, user.max_user_namespaces=0),
# and in each VM runs `sandprobe check --json` and `sandprobe verify` as root and as nobody next to
# an independent ground truth (busybox unshare). Writes <slug>.json + <slug>.truth.json for the
# 24 verdicts and fails on any disagreement or verify failure.
#
# Usage: ci/kernels.sh [--out DIR] [--update] [--no-build] [--refresh] [--jobs N]
#   --out DIR   where the result files go (default target/matrix/kernels)
#   --update    also copy the result files into ci/results/kernels/
#   --no-build  use the static binaries already in target/x86_64-unknown-linux-musl/release
#   --refresh   look the kernel packages up again (a cached kernel is otherwise reused as is)
#   --jobs N    boots at a time (default 2)
# Run as root. Kernel packages, their kernels and apt's downloads are cached in /var/cache/sandprobe.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache=/var/cache/sandprobe
kcache="$cache/kernels"
musl=x86_64-unknown-linux-musl
out="$repo/target/matrix/kernels"
update=0
build=1
refresh=0
jobs=2

usage() { sed -n '8,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || usage; out="$2"; shift 2 ;;
        --update) update=1; shift ;;
        --no-build) build=0; shift ;;
        --refresh) refresh=1; shift ;;
        --jobs)
            if [ $# -lt 2 ] || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then usage; fi
            jobs="$2"
            shift 2
            ;;
        -h|--help) usage ;;
        *) echo "kernels: unknown argument $1" >&2; usage ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "kernels: run as root (apt, and the VMs' images)" >&2; exit 2; }

# suite, distro label, slug prefix
kernels=(
    "bullseye|Debian 11|debian-11"
    "bookworm|Debian 12|debian-12"
    "trixie|Debian 13|debian-13"
    "sid|Debian unstable|debian-unstable"
)
# knob id, knob label (the id is what /init reads from the kernel command line)
knobs=(
    "default|default"
    "userns-clone-0|unprivileged_userns_clone=0"
    "max-userns-0|max_user_namespaces=0"
)
# What sandprobe and the VM need built in: namespaces, seccomp, the file systems the sandbox
# mounts (tmpfs, proc, devpts), loopback networking for verify, and what boots the image.
required_config=(NAMESPACES USER_NS PID_NS NET_NS UTS_NS IPC_NS SECCOMP SECCOMP_FILTER TMPFS
    PROC_FS SYSFS DEVTMPFS UNIX98_PTYS CGROUPS NET INET UNIX BINFMT_ELF BINFMT_SCRIPT
    BLK_DEV_INITRD RD_GZIP SERIAL_8250 SERIAL_8250_CONSOLE)

start=$(date +%s)
phase_start=$start
phase() {
    local now
    now=$(date +%s)
    echo "kernels: [$((now - phase_start)) s] $1"
    phase_start=$now
}

work="$(mktemp -d /tmp/sandprobe-kernels.XXXXXX)"
cleanup() {
    local pidfile pids
    # The VMs first (timeout passes the signal on to qemu), then the boot jobs.
    for pidfile in "$work"/*.pid; do
        if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
    pids="$(jobs -p)"
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086 # one pid per word
        kill $pids 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# debian_stanza SUITE: a deb822 sources entry for SUITE on the mirror this system already uses.
debian_stanza() {
    local uri
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        awk 'BEGIN { RS = ""; ORS = "\n" } NR == 1' /etc/apt/sources.list.d/debian.sources \
            | sed "s/^Suites:.*/Suites: $1/"
        return 0
    fi
    uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        /etc/apt/sources.list 2>/dev/null)"
    [ -n "$uri" ] || { echo "kernels: no Debian mirror in the apt sources" >&2; return 1; }
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" "$1"
}

apt_quiet=(-qq -o DPkg::Lock::Timeout=600 -o Dir::Cache::archives="$cache/apt-archives")

# --- the tools ---------------------------------------------------------------------------------
install_tools() {
    local need=()
    command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
    [ -x /bin/busybox ] && file -L /bin/busybox | grep -q "statically linked" || need+=(busybox-static)
    command -v cpio >/dev/null || need+=(cpio)
    command -v gcc >/dev/null || need+=(gcc libc6-dev)
    command -v python3 >/dev/null || need+=(python3)
    command -v file >/dev/null || need+=(file)
    [ ${#need[@]} -eq 0 ] && return 0
    echo "kernels: installing ${need[*]}"
    mkdir -p "$cache/apt-archives"
    apt-get update -qq
    if DEBIAN_FRONTEND=noninteractive apt-get "${apt_quiet[@]}" install -y --no-install-recommends \
        "${need[@]}" >"$work/apt.log" 2>&1; then
        return 0
    fi
    # A qemu-utils from the release's backports (as some images carry) breaks the release's own
    # qemu-system-x86: take qemu from backports too, so both are of one version.
    local codename bpo="$work/apt-bpo"
    codename="$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)"
    [ -n "$codename" ] || { cat "$work/apt.log" >&2; return 1; }
    echo "kernels: retrying with $codename-backports"
    mkdir -p "$bpo/sources" "$bpo/lists/partial" "$bpo/cache"
    cp /etc/apt/sources.list.d/*.sources "$bpo/sources/" 2>/dev/null || true
    [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$bpo/sources/main.list"
    debian_stanza "$codename-backports" >"$bpo/sources/backports.sources"
    local private=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$bpo/sources"
        -o Dir::State::Lists="$bpo/lists" -o Dir::Cache="$bpo/cache" -o APT::Sandbox::User=root)
    apt-get "${private[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive apt-get "${private[@]}" "${apt_quiet[@]}" install -y \
        --no-install-recommends -t "$codename-backports" "${need[@]}" >"$work/apt.log" 2>&1 \
        || { cat "$work/apt.log" >&2; return 1; }
}
install_tools
phase "tools ready ($(qemu-system-x86_64 --version | head -1))"

# --- the binaries ------------------------------------------------------------------------------
if [ "$build" -eq 1 ]; then
    cargo build --release --locked --target "$musl" --bins --manifest-path "$repo/Cargo.toml" >&2
fi
bins="$repo/target/$musl/release"
for bin in sandprobe sandbox-run; do
    [ -x "$bins/$bin" ] || { echo "kernels: $bins/$bin is missing (build it, or drop --no-build)" >&2; exit 1; }
    file "$bins/$bin" | grep -Eq "static(ally|-pie) linked" \
        || { echo "kernels: $bin is not statically linked" >&2; exit 1; }
done
gcc -static -Os -Wall -Wextra -Werror -o "$work/asuser" "$repo/ci/kernels/asuser.c"
phase "binaries ready"

# --- the kernels -------------------------------------------------------------------------------
# fetch_kernel SUITE: leaves vmlinuz, config, release, config_path and packages in $kcache/SUITE.
fetch_kernel() {
    local suite="$1" dir="$kcache/$1"
    if [ "$refresh" -eq 0 ] && [ -s "$dir/vmlinuz" ] && [ -s "$dir/config" ] && [ -s "$dir/release" ]; then
        return 0
    fi
    local apt="$dir/apt"
    mkdir -p "$apt/sources" "$apt/lists/partial" "$apt/cache" "$dir/debs"
    debian_stanza "$suite" >"$apt/sources/debian.sources"
    grep -q "^Suites: $suite$" "$apt/sources/debian.sources" \
        || { echo "kernels: cannot make a sources entry for $suite" >&2; return 1; }
    local private=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt/sources"
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o APT::Sandbox::User=root)
    apt-get "${private[@]}" update -qq
    # linux-image-amd64 depends on the versioned image; unstable splits that into a meta
    # package, linux-binary-* (the image) and linux-base-* (config, System.map).
    local image abi
    image="$(apt-cache "${private[@]}" depends linux-image-amd64 \
        | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')"
    [ -n "$image" ] || { echo "kernels: no linux-image-* behind linux-image-amd64 in $suite" >&2; return 1; }
    abi="${image#linux-image-}"
    local pkgs=("$image") extra
    for extra in "linux-binary-$abi" "linux-base-$abi"; do
        if apt-cache "${private[@]}" depends "$image" | awk '{ print $2 }' | grep -qx "$extra"; then
            pkgs+=("$extra")
        fi
    done
    echo "kernels: $suite: downloading ${pkgs[*]}"
    rm -f "$dir"/debs/*.deb
    (cd "$dir/debs" && apt-get "${private[@]}" download -qq "${pkgs[@]}")
    local x="$work/extract-$suite" deb
    mkdir -p "$x"
    for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$x"; done
    local kernel config config_path
    for kernel in "boot/vmlinuz-$abi" "usr/lib/modules/$abi/vmlinuz" "lib/modules/$abi/vmlinuz"; do
        [ -s "$x/$kernel" ] && break
    done
    for config_path in "boot/config-$abi" "usr/lib/modules/$abi/config" "lib/modules/$abi/config"; do
        [ -s "$x/$config_path" ] && break
    done
    if ! [ -s "$x/$kernel" ] || ! [ -s "$x/$config_path" ]; then
        echo "kernels: $suite: no vmlinuz or config in ${pkgs[*]}" >&2
        return 1
    fi
    cp "$x/$kernel" "$dir/vmlinuz.new" && mv "$dir/vmlinuz.new" "$dir/vmlinuz"
    cp "$x/$config_path" "$dir/config"
    echo "$config_path" >"$dir/config_path"
    dpkg-deb -f "$dir/debs/${image}_"*.deb Version >"$dir/version"
    printf '%s\n' "${pkgs[@]}" >"$dir/packages"
    echo "$abi" >"$dir/release"
    rm -rf "$x"
}
mkdir -p "$kcache"
for entry in "${kernels[@]}"; do
    IFS='|' read -r suite _ _ <<<"$entry"
    fetch_kernel "$suite"
done
phase "kernels ready in $kcache"

# config_note SUITE: which required options are not built in.
config_note() {
    local config="$kcache/$1/config" opt value modules=() missing=()
    for opt in "${required_config[@]}"; do
        value="$(sed -n "s/^CONFIG_$opt=//p" "$config")"
        case "$value" in
            y) ;;
            m) modules+=("$opt") ;;
            *) missing+=("$opt") ;;
        esac
    done
    local note="kernel config: ${#required_config[@]} required options"
    if [ ${#modules[@]} -eq 0 ] && [ ${#missing[@]} -eq 0 ]; then
        note+=" all built in (=y)"
    else
        if [ ${#modules[@]} -gt 0 ]; then note+=", modules (not loaded in the VM): ${modules[*]}"; fi
        if [ ${#missing[@]} -gt 0 ]; then note+=", not set: ${missing[*]}"; fi
    fi
    value="$(sed -n 's/^CONFIG_OVERLAY_FS=//p' "$config")"
    echo "$note; OVERLAY_FS=${value:-n} (unused)"
}

# --- the images --------------------------------------------------------------------------------
# build_initrd SUITE LABEL: a busybox system with the static binaries, merged /usr like Debian's,
# the kernel's config where its package puts it, and the matrix /init.
build_initrd() {
    local suite="$1" label="$2" root="$work/root-$1" release config_path
    release="$(cat "$kcache/$suite/release")"
    config_path="$(cat "$kcache/$suite/config_path")"
    mkdir -p "$root/usr/bin" "$root/etc" "$root/$(dirname "$config_path")"
    ln -s usr/bin "$root/bin"
    ln -s usr/bin "$root/sbin"
    [ -e "$root/lib" ] || ln -s usr/lib "$root/lib"
    cp /bin/busybox "$bins/sandprobe" "$bins/sandbox-run" "$work/asuser" "$root/usr/bin/"
    cp "$repo/ci/kernels/init.sh" "$root/init"
    chmod 0755 "$root/init" "$root"/usr/bin/*
    cp "$kcache/$suite/config" "$root/$config_path"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    echo "$label ($release)" >"$root/etc/matrix-label"
    (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$work/initrd-$suite.gz"
}

mkdir -p "$out" "$out/logs"
rm -f "$out"/*.json "$out"/logs/*.log
plan="$work/plan.tsv"
: >"$plan"
for entry in "${kernels[@]}"; do
    IFS='|' read -r suite name slug <<<"$entry"
    build_initrd "$suite" "$name"
    note="$(config_note "$suite")"
    echo "kernels: $name $(cat "$kcache/$suite/release") ($(cat "$kcache/$suite/version")): $note"
    for knob_entry in "${knobs[@]}"; do
        IFS='|' read -r knob knob_label <<<"$knob_entry"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$out/logs/$slug-$knob.log" "kernel-$slug" \
            "$name ($(cat "$kcache/$suite/release"))" "$knob" "$knob_label" "$note" >>"$plan"
    done
done
phase "images built"

# --- the boots ---------------------------------------------------------------------------------
# boot SUITE KNOB LOG
boot() {
    local rc=0 vm
    timeout 300 qemu-system-x86_64 -accel tcg -m 768 -nographic -no-reboot \
        -kernel "$kcache/$1/vmlinuz" -initrd "$work/initrd-$1.gz" \
        -append "console=ttyS0 quiet loglevel=1 panic=-1 sandprobe.knob=$2" \
        </dev/null >"$3" 2>&1 &
    vm=$!
    echo "$vm" >"$work/vm-$1-$2.pid"
    wait "$vm" || rc=$?
    rm -f "$work/vm-$1-$2.pid"
    grep -q "@@SANDPROBE-DONE@@" "$3" || echo "kernels: $1 / $2 did not finish (exit $rc): see $3" >&2
}
running=0
for entry in "${kernels[@]}"; do
    IFS='|' read -r suite _ slug <<<"$entry"
    for knob_entry in "${knobs[@]}"; do
        IFS='|' read -r knob _ <<<"$knob_entry"
        if [ "$running" -ge "$jobs" ]; then
            wait -n || true
            running=$((running - 1))
        fi
        boot "$suite" "$knob" "$out/logs/$slug-$knob.log" &
        running=$((running + 1))
    done
done
wait
phase "12 boots done ($jobs at a time)"

# --- the verdicts ------------------------------------------------------------------------------
python3 "$repo/ci/kernels/evaluate.py" "$out" "$plan" >"$work/evaluate.txt"
sed '$d' "$work/evaluate.txt"
read -r agree disagree vpass vfail < <(tail -n 1 "$work/evaluate.txt")
total=$((agree + disagree))

if [ "$update" -eq 1 ]; then
    results="$repo/ci/results/kernels"
    checks="$(find "$out" -maxdepth 1 -name '*.json' ! -name '*.truth.json' | wc -l)"
    if [ "$total" -eq 24 ] && [ "$checks" -eq 24 ]; then
        mkdir -p "$results"
        rm -f "$results"/*.json
        cp "$out"/*.json "$results/"
        echo "kernels: copied $(find "$results" -maxdepth 1 -name '*.json' | wc -l) files into ci/results/kernels/"
    else
        echo "kernels: not updating ci/results/kernels/: only $checks of 24 check outputs" >&2
    fi
fi

phase "evaluated"
echo "kernels: total $(($(date +%s) - start)) s"
echo "kernels: $total verdicts, $agree agree, $disagree disagree; verify: $vpass pass, $vfail fail"
[ "$total" -eq 24 ] && [ "$disagree" -eq 0 ] && [ "$vfail" -eq 0 ]
