//! Shared helpers for the integration tests: the built binaries, an unprivileged copy, loud skips.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The built `sandprobe` binary.
pub fn sandprobe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sandprobe"))
}

/// Fails under CI=true (CI can do everything these tests need); elsewhere says so loudly.
/// Returns true when the test should go on.
pub fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("required capability missing in CI: {what}");
    }
    eprintln!("\n!!! SKIPPED: {what} is not available on this machine !!!\n");
    false
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

pub fn is_root() -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// A copy of `binary` in a fresh 0755 directory, so uid 65534 can run it.
pub struct WorldCopy {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn world_copy(binary: &Path) -> WorldCopy {
    let dir = tempfile::Builder::new()
        .prefix("sandprobe-test-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().join(binary.file_name().expect("file name"));
    std::fs::copy(binary, &path).expect("copy binary");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    WorldCopy { dir, path }
}

/// `setpriv` arguments that become nobody with no capabilities.
pub const AS_NOBODY: &[&str] = &[
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
];

/// Parses stdout as JSON, with the output in the panic message when it is not.
pub fn json_of(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): stdout={} stderr={}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}
