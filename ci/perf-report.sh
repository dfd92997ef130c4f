#!/usr/bin/env bash
# Regenerates docs/performance.md: sandprobe and sandbox-run side by side with their peers,
# one hyperfine run per group, on this machine, with the issue's budgets marked MET or MISSED.
#
#   ci/perf-report.sh            (as root; installs hyperfine, lxc, bubblewrap, docker.io if missing)
#
# Groups:
#   1. `sandprobe check --json` (static musl and glibc builds) vs lxc-checkconfig vs moby's
#      check-config.sh (from docker.io), as root;
#   2. `sandbox-run -- /bin/true` in userns mode (static and glibc builds) vs bubblewrap at
#      equivalent flags vs `unshare -Urmpfn --mount-proc`, with hyperfine itself run as nobody;
#      then root-backed and auto mode as root vs bubblewrap run by root;
#   3. throughput: the load test (tests/load.rs) run against the release builds;
#   4. peak RSS (/usr/bin/time -f %M) of the launcher vs bubblewrap.
# Where a budget is missed, the report adds a profile (setup phases from --json-status-fd,
# strace -c, perf stat). Nothing is tuned: defaults plus a warmup, the same for every command.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
[ "$(id -u)" -eq 0 ] || { echo "perf-report: run as root (it compares both modes)" >&2; exit 2; }

cache=/var/cache/sandprobe
need=()
for pkg in hyperfine lxc bubblewrap docker.io util-linux time strace python3; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "perf-report: installing ${need[*]}" >&2
  mkdir -p "$cache/apt-archives"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o Dir::Cache::archives="$cache/apt-archives" "${need[@]}" >/dev/null
fi
moby_check=/usr/share/docker.io/contrib/check-config.sh
[ -f "$moby_check" ] || { echo "perf-report: $moby_check is missing (docker.io)" >&2; exit 2; }

musl=x86_64-unknown-linux-musl
rustup target list --installed | grep -qx "$musl" || rustup target add "$musl"
echo "perf-report: building the release binaries (glibc and static musl)" >&2
cargo build --release --quiet --bins
cargo build --release --quiet --bins --target "$musl"
# The load test's harness (a debug build is fine: it only spawns and waits; the launcher it
# drives is the release binary given in SANDPROBE_LOAD_LAUNCHER).
load_test=$(cargo test --quiet --test load --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "load" and m.get("executable"):
        print(m["executable"])')
[ -x "$load_test" ] || { echo "perf-report: could not build the load test" >&2; exit 1; }

# uid 65534 must be able to run the binaries: copies in a private 0755 directory.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
install -m 755 "target/$musl/release/sandprobe" "$work/sandprobe-static"
install -m 755 target/release/sandprobe "$work/sandprobe-glibc"
install -m 755 "target/$musl/release/sandbox-run" "$work/sandbox-run-static"
install -m 755 target/release/sandbox-run "$work/sandbox-run-glibc"
out="$work/results"
mkdir -p "$out"
chmod 777 "$out"

nobody="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"
# For the RSS samples of the root-backed rows: the same setpriv exec with a no-op id change.
asroot="setpriv --reuid=0 --regid=0 --clear-groups"
bwrap_cmd="bwrap --unshare-all --die-with-parent --new-session"
for d in /usr /bin /sbin /lib /lib64; do
  [ -e "$d" ] && bwrap_cmd="$bwrap_cmd --ro-bind $d $d"
done
bwrap_cmd="$bwrap_cmd --proc /proc --dev /dev --tmpfs /tmp /bin/true"
floor_cmd="unshare -Urmpfn --mount-proc /bin/true"

# One hyperfine run per group; every (name, command) pair is also kept for the report.
# A leading "as-nobody" runs hyperfine itself as uid 65534, so that no row pays a wrapper exec.
bench() { # [as-nobody] group, hyperfine options..., then -- and name/command pairs
  local runner=()
  if [ "$1" = as-nobody ]; then
    # shellcheck disable=SC2206 # $nobody is a command line to split into words
    runner=($nobody)
    shift
  fi
  local group=$1
  shift
  local opts=()
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  local args=()
  while [ $# -gt 0 ]; do
    args+=(-n "$1" "$2")
    printf '%s\t%s\n' "$1" "$2" >>"$out/commands.tsv"
    shift 2
  done
  "${runner[@]}" hyperfine -N "${opts[@]}" --export-json "$out/$group.json" "${args[@]}" >&2
}

echo "perf-report: group 1, the checkers" >&2
# check-config.sh exits 1 when an option is missing and lxc-checkconfig may too: -i keeps them.
bench check -i --warmup 3 --min-runs 10 -- \
  "sandprobe check --json (static musl)" "$work/sandprobe-static check --json" \
  "sandprobe check --json (glibc)" "$work/sandprobe-glibc check --json" \
  "lxc-checkconfig" "lxc-checkconfig" \
  "moby check-config.sh" "$moby_check"

echo "perf-report: group 2, launching /bin/true" >&2
# The issue's comparison: both as nobody, hyperfine itself running as nobody.
bench as-nobody launch --warmup 20 --runs 200 -- \
  "sandbox-run userns, nobody (static musl)" "$work/sandbox-run-static --mode userns -- /bin/true" \
  "sandbox-run userns, nobody (glibc)" "$work/sandbox-run-glibc --mode userns -- /bin/true" \
  "sandbox-run, no --mode, nobody (static musl)" "$work/sandbox-run-static -- /bin/true" \
  "bubblewrap, nobody" "$bwrap_cmd" \
  "floor: unshare -Urmpfn --mount-proc, nobody" "$floor_cmd"
# Root-backed mode needs a real uid of 0: its own run as root, with bubblewrap run by root (the
# same flags) as the reference, and auto mode as root (which drops root and takes userns here).
bench launch-root --warmup 20 --runs 200 -- \
  "sandbox-run root-backed, root (static musl)" "$work/sandbox-run-static --mode root-backed -- /bin/true" \
  "sandbox-run root-backed, root (glibc)" "$work/sandbox-run-glibc --mode root-backed -- /bin/true" \
  "sandbox-run auto, root (static musl)" "$work/sandbox-run-static -- /bin/true" \
  "bubblewrap, root" "$bwrap_cmd"

echo "perf-report: group 3, throughput (the load test)" >&2
: >"$out/load.txt"
for build in static glibc; do
  for t in load_200_userns_sandboxes_as_nobody load_200_root_backed_sandboxes_as_root; do
    SANDPROBE_LOAD_LAUNCHER="$work/sandbox-run-$build" CI=true \
      "$load_test" --exact "$t" --nocapture --test-threads 1 2>&1 \
      | grep -o 'load: .*' | sed "s/^load:/load: build=$build/" >>"$out/load.txt"
  done
done

echo "perf-report: group 4, peak RSS" >&2
rss() { # label, then the command; 5 samples of /usr/bin/time -f %M (KiB)
  local label=$1
  shift
  for _ in 1 2 3 4 5; do
    printf '%s\t%s\n' "$label" "$("$@" 2>&1 >/dev/null | tail -n 1)"
  done
}
{
  # shellcheck disable=SC2086 # $nobody, $asroot and $bwrap_cmd are command lines to split
  rss "sandbox-run userns, nobody (static musl)" $nobody /usr/bin/time -f %M "$work/sandbox-run-static" --mode userns -- /bin/true
  # shellcheck disable=SC2086
  rss "sandbox-run userns, nobody (glibc)" $nobody /usr/bin/time -f %M "$work/sandbox-run-glibc" --mode userns -- /bin/true
  # shellcheck disable=SC2086
  rss "sandbox-run root-backed, root (static musl)" $asroot /usr/bin/time -f %M "$work/sandbox-run-static" --mode root-backed -- /bin/true
  # shellcheck disable=SC2086
  rss "sandbox-run root-backed, root (glibc)" $asroot /usr/bin/time -f %M "$work/sandbox-run-glibc" --mode root-backed -- /bin/true
  # shellcheck disable=SC2086
  rss "bubblewrap, nobody" $nobody /usr/bin/time -f %M $bwrap_cmd
  # shellcheck disable=SC2086
  rss "baseline: /bin/true alone (glibc, dynamic), nobody" $nobody /usr/bin/time -f %M /bin/true
} >"$out/rss.tsv"

echo "perf-report: profiles (kept in the report only where a budget is missed)" >&2
# Setup phases as the launcher reports them on --json-status-fd: 30 runs per build and mode.
for build in static glibc; do
  for i in $(seq 30); do
    # shellcheck disable=SC2086
    $nobody "$work/sandbox-run-$build" --mode userns --json-status-fd 3 -- /bin/true \
      3>>"$out/phases-userns-$build.jsonl"
    "$work/sandbox-run-$build" --mode root-backed --json-status-fd 3 -- /bin/true \
      3>>"$out/phases-root-backed-$build.jsonl"
    : "$i"
  done
done
# shellcheck disable=SC2086
$nobody strace -c -f -o "$out/strace-launch-userns.txt" "$work/sandbox-run-static" --mode userns -- /bin/true
strace -c -f -o "$out/strace-launch-root-backed.txt" "$work/sandbox-run-static" --mode root-backed -- /bin/true
# shellcheck disable=SC2086
$nobody strace -c -f -o "$out/strace-bwrap.txt" $bwrap_cmd
strace -c -f -o "$out/strace-check.txt" "$work/sandprobe-static" check --json >/dev/null || true
if perf stat -e task-clock true >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  $nobody perf stat -r 50 -e task-clock,context-switches,cpu-migrations,page-faults \
    -o "$out/perf-launch-userns.txt" "$work/sandbox-run-static" --mode userns -- /bin/true
  # shellcheck disable=SC2086
  $nobody perf stat -r 50 -e task-clock,context-switches,cpu-migrations,page-faults \
    -o "$out/perf-bwrap.txt" $bwrap_cmd
  perf stat -r 20 -e task-clock,context-switches,cpu-migrations,page-faults \
    -o "$out/perf-check.txt" "$work/sandprobe-static" check --json >/dev/null || true
fi

machine="$out/machine.txt"
{
  echo "nproc=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "kernel=$(uname -r)"
  echo "memory=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "os=$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
  echo "hyperfine=$(hyperfine --version)"
  echo "bwrap=$(bwrap --version)"
  echo "lxc=$(dpkg-query -W -f='${Version}' lxc)"
  echo "docker.io=$(dpkg-query -W -f='${Version}' docker.io)"
  echo "commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "bwrap_cmd=$bwrap_cmd"
} >"$machine"

python3 - "$out" >docs/performance.md <<'PY'
"""Renders docs/performance.md from the results directory of ci/perf-report.sh."""
import json
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1])
machine = dict(
    line.split("=", 1) for line in (out / "machine.txt").read_text().splitlines() if "=" in line
)


def results(name):
    return {r["command"]: r for r in json.loads((out / name).read_text())["results"]}


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def verdict(ok):
    return "**MET**" if ok else "**MISSED**"


check = results("check.json")
launch = results("launch.json")
launch_root = results("launch-root.json")
lxc = check["lxc-checkconfig"]["median"]
bwrap = launch["bubblewrap, nobody"]["median"]
bwrap_root = launch_root["bubblewrap, root"]["median"]

rss = {}
for line in (out / "rss.tsv").read_text().splitlines():
    label, _, value = line.partition("\t")
    if value.strip().isdigit():
        rss.setdefault(label, []).append(int(value))
bwrap_rss = statistics.median(rss["bubblewrap, nobody"])

loads = []
for line in (out / "load.txt").read_text().splitlines():
    fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    loads.append(fields)

# Each launcher row is compared with the bubblewrap row of its own hyperfine run.
launch_refs = {c: (r["median"], bwrap, "bubblewrap as nobody") for c, r in launch.items()}
launch_refs.update(
    {c: (r["median"], bwrap_root, "bubblewrap as root") for c, r in launch_root.items()}
)
launchers = [c for c in launch_refs if c.startswith("sandbox-run") and "auto" not in c]
checkers = [c for c in check if c.startswith("sandprobe")]
# The budgets bind the build that ships (releases and install.sh use the static musl binaries);
# the dynamic glibc build that `cargo build --release` gives is measured against the same bars
# in a table of its own.
budgets = []
for c in checkers:
    ratio = check[c]["median"] / lxc
    budgets.append((c, f"{c}: at most 0.04× lxc-checkconfig", f"{ratio:.3f}×", ratio <= 0.04, "check"))
for c in launchers:
    median, reference, reference_name = launch_refs[c]
    ratio = median / reference
    budgets.append(
        (c, f"{c}: launch at most 0.8× {reference_name}", f"{ratio:.2f}×", ratio <= 0.8, "launch")
    )
for c in launchers:
    if c in rss:
        value = statistics.median(rss[c])
        budgets.append(
            (c, f"{c}: peak RSS at most bubblewrap's ({bwrap_rss:.0f} KiB)", f"{value:.0f} KiB",
             value <= bwrap_rss, "rss")
        )
shipped = [b[1:] for b in budgets if "static musl" in b[0]]
development = [b[1:] for b in budgets if "static musl" not in b[0]]
budgets = shipped
missed = {kind for _, _, ok, kind in shipped + development if not ok}

p = print
p("# Performance")
p()
p("<!-- Generated by ci/perf-report.sh. Do not edit by hand: rerun the script. -->")
p()
p(f"Generated by `ci/perf-report.sh` (run as root) on {machine['date']}, commit "
  f"{machine['commit']}. Every figure below is the output of that one run; the machine is shared "
  "and noisy, so the ratios (measured side by side, in one hyperfine run per group) matter more "
  "than the absolute times.")
p()
p("## Machine")
p()
p("| | |")
p("|---|---|")
for key in ["nproc", "cpu", "kernel", "memory", "os", "hyperfine", "bwrap", "lxc", "docker.io"]:
    p(f"| {key} | {machine.get(key, 'unknown')} |")
p()
p("## Budgets (from the robustness issue)")
p()
p("The budgets bind the build that ships: releases and `install.sh` use the static musl "
  "binaries (`cargo build --release --target x86_64-unknown-linux-musl --bins`). Ratios are of "
  "hyperfine medians, each against the peer in the same hyperfine run.")
p()
p("| budget | measured | result |")
p("|---|---|---|")
for text, value, ok, _ in shipped:
    p(f"| {text} | {value} | {verdict(ok)} |")
p()
p("The development build, what a plain `cargo build --release` gives (dynamically linked "
  "against glibc), measured against the same bars. It is not what ships; its extra cost is the "
  "dynamic loader and the shared libraries' pages (see the `/bin/true` baseline in section 4):")
p()
p("| development build | measured | within the bar |")
p("|---|---|---|")
for text, value, ok, _ in development:
    p(f"| {text} | {value} | {'yes' if ok else 'no'} |")
p()

p("## 1. Checking the host")
p()
p("`hyperfine -N -i --warmup 3 --min-runs 10`, as root, the checkers side by side. "
  "`sandprobe check --json` includes its live staged trials (it forks and creates namespaces); "
  "the two peers only read the kernel config.")
p()
p("| command | median | mean ± σ | min | runs | vs lxc-checkconfig |")
p("|---|---|---|---|---|---|")
for c, r in check.items():
    p(f"| {c} | {ms(r['median'])} | {ms(r['mean'])} ± {ms(r['stddev'] or 0)} | {ms(r['min'])} "
      f"| {len(r['times'])} | {r['median'] / lxc:.3f}× |")
p()

p("## 2. Launching `/bin/true`")
p()
p("`hyperfine -N --warmup 20 --runs 200`, in two runs. The issue's comparison runs with "
  "hyperfine itself started as uid 65534 (`setpriv --reuid=65534 --regid=65534 --clear-groups "
  "--inh-caps=-all hyperfine …`), so no row pays a wrapper: the userns rows, bubblewrap and the "
  "floor. Root-backed mode needs a real uid of 0, so its rows have a run of their own as root, "
  "with bubblewrap started by root (same flags) as their reference, and `auto` as root (which "
  "drops root for good and takes userns on this host). `sandbox-run, no --mode` is the issue's "
  "command as written (`sandbox-run -- /bin/true`): for an unprivileged invoker auto takes "
  "userns at once, with no probe.")
p()
p(f"bubblewrap's flags: `{machine['bwrap_cmd']}`.")
p()
for title, rows, reference in [
    ("As nobody (the budget's comparison)", launch, bwrap),
    ("As root", launch_root, bwrap_root),
]:
    p(f"**{title}**")
    p()
    p("| command | median | mean ± σ | min | vs bubblewrap (same run) |")
    p("|---|---|---|---|---|")
    for c, r in rows.items():
        p(f"| {c} | {ms(r['median'])} | {ms(r['mean'])} ± {ms(r['stddev'] or 0)} | {ms(r['min'])} "
          f"| {r['median'] / reference:.2f}× |")
    p()
p("`auto` as root is not a budget row: before it launches, it runs the selector's probes "
  "(the same live trials as `sandprobe check`) to choose a mode, so it costs about one check "
  "more. Services that know their mode pass `--mode` (docs/examples/sandboxed-app.service "
  "does).")
p()

p("## 3. Throughput under load")
p()
p("The load test itself (`tests/load.rs`: `load_200_userns_sandboxes_as_nobody` and "
  "`load_200_root_backed_sandboxes_as_root`), run with `SANDPROBE_LOAD_LAUNCHER` pointing at the "
  "release builds. Each sandbox writes and reads back a file in /tmp, reads /proc/self/status and "
  "exits with a chosen code or dies of a chosen signal; 2 × nproc run at a time; every exit code "
  "is checked, and the host is checked for leaked mounts and processes afterwards. Peak RSS here "
  "is `ru_maxrss` from wait4: the largest process of each launcher's tree (launcher, sandbox init, "
  "payload shell).")
p()
p("| build | mode | sandboxes | at a time | wall | sandboxes/s | peak RSS, max (median) |")
p("|---|---|---|---|---|---|---|")
for f in loads:
    p(f"| {f.get('build')} | {f.get('mode')} | {f.get('sandboxes')} | {f.get('parallel')} | "
      f"{float(f.get('wall_s', 'nan')):.2f} s | {f.get('throughput_per_s')} | "
      f"{f.get('peak_rss_kib_max')} KiB ({f.get('peak_rss_kib_median')} KiB) |")
if not loads:
    p("| (the load test printed no figures: see the script's output) | | | | | | |")
p()

p("## 4. Peak RSS")
p()
p("`/usr/bin/time -f %M` around the launcher, 5 samples each. `%M` is the `ru_maxrss` that wait4 "
  "returns: the largest single process of the tree (both launchers fork), in KiB.")
p()
p("| command | median | min | max | vs bubblewrap |")
p("|---|---|---|---|---|")
for label, values in rss.items():
    med = statistics.median(values)
    p(f"| {label} | {med:.0f} KiB | {min(values)} KiB | {max(values)} KiB | {med / bwrap_rss:.2f}× |")
p()


def block(path, limit=None):
    f = out / path
    if not f.exists():
        return
    lines = [l for l in f.read_text().splitlines() if l.strip()]
    if limit:
        lines = lines[:limit]
    p("```")
    for l in lines:
        p(l)
    p("```")
    p()


LAUNCHER_SIDE = {"parse_args", "choose_mode", "plan", "prepare", "pipes_and_signals", "clone",
                 "sandbox_setup"}


def phases(name):
    runs = []
    for line in (out / name).read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "setup_times":
            runs.append(event["phases_us"])
    return runs


p("## Profiles")
p()
p("The launch profile is always kept; the others only where a bar is missed, by either build.")
p()
p("### Where the launch time goes")
p()
p("Medians over 30 runs of `--json-status-fd` `setup_times` (µs), per build and mode. "
  "Launcher-side phases are sequential; `sandbox_setup` is the launcher waiting for the "
  "sandbox's init, whose own steps (the other rows, in the new namespaces) it contains. "
  "`clone` creates every namespace but the network one, which a helper thread of the sandbox's "
  "pid 1 builds while the root is mounted; `net_namespace_join` is pid 1 waiting for it.")
p()
tables = {}
for mode in ["userns", "root-backed"]:
    for build in ["static", "glibc"]:
        f = out / f"phases-{mode}-{build}.jsonl"
        if f.exists():
            tables[f"{mode} ({build})"] = phases(f.name)
names = sorted({k for runs in tables.values() for r in runs for k in r},
               key=lambda k: (k not in LAUNCHER_SIDE, k))
p("| phase | side | " + " | ".join(tables) + " |")
p("|---|---|" + "---|" * len(tables))
for k in names:
    cells = []
    for runs in tables.values():
        vals = [r[k] for r in runs if k in r]
        cells.append(f"{statistics.median(vals):.0f}" if vals else "")
    side = "launcher" if k in LAUNCHER_SIDE else "sandbox"
    p(f"| {k} | {side} | " + " | ".join(cells) + " |")
totals = []
for runs in tables.values():
    totals.append(f"{statistics.median(sum(v for k, v in r.items() if k in LAUNCHER_SIDE) for r in runs):.0f}")
p("| **launcher total** | | " + " | ".join(totals) + " |")
p()
for label, runs in tables.items():
    meds = {k: statistics.median([r[k] for r in runs if k in r]) for k in names
            if k != "sandbox_setup" and any(k in r for r in runs)}
    top = sorted(meds.items(), key=lambda kv: -kv[1])[:5]
    p(f"- {label}: the largest phases are " + ", ".join(f"{k} {v:.0f} µs" for k, v in top)
      + f"; the sandbox's own steps add up to {sum(v for k, v in meds.items() if k not in LAUNCHER_SIDE):.0f} µs.")
p()
p("`strace -c -f` of one userns launch as nobody (static build), then one root-backed launch "
  "(top of the table), then bubblewrap's for comparison:")
p()
block("strace-launch-userns.txt", 22)
block("strace-launch-root-backed.txt", 22)
block("strace-bwrap.txt", 22)
if (out / "perf-launch-userns.txt").exists():
    p("`perf stat -r 50` (software events) of the userns launch (static build), then of bubblewrap:")
    p()
    block("perf-launch-userns.txt")
    block("perf-bwrap.txt")
if "check" in missed:
    p("### Where the check time goes")
    p()
    p("`strace -c -f` of one `sandprobe check --json` (static build):")
    p()
    block("strace-check.txt", 22)
    block("perf-check.txt")
if "rss" in missed:
    p("### Where the memory goes")
    p()
    p("Peak RSS counts resident pages, shared library pages included. The glibc build maps "
      "libc.so.6 and libgcc_s.so.1 and runs the dynamic loader; the baseline row of section 4 "
      "(`/bin/true` alone, a dynamic glibc program that does nothing) shows how much of the "
      "figure that alone accounts for. The static musl build maps no shared library.")
    p()

p("## The commands")
p()
p("Regenerate this page (as root) with `ci/perf-report.sh`. The binaries are copies of the "
  "release builds in a private 0755 directory (shown as `$BIN`), so that uid 65534 can run them.")
p()
p("| name | command |")
p("|---|---|")
for line in (out / "commands.tsv").read_text().splitlines():
    name, _, command = line.partition("\t")
    command = command.replace(str(out.parent), "$BIN")
    p(f"| {name} | `{command}` |")
PY
echo "perf-report: wrote docs/performance.md" >&2
