//! The launch plan: raw command-line flags (no I/O) validated into plain data the launcher executes.
//!
//! Parsing happens in two phases, like ripgrep: [`RawArgs`] is what clap produced and does no
//! I/O; [`LaunchPlan::build`] checks it against a [`HostView`] (the few host lookups validation
//! needs) and produces the complete plan — every mount, the environment, the ids — as plain data.
//! Everything a test needs to reason about is here, printable with `--verbose`, and a fake
//! [`HostView`] replays any host without touching it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueEnum};
use serde::{Serialize, Serializer};

use super::harden;

/// The mode requested on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestedMode {
    /// userns when it works for this invoker, else root-backed for a root invoker.
    Auto,
    /// User namespaces; no privilege at all.
    Userns,
    /// Real uid 0, effective uid --user, root taken back only to build the sandbox.
    RootBacked,
}

/// The mode a plan is executed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LaunchMode {
    Userns,
    RootBacked,
}

impl LaunchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchMode::Userns => "userns",
            LaunchMode::RootBacked => "root-backed",
        }
    }
}

/// `sandbox-run [OPTIONS] [--] COMMAND [ARG...]`: the raw flags, as clap parsed them.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "sandbox-run",
    version = env!("SANDPROBE_VERSION"),
    about = "Run a command in a fresh sandbox (user namespaces, or root-backed on hosts without them).",
    after_help = "Exit status: the payload's status (128+N when it died of signal N, 127 when the \
                  program is missing, 126 when it is not executable); 240-246 when the launcher \
                  itself failed (see docs/sandbox-run.md)."
)]
pub struct RawArgs {
    /// How to build the sandbox: auto picks userns when it works, else root-backed (root only).
    #[arg(long, value_enum, default_value_t = RequestedMode::Auto)]
    pub mode: RequestedMode,
    /// The unprivileged identity that root-backed sandboxes and a root invoker drop to
    /// [default: nobody, or uid/gid 65534 when that name does not resolve].
    #[arg(long, value_name = "USER|UID")]
    pub user: Option<String>,
    /// Bind SRC read-only at DEST inside the sandbox.
    #[arg(long = "ro-bind", num_args = 2, value_names = ["SRC", "DEST"], action = ArgAction::Append)]
    pub ro_bind: Vec<OsString>,
    /// Bind SRC read-write at DEST inside the sandbox.
    #[arg(long = "bind", num_args = 2, value_names = ["SRC", "DEST"], action = ArgAction::Append)]
    pub bind: Vec<OsString>,
    /// Mount a fresh writable tmpfs at DEST.
    #[arg(long = "tmpfs", value_name = "DEST", action = ArgAction::Append)]
    pub tmpfs: Vec<OsString>,
    /// Set VAR to VALUE in the payload's environment.
    #[arg(long = "setenv", num_args = 2, value_names = ["VAR", "VALUE"], action = ArgAction::Append)]
    pub setenv: Vec<OsString>,
    /// Working directory of the payload inside the sandbox [default: /].
    #[arg(long, value_name = "DIR")]
    pub chdir: Option<OsString>,
    /// Hostname inside the sandbox.
    #[arg(long, value_name = "NAME", default_value = "sandbox")]
    pub hostname: String,
    /// Keep the host's network namespace (default: a private one with only loopback up).
    #[arg(long = "share-net")]
    pub share_net: bool,
    /// A resource limit for the payload: NAME=VALUE or NAME=SOFT:HARD, with NAME as prlimit(1)
    /// spells it (as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss,
    /// rtprio, rttime, sigpending, stack) and VALUE a number or "infinity".
    #[arg(long = "rlimit", value_name = "NAME=VALUE", action = ArgAction::Append)]
    pub rlimit: Vec<String>,
    /// Write JSON status events, one per line, to this already-open fd.
    #[arg(long = "json-status-fd", value_name = "FD")]
    pub json_status_fd: Option<i32>,
    /// Print the launch plan and each setup step with its time.
    #[arg(short, long)]
    pub verbose: bool,
    /// The program to run and its arguments.
    #[arg(
        value_name = "COMMAND",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub command: Vec<OsString>,
    /// --ro-bind/--bind/--tmpfs in command-line order (filled from clap's indices).
    #[arg(skip)]
    pub mounts: Vec<UserMount>,
}

/// A mount the user asked for, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserMount {
    RoBind { src: OsString, dest: OsString },
    Bind { src: OsString, dest: OsString },
    Tmpfs { dest: OsString },
}

impl RawArgs {
    /// Parses the command line (argv[0] first). No I/O; `--help`/`--version` come back as errors
    /// of the matching kind, for the caller to print.
    pub fn parse_from_args<I, T>(args: I) -> Result<RawArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = RawArgs::command().try_get_matches_from(args)?;
        let mut raw = RawArgs::from_arg_matches(&matches)?;
        // clap keeps each option's values apart; the mounts must be applied in the order given.
        let mut ordered: Vec<(usize, UserMount)> = Vec::new();
        for (id, kind) in [("ro_bind", 0u8), ("bind", 1), ("tmpfs", 2)] {
            let (Some(indices), Some(values)) =
                (matches.indices_of(id), matches.get_many::<OsString>(id))
            else {
                continue;
            };
            let indices: Vec<usize> = indices.collect();
            let values: Vec<OsString> = values.cloned().collect();
            let per = if kind == 2 { 1 } else { 2 };
            for (chunk, idx) in values.chunks(per).zip(indices.chunks(per)) {
                let mount = match (kind, chunk) {
                    (0, [src, dest]) => UserMount::RoBind {
                        src: src.clone(),
                        dest: dest.clone(),
                    },
                    (1, [src, dest]) => UserMount::Bind {
                        src: src.clone(),
                        dest: dest.clone(),
                    },
                    (2, [dest]) => UserMount::Tmpfs { dest: dest.clone() },
                    _ => continue,
                };
                ordered.push((idx[0], mount));
            }
        }
        ordered.sort_by_key(|(idx, _)| *idx);
        raw.mounts = ordered.into_iter().map(|(_, m)| m).collect();
        Ok(raw)
    }
}

/// What kind of thing a host path is (symlinks followed unless stated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    Dir,
    File,
    /// A symlink (not followed), with its target.
    Symlink(PathBuf),
    /// A device, fifo or socket.
    Other,
}

/// A user account: uid and primary gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
}

/// The host lookups that validation needs; a fake one replays any host in unit tests.
pub trait HostView {
    /// The invoker's real uid and gid.
    fn invoker(&self) -> Identity;
    /// The contents of the host's /etc/passwd, if readable.
    fn passwd(&self) -> Option<String>;
    /// What `path` is on the host; `follow` follows a final symlink. `None` when absent.
    fn path_kind(&self, path: &Path, follow: bool) -> Option<PathKind>;
    /// Whether `fd` is open in this process.
    fn fd_is_open(&self, fd: i32) -> bool;
    /// The invoker's environment variable `name`.
    fn env_var(&self, name: &str) -> Option<OsString>;
}

/// Why the command line could not be turned into a plan.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("failed to use the path {path:?}: it must be absolute")]
    RelativePath { path: PathBuf },
    #[error("failed to use the path {path:?}: it must not contain '..' or be '/'")]
    UnsafeDestination { path: PathBuf },
    #[error("failed to bind {path:?}: no such file or directory on the host")]
    MissingBindSource { path: PathBuf },
    #[error("failed to resolve --user {user:?}: no such user in /etc/passwd")]
    UnknownUser { user: String },
    #[error(
        "failed to use --json-status-fd {fd}: it is not an open file descriptor (open it in the \
         calling shell, e.g. `3>status.json`)"
    )]
    BadStatusFd { fd: i32 },
    // The parser's message names the flag, the input and the accepted names already.
    #[error("{cause}")]
    BadRlimit { spec: String, cause: String },
    #[error(
        "failed to use --setenv {var:?}: a variable name must be non-empty without '=' or NUL"
    )]
    BadEnvName { var: String },
    #[error("failed to use --setenv {var}: the value contains a NUL byte")]
    BadEnvValue { var: String },
    #[error("failed to use --hostname {name:?}: it must be 1 to 64 bytes without '/' or NUL")]
    BadHostname { name: String },
    #[error("failed to use the command: an argument contains a NUL byte")]
    NulInCommand,
}

/// The namespaces a sandbox gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Namespace {
    User,
    Mnt,
    Pid,
    Net,
    Ipc,
    Uts,
    Cgroup,
}

impl Namespace {
    /// The name under /proc/PID/ns/.
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Mnt => "mnt",
            Namespace::Pid => "pid",
            Namespace::Net => "net",
            Namespace::Ipc => "ipc",
            Namespace::Uts => "uts",
            Namespace::Cgroup => "cgroup",
        }
    }

    /// The clone(2) flag.
    pub fn clone_flag(self) -> libc::c_int {
        match self {
            Namespace::User => libc::CLONE_NEWUSER,
            Namespace::Mnt => libc::CLONE_NEWNS,
            Namespace::Pid => libc::CLONE_NEWPID,
            Namespace::Net => libc::CLONE_NEWNET,
            Namespace::Ipc => libc::CLONE_NEWIPC,
            Namespace::Uts => libc::CLONE_NEWUTS,
            Namespace::Cgroup => libc::CLONE_NEWCGROUP,
        }
    }
}

/// One step of building the sandbox's root, applied in order on the fresh tmpfs root.
/// `src` paths are host paths; `dest` paths are inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MountStep {
    /// Create a directory (and its parents) in the new root.
    Dir {
        #[serde(serialize_with = "serialize_path")]
        dest: PathBuf,
    },
    /// Bind a host path, then remount it read-only, nosuid, nodev.
    RoBind {
        #[serde(serialize_with = "serialize_path")]
        src: PathBuf,
        #[serde(serialize_with = "serialize_path")]
        dest: PathBuf,
    },
    /// Bind a host path read-write, nosuid, nodev.
    Bind {
        #[serde(serialize_with = "serialize_path")]
        src: PathBuf,
        #[serde(serialize_with = "serialize_path")]
        dest: PathBuf,
    },
    /// Bind a host device node (the only bind without nodev).
    DevBind {
        #[serde(serialize_with = "serialize_path")]
        src: PathBuf,
        #[serde(serialize_with = "serialize_path")]
        dest: PathBuf,
    },
    /// A fresh tmpfs (nosuid, nodev) with the given octal mode; a user's `--tmpfs` is owned by
    /// the payload's ids so that it is writable in root-backed mode too.
    Tmpfs {
        #[serde(serialize_with = "serialize_path")]
        dest: PathBuf,
        mode: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        payload_owned: bool,
    },
    /// A symlink in the new root.
    Symlink {
        #[serde(serialize_with = "serialize_path")]
        target: PathBuf,
        #[serde(serialize_with = "serialize_path")]
        dest: PathBuf,
    },
    /// Copy a small host file into the new root (then read-only with the root).
    CopyFile {
        #[serde(serialize_with = "serialize_path")]
        src: PathBuf,
        #[serde(serialize_with = "serialize_path")]
        dest: PathBuf,
    },
    /// A fresh proc for the new pid namespace (nosuid, nodev, noexec).
    Proc {
        #[serde(serialize_with = "serialize_path")]
        dest: PathBuf,
    },
    /// A private devpts instance (nosuid, noexec) with /dev/ptmx pointing into it.
    Devpts {
        #[serde(serialize_with = "serialize_path")]
        dest: PathBuf,
    },
}

/// Host system directories bound read-only, or mirrored as symlinks on a merged-/usr host.
pub const SYSTEM_DIRS: [&str; 6] = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// The /etc entries a program needs to run. Never shadow or gshadow.
pub const ETC_FILES: [&str; 9] = [
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/localtime",
    "/etc/host.conf",
];

/// /etc directories bound read-only when present.
pub const ETC_DIRS: [&str; 2] = ["/etc/ld.so.conf.d", "/etc/ssl/certs"];

/// Device nodes bound from the host's /dev.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The payload's PATH unless `--setenv PATH` overrides it.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// The payload's HOME: the only writable place a fresh sandbox has.
pub const DEFAULT_HOME: &str = "/tmp";

/// The uid and gid `--user` defaults to when "nobody" does not resolve.
pub const NOBODY_ID: u32 = 65534;

/// The validated launch plan: plain data, executed by the launcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchPlan {
    pub mode: LaunchMode,
    /// Why this mode (the selector's summary, or "requested with --mode").
    pub mode_reason: String,
    /// The invoker's real ids.
    pub invoker: Identity,
    /// The --user identity (the root invoker's drop target; root-backed's payload ids).
    pub target: Identity,
    /// The ids the payload runs as (host view; the same ids inside a userns).
    pub payload_ids: Identity,
    pub namespaces: Vec<Namespace>,
    pub mounts: Vec<MountStep>,
    pub hostname: String,
    #[serde(serialize_with = "serialize_os_pairs")]
    pub env: Vec<(OsString, OsString)>,
    #[serde(serialize_with = "serialize_os")]
    pub chdir: OsString,
    #[serde(serialize_with = "serialize_os_vec")]
    pub command: Vec<OsString>,
    pub rlimits: Vec<String>,
    pub status_fd: Option<i32>,
    pub verbose: bool,
}

/// Paths print lossily, like the other OS strings: a plan with a non-UTF-8 path must still show
/// in `--verbose` (serde refuses such a `PathBuf` outright).
fn serialize_path<S: Serializer>(value: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string_lossy())
}

fn serialize_os<S: Serializer>(value: &OsString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string_lossy())
}

fn serialize_os_vec<S: Serializer>(value: &[OsString], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(value.iter().map(|v| v.to_string_lossy()))
}

fn serialize_os_pairs<S: Serializer>(
    value: &[(OsString, OsString)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(
        value
            .iter()
            .map(|(k, v)| (k.to_string_lossy(), v.to_string_lossy())),
    )
}

/// Finds a passwd entry by name or by decimal uid: (uid, gid).
pub fn find_passwd_entry(passwd: &str, user: &str) -> Option<Identity> {
    let by_uid: Option<u32> = user.parse().ok();
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let uid: u32 = fields.next()?.parse().ok()?;
        let gid: u32 = fields.next()?.parse().ok()?;
        let matches = match by_uid {
            Some(wanted) => uid == wanted,
            None => name == user,
        };
        matches.then_some(Identity { uid, gid })
    })
}

/// Resolves `--user`: a name from /etc/passwd, or a decimal uid (its passwd gid, else gid = uid).
/// The default is "nobody", or 65534/65534 when that name does not resolve.
pub fn resolve_user(spec: Option<&str>, passwd: Option<&str>) -> Result<Identity, PlanError> {
    let passwd = passwd.unwrap_or("");
    match spec {
        None => Ok(find_passwd_entry(passwd, "nobody").unwrap_or(Identity {
            uid: NOBODY_ID,
            gid: NOBODY_ID,
        })),
        Some(spec) => {
            if let Some(found) = find_passwd_entry(passwd, spec) {
                return Ok(found);
            }
            match spec.parse::<u32>() {
                Ok(uid) if uid != u32::MAX => Ok(Identity { uid, gid: uid }),
                _ => Err(PlanError::UnknownUser {
                    user: spec.to_owned(),
                }),
            }
        }
    }
}

fn absolute(path: &OsStr) -> Result<PathBuf, PlanError> {
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err(PlanError::RelativePath { path });
    }
    Ok(path)
}

fn destination(path: &OsStr) -> Result<PathBuf, PlanError> {
    let path = absolute(path)?;
    let unsafe_component = path.components().any(|c| matches!(c, Component::ParentDir));
    if unsafe_component || path == Path::new("/") {
        return Err(PlanError::UnsafeDestination { path });
    }
    Ok(path)
}

fn bind_source(path: &OsStr, host: &dyn HostView) -> Result<PathBuf, PlanError> {
    let path = absolute(path)?;
    if host.path_kind(&path, true).is_none() {
        return Err(PlanError::MissingBindSource { path });
    }
    Ok(path)
}

/// The read-only system part of the root, following the host's own layout.
pub fn system_mounts(host: &dyn HostView) -> Vec<MountStep> {
    let mut steps = Vec::new();
    if host.path_kind(Path::new("/usr"), true) == Some(PathKind::Dir) {
        steps.push(MountStep::RoBind {
            src: "/usr".into(),
            dest: "/usr".into(),
        });
    }
    for dir in SYSTEM_DIRS {
        match host.path_kind(Path::new(dir), false) {
            // Merged /usr: /bin -> usr/bin. The same link in the sandbox resolves into the bound /usr.
            Some(PathKind::Symlink(target)) => steps.push(MountStep::Symlink {
                target,
                dest: dir.into(),
            }),
            Some(PathKind::Dir) => steps.push(MountStep::RoBind {
                src: dir.into(),
                dest: dir.into(),
            }),
            _ => {}
        }
    }
    steps.push(MountStep::Dir {
        dest: "/etc".into(),
    });
    for file in ETC_FILES {
        match host.path_kind(Path::new(file), false) {
            // A relative or /usr link (localtime) resolves inside; others (resolv.conf into /run)
            // would dangle, so those are copied through the link.
            Some(PathKind::Symlink(target))
                if target.starts_with("/usr") || target.starts_with("../usr") =>
            {
                steps.push(MountStep::Symlink {
                    target,
                    dest: file.into(),
                })
            }
            Some(PathKind::Symlink(_)) | Some(PathKind::File)
                if host.path_kind(Path::new(file), true) == Some(PathKind::File) =>
            {
                steps.push(MountStep::CopyFile {
                    src: file.into(),
                    dest: file.into(),
                });
            }
            _ => {}
        }
    }
    for dir in ETC_DIRS {
        if host.path_kind(Path::new(dir), true) == Some(PathKind::Dir) {
            steps.push(MountStep::RoBind {
                src: dir.into(),
                dest: dir.into(),
            });
        }
    }
    steps.push(MountStep::Proc {
        dest: "/proc".into(),
    });
    steps.push(MountStep::Tmpfs {
        dest: "/dev".into(),
        mode: 0o755,
        payload_owned: false,
    });
    for dev in DEVICES {
        let path = Path::new("/dev").join(dev);
        if host.path_kind(&path, true).is_some() {
            steps.push(MountStep::DevBind {
                src: path.clone(),
                dest: path,
            });
        }
    }
    steps.push(MountStep::Devpts {
        dest: "/dev/pts".into(),
    });
    steps.push(MountStep::Tmpfs {
        dest: "/dev/shm".into(),
        mode: 0o1777,
        payload_owned: false,
    });
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        steps.push(MountStep::Symlink {
            target: target.into(),
            dest: Path::new("/dev").join(name),
        });
    }
    steps.push(MountStep::Tmpfs {
        dest: "/tmp".into(),
        mode: 0o1777,
        payload_owned: false,
    });
    steps
}

fn valid_env_name(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty() && !bytes.contains(&b'=') && !bytes.contains(&0)
}

/// The payload's clean environment: PATH, HOME, TERM, LANG, then `--setenv` (which may override).
pub fn payload_env(
    setenv: &[OsString],
    host: &dyn HostView,
) -> Result<Vec<(OsString, OsString)>, PlanError> {
    let mut env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOME".into(), DEFAULT_HOME.into()),
        (
            "TERM".into(),
            host.env_var("TERM").unwrap_or_else(|| "dumb".into()),
        ),
        (
            "LANG".into(),
            host.env_var("LANG").unwrap_or_else(|| "C.UTF-8".into()),
        ),
    ];
    for pair in setenv.chunks(2) {
        let [var, value] = pair else {
            continue;
        };
        if !valid_env_name(var) {
            return Err(PlanError::BadEnvName {
                var: var.to_string_lossy().into_owned(),
            });
        }
        if value.as_bytes().contains(&0) {
            return Err(PlanError::BadEnvValue {
                var: var.to_string_lossy().into_owned(),
            });
        }
        match env.iter_mut().find(|(k, _)| k == var) {
            Some(slot) => slot.1 = value.clone(),
            None => env.push((var.clone(), value.clone())),
        }
    }
    Ok(env)
}

impl LaunchPlan {
    /// Validates the raw flags for an already chosen mode. Only `host` lookups; no side effects.
    pub fn build(
        raw: &RawArgs,
        mode: LaunchMode,
        mode_reason: String,
        target: Identity,
        host: &dyn HostView,
    ) -> Result<LaunchPlan, PlanError> {
        let invoker = host.invoker();
        // userns: a root invoker has already become --user; anyone else keeps their own ids.
        let payload_ids = match mode {
            LaunchMode::RootBacked => target,
            LaunchMode::Userns if invoker.uid == 0 => target,
            LaunchMode::Userns => invoker,
        };

        let mut mounts = system_mounts(host);
        for mount in &raw.mounts {
            mounts.push(match mount {
                UserMount::RoBind { src, dest } => MountStep::RoBind {
                    src: bind_source(src, host)?,
                    dest: destination(dest)?,
                },
                UserMount::Bind { src, dest } => MountStep::Bind {
                    src: bind_source(src, host)?,
                    dest: destination(dest)?,
                },
                UserMount::Tmpfs { dest } => MountStep::Tmpfs {
                    dest: destination(dest)?,
                    mode: 0o755,
                    payload_owned: true,
                },
            });
        }

        let chdir = match &raw.chdir {
            Some(dir) => absolute(dir)?.into_os_string(),
            None => "/".into(),
        };
        if let Some(fd) = raw.json_status_fd {
            if fd < 0 || !host.fd_is_open(fd) {
                return Err(PlanError::BadStatusFd { fd });
            }
        }
        for spec in &raw.rlimit {
            harden::parse_rlimit(spec).map_err(|e| PlanError::BadRlimit {
                spec: spec.clone(),
                cause: e.to_string(),
            })?;
        }
        let hostname_ok = !raw.hostname.is_empty()
            && raw.hostname.len() <= 64
            && !raw.hostname.contains(['/', '\0']);
        if !hostname_ok {
            return Err(PlanError::BadHostname {
                name: raw.hostname.clone(),
            });
        }
        if raw.command.iter().any(|a| a.as_bytes().contains(&0)) {
            return Err(PlanError::NulInCommand);
        }

        let mut namespaces = Vec::new();
        if mode == LaunchMode::Userns {
            namespaces.push(Namespace::User);
        }
        namespaces.extend([Namespace::Mnt, Namespace::Pid]);
        if !raw.share_net {
            namespaces.push(Namespace::Net);
        }
        namespaces.extend([Namespace::Ipc, Namespace::Uts, Namespace::Cgroup]);

        Ok(LaunchPlan {
            mode,
            mode_reason,
            invoker,
            target,
            payload_ids,
            namespaces,
            mounts,
            hostname: raw.hostname.clone(),
            env: payload_env(&raw.setenv, host)?,
            chdir,
            command: raw.command.clone(),
            rlimits: raw.rlimit.clone(),
            status_fd: raw.json_status_fd,
            verbose: raw.verbose,
        })
    }

    /// Whether the plan gives the sandbox its own network namespace.
    pub fn private_net(&self) -> bool {
        self.namespaces.contains(&Namespace::Net)
    }

    /// The payload's PATH (for the execvp-style search inside the sandbox).
    pub fn payload_path(&self) -> &OsStr {
        self.env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_os_str())
            .unwrap_or(OsStr::new(DEFAULT_PATH))
    }

    /// The paths execve tries, in order: the program itself when it has a '/', else each PATH
    /// entry joined with it. The search runs inside the sandbox, where these paths resolve.
    pub fn exec_candidates(&self) -> Vec<PathBuf> {
        let Some(program) = self.command.first() else {
            return Vec::new();
        };
        if program.as_bytes().contains(&b'/') {
            return vec![PathBuf::from(program)];
        }
        self.payload_path()
            .as_bytes()
            .split(|b| *b == b':')
            .map(|dir| {
                let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
                Path::new(OsStr::from_bytes(dir)).join(program)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A host made of literal answers.
    struct FakeHost {
        invoker: Identity,
        passwd: &'static str,
        paths: HashMap<PathBuf, (PathKind, PathKind)>,
        open_fds: Vec<i32>,
    }

    impl FakeHost {
        fn merged_usr() -> FakeHost {
            let mut paths = HashMap::new();
            let dir = (PathKind::Dir, PathKind::Dir);
            let file = (PathKind::File, PathKind::File);
            paths.insert("/usr".into(), dir.clone());
            for (link, target) in [
                ("/bin", "usr/bin"),
                ("/lib", "usr/lib"),
                ("/lib64", "usr/lib64"),
            ] {
                paths.insert(
                    link.into(),
                    (PathKind::Symlink(target.into()), PathKind::Dir),
                );
            }
            for f in [
                "/etc/passwd",
                "/etc/group",
                "/etc/ld.so.cache",
                "/etc/shadow",
            ] {
                paths.insert(f.into(), file.clone());
            }
            paths.insert(
                "/etc/localtime".into(),
                (
                    PathKind::Symlink("/usr/share/zoneinfo/Etc/UTC".into()),
                    PathKind::File,
                ),
            );
            paths.insert(
                "/etc/resolv.conf".into(),
                (
                    PathKind::Symlink("/run/systemd/resolve/stub-resolv.conf".into()),
                    PathKind::File,
                ),
            );
            paths.insert("/srv/data".into(), dir.clone());
            for d in DEVICES {
                paths.insert(
                    Path::new("/dev").join(d),
                    (PathKind::Other, PathKind::Other),
                );
            }
            FakeHost {
                invoker: Identity { uid: 1000, gid: 1000 },
                passwd: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\nalice:x:1000:1001::/home/alice:/bin/sh\n",
                paths,
                open_fds: vec![0, 1, 2, 5],
            }
        }
    }

    impl HostView for FakeHost {
        fn invoker(&self) -> Identity {
            self.invoker
        }
        fn passwd(&self) -> Option<String> {
            Some(self.passwd.to_owned())
        }
        fn path_kind(&self, path: &Path, follow: bool) -> Option<PathKind> {
            self.paths.get(path).map(|(nofollow, followed)| {
                if follow {
                    followed.clone()
                } else {
                    nofollow.clone()
                }
            })
        }
        fn fd_is_open(&self, fd: i32) -> bool {
            self.open_fds.contains(&fd)
        }
        fn env_var(&self, name: &str) -> Option<OsString> {
            (name == "TERM").then(|| "xterm".into())
        }
    }

    fn raw(args: &[&str]) -> RawArgs {
        let mut argv = vec!["sandbox-run"];
        argv.extend_from_slice(args);
        RawArgs::parse_from_args(argv).unwrap()
    }

    fn plan(args: &[&str]) -> Result<LaunchPlan, PlanError> {
        let host = FakeHost::merged_usr();
        LaunchPlan::build(
            &raw(args),
            LaunchMode::Userns,
            "requested".into(),
            Identity {
                uid: 65534,
                gid: 65534,
            },
            &host,
        )
    }

    #[test]
    fn mounts_keep_command_line_order_across_options() {
        let r = raw(&[
            "--tmpfs",
            "/a",
            "--ro-bind",
            "/x",
            "/b",
            "--bind",
            "/y",
            "/c",
            "--tmpfs",
            "/d",
            "--",
            "prog",
            "--tmpfs",
            "/not-an-option",
        ]);
        assert_eq!(
            r.mounts,
            vec![
                UserMount::Tmpfs { dest: "/a".into() },
                UserMount::RoBind {
                    src: "/x".into(),
                    dest: "/b".into()
                },
                UserMount::Bind {
                    src: "/y".into(),
                    dest: "/c".into()
                },
                UserMount::Tmpfs { dest: "/d".into() },
            ]
        );
        assert_eq!(r.command, vec!["prog", "--tmpfs", "/not-an-option"]);
    }

    #[test]
    fn command_options_after_the_program_belong_to_the_program() {
        let r = raw(&["/bin/echo", "-v", "--mode", "x"]);
        assert!(!r.verbose);
        assert_eq!(r.mode, RequestedMode::Auto);
        assert_eq!(r.command, vec!["/bin/echo", "-v", "--mode", "x"]);
    }

    #[test]
    fn missing_command_is_a_usage_error() {
        assert!(RawArgs::parse_from_args(["sandbox-run", "--share-net"]).is_err());
        assert!(RawArgs::parse_from_args(["sandbox-run", "--mode", "bogus", "true"]).is_err());
    }

    #[test]
    fn merged_usr_host_gets_symlinks_and_no_shadow() {
        let p = plan(&["true"]).unwrap();
        assert!(p.mounts.contains(&MountStep::Symlink {
            target: "usr/bin".into(),
            dest: "/bin".into()
        }));
        assert!(p.mounts.contains(&MountStep::RoBind {
            src: "/usr".into(),
            dest: "/usr".into()
        }));
        let mentions_shadow = p.mounts.iter().any(|m| format!("{m:?}").contains("shadow"));
        assert!(!mentions_shadow);
        // localtime points into /usr: kept as a link; resolv.conf points into /run: copied.
        assert!(p.mounts.contains(&MountStep::Symlink {
            target: "/usr/share/zoneinfo/Etc/UTC".into(),
            dest: "/etc/localtime".into()
        }));
        assert!(p.mounts.contains(&MountStep::CopyFile {
            src: "/etc/resolv.conf".into(),
            dest: "/etc/resolv.conf".into()
        }));
        assert!(p.mounts.contains(&MountStep::Tmpfs {
            dest: "/tmp".into(),
            mode: 0o1777,
            payload_owned: false,
        }));
    }

    #[test]
    fn split_usr_host_gets_binds() {
        let mut host = FakeHost::merged_usr();
        host.paths
            .insert("/bin".into(), (PathKind::Dir, PathKind::Dir));
        let steps = system_mounts(&host);
        assert!(steps.contains(&MountStep::RoBind {
            src: "/bin".into(),
            dest: "/bin".into()
        }));
    }

    #[test]
    fn relative_paths_are_refused() {
        assert_eq!(
            plan(&["--bind", "srv", "/srv", "true"]),
            Err(PlanError::RelativePath { path: "srv".into() })
        );
        assert_eq!(
            plan(&["--tmpfs", "tmp2", "true"]),
            Err(PlanError::RelativePath {
                path: "tmp2".into()
            })
        );
        assert!(matches!(
            plan(&["--chdir", "here", "true"]),
            Err(PlanError::RelativePath { .. })
        ));
        assert!(matches!(
            plan(&["--bind", "/srv/data", "/a/../oldroot", "true"]),
            Err(PlanError::UnsafeDestination { .. })
        ));
    }

    #[test]
    fn missing_bind_source_is_refused() {
        assert_eq!(
            plan(&["--ro-bind", "/nope", "/nope", "true"]),
            Err(PlanError::MissingBindSource {
                path: "/nope".into()
            })
        );
        let ok = plan(&["--ro-bind", "/srv/data", "/data", "true"]).unwrap();
        assert_eq!(
            ok.mounts.last(),
            Some(&MountStep::RoBind {
                src: "/srv/data".into(),
                dest: "/data".into()
            })
        );
    }

    #[test]
    fn status_fd_must_be_open() {
        assert_eq!(
            plan(&["--json-status-fd", "9", "true"]),
            Err(PlanError::BadStatusFd { fd: 9 })
        );
        assert_eq!(
            plan(&["--json-status-fd", "5", "true"]).unwrap().status_fd,
            Some(5)
        );
    }

    #[test]
    fn users_resolve_by_name_uid_and_default() {
        let passwd = FakeHost::merged_usr().passwd;
        assert_eq!(
            resolve_user(Some("alice"), Some(passwd)),
            Ok(Identity {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(
            resolve_user(Some("1000"), Some(passwd)),
            Ok(Identity {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(
            resolve_user(Some("4242"), Some(passwd)),
            Ok(Identity {
                uid: 4242,
                gid: 4242
            })
        );
        assert_eq!(
            resolve_user(Some("mallory"), Some(passwd)),
            Err(PlanError::UnknownUser {
                user: "mallory".into()
            })
        );
        assert_eq!(
            resolve_user(None, Some("root:x:0:0::/:/bin/sh\n")),
            Ok(Identity {
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(
            resolve_user(None, Some("nobody:x:99:99::/:/sbin/nologin\n")),
            Ok(Identity { uid: 99, gid: 99 })
        );
    }

    #[test]
    fn environment_is_clean_and_overridable() {
        let p = plan(&[
            "--setenv", "FOO", "bar", "--setenv", "PATH", "/opt/bin", "true",
        ])
        .unwrap();
        let keys: Vec<_> = p
            .env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(keys, vec!["PATH", "HOME", "TERM", "LANG", "FOO"]);
        assert_eq!(p.payload_path(), "/opt/bin");
        assert_eq!(p.env[2].1, "xterm");
        assert_eq!(
            plan(&["--setenv", "A=B", "x", "true"]),
            Err(PlanError::BadEnvName { var: "A=B".into() })
        );
    }

    #[test]
    fn namespaces_follow_mode_and_share_net() {
        let p = plan(&["true"]).unwrap();
        assert_eq!(p.namespaces[0], Namespace::User);
        assert!(p.private_net());
        let shared = plan(&["--share-net", "true"]).unwrap();
        assert!(!shared.private_net());
        let host = FakeHost::merged_usr();
        let rb = LaunchPlan::build(
            &raw(&["true"]),
            LaunchMode::RootBacked,
            "requested".into(),
            Identity {
                uid: 65534,
                gid: 65534,
            },
            &host,
        )
        .unwrap();
        assert!(!rb.namespaces.contains(&Namespace::User));
        assert_eq!(
            rb.payload_ids,
            Identity {
                uid: 65534,
                gid: 65534
            }
        );
    }

    #[test]
    fn exec_candidates_follow_path_search() {
        let p = plan(&["--setenv", "PATH", "/a:/b", "prog"]).unwrap();
        assert_eq!(
            p.exec_candidates(),
            vec![PathBuf::from("/a/prog"), "/b/prog".into()]
        );
        let q = plan(&["./x"]).unwrap();
        assert_eq!(q.exec_candidates(), vec![PathBuf::from("./x")]);
    }

    #[test]
    fn bad_rlimit_and_hostname_are_refused() {
        assert!(matches!(
            plan(&["--rlimit", "bogus=1", "true"]),
            Err(PlanError::BadRlimit { .. })
        ));
        assert!(plan(&["--rlimit", "nofile=64", "true"]).is_ok());
        assert!(matches!(
            plan(&["--hostname", "a/b", "true"]),
            Err(PlanError::BadHostname { .. })
        ));
    }

    #[test]
    fn the_rlimit_help_lists_every_accepted_name() {
        let command = RawArgs::command();
        let rlimit = command
            .get_arguments()
            .find(|arg| arg.get_id() == "rlimit")
            .expect("--rlimit exists");
        let help = rlimit.get_help().map(|h| h.to_string()).unwrap_or_default();
        let words: Vec<&str> = help
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        for name in harden::RLIMIT_NAMES {
            assert!(
                words.contains(&name),
                "--rlimit's help omits {name}: {help}"
            );
        }
    }
    #[test]
    fn plan_serializes_for_verbose() {
        let p = plan(&["--setenv", "FOO", "bar", "echo", "hi"]).unwrap();
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["mode"], "userns");
        assert_eq!(json["env"]["FOO"], "bar");
        assert_eq!(json["command"][1], "hi");
        assert_eq!(json["mounts"][0]["op"], "ro_bind");
    }

    proptest::proptest! {
        #[test]
        fn passwd_parser_never_panics(text in ".{0,200}", user in "[a-z0-9]{0,8}") {
            let _ = find_passwd_entry(&text, &user);
            let _ = resolve_user(Some(&user), Some(&text));
        }
    }
}

#[cfg(test)]
mod fuzz_regressions {
    //! Inputs found by the `launcher_args` fuzz target (fuzz/), kept as regression tests.
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    /// A host where only /etc/passwd exists.
    struct PasswdOnlyHost;

    impl HostView for PasswdOnlyHost {
        fn invoker(&self) -> Identity {
            Identity {
                uid: 1000,
                gid: 1000,
            }
        }
        fn passwd(&self) -> Option<String> {
            None
        }
        fn path_kind(&self, path: &Path, _follow: bool) -> Option<PathKind> {
            (path == Path::new("/etc/passwd")).then_some(PathKind::File)
        }
        fn fd_is_open(&self, _fd: i32) -> bool {
            false
        }
        fn env_var(&self, _name: &str) -> Option<OsString> {
            None
        }
    }

    /// `--ro-bind /etc/passwd $'/et\xd9\xd9c/passwd'`: a valid plan whose destination is not
    /// UTF-8. Serde refuses such a `PathBuf`, so `--verbose` used to print an empty plan.
    #[test]
    fn plan_with_non_utf8_destination_serialises_lossily() {
        let dest = OsString::from_vec(b"/et\xd9\xd9c/passwd".to_vec());
        let argv: Vec<OsString> = vec![
            "sandbox-run".into(),
            "--user".into(),
            "1000".into(),
            "--mode".into(),
            "userns".into(),
            "--ro-bind".into(),
            "/etc/passwd".into(),
            dest.clone(),
            "cat".into(),
            "/etc/passwd".into(),
        ];
        let raw = RawArgs::parse_from_args(argv).unwrap();
        let target = Identity {
            uid: 1000,
            gid: 1000,
        };
        let plan = LaunchPlan::build(
            &raw,
            LaunchMode::Userns,
            "fuzz".into(),
            target,
            &PasswdOnlyHost,
        )
        .unwrap();
        assert!(plan.mounts.contains(&MountStep::RoBind {
            src: "/etc/passwd".into(),
            dest: PathBuf::from(dest),
        }));
        let json = serde_json::to_string_pretty(&plan).unwrap();
        assert!(
            json.contains("\"dest\": \"/et\u{fffd}\u{fffd}c/passwd\""),
            "{json}"
        );
    }
}
