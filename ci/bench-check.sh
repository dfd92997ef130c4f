#!/usr/bin/env bash
# Benchmarks `sandprobe check --json` (live trials included) side by side with lxc-checkconfig,
# as root and as nobody, and prints the medians and their ratio.
#
#   ci/bench-check.sh [--runs N]
#
# Needs hyperfine and lxc (Debian packages); run as root. Writes target/bench/check.json.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=100
[ "${1:-}" = "--runs" ] && runs="$2"

for tool in hyperfine lxc-checkconfig setpriv; do
  command -v "$tool" >/dev/null || { echo "bench-check: $tool is missing (apt-get install hyperfine lxc util-linux)" >&2; exit 2; }
done

cargo build --release --quiet --bin sandprobe
out=target/bench
mkdir -p "$out"
# uid 65534 must be able to run the binary: copy it to a world-readable place.
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
chmod 755 "$bin_dir"
install -m 755 target/release/sandprobe "$bin_dir/sandprobe"
nobody="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"

hyperfine -N --warmup 20 --runs "$runs" --export-json "$out/check.json" \
  -n "sandprobe check --json (root)" "$bin_dir/sandprobe check --json" \
  -n "sandprobe check --json (nobody)" "$nobody $bin_dir/sandprobe check --json" \
  -n "lxc-checkconfig" "lxc-checkconfig" \
  -n "floor: unshare -Urmpfn --mount-proc /bin/true" "unshare -Urmpfn --mount-proc /bin/true" >&2

python3 - "$out/check.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
lxc = results["lxc-checkconfig"]["median"]
print(f"{'command':48} {'median':>9} {'vs lxc-checkconfig':>19}")
for name, r in results.items():
    print(f"{name:48} {r['median']*1000:7.2f}ms {r['median']/lxc:18.3f}x")
PY
