#!/usr/bin/env bash
# Benchmarks `sandprobe check --json` (live trials included) side by side with lxc-checkconfig,
# as root and as nobody, and prints the medians and their ratio.
#
#   ci/bench-check.sh [--runs N]
#
# Needs hyperfine and lxc (Debian packages) and the musl target
# (rustup target add x86_64-unknown-linux-musl); run as root. Writes target/bench/check.json.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=100
[ "${1:-}" = "--runs" ] && runs="$2"

for tool in hyperfine lxc-checkconfig setpriv; do
  command -v "$tool" >/dev/null || { echo "bench-check: $tool is missing (apt-get install hyperfine lxc util-linux)" >&2; exit 2; }
done

# Both builds: the static musl binary is the one releases ship; the glibc one is what
# `cargo run --release` gives.
cargo build --release --quiet --bin sandprobe
musl=x86_64-unknown-linux-musl
cargo build --release --quiet --bin sandprobe --target "$musl"
out=target/bench
mkdir -p "$out"
# uid 65534 must be able to run the binary: copy it to a world-readable place.
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
chmod 755 "$bin_dir"
install -m 755 target/release/sandprobe "$bin_dir/sandprobe"
install -m 755 "target/$musl/release/sandprobe" "$bin_dir/sandprobe-static"
nobody="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"

hyperfine -N --warmup 20 --runs "$runs" --export-json "$out/check.json" \
  -n "sandprobe check --json (static, root)" "$bin_dir/sandprobe-static check --json" \
  -n "sandprobe check --json (glibc, root)" "$bin_dir/sandprobe check --json" \
  -n "setpriv + sandprobe check --json (static, nobody)" "$nobody $bin_dir/sandprobe-static check --json" \
  -n "setpriv alone (the cost of becoming nobody)" "$nobody /bin/true" \
  -n "lxc-checkconfig" "lxc-checkconfig" \
  -n "floor: unshare -Urmpfn --mount-proc /bin/true" "unshare -Urmpfn --mount-proc /bin/true" >&2

python3 - "$out/check.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
lxc = results["lxc-checkconfig"]["median"]
print(f"{'command':52} {'median':>9} {'vs lxc-checkconfig':>19}")
for name, r in results.items():
    print(f"{name:52} {r['median']*1000:7.2f}ms {r['median']/lxc:18.3f}x")
PY
