//! Load and resource-limit tests of the built `sandbox-run`: many sandboxes at once, and the
//! launcher under the pids and memory rlimits, with nothing leaked afterwards.
//!
//! Every sandbox is built by the spawned binary; this process only spawns, waits (wait4, for
//! the exit status and the peak RSS of the launcher's process tree) and inspects /proc.
//! The tests take one lock, so the leak checks and the figures see only their own sandboxes.
//!
//! Figures (throughput, peak RSS) are printed with `eprintln!` as lines starting `load:`;
//! ci/perf-report.sh reads them. Timings are never asserted: the machine is shared.
//! `SANDPROBE_LOAD_LAUNCHER=/path/to/sandbox-run` runs the tests against another build (for
//! instance the release or static one) instead of the one cargo built for the tests.
//!
//! A missing prerequisite (root, setpriv, prlimit, python3) fails the tests when `CI=true` and
//! is reported loudly otherwise.

mod support;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use support::processes::leftovers;
use support::AS_NOBODY;

/// One test at a time: the leak checks look at the whole host.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Returns false (after saying so loudly) when a prerequisite is missing; panics under CI=true.
fn prerequisites() -> bool {
    let mut missing = Vec::new();
    if !support::is_root() {
        missing.push("root".to_owned());
    }
    for tool in ["setpriv", "prlimit", "python3"] {
        if !support::have(tool) {
            missing.push(tool.to_owned());
        }
    }
    support::require(
        missing.is_empty(),
        &format!("the load tests need {}", missing.join(", ")),
    )
}

/// The launcher under test, copied to a 0755 directory so uid 65534 can run it.
struct Launcher {
    _copy: support::WorldCopy,
    path: PathBuf,
}

fn launcher() -> Launcher {
    let source = std::env::var_os("SANDPROBE_LOAD_LAUNCHER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sandbox-run")));
    let copy = support::world_copy(&source);
    let path = copy.path.clone();
    Launcher { _copy: copy, path }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `--mode userns`, run as uid 65534 through setpriv.
    UsernsNobody,
    /// `--mode root-backed`, run as root.
    RootBacked,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::UsernsNobody => "userns",
            Mode::RootBacked => "root-backed",
        }
    }
}

/// A unique word that marks every process of one test: in the payload's environment (through
/// `--setenv`, so children inherit it) and in its command line.
fn new_marker(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("sandprobe-load-{test}-{}-{nanos}", std::process::id())
}

/// The launcher in `mode` with `args`, stdout discarded and stderr captured.
fn command(launcher: &Launcher, mode: Mode, marker: &str, args: &[&str]) -> Command {
    let mut cmd = match mode {
        Mode::UsernsNobody => {
            let mut cmd = Command::new("setpriv");
            cmd.args(AS_NOBODY).arg(&launcher.path);
            cmd
        }
        Mode::RootBacked => Command::new(&launcher.path),
    };
    cmd.args([
        "--mode",
        mode.name(),
        "--setenv",
        "SANDPROBE_LOAD_MARK",
        marker,
    ])
    .args(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// What one launcher run ended with.
#[derive(Debug, Clone)]
struct Run {
    /// The exit code, or 128+N when the launcher itself died of signal N.
    code: i32,
    /// Whether the launcher itself (not its payload) was killed by a signal.
    signaled: bool,
    stderr: String,
    /// ru_maxrss of the launcher's process tree (wait4), in KiB.
    max_rss_kib: i64,
}

impl Run {
    fn launcher_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("sandbox-run:"))
            .collect()
    }
}

/// Spawns, retrying on ETXTBSY: a child forked elsewhere in this process may still hold the
/// launcher copy's write descriptor for a moment, until its own exec closes it.
fn spawn(cmd: &mut Command) -> std::process::Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other.unwrap_or_else(|e| panic!("failed to spawn {cmd:?}: {e}")),
        }
    }
}

/// Spawns and waits with wait4, for the status and the rusage of this one child.
// The child is reaped by wait4 below, which std's Child does not know about.
#[allow(clippy::zombie_processes)]
fn run(mut cmd: Command) -> Run {
    let mut child = spawn(&mut cmd);
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own unreaped child; status and usage are valid for writes.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::EINTR),
            "wait4({pid}) failed: {err}"
        );
    }
    let (code, signaled) = if libc::WIFEXITED(status) {
        (libc::WEXITSTATUS(status), false)
    } else {
        (128 + libc::WTERMSIG(status), true)
    };
    Run {
        code,
        signaled,
        stderr,
        max_rss_kib: usage.ru_maxrss,
    }
}

/// Runs `jobs` commands, `parallel` at a time; returns the runs in job order and the wall time.
fn run_all(jobs: Vec<Command>, parallel: usize) -> (Vec<Run>, Duration) {
    let total = jobs.len();
    let queue: Mutex<Vec<Option<Command>>> = Mutex::new(jobs.into_iter().map(Some).collect());
    let results: Mutex<Vec<Option<Run>>> = Mutex::new(vec![None; total]);
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    break;
                }
                let cmd = queue.lock().expect("queue")[i]
                    .take()
                    .expect("job taken once");
                let outcome = run(cmd);
                results.lock().expect("results")[i] = Some(outcome);
            });
        }
    });
    let elapsed = start.elapsed();
    let runs = results
        .into_inner()
        .expect("results")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect();
    (runs, elapsed)
}

fn parallelism() -> usize {
    2 * std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

// ---------------------------------------------------------------------------------------------
// Leak checks: the host's mount table, leftover processes, zombies.

/// The host's mount table, without the lines of Docker's own mounts (dockerd may be running
/// for other tests and mounts and unmounts there on its own).
fn host_mounts() -> BTreeSet<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo");
    mount_lines(&text)
}

fn mount_lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| {
            let mount_point = line.split(' ').nth(4).unwrap_or("");
            !["/var/lib/docker", "/run/docker"]
                .iter()
                .any(|p| mount_point == *p || mount_point.starts_with(&format!("{p}/")))
        })
        .map(str::to_owned)
        .collect()
}

/// Asserts that the host's mount table is as it was and that no process of the test is left.
fn assert_nothing_leaked(before: &BTreeSet<String>, launcher: &Launcher, marker: &str) {
    let after = host_mounts();
    let added: Vec<_> = after.difference(before).collect();
    let removed: Vec<_> = before.difference(&after).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "the host's mount table changed:\n added: {added:#?}\n removed: {removed:#?}"
    );
    let left: Vec<String> = leftovers(&launcher.path, marker)
        .iter()
        .map(|p| format!("pid {} (state {}) {}: {}", p.pid, p.state, p.why, p.cmdline))
        .collect();
    assert!(
        left.is_empty(),
        "processes left behind:\n{}",
        left.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The load runs.

/// The payload of sandbox `i`: writes and reads back a file in /tmp, reads /proc/self/status
/// (and checks no_new_privs and the uid there), then exits with its code or kills itself.
const PAYLOAD: &str = r#"echo "$1" > /tmp/work && [ "$(cat /tmp/work)" = "$1" ] || exit 101
grep -q "^NoNewPrivs:[[:space:]]*1" /proc/self/status || exit 102
grep -q "^Uid:[[:space:]]*65534[[:space:]]" /proc/self/status || exit 103
case "$2" in
  TERM|KILL) kill -s "$2" $$; exit 104 ;;
  *) exit "$2" ;;
esac"#;

/// Sandbox `i` ends with exit code i % 7, except every 10th+3 dies of SIGTERM and every
/// 10th+7 of SIGKILL. Returns the payload's argument and the expected exit code.
fn expected(i: usize) -> (String, i32) {
    match i % 10 {
        3 => ("TERM".to_owned(), 128 + libc::SIGTERM),
        7 => ("KILL".to_owned(), 128 + libc::SIGKILL),
        _ => ((i % 7).to_string(), (i % 7) as i32),
    }
}

fn load(mode: Mode, count: usize) {
    let _serial = serial();
    if !prerequisites() {
        return;
    }
    let launcher = launcher();
    let marker = new_marker(&format!("{}-{count}", mode.name()));
    let before = host_mounts();
    let mut jobs = Vec::with_capacity(count);
    let mut wanted = Vec::with_capacity(count);
    for i in 0..count {
        let (arg, code) = expected(i);
        let id = i.to_string();
        jobs.push(command(
            &launcher,
            mode,
            &marker,
            &["--", "/bin/sh", "-c", PAYLOAD, &marker, &id, &arg],
        ));
        wanted.push(code);
    }
    let parallel = parallelism();
    let (runs, elapsed) = run_all(jobs, parallel);

    let wrong: Vec<String> = runs
        .iter()
        .zip(&wanted)
        .enumerate()
        .filter(|(_, (run, want))| run.code != **want || run.signaled || !run.stderr.is_empty())
        .map(|(i, (run, want))| {
            format!(
                "sandbox {i}: wanted {want}, got {} (launcher signaled: {}), stderr {:?}",
                run.code, run.signaled, run.stderr
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {count} sandboxes ended wrongly ({} mode):\n{}",
        wrong.len(),
        mode.name(),
        wrong.join("\n")
    );
    assert_nothing_leaked(&before, &launcher, &marker);

    let mut rss: Vec<i64> = runs.iter().map(|r| r.max_rss_kib).collect();
    rss.sort_unstable();
    let throughput = count as f64 / elapsed.as_secs_f64();
    eprintln!(
        "load: mode={} sandboxes={count} parallel={parallel} wall_s={:.3} throughput_per_s={:.1} \
         peak_rss_kib_max={} peak_rss_kib_median={} launcher={}",
        mode.name(),
        elapsed.as_secs_f64(),
        throughput,
        rss.last().copied().unwrap_or(0),
        rss[rss.len() / 2],
        launcher_source(),
    );
}

fn launcher_source() -> String {
    std::env::var("SANDPROBE_LOAD_LAUNCHER")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_sandbox-run").to_owned())
}

#[test]
fn load_200_userns_sandboxes_as_nobody() {
    load(Mode::UsernsNobody, 200);
}

#[test]
fn load_200_root_backed_sandboxes_as_root() {
    load(Mode::RootBacked, 200);
}

/// What one sandbox of the limited load is given, and so how it must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitedJob {
    /// The ordinary payload, no limit: its own exit code, nothing on stderr.
    Unlimited,
    /// `--rlimit nproc=4` and a payload that starts 20 background processes.
    PidsLimit,
    /// `--rlimit as=256 MiB` and a payload that allocates 512 MiB.
    MemoryLimit,
}

/// 200 sandboxes in each mode, 2 × nproc at a time, a third of them under a pids limit and a
/// third under a memory limit: every one ends as it must (the payload's own failure, or the
/// launcher's one line with a documented code), and nothing is left behind.
#[test]
fn load_200_sandboxes_under_pids_and_memory_limits() {
    let _serial = serial();
    if !prerequisites() {
        return;
    }
    let launcher = launcher();
    for mode in [Mode::UsernsNobody, Mode::RootBacked] {
        let marker = new_marker(&format!("limited-{}", mode.name()));
        let before = host_mounts();
        let forker = "i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; wait";
        let mut jobs = Vec::new();
        let mut kinds = Vec::new();
        for i in 0..200usize {
            let (arg, _) = expected(i);
            let id = i.to_string();
            // Root-backed payloads run as host uids, which RLIMIT_NPROC counts host-wide: each
            // limited one gets a uid of its own.
            let own_uid = (64000 + i).to_string();
            let (kind, args): (LimitedJob, Vec<&str>) = match i % 3 {
                0 => (
                    LimitedJob::Unlimited,
                    vec!["--", "/bin/sh", "-c", PAYLOAD, &marker, &id, &arg],
                ),
                1 => {
                    let mut args = vec!["--rlimit", "nproc=4"];
                    if mode == Mode::RootBacked {
                        args.extend(["--user", own_uid.as_str()]);
                    }
                    args.extend(["--", "/bin/sh", "-c", forker, &marker]);
                    (LimitedJob::PidsLimit, args)
                }
                _ => (
                    LimitedJob::MemoryLimit,
                    vec![
                        "--rlimit",
                        "as=268435456",
                        "--",
                        "python3",
                        "-c",
                        "bytearray(512 << 20)",
                        &marker,
                    ],
                ),
            };
            jobs.push(command(&launcher, mode, &marker, &args));
            kinds.push((kind, expected(i).1));
        }
        let parallel = parallelism();
        let (runs, elapsed) = run_all(jobs, parallel);
        let wrong: Vec<String> = runs
            .iter()
            .zip(&kinds)
            .enumerate()
            .filter(|(_, (run, (kind, code)))| !ended_as_it_must(run, *kind, *code))
            .map(|(i, (run, (kind, _)))| format!("sandbox {i} ({kind:?}): {run:?}"))
            .collect();
        assert!(
            wrong.is_empty(),
            "{} of 200 limited sandboxes ended wrongly ({} mode):\n{}",
            wrong.len(),
            mode.name(),
            wrong.join("\n")
        );
        assert_nothing_leaked(&before, &launcher, &marker);
        eprintln!(
            "load under limits: mode={} sandboxes=200 parallel={parallel} wall_s={:.3} \
             throughput_per_s={:.1}",
            mode.name(),
            elapsed.as_secs_f64(),
            200.0 / elapsed.as_secs_f64(),
        );
    }
}

fn ended_as_it_must(run: &Run, kind: LimitedJob, unlimited_code: i32) -> bool {
    if run.signaled {
        return false;
    }
    match kind {
        LimitedJob::Unlimited => run.code == unlimited_code && run.stderr.is_empty(),
        // The shell's own "Cannot fork" (exit 2); or, when the payload's uid is already over the
        // limit at the id change, its execve fails with EAGAIN, which the launcher reports in
        // one line with 126.
        LimitedJob::PidsLimit => {
            (run.code == 2 && run.stderr.contains("Cannot fork") && run.launcher_lines().is_empty())
                || (run.code == 126
                    && run.stderr.lines().count() == 1
                    && run.stderr.contains("a resource limit was reached"))
        }
        LimitedJob::MemoryLimit => {
            run.code == 1 && run.stderr.contains("MemoryError") && run.launcher_lines().is_empty()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pids rlimit.

/// In root-backed mode the payload runs as a host uid, so RLIMIT_NPROC counts every process of
/// that uid on the host: these tests give the payload a uid of its own.
const NPROC_UID: &str = "64990";
const BUSY_UID: &str = "64991";

/// A payload that tries to start 20 background processes under `--rlimit nproc=4`: its shell
/// fails to fork ("Cannot fork", exit 2). That is the payload's own failure: the launcher adds
/// no line, and the pid namespace takes the background processes with it.
#[test]
fn payload_over_its_nproc_rlimit_fails_with_its_own_code() {
    let _serial = serial();
    if !prerequisites() {
        return;
    }
    let launcher = launcher();
    for mode in [Mode::UsernsNobody, Mode::RootBacked] {
        let marker = new_marker("nproc-payload");
        let before = host_mounts();
        let forker = "i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; wait";
        let mut args = vec!["--rlimit", "nproc=4"];
        if mode == Mode::RootBacked {
            args.extend(["--user", NPROC_UID]);
        }
        args.extend(["--", "/bin/sh", "-c", forker, &marker]);
        let out = run(command(&launcher, mode, &marker, &args));
        assert_eq!(out.code, 2, "{} mode: {out:?}", mode.name());
        assert!(
            out.stderr.contains("Cannot fork") && out.launcher_lines().is_empty(),
            "{} mode: the shell reports the failure, the launcher adds nothing: {out:?}",
            mode.name()
        );
        assert_nothing_leaked(&before, &launcher, &marker);
    }
}

/// Root-backed, when the payload's uid already has more host processes than `--rlimit nproc`
/// allows: the id change marks the payload as over the limit and its execve fails with EAGAIN.
/// The launcher's exec step reports it in one line with 126 (found but not executable).
#[test]
fn root_backed_payload_whose_uid_is_over_the_nproc_rlimit_fails_in_one_line() {
    let _serial = serial();
    if !prerequisites() {
        return;
    }
    let launcher = launcher();
    let marker = new_marker("nproc-busy");
    let before = host_mounts();
    let busy_ids = [
        &format!("--reuid={BUSY_UID}"),
        &format!("--regid={BUSY_UID}"),
    ];
    let mut holders: Vec<std::process::Child> = (0..3)
        .map(|_| {
            Command::new("setpriv")
                .args(busy_ids)
                .args(["--clear-groups", "sleep", "60"])
                .spawn()
                .expect("spawn a process holder")
        })
        .collect();
    // The holders count once they have changed uid.
    let deadline = Instant::now() + Duration::from_secs(10);
    while holders.iter().any(|h| {
        std::fs::read_to_string(format!("/proc/{}/status", h.id()))
            .map(|s| !s.contains(&format!("Uid:\t{BUSY_UID}\t")))
            .unwrap_or(true)
    }) {
        assert!(
            Instant::now() < deadline,
            "the process holders never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = run(command(
        &launcher,
        Mode::RootBacked,
        &marker,
        &["--user", BUSY_UID, "--rlimit", "nproc=2", "--", "/bin/true"],
    ));
    for holder in &mut holders {
        let _ = holder.kill();
        let _ = holder.wait();
    }
    assert_eq!(out.code, 126, "{out:?}");
    assert!(!out.signaled, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "exactly one line: {out:?}");
    assert_eq!(out.launcher_lines().len(), 1, "{out:?}");
    assert!(
        out.stderr.contains("a resource limit was reached"),
        "the line names the cause: {out:?}"
    );
    assert_nothing_leaked(&before, &launcher, &marker);
}

/// RLIMIT_NPROC=1 on the launcher itself, as nobody: the clone that creates the sandbox fails
/// with EAGAIN. The launcher says so in one line with 242 (`--mode userns`) or, in auto mode,
/// 241 (userns was the only mode an unprivileged invoker has).
#[test]
fn launcher_over_an_outer_nproc_rlimit_fails_cleanly() {
    let _serial = serial();
    if !prerequisites() {
        return;
    }
    let launcher = launcher();
    for (mode_args, want) in [(&["--mode", "userns"][..], 242), (&[][..], 241)] {
        let marker = new_marker("nproc-outer");
        let before = host_mounts();
        let mut cmd = Command::new("setpriv");
        cmd.args(AS_NOBODY)
            .args(["prlimit", "--nproc=1", "--"])
            .arg(&launcher.path)
            .args(mode_args)
            .args([
                "--setenv",
                "SANDPROBE_LOAD_MARK",
                &marker,
                "--",
                "/bin/true",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = run(cmd);
        assert_eq!(out.code, want, "{mode_args:?}: {out:?}");
        assert!(!out.signaled, "{out:?}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "exactly one line: {out:?}");
        assert!(
            lines[0].starts_with("sandbox-run: failed to ")
                && lines[0].contains("Resource temporarily unavailable"),
            "{out:?}"
        );
        assert_nothing_leaked(&before, &launcher, &marker);
    }
}

// ---------------------------------------------------------------------------------------------
// The memory limit.

/// `--rlimit as=256 MiB` and a payload that allocates 512 MiB: Python's MemoryError, exit 1.
/// `--rlimit as=64 KiB`: the payload's execve cannot map /bin/true and the kernel kills it with
/// SIGSEGV (139), or execve fails early and the launcher's exec step reports 126 in one line.
#[test]
fn payload_over_its_address_space_rlimit_fails_with_its_own_code() {
    let _serial = serial();
    if !prerequisites() {
        return;
    }
    let launcher = launcher();
    for mode in [Mode::UsernsNobody, Mode::RootBacked] {
        let marker = new_marker("as-payload");
        let before = host_mounts();
        let out = run(command(
            &launcher,
            mode,
            &marker,
            &[
                "--rlimit",
                "as=268435456",
                "--",
                "python3",
                "-c",
                "bytearray(512 << 20)",
            ],
        ));
        assert_eq!(out.code, 1, "{} mode: {out:?}", mode.name());
        assert!(
            out.stderr.contains("MemoryError") && out.launcher_lines().is_empty(),
            "{} mode: {out:?}",
            mode.name()
        );

        let out = run(command(
            &launcher,
            mode,
            &marker,
            &["--rlimit", "as=65536", "--", "/bin/true"],
        ));
        let killed_in_exec = out.code == 128 + libc::SIGSEGV && out.stderr.is_empty();
        let exec_failed =
            out.code == 126 && out.stderr.lines().count() == 1 && out.launcher_lines().len() == 1;
        assert!(
            !out.signaled && (killed_in_exec || exec_failed),
            "{} mode: {out:?}",
            mode.name()
        );
        assert_nothing_leaked(&before, &launcher, &marker);
    }
}

/// How a launcher run under an outer RLIMIT_AS ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AsOutcome {
    /// Exit 0, nothing on stderr.
    Ran,
    /// The dynamic loader could not map a library or the TLS (exit 127, its one line): no code
    /// of the launcher ran.
    LoaderFailed,
    /// SIGSEGV with no output: execve or the first stack growth could not be mapped under the
    /// limit. Nothing can report this from inside the process.
    KilledMapping,
    /// The Rust runtime could not set up the main thread's signal stack (a panic before main).
    RuntimeInitPanic,
    /// One line `sandbox-run: failed to …` and a code in 240–246.
    LauncherFailedCleanly,
    /// Rust's default out-of-memory handler: "memory allocation of N bytes failed", SIGABRT.
    AbortedOnAllocation,
    /// Anything else.
    Unexplained,
}

fn classify(run: &Run, launcher: &Path) -> AsOutcome {
    let lines: Vec<&str> = run.stderr.lines().collect();
    let sigsegv = 128 + libc::SIGSEGV;
    let sigabrt = 128 + libc::SIGABRT;
    let loader_prefix = format!(
        "{}: error while loading shared libraries",
        launcher.display()
    );
    if run.code == 0 && lines.is_empty() {
        AsOutcome::Ran
    } else if run.code == 127
        && lines.len() == 1
        && (lines[0].starts_with(&loader_prefix)
            || lines[0] == "cannot allocate TLS data structures for initial thread")
    {
        AsOutcome::LoaderFailed
    } else if run.signaled && run.code == sigsegv && lines.is_empty() {
        AsOutcome::KilledMapping
    } else if run.signaled
        && run.code == sigabrt
        && run
            .stderr
            .contains("failed to allocate an alternative stack")
    {
        AsOutcome::RuntimeInitPanic
    } else if (240..=246).contains(&run.code)
        && lines.len() == 1
        && lines[0].starts_with("sandbox-run: failed to ")
    {
        AsOutcome::LauncherFailedCleanly
    } else if run.stderr.contains("memory allocation of ") {
        AsOutcome::AbortedOnAllocation
    } else {
        AsOutcome::Unexplained
    }
}

fn run_under_as(launcher: &Launcher, marker: &str, limit: u64) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(AS_NOBODY)
        .arg("prlimit")
        .arg(format!("--as={limit}"))
        .arg("--")
        .arg(&launcher.path)
        .args([
            "--mode",
            "userns",
            "--setenv",
            "SANDPROBE_LOAD_MARK",
            marker,
        ])
        .args(["--", "/bin/true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// An outer RLIMIT_AS on the launcher, swept page by page through the whole range where it
/// starts to matter: from "the binary cannot even be loaded" to "the sandbox runs". At every
/// limit the launcher must either run, fail before any of its code runs (the loader, or the
/// kernel killing it while mapping), or fail cleanly — never end in Rust's out-of-memory abort
/// (SIGABRT, several lines), which the launcher can replace with its own one-line 246. Nothing
/// may be left behind.
#[test]
fn launcher_under_an_outer_address_space_rlimit_never_aborts() {
    let _serial = serial();
    if !prerequisites() {
        return;
    }
    let launcher = launcher();
    let marker = new_marker("as-outer");
    let before = host_mounts();

    // The smallest limit at which the sandbox runs, by bisection (the outcome is monotonic in
    // the limit up to a page or two of layout noise, which the sweep below covers).
    let (mut low, mut high) = (1u64 << 16, 1u64 << 30);
    let works = |limit| {
        let out = run(run_under_as(&launcher, &marker, limit));
        classify(&out, &launcher.path) == AsOutcome::Ran
    };
    assert!(
        works(high),
        "the sandbox does not run even with a 1 GiB RLIMIT_AS"
    );
    while high - low > 4096 {
        let mid = low + (high - low) / 2;
        if works(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    // Page by page from 2 MiB below the threshold to 64 KiB above it.
    let first = high.saturating_sub(2 << 20).max(1 << 16);
    let limits: Vec<u64> = (first..high + (64 << 10)).step_by(4096).collect();
    let jobs = limits
        .iter()
        .map(|limit| run_under_as(&launcher, &marker, *limit))
        .collect();
    let (runs, _) = run_all(jobs, parallelism());

    let mut tally: std::collections::BTreeMap<AsOutcome, (usize, u64, u64)> = Default::default();
    let mut bad = Vec::new();
    for (limit, out) in limits.iter().zip(&runs) {
        let outcome = classify(out, &launcher.path);
        let entry = tally.entry(outcome).or_insert((0, u64::MAX, 0));
        entry.0 += 1;
        entry.1 = entry.1.min(*limit);
        entry.2 = entry.2.max(*limit);
        if matches!(
            outcome,
            AsOutcome::AbortedOnAllocation | AsOutcome::Unexplained
        ) {
            bad.push(format!(
                "RLIMIT_AS={limit}: {outcome:?}, exit {} (signaled: {}), stderr {:?}",
                out.code, out.signaled, out.stderr
            ));
        }
    }
    for (outcome, (n, from, to)) in &tally {
        eprintln!("load: rlimit_as outcome={outcome:?} runs={n} limits={from}..={to}");
    }
    assert_nothing_leaked(&before, &launcher, &marker);
    assert!(
        bad.is_empty(),
        "{} of {} limits ended uncleanly (first threshold where the sandbox runs: {high}):\n{}",
        bad.len(),
        limits.len(),
        bad.join("\n")
    );
}

#[test]
fn mount_table_filter_ignores_only_dockers_mounts() {
    let text = "\
22 1 0:21 / /proc rw - proc proc rw
300 22 0:50 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw
301 22 0:51 / /run/docker/netns/x rw - nsfs nsfs rw
302 22 0:52 / /var/lib/dockerfile rw - tmpfs tmpfs rw
303 22 0:53 / /run/docker rw - tmpfs tmpfs rw";
    let kept = mount_lines(text);
    assert_eq!(kept.len(), 2, "{kept:#?}");
    assert!(kept.iter().any(|l| l.contains(" /proc ")));
    assert!(kept.iter().any(|l| l.contains("/var/lib/dockerfile")));
}

#[test]
fn expected_codes_cover_exits_and_signals() {
    let codes: BTreeSet<i32> = (0..200).map(|i| expected(i).1).collect();
    for code in 0..7 {
        assert!(codes.contains(&code));
    }
    assert!(codes.contains(&143) && codes.contains(&137));
    assert_eq!(expected(13), ("TERM".to_owned(), 143));
    assert_eq!(expected(17), ("KILL".to_owned(), 137));
    assert_eq!(expected(12), ("5".to_owned(), 5));
}
