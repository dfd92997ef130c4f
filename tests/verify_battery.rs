//! The containment battery must tell a sandbox from a breach. Without the launcher, two
//! environments show it: an approximate sandbox (`unshare -Urmpfn --mount-proc` plus
//! `examples/confine.rs`, which isolates namespaces and hardens the process but shares the
//! host's filesystem and maps the caller to root), and no sandbox at all. Each check must pass
//! exactly where its layer is present and fail where it is not.
//!
//! `cargo test` builds the examples; when running this file alone, build them first with
//! `cargo build --examples`.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps layout");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --examples` (plain `cargo test` builds it)",
        path.display()
    );
    path
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests switch to nobody with setpriv and must run as root"
    );
}

const NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
];

struct Run {
    exit: Option<i32>,
    checks: BTreeMap<String, (String, String)>,
    ids: Vec<String>,
}

/// Runs `prefix… verify_inside --host-port P --expect-env PATH --host-canary C` with an
/// inheritable fd 7 and a canary environment variable, and returns id → (outcome, evidence).
fn run_battery(prefix: &[&str]) -> Run {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    let port = listener.local_addr().expect("address").port();
    let canary = tempfile::Builder::new()
        .prefix("sandprobe-battery-canary")
        .tempfile_in("/tmp")
        .expect("canary file");
    let battery = example("verify_inside");
    let mut argv: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
    argv.push(battery.display().to_string());
    argv.extend([
        "--host-port".to_string(),
        port.to_string(),
        "--expect-env".to_string(),
        "PATH".to_string(),
        "--host-canary".to_string(),
        canary.path().display().to_string(),
    ]);
    let leak = std::fs::File::open("/dev/null").expect("open /dev/null");
    let leak_fd = std::os::fd::AsRawFd::as_raw_fd(&leak);
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .env("SANDPROBE_BATTERY_CANARY", "1");
    // SAFETY: dup2 is async-signal-safe; it leaves an inheritable /dev/null at fd 7.
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
    let output = command.output().expect("spawn the battery");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); status {:?}; stderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let mut checks = BTreeMap::new();
    let mut ids = Vec::new();
    for check in report["checks"].as_array().expect("checks array") {
        let id = check["id"].as_str().expect("id").to_string();
        ids.push(id.clone());
        checks.insert(
            id,
            (
                check["outcome"].as_str().expect("outcome").to_string(),
                check["evidence"].as_str().expect("evidence").to_string(),
            ),
        );
    }
    assert_eq!(
        report["passed"],
        Value::Bool(checks.values().all(|(o, _)| o == "pass"))
    );
    drop(listener);
    Run {
        exit: output.status.code(),
        checks,
        ids,
    }
}

fn assert_outcomes(run: &Run, expected_fail: &[&str]) {
    for (id, (outcome, evidence)) in &run.checks {
        let want = if expected_fail.contains(&id.as_str()) {
            "fail"
        } else {
            "pass"
        };
        assert_eq!(outcome, want, "{id}: {evidence}");
    }
    for id in expected_fail {
        assert!(run.checks.contains_key(*id), "check {id} missing");
    }
    assert_eq!(run.exit, Some(1), "a failing battery exits 1");
}

const ALL_CHECKS: [&str; 23] = [
    "host_paths_hidden",
    "host_canary_hidden",
    "pid1_is_sandbox_init",
    "root_read_only",
    "usr_read_only",
    "tmp_writable",
    "only_loopback",
    "host_loopback_unreachable",
    "capabilities_empty",
    "no_new_privs",
    "seccomp_active",
    "nested_userns_denied",
    "mount_denied",
    "ptrace_denied",
    "sandbox_init_protected",
    "keyctl_denied",
    "bpf_denied",
    "tiocsti_denied",
    "netlink_restricted",
    "no_leaked_fds",
    "environment_clean",
    "not_root",
    "no_controlling_tty",
];

/// Namespaces + hardening, but the host's filesystem and a root-mapped user namespace: the
/// process-level and network checks pass; the filesystem and identity checks must fail.
#[test]
fn approximate_sandbox_passes_what_it_isolates_and_fails_the_rest() {
    require_root();
    let confine = example("confine").display().to_string();
    let mut prefix = NOBODY.to_vec();
    prefix.extend([
        "unshare",
        "-Urmpfn",
        "--mount-proc",
        "env",
        "-i",
        "PATH=/usr/bin:/bin",
        confine.as_str(),
    ]);
    let run = run_battery(&prefix);
    assert_eq!(run.ids, ALL_CHECKS, "the battery's checks, in order");
    assert_outcomes(
        &run,
        &[
            // The host's root is shared: its files and the canary are visible, and / and
            // /usr are ordinary (writable-by-root) mounts, refused with EACCES, not EROFS.
            "host_paths_hidden",
            "host_canary_hidden",
            "root_read_only",
            "usr_read_only",
            // `unshare -r` maps the caller to root.
            "not_root",
        ],
    );
    assert!(run.checks["root_read_only"].1.contains("EACCES"));
    assert!(run.checks["nested_userns_denied"].1.contains("EPERM"));
    assert!(run.checks["pid1_is_sandbox_init"].1.contains("own pid 1"));
}

/// No sandbox at all: every layer's check must fail, except those that hold for any process
/// started without a terminal, a leaked environment filter or root.
#[test]
fn no_sandbox_fails_every_layer() {
    require_root();
    let run = run_battery(&NOBODY);
    assert_eq!(run.ids, ALL_CHECKS);
    assert_outcomes(
        &run,
        &[
            "host_paths_hidden",
            "host_canary_hidden",
            "pid1_is_sandbox_init",
            "root_read_only",
            "usr_read_only",
            "only_loopback",
            "host_loopback_unreachable",
            "capabilities_empty",
            "no_new_privs",
            "seccomp_active",
            "nested_userns_denied",
            "mount_denied",
            "ptrace_denied",
            "keyctl_denied",
            "bpf_denied",
            "tiocsti_denied",
            "netlink_restricted",
            "no_leaked_fds",
            "environment_clean",
        ],
    );
    // The kernel answers an unknown bpf command itself (EINVAL) when no filter is in the way.
    assert!(
        run.checks["bpf_denied"]
            .1
            .contains("bpf(unknown command) failed: EINVAL"),
        "{}",
        run.checks["bpf_denied"].1
    );
    assert!(
        run.checks["no_leaked_fds"].1.contains("7 -> /dev/null"),
        "{}",
        run.checks["no_leaked_fds"].1
    );
    assert!(run.checks["environment_clean"]
        .1
        .contains("SANDPROBE_BATTERY_CANARY"));
    assert!(run.checks["host_loopback_unreachable"]
        .1
        .contains("connected"));
    assert!(run.checks["tiocsti_denied"].1.contains("EBADF"));
    assert!(
        run.checks["mount_denied"]
            .1
            .contains("open_tree(/) succeeded"),
        "{}",
        run.checks["mount_denied"].1
    );
}

#[test]
fn bad_arguments_exit_2() {
    let output = Command::new(example("verify_inside"))
        .args(["--host-port", "notaport"])
        .output()
        .expect("spawn the battery");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid --host-port"));
}
