//! The example systemd unit's capability bounding set is exactly what root-backed mode needs:
//! sandbox-run works under it (with NoNewPrivileges), and fails cleanly without any one of them.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn unit_capabilities() -> Vec<String> {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/sandboxed-app.service"),
    )
    .unwrap();
    unit.lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("a CapabilityBoundingSet= line")
        .split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_lowercase())
        .collect()
}

fn run_with_bounding_set(caps: &[String]) -> std::process::Output {
    let set = std::iter::once("-all".to_string())
        .chain(caps.iter().map(|c| format!("+{c}")))
        .collect::<Vec<_>>()
        .join(",");
    Command::new("setpriv")
        .arg(format!("--bounding-set={set}"))
        .args(["--inh-caps=-all", "--no-new-privs"])
        .arg(env!("CARGO_BIN_EXE_sandbox-run"))
        .args([
            "--mode",
            "root-backed",
            "--",
            "/bin/sh",
            "-c",
            "echo inside",
        ])
        .output()
        .unwrap()
}

#[test]
fn the_unit_grants_exactly_what_root_backed_mode_needs() {
    if !require(is_root(), "root") || !require(have("setpriv"), "setpriv") {
        return;
    }
    let caps = unit_capabilities();
    assert_eq!(caps.len(), 5, "{caps:?}");
    let out = run_with_bounding_set(&caps);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inside\n");
    for missing in &caps {
        let fewer: Vec<String> = caps.iter().filter(|c| *c != missing).cloned().collect();
        let out = run_with_bounding_set(&fewer);
        let code = out.status.code().unwrap_or(-1);
        assert!(
            (240..=246).contains(&code),
            "without {missing} the launcher must fail with its own code, got {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "without {missing} the payload must not run"
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
}
