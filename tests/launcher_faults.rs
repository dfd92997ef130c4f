//! Fault injection: a failure or a crash of the launcher at any setup phase leaves nothing behind.
//!
//! The debug build of `sandbox-run` honours `SANDBOX_RUN_FAULT=<phase>:<fail|kill>` (see
//! `src/launcher/fault.rs`); release builds do not, which the last test here shows on the
//! binary that ships. For every phase, in userns mode as nobody (setpriv, a 0755 copy of the
//! binary) and in root-backed mode as root, both a `fail` and a `kill` must leave:
//! 1. nothing new in the host's mount table (mounts that other software on the host makes —
//!    Docker, network namespaces, binfmt — are ignored);
//! 2. no process: nothing runs from the scenario's own copy of the binary, nothing carries the
//!    scenario's marker, none of the pids the status fd named, nor any of their descendants
//!    (waiting a few seconds for them to end);
//! 3. the launcher-failure exit code of that phase (240–246) for `fail`, and death by SIGKILL
//!    (137 for a shell) for `kill`;
//! 4. in root-backed mode, no process of the sandbox with effective uid 0.
//!
//! A missing prerequisite (root, setpriv) fails the tests when `CI=true`, loudly skips otherwise.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    UsernsNobody,
    RootBacked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Fail,
    Kill,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Fail => "fail",
            Action::Kill => "kill",
        }
    }
}

/// The exit code a `fail` at each phase must give (the code of a real failure at that step).
fn expected_fail_code(phase: &str) -> i32 {
    match phase {
        "after_clone" | "init_after_clone" | "after_uid_map" => 242,
        "mid_mount" | "after_pivot_root" => 243,
        "before_seccomp" => 245,
        "before_exec" => 246,
        other => panic!("unknown phase {other}"),
    }
}

/// Phases run by the payload, after the launcher reported `started`.
fn in_payload(phase: &str) -> bool {
    matches!(phase, "before_seccomp" | "before_exec")
}

fn prerequisites() -> bool {
    support::require(support::is_root(), "root (to run as nobody and as root)")
        && support::require(support::have("setpriv"), "setpriv (util-linux)")
}

/// A fresh 0755 copy of the debug binary for one scenario: its processes are told apart by
/// /proc/PID/exe even with scenarios in parallel, and the copy goes away with the scenario.
fn scenario_binary() -> support::WorldCopy {
    support::world_copy(Path::new(env!("CARGO_BIN_EXE_sandbox-run")))
}

/// Mount ids and mount points in the host's mount table, minus what other software may add.
fn host_mounts() -> BTreeMap<String, String> {
    const OTHERS: [&str; 5] = [
        "/var/lib/docker",
        "/run/docker",
        "/run/netns",
        "/run/user/",
        "/proc/sys/fs/binfmt_misc",
    ];
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let id = fields.next()?.to_owned();
            let point = fields.nth(3)?.to_owned();
            (!OTHERS.iter().any(|o| point.starts_with(o))).then(|| (id, line.to_owned()))
        })
        .collect()
}

/// One process as /proc shows it.
#[derive(Debug, Clone)]
struct Proc {
    pid: u32,
    ppid: u32,
    start: u64,
    euid: Option<u32>,
    exe: String,
    cmdline: String,
}

fn read_proc(pid: u32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?;
    if *state == "Z" || *state == "X" {
        // A zombie holds no mount and runs nothing; its parent reaps it.
        return None;
    }
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok());
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default();
    Some(Proc {
        pid,
        ppid,
        start,
        euid,
        exe,
        cmdline,
    })
}

fn all_procs() -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(read_proc)
        .collect()
}

/// What identifies one scenario's processes.
struct Traces {
    exe: PathBuf,
    marker: String,
    /// Pids the status fd named, and the launcher's start time (older processes with a reused
    /// pid are someone else's).
    pids: BTreeSet<u32>,
    launcher_start: u64,
}

/// The processes of the scenario still alive: by exe, marker or status pid, plus descendants.
fn sandbox_procs(traces: &Traces) -> Vec<Proc> {
    let procs = all_procs();
    let exe = traces.exe.to_string_lossy().into_owned();
    let mut found: BTreeSet<u32> = procs
        .iter()
        .filter(|p| {
            p.exe == exe
                || p.exe == format!("{exe} (deleted)")
                || p.cmdline.contains(&traces.marker)
                || (traces.pids.contains(&p.pid) && p.start >= traces.launcher_start)
        })
        .map(|p| p.pid)
        .collect();
    loop {
        let before = found.len();
        for p in &procs {
            if found.contains(&p.ppid) {
                found.insert(p.pid);
            }
        }
        if found.len() == before {
            break;
        }
    }
    procs
        .into_iter()
        .filter(|p| found.contains(&p.pid))
        .collect()
}

fn start_time(pid: u32) -> u64 {
    read_proc(pid).map(|p| p.start).unwrap_or(0)
}

/// What one run left.
struct Outcome {
    code: i32,
    signal: Option<i32>,
    stderr: String,
    events: Vec<serde_json::Value>,
    /// Processes left after the grace period.
    left: Vec<Proc>,
    /// Root-backed: processes of the sandbox seen with euid 0 after the launcher ended.
    euid0_seen: Vec<Proc>,
    new_mounts: Vec<String>,
}

/// Runs one scenario: the launcher with `fault` (if any), payload `script` under `sh -c`.
fn run_scenario(mode: Mode, name: &str, fault: Option<&str>, script: &str) -> Outcome {
    let copy = scenario_binary();
    let exe = copy.path.clone();
    let marker = format!("fault-marker-{}-{name}", std::process::id());
    let scratch = tempfile::tempdir().expect("tempdir");
    let out_path = scratch.path().join("stderr");
    let status_file = tempfile::tempfile().expect("status file");
    let before = host_mounts();

    let mut cmd = match mode {
        Mode::UsernsNobody => {
            let mut c = Command::new("setpriv");
            c.args(support::AS_NOBODY)
                .arg(&exe)
                .args(["--mode", "userns"]);
            c
        }
        Mode::RootBacked => {
            let mut c = Command::new(&exe);
            c.args(["--mode", "root-backed"]);
            c
        }
    };
    cmd.args([
        "--json-status-fd",
        "3",
        "--",
        "/bin/sh",
        "-c",
        script,
        &marker,
    ])
    .env_remove("SANDBOX_RUN_FAULT")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&out_path).expect("stderr file"));
    if let Some(spec) = fault {
        cmd.env("SANDBOX_RUN_FAULT", spec);
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&status_file);
    // SAFETY: dup2 and fcntl are async-signal-safe; this runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // A copy of the binary made while another test thread forks can be held open for writing
    // by that fork for a moment (ETXTBSY): retry briefly.
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other.expect("spawn the launcher"),
        }
    };
    let launcher_start = start_time(child.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the launcher") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: the launcher did not end within 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };

    let mut text = String::new();
    let mut status_file = status_file;
    status_file.rewind().expect("rewind");
    status_file.read_to_string(&mut text).expect("read status");
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad status line {l:?}: {e}")))
        .collect();
    let mut pids = BTreeSet::new();
    for e in &events {
        for key in ["init_pid", "payload_pid"] {
            if let Some(pid) = e[key].as_u64() {
                pids.insert(pid as u32);
            }
        }
    }
    let traces = Traces {
        exe: exe.clone(),
        marker,
        pids,
        launcher_start,
    };

    // Up to a few seconds for whatever the launcher left to notice and end.
    let grace = Instant::now() + Duration::from_secs(5);
    let mut euid0_seen = Vec::new();
    let left = loop {
        let left = sandbox_procs(&traces);
        if mode == Mode::RootBacked {
            euid0_seen.extend(left.iter().filter(|p| p.euid == Some(0)).cloned());
        }
        if left.is_empty() || Instant::now() > grace {
            break left;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let after = host_mounts();
    let new_mounts = after
        .iter()
        .filter(|(id, _)| !before.contains_key(*id))
        .map(|(_, line)| line.clone())
        .collect();
    // Leave no stray process to the next test either (after recording it).
    for p in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    drop(copy);
    Outcome {
        code: status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        signal: status.signal(),
        stderr: std::fs::read_to_string(&out_path).unwrap_or_default(),
        events,
        left,
        euid0_seen,
        new_mounts,
    }
}

/// The payload, if the sandbox ever got that far: a shell that lingers, so a payload that
/// outlived its launcher would be seen.
const LINGER: &str = "sleep 600; exit 0";

fn check_phase(mode: Mode, phase: &str) {
    if !prerequisites() {
        return;
    }
    for action in [Action::Fail, Action::Kill] {
        let spec = format!("{phase}:{}", action.as_str());
        let name = format!("{mode:?}-{phase}-{}", action.as_str());
        let out = run_scenario(mode, &name, Some(&spec), LINGER);
        let context = format!(
            "{mode:?} {spec}: exit {} stderr={:?} events={:?}",
            out.code, out.stderr, out.events
        );

        // (1) the host's mount table.
        assert!(
            out.new_mounts.is_empty(),
            "{context}: new host mounts {:#?}",
            out.new_mounts
        );
        // (4) no euid 0 left behind (root-backed).
        assert!(
            out.left.iter().all(|p| p.euid != Some(0)),
            "{context}: processes of the sandbox kept euid 0: {:#?}",
            out.left
        );
        // (2) no process left.
        assert!(
            out.left.is_empty(),
            "{context}: processes left: {:#?}",
            out.left
        );
        // (3) the exit code, and proof that the fault fired where it was meant to.
        match action {
            Action::Fail => {
                let expected = expected_fail_code(phase);
                assert_eq!(out.code, expected, "{context}");
                assert!((240..=246).contains(&out.code), "{context}");
                assert!(
                    out.stderr.contains(&format!(
                        "failed to go past the {phase} phase: injected fault"
                    )),
                    "{context}"
                );
                let last = out.events.last().expect("status events");
                assert_eq!(last["event"], "exit", "{context}");
                assert_eq!(last["exit_code"], expected, "{context}");
            }
            Action::Kill => {
                assert_eq!(out.signal, Some(libc::SIGKILL), "{context}");
                assert_eq!(out.code, 137, "{context}");
                assert!(
                    out.stderr.contains(&format!(
                        "fault injection: killing the launcher at {phase}\n"
                    )),
                    "{context}"
                );
                assert!(
                    out.events.iter().all(|e| e["event"] != "exit"),
                    "{context}: a killed launcher reported an exit"
                );
            }
        }
        let started = out.events.iter().any(|e| e["event"] == "started");
        assert_eq!(
            started,
            in_payload(phase),
            "{context}: the payload phases, and only they, come after `started`"
        );
        if !out.euid0_seen.is_empty() {
            // Allowed only while it lasted (the assertion above covers what is left); shown
            // so the report can say how long root outlived a dead launcher.
            eprintln!(
                "{mode:?} {spec}: euid 0 seen after the launcher ended: {:?}",
                out.euid0_seen
                    .iter()
                    .map(|p| (p.pid, p.cmdline.clone()))
                    .collect::<Vec<_>>()
            );
        }
    }
}

macro_rules! phase_tests {
    ($($name:ident: $mode:expr, $phase:literal;)*) => {
        $(
            #[test]
            fn $name() {
                check_phase($mode, $phase);
            }
        )*
    };
}

phase_tests! {
    userns_after_clone: Mode::UsernsNobody, "after_clone";
    userns_init_after_clone: Mode::UsernsNobody, "init_after_clone";
    userns_after_uid_map: Mode::UsernsNobody, "after_uid_map";
    userns_mid_mount: Mode::UsernsNobody, "mid_mount";
    userns_after_pivot_root: Mode::UsernsNobody, "after_pivot_root";
    userns_before_seccomp: Mode::UsernsNobody, "before_seccomp";
    userns_before_exec: Mode::UsernsNobody, "before_exec";
    root_backed_after_clone: Mode::RootBacked, "after_clone";
    root_backed_init_after_clone: Mode::RootBacked, "init_after_clone";
    root_backed_after_uid_map: Mode::RootBacked, "after_uid_map";
    root_backed_mid_mount: Mode::RootBacked, "mid_mount";
    root_backed_after_pivot_root: Mode::RootBacked, "after_pivot_root";
    root_backed_before_seccomp: Mode::RootBacked, "before_seccomp";
    root_backed_before_exec: Mode::RootBacked, "before_exec";
}

/// The harness itself: without a fault the payload's code passes through, and while a sandbox
/// runs, the process scan does find it (so an empty scan after a fault means something).
#[test]
fn without_a_fault_the_harness_sees_the_sandbox() {
    if !prerequisites() {
        return;
    }
    for mode in [Mode::UsernsNobody, Mode::RootBacked] {
        let name = format!("{mode:?}-baseline");
        let out = run_scenario(mode, &name, None, "exit 7");
        assert_eq!(out.code, 7, "{mode:?}: {}", out.stderr);
        assert!(out.left.is_empty() && out.new_mounts.is_empty());

        // A malformed spec is refused by the debug build, as a usage error.
        let out = run_scenario(mode, &format!("{name}-bad"), Some("nowhere:fail"), "exit 7");
        assert_eq!(out.code, 240, "{mode:?}: {}", out.stderr);

        // A running sandbox is visible to the scan: launcher, init, sh and sleep.
        let copy = scenario_binary();
        let exe = copy.path.clone();
        let marker = format!("fault-marker-{}-{name}-live", std::process::id());
        let mut cmd = match mode {
            Mode::UsernsNobody => {
                let mut c = Command::new("setpriv");
                c.args(support::AS_NOBODY)
                    .arg(&exe)
                    .args(["--mode", "userns"]);
                c
            }
            Mode::RootBacked => {
                let mut c = Command::new(&exe);
                c.args(["--mode", "root-backed"]);
                c
            }
        };
        let mut child = cmd
            .args(["--", "/bin/sh", "-c", LINGER, &marker])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let traces = Traces {
            exe: exe.clone(),
            marker,
            pids: BTreeSet::new(),
            launcher_start: start_time(child.id()),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let seen = loop {
            let seen = sandbox_procs(&traces);
            if seen.iter().any(|p| p.cmdline.starts_with("sleep")) || Instant::now() > deadline {
                break seen;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            seen.len() >= 4,
            "{mode:?}: the scan missed the running sandbox: {seen:#?}"
        );
        if mode == Mode::RootBacked {
            let euid0: Vec<_> = seen.iter().filter(|p| p.euid == Some(0)).collect();
            assert!(
                euid0.is_empty(),
                "{mode:?}: euid 0 while running: {euid0:#?}"
            );
        }
        let grace = Instant::now() + Duration::from_secs(5);
        while !sandbox_procs(&traces).is_empty() {
            assert!(Instant::now() < grace, "{mode:?}: outlived the launcher");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(copy);
    }
}

/// Root-backed: when the launcher dies while its pid 1 holds euid 0 to build the sandbox, pid 1
/// dies with it at once; it makes no further call as root. Raising the euid clears the
/// parent-death signal, so the init must set it again after the raise: without that it would
/// go on mounting, forking and dropping as root for a few milliseconds after its launcher was
/// gone (docs/robustness.md, "Finding (fixed)"). The scan tests above cannot see that window,
/// since nothing is left once it closes; strace can. It follows the launcher through a shell,
/// so that it keeps tracing the init after the launcher's death.
#[test]
fn root_backed_init_makes_no_call_as_root_after_its_launcher_dies() {
    if !prerequisites() || !support::require(support::have("strace"), "strace") {
        return;
    }
    for phase in ["after_uid_map", "mid_mount", "after_pivot_root"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let trace = dir.path().join("trace");
        let out = Command::new("strace")
            .args(["-f", "-q", "-e", "signal=none", "-e", "status=successful"])
            .args(["-e", "trace=mount,umount2,pivot_root,clone,clone3,fork,vfork,execve,setresuid,setresgid,setgroups,sethostname,setsid,prctl,write"])
            .arg("-o")
            .arg(&trace)
            .args(["sh", "-c", r#""$@"; echo "launcher exit $?""#, "sh"])
            .arg(env!("CARGO_BIN_EXE_sandbox-run"))
            .args(["--mode", "root-backed", "--", "/bin/true"])
            .env("SANDBOX_RUN_FAULT", format!("{phase}:kill"))
            .stdin(Stdio::null())
            .output()
            .expect("run strace");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.trim(), "launcher exit 137", "{phase}: {out:?}");
        let text = std::fs::read_to_string(&trace).expect("read the trace");
        let lines: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|line| line.split_once(' '))
            // strace pads short pids to a common width.
            .map(|(pid, call)| (pid, call.trim_start()))
            .collect();
        let (fired_at, &(init, _)) = lines
            .iter()
            .enumerate()
            .find(|(_, (_, call))| call.contains("fault injection: ki"))
            .unwrap_or_else(|| panic!("{phase}: the fault never fired:\n{text}"));
        // After the first piece of the fault's message, pid 1 writes the other two and makes
        // no further call: it is killed while it waits for the launcher to be gone.
        let after: Vec<&str> = lines[fired_at + 1..]
            .iter()
            .filter(|(pid, _)| *pid == init)
            .map(|(_, call)| *call)
            .collect();
        assert!(
            after.len() == 2 && after.iter().all(|call| call.starts_with("write(2, ")),
            "{phase}: pid 1 went on as root after its launcher died: {after:#?}\n{text}"
        );
    }
}

/// Release builds do not act on the variable: the shipped binary (the release profile, the
/// static target that CI builds and releases ship) runs the payload untouched whatever
/// `SANDBOX_RUN_FAULT` says, does not even reject a malformed value, and does not contain the
/// variable's name at all — the code that reads it is compiled out.
#[test]
fn release_build_ignores_the_fault_variable() {
    if !prerequisites() {
        return;
    }
    const TARGET: &str = "x86_64-unknown-linux-musl";
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == TARGET)
        })
        .unwrap_or(false);
    if !support::require(installed, "the x86_64-unknown-linux-musl Rust target") {
        return;
    }
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = Command::new(cargo)
        .current_dir(manifest_dir)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--bin",
            "sandbox-run",
        ])
        .output()
        .expect("run cargo build --release");
    assert!(
        build.status.success(),
        "release build failed: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("target"));
    let release = target_dir.join(TARGET).join("release").join("sandbox-run");

    let bytes = std::fs::read(&release).expect("read the release binary");
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(&bytes, b"SANDBOX_RUN_FAULT"),
        "the release binary still names the fault variable"
    );
    for name in [
        &b"SANDBOX_RUN_NO_HELPER_THREAD"[..],
        &b"SANDBOX_RUN_SEAL_DELAY_MS"[..],
    ] {
        assert!(
            !contains(&bytes, name),
            "the release binary still names {}",
            String::from_utf8_lossy(name)
        );
    }
    let debug = std::fs::read(env!("CARGO_BIN_EXE_sandbox-run")).expect("read the debug binary");
    assert!(
        contains(&debug, b"SANDBOX_RUN_FAULT") && contains(&debug, b"SANDBOX_RUN_NO_HELPER_THREAD"),
        "the debug binary should name the variables (else the search above proves nothing)"
    );

    let copy = support::world_copy(&release);
    for (mode, spec) in [
        (Mode::RootBacked, "after_clone:kill"),
        (Mode::RootBacked, "init_after_clone:fail"),
        (Mode::RootBacked, "nowhere:fail"),
        (Mode::UsernsNobody, "before_exec:fail"),
        (Mode::UsernsNobody, "mid_mount:kill"),
    ] {
        let mut cmd = match mode {
            Mode::UsernsNobody => {
                let mut c = Command::new("setpriv");
                c.args(support::AS_NOBODY)
                    .arg(&copy.path)
                    .args(["--mode", "userns"]);
                c
            }
            Mode::RootBacked => {
                let mut c = Command::new(&copy.path);
                c.args(["--mode", "root-backed"]);
                c
            }
        };
        let out = cmd
            .args(["--", "/bin/sh", "-c", "exit 7"])
            .env("SANDBOX_RUN_FAULT", spec)
            .output()
            .expect("run the release binary");
        assert_eq!(
            out.status.code(),
            Some(7),
            "{mode:?} {spec}: the release build acted on the variable: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{mode:?} {spec}");
    }
}
