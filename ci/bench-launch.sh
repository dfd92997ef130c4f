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

cargo build --release --bin sandbox-run --manifest-path "$repo/Cargo.toml" >&2

# uid 65534 must be able to execute the binary: copy it to a private 0755 directory.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp "$repo/target/release/sandbox-run" "$work/sandbox-run"
chmod 755 "$work/sandbox-run"

nobody="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"
ours="$work/sandbox-run -- /bin/true"
bwrap_cmd="bwrap --unshare-all --die-with-parent --new-session --ro-bind /usr /usr"
for d in /bin /sbin /lib /lib64; do
    [ -e "$d" ] && bwrap_cmd="$bwrap_cmd --ro-bind $d $d"
done
bwrap_cmd="$bwrap_cmd --proc /proc --dev /dev --tmpfs /tmp /bin/true"

# hyperfine itself runs as nobody, so both commands are timed without the setpriv exec.
touch "$work/bench.json" && chown 65534 "$work/bench.json"
$nobody hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/bench.json" \
    "$ours" "$bwrap_cmd" >&2

python3 - "$work/bench.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
ours, bwrap = results[0]["median"], results[1]["median"]
print(f"sandbox-run median: {ours * 1000:.2f} ms")
print(f"bwrap median:       {bwrap * 1000:.2f} ms")
print(f"ratio:              {ours / bwrap:.2f} (budget <= 0.80)")
PY

rss="$($nobody /usr/bin/time -f '%M' $ours 2>&1 >/dev/null | tail -n 1)"
echo "sandbox-run peak RSS: ${rss} KiB (launcher process, /usr/bin/time)"
