//! Live tests of the built `sandbox-run` binary in the four modes the launcher must support.
//!
//! Nothing here creates a namespace in the (multithreaded) test process: every sandbox is built
//! by the spawned binary. The modes:
//! - `UsernsNobody`: userns mode as uid 65534 (setpriv), the binary copied to a 0755 directory;
//! - `RootBacked`: `--mode root-backed` as real root;
//! - `RootBackedNoUserns`: `--mode root-backed` as root of a user namespace that maps 0 and 65534
//!   and has `user.max_user_namespaces = 0` (user namespaces disabled, host untouched);
//! - `AutoRoot`: auto as root, which must end in userns with root dropped.
//!
//! A missing prerequisite (not root, no setpriv/unshare/strace/python3) fails the test when `CI=true` and is
//! reported loudly otherwise.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    UsernsNobody,
    RootBacked,
    RootBackedNoUserns,
    AutoRoot,
}

/// Returns false (after saying so loudly) when a prerequisite is missing; panics under CI=true.
fn prerequisites() -> bool {
    let mut missing = Vec::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root");
    }
    for tool in ["setpriv", "unshare", "sh", "strace", "python3"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
            .unwrap_or(false);
        if !found {
            missing.push(tool);
        }
    }
    if missing.is_empty() {
        return true;
    }
    let message = format!("launcher live tests need {missing:?}");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("SKIPPED LOUDLY: {message} (set CI=true to make this a failure)");
    false
}

/// The binary, copied where uid 65534 can execute it.
fn binary() -> &'static Path {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sandbox-run-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dest = dir.join("sandbox-run");
        std::fs::copy(env!("CARGO_BIN_EXE_sandbox-run"), &dest).unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755)).unwrap();
        support::wait_until_executable(&dest);
        dest
    })
}

/// The gate script for the no-userns mode: wait until the test wrote the id maps, disable user
/// namespaces inside, then exec the launcher.
/// The first sh started before the maps existed, so it holds no capabilities; the inner sh is
/// exec'd as the now-mapped uid 0 and gets them.
const NO_USERNS_GATE: &str = "read _gate; exec sh -c 'echo 0 > /proc/sys/user/max_user_namespaces \
     || exit 99; exec \"$@\"' sh \"$@\"";

fn command(mode: Mode, args: &[&str]) -> Command {
    command_for(binary(), mode, args)
}

/// The launcher at `bin` in `mode`: tests that look for leftovers run a copy of their own.
fn command_for(bin: &Path, mode: Mode, args: &[&str]) -> Command {
    let bin = bin.to_str().unwrap().to_owned();
    let mut cmd;
    match mode {
        Mode::UsernsNobody => {
            cmd = Command::new("setpriv");
            cmd.args(support::AS_NOBODY)
                .arg(&bin)
                .args(["--mode", "userns"]);
        }
        Mode::RootBacked => {
            cmd = Command::new(&bin);
            cmd.args(["--mode", "root-backed"]);
        }
        Mode::RootBackedNoUserns => {
            cmd = Command::new("unshare");
            cmd.args(["-U", "--", "sh", "-c", NO_USERNS_GATE, "sh", &bin])
                .args(["--mode", "root-backed"]);
        }
        Mode::AutoRoot => {
            cmd = Command::new(&bin);
        }
    }
    cmd.args(args);
    cmd.env("SANDBOX_TEST_SECRET", "leak");
    cmd
}

/// Spawns; for the no-userns mode, writes the id maps (0 and 65534) and opens the gate.
fn spawn(mode: Mode, args: &[&str], status: Option<&std::fs::File>) -> Child {
    spawn_command(mode, command(mode, args), status)
}

fn spawn_command(mode: Mode, mut cmd: Command, status: Option<&std::fs::File>) -> Child {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(file) = status {
        let fd = std::os::fd::AsRawFd::as_raw_fd(file);
        // SAFETY: dup2 is async-signal-safe; it runs in the forked child before exec.
        unsafe {
            cmd.pre_exec(move || {
                // dup2 onto itself keeps FD_CLOEXEC: clear it explicitly.
                if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("spawn the launcher");
    if mode == Mode::RootBackedNoUserns {
        let own = std::fs::read_link("/proc/self/ns/user").unwrap();
        let theirs = format!("/proc/{}/ns/user", child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_link(&theirs)
            .map(|l| l == own)
            .unwrap_or(true)
        {
            assert!(
                Instant::now() < deadline,
                "unshare never entered its user namespace"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let map = "0 0 1\n65534 65534 1\n";
        std::fs::write(format!("/proc/{}/uid_map", child.id()), map).unwrap();
        std::fs::write(format!("/proc/{}/gid_map", child.id()), map).unwrap();
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    child
}

fn run(mode: Mode, args: &[&str]) -> Output {
    let child = spawn(mode, args, None);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sh(mode: Mode, script: &str) -> Output {
    run(mode, &["--", "/bin/sh", "-c", script])
}

/// Runs with --json-status-fd 3 and returns the output and the parsed events.
fn run_with_status(mode: Mode, args: &[&str]) -> (Output, Vec<serde_json::Value>) {
    let file = tempfile::tempfile().unwrap();
    let mut full = vec!["--json-status-fd", "3"];
    full.extend_from_slice(args);
    let out = spawn(mode, &full, Some(&file)).wait_with_output().unwrap();
    (out, read_events(file))
}

fn read_events(mut file: std::fs::File) -> Vec<serde_json::Value> {
    use std::io::Seek;
    file.rewind().unwrap();
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad status line {l:?}: {e}")))
        .collect()
}

fn event<'a>(events: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event in {events:?}"))
}

fn expected_mode(mode: Mode) -> &'static str {
    match mode {
        Mode::UsernsNobody | Mode::AutoRoot => "userns",
        Mode::RootBacked | Mode::RootBackedNoUserns => "root-backed",
    }
}

fn uid_line(pid: u32) -> Option<String> {
    uid_line_of(&format!("/proc/{pid}/status"))
}

fn uid_line_of(status_path: &str) -> Option<String> {
    let text = std::fs::read_to_string(status_path).ok()?;
    text.lines()
        .find(|l| l.starts_with("Uid:"))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
}

fn host_mounts() -> String {
    // Mount ids and the rest of each line; the same text before and after means nothing leaked.
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

fn check_root_readonly_tmp_writable(mode: Mode) {
    let out = sh(
        mode,
        "touch /x 2>/dev/null && echo root-writable; touch /usr/x 2>/dev/null && echo usr-writable; \
         touch /etc/x 2>/dev/null && echo etc-writable; touch /tmp/y && echo tmp-ok",
    );
    assert_eq!(stdout(&out), "tmp-ok\n", "stderr: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
}

fn check_host_files_hidden(mode: Mode) {
    let marker = std::env::temp_dir().join(format!("sandbox-marker-{}", std::process::id()));
    std::fs::write(&marker, "host").unwrap();
    let script = format!(
        "ls -A /; test -e {} && echo marker-visible; test -e /etc/shadow && echo shadow-visible; \
         test -e /root && echo root-visible; test -e /home && echo home-visible; true",
        marker.display()
    );
    let out = sh(mode, &script);
    let _ = std::fs::remove_file(&marker);
    let listed: BTreeSet<String> = stdout(&out).lines().map(str::to_owned).collect();
    let mut expected: BTreeSet<String> = ["dev", "etc", "proc", "tmp", "usr"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for dir in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        if Path::new("/").join(dir).exists() {
            expected.insert(dir.to_owned());
        }
    }
    assert_eq!(listed, expected, "stderr: {}", stderr(&out));
}

fn check_hostname(mode: Mode) {
    let out = run(mode, &["--", "/bin/cat", "/proc/sys/kernel/hostname"]);
    assert_eq!(stdout(&out), "sandbox\n");
    let out = run(
        mode,
        &[
            "--hostname",
            "box2",
            "--",
            "/bin/cat",
            "/proc/sys/kernel/hostname",
        ],
    );
    assert_eq!(stdout(&out), "box2\n");
}

fn check_only_loopback_up(mode: Mode) {
    let out = sh(
        mode,
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; \
         bash -c 'exec 3<>/dev/tcp/127.0.0.1/9' 2>&1 | grep -o 'Connection refused\\|Network is unreachable' | head -n 1",
    );
    assert_eq!(
        stdout(&out),
        "lo\nConnection refused\n",
        "stderr: {}",
        stderr(&out)
    );
}

fn check_exit_codes(mode: Mode) {
    assert_eq!(sh(mode, "exit 0").status.code(), Some(0));
    assert_eq!(sh(mode, "exit 3").status.code(), Some(3));
    assert_eq!(sh(mode, "kill -TERM $$").status.code(), Some(143));
    assert_eq!(sh(mode, "kill -KILL $$").status.code(), Some(137));
    let missing = run(mode, &["--", "/nonexistent/program"]);
    assert_eq!(missing.status.code(), Some(127));
    assert_eq!(stderr(&missing).lines().count(), 1, "{}", stderr(&missing));
    assert!(stderr(&missing).starts_with("sandbox-run: failed to execute /nonexistent/program"));
    let on_path = run(mode, &["--", "no-such-command-anywhere"]);
    assert_eq!(on_path.status.code(), Some(127));
    let not_exec = run(mode, &["--", "/etc/passwd"]);
    assert_eq!(not_exec.status.code(), Some(126), "{}", stderr(&not_exec));
}

/// The signals the launcher forwards, by number and by the name a shell trap uses.
const FORWARDED: [(libc::c_int, &str); 6] = [
    (libc::SIGINT, "INT"),
    (libc::SIGHUP, "HUP"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGTERM, "TERM"),
];

/// Starts the launcher with `signals` set to `disposition` (SIG_DFL or SIG_IGN), whatever the
/// test process inherited: a test run started in the background by a non-interactive shell, or
/// under nohup, has SIGINT, SIGQUIT or SIGHUP ignored, and an ignored signal survives execve.
fn with_dispositions(
    cmd: &mut Command,
    disposition: libc::sighandler_t,
    signals: Vec<libc::c_int>,
) {
    // SAFETY: signal(2) is async-signal-safe; it runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            for &signal in &signals {
                if libc::signal(signal, disposition) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// The six signals a service manager or a shell sends reach the payload through pid 1.
fn check_signal_forwarding(mode: Mode) {
    let script = "for s in INT HUP QUIT USR1 USR2; do trap \"echo got-$s\" $s; done; \
                  trap 'echo got-TERM; exit 42' TERM; echo ready; \
                  while :; do sleep 0.05; done";
    let mut cmd = command(mode, &["--", "/bin/sh", "-c", script]);
    with_dispositions(
        &mut cmd,
        libc::SIG_DFL,
        FORWARDED.map(|(signal, _)| signal).to_vec(),
    );
    let mut child = spawn_command(mode, cmd, None);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // A signal that never arrives must fail the test, not hang it: the watchdog kills the
    // launcher, which ends its output.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = |waiting_for: &str| -> String {
        match lines.next() {
            Some(Ok(line)) => line,
            other => panic!("{mode:?}: no {waiting_for:?} within 30 s: {other:?}"),
        }
    };
    assert_eq!(next_line("ready"), "ready");
    for (signal, name) in FORWARDED {
        let signal = nix::sys::signal::Signal::try_from(signal).unwrap();
        nix::sys::signal::kill(pid, signal).unwrap();
        assert_eq!(next_line(name), format!("got-{name}"));
    }
    assert_eq!(child.wait().unwrap().code(), Some(42));
    let _ = done.send(());
    watchdog.join().unwrap();
}

/// A signal the invoker ignores stays ignored in the payload, as across any execve (so
/// `nohup sandbox-run …` keeps its meaning); the launcher's own ignored SIGPIPE (the Rust
/// runtime's) does not reach it.
fn check_ignored_signals_pass_through(mode: Mode) {
    const IGNORED: [libc::c_int; 3] = [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT];
    let ignored_in_payload = |disposition: libc::sighandler_t| -> u64 {
        let mut cmd = command(mode, &["--", "/bin/grep", "^SigIgn:", "/proc/self/status"]);
        with_dispositions(&mut cmd, disposition, IGNORED.to_vec());
        let out = spawn_command(mode, cmd, None).wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        let text = stdout(&out);
        let hex = text
            .trim()
            .strip_prefix("SigIgn:")
            .unwrap_or_else(|| panic!("{text:?}"));
        u64::from_str_radix(hex.trim(), 16).unwrap()
    };
    let bit = |signal: libc::c_int| 1u64 << (signal - 1);
    let ignored = ignored_in_payload(libc::SIG_IGN);
    for signal in IGNORED {
        assert_ne!(
            ignored & bit(signal),
            0,
            "{mode:?}: signal {signal}: {ignored:#x}"
        );
    }
    assert_eq!(ignored & bit(libc::SIGPIPE), 0, "{mode:?}: {ignored:#x}");
    let default = ignored_in_payload(libc::SIG_DFL);
    for signal in IGNORED.into_iter().chain([libc::SIGPIPE]) {
        assert_eq!(
            default & bit(signal),
            0,
            "{mode:?}: signal {signal}: {default:#x}"
        );
    }
}

fn check_zombies_reaped(mode: Mode) {
    // Orphans re-parent to the sandbox's pid 1; unreaped they would stay in state Z.
    let out = sh(
        mode,
        "for i in 1 2 3; do (/bin/true &); done; sleep 0.3; \
         grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l",
    );
    assert_eq!(stdout(&out).trim(), "0", "stderr: {}", stderr(&out));
}

fn check_dies_with_launcher(mode: Mode) {
    let file = tempfile::tempfile().unwrap();
    let status_copy = file.try_clone().unwrap();
    let args = [
        "--json-status-fd",
        "3",
        "--",
        "/bin/sh",
        "-c",
        "echo ready; exec sleep 1000",
    ];
    let before = host_mounts();
    let mut child = spawn(mode, &args, Some(&file));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let events = read_events(status_copy);
    let started = event(&events, "started");
    let payload = started["payload_pid"].as_u64().expect("payload pid") as u32;
    let init = started["init_pid"].as_u64().expect("init pid") as u32;
    assert!(Path::new(&format!("/proc/{payload}")).exists());
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{payload}")).exists()
        || Path::new(&format!("/proc/{init}")).exists()
    {
        assert!(
            Instant::now() < deadline,
            "the sandbox outlived the launcher's SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(host_mounts(), before, "the host mount table changed");
}

fn check_mount_table_untouched(mode: Mode) {
    let before = host_mounts();
    let ok = sh(mode, "true");
    assert_eq!(ok.status.code(), Some(0));
    let failed = run(mode, &["--tmpfs", "/usr/no-such-dir", "--", "/bin/true"]);
    assert_eq!(failed.status.code(), Some(243), "{}", stderr(&failed));
    assert_eq!(stderr(&failed).lines().count(), 1, "{}", stderr(&failed));
    assert_eq!(host_mounts(), before);
}

fn check_euid_never_zero(mode: Mode) {
    // Inside: every process of the sandbox's pid namespace (pid 1 included).
    let out = sh(mode, "grep -h '^Uid:' /proc/[0-9]*/task/*/status | sort -u");
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        vec!["Uid:\t65534\t65534\t65534\t65534"],
        "{}",
        stderr(&out)
    );

    // Outside: the init and payload as the host sees them, and the launcher itself.
    let file = tempfile::tempfile().unwrap();
    let status_copy = file.try_clone().unwrap();
    let args = [
        "--json-status-fd",
        "3",
        "--",
        "/bin/sh",
        "-c",
        "echo ready; read _x; exit 0",
    ];
    let mut child = spawn(mode, &args, Some(&file));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let events = read_events(status_copy);
    assert_eq!(event(&events, "mode")["mode"], expected_mode(mode));
    let started = event(&events, "started");
    for key in ["payload_pid", "init_pid"] {
        let pid = started[key].as_u64().unwrap() as u32;
        assert_eq!(uid_line(pid).unwrap(), "65534 65534 65534 65534", "{key}");
        // Every thread: a helper thread keeps its own credentials.
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
            let task = task.unwrap().file_name();
            let line = uid_line_of(&format!(
                "/proc/{pid}/task/{}/status",
                task.to_string_lossy()
            ));
            assert_eq!(
                line.as_deref(),
                Some("65534 65534 65534 65534"),
                "{key} thread {task:?}"
            );
        }
    }
    let launcher = uid_line(child.id()).unwrap();
    match mode {
        // Real uid 0 kept, effective (and fs) uid = --user outside the raised window.
        Mode::RootBacked | Mode::RootBackedNoUserns => {
            assert_eq!(launcher, "0 65534 0 65534")
        }
        Mode::UsernsNobody | Mode::AutoRoot => assert_eq!(launcher, "65534 65534 65534 65534"),
    }
    drop(child.stdin.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

fn check_clean_env_and_fds(mode: Mode) {
    let out = run(mode, &["--setenv", "FOO", "bar", "--", "/usr/bin/env"]);
    let keys: BTreeSet<String> = stdout(&out)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
        .collect();
    let expected: BTreeSet<String> = ["PATH", "HOME", "TERM", "LANG", "FOO"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(keys, expected);
    assert!(stdout(&out).contains("FOO=bar\n"));
    // The status fd (3) must not reach the payload: ls's own directory fd takes 3.
    let (out, events) = run_with_status(mode, &["--", "/bin/ls", "/proc/self/fd"]);
    assert_eq!(stdout(&out), "0\n1\n2\n3\n", "{}", stderr(&out));
    assert_eq!(event(&events, "exit")["exit_code"], 0);
    assert!(event(&events, "setup_times")["phases_us"].is_object());
    assert!(event(&events, "started")["namespaces"]["mnt"].is_u64());
}

/// Every namespace the payload is in is the one the status reports, and (but for a shared user
/// namespace in root-backed mode) a new one: the network namespace, built on pid 1's helper
/// thread and entered with setns, included.
fn check_namespaces_are_new(mode: Mode) {
    const NAMES: [&str; 7] = ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"];
    let script = NAMES
        .iter()
        .map(|n| format!("stat -L -c %i /proc/self/ns/{n}"))
        .collect::<Vec<_>>()
        .join("; ");
    let (out, events) = run_with_status(mode, &["--", "/bin/sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reported = &event(&events, "started")["namespaces"];
    let phases = &event(&events, "setup_times")["phases_us"];
    assert!(phases["net_namespace_join"].is_u64(), "{phases}");
    let inside: Vec<u64> = stdout(&out)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(inside.len(), NAMES.len(), "{}", stdout(&out));
    for (name, id) in NAMES.iter().zip(&inside) {
        assert_eq!(reported[*name].as_u64(), Some(*id), "{name}: {events:?}");
        let host = std::fs::metadata(format!("/proc/self/ns/{name}"))
            .unwrap()
            .ino();
        let shared_user = *name == "user" && expected_mode(mode) == "root-backed";
        if !shared_user {
            assert_ne!(*id, host, "the payload shares the test's {name} namespace");
        }
    }
}

/// The serial path (no helper thread: a pids or nproc limit, or a kernel before 3.17) gives
/// the same network: a new namespace with only loopback, up. Debug builds can be told to act
/// as if the thread could not start.
#[test]
fn network_namespace_without_the_helper_thread() {
    if !prerequisites() {
        return;
    }
    for mode in [Mode::UsernsNobody, Mode::RootBacked] {
        let file = tempfile::tempfile().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let mut cmd = command(
            mode,
            &[
                "--json-status-fd",
                "3",
                "--",
                "/bin/sh",
                "-c",
                "stat -L -c %i /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; \
                 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9' 2>&1 | grep -o 'Connection refused\\|Network is unreachable' | head -n 1",
            ],
        );
        cmd.env(sandprobe::launcher::fault::NO_HELPER_THREAD_ENV, "1");
        // SAFETY: dup2 and fcntl are async-signal-safe; this runs in the child before exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        let events = read_events(file);
        let phases = &event(&events, "setup_times")["phases_us"];
        assert!(
            phases["net_namespace_serial"].is_u64(),
            "{mode:?}: {phases}"
        );
        assert!(
            phases.get("net_namespace_join").is_none(),
            "{mode:?}: {phases}"
        );
        let text = stdout(&out);
        let (net, rest) = text.split_once('\n').unwrap();
        let host = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        assert_ne!(net.parse::<u64>().unwrap(), host, "{mode:?}");
        assert_eq!(
            rest,
            "lo\nConnection refused\n",
            "{mode:?}: {}",
            stderr(&out)
        );
    }
}

/// The payload starts in a sealed root: no /oldroot, no mount of the host's tree in its mount
/// table, and the root read-only (pid 1 seals it while the payload hardens itself, and the
/// payload waits for that before it execs).
fn check_old_root_gone(mode: Mode) {
    let out = sh(
        mode,
        "test -e /oldroot && echo oldroot-present; \
         cut -d' ' -f5 /proc/self/mountinfo | grep '^/oldroot' | sed 's/^/host mount: /'; \
         grep ' / / ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1; pwd",
    );
    assert_eq!(stdout(&out), "ro\n/\n", "stderr: {}", stderr(&out));
}

/// The launcher's runtime ignores SIGPIPE; the payload must not inherit that (a pipeline such as
/// `yes | head -n 1` would then end in write errors instead of quietly).
fn check_sigpipe_default(mode: Mode) {
    let out = sh(mode, "grep '^SigIgn:' /proc/self/status; yes | head -n 1");
    let text = stdout(&out);
    let mask = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| panic!("no SigIgn line: {text}"));
    assert_eq!(
        mask & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE is ignored: {text}"
    );
    assert!(text.ends_with("\ny\n"), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// The payload waits for the sealed root even when sealing is slow: debug builds can delay it.
#[test]
fn payload_waits_for_a_slow_seal() {
    if !prerequisites() {
        return;
    }
    for mode in [Mode::UsernsNobody, Mode::RootBacked] {
        let out = command(
            mode,
            &[
                "--",
                "/bin/sh",
                "-c",
                "test -e /oldroot && echo oldroot-present; echo ran",
            ],
        )
        .env(sandprobe::launcher::fault::SEAL_DELAY_ENV, "300")
        .output()
        .unwrap();
        assert_eq!(stdout(&out), "ran\n", "{mode:?}: {}", stderr(&out));
    }
}

/// The seccomp filter, the capability sets, no_new_privs, the ids, the session and the fds of
/// the payload itself, through the launcher: the probe that `hardening_confine.rs` runs under
/// `examples/confine` (where a control run without the filter shows the kernel answering
/// otherwise) runs here as the payload of `sandbox-run`.
fn check_payload_confined(mode: Mode) {
    use support::payload_probe::{assert_confined, calls_json, report, PROBE};
    let calls = calls_json();
    let out = run(mode, &["--", "python3", "-c", PROBE, &calls]);
    let report = report(&out);
    assert_confined(&report);
    // Dropped for good: real, effective and saved ids, and no supplementary group.
    assert_eq!(
        report["ids"],
        serde_json::json!([[65534, 65534, 65534], [65534, 65534, 65534], []]),
        "{mode:?}"
    );
}

/// x86_64's x32 ABI: a system call number with bit 30 set must kill the payload (SIGSYS), not
/// slip past a filter that compares numbers exactly.
#[cfg(target_arch = "x86_64")]
fn check_x32_kills_the_payload(mode: Mode) {
    let script = "import ctypes; ctypes.CDLL(None).syscall(0x40000000 | 39); print('survived')";
    let out = run(mode, &["--", "python3", "-c", script]);
    assert_eq!(
        out.status.code(),
        Some(128 + libc::SIGSYS),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

/// One line of /proc/PID/mountinfo: the fields a test needs.
struct MountLine<'a> {
    device: &'a str,
    mount_point: &'a str,
    options: BTreeSet<&'a str>,
    optional: Vec<&'a str>,
    fstype: &'a str,
}

fn parse_mountinfo(text: &str) -> Vec<MountLine<'_>> {
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let separator = fields
                .iter()
                .position(|f| *f == "-")
                .unwrap_or_else(|| panic!("no separator in {line:?}"));
            MountLine {
                device: fields[2],
                mount_point: fields[4],
                options: fields[5].split(',').collect(),
                optional: fields[6..separator].to_vec(),
                fstype: fields[separator + 1],
            }
        })
        .collect()
}

/// Every mount of the sandbox is nosuid and private (no shared or slave propagation, so no
/// mount event crosses to or from the host), nodev but where device nodes must open (the
/// device binds and the devpts instance), and read-only where it shows the host's files; the
/// root and /tmp are fresh tmpfs, /proc a fresh proc, /dev/pts a devpts instance of its own.
fn check_mounts_nosuid_nodev_private(mode: Mode) {
    let out = run(mode, &["--", "/bin/cat", "/proc/self/mountinfo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let mounts = parse_mountinfo(&text);
    let device_nodes: BTreeSet<String> = ["null", "zero", "full", "random", "urandom", "tty"]
        .iter()
        .map(|d| format!("/dev/{d}"))
        .collect();
    for m in &mounts {
        let point = m.mount_point;
        assert!(
            m.optional.is_empty(),
            "{point} propagates ({:?}):\n{text}",
            m.optional
        );
        assert!(
            m.options.contains("nosuid"),
            "{point} lacks nosuid:\n{text}"
        );
        let needs_devices = device_nodes.contains(point) || m.fstype == "devpts";
        if !needs_devices {
            assert!(m.options.contains("nodev"), "{point} lacks nodev:\n{text}");
        }
        let shows_host_files = point == "/usr"
            || point.starts_with("/usr/")
            || point.starts_with("/etc/")
            || ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"].contains(&point);
        if point == "/" || shows_host_files {
            assert!(m.options.contains("ro"), "{point} is writable:\n{text}");
        }
    }
    let fstype_of = |point: &str| {
        mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == point)
            .map(|m| m.fstype)
            .unwrap_or_else(|| panic!("no mount at {point}:\n{text}"))
    };
    for (point, fstype) in [
        ("/", "tmpfs"),
        ("/tmp", "tmpfs"),
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/shm", "tmpfs"),
        ("/dev/pts", "devpts"),
    ] {
        assert_eq!(fstype_of(point), fstype, "{point}:\n{text}");
    }
    assert!(mounts.iter().any(|m| m.mount_point == "/usr"), "{text}");
    // The devpts instance is new: none of the host's devpts superblocks.
    let host_text = host_mounts();
    let host_devpts: BTreeSet<&str> = parse_mountinfo(&host_text)
        .into_iter()
        .filter(|m| m.fstype == "devpts")
        .map(|m| m.device)
        .collect();
    let inside_devpts = mounts
        .iter()
        .find(|m| m.fstype == "devpts")
        .map(|m| m.device)
        .unwrap();
    assert!(
        !host_devpts.contains(inside_devpts),
        "/dev/pts is the host's devpts {inside_devpts}"
    );
}

/// /dev holds exactly the minimal set, each node the host's device, and they work.
fn check_dev_is_minimal(mode: Mode) {
    const NODES: &str = "for n in null zero full random urandom tty; do \
                         stat -c '%n %F %t:%T' /dev/$n; done";
    let script = format!(
        "ls -A /dev | tr '\\n' ' '; echo; ls -A /dev/pts | tr '\\n' ' '; echo; {NODES}; \
         echo x > /dev/null && echo null-writes; \
         head -c 4 /dev/zero | od -An -tx1 | tr -d ' '; \
         head -c 16 /dev/urandom | wc -c | tr -d ' '; \
         echo shm > /dev/shm/probe && cat /dev/shm/probe; \
         readlink /dev/ptmx /dev/fd /dev/stdin /dev/stdout /dev/stderr"
    );
    let out = sh(mode, &script);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let host = Command::new("sh").args(["-c", NODES]).output().unwrap();
    let expected = format!(
        "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n\
         ptmx \n\
         {}null-writes\n00000000\n16\nshm\npts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n\
         /proc/self/fd/1\n/proc/self/fd/2\n",
        String::from_utf8_lossy(&host.stdout)
    );
    assert_eq!(stdout(&out), expected, "stderr: {}", stderr(&out));
}

/// /etc is a minimal copy: the files a program needs to resolve users, hosts and libraries,
/// no shadow, gshadow, sudoers or ssh keys; the list is the policy, written out here.
fn check_etc_is_minimal(mode: Mode) {
    let out = sh(mode, "ls -A /etc");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed: BTreeSet<String> = stdout(&out).lines().map(str::to_owned).collect();
    let mut expected = BTreeSet::new();
    for name in [
        "passwd",
        "group",
        "nsswitch.conf",
        "hosts",
        "resolv.conf",
        "ld.so.cache",
        "ld.so.conf",
        "localtime",
        "host.conf",
        "ld.so.conf.d",
    ] {
        if Path::new("/etc").join(name).exists() {
            expected.insert(name.to_owned());
        }
    }
    if Path::new("/etc/ssl/certs").is_dir() {
        expected.insert("ssl".to_owned());
    }
    assert!(expected.contains("passwd"), "the host has no /etc/passwd");
    assert_eq!(listed, expected, "stderr: {}", stderr(&out));
    let out = sh(
        mode,
        "id -un; getent hosts localhost | cut -d' ' -f1 | head -n 1",
    );
    assert_eq!(stdout(&out), "nobody\n127.0.0.1\n", "{}", stderr(&out));
}

/// The system directories mirror the host's layout: a symlink where the host has one (merged
/// /usr), with the same target, a directory where the host has a directory, nothing where the
/// host has nothing.
fn check_system_dirs_follow_host_layout(mode: Mode) {
    const DIRS: [&str; 7] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr"];
    let describe = "for d in bin sbin lib lib32 lib64 libx32 usr; do \
                    if [ -L /$d ]; then echo \"$d link $(readlink /$d)\"; \
                    elif [ -d /$d ]; then echo \"$d dir\"; else echo \"$d absent\"; fi; done";
    let out = sh(mode, describe);
    let expected: String = DIRS
        .iter()
        .map(|d| {
            let path = Path::new("/").join(d);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    format!(
                        "{d} link {}\n",
                        std::fs::read_link(&path).unwrap().display()
                    )
                }
                Ok(meta) if meta.is_dir() => format!("{d} dir\n"),
                _ => format!("{d} absent\n"),
            }
        })
        .collect();
    assert_eq!(stdout(&out), expected, "stderr: {}", stderr(&out));
    // And what is there is the host's: the same /usr/bin/sh.
    let out = sh(mode, "stat -L -c '%s %Y' /bin/sh");
    let host = std::fs::metadata("/bin/sh").unwrap();
    assert_eq!(
        stdout(&out),
        format!("{} {}\n", host.len(), host.mtime()),
        "{}",
        stderr(&out)
    );
}

macro_rules! mode_tests {
    ($module:ident, $mode:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn root_is_readonly_and_tmp_writable() {
                if prerequisites() {
                    check_root_readonly_tmp_writable($mode);
                }
            }
            #[test]
            fn host_files_are_hidden() {
                if prerequisites() {
                    check_host_files_hidden($mode);
                }
            }
            #[test]
            fn hostname_is_set() {
                if prerequisites() {
                    check_hostname($mode);
                }
            }
            #[test]
            fn only_loopback_and_it_is_up() {
                if prerequisites() {
                    check_only_loopback_up($mode);
                }
            }
            #[test]
            fn namespaces_are_new_and_reported() {
                if prerequisites() {
                    check_namespaces_are_new($mode);
                }
            }
            #[test]
            fn old_root_is_gone_before_the_payload_runs() {
                if prerequisites() {
                    check_old_root_gone($mode);
                }
            }
            #[test]
            fn sigpipe_has_its_default_action() {
                if prerequisites() {
                    check_sigpipe_default($mode);
                }
            }
            #[test]
            fn exit_codes_follow_the_payload() {
                if prerequisites() {
                    check_exit_codes($mode);
                }
            }
            #[test]
            fn signals_are_forwarded() {
                if prerequisites() {
                    check_signal_forwarding($mode);
                }
            }
            #[test]
            fn ignored_signals_pass_through() {
                if prerequisites() {
                    check_ignored_signals_pass_through($mode);
                }
            }
            #[test]
            fn zombies_are_reaped() {
                if prerequisites() {
                    check_zombies_reaped($mode);
                }
            }
            #[test]
            fn sandbox_dies_with_the_launcher() {
                if prerequisites() {
                    check_dies_with_launcher($mode);
                }
            }
            #[test]
            fn host_mount_table_is_untouched() {
                if prerequisites() {
                    check_mount_table_untouched($mode);
                }
            }
            #[test]
            fn euid_is_never_zero_in_the_tree() {
                if prerequisites() {
                    check_euid_never_zero($mode);
                }
            }
            #[test]
            fn environment_and_fds_are_clean() {
                if prerequisites() {
                    check_clean_env_and_fds($mode);
                }
            }
            #[test]
            fn payload_is_confined() {
                if prerequisites() {
                    check_payload_confined($mode);
                }
            }
            #[cfg(target_arch = "x86_64")]
            #[test]
            fn x32_system_calls_kill_the_payload() {
                if prerequisites() {
                    check_x32_kills_the_payload($mode);
                }
            }
            #[test]
            fn mounts_are_nosuid_nodev_and_private() {
                if prerequisites() {
                    check_mounts_nosuid_nodev_private($mode);
                }
            }
            #[test]
            fn dev_is_minimal() {
                if prerequisites() {
                    check_dev_is_minimal($mode);
                }
            }
            #[test]
            fn etc_is_minimal() {
                if prerequisites() {
                    check_etc_is_minimal($mode);
                }
            }
            #[test]
            fn system_dirs_follow_the_host_layout() {
                if prerequisites() {
                    check_system_dirs_follow_host_layout($mode);
                }
            }
        }
    };
}

mode_tests!(userns_nobody, Mode::UsernsNobody);
mode_tests!(root_backed, Mode::RootBacked);
mode_tests!(root_backed_without_userns, Mode::RootBackedNoUserns);
mode_tests!(auto_as_root, Mode::AutoRoot);

/// One line on stderr, a documented code, nothing mounted or left running.
fn assert_clean_failure(out: &Output, code: i32, needle: &str) {
    assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("sandbox-run: failed to"), "{err}");
    assert!(err.contains(needle), "{err}");
}

#[test]
fn bad_input_fails_cleanly() {
    if !prerequisites() {
        return;
    }
    let before = host_mounts();
    // A directory the sandbox user may not search: root's, mode 0700.
    let private = tempfile::Builder::new()
        .prefix("sbx-private")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let private_src = private.path().to_str().unwrap();
    // A copy of the launcher of this test's own, and a marker in its environment: what either
    // names after the failures is a leftover of this test, whatever the other tests run.
    let copy = support::world_copy(Path::new(env!("CARGO_BIN_EXE_sandbox-run")));
    let marker = format!("bad-input-{}", std::process::id());
    let run = |mode: Mode, args: &[&str]| -> Output {
        let mut cmd = command_for(&copy.path, mode, args);
        cmd.env("SANDBOX_TEST_MARKER", &marker);
        spawn_command(mode, cmd, None).wait_with_output().unwrap()
    };
    for mode in [
        Mode::UsernsNobody,
        Mode::RootBacked,
        Mode::RootBackedNoUserns,
        Mode::AutoRoot,
    ] {
        let out = run(
            mode,
            &["--bind", "/no/such/source", "/data", "--", "/bin/true"],
        );
        assert_clean_failure(&out, 240, "/no/such/source");
        let out = run(mode, &["--ro-bind", "usr", "/usr2", "--", "/bin/true"]);
        assert_clean_failure(&out, 240, "must be absolute");
        let out = run(mode, &["--user", "no-such-user-xyz", "--", "/bin/true"]);
        assert_clean_failure(&out, 240, "no-such-user-xyz");
        let out = run(mode, &["--json-status-fd", "77", "--", "/bin/true"]);
        assert_clean_failure(&out, 240, "--json-status-fd 77");
        let out = run(mode, &["--bogus-flag", "--", "/bin/true"]);
        assert_clean_failure(&out, 240, "--bogus-flag");
        let out = run(mode, &["--", "/no/such/program"]);
        assert_clean_failure(&out, 127, "/no/such/program");
        // The old root is gone before any directory is entered for the payload: a --chdir into
        // it (or through it) must fail, never leave the payload's cwd on the host.
        for dir in ["/oldroot", "/oldroot/etc", "/no/such/dir"] {
            let out = run(mode, &["--chdir", dir, "--", "/bin/pwd"]);
            assert_clean_failure(&out, 246, dir);
        }
        // The payload's identity enters --chdir, not root: a directory it may not search fails.
        let out = run(
            mode,
            &[
                "--bind",
                private_src,
                "/private",
                "--chdir",
                "/private",
                "--",
                "/bin/pwd",
            ],
        );
        assert_clean_failure(&out, 246, "/private: Permission denied");
    }
    assert_eq!(host_mounts(), before);
    assert_nothing_left_running(&copy.path, &marker);
}

/// Waits (a few seconds at most) until no process runs `launcher` or carries `marker`.
fn assert_nothing_left_running(launcher: &Path, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<String> = support::processes::leftovers(launcher, marker)
            .into_iter()
            // Other tests of this binary reap their own children.
            .filter(|l| l.state != 'Z')
            .map(|l| format!("pid {} ({}) {}: {}", l.pid, l.state, l.why, l.cmdline))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left running: {left:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn root_backed_needs_real_root() {
    if !prerequisites() {
        return;
    }
    let before = host_mounts();
    let copy = support::world_copy(Path::new(env!("CARGO_BIN_EXE_sandbox-run")));
    let marker = format!("not-root-{}", std::process::id());
    let out = Command::new("setpriv")
        .args(support::AS_NOBODY)
        .arg(&copy.path)
        .args(["--mode", "root-backed", "--", "/bin/true"])
        .env("SANDBOX_TEST_MARKER", &marker)
        .output()
        .unwrap();
    assert_clean_failure(&out, 244, "requires a real uid of 0");
    assert_eq!(host_mounts(), before);
    assert_nothing_left_running(&copy.path, &marker);
}

#[test]
fn unmapped_user_fails_clearly_under_map_root_only() {
    if !prerequisites() {
        return;
    }
    // `unshare -U -r` maps only 0: the default --user (65534) cannot be dropped to.
    let script = "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$@\"";
    let out = Command::new("unshare")
        .args(["-U", "-r", "--", "sh", "-c", script, "sh"])
        .arg(binary())
        .args(["--mode", "root-backed", "--", "/bin/true"])
        .output()
        .unwrap();
    assert_clean_failure(&out, 244, "not mapped in this user namespace");
}

#[test]
fn no_working_mode_fails_clearly() {
    if !prerequisites() {
        return;
    }
    // An unprivileged uid where user namespaces are disabled: neither mode works.
    let before = host_mounts();
    let copy = support::world_copy(Path::new(env!("CARGO_BIN_EXE_sandbox-run")));
    let marker = format!("no-mode-{}", std::process::id());
    let mut cmd = Command::new("unshare");
    cmd.args(["-U", "--", "sh", "-c", NO_USERNS_GATE, "sh", "setpriv"])
        .args(support::AS_NOBODY)
        .arg(&copy.path)
        .args(["--", "/bin/true"])
        .env("SANDBOX_TEST_MARKER", &marker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let own = std::fs::read_link("/proc/self/ns/user").unwrap();
    let theirs = format!("/proc/{}/ns/user", child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_link(&theirs)
        .map(|l| l == own)
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "unshare never entered its user namespace"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let map = "0 0 1\n65534 65534 1\n";
    std::fs::write(format!("/proc/{}/uid_map", child.id()), map).unwrap();
    std::fs::write(format!("/proc/{}/gid_map", child.id()), map).unwrap();
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_clean_failure(&out, 241, "failed to find a working sandbox mode");
    assert_eq!(host_mounts(), before);
    assert_nothing_left_running(&copy.path, &marker);
}

#[test]
fn user_binds_and_tmpfs_apply_in_both_modes() {
    if !prerequisites() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("sbx-bind")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(dir.path().join("in.txt"), "from-host\n").unwrap();
    std::fs::set_permissions(
        dir.path().join("in.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let src = dir.path().to_str().unwrap();
    for mode in [Mode::UsernsNobody, Mode::RootBacked] {
        let out = run(
            mode,
            &[
                "--ro-bind",
                src,
                "/ro",
                "--bind",
                src,
                "/rw",
                "--tmpfs",
                "/scratch",
                "--chdir",
                "/rw",
                "--",
                "/bin/sh",
                "-c",
                "cat /ro/in.txt; touch /ro/x 2>/dev/null && echo ro-writable; \
                 echo out > out.txt && echo rw-ok; touch /scratch/s && echo scratch-ok",
            ],
        );
        assert_eq!(
            stdout(&out),
            "from-host\nrw-ok\nscratch-ok\n",
            "{mode:?}: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
            "out\n"
        );
        std::fs::remove_file(dir.path().join("out.txt")).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Where root is held: the launcher's credential changes and privileged system calls, as strace
// records them (successful calls only, in the order they completed).

/// One successful system call of the trace.
#[derive(Debug, Clone)]
struct TracedCall {
    pid: u32,
    name: String,
    args: String,
}

impl TracedCall {
    /// A call that needs privilege here: a namespace, a mount, a root switch.
    fn is_privileged(&self) -> bool {
        matches!(
            self.name.as_str(),
            "mount" | "umount2" | "pivot_root" | "setns" | "unshare"
        ) || (self.name.starts_with("clone") && self.args.contains("CLONE_NEW"))
    }
    fn is_fork(&self) -> bool {
        matches!(self.name.as_str(), "clone" | "clone3" | "fork" | "vfork")
    }
    /// setresuid(-1, 0, -1): the effective uid raised to 0, the real uid (0) kept.
    fn raises(&self) -> bool {
        self.name == "setresuid" && self.args == "-1, 0, -1"
    }
    /// setresuid(-1, 65534, -1): back to the unprivileged effective uid.
    fn lowers(&self) -> bool {
        self.name == "setresuid" && self.args == "-1, 65534, -1"
    }
    /// setresuid(65534, 65534, 65534): real, effective and saved ids dropped for good.
    fn drops_for_good(&self) -> bool {
        self.name == "setresuid" && self.args == "65534, 65534, 65534"
    }
}

const TRACED: &str = "trace=setresuid,setresgid,setgroups,unshare,clone,clone3,fork,vfork,\
                      mount,umount2,pivot_root,setns,execve,write";

fn parse_trace(text: &str) -> Vec<TracedCall> {
    text.lines()
        .filter_map(|line| {
            let (pid, rest) = line.split_once(' ')?;
            let pid = pid.parse().ok()?;
            // strace pads short pids to a common width.
            let (name, rest) = rest.trim_start().split_once('(')?;
            let (args, _ret) = rest.rsplit_once(" = ")?;
            let args = args.trim_end().strip_suffix(')')?;
            Some(TracedCall {
                pid,
                name: name.to_owned(),
                args: args.to_owned(),
            })
        })
        .collect()
}

/// Runs `sandbox-run LAUNCHER_ARGS -- /bin/true` under strace, in the root-backed (`RootBacked`,
/// `RootBackedNoUserns`) or root-invoked (`AutoRoot`) environment; returns the calls.
fn trace_launch(mode: Mode, launcher_args: &[&str]) -> Vec<TracedCall> {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("trace");
    let mut strace: Vec<String> = [
        "strace",
        "-f",
        "-qq",
        "-e",
        TRACED,
        "-e",
        "signal=none",
        "-e",
        "status=successful",
        "-o",
    ]
    .map(String::from)
    .to_vec();
    strace.push(out_file.to_str().unwrap().to_owned());
    strace.push(binary().to_str().unwrap().to_owned());
    strace.extend(launcher_args.iter().map(|a| a.to_string()));
    strace.extend(["--", "/bin/true"].map(String::from));
    let cmd = match mode {
        Mode::RootBackedNoUserns => {
            let mut cmd = Command::new("unshare");
            cmd.args(["-U", "--", "sh", "-c", NO_USERNS_GATE, "sh"])
                .args(&strace);
            cmd
        }
        Mode::RootBacked | Mode::AutoRoot => {
            let mut cmd = Command::new(&strace[0]);
            cmd.args(&strace[1..]);
            cmd
        }
        Mode::UsernsNobody => unreachable!("nobody holds no root to trace"),
    };
    let out = spawn_command(mode, cmd, None).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
    let calls = parse_trace(&std::fs::read_to_string(&out_file).unwrap());
    assert!(
        calls.first().is_some_and(|c| c.name == "execve"),
        "{calls:#?}"
    );
    calls
}

fn calls_of(calls: &[TracedCall], pid: u32) -> Vec<&TracedCall> {
    calls.iter().filter(|c| c.pid == pid).collect()
}

/// Root-backed: the launcher lowers its effective uid before it does anything else, raises it
/// only around the calls that need it, and ends lowered; pid 1 builds the sandbox as root and
/// drops for good before any program runs in the sandbox; every program runs with its ids
/// dropped for good.
fn check_root_held_only_to_build(mode: Mode) {
    let calls = trace_launch(mode, &["--mode", "root-backed"]);
    let launcher = calls[0].pid;
    let own = calls_of(&calls, launcher);
    let first_lowering = own
        .iter()
        .position(|c| c.lowers())
        .unwrap_or_else(|| panic!("the launcher never lowers its euid: {own:#?}"));
    assert!(
        own[..first_lowering]
            .iter()
            .all(|c| !c.is_privileged() && !c.is_fork()),
        "work before the euid was lowered: {own:#?}"
    );
    let mut raised = false;
    let mut window_used = true;
    let mut windows = 0;
    for call in &own[first_lowering..] {
        if call.raises() {
            raised = true;
            window_used = false;
            windows += 1;
        } else if call.lowers() {
            assert!(
                window_used,
                "a raised window with no privileged call: {own:#?}"
            );
            raised = false;
        } else if call.is_privileged() {
            assert!(raised, "{call:?} with the euid lowered: {own:#?}");
            window_used = true;
        }
    }
    assert!(!raised, "the launcher ends with its euid raised: {own:#?}");
    assert!(windows >= 1, "{own:#?}");

    // pid 1: the one that switched roots. Its privileged calls come before its drop for good.
    let init = calls
        .iter()
        .find(|c| c.name == "pivot_root")
        .map(|c| c.pid)
        .expect("a pivot_root");
    let init_calls = calls_of(&calls, init);
    let init_drop = init_calls
        .iter()
        .position(|c| c.drops_for_good())
        .unwrap_or_else(|| panic!("pid 1 never drops for good: {init_calls:#?}"));
    assert!(
        init_calls[init_drop..]
            .iter()
            .all(|c| !c.is_privileged() && !c.raises()),
        "pid 1 after its drop: {init_calls:#?}"
    );
    // pid 1 releases the payload (one byte, "s", on the seal pipe) only once it has dropped.
    let release = init_calls
        .iter()
        .position(|c| c.name == "write" && c.args.ends_with(", \"s\", 1"))
        .unwrap_or_else(|| panic!("pid 1 never released the payload: {init_calls:#?}"));
    assert!(
        init_drop < release,
        "pid 1 released the payload before dropping root: {init_calls:#?}"
    );
    let init_drop_at = calls
        .iter()
        .position(|c| c.pid == init && c.drops_for_good())
        .unwrap();

    // Every program started in the sandbox: after pid 1's drop, by a process dropped for good.
    let mut dropped: BTreeSet<u32> = BTreeSet::new();
    let mut programs = 0;
    for (index, call) in calls.iter().enumerate().skip(1) {
        if call.drops_for_good() {
            dropped.insert(call.pid);
        }
        if call.name == "execve" {
            programs += 1;
            assert!(
                dropped.contains(&call.pid),
                "{call:?} before its drop: {calls:#?}"
            );
            assert!(
                index > init_drop_at,
                "{call:?} while pid 1 holds root: {calls:#?}"
            );
        }
    }
    assert_eq!(programs, 1, "{calls:#?}");
}

#[test]
fn root_backed_holds_root_only_to_build_the_sandbox() {
    if !prerequisites() {
        return;
    }
    check_root_held_only_to_build(Mode::RootBacked);
}

#[test]
fn root_backed_without_userns_holds_root_only_to_build_the_sandbox() {
    if !prerequisites() {
        return;
    }
    check_root_held_only_to_build(Mode::RootBackedNoUserns);
}

/// Invoked as root where user namespaces work: the launcher drops root for good before it
/// builds anything, and the sandbox is a user-namespace one. `--mode userns` drops first of all;
/// auto raises its euid only for the selector's trials, then drops for good.
#[test]
fn root_invoker_in_userns_mode_drops_root_before_building() {
    if !prerequisites() {
        return;
    }
    for args in [&["--mode", "userns"][..], &[][..]] {
        let calls = trace_launch(Mode::AutoRoot, args);
        let launcher = calls[0].pid;
        let own = calls_of(&calls, launcher);
        let drop_at = own
            .iter()
            .position(|c| c.drops_for_good())
            .unwrap_or_else(|| panic!("{args:?}: no drop for good: {own:#?}"));
        let sandbox_clone = own
            .iter()
            .position(|c| c.is_privileged())
            .unwrap_or_else(|| panic!("{args:?}: no sandbox clone: {own:#?}"));
        assert!(drop_at < sandbox_clone, "{args:?}: {own:#?}");
        assert!(
            own[sandbox_clone].args.contains("CLONE_NEWUSER"),
            "{args:?}: {:?}",
            own[sandbox_clone]
        );
        assert!(
            own[drop_at..].iter().all(|c| !c.raises()),
            "{args:?}: raised after the drop: {own:#?}"
        );
        if args.is_empty() {
            continue;
        }
        // --mode userns: the drop is the first thing, and nothing is raised or forked before.
        assert!(
            own[1..drop_at]
                .iter()
                .all(|c| !c.raises() && !c.is_fork() && !c.is_privileged()),
            "{own:#?}"
        );
    }
}

/// A host with a split /usr (/bin, /sbin, /lib and /lib64 real directories, not symlinks),
/// made in a private mount namespace: a tmpfs root with those directories bound from /usr's,
/// the launcher copied in, pivot_root into it. The script takes the launcher's path, then the
/// command to run in that root.
const SPLIT_USR_HOST: &str = r#"set -e
root=$(mktemp -d)
mount -t tmpfs -o mode=0755 split-usr-root "$root"
cd "$root"
mkdir -p usr bin sbin lib lib64 etc proc dev tmp oldroot opt/launcher
mount --rbind /usr usr
for d in bin sbin lib lib64; do mount --bind "/usr/$d" "$d"; done
mount --rbind /etc etc
mount --rbind /dev dev
mount -t proc proc proc
mount -t tmpfs -o mode=1777 tmpfs tmp
cp "$1" opt/launcher/sandbox-run
chmod 755 opt/launcher/sandbox-run
shift
pivot_root . oldroot
cd /
umount -l /oldroot
rmdir /oldroot
exec "$@""#;

/// On a split-/usr host the system directories are bound read-only as directories (on this
/// merged-/usr machine the mode tests above see symlinks), in every mode that can run there.
#[test]
fn split_usr_host_gets_its_directories_bound() {
    if !prerequisites() {
        return;
    }
    if !Path::new("/usr/lib64").is_dir() || !Path::new("/usr/sbin").is_dir() {
        // The simulation binds /usr/{bin,sbin,lib,lib64}; every Debian-based CI host has them.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "/usr/lib64 or /usr/sbin is missing: the split-/usr simulation cannot be built"
        );
        eprintln!("SKIPPED LOUDLY: /usr/lib64 or /usr/sbin is missing");
        return;
    }
    let inside = "for d in bin sbin lib lib64; do \
                  if [ -L /$d ]; then echo \"$d link\"; elif [ -d /$d ]; then echo \"$d dir\"; fi; \
                  done; test -x /bin/sh && echo sh-runs; \
                  for d in bin sbin lib lib64; do \
                  grep \" /$d \" /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1-3; done";
    let launcher = "/opt/launcher/sandbox-run";
    let runs: [(&str, Vec<&str>); 3] = [
        (
            "userns as nobody",
            [
                &["setpriv"][..],
                support::AS_NOBODY,
                &[launcher, "--mode", "userns"],
            ]
            .concat(),
        ),
        (
            "root-backed as root",
            vec![launcher, "--mode", "root-backed"],
        ),
        ("auto as root", vec![launcher]),
    ];
    for (name, prefix) in runs {
        let out = Command::new("unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                SPLIT_USR_HOST,
                "sh",
            ])
            .arg(env!("CARGO_BIN_EXE_sandbox-run"))
            .args(&prefix)
            .args(["--", "/bin/sh", "-c", inside])
            .output()
            .unwrap();
        assert_eq!(
            stdout(&out),
            "bin dir\nsbin dir\nlib dir\nlib64 dir\nsh-runs\n\
             ro,nosuid,nodev\nro,nosuid,nodev\nro,nosuid,nodev\nro,nosuid,nodev\n",
            "{name}: {}",
            stderr(&out)
        );
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
    }
}
