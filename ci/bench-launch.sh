#!/bin/sh
# Launch latency of `sandbox-run -- /bin/true` side by side with bubblewrap at equivalent flags,
# both as uid 65534, plus the launcher's peak RSS. Run as root (setpriv drops to nobody).
# Usage: ci/bench-launch.sh [RUNS]   (needs hyperfine, bubblewrap, setpriv; builds --release)
set -eu

runs="${1:-300}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
for tool in hyperfine bwrap setpriv python3; do
    command -v "$tool" >/dev/null || { echo "bench-launch: missing $tool (apt-get install -y hyperfine bubblewrap)" >&2; exit 1; }
done

# Both builds: the static musl binary is the one releases ship; the glibc one is what
# `cargo build --release` gives.
musl=x86_64-unknown-linux-musl
cargo build --release --bin sandbox-run --manifest-path "$repo/Cargo.toml" >&2
cargo build --release --bin sandbox-run --target "$musl" --manifest-path "$repo/Cargo.toml" >&2

# uid 65534 must be able to execute the binary: copy it to a private 0755 directory.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp "$repo/target/release/sandbox-run" "$work/sandbox-run"
cp "$repo/target/$musl/release/sandbox-run" "$work/sandbox-run-static"
chmod 755 "$work/sandbox-run" "$work/sandbox-run-static"

nobody="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"
ours="$work/sandbox-run -- /bin/true"
ours_static="$work/sandbox-run-static -- /bin/true"
bwrap_cmd="bwrap --unshare-all --die-with-parent --new-session --ro-bind /usr /usr"
for d in /bin /sbin /lib /lib64; do
    [ -e "$d" ] && bwrap_cmd="$bwrap_cmd --ro-bind $d $d"
done
bwrap_cmd="$bwrap_cmd --proc /proc --dev /dev --tmpfs /tmp /bin/true"

# hyperfine itself runs as nobody, so both commands are timed without the setpriv exec.
touch "$work/bench.json" && chown 65534 "$work/bench.json"
$nobody hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/bench.json" \
    -n "sandbox-run (static)" "$ours_static" -n "sandbox-run (glibc)" "$ours" \
    -n "bwrap" "$bwrap_cmd" >&2

python3 - "$work/bench.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
static, glibc, bwrap = (r["median"] for r in results)
print(f"sandbox-run (static) median: {static * 1000:.2f} ms  ratio {static / bwrap:.2f} (budget <= 0.80)")
print(f"sandbox-run (glibc) median:  {glibc * 1000:.2f} ms  ratio {glibc / bwrap:.2f}")
print(f"bwrap median:                {bwrap * 1000:.2f} ms")
PY

for cmd in "$ours_static" "$ours" "$bwrap_cmd"; do
    # shellcheck disable=SC2086 # $cmd is a command line to split into words
    rss="$($nobody /usr/bin/time -f '%M' $cmd 2>&1 >/dev/null | tail -n 1)"
    echo "peak RSS ${rss} KiB: ${cmd%% *} (/usr/bin/time)"
done
