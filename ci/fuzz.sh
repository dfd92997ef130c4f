#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for SECONDS (default 20), one target at a
# time with a single job, seeding every corpus from fixtures/ first. Fails on any crash, leak or
# timeout; the input that caused it is left in fuzz/artifacts/TARGET/.
#
#   ci/fuzz.sh [SECONDS [TARGET...]]
#
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass the -Z flags it needs
# (sanitizer and coverage instrumentation). See fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true
all_targets=(kernel_release kconfig sysctl_cmdline fixture_load launcher_args matrix_result)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
case "$seconds" in '' | *[!0-9]*) echo "fuzz: SECONDS must be a number, not '$seconds'" >&2; exit 2 ;; esac

export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

corpus=fuzz/corpus
logs=target/fuzz-logs
mkdir -p "$logs"

# Copies $2 to $corpus/$1/$3 unless a file of that name is already there.
seed() {
  mkdir -p "$corpus/$1"
  [ -e "$corpus/$1/$3" ] || cp "$2" "$corpus/$1/$3"
}

# Writes stdin to $corpus/$1/$2 unless a file of that name is already there.
seed_from_stdin() {
  mkdir -p "$corpus/$1"
  if [ -e "$corpus/$1/$2" ]; then cat >/dev/null; else cat >"$corpus/$1/$2"; fi
}

# The fixture directory $1 as one fixture_load input: `=== PATH` header lines, each file's bytes
# up to the newline before the next header.
pack_fixture() {
  (cd "$1" && find . -type f ! -name NOTES.md | sed 's|^\./||' | LC_ALL=C sort | while IFS= read -r rel; do
    printf '=== %s\n' "$rel"
    cat -- "$rel"
    printf '\n'
  done)
}

# The newest sandprobe binary built in this tree, if any (an old one may not read the fixtures:
# its replays are then skipped).
sandprobe_bin=""
for candidate in target/release/sandprobe target/x86_64-unknown-linux-musl/release/sandprobe target/debug/sandprobe; do
  if [ -x "$candidate" ] && { [ -z "$sandprobe_bin" ] || [ "$candidate" -nt "$sandprobe_bin" ]; }; then
    sandprobe_bin=$candidate
  fi
done

# launcher_args: a flag byte (bit 0 root-backed, bit 1 root invoker), then NUL-separated argv.
launcher_seed() {
  local name=$1 flag=$2
  shift 2
  { printf '%b' "\\0$flag"; printf '%s' "$1"; shift; printf '\0%s' "$@"; } | seed_from_stdin launcher_args "$name"
}

echo "fuzz: seeding $corpus/ from fixtures/"
for dir in fixtures/*/; do
  name=$(basename "$dir")
  # kernel_release: the release, a NUL, then /proc/version.
  if [ -f "$dir/proc/sys/kernel/osrelease" ]; then
    { cat "$dir/proc/sys/kernel/osrelease"; printf '\0'; cat "$dir/proc/version" 2>/dev/null || true; } |
      seed_from_stdin kernel_release "$name"
  fi
  # kconfig: every config, plain and gzip'd.
  for config in "$dir"boot/config-* "$dir"proc/config.gz; do
    [ -f "$config" ] && seed kconfig "$config" "$name-$(basename "$config")"
  done
  # sysctl_cmdline: the command line, the numeric knobs and the module parameters.
  for knob in proc/cmdline proc/sys/user/max_user_namespaces proc/sys/kernel/unprivileged_userns_clone \
    proc/sys/kernel/apparmor_restrict_unprivileged_userns sys/module/apparmor/parameters/enabled \
    sys/module/user_namespace/parameters/enable; do
    [ -f "$dir/$knob" ] && seed sysctl_cmdline "$dir/$knob" "$name-$(basename "$knob")"
  done
  pack_fixture "$dir" | seed_from_stdin fixture_load "$name"
  # matrix_result: the fixture replayed by `check --json`, when a binary is at hand.
  if [ -n "$sandprobe_bin" ] && [ ! -e "$corpus/matrix_result/$name.json" ]; then
    mkdir -p "$corpus/matrix_result"
    # The exit status is the verdict (unsupported is non-zero); a report is kept either way.
    "$sandprobe_bin" check --json --root "$dir" >"$corpus/matrix_result/.$name.json" 2>/dev/null || true
    if [ "$(head -c 1 "$corpus/matrix_result/.$name.json")" = "{" ]; then
      mv "$corpus/matrix_result/.$name.json" "$corpus/matrix_result/$name.json"
    else
      rm -f "$corpus/matrix_result/.$name.json"
    fi
  fi
  # launcher_args: the fixture's host as the launcher would meet it: every mount point of its
  # mountinfo bound into the sandbox (read-only and writable in turn), the mode its verdict
  # chose (bit 0) and its invoker (bit 1 when uid 0).
  if [ -f "$dir/proc/self/mountinfo" ]; then
    flag=0
    grep -qE '^Uid:[[:space:]]+0[[:space:]]' "$dir/proc/self/status" 2>/dev/null && flag=2
    if [ -f "$corpus/matrix_result/$name.json" ] && [ "$(python3 -c \
      'import json, sys; print(json.load(open(sys.argv[1]))["verdict"]["mode"])' \
      "$corpus/matrix_result/$name.json" 2>/dev/null)" = root-backed ]; then
      flag=$((flag | 1))
    fi
    binds=()
    kind=--ro-bind
    while IFS= read -r point; do
      binds+=("$kind" "$point" "$point")
      if [ "$kind" = --ro-bind ]; then kind=--bind; else kind=--ro-bind; fi
    done < <(awk '{ print $5 }' "$dir/proc/self/mountinfo")
    launcher_seed "fixture-$name" "$flag" "${binds[@]}" --tmpfs /tmp -- /bin/true
  fi
done
for result in ci/results/*/*.json; do
  [ -f "$result" ] && seed matrix_result "$result" "$(basename "$result")"
done
launcher_seed true 0 /bin/true
launcher_seed binds 1 --ro-bind /usr /usr --bind /srv/data /data --tmpfs /scratch -- /bin/sh -c 'exit 3'
launcher_seed env 2 --setenv FOO bar --chdir /tmp --hostname box --share-net env
launcher_seed limits 3 --mode root-backed --user alice --rlimit nofile=64:128 --rlimit as=infinity \
  --json-status-fd 3 -v /usr/bin/id
launcher_seed user 2 --user 1000 --mode userns --ro-bind /etc/passwd /etc/passwd cat /etc/passwd

echo "fuzz: building the targets (cargo fuzz build -a: release, with debug assertions)"
cargo fuzz build -a

status=0
for target in "${targets[@]}"; do
  log="$logs/$target.log"
  echo "fuzz: $target for ${seconds}s (log: $log)"
  if ! cargo fuzz run -a "$target" "$corpus/$target" -- \
    -max_total_time="$seconds" -timeout=25 -print_final_stats=1 >"$log" 2>&1; then
    echo "fuzz: $target FAILED; the last lines of its log:" >&2
    tail -n 40 "$log" >&2
    status=1
  fi
  # fixture_load's scratch directories (one per fuzzing process) on /dev/shm or $TMPDIR.
  for scratch in /dev/shm/sandprobe-fuzz-fixture-* "${TMPDIR:-/tmp}"/sandprobe-fuzz-fixture-*; do
    [ -d "$scratch" ] && ! kill -0 "${scratch##*-}" 2>/dev/null && rm -rf -- "$scratch"
  done
  execs=$(awk '/stat::number_of_executed_units:/ { print $2 }' "$log" | tail -n 1)
  rate=$(awk '/stat::average_exec_per_sec:/ { print $2 }' "$log" | tail -n 1)
  # The corpus the fuzzer ended with (its last status line); the directory also keeps every
  # input it replaced (`cargo fuzz cmin TARGET` prunes those).
  kept=$(grep -o 'corp: [0-9]*/[0-9]*[bKM]*' "$log" | tail -n 1 | cut -d' ' -f2)
  files=$(find "$corpus/$target" -type f | wc -l)
  echo "fuzz: $target: ${seconds}s, ${execs:-?} execs, ${rate:-?} exec/s, corpus ${kept:-?} (inputs/size; $files files on disk)"
done
exit "$status"
