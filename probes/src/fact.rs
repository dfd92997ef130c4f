//! Reads file-based facts under a root directory, so a fixture replays exactly like the live host.
//!
//! Every probe reads through [`FactRoot`]; none opens `/proc` or `/sys` itself. The root is `/`
//! on a live host and a fixture directory under `--root`. Each read keeps *absent*, *unreadable*
//! and *malformed* apart (the procfs crate's lesson): a knob that does not exist means "no such
//! gate", while one we cannot read means "unknown", and the verdict must not confuse them.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One fact as read from a file, with where it came from.
///
/// `source` is the path relative to the root (e.g. `proc/sys/user/max_user_namespaces`), so
/// JSON output is the same whether the facts came from the host or from a fixture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Fact<T> {
    /// The file exists and parsed.
    Present { source: String, value: T },
    /// The file does not exist (ENOENT/ENOTDIR). For a knob this usually means "no such gate".
    Absent { source: String },
    /// The file exists but could not be read; `errno` is the symbolic name (EACCES, EISDIR…).
    Unreadable { source: String, errno: String },
    /// The file was read but its contents did not parse.
    Malformed { source: String, reason: String },
}

impl<T> Fact<T> {
    /// The parsed value, if the fact is present.
    pub fn value(&self) -> Option<&T> {
        match self {
            Fact::Present { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The path, relative to the root, the fact was read from.
    pub fn source(&self) -> &str {
        match self {
            Fact::Present { source, .. }
            | Fact::Absent { source }
            | Fact::Unreadable { source, .. }
            | Fact::Malformed { source, .. } => source,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Fact::Absent { .. })
    }

    /// Turns the value with `f`, keeping the state and source.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Fact<U> {
        match self {
            Fact::Present { source, value } => Fact::Present {
                source,
                value: f(value),
            },
            Fact::Absent { source } => Fact::Absent { source },
            Fact::Unreadable { source, errno } => Fact::Unreadable { source, errno },
            Fact::Malformed { source, reason } => Fact::Malformed { source, reason },
        }
    }

    /// Parses a present value with `parse`; a parse error makes the fact malformed.
    pub fn and_then<U>(self, parse: impl FnOnce(T) -> Result<U, String>) -> Fact<U> {
        match self {
            Fact::Present { source, value } => match parse(value) {
                Ok(value) => Fact::Present { source, value },
                Err(reason) => Fact::Malformed { source, reason },
            },
            Fact::Absent { source } => Fact::Absent { source },
            Fact::Unreadable { source, errno } => Fact::Unreadable { source, errno },
            Fact::Malformed { source, reason } => Fact::Malformed { source, reason },
        }
    }

    /// A short human rendering of the state, for evidence strings.
    pub fn describe(&self) -> String
    where
        T: std::fmt::Display,
    {
        match self {
            Fact::Present { source, value } => format!("{source} = {value}"),
            Fact::Absent { source } => format!("{source} is absent"),
            Fact::Unreadable { source, errno } => format!("{source} is unreadable ({errno})"),
            Fact::Malformed { source, reason } => format!("{source} is malformed: {reason}"),
        }
    }
}

/// A fact that could not be trusted, found while replaying a fixture strictly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFact {
    pub source: String,
    pub problem: String,
}

impl std::fmt::Display for BadFact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.problem)
    }
}

impl<T> Fact<T> {
    /// `Some` when the fact is unreadable or malformed: the cases a fixture must not contain.
    pub fn bad(&self) -> Option<BadFact> {
        match self {
            Fact::Unreadable { source, errno } => Some(BadFact {
                source: source.clone(),
                problem: format!("unreadable ({errno})"),
            }),
            Fact::Malformed { source, reason } => Some(BadFact {
                source: source.clone(),
                problem: format!("malformed: {reason}"),
            }),
            _ => None,
        }
    }
}

/// The raw outcome of reading one file, before any parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRead<T> {
    Found(T),
    Absent,
    Unreadable(String),
}

/// A directory that stands for `/`: the live host, or a fixture.
///
/// It records every path it is asked for, so `sandprobe collect` can copy exactly the files the
/// probes read, and nothing else.
#[derive(Debug)]
pub struct FactRoot {
    root: PathBuf,
    is_host: bool,
    requested: Mutex<BTreeSet<String>>,
}

/// Largest file a probe will read. Every fact file is small; a bigger one is a broken fixture,
/// and reading it whole would be a way to make the checker eat memory.
pub const MAX_FACT_FILE_BYTES: u64 = 16 * 1024 * 1024;

impl FactRoot {
    /// The live host: facts are read under `/`.
    pub fn host() -> Self {
        FactRoot {
            root: PathBuf::from("/"),
            is_host: true,
            requested: Mutex::new(BTreeSet::new()),
        }
    }

    /// A fixture directory. The caller checks that it exists.
    pub fn fixture(dir: impl Into<PathBuf>) -> Self {
        FactRoot {
            root: dir.into(),
            is_host: false,
            requested: Mutex::new(BTreeSet::new()),
        }
    }

    /// True for the live host (`/`), false for a replayed fixture.
    pub fn is_host(&self) -> bool {
        self.is_host
    }

    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Every relative path asked for so far, present or not.
    pub fn requested_paths(&self) -> Vec<String> {
        self.requested
            .lock()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Resolves `rel` (like `proc/self/status`) under the root.
    ///
    /// Under a fixture, the path must stay inside the fixture after symlinks are resolved: a
    /// fixture is untrusted input and must not make the checker read host files.
    fn resolve(&self, rel: &str) -> Result<PathBuf, RawRead<()>> {
        if let Ok(mut set) = self.requested.lock() {
            set.insert(rel.to_string());
        }
        let rel_path = Path::new(rel);
        if rel_path.is_absolute()
            || rel_path
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(RawRead::Unreadable("EINVAL".into()));
        }
        let full = self.root.join(rel_path);
        if self.is_host {
            return Ok(full);
        }
        match full.canonicalize() {
            Ok(real) => {
                let base = self
                    .root
                    .canonicalize()
                    .unwrap_or_else(|_| self.root.clone());
                if real.starts_with(&base) {
                    Ok(real)
                } else {
                    Err(RawRead::Unreadable("EXDEV".into()))
                }
            }
            Err(err) => Err(classify(&err)),
        }
    }

    /// Reads a whole file as bytes.
    pub fn read_bytes(&self, rel: &str) -> RawRead<Vec<u8>> {
        let path = match self.resolve(rel) {
            Ok(path) => path,
            Err(RawRead::Absent) => return RawRead::Absent,
            Err(RawRead::Unreadable(errno)) => return RawRead::Unreadable(errno),
            Err(RawRead::Found(())) => unreachable!("resolve never returns Found as an error"),
        };
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(err) => return classify(&err),
        };
        // procfs and sysfs report a size of 0, so read_to_end cannot size the buffer: start
        // at a page, which holds nearly every fact file in one read, instead of doubling from
        // 32 bytes with a read and a copy per step.
        let mut buf = Vec::with_capacity(4096);
        match file.take(MAX_FACT_FILE_BYTES + 1).read_to_end(&mut buf) {
            Ok(_) if buf.len() as u64 > MAX_FACT_FILE_BYTES => RawRead::Unreadable("EFBIG".into()),
            Ok(_) => RawRead::Found(buf),
            Err(err) => classify(&err),
        }
    }

    /// Reads a text file into a [`Fact`], trimming the trailing newline; `parse` turns the text
    /// into a value or explains why it is malformed.
    pub fn read_fact<T>(
        &self,
        rel: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Fact<T> {
        let source = rel.to_string();
        match self.read_bytes(rel) {
            RawRead::Found(bytes) => match String::from_utf8(bytes) {
                Ok(text) => match parse(text.trim_end_matches('\n')) {
                    Ok(value) => Fact::Present { source, value },
                    Err(reason) => Fact::Malformed { source, reason },
                },
                Err(_) => Fact::Malformed {
                    source,
                    reason: "not valid UTF-8".into(),
                },
            },
            RawRead::Absent => Fact::Absent { source },
            RawRead::Unreadable(errno) => Fact::Unreadable { source, errno },
        }
    }

    /// Reads a text file as-is (trailing newline trimmed).
    pub fn read_text(&self, rel: &str) -> Fact<String> {
        self.read_fact(rel, |text| Ok(text.to_string()))
    }

    /// Whether a path exists (a symlink counts, even dangling: `/proc/self/ns/user` is one).
    pub fn exists(&self, rel: &str) -> bool {
        if let Ok(mut set) = self.requested.lock() {
            set.insert(rel.to_string());
        }
        let rel_path = Path::new(rel);
        if rel_path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return false;
        }
        fs::symlink_metadata(self.root.join(rel_path)).is_ok()
    }
}

/// Maps an I/O error to absent or unreadable-with-errno.
fn classify<T>(err: &io::Error) -> RawRead<T> {
    match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => RawRead::Absent,
        Some(code) => RawRead::Unreadable(errno_name(code).to_string()),
        None if err.kind() == io::ErrorKind::NotFound => RawRead::Absent,
        None => RawRead::Unreadable("EIO".into()),
    }
}

/// The symbolic name of an errno, as the kernel man pages spell it.
pub fn errno_name(code: i32) -> &'static str {
    match code {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::EPIPE => "EPIPE",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EUSERS => "EUSERS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => "EUNKNOWN",
    }
}

/// The errno number for a symbolic name, for reading trial files back.
pub fn errno_from_name(name: &str) -> Option<i32> {
    (1..=133).find(|&code| errno_name(code) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_unreadable_and_malformed_are_kept_apart() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proc/sys/user")).unwrap();
        fs::write(
            dir.path().join("proc/sys/user/max_user_namespaces"),
            "abc\n",
        )
        .unwrap();
        fs::create_dir_all(dir.path().join("proc/sys/kernel/unprivileged_userns_clone")).unwrap();
        let root = FactRoot::fixture(dir.path());
        let parse = |t: &str| t.parse::<u64>().map_err(|e| e.to_string());

        assert!(matches!(
            root.read_fact("proc/sys/user/max_user_namespaces", parse),
            Fact::Malformed { .. }
        ));
        assert_eq!(
            root.read_fact("proc/sys/kernel/osrelease", parse),
            Fact::Absent {
                source: "proc/sys/kernel/osrelease".into()
            }
        );
        assert_eq!(
            root.read_fact("proc/sys/kernel/unprivileged_userns_clone", parse),
            Fact::Unreadable {
                source: "proc/sys/kernel/unprivileged_userns_clone".into(),
                errno: "EISDIR".into()
            }
        );
        assert_eq!(root.requested_paths().len(), 3);
    }

    #[test]
    fn fixture_symlinks_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("proc/version")).unwrap();
        let root = FactRoot::fixture(dir.path());
        assert_eq!(
            root.read_text("proc/version"),
            Fact::Unreadable {
                source: "proc/version".into(),
                errno: "EXDEV".into()
            }
        );
    }

    #[test]
    fn dot_dot_is_refused() {
        let root = FactRoot::fixture("/nonexistent");
        assert!(matches!(
            root.read_text("proc/../../etc/passwd"),
            Fact::Unreadable { .. }
        ));
    }

    #[test]
    fn errno_names_round_trip() {
        for code in [
            libc::EPERM,
            libc::EINVAL,
            libc::ENOSPC,
            libc::EACCES,
            libc::EUSERS,
        ] {
            assert_eq!(errno_from_name(errno_name(code)), Some(code));
        }
    }
}
