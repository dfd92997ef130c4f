//! The outside half of `sandprobe verify`: prepares bait on the host (a loopback listener, a
//! canary file, a canary environment variable, an inheritable fd), runs the battery through
//! `sandbox-run`, and collects the launcher's status lines and the battery's report.

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::battery::{BatteryReport, CheckOutcome, CheckResult};
use super::DEFAULT_PAYLOAD_ENV;

/// The mode `sandbox-run` is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyMode {
    /// Whatever the selector picks on this host.
    #[default]
    Auto,
    /// User namespaces, no privilege.
    Userns,
    /// Root-backed (real uid 0).
    RootBacked,
}

impl VerifyMode {
    /// The `--mode` value: "auto", "userns" or "root-backed".
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyMode::Auto => "auto",
            VerifyMode::Userns => "userns",
            VerifyMode::RootBacked => "root-backed",
        }
    }
}

/// How to run the verification.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The mode passed to `sandbox-run --mode`.
    pub mode: VerifyMode,
    /// The launcher; by default `sandbox-run` next to the running executable.
    pub sandbox_run: Option<PathBuf>,
    /// The program run inside as `PROGRAM verify-inside …`; by default the running executable.
    pub payload: Option<PathBuf>,
    /// How long the sandboxed battery may take before it is killed.
    pub timeout: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            mode: VerifyMode::Auto,
            sandbox_run: None,
            payload: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// The outcome of `sandprobe verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VerifyReport {
    /// The mode that was asked for.
    pub mode_requested: VerifyMode,
    /// The mode the launcher reported using (from its `--json-status-fd` lines).
    pub mode_used: Option<String>,
    /// Why the launcher chose that mode, when it said.
    pub mode_reason: Option<String>,
    /// The launcher binary that was run.
    pub launcher: String,
    /// The launcher's exit code (the battery's own: 0 all passed, 1 a check failed).
    pub launcher_exit_code: Option<i32>,
    /// Every JSON status line the launcher wrote.
    pub launcher_status: Vec<serde_json::Value>,
    /// The battery's checks.
    pub checks: Vec<CheckResult>,
    /// True when every check passed.
    pub passed: bool,
}

/// Why verification could not produce a report. A report with failed checks is not an error.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The running executable could not be located.
    #[error("failed to locate the running executable: {0}")]
    CurrentExe(std::io::Error),
    /// `sandbox-run` is not where it was looked for.
    #[error("failed to find the launcher at {0}: install sandbox-run next to sandprobe")]
    FindLauncher(PathBuf),
    /// The host loopback listener could not be opened.
    #[error("failed to listen on 127.0.0.1: {0}")]
    Listen(std::io::Error),
    /// The host canary file could not be created.
    #[error("failed to create the canary file {0}: {1}")]
    CreateCanary(PathBuf, std::io::Error),
    /// The status pipe or the inheritable bait fd could not be created.
    #[error("failed to prepare descriptors for the launcher: {0}")]
    PrepareFds(std::io::Error),
    /// The launcher could not be started.
    #[error("failed to start {0}: {1}")]
    SpawnLauncher(PathBuf, std::io::Error),
    /// Waiting for the launcher failed.
    #[error("failed to wait for the launcher: {0}")]
    WaitLauncher(std::io::Error),
    /// The battery took too long; the launcher was killed.
    #[error("failed to finish the battery within {0} s: the launcher was killed")]
    Timeout(u64),
    /// The launcher ended without the battery's report.
    #[error(
        "failed to get the battery's report: the launcher exited with {exit_code:?}: {stderr}"
    )]
    NoReport {
        /// The launcher's exit code (None when killed by a signal).
        exit_code: Option<i32>,
        /// The end of the launcher's stderr.
        stderr: String,
    },
}

/// The environment variable planted in the launcher's environment; the payload must not see it.
pub const CANARY_ENV: &str = "SANDPROBE_VERIFY_CANARY";
/// The fd number the status pipe is passed on.
const STATUS_FD: RawFd = 3;
/// An inheritable fd (no CLOEXEC) handed to the launcher; the payload must not see it.
const BAIT_FD: RawFd = 9;

/// A file in the host's temporary directory, removed on drop.
struct Canary(PathBuf);

impl Canary {
    /// Creates the canary in the first writable temporary directory. `Ok(None)` when the host
    /// has none at all (a container started with `--read-only`): the battery then runs without
    /// the canary check, and the report says so.
    fn create() -> Result<Option<Canary>, VerifyError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("sandprobe-verify-canary-{}-{nanos}", std::process::id());
        let mut first_error = None;
        for dir in [
            std::env::temp_dir(),
            PathBuf::from("/dev/shm"),
            PathBuf::from("/run"),
            PathBuf::from("/var/tmp"),
        ] {
            let path = dir.join(&name);
            match File::options().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(Some(Canary(path))),
                Err(e) if e.raw_os_error() == Some(libc::EROFS) || dir.is_dir() => {
                    first_error.get_or_insert((path, e));
                }
                Err(_) => {}
            }
        }
        match first_error {
            Some((_, e)) if e.raw_os_error() == Some(libc::EROFS) => Ok(None),
            Some((path, e)) => Err(VerifyError::CreateCanary(path, e)),
            None => Ok(None),
        }
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Moves `fd` to a number of at least 10 with CLOEXEC, so the dup2 calls in the child can
/// never clobber one another.
fn high_cloexec(fd: OwnedFd) -> Result<OwnedFd, VerifyError> {
    // SAFETY: F_DUPFD_CLOEXEC duplicates a valid fd we own.
    let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if high < 0 {
        return Err(VerifyError::PrepareFds(std::io::Error::last_os_error()));
    }
    // SAFETY: `high` is a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(high) })
}

fn status_pipe() -> Result<(File, OwnedFd), VerifyError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(VerifyError::PrepareFds(std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 returned two fresh fds that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(read), high_cloexec(write)?))
}

fn read_all_in_thread(mut source: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = source.read_to_end(&mut buffer);
        buffer
    })
}

/// The launcher's argv: mode, status fd, the executable made visible, then the payload.
fn launcher_args(
    mode: VerifyMode,
    exe: &Path,
    port: u16,
    canary: Option<&Path>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "--mode".into(),
        mode.as_str().into(),
        "--json-status-fd".into(),
        STATUS_FD.to_string().into(),
    ];
    // System directories are bound already; anything else must be bound explicitly.
    if !exe.starts_with("/usr") {
        args.extend(["--ro-bind".into(), exe.into(), exe.into()]);
    }
    args.extend([
        "--".into(),
        exe.into(),
        "verify-inside".into(),
        "--host-port".into(),
        port.to_string().into(),
        "--expect-env".into(),
        DEFAULT_PAYLOAD_ENV.join(",").into(),
    ]);
    if let Some(canary) = canary {
        args.extend(["--host-canary".into(), canary.into()]);
    }
    args
}

/// Pulls "mode" and its reason out of the launcher's status lines, whatever their order.
fn mode_from_status(lines: &[serde_json::Value]) -> (Option<String>, Option<String>) {
    for line in lines {
        if let Some(mode) = line.get("mode").and_then(|m| m.as_str()) {
            let reason = ["reason", "mode_reason", "why"]
                .iter()
                .find_map(|key| line.get(*key))
                .map(|r| r.as_str().map_or_else(|| r.to_string(), str::to_string));
            return (Some(mode.to_string()), reason);
        }
    }
    (None, None)
}

fn tail(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text
        .char_indices()
        .rev()
        .nth(max.saturating_sub(1))
        .map_or(0, |(index, _)| index);
    text[start..].to_string()
}

/// Runs the battery in a fresh sandbox and returns what it found.
pub fn verify(opts: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let current = std::env::current_exe().map_err(VerifyError::CurrentExe)?;
    let current = current.canonicalize().unwrap_or(current);
    let launcher = opts
        .sandbox_run
        .clone()
        .unwrap_or_else(|| current.with_file_name("sandbox-run"));
    let exe = opts.payload.clone().unwrap_or(current);
    if !launcher.is_file() {
        return Err(VerifyError::FindLauncher(launcher));
    }
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(VerifyError::Listen)?;
    let port = listener.local_addr().map_err(VerifyError::Listen)?.port();
    let canary = Canary::create()?;
    let (status_read, status_write) = status_pipe()?;
    let bait = File::open("/dev/null").map_err(VerifyError::PrepareFds)?;
    let bait = high_cloexec(OwnedFd::from(bait))?;

    let mut command = Command::new(&launcher);
    command
        .args(launcher_args(
            opts.mode,
            &exe,
            port,
            canary.as_ref().map(|c| c.0.as_path()),
        ))
        .env(CANARY_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (status_raw, bait_raw) = (status_write.as_raw_fd(), bait.as_raw_fd());
    // SAFETY: dup2 is async-signal-safe; both sources are ≥ 10 (see high_cloexec), so neither
    // target (3, 9) can overwrite the other source. dup2 leaves the copies without CLOEXEC.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(status_raw, STATUS_FD) < 0 || libc::dup2(bait_raw, BAIT_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| VerifyError::SpawnLauncher(launcher.clone(), e))?;
    // Only the launcher may hold the write end, or the status reader never sees EOF.
    drop(status_write);
    drop(bait);
    let stdout = child.stdout.take().map(read_all_in_thread);
    let stderr = child.stderr.take().map(read_all_in_thread);
    let status_lines = read_all_in_thread(status_read);

    let deadline = Instant::now() + opts.timeout;
    let exit = loop {
        match child.try_wait().map_err(VerifyError::WaitLauncher)? {
            Some(exit) => break exit,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(VerifyError::Timeout(opts.timeout.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    drop(listener);
    let stdout = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    let status_bytes = status_lines.join().unwrap_or_default();

    let launcher_status: Vec<serde_json::Value> = String::from_utf8_lossy(&status_bytes)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let battery: Option<BatteryReport> = String::from_utf8_lossy(&stdout)
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok());
    let Some(battery) = battery else {
        return Err(VerifyError::NoReport {
            exit_code: exit.code(),
            stderr: tail(&stderr, 2000),
        });
    };
    let (mode_used, mode_reason) = mode_from_status(&launcher_status);
    let passed = battery
        .checks
        .iter()
        .all(|c| c.outcome == CheckOutcome::Pass)
        && !battery.checks.is_empty();
    Ok(VerifyReport {
        mode_requested: opts.mode,
        mode_used,
        mode_reason,
        launcher: launcher.display().to_string(),
        launcher_exit_code: exit.code(),
        launcher_status,
        checks: battery.checks,
        passed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_match_the_launcher_cli() {
        assert_eq!(VerifyMode::Auto.as_str(), "auto");
        assert_eq!(VerifyMode::Userns.as_str(), "userns");
        assert_eq!(VerifyMode::RootBacked.as_str(), "root-backed");
        assert_eq!(
            serde_json::to_string(&VerifyMode::RootBacked).expect("json"),
            "\"root-backed\""
        );
    }

    #[test]
    fn launcher_args_bind_the_executable_unless_it_is_a_system_file() {
        let args = launcher_args(
            VerifyMode::Userns,
            Path::new("/opt/sp/sandprobe"),
            4242,
            Some(Path::new("/tmp/c")),
        );
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "--mode",
                "userns",
                "--json-status-fd",
                "3",
                "--ro-bind",
                "/opt/sp/sandprobe",
                "/opt/sp/sandprobe",
                "--",
                "/opt/sp/sandprobe",
                "verify-inside",
                "--host-port",
                "4242",
                "--expect-env",
                "PATH,HOME,TERM,LANG",
                "--host-canary",
                "/tmp/c"
            ]
        );
        let system = launcher_args(
            VerifyMode::Auto,
            Path::new("/usr/bin/sandprobe"),
            1,
            Some(Path::new("/tmp/c")),
        );
        assert!(!system.iter().any(|a| a == "--ro-bind"));
    }

    #[test]
    fn mode_is_read_from_any_status_line() {
        let lines: Vec<serde_json::Value> = vec![
            serde_json::json!({"phase": "start"}),
            serde_json::json!({"mode": "userns", "reason": "user namespaces work"}),
            serde_json::json!({"mode": "ignored"}),
        ];
        assert_eq!(
            mode_from_status(&lines),
            (Some("userns".into()), Some("user namespaces work".into()))
        );
        assert_eq!(mode_from_status(&[]), (None, None));
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail(b"  abcdef \n", 3), "def");
        assert_eq!(tail(b"ab", 10), "ab");
    }
}
