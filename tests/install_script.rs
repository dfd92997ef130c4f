//! install.sh, run for real: the pre-install check gates everything, installs are recorded and
//! undone exactly, the sysctl fix flips a host to userns, and an unsupported host is left alone.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh")
}

/// The directory holding the built `sandprobe` and `sandbox-run`.
fn binaries() -> PathBuf {
    sandprobe().parent().unwrap().to_path_buf()
}

/// Every file and every directory below `dir` (not `dir` itself).
fn walk(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (files, dirs);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            let (below_files, below_dirs) = walk(&path);
            files.extend(below_files);
            dirs.extend(below_dirs);
            dirs.push(path);
        } else {
            files.push(path);
        }
    }
    (files, dirs)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    walk(dir).0
}

fn dirs_under(dir: &Path) -> Vec<PathBuf> {
    walk(dir).1
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn installs_then_uninstalls_exactly_what_it_installed() {
    if !require(is_root(), "root") {
        return;
    }
    let prefix = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg(script())
        .arg("--from")
        .arg(binaries())
        .arg("--prefix")
        .arg(prefix.path())
        .arg("-y")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = text(&out);
    assert!(
        log.contains("checking this host before installing anything"),
        "{log}"
    );
    assert!(
        log.contains("can run sandboxes with user namespaces"),
        "{log}"
    );
    for file in [
        "bin/sandprobe",
        "bin/sandbox-run",
        "share/man/man1/sandprobe.1",
        "share/man/man1/sandbox-run.1",
        "share/bash-completion/completions/sandprobe",
        "share/zsh/site-functions/_sandbox-run",
        "share/fish/vendor_completions.d/sandprobe.fish",
    ] {
        assert!(prefix.path().join(file).is_file(), "{file} not installed");
    }
    let installed = Command::new(prefix.path().join("bin/sandprobe"))
        .args(["check", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&installed.stdout), "userns\n");
    let manifest =
        std::fs::read_to_string(prefix.path().join("share/sandprobe/install-manifest")).unwrap();
    // File lines are absolute paths; "dir PATH" lines are the directories the install made.
    let mut listed: Vec<PathBuf> = manifest
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    let mut created_dirs: Vec<PathBuf> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("dir "))
        .map(PathBuf::from)
        .collect();
    created_dirs.sort();
    let mut present_dirs = dirs_under(prefix.path());
    present_dirs.sort();
    assert_eq!(
        created_dirs, present_dirs,
        "the manifest lists every directory the install created (the prefix was empty)"
    );
    listed.push(prefix.path().join("share/sandprobe/install-manifest"));
    listed.sort();
    let mut present = files_under(prefix.path());
    present.sort();
    assert_eq!(
        present, listed,
        "the manifest lists every file written, and only those"
    );

    let out = Command::new("sh")
        .arg(script())
        .arg("--prefix")
        .arg(prefix.path())
        .arg("--uninstall")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        files_under(prefix.path()).is_empty(),
        "left behind: {:?}",
        files_under(prefix.path())
    );
    assert!(
        dirs_under(prefix.path()).is_empty(),
        "directories left behind: {:?}",
        dirs_under(prefix.path())
    );
}

#[test]
fn an_unsupported_host_is_refused_with_the_fix_and_nothing_changes() {
    if !require(have("setpriv"), "setpriv") || !require(is_root(), "root") {
        return;
    }
    // As nobody under a filter that denies unshare: no sandbox mode works for this user.
    let sandprobe_copy = world_copy(&sandprobe());
    std::fs::copy(
        env!("CARGO_BIN_EXE_sandbox-run"),
        sandprobe_copy.dir.path().join("sandbox-run"),
    )
    .unwrap();
    wait_until_executable(&sandprobe_copy.dir.path().join("sandbox-run"));
    let script_copy = sandprobe_copy.dir.path().join("install.sh");
    std::fs::copy(script(), &script_copy).unwrap();
    let prefix = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(prefix.path(), Some(65534), Some(65534)).unwrap();
    for extra in [
        &[][..],
        &["--check-only"][..],
        &["--enable-userns", "-y"][..],
    ] {
        let mut cmd = Command::new("setpriv");
        cmd.args(AS_NOBODY)
            .arg("sh")
            .arg(&script_copy)
            .arg("--prefix")
            .arg(prefix.path())
            .args(extra);
        deny_unshare(&mut cmd);
        let out = cmd.output().unwrap();
        let log = text(&out);
        let expected = if extra.contains(&"--enable-userns") {
            5
        } else {
            1
        };
        assert_eq!(out.status.code(), Some(expected), "{extra:?}: {log}");
        assert!(log.contains("cannot run sandboxes for you"), "{log}");
        assert!(log.contains("seccomp"), "the check names the cause: {log}");
        assert!(
            files_under(prefix.path()).is_empty(),
            "{extra:?} changed the prefix"
        );
    }
}

#[test]
fn enable_userns_flips_a_host_with_user_namespaces_switched_off() {
    if !require(have("unshare"), "unshare") || !require(is_root(), "root") {
        return;
    }
    // "User namespaces disabled" without touching the host: a user namespace whose limit is 0,
    // and a private /etc/sysctl.d so the persisted file lands in a tmpfs.
    let prefix = tempfile::tempdir().unwrap();
    // Then --uninstall -y: the persisted file goes, and the running value goes back to 0.
    let manifest_path = prefix.path().join("share/sandprobe/install-manifest");
    let script_line = format!(
        "mount -t tmpfs tmpfs /etc/sysctl.d && echo 0 > /proc/sys/user/max_user_namespaces && \
         sh {script} --from {from} --prefix {prefix} --enable-userns -y; status=$?; \
         echo \"max_user_namespaces=$(cat /proc/sys/user/max_user_namespaces)\"; \
         echo \"persisted=$(cat /etc/sysctl.d/90-sandprobe-userns.conf)\"; \
         echo \"manifest: $(grep -c '^/etc/sysctl.d/90-sandprobe-userns.conf$' {manifest}) \
         $(grep '^sysctl ' {manifest})\"; \
         sh {script} --prefix {prefix} --uninstall -y || status=$?; \
         echo \"after uninstall: $(cat /proc/sys/user/max_user_namespaces) \
         $(ls /etc/sysctl.d | wc -l)\"; exit $status",
        script = script().display(),
        from = binaries().display(),
        prefix = prefix.path().display(),
        manifest = manifest_path.display(),
    );
    let out = Command::new("unshare")
        .args(["-U", "-r", "-m", "sh", "-c", &script_line])
        .output()
        .unwrap();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("root-backed"),
        "the first check saw the switched-off host: {log}"
    );
    assert!(
        log.contains("set user.max_user_namespaces = 15000"),
        "{log}"
    );
    assert!(log.contains("after the fix: userns"), "{log}");
    assert!(log.contains("max_user_namespaces=15000"), "{log}");
    assert!(
        log.contains("persisted=user.max_user_namespaces = 15000"),
        "{log}"
    );
    assert!(
        log.contains("manifest: 1 sysctl user.max_user_namespaces 0\n"),
        "the manifest lists the persisted file and the value before: {log}"
    );
    assert!(
        log.contains("set user.max_user_namespaces back to 0"),
        "{log}"
    );
    assert!(
        log.contains("after uninstall: 0 0\n"),
        "the running value is back and the persisted file gone: {log}"
    );
}

#[test]
fn bad_usage_and_missing_binaries_have_their_own_codes() {
    let out = Command::new("sh")
        .arg(script())
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = Command::new("sh")
        .arg(script())
        .args(["--prefix", "relative/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg(script())
        .arg("--from")
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("no sandprobe and sandbox-run"));
    let help = Command::new("sh")
        .arg(script())
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes:"));
}
