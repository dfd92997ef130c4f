//! Every fixture replays to the verdict FACTS predicts (its NOTES.md `expected:` line), and each
//! verdict is snapshotted so that any change to one shows up in review.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("sandprobe-trials.json").exists())
        .collect();
    all.sort();
    all
}

fn replay(dir: &Path) -> serde_json::Value {
    let out = Command::new(sandprobe())
        .args(["check", "--json", "--root"])
        .arg(dir)
        .output()
        .unwrap();
    let report = json_of(&out);
    let unsupported = report["verdict"]["mode"] == "unsupported";
    assert_eq!(
        out.status.code(),
        Some(if unsupported { 1 } else { 0 }),
        "{}: exit code must follow the mode",
        dir.display()
    );
    report
}

/// The `expected: root=… unprivileged=…` line of a fixture's NOTES.md.
fn expected(dir: &Path) -> (String, String) {
    let notes = std::fs::read_to_string(dir.join("NOTES.md")).expect("NOTES.md");
    let line = notes
        .lines()
        .find(|l| l.starts_with("expected:"))
        .unwrap_or_else(|| panic!("{}: NOTES.md has no expected: line", dir.display()));
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("{}: no {key} in {line:?}", dir.display()))
            .to_string()
    };
    (field("root="), field("unprivileged="))
}

#[test]
fn at_least_eighteen_fixtures() {
    assert!(fixtures().len() >= 18, "{:?}", fixtures());
}

#[test]
fn every_fixture_gives_the_predicted_modes() {
    let mut wrong = Vec::new();
    for dir in fixtures() {
        let report = replay(&dir);
        let (root, unprivileged) = expected(&dir);
        let v = &report["verdict"];
        if v["root"]["mode"] != root.as_str() || v["unprivileged"]["mode"] != unprivileged.as_str()
        {
            wrong.push(format!(
                "{}: expected root={root} unprivileged={unprivileged}, got root={} unprivileged={}",
                dir.display(),
                v["root"]["mode"],
                v["unprivileged"]["mode"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn fixture_verdicts_are_snapshotted() {
    for dir in fixtures() {
        let report = replay(&dir);
        let v = &report["verdict"];
        let statuses: serde_json::Map<String, serde_json::Value> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].clone()))
            .collect();
        let summary = serde_json::json!({
            "mode": v["mode"],
            "invoker": v["invoker"],
            "root": v["root"],
            "unprivileged": v["unprivileged"],
            "userns_blocker": v["userns_blocker"],
            "root_backed_blocker": v["root_backed_blocker"],
            "remediations": v["remediations"].as_array().unwrap().iter().map(|r| serde_json::json!({
                "id": r["id"], "commands": r["commands"], "applicable_here": r["applicable_here"],
            })).collect::<Vec<_>>(),
            "checks": statuses,
        });
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        insta::assert_json_snapshot!(name, summary);
    }
}

#[test]
fn replay_executes_nothing() {
    // A fixture replay must not fork trial children: the trials come from the file.
    if !require(have("strace"), "strace") {
        return;
    }
    let dir = &fixtures()[0];
    let out = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=clone,clone3,fork,vfork,unshare,mount",
            "-o",
            "/dev/stderr",
        ])
        .arg(sandprobe())
        .args(["check", "--quiet", "--root"])
        .arg(dir)
        .output()
        .unwrap();
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{trace}");
    assert!(
        !trace.contains("clone") && !trace.contains("unshare") && !trace.contains("mount("),
        "replay executed something: {trace}"
    );
}
