//! Bad input to `sandprobe check`/`collect` gets one clear line and exit 2: never a panic, never
//! a half-written result.

mod support;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use support::*;

const STATUS: &str =
    "Name:\tsh\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n\
CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n\
CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\n";

const TRIALS: &str = r#"{"format_version":2,
 "userns":{"state":"ran","uid":65534,"gid":65534,"stages":[
  {"stage":"drop_privileges","outcome":"ok"},{"stage":"unshare_user","outcome":"ok"},
  {"stage":"setgroups_deny","outcome":"ok"},{"stage":"uid_map","outcome":"ok"},
  {"stage":"gid_map","outcome":"ok"},{"stage":"unshare_namespaces","outcome":"ok"},
  {"stage":"make_root_private","outcome":"ok"},{"stage":"mount_tmpfs","outcome":"ok"},
  {"stage":"mount_proc","outcome":"ok"},{"stage":"pivot_root","outcome":"ok"},
  {"stage":"loopback_up","outcome":"ok"}]},
 "root_backed":{"state":"ran","uid":0,"gid":0,"stages":[
  {"stage":"unshare_namespaces","outcome":"ok"},{"stage":"make_root_private","outcome":"ok"},
  {"stage":"mount_tmpfs","outcome":"ok"},{"stage":"mount_proc","outcome":"ok"},
  {"stage":"pivot_root","outcome":"ok"},{"stage":"loopback_up","outcome":"ok"}]},
 "landlock_abi":null}"#;

/// A minimal valid fixture: an Arch-like host with /proc/config.gz.
fn minimal_fixture(dir: &Path) {
    let put = |rel: &str, bytes: &[u8]| {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    };
    put("proc/sys/kernel/osrelease", b"6.6.1-arch1-1\n");
    put(
        "proc/version",
        b"Linux version 6.6.1-arch1-1 (linux@archlinux) (gcc (GCC) 13.2.1) #1 SMP PREEMPT_DYNAMIC\n",
    );
    put("proc/self/status", STATUS.as_bytes());
    put("proc/self/uid_map", b"         0          0 4294967295\n");
    put("proc/sys/user/max_user_namespaces", b"63432\n");
    put("sandprobe-trials.json", TRIALS.as_bytes());
    let mut config = "CONFIG_CGROUPS=y\nCONFIG_NAMESPACES=y\nCONFIG_UTS_NS=y\nCONFIG_IPC_NS=y\n\
                      CONFIG_USER_NS=y\nCONFIG_PID_NS=y\nCONFIG_NET_NS=y\nCONFIG_SECCOMP_FILTER=y\n"
        .to_string();
    // Padding so that truncation cuts into the deflate stream, not just the trailer.
    for i in 0..2000 {
        config.push_str(&format!("CONFIG_FILLER_{i}=y\n"));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(config.as_bytes()).unwrap();
    put("proc/config.gz", &gz.finish().unwrap());
}

fn replay(dir: &Path) -> Output {
    Command::new(sandprobe())
        .args(["check", "--json", "--root"])
        .arg(dir)
        .output()
        .expect("spawn sandprobe")
}

/// Exit 2, nothing on stdout, exactly one line on stderr naming `needle`.
fn assert_bad_input(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "nothing half-done on stdout");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("sandprobe: failed to "), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn the_minimal_fixture_itself_replays() {
    let dir = tempfile::tempdir().unwrap();
    minimal_fixture(dir.path());
    let out = replay(dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["verdict"]["mode"], "userns");
    assert_eq!(report["source"]["kind"], "fixture");
}

#[test]
fn truncated_config_gz() {
    let dir = tempfile::tempdir().unwrap();
    minimal_fixture(dir.path());
    let gz = dir.path().join("proc/config.gz");
    let bytes = fs::read(&gz).unwrap();
    fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
    assert_bad_input(&replay(dir.path()), "proc/config.gz");
}

#[test]
fn corrupt_config_gz() {
    let dir = tempfile::tempdir().unwrap();
    minimal_fixture(dir.path());
    fs::write(
        dir.path().join("proc/config.gz"),
        b"\x1f\x8bthis is not deflate",
    )
    .unwrap();
    assert_bad_input(&replay(dir.path()), "proc/config.gz");
}

#[test]
fn garbage_release_string() {
    let dir = tempfile::tempdir().unwrap();
    minimal_fixture(dir.path());
    fs::write(
        dir.path().join("proc/sys/kernel/osrelease"),
        "not-a-kernel\n",
    )
    .unwrap();
    assert_bad_input(&replay(dir.path()), "proc/sys/kernel/osrelease");
}

#[test]
fn unreadable_sysctl() {
    let dir = tempfile::tempdir().unwrap();
    minimal_fixture(dir.path());
    // A directory where the knob should be: read(2) fails with EISDIR, even for root.
    let knob = dir.path().join("proc/sys/user/max_user_namespaces");
    fs::remove_file(&knob).unwrap();
    fs::create_dir(&knob).unwrap();
    assert_bad_input(&replay(dir.path()), "max_user_namespaces");
}

#[test]
fn malformed_sysctl() {
    let dir = tempfile::tempdir().unwrap();
    minimal_fixture(dir.path());
    fs::write(dir.path().join("proc/sys/user/max_user_namespaces"), "-1\n").unwrap();
    assert_bad_input(&replay(dir.path()), "max_user_namespaces");
}

#[test]
fn fixture_with_missing_files() {
    for missing in [
        "proc/self/status",
        "proc/sys/kernel/osrelease",
        "sandprobe-trials.json",
    ] {
        let dir = tempfile::tempdir().unwrap();
        minimal_fixture(dir.path());
        fs::remove_file(dir.path().join(missing)).unwrap();
        assert_bad_input(&replay(dir.path()), missing);
    }
}

#[test]
fn malformed_trial_file() {
    let cases: &[&str] = &[
        "{",
        "[]",
        r#"{"format_version":99,"userns":{"state":"skipped","reason":"x"},"root_backed":{"state":"skipped","reason":"x"},"landlock_abi":null}"#,
        &TRIALS.replace("\"EPERM\"", "\"EBOGUS\"").replace(
            r#"{"stage":"uid_map","outcome":"ok"}"#,
            r#"{"stage":"uid_map","outcome":"failed","errno":"EBOGUS"}"#,
        ),
        &TRIALS.replace("mount_tmpfs", "mount_proc"),
        &TRIALS.replace("\"landlock_abi\":null", "\"landlock_abi\":null,\"extra\":1"),
    ];
    for (i, text) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        minimal_fixture(dir.path());
        fs::write(dir.path().join("sandprobe-trials.json"), text).unwrap();
        let out = replay(dir.path());
        assert_bad_input(&out, "sandprobe-trials.json");
        eprintln!("case {i}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
}

#[test]
fn root_that_does_not_exist() {
    let out = replay(Path::new("/nonexistent/sandprobe-fixture"));
    assert_bad_input(&out, "/nonexistent/sandprobe-fixture");
}

#[test]
fn root_that_is_a_file() {
    let file = tempfile::NamedTempFile::new().unwrap();
    assert_bad_input(&replay(file.path()), "not a directory");
}

#[test]
fn fixture_symlink_escaping_the_root() {
    let dir = tempfile::tempdir().unwrap();
    minimal_fixture(dir.path());
    let version = dir.path().join("proc/version");
    fs::remove_file(&version).unwrap();
    std::os::unix::fs::symlink("/proc/version", &version).unwrap();
    assert_bad_input(&replay(dir.path()), "proc/version");
}

#[test]
fn unknown_user_for_the_trial() {
    let out = Command::new(sandprobe())
        .args(["check", "--user", "no-such-user-sandprobe"])
        .output()
        .unwrap();
    assert_bad_input(&out, "no-such-user-sandprobe");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["check", "--bogus"][..],
        &["frobnicate"],
        &["check", "--json", "--quiet"],
    ] {
        let out = Command::new(sandprobe()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn collect_refuses_a_non_empty_directory_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    let out = Command::new(sandprobe())
        .args(["collect", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_bad_input(&out, "not an empty directory");
    let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "nothing was added");
}
