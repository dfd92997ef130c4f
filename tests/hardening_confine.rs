//! Live tests of the payload hardening (seccomp filter, capabilities, no_new_privs, fds,
//! session) without the launcher: `examples/confine.rs` applies the steps and execs a python3
//! probe that tries each denied system call and reports the errno.
//!
//! `cargo test` builds the example; when running one test file alone, build it first with
//! `cargo build --example confine`.

mod support;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Output};

use support::payload_probe::{assert_confined, calls_json, report, PROBE};

fn confine_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps layout");
    let path = profile_dir.join("examples").join("confine");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --example confine` (plain `cargo test` builds it)",
        path.display()
    );
    path
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests switch users with setpriv and must run as root"
    );
}

/// Runs the probe through `prefix… confine [confine_args] python3 -c PROBE`, with a leaked fd 7.
fn run_probe(prefix: &[&str], confine_args: &[&str]) -> Output {
    let confine = confine_binary();
    let calls = calls_json();
    let mut argv: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
    argv.push(confine.display().to_string());
    argv.extend(confine_args.iter().map(|s| s.to_string()));
    argv.extend(["python3".into(), "-c".into(), PROBE.into(), calls]);
    let leak = std::fs::File::open("/dev/null").expect("open /dev/null");
    let leak_fd = std::os::fd::AsRawFd::as_raw_fd(&leak);
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    // SAFETY: dup2 is async-signal-safe; it places an inheritable copy of /dev/null at fd 7 so
    // the test can see whether confine closes inherited descriptors.
    unsafe {
        command.pre_exec(move || {
            // dup2 onto itself would keep CLOEXEC; clear the flag instead.
            let rc = if leak_fd == 7 {
                libc::fcntl(7, libc::F_SETFD, 0)
            } else {
                libc::dup2(leak_fd, 7)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.output().expect("spawn the probe")
}

const SETPRIV_NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
];

#[test]
fn root_payload_is_fully_confined() {
    require_root();
    let report = report(&run_probe(&[], &[]));
    assert_confined(&report);
}

#[test]
fn nobody_with_empty_bounding_set_is_fully_confined() {
    require_root();
    let mut prefix = SETPRIV_NOBODY.to_vec();
    prefix.push("--bounding-set=-all");
    let report = report(&run_probe(&prefix, &[]));
    assert_confined(&report);
    assert_eq!(report["ids"][0], serde_json::json!([65534, 65534, 65534]));
}

#[test]
fn root_backed_order_drops_ids_and_everything_else() {
    require_root();
    let report = report(&run_probe(&[], &["--as-user", "65534:65534"]));
    assert_confined(&report);
    assert_eq!(report["ids"][0], serde_json::json!([65534, 65534, 65534]));
    assert_eq!(report["ids"][1], serde_json::json!([65534, 65534, 65534]));
    assert_eq!(report["ids"][2], serde_json::json!([]));
}

#[test]
fn nobody_with_a_full_bounding_set_fails_closed() {
    require_root();
    let output = run_probe(&SETPRIV_NOBODY, &[]);
    assert_eq!(output.status.code(), Some(125), "{output:?}");
    assert!(
        output.stdout.is_empty(),
        "the payload must not have run: {output:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("failed to drop capability 0 from the bounding set"),
        "{stderr}"
    );
}

/// The control run: the same probe without the filter gets other answers from the kernel, so
/// the EPERMs above come from the filter, not from missing privileges.
#[test]
fn without_the_filter_the_kernel_answers_differently() {
    require_root();
    let report = report(&run_probe(&[], &["--no-filter"]));
    let calls = &report["calls"];
    assert_eq!(report["status"]["Seccomp"], "0");
    for (name, not_expected) in [
        ("setns", "EPERM"),
        ("clone3", "ENOSYS"),
        ("ioctl_tiocsti", "EPERM"),
        ("ioctl_tioclinux", "EPERM"),
        ("keyctl", "EPERM"),
        ("io_uring_enter", "EPERM"),
        ("pidfd_getfd", "EPERM"),
        ("personality_read_implies_exec", "EPERM"),
        ("ptrace", "EPERM"),
    ] {
        assert_ne!(calls[name], not_expected, "{name} without the filter");
    }
    assert_eq!(report["netlink_audit"], "ok");
}

#[test]
fn ordinary_programs_still_run() {
    require_root();
    let output = Command::new(confine_binary())
        .args([
            "sh",
            "-c",
            "ls / >/dev/null && cat /etc/hostname >/dev/null && echo ran",
        ])
        .output()
        .expect("spawn confine");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ran\n");
}

#[test]
fn missing_program_is_reported_with_127() {
    require_root();
    let output = Command::new(confine_binary())
        .arg("/nonexistent/program")
        .output()
        .expect("spawn confine");
    assert_eq!(output.status.code(), Some(127), "{output:?}");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x32_system_calls_kill_the_process() {
    require_root();
    let script = "import ctypes; ctypes.CDLL(None).syscall(0x40000000 | 39); print('survived')";
    let output = Command::new(confine_binary())
        .args(["python3", "-c", script])
        .output()
        .expect("spawn confine");
    assert_eq!(output.status.signal(), Some(libc::SIGSYS), "{output:?}");
    assert!(output.stdout.is_empty());
}
