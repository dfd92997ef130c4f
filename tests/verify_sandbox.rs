//! `verify()` end to end: the outside half (examples/verify.rs) runs the real `sandbox-run`
//! with the battery (examples/verify_inside.rs) as payload, in the four environments the
//! launcher must handle, and every containment check must pass in each.
//!
//! `cargo test` builds the examples and the launcher; when running this file alone, build them
//! first with `cargo build --bins --examples`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps layout")
        .to_path_buf()
}

fn built(relative: &str) -> String {
    let path = profile_dir().join(relative);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --bins --examples`",
        path.display()
    );
    path.display().to_string()
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests need root (to switch users, and for root-backed mode)"
    );
}

/// `verify --json --mode MODE` with explicit launcher and payload.
fn verify_argv(mode: &str) -> Vec<String> {
    vec![
        built("examples/verify"),
        "--json".into(),
        "--mode".into(),
        mode.into(),
        "--sandbox-run".into(),
        env!("CARGO_BIN_EXE_sandbox-run").into(),
        "--payload".into(),
        built("examples/verify_inside"),
    ]
}

fn report(output: &Output) -> Value {
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): status {:?}\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    report
}

fn assert_all_pass(report: &Value, output: &Output, expected_mode: &str) {
    let failed: Vec<String> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["outcome"] != "pass")
        .map(|c| format!("{}: {}", c["id"], c["evidence"]))
        .collect();
    assert!(failed.is_empty(), "failed checks: {failed:#?}");
    assert!(
        report["checks"].as_array().expect("checks").len() >= 23,
        "the whole battery ran"
    );
    assert_eq!(report["passed"], true);
    assert_eq!(report["mode_used"], expected_mode, "{report:#}");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn userns_as_nobody() {
    require_root();
    let mut argv = vec![
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    argv.extend(verify_argv("userns"));
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .expect("run verify");
    assert_all_pass(&report(&output), &output, "userns");
}

#[test]
fn root_backed_as_root() {
    require_root();
    let argv = verify_argv("root-backed");
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .expect("run verify");
    assert_all_pass(&report(&output), &output, "root-backed");
}

#[test]
fn auto_as_root_ends_in_userns() {
    require_root();
    let argv = verify_argv("auto");
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .expect("run verify");
    let report = report(&output);
    assert_all_pass(&report, &output, "userns");
}

/// Runs `argv` as uid 0 of a user namespace mapping uids/gids 0–65535 onto the host's, in
/// which user.max_user_namespaces is 0: a host where user namespaces are disabled, while the
/// real host is untouched. The maps are written from outside, then the namespace's shell
/// execs a fresh shell (uid 0 at exec time, so it has the namespace's capabilities) that sets
/// the limit and execs `argv`.
fn in_userns_disabled_host(argv: &[String]) -> Output {
    let script =
        r#"read _; exec sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"' sh "$@""#;
    let mut child = Command::new("unshare")
        .args(["-U", "sh", "-c", script, "sh"])
        .args(argv)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare");
    let ours = std::fs::read_link("/proc/self/ns/user").expect("own user namespace");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let theirs = std::fs::read_link(format!("/proc/{}/ns/user", child.id()));
        if matches!(&theirs, Ok(ns) if *ns != ours) {
            break;
        }
        assert!(Instant::now() < deadline, "unshare -U did not happen");
        std::thread::sleep(Duration::from_millis(2));
    }
    for map in ["uid_map", "gid_map"] {
        std::fs::write(format!("/proc/{}/{map}", child.id()), "0 0 65536\n")
            .unwrap_or_else(|e| panic!("write {map}: {e}"));
    }
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"\n")
        .expect("release the namespace's shell");
    child.wait_with_output().expect("wait for verify")
}

#[test]
fn root_backed_with_user_namespaces_disabled() {
    require_root();
    let output = in_userns_disabled_host(&verify_argv("root-backed"));
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("max_user_namespaces"),
        "the simulation itself failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_all_pass(&report(&output), &output, "root-backed");
}

#[test]
fn auto_with_user_namespaces_disabled_picks_root_backed() {
    require_root();
    let output = in_userns_disabled_host(&verify_argv("auto"));
    let report = report(&output);
    assert_all_pass(&report, &output, "root-backed");
    let reason = report["mode_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("max_user_namespaces"), "{reason}");
}

/// The `sandprobe verify` command itself, with its defaults (the `sandbox-run` next to it, and
/// itself as the payload through `verify-inside`), in the four environments.
#[test]
fn the_sandprobe_command_verifies_in_every_mode() {
    require_root();
    let cli = |mode: &str| -> Vec<String> {
        [
            env!("CARGO_BIN_EXE_sandprobe"),
            "verify",
            "--json",
            "--mode",
            mode,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |argv: &[String]| {
        Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .expect("run sandprobe verify")
    };
    let mut as_nobody: Vec<String> = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ]
    .map(String::from)
    .to_vec();
    as_nobody.extend(cli("userns"));
    let output = run(&as_nobody);
    assert_all_pass(&report(&output), &output, "userns");
    let output = run(&cli("root-backed"));
    assert_all_pass(&report(&output), &output, "root-backed");
    let output = run(&cli("auto"));
    assert_all_pass(&report(&output), &output, "userns");
    let output = in_userns_disabled_host(&cli("root-backed"));
    assert_all_pass(&report(&output), &output, "root-backed");
    let output = in_userns_disabled_host(&cli("auto"));
    assert_all_pass(&report(&output), &output, "root-backed");

    // The table an admin reads: every row a pass, exit 0.
    let output = Command::new(env!("CARGO_BIN_EXE_sandprobe"))
        .args(["verify", "--no-color"])
        .output()
        .expect("run sandprobe verify");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let table = String::from_utf8_lossy(&output.stdout);
    // A check's row starts with its id; wrapped evidence continues on rows with an empty id.
    let results: Vec<(&str, &str)> = table
        .lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix('│')?.split('┆').map(str::trim);
            Some((cells.next()?, cells.next()?))
        })
        .filter(|(id, _)| !id.is_empty() && *id != "check")
        .collect();
    assert!(results.len() >= 23, "{table}");
    for (id, result) in results {
        assert_eq!(result, "pass", "{id}: {table}");
    }
}
