//! The containment battery: checks run *inside* a sandbox that show, from the payload's point
//! of view, that each isolation layer is in place.
//!
//! Every check tries the thing a breach would allow and records what the kernel answered, so a
//! missing layer turns into a failed check with the evidence next to it. Attempts with lasting
//! side effects (a nested user namespace, a mount, ptrace) run in a forked child that reports
//! only its errno, so one breach cannot disturb the checks that follow. The battery runs in a
//! single-threaded process, which makes that fork safe.

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the battery needs to know about the outside.
#[derive(Debug, Clone, Default)]
pub struct BatteryContext {
    /// A TCP port listening on the host's 127.0.0.1; it must be unreachable from inside.
    pub host_port: u16,
    /// The environment variables the payload may see.
    pub expect_env: Vec<String>,
    /// A host file (outside every path the sandbox shares) that must be invisible inside.
    pub host_canary: Option<PathBuf>,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The property holds.
    Pass,
    /// The property does not hold: a containment layer is missing or broken.
    Fail,
}

impl CheckOutcome {
    /// "pass" or "fail".
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Pass => "pass",
            CheckOutcome::Fail => "fail",
        }
    }
}

/// One named check with its outcome and what was observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    /// Stable snake_case id, e.g. `root_read_only`.
    pub id: String,
    /// What the check establishes when it passes.
    pub description: String,
    /// Pass or fail.
    pub outcome: CheckOutcome,
    /// What the kernel answered, e.g. "open(/.sandprobe-verify-2, O_CREAT) failed: EROFS".
    pub evidence: String,
}

/// Everything the battery found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BatteryReport {
    /// The checks, in the order they ran.
    pub checks: Vec<CheckResult>,
    /// True when every check passed.
    pub passed: bool,
}

fn result(id: &str, description: &str, pass: bool, evidence: String) -> CheckResult {
    CheckResult {
        id: id.to_string(),
        description: description.to_string(),
        outcome: if pass {
            CheckOutcome::Pass
        } else {
            CheckOutcome::Fail
        },
        evidence,
    }
}

fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EBADF => "EBADF",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ENXIO => "ENXIO",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTTY => "ENOTTY",
        libc::EAGAIN => "EAGAIN",
        libc::EUSERS => "EUSERS",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

fn io_errno(error: &std::io::Error) -> String {
    error
        .raw_os_error()
        .map_or_else(|| error.to_string(), errno_name)
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Runs `attempt` in a forked child and returns what it reported: 0 for success, else the
/// errno. `attempt` must only make system calls (it runs between fork and _exit).
fn in_child(attempt: impl FnOnce() -> i32) -> Result<i32, String> {
    // SAFETY: the battery process is single-threaded, so the child is a consistent copy; the
    // child runs `attempt` (system calls only) and leaves with _exit, never returning here.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork failed: {}", errno_name(last_errno())));
    }
    if pid == 0 {
        let code = attempt().clamp(0, 255);
        // SAFETY: _exit ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child; `status` is a valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(format!("waitpid failed: {}", errno_name(last_errno())));
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Err(format!(
            "the child was killed by signal {}",
            libc::WTERMSIG(status)
        ))
    }
}

/// Describes a child's report for evidence: "succeeded" or the errno.
fn outcome_text(report: &Result<i32, String>) -> String {
    match report {
        Ok(0) => "succeeded".to_string(),
        Ok(errno) => format!("failed: {}", errno_name(*errno)),
        Err(message) => message.clone(),
    }
}

/// A path is hidden when it is absent or an empty directory (a mount point with nothing of
/// the host behind it).
fn hidden(path: &Path) -> Result<bool, String> {
    match std::fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(error) => Err(format!("{}: {}", path.display(), io_errno(&error))),
        Ok(meta) if meta.is_dir() => match std::fs::read_dir(path) {
            Ok(mut entries) => Ok(entries.next().is_none()),
            // Present but unreadable still reveals nothing of its content, yet the host's
            // directory is there: count it as visible.
            Err(_) => Ok(false),
        },
        Ok(_) => Ok(false),
    }
}

/// Host paths that must not be visible.
pub const HOST_PATHS: [&str; 6] = [
    "/root",
    "/home",
    "/etc/shadow",
    "/etc/gshadow",
    "/var",
    "/boot",
];

fn check_host_paths() -> CheckResult {
    let mut visible = Vec::new();
    let mut errors = Vec::new();
    for path in HOST_PATHS {
        match hidden(Path::new(path)) {
            Ok(true) => {}
            Ok(false) => visible.push(path),
            Err(message) => errors.push(message),
        }
    }
    let pass = visible.is_empty() && errors.is_empty();
    let evidence = if pass {
        format!("absent or empty: {}", HOST_PATHS.join(", "))
    } else {
        let mut parts = Vec::new();
        if !visible.is_empty() {
            parts.push(format!("visible: {}", visible.join(", ")));
        }
        if !errors.is_empty() {
            parts.push(format!("could not tell: {}", errors.join("; ")));
        }
        parts.join("; ")
    };
    result(
        "host_paths_hidden",
        "host files (/root, /home, /etc/shadow, /var, …) are not visible",
        pass,
        evidence,
    )
}

fn check_host_canary(canary: &Path) -> CheckResult {
    let (pass, evidence) = match std::fs::symlink_metadata(canary) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            (true, format!("{} is absent", canary.display()))
        }
        Err(error) => (false, format!("{}: {}", canary.display(), io_errno(&error))),
        Ok(_) => (
            false,
            format!("the host file {} is visible", canary.display()),
        ),
    };
    result(
        "host_canary_hidden",
        "a file created on the host for this run is not visible",
        pass,
        evidence,
    )
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| {
        String::from_utf8_lossy(&bytes)
            .replace('\0', " ")
            .trim()
            .to_string()
    })
}

fn check_pid_namespace() -> CheckResult {
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // argv[0] is enough to tell the sandbox's init from the host's, and keeps evidence short.
    let cmdline = std::fs::read("/proc/1/cmdline")
        .map(|bytes| {
            let first = bytes.split(|&b| b == 0).next().unwrap_or_default();
            String::from_utf8_lossy(first).into_owned()
        })
        .unwrap_or_default();
    let comm = read_trimmed("/proc/1/comm").unwrap_or_default();
    let own = std::process::id();
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    let host_init = matches!(comm.as_str(), "systemd" | "init" | "")
        || cmdline.starts_with("/sbin/init")
        || cmdline.starts_with("/lib/systemd/systemd");
    let near_init = own == 1 || parent == 1;
    let few = !pids.is_empty() && pids.len() <= 16;
    let pass = !host_init && near_init && few;
    result(
        "pid1_is_sandbox_init",
        "a fresh pid namespace and /proc: pid 1 is the sandbox's init, host processes are invisible",
        pass,
        format!(
            "pid 1 = {:?} (comm {comm:?}); {} processes visible; own pid {own}, parent {parent}",
            cmdline,
            pids.len()
        ),
    )
}

fn statvfs_read_only(path: &str) -> Option<bool> {
    let c_path = CString::new(path).ok()?;
    // SAFETY: all-zero bytes are a valid `statvfs`.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `stat` is a valid out-pointer.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_flag & libc::ST_RDONLY != 0)
}

/// Tries to create a file in `dir`; passes only on EROFS (EACCES would mean "writable by
/// someone", not a read-only mount). A file that does get created is removed again.
fn check_read_only(id: &str, description: &str, dir: &str) -> CheckResult {
    let path = Path::new(dir).join(format!(".sandprobe-verify-{}", std::process::id()));
    let attempt = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path);
    let flag = match statvfs_read_only(dir) {
        Some(true) => "mounted read-only",
        Some(false) => "mounted read-write",
        None => "mount flags unknown",
    };
    let (pass, evidence) = match attempt {
        Ok(_) => {
            let removed = std::fs::remove_file(&path).is_ok();
            (
                false,
                format!(
                    "created {} ({}); {flag}",
                    path.display(),
                    if removed {
                        "removed again"
                    } else {
                        "could not remove it"
                    }
                ),
            )
        }
        // A directory the sandbox does not have at all cannot be written to either (a host
        // without /usr, like a FROM-scratch container, gives a sandbox without one).
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) && !Path::new(dir).exists() => {
            (true, format!("{dir} does not exist in the sandbox"))
        }
        Err(error) => (
            error.raw_os_error() == Some(libc::EROFS),
            format!(
                "creating {} failed: {}; {flag}",
                path.display(),
                io_errno(&error)
            ),
        ),
    };
    result(id, description, pass, evidence)
}

fn check_tmp_writable() -> CheckResult {
    let path = Path::new("/tmp").join(format!(".sandprobe-verify-{}", std::process::id()));
    let attempt = (|| -> std::io::Result<bool> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(b"sandprobe")?;
        drop(file);
        let mut back = String::new();
        std::fs::File::open(&path)?.read_to_string(&mut back)?;
        std::fs::remove_file(&path)?;
        Ok(back == "sandprobe")
    })();
    let (pass, evidence) = match attempt {
        Ok(true) => (
            true,
            format!("wrote, read back and removed {}", path.display()),
        ),
        Ok(false) => (
            false,
            format!("{} read back different bytes", path.display()),
        ),
        Err(error) => (false, format!("{}: {}", path.display(), io_errno(&error))),
    };
    result("tmp_writable", "/tmp is writable", pass, evidence)
}

fn interface_names() -> Result<Vec<String>, String> {
    // SAFETY: if_nameindex has no preconditions; the result is freed below.
    let list = unsafe { libc::if_nameindex() };
    if list.is_null() {
        return Err(format!("if_nameindex failed: {}", errno_name(last_errno())));
    }
    let mut names = Vec::new();
    let mut cursor = list;
    // SAFETY: the array ends with an entry whose index is 0 and name is null; every name
    // before it is a NUL-terminated string owned by the array until if_freenameindex.
    unsafe {
        while (*cursor).if_index != 0 && !(*cursor).if_name.is_null() {
            names.push(
                std::ffi::CStr::from_ptr((*cursor).if_name)
                    .to_string_lossy()
                    .into_owned(),
            );
            cursor = cursor.add(1);
        }
        libc::if_freenameindex(list);
    }
    Ok(names)
}

fn check_only_loopback() -> CheckResult {
    let (pass, evidence) = match interface_names() {
        Ok(names) => (names == ["lo"], format!("interfaces: {}", names.join(", "))),
        Err(message) => (false, message),
    };
    result(
        "only_loopback",
        "the network namespace holds only the loopback interface",
        pass,
        evidence,
    )
}

fn check_host_loopback(port: u16) -> CheckResult {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let (pass, evidence) = if port == 0 {
        (false, "no host port was given to probe".to_string())
    } else {
        match TcpStream::connect_timeout(&address, Duration::from_secs(2)) {
            Ok(_) => (false, format!("connected to the host service at {address}")),
            Err(error) => (
                true,
                format!("connect to {address} failed: {}", io_errno(&error)),
            ),
        }
    };
    result(
        "host_loopback_unreachable",
        "a service listening on the host's 127.0.0.1 is unreachable",
        pass,
        evidence,
    )
}

/// The `Key:\tvalue` fields of /proc/self/status.
fn own_status() -> Vec<(String, String)> {
    std::fs::read_to_string("/proc/self/status")
        .map(|text| parse_status(&text))
        .unwrap_or_default()
}

/// Parses /proc/<pid>/status text into (key, value) pairs.
pub fn parse_status(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            Some((key.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

fn status_field<'a>(status: &'a [(String, String)], key: &str) -> Option<&'a str> {
    status
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The capability sets of /proc/self/status that must all be empty.
pub const CAPABILITY_FIELDS: [&str; 5] = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];

fn check_capabilities(status: &[(String, String)]) -> CheckResult {
    let mut parts = Vec::new();
    let mut pass = true;
    for key in CAPABILITY_FIELDS {
        let value = status_field(status, key);
        let empty = value.is_some_and(|v| u64::from_str_radix(v, 16) == Ok(0));
        pass &= empty;
        parts.push(format!("{key}={}", value.unwrap_or("missing")));
    }
    result(
        "capabilities_empty",
        "every capability set (effective, permitted, inheritable, bounding, ambient) is empty",
        pass,
        parts.join(" "),
    )
}

fn check_no_new_privs(status: &[(String, String)]) -> CheckResult {
    // SAFETY: prctl with integer arguments only.
    let flag = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    let field = status_field(status, "NoNewPrivs");
    result(
        "no_new_privs",
        "no_new_privs is set: execve cannot grant privileges",
        flag == 1 && field == Some("1"),
        format!(
            "PR_GET_NO_NEW_PRIVS = {flag}; NoNewPrivs: {}",
            field.unwrap_or("missing")
        ),
    )
}

fn check_seccomp(status: &[(String, String)]) -> CheckResult {
    let mode = status_field(status, "Seccomp");
    let filters = status_field(status, "Seccomp_filters");
    result(
        "seccomp_active",
        "a seccomp filter is installed",
        mode == Some("2"),
        format!(
            "Seccomp: {}; Seccomp_filters: {}",
            mode.unwrap_or("missing"),
            filters.unwrap_or("missing")
        ),
    )
}

fn check_nested_userns() -> CheckResult {
    let report = in_child(|| {
        // SAFETY: unshare with a flag argument only, in the throwaway child.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER) } == 0 {
            0
        } else {
            last_errno()
        }
    });
    result(
        "nested_userns_denied",
        "creating a nested user namespace is denied",
        matches!(report, Ok(errno) if errno != 0),
        format!("unshare(CLONE_NEWUSER) {}", outcome_text(&report)),
    )
}

fn check_mount() -> CheckResult {
    let (Ok(source), Ok(target), Ok(fstype)) = (
        CString::new("none"),
        CString::new("/tmp"),
        CString::new("tmpfs"),
    ) else {
        return result(
            "mount_denied",
            "mounting is denied",
            false,
            "bad literal".into(),
        );
    };
    let report = in_child(|| {
        // SAFETY: NUL-terminated strings prepared before the fork; null data is allowed.
        let rc = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc == 0 {
            0
        } else {
            last_errno()
        }
    });
    // The new mount API needs no privilege to pick up a tree: open_tree(2) without
    // OPEN_TREE_CLONE succeeds for anyone, so only the seccomp filter makes it fail (EPERM).
    let Ok(root) = CString::new("/") else {
        return result(
            "mount_denied",
            "mounting is denied",
            false,
            "bad literal".into(),
        );
    };
    let tree = in_child(|| {
        // SAFETY: a NUL-terminated path prepared before the fork; the flags ask for nothing
        // more than a descriptor, which _exit closes.
        let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, root.as_ptr(), 0) };
        if fd >= 0 {
            0
        } else {
            last_errno()
        }
    });
    result(
        "mount_denied",
        "mounting a filesystem and the mount API are denied",
        matches!(report, Ok(errno) if errno != 0) && matches!(tree, Ok(libc::EPERM)),
        format!(
            "mount(tmpfs on /tmp) {}; open_tree(/) {}",
            outcome_text(&report),
            outcome_text(&tree)
        ),
    )
}

fn check_ptrace() -> CheckResult {
    let traceme = in_child(|| {
        // SAFETY: PTRACE_TRACEME takes no pointers.
        let rc = unsafe {
            libc::ptrace(
                libc::PTRACE_TRACEME,
                0,
                std::ptr::null_mut::<libc::c_void>(),
                std::ptr::null_mut::<libc::c_void>(),
            )
        };
        if rc == 0 {
            0
        } else {
            last_errno()
        }
    });
    // PTRACE_SEIZE does not stop the tracee, and the child's exit detaches it again, so even a
    // breach leaves pid 1 running.
    let seize = in_child(|| {
        // SAFETY: PTRACE_SEIZE on pid 1 with no options; no memory is passed.
        let rc = unsafe {
            libc::ptrace(
                libc::PTRACE_SEIZE,
                1,
                std::ptr::null_mut::<libc::c_void>(),
                std::ptr::null_mut::<libc::c_void>(),
            )
        };
        if rc == 0 {
            0
        } else {
            last_errno()
        }
    });
    let pass = matches!(traceme, Ok(e) if e != 0) && matches!(seize, Ok(e) if e != 0);
    result(
        "ptrace_denied",
        "ptrace is denied (PTRACE_TRACEME, and attaching to pid 1)",
        pass,
        format!(
            "PTRACE_TRACEME {}; PTRACE_SEIZE pid 1 {}",
            outcome_text(&traceme),
            outcome_text(&seize)
        ),
    )
}

const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;

fn check_keyctl() -> CheckResult {
    // Reading the session keyring's id succeeds for anyone the filter lets through.
    // SAFETY: keyctl with integer arguments only; 0 = do not create a keyring.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_SESSION_KEYRING,
            0 as libc::c_long,
        )
    };
    let (pass, evidence) = if rc >= 0 {
        (
            false,
            format!("keyctl(GET_KEYRING_ID) succeeded: keyring {rc}"),
        )
    } else {
        (
            true,
            format!(
                "keyctl(GET_KEYRING_ID) failed: {}",
                errno_name(last_errno())
            ),
        )
    };
    result(
        "keyctl_denied",
        "the kernel keyring is out of reach",
        pass,
        evidence,
    )
}

/// The head of `union bpf_attr` for BPF_MAP_CREATE, padded to the size the kernel accepts.
#[repr(C)]
struct BpfMapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    rest: [u32; 28],
}

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_TYPE_ARRAY: u32 = 2;

/// A bpf command no kernel defines: the kernel itself answers EINVAL (on 6.5 and later, where
/// the unprivileged check moved into the commands), only a seccomp rule answers EPERM first.
const BPF_UNKNOWN_COMMAND: libc::c_long = i32::MAX as libc::c_long;

fn check_bpf() -> CheckResult {
    // A one-entry array map: the simplest object an unfiltered, permitted caller could create.
    let attr = BpfMapCreate {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        rest: [0; 28],
    };
    // SAFETY: `attr` is a readable buffer of the size passed; the kernel only reads it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_CREATE,
            &attr as *const BpfMapCreate,
            std::mem::size_of::<BpfMapCreate>() as libc::c_long,
        )
    };
    let map_create = if rc >= 0 {
        // SAFETY: closing the map fd we were just handed.
        unsafe { libc::close(rc as libc::c_int) };
        0
    } else {
        last_errno()
    };
    // An unprivileged BPF_MAP_CREATE also fails where the host forbids unprivileged bpf
    // (kernel.unprivileged_bpf_disabled), sandbox or not; the unknown command tells the
    // filter's denial apart from that.
    // SAFETY: bpf with a null attribute pointer and a size of 0: the kernel reads nothing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_UNKNOWN_COMMAND,
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_long,
        )
    };
    let unknown = if rc >= 0 { 0 } else { last_errno() };
    result(
        "bpf_denied",
        "bpf() is denied, whatever the command",
        map_create != 0 && unknown == libc::EPERM,
        format!(
            "bpf(BPF_MAP_CREATE) {}; bpf(unknown command) {}",
            outcome_text(&Ok(map_create)),
            outcome_text(&Ok(unknown))
        ),
    )
}

fn check_tiocsti() -> CheckResult {
    // On fd -1 the kernel itself answers EBADF; only a seccomp rule answers EPERM first.
    // SAFETY: ioctl on an invalid fd with a null argument; nothing is read or written.
    let rc = unsafe { libc::ioctl(-1, libc::TIOCSTI, std::ptr::null::<libc::c_char>()) };
    let errno = if rc == 0 { 0 } else { last_errno() };
    result(
        "tiocsti_denied",
        "the TIOCSTI terminal-injection ioctl is denied by the seccomp filter",
        errno == libc::EPERM,
        if rc == 0 {
            "ioctl(TIOCSTI) succeeded".to_string()
        } else {
            format!("ioctl(-1, TIOCSTI) failed: {}", errno_name(errno))
        },
    )
}

fn check_netlink() -> CheckResult {
    let try_open = |protocol: libc::c_int| -> i32 {
        // SAFETY: socket with integer arguments; a returned fd is closed at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if fd >= 0 {
            // SAFETY: closing the fd just created.
            unsafe { libc::close(fd) };
            0
        } else {
            last_errno()
        }
    };
    let audit = try_open(libc::NETLINK_AUDIT);
    let uevent = try_open(libc::NETLINK_KOBJECT_UEVENT);
    let describe = |errno: i32| {
        if errno == 0 {
            "opened".to_string()
        } else {
            errno_name(errno)
        }
    };
    result(
        "netlink_restricted",
        "netlink families other than NETLINK_ROUTE (audit, uevent) are denied",
        audit != 0 && uevent != 0,
        format!(
            "NETLINK_AUDIT: {}; NETLINK_KOBJECT_UEVENT: {}",
            describe(audit),
            describe(uevent)
        ),
    )
}

/// The payload shares pid 1's uid; if pid 1 is dumpable, /proc/1/mem is open to the payload,
/// which could then run code in an init that has no seccomp filter. Opening it read-only is
/// enough to tell, and harmless.
fn check_init_protected() -> CheckResult {
    let (pass, evidence) = if std::process::id() == 1 {
        (true, "the payload is pid 1 itself".to_string())
    } else {
        match std::fs::File::open("/proc/1/mem") {
            Ok(_) => (false, "opened /proc/1/mem of the sandbox init".to_string()),
            Err(error) => (
                true,
                format!("open(/proc/1/mem) failed: {}", io_errno(&error)),
            ),
        }
    };
    result(
        "sandbox_init_protected",
        "the payload cannot reach the memory of the sandbox's init (pid 1)",
        pass,
        evidence,
    )
}

fn check_fds() -> CheckResult {
    let listed: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(error) => {
            return result(
                "no_leaked_fds",
                "no file descriptor above 2 is inherited",
                false,
                format!("/proc/self/fd: {}", io_errno(&error)),
            )
        }
    };
    // The directory's own fd is closed by now; whatever still answers F_GETFD was inherited.
    let extra: Vec<String> = listed
        .into_iter()
        .filter(|&fd| fd > 2)
        // SAFETY: F_GETFD only queries the descriptor table.
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0)
        .map(|fd| {
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "?".into());
            format!("{fd} -> {target}")
        })
        .collect();
    result(
        "no_leaked_fds",
        "no file descriptor above 2 is inherited",
        extra.is_empty(),
        if extra.is_empty() {
            "only fds 0, 1, 2 are open".to_string()
        } else {
            format!("open: {}", extra.join(", "))
        },
    )
}

fn check_environment(expected: &[String]) -> CheckResult {
    let mut names: Vec<String> = std::env::vars_os()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect();
    names.sort();
    let unexpected: Vec<&String> = names.iter().filter(|n| !expected.contains(n)).collect();
    // Names only: values may be secrets.
    let evidence = if unexpected.is_empty() {
        format!("variables: {}", names.join(", "))
    } else {
        format!(
            "unexpected: {}",
            unexpected
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    result(
        "environment_clean",
        "the environment holds only the expected variables",
        unexpected.is_empty(),
        evidence,
    )
}

fn check_not_root() -> CheckResult {
    let (mut ruid, mut euid, mut suid) = (0, 0, 0);
    // SAFETY: three valid out-pointers.
    let rc = unsafe { libc::getresuid(&mut ruid, &mut euid, &mut suid) };
    let pass = rc == 0 && ruid != 0 && euid != 0 && suid != 0;
    result(
        "not_root",
        "the payload's real, effective and saved uids are all non-zero",
        pass,
        format!("uid real {ruid}, effective {euid}, saved {suid}"),
    )
}

fn check_no_controlling_tty() -> CheckResult {
    let path = c"/dev/tty";
    // SAFETY: NUL-terminated literal path.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    let (pass, evidence) = if fd >= 0 {
        // SAFETY: closing the fd just opened.
        unsafe { libc::close(fd) };
        (
            false,
            "opened /dev/tty: the caller's terminal is reachable".to_string(),
        )
    } else {
        (
            true,
            format!("open(/dev/tty) failed: {}", errno_name(last_errno())),
        )
    };
    // SAFETY: getsid(0) queries the calling process.
    let sid = unsafe { libc::getsid(0) };
    result(
        "no_controlling_tty",
        "the payload has no controlling terminal (new session)",
        pass,
        format!("{evidence}; session {sid}"),
    )
}

/// Runs every check, in a fixed order, inside the sandbox.
pub fn run_battery_inside(ctx: &BatteryContext) -> BatteryReport {
    let status = own_status();
    let mut checks = vec![check_host_paths()];
    if let Some(canary) = &ctx.host_canary {
        checks.push(check_host_canary(canary));
    }
    checks.extend([
        check_pid_namespace(),
        check_read_only("root_read_only", "the root filesystem is read-only", "/"),
        check_read_only("usr_read_only", "/usr is read-only", "/usr"),
        check_tmp_writable(),
        check_only_loopback(),
        check_host_loopback(ctx.host_port),
        check_capabilities(&status),
        check_no_new_privs(&status),
        check_seccomp(&status),
        check_nested_userns(),
        check_mount(),
        check_ptrace(),
        check_init_protected(),
        check_keyctl(),
        check_bpf(),
        check_tiocsti(),
        check_netlink(),
        check_fds(),
        check_environment(&ctx.expect_env),
        check_not_root(),
        check_no_controlling_tty(),
    ]);
    let passed = checks.iter().all(|c| c.outcome == CheckOutcome::Pass);
    BatteryReport { checks, passed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_parse() {
        let text = "Name:\tcat\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";
        let status = parse_status(text);
        assert_eq!(status_field(&status, "Name"), Some("cat"));
        assert_eq!(status_field(&status, "Seccomp"), Some("2"));
        assert_eq!(status_field(&status, "Missing"), None);
    }

    #[test]
    fn capabilities_check_reads_every_set() {
        let full = "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";
        let check = check_capabilities(&parse_status(full));
        assert_eq!(check.outcome, CheckOutcome::Fail);
        assert!(check.evidence.contains("CapBnd=000001ffffffffff"));
        let empty = full.replace("000001ffffffffff", "0000000000000000");
        assert_eq!(
            check_capabilities(&parse_status(&empty)).outcome,
            CheckOutcome::Pass
        );
        let missing = "CapInh:\t0000000000000000\n";
        assert_eq!(
            check_capabilities(&parse_status(missing)).outcome,
            CheckOutcome::Fail
        );
    }

    #[test]
    fn seccomp_and_nnp_need_the_right_values() {
        let status = parse_status("Seccomp:\t0\n");
        assert_eq!(check_seccomp(&status).outcome, CheckOutcome::Fail);
        let status = parse_status("Seccomp:\t2\nSeccomp_filters:\t1\n");
        assert_eq!(check_seccomp(&status).outcome, CheckOutcome::Pass);
    }

    #[test]
    fn errno_names_are_symbolic() {
        assert_eq!(errno_name(libc::EROFS), "EROFS");
        assert_eq!(errno_name(4242), "errno 4242");
    }

    #[test]
    fn the_report_round_trips_through_json() {
        let report = BatteryReport {
            checks: vec![result("x", "d", true, "e".into())],
            passed: true,
        };
        let text = serde_json::to_string(&report).expect("serialise");
        assert!(text.contains("\"outcome\":\"pass\""));
        let back: BatteryReport = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, report);
    }
}
