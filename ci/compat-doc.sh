#!/bin/sh
# Regenerates docs/compatibility.md from the fixtures and the committed measured results
# (ci/results/kernels from ci/kernels.sh --update, ci/results/containers from
# ci/containers.sh --update).
set -eu
cd "$(dirname "$0")/.."
inputs="fixtures"
for dir in ci/results/kernels ci/results/containers; do
    [ -d "$dir" ] && inputs="$inputs $dir"
done
cargo build --quiet --bin sandprobe
# shellcheck disable=SC2086 # the inputs are plain relative paths without spaces
./target/debug/sandprobe matrix --markdown $inputs > docs/compatibility.md
echo "compat-doc: wrote docs/compatibility.md from $inputs"
