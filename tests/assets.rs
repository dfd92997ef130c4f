//! Completions and man pages are generated for both binaries, and the man page lists every
//! subcommand.

mod support;

use std::process::Command;

use support::*;

#[test]
fn man_pages_and_completions_cover_every_subcommand() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(sandprobe())
        .args(["generate-assets", "--out"])
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The subcommands, as `sandprobe --help` lists them.
    let help = Command::new(sandprobe()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let subcommands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .expect("a Commands: section")
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A subcommand line starts with two spaces; wrapped descriptions are indented further.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for expected in [
        "check",
        "collect",
        "run",
        "verify",
        "matrix",
        "apparmor-profile",
        "schema",
    ] {
        assert!(
            subcommands.contains(&expected),
            "{expected} not in --help: {subcommands:?}"
        );
    }

    let man = std::fs::read_to_string(out_dir.path().join("man/man1/sandprobe.1")).unwrap();
    for sub in &subcommands {
        // roff escapes every hyphen.
        let reference = format!("sandprobe-{sub}(1)").replace('-', "\\-");
        assert!(man.contains(&reference), "the man page does not list {sub}");
        assert!(
            out_dir
                .path()
                .join(format!("man/man1/sandprobe-{sub}.1"))
                .is_file(),
            "no page for {sub}"
        );
    }
    let launcher_man =
        std::fs::read_to_string(out_dir.path().join("man/man1/sandbox-run.1")).unwrap();
    for option in ["\\-\\-ro\\-bind", "\\-\\-mode", "\\-\\-json\\-status\\-fd"] {
        assert!(
            launcher_man.contains(option),
            "sandbox-run.1 lacks {option}"
        );
    }

    for file in [
        "sandprobe.bash",
        "_sandprobe",
        "sandprobe.fish",
        "sandbox-run.bash",
        "_sandbox-run",
        "sandbox-run.fish",
    ] {
        let text = std::fs::read_to_string(out_dir.path().join("completions").join(file)).unwrap();
        assert!(
            text.contains("check") || file.contains("sandbox-run"),
            "{file}"
        );
        assert!(text.len() > 200, "{file} is too short");
    }
}

#[test]
fn version_names_the_commit() {
    for binary in [
        sandprobe(),
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_sandbox-run")),
    ] {
        let out = Command::new(&binary).arg("--version").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
        assert!(
            text.contains('(') && text.contains(')'),
            "no commit in {text}"
        );
    }
}
