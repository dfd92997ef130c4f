//! Live staged trials, each run in a fresh process: the test harness is multithreaded, and
//! unshare(CLONE_NEWUSER) refuses a multithreaded caller, so the trials run in the `trial`
//! example binary and the tests read its JSON.
//!
//! These tests need root (to become uid 65534 with `setpriv`, and to hold CAP_SYS_ADMIN for the
//! root-backed trial), `setpriv` and `unshare`. Without them a test says so loudly and returns;
//! with `CI=true` it fails instead.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use sandprobe_probes::trials::{Stage, Trial, TrialOrigin, TrialResults, TrialRun};

/// Builds the `trial` example with the cargo running these tests and returns its path.
fn trial_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args([
            "build",
            "--quiet",
            "--package",
            "sandprobe-probes",
            "--example",
            "trial",
            "--message-format=json",
        ]);
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let output = cargo
            .output()
            .expect("failed to run cargo build for the trial example");
        assert!(
            output.status.success(),
            "failed to build the trial example: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| message["target"]["name"] == "trial")
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no executable for the trial example")
    })
}

/// Whether `tool` is an executable somewhere on PATH.
fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// `true` when the prerequisite holds. Otherwise the test cannot run here: under `CI=true`
/// that is a failure, elsewhere a loud message.
fn prerequisite(holds: bool, what: &str) -> bool {
    if holds {
        return true;
    }
    let message = format!("live trial test NOT RUN: {what}");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message} (CI=true, so this is a failure)"
    );
    eprintln!("\n{bar}\n!!! {message}\n{bar}\n", bar = "!".repeat(72));
    false
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs a command that ends in the trial binary and parses what it printed.
fn parse(output: Output, what: &str) -> TrialResults {
    assert!(
        output.status.success(),
        "{what}: the trial binary failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{what}: {}", String::from_utf8_lossy(&output.stderr).trim());
    let results: TrialResults = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{what}: the trial binary printed no results ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(results.origin, TrialOrigin::Live);
    results
}

fn ran<'a>(trial: &'a Trial, what: &str) -> &'a TrialRun {
    trial
        .run()
        .unwrap_or_else(|| panic!("{what} did not run: {trial:?}"))
}

fn stage_names(run: &TrialRun) -> Vec<Stage> {
    run.stages.iter().map(|s| s.stage).collect()
}

#[test]
fn as_root_the_userns_trial_drops_to_nobody_and_both_trials_pass() {
    if !prerequisite(is_root(), "needs to run as root") {
        return;
    }
    let results = parse(
        Command::new(trial_binary())
            .output()
            .expect("failed to run the trial binary"),
        "as root",
    );

    let userns = ran(&results.userns, "the userns trial");
    assert!(userns.passed(), "userns trial failed: {userns:?}");
    assert_eq!(userns.stages[0].stage, Stage::DropPrivileges);
    assert_eq!(userns.stages.len(), 11);
    assert_eq!((userns.uid, userns.gid), (65534, 65534));
    assert_eq!(userns.note, None);

    let root_backed = ran(&results.root_backed, "the root-backed trial");
    assert!(
        root_backed.passed(),
        "root-backed trial failed: {root_backed:?}"
    );
    assert_eq!(
        stage_names(root_backed),
        [
            Stage::UnshareNamespaces,
            Stage::MakeRootPrivate,
            Stage::MountTmpfs,
            Stage::MountProc,
            Stage::PivotRoot,
            Stage::LoopbackUp
        ]
    );
    assert_eq!(root_backed.uid, 0);
}

#[test]
fn as_nobody_the_userns_trial_passes_and_root_backed_is_skipped() {
    if !prerequisite(is_root(), "needs root to become uid 65534")
        || !prerequisite(on_path("setpriv"), "setpriv (util-linux) is not on PATH")
    {
        return;
    }
    // uid 65534 must reach the binary: copy it into a world-searchable directory.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod the temp dir");
    let binary = dir.path().join("trial");
    std::fs::copy(trial_binary(), &binary).expect("copy the trial binary");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the trial binary");
    // A concurrent fork in this test process may hold the fresh copy open for writing until
    // it execs; until then every exec of the copy fails with ETXTBSY. Wait that out.
    for _ in 0..200 {
        match Command::new("/bin/sh")
            .arg("-c")
            .arg("exec \"$0\" >/dev/null 2>&1")
            .arg(&binary)
            .status()
        {
            Ok(status) if status.code() != Some(126) => break,
            _ => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }

    let results = parse(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(&binary)
            .output()
            .expect("failed to run setpriv"),
        "as nobody",
    );

    let userns = ran(&results.userns, "the userns trial");
    assert!(userns.passed(), "userns trial failed: {userns:?}");
    assert!(
        !stage_names(userns).contains(&Stage::DropPrivileges),
        "an unprivileged invoker has nothing to drop: {userns:?}"
    );
    assert_eq!(stage_names(userns)[0], Stage::UnshareUser);
    assert_eq!((userns.uid, userns.gid), (65534, 65534));

    match &results.root_backed {
        Trial::Skipped { reason } => assert!(
            reason.contains("real uid is 65534"),
            "unexpected skip reason: {reason}"
        ),
        Trial::Ran(run) => panic!("the root-backed trial ran for uid 65534: {run:?}"),
    }
}

#[test]
fn with_user_namespaces_disabled_userns_fails_with_enospc_and_root_backed_passes() {
    if !prerequisite(
        is_root(),
        "needs root for unshare -U -r with a full capability set",
    ) || !prerequisite(on_path("unshare"), "unshare (util-linux) is not on PATH")
    {
        return;
    }
    // RHEL 7.4+ style: user.max_user_namespaces=0, set inside a fresh user namespace so the
    // host's limit is untouched. Only uid 0 is mapped there.
    let results = parse(
        Command::new("unshare")
            .args([
                "-U",
                "-r",
                "sh",
                "-c",
                "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\"",
            ])
            .arg(trial_binary())
            .output()
            .expect("failed to run unshare"),
        "with max_user_namespaces=0",
    );

    let userns = ran(&results.userns, "the userns trial");
    assert_eq!(
        userns.first_failure(),
        Some((Stage::UnshareUser, "ENOSPC")),
        "{userns:?}"
    );
    assert_eq!(userns.stages[0].stage, Stage::DropPrivileges);
    assert_eq!(
        userns.stages[0].outcome,
        sandprobe_probes::trials::StageOutcome::Ok
    );
    assert_eq!(
        userns.uid, 0,
        "uid 65534 is unmapped, so the trial stays uid 0"
    );
    let note = userns.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("65534") && note.contains("not mapped") && note.contains("capabilit"),
        "the note must say capabilities were dropped instead: {note:?}"
    );

    let root_backed = ran(&results.root_backed, "the root-backed trial");
    assert!(
        root_backed.passed(),
        "root-backed trial failed: {root_backed:?}"
    );
}
