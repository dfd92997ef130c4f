#!/usr/bin/env bash
# The container rows of the compatibility matrix, measured: `sandprobe check --json` and
# `sandprobe verify` in Docker containers under the configurations users actually run, as root and
# as nobody, each compared with a ground truth that busybox observes in the same container.
#
# Two images, both built FROM scratch (no registry is needed): the static binaries alone, and a
# Debian 12 rootfs made with debootstrap plus the same binaries. The verdict must not depend on the
# distro userland, so both images must give the same verdict in each configuration.
#
# Configurations: the eight of the matrix (default, --read-only, seccomp=unconfined, --cap-add
# SYS_ADMIN, seccomp=unconfined + systempaths=unconfined, --user 65534, no-new-privileges, --network
# none), plus two where a mode is meant to work end to end: --read-only with user namespaces let
# through, and root-backed with everything its launcher uses (SYS_ADMIN, NET_ADMIN for the loopback
# interface, and a seccomp policy that allows pivot_root).
#
# Rows: for every configuration, "root" is `docker exec --user 0` and "nobody" is
# `docker exec --user 65534:65534` into one container started with that configuration. The
# "--user 65534" configuration starts the container as uid 65534 (the group comes from the image's
# /etc/passwd): its "nobody" row is the container's own user, and its "root" row is root entering
# that container with `docker exec --user 0`, as an operator would.
#
# Ground truth (ci/containers/ground-truth.sh, busybox only):
#   userns:      `unshare -U -r -m -p -n -i -u -f --mount-proc` + a tmpfs mount, as uid 65534 (for a
#                root row: after root drops to 65534 with su, as the launcher does).
#   root_backed: the same chain without -U -r, as root (root rows only; null for nobody rows).
# Agreement: nobody: verdict.unprivileged.mode == userns <=> userns passed.
#            root:   verdict.root.mode == userns if userns passed, else root-backed if root_backed
#                    passed, else unsupported.
# verify runs wherever the invoker's verdict.mode is not unsupported; it must pass.
#
# Usage: ci/containers.sh [--out DIR] [--update]
#   --out DIR  where the results go (default target/matrix/containers)
#   --update   also copy the results into ci/results/containers (committed)
# Needs root. Installs docker.io, jq and debootstrap with apt if missing, starts dockerd if it is not
# running (and stops it again on exit), caches downloads under /var/cache/sandprobe.
# Exit status: 0 when every verdict agrees, every verify passes and both images agree; 1 otherwise.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
here="$repo/ci/containers"
cache=/var/cache/sandprobe
out="$repo/target/matrix/containers"
update=0
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
musl=x86_64-unknown-linux-musl
bindir="$repo/target/$musl/release"

while [ $# -gt 0 ]; do
    case "$1" in
    --out)
        [ $# -ge 2 ] || { echo "containers: --out needs a directory" >&2; exit 2; }
        out="$2"
        shift 2
        ;;
    --update) update=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "containers: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "containers: run as root (docker, debootstrap)" >&2; exit 2; }

log() { echo "containers: $*" >&2; }

# --- cleanup: everything this script starts is stopped on every exit path --------------------
work="$(mktemp -d)"
run_id="$$"
dockerd_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if docker info >/dev/null 2>&1; then
        docker ps -aq --filter "label=sandprobe-ci=$run_id" | xargs -r docker rm -f >/dev/null 2>&1 || true
    fi
    if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
        log "stopping the dockerd this script started (pid $dockerd_pid)"
        kill -TERM "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 1 30); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 1
        done
        if kill -0 "$dockerd_pid" 2>/dev/null; then
            log "dockerd did not stop within 30 s: killing it"
            kill -KILL "$dockerd_pid" 2>/dev/null || true
        fi
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- what the host needs ----------------------------------------------------------------------
mkdir -p "$cache/apt-archives" "$cache/busybox" "$cache/debootstrap"
apt_opts=(-o DPkg::Lock::Timeout=600 -o "Dir::Cache::archives=$cache/apt-archives")
apt_install() {
    local quiet=(-y -qq)
    DEBIAN_FRONTEND=noninteractive apt-get install "${quiet[@]}" "${apt_opts[@]}" "$@" >/dev/null 2>&1 || {
        apt-get update -qq -o DPkg::Lock::Timeout=600 >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install "${quiet[@]}" "${apt_opts[@]}" "$@" >/dev/null
    }
}
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v jq >/dev/null || need+=(jq)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt_install "${need[@]}"
fi

# The static binaries: built when missing or older than their sources.
stale=""
for bin in sandprobe sandbox-run; do
    if [ ! -x "$bindir/$bin" ] || [ -n "$(cd "$repo" && find src probes Cargo.toml Cargo.lock -newer "$bindir/$bin" -print -quit)" ]; then
        stale="$bin"
    fi
done
if [ -n "$stale" ]; then
    log "building the static binaries ($musl)"
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$musl"; then
        rustup target add "$musl" >&2
    fi
    cargo build --release --locked --target "$musl" --bins --manifest-path "$repo/Cargo.toml" >&2
fi

# A static busybox from Debian's busybox-static package (cached), for the ground truth.
deb="$(find "$cache/busybox" -name 'busybox-static_*.deb' -print -quit)"
if [ -z "$deb" ]; then
    log "downloading busybox-static"
    (cd "$cache/busybox" && { apt-get download busybox-static >/dev/null 2>&1 || {
        apt-get update -qq -o DPkg::Lock::Timeout=600 >/dev/null && apt-get download busybox-static >/dev/null; }; })
    deb="$(find "$cache/busybox" -name 'busybox-static_*.deb' -print -quit)"
fi
dpkg-deb -x "$deb" "$work/busybox-deb"

# The Debian rootfs (debootstrap minbase, cached as a tarball).
tarball="$cache/debootstrap/$suite-minbase-amd64.tar.gz"
if [ ! -s "$tarball" ]; then
    log "debootstrap $suite (minbase) from $mirror"
    mkdir -p "$cache/debootstrap/debs"
    debootstrap --variant=minbase --arch=amd64 --cache-dir="$cache/debootstrap/debs" \
        "$suite" "$work/debian-root" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
    rm -rf "$work/debian-root/var/cache/apt/archives/"*.deb "$work/debian-root/var/lib/apt/lists/"*
    tar --numeric-owner -C "$work/debian-root" -czf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$work/debian-root"
fi

# --- dockerd ----------------------------------------------------------------------------------
mkdir -p "$out/logs"
# The legacy builder needs no buildx plugin and is all a FROM scratch build uses.
export DOCKER_BUILDKIT=0
if ! docker info >/dev/null 2>&1; then
    log "starting dockerd"
    dockerd >"$out/logs/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$dockerd_pid" 2>/dev/null || { tail -n 20 "$out/logs/dockerd.log" >&2; exit 1; }
        sleep 1
    done
    docker info >/dev/null 2>&1 || { log "dockerd did not come up within 60 s"; tail -n 20 "$out/logs/dockerd.log" >&2; exit 1; }
fi
docker_version="$(docker version --format '{{.Server.Version}}')"
docker_version="${docker_version%%+*}"

# --- the images -------------------------------------------------------------------------------
overlay="$work/overlay"
mkdir -p "$overlay/opt/sandprobe/bin"
install -m 0755 "$bindir/sandprobe" "$bindir/sandbox-run" "$work/busybox-deb/bin/busybox" "$overlay/opt/sandprobe/bin/"
ln -s busybox "$overlay/opt/sandprobe/bin/sh"
install -m 0755 "$here/ground-truth.sh" "$overlay/opt/sandprobe/ground-truth.sh"

scratch_ctx="$work/scratch"
mkdir -p "$scratch_ctx/rootfs/etc" "$scratch_ctx/rootfs/tmp"
cp -a "$overlay/." "$scratch_ctx/rootfs/"
install -m 0644 "$here/passwd" "$here/group" "$scratch_ctx/rootfs/etc/"
chmod 1777 "$scratch_ctx/rootfs/tmp"

debian_ctx="$work/debian"
mkdir -p "$debian_ctx"
cp -a "$overlay" "$debian_ctx/overlay"
ln "$tarball" "$debian_ctx/rootfs.tar.gz" 2>/dev/null || cp "$tarball" "$debian_ctx/rootfs.tar.gz"

log "building the images"
build_image() { # DOCKERFILE TAG CONTEXT
    docker build -f "$1" -t "$2" "$3" >"$out/logs/build-${2##*/}.log" 2>&1 \
        || { tail -n 20 "$out/logs/build-${2##*/}.log" >&2; exit 1; }
}
build_image "$here/scratch.Dockerfile" sandprobe-ci/scratch "$scratch_ctx"
build_image "$here/debian.Dockerfile" "sandprobe-ci/debian-$suite" "$debian_ctx"

# image id | label
images=(
    "scratch|sandprobe-ci/scratch|Docker $docker_version, FROM scratch"
    "debian12|sandprobe-ci/debian-$suite|Docker $docker_version, Debian 12 rootfs (debootstrap minbase)"
)
# config id | label | docker run flags
configs=(
    "default|default|"
    "read-only|--read-only|--read-only"
    "seccomp-unconfined|seccomp=unconfined|--security-opt seccomp=unconfined"
    "cap-sys-admin|--cap-add SYS_ADMIN|--cap-add SYS_ADMIN"
    "seccomp-systempaths-unconfined|seccomp=unconfined + systempaths=unconfined|--security-opt seccomp=unconfined --security-opt systempaths=unconfined"
    "user-65534|--user 65534|--user 65534"
    "no-new-privileges|no-new-privileges|--security-opt no-new-privileges"
    "network-none|--network none|--network none"
    "read-only-userns-enabled|--read-only + seccomp=unconfined + systempaths=unconfined|--read-only --security-opt seccomp=unconfined --security-opt systempaths=unconfined"
    "root-backed-enabled|--cap-add SYS_ADMIN --cap-add NET_ADMIN + seccomp=unconfined|--cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined"
)

# --- one row ----------------------------------------------------------------------------------
verdicts=0 agree=0 disagree=0 vpass=0 vfail=0
declare -A row_verdict

# field KEY FILE: the value of KEY=... in a ground-truth output file.
field() { sed -n "s/^$1=//p" "$2" | head -n 1; }
# outcome KEY FILE: "ok" or "failed (exit N: last stderr line)".
outcome() {
    local rc err
    rc="$(field "$1" "$2")"
    err="$(field "$1_error" "$2")"
    if [ "$rc" = 0 ]; then echo ok; else echo "failed (exit ${rc:-?}${err:+: $err})"; fi
}

# run_row IMAGE_ID IMAGE_LABEL CONFIG_ID CONFIG_LABEL CONTAINER WHO EXEC_USER...
run_row() {
    local image_id="$1" image_label="$2" config_id="$3" config_label="$4" container="$5" who="$6"
    shift 6
    local user_flags=("$@")
    local slug="docker-$image_id-$config_id-$who"
    local label="$image_label / $config_label / $who"
    local json="$out/$slug.json" gt="$out/logs/$slug.ground-truth" vlog="$out/logs/$slug.verify.json"
    local sp=/opt/sandprobe/bin/sandprobe

    local check_rc=0
    timeout 300 docker exec "${user_flags[@]}" "$container" "$sp" check --json --label "$label" \
        >"$json" 2>"$out/logs/$slug.check.stderr" || check_rc=$?
    if ! jq -e .verdict "$json" >/dev/null 2>&1; then
        log "$slug: check gave no report (exit $check_rc): $(tail -n 3 "$out/logs/$slug.check.stderr")"
        rm -f "$json"
        verdicts=$((verdicts + 1)) disagree=$((disagree + 1))
        row_verdict["$config_id/$who/$image_id"]="no report"
        return
    fi
    local mode root_mode unpriv_mode
    mode="$(jq -r .verdict.mode "$json")"
    root_mode="$(jq -r .verdict.root.mode "$json")"
    unpriv_mode="$(jq -r .verdict.unprivileged.mode "$json")"
    row_verdict["$config_id/$who/$image_id"]="root=$root_mode unprivileged=$unpriv_mode"

    timeout 300 docker exec "${user_flags[@]}" "$container" /opt/sandprobe/ground-truth.sh \
        "$([ "$who" = root ] && echo root || echo nobody)" >"$gt" 2>&1 || true
    local gt_userns gt_rb="null" expected actual notes
    # Compared: the full chains, which also bring lo up and pivot_root into the tmpfs, as the
    # launcher does and as sandprobe's trials do (Docker's seccomp profile refuses pivot_root
    # even to a root that holds CAP_SYS_ADMIN).
    [ "$(field userns_full "$gt")" = 0 ] && gt_userns=true || gt_userns=false
    notes="userns chain (busybox unshare -U -r -m -p -n -i -u -f --mount-proc, tmpfs, lo up, pivot_root; uid 65534$([ "$who" = root ] && echo ", dropped from root with su")): $(outcome userns_full "$gt"); without lo and pivot_root (reported, not compared): $(outcome userns "$gt")"
    if [ "$who" = root ]; then
        [ "$(field root_backed_full "$gt")" = 0 ] && gt_rb=true || gt_rb=false
        notes="$notes. The same chain as uid 0: $(outcome userns_as_uid0 "$gt"). Root-backed chain (without -U -r, as root, with lo up and pivot_root): $(outcome root_backed_full "$gt"); without lo and pivot_root (reported, not compared): $(outcome root_backed "$gt")"
        if [ "$gt_userns" = true ]; then expected=userns
        elif [ "$gt_rb" = true ]; then expected=root-backed
        else expected=unsupported; fi
        actual="$root_mode"
        notes="$notes. Compared: verdict.root.mode = $root_mode, expected $expected"
    else
        if [ "$gt_userns" = true ]; then expected=userns; else expected="not userns"; fi
        actual="$unpriv_mode"
        local actual_cmp="$unpriv_mode"
        [ "$actual_cmp" = userns ] || actual_cmp="not userns"
        actual="$actual_cmp"
        notes="$notes. Compared: verdict.unprivileged.mode = $unpriv_mode, expected $expected"
    fi
    local agrees=false
    [ "$actual" = "$expected" ] && agrees=true
    verdicts=$((verdicts + 1))
    if [ "$agrees" = true ]; then agree=$((agree + 1)); else disagree=$((disagree + 1)); fi

    # verify: wherever this invoker has a mode. Where it has none, it still runs, for the notes.
    local verify_rc=0 verify verify_note
    timeout 300 docker exec "${user_flags[@]}" "$container" "$sp" verify --json \
        >"$vlog" 2>"$out/logs/$slug.verify.stderr" || verify_rc=$?
    local failed
    failed="$(jq -r '[.checks[]? | select(.outcome != "pass") | "\(.id) (\(.evidence))"] | join("; ")' "$vlog" 2>/dev/null || true)"
    if [ "$verify_rc" = 0 ]; then
        verify_note="verify (auto): all checks passed"
    elif [ -n "$failed" ]; then
        verify_note="verify (auto): exit $verify_rc, failed: $failed"
    else
        verify_note="verify (auto): exit $verify_rc: $(tail -n 1 "$out/logs/$slug.verify.stderr")"
    fi
    if [ "$mode" = unsupported ]; then
        verify=not_applicable
        verify_note="$verify_note (not applicable: no mode for this invoker)"
    elif [ "$verify_rc" = 0 ]; then
        verify=pass vpass=$((vpass + 1))
    else
        verify=fail vfail=$((vfail + 1))
    fi
    notes="$notes. $verify_note"

    jq -n --arg lbl "$label" --argjson userns "$gt_userns" --argjson rb "$gt_rb" \
        --argjson agrees "$agrees" --arg verify "$verify" --arg notes "$notes" \
        '{"label": $lbl, "ground_truth": {"userns": $userns, "root_backed": $rb}, "verdict_agrees": $agrees, "verify": $verify, "notes": $notes}' \
        >"$out/$slug.truth.json"
    printf '%-58s root=%-11s unpriv=%-11s truth userns=%-5s root_backed=%-5s %-8s verify=%s\n' \
        "$slug" "$root_mode" "$unpriv_mode" "$gt_userns" "$gt_rb" \
        "$([ "$agrees" = true ] && echo agree || echo DISAGREE)" "$verify"
}

# --- the matrix -------------------------------------------------------------------------------
rm -f "$out"/*.json "$out"/logs/*.json "$out"/logs/*.stderr "$out"/logs/*.ground-truth
for image in "${images[@]}"; do
    IFS='|' read -r image_id image_ref image_label <<<"$image"
    for config in "${configs[@]}"; do
        IFS='|' read -r config_id config_label flags_text <<<"$config"
        read -r -a flags <<<"$flags_text"
        container="sandprobe-ci-$run_id-$image_id-$config_id"
        docker run -d --name "$container" --label "sandprobe-ci=$run_id" "${flags[@]}" "$image_ref" >/dev/null
        if [ "$config_id" = user-65534 ]; then
            run_row "$image_id" "$image_label" "$config_id" "$config_label" "$container" root --user 0
            run_row "$image_id" "$image_label" "$config_id" "$config_label" "$container" nobody
        else
            run_row "$image_id" "$image_label" "$config_id" "$config_label" "$container" root --user 0
            run_row "$image_id" "$image_label" "$config_id" "$config_label" "$container" nobody --user 65534:65534
        fi
        docker rm -f "$container" >/dev/null
    done
done

# The distro userland must not change the verdict.
same=0 differ=0
for config in "${configs[@]}"; do
    config_id="${config%%|*}"
    for who in root nobody; do
        a="${row_verdict["$config_id/$who/scratch"]:-none}"
        b="${row_verdict["$config_id/$who/debian12"]:-none}"
        if [ "$a" = "$b" ]; then
            same=$((same + 1))
        else
            differ=$((differ + 1))
            log "$config_id / $who: FROM scratch says $a, the Debian rootfs says $b"
        fi
    done
done
echo "containers: userland: $same configurations give the same verdict in both images, $differ differ"

if [ "$update" = 1 ]; then
    dest="$repo/ci/results/containers"
    mkdir -p "$dest"
    rm -f "$dest"/*.json
    cp "$out"/*.json "$dest/"
    log "copied the results into ci/results/containers"
fi

echo "containers: $verdicts verdicts, $agree agree, $disagree disagree; verify: $vpass pass, $vfail fail"
[ "$disagree" = 0 ] && [ "$vfail" = 0 ] && [ "$differ" = 0 ]
