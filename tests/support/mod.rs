//! Shared helpers for the integration tests: the built binaries, an unprivileged copy, loud skips.
#![allow(dead_code)]

pub mod payload_probe;
pub mod processes;

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
    wait_until_executable(&path);
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

/// A classic BPF program that makes unshare(2) fail with EPERM and allows everything else, like
/// Docker's default profile does for a process without CAP_SYS_ADMIN.
pub fn deny_unshare_filter() -> Vec<libc::sock_filter> {
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    let stmt = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u16, k: u32, jt: u8, jf: u8| libc::sock_filter { code, jt, jf, k };
    let ld_w_abs = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    vec![
        stmt(ld_w_abs, 4), // seccomp_data.arch
        jump(jeq, AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(ld_w_abs, 0), // seccomp_data.nr
        jump(jeq, libc::SYS_unshare as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Makes `cmd` run under [`deny_unshare_filter`] (installed in the child before exec), like a
/// process in a Docker container with the default seccomp profile and no CAP_SYS_ADMIN.
pub fn deny_unshare(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let filter = deny_unshare_filter();
    // SAFETY: the closure runs in the forked child before exec and calls only prctl(2), which
    // is async-signal-safe; it owns the filter, which lives as long as the closure.
    unsafe {
        cmd.pre_exec(move || {
            let program = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &program as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Waits until a freshly copied binary can be executed.
///
/// While the copy is written, another test thread may fork; its child inherits the open
/// write descriptor until it execs, and meanwhile every exec of the copy fails with ETXTBSY.
/// Once one exec succeeds no such descriptor is left, and none can appear again.
pub fn wait_until_executable(path: &Path) {
    for _ in 0..200 {
        match Command::new(path)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
        {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            _ => return,
        }
    }
    panic!("{} stayed busy (ETXTBSY) for a second", path.display());
}
