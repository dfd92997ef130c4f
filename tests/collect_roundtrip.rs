//! `sandprobe collect` captures this host as a fixture that replays to the same verdict, holding
//! only what the probes read and none of the secrets /proc/cmdline or pid 1's environment may carry.

mod support;

use std::process::Command;

use support::*;

#[test]
fn collect_then_replay_gives_the_host_verdict() {
    if !require(
        is_root(),
        "running the tests as root (collect reads root-only facts)",
    ) {
        return;
    }
    let parent = tempfile::tempdir().unwrap();
    let out_dir = parent.path().join("this-host");
    let out = Command::new(sandprobe())
        .args(["collect", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for file in [
        "sandprobe-trials.json",
        "NOTES.md",
        "proc/sys/kernel/osrelease",
        "proc/self/status",
    ] {
        assert!(out_dir.join(file).exists(), "{file} was not collected");
    }
    // Only the user-namespace switches of the kernel command line are kept.
    if let Ok(cmdline) = std::fs::read_to_string(out_dir.join("proc/cmdline")) {
        for word in cmdline.split_whitespace() {
            assert!(
                word.starts_with("user_namespace.") || word.starts_with("namespace."),
                "cmdline kept {word:?}"
            );
        }
    }
    // Files the probes never asked for are not there.
    assert!(!out_dir.join("etc").exists());

    let live = json_of(
        &Command::new(sandprobe())
            .args(["check", "--json"])
            .output()
            .unwrap(),
    );
    let replay = json_of(
        &Command::new(sandprobe())
            .args(["check", "--json", "--root"])
            .arg(&out_dir)
            .output()
            .unwrap(),
    );
    assert_eq!(replay["source"]["kind"], "fixture");
    for key in ["mode", "root", "unprivileged", "userns_blocker"] {
        assert_eq!(
            live["verdict"][key], replay["verdict"][key],
            "verdict.{key}"
        );
    }
    let notes = std::fs::read_to_string(out_dir.join("NOTES.md")).unwrap();
    assert!(notes.contains(&format!(
        "expected: root={} unprivileged={}",
        live["verdict"]["root"]["mode"].as_str().unwrap(),
        live["verdict"]["unprivileged"]["mode"].as_str().unwrap()
    )));
}
