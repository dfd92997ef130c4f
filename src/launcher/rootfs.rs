//! Builds the sandbox's root inside the new mount namespace: tmpfs, pivot_root, the plan's mounts.
//!
//! The sequence (run by the sandbox's pid 1, with the privilege the mode gives it):
//! 1. make every mount private, recursively, so nothing propagates back to the host;
//! 2. mount a tmpfs on /tmp (any existing directory would do) and pivot_root into it, with the
//!    old root parked at /oldroot — the tmpfs becomes the new root and the host stays reachable
//!    at /oldroot for the binds, including sources under the host's /tmp;
//! 3. apply the plan's steps, taking every source from /oldroot;
//! 4. ([`seal_root`]) detach the old root (MNT_DETACH) and remove its mount point;
//! 5. remount the new root read-only, nosuid, nodev.
//!
//! Steps 4 and 5 run after the payload is forked, while it hardens itself; it waits for them
//! before it execs the sandboxed program (see the launcher's `payload_exec`).
//!
//! Binds are not recursive: a submount of a bound directory stays hidden rather than appearing
//! with its own (possibly writable) flags.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::mount::{MntFlags, MsFlags};

use super::plan::{Identity, MountStep};

/// Where the host's root is reachable while the sandbox's root is built.
pub const OLD_ROOT: &str = "/oldroot";

/// Where the root tmpfs is mounted before pivot_root moves it to "/".
const STAGING: &str = "/tmp";

/// Why building the root failed.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("failed to make the mounts private: {0}")]
    MakePrivate(std::io::Error),
    #[error("failed to mount the root tmpfs: {0}")]
    MountRootTmpfs(std::io::Error),
    #[error("failed to pivot_root into the new root: {0}")]
    PivotRoot(std::io::Error),
    #[error("failed to create the mount point {path}: {cause}")]
    CreateMountPoint {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("failed to mount {what} at {dest}: {cause}")]
    Mount {
        what: String,
        dest: PathBuf,
        cause: std::io::Error,
    },
    #[error("failed to make {dest} read-only: {cause}")]
    RemountReadOnly {
        dest: PathBuf,
        cause: std::io::Error,
    },
    #[error("failed to copy {src} into the sandbox: {cause}")]
    CopyFile { src: PathBuf, cause: std::io::Error },
    #[error("failed to create the symlink {dest}: {cause}")]
    Symlink {
        dest: PathBuf,
        cause: std::io::Error,
    },
    #[error("failed to detach the old root: {0}")]
    DetachOldRoot(std::io::Error),
}

/// One timed setup step, for `--verbose` and the status fd.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepTime {
    pub step: String,
    pub us: u64,
}

impl StepTime {
    /// The step `step`, timed from `start` to now.
    pub fn since(step: impl Into<String>, start: Instant) -> StepTime {
        StepTime {
            step: step.into(),
            us: start.elapsed().as_micros() as u64,
        }
    }
}

fn io(e: nix::Error) -> std::io::Error {
    e.into()
}

fn mount_fs(
    what: &str,
    fstype: &str,
    dest: &Path,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), RootfsError> {
    nix::mount::mount(Some(what), dest, Some(fstype), flags, data).map_err(|e| RootfsError::Mount {
        what: what.to_owned(),
        dest: dest.to_owned(),
        cause: io(e),
    })
}

/// statvfs's flag for relatime mounts; the kernel's value, which musl's libc bindings lack.
const ST_RELATIME: libc::c_ulong = 0x1000;

/// The per-mount flags the kernel locks on a bind made in a user namespace: a remount must
/// keep them or it fails with EPERM (read with statvfs, like bubblewrap does).
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return MsFlags::empty();
    };
    // SAFETY: statvfs is plain old data; zeroed is valid and the kernel overwrites it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is NUL-terminated and st is a valid out-pointer.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return MsFlags::empty();
    }
    let mut flags = MsFlags::empty();
    for (st_flag, ms_flag) in [
        (libc::ST_RDONLY, MsFlags::MS_RDONLY),
        (libc::ST_NOSUID, MsFlags::MS_NOSUID),
        (libc::ST_NODEV, MsFlags::MS_NODEV),
        (libc::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (libc::ST_NOATIME, MsFlags::MS_NOATIME),
        (libc::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if st.f_flag & st_flag != 0 {
            flags |= ms_flag;
        }
    }
    flags
}

fn bind(src: &Path, dest: &Path, extra: MsFlags) -> Result<(), RootfsError> {
    nix::mount::mount(
        Some(src),
        dest,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| RootfsError::Mount {
        what: src.display().to_string(),
        dest: dest.to_owned(),
        cause: io(e),
    })?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra | locked_flags(dest);
    nix::mount::mount(None::<&str>, dest, None::<&str>, flags, None::<&str>).map_err(|e| {
        RootfsError::RemountReadOnly {
            dest: dest.to_owned(),
            cause: io(e),
        }
    })
}

/// The directories of the new root known to exist, so that each is created (or found) once:
/// most steps share a parent (/etc, /dev) and would otherwise each pay a failing mkdir.
///
/// A mount hides what was under its destination, so [`KnownDirs::mounted_over`] forgets those.
struct KnownDirs {
    dirs: Vec<PathBuf>,
}

impl KnownDirs {
    fn new() -> KnownDirs {
        KnownDirs {
            dirs: vec![PathBuf::from("/")],
        }
    }

    fn contains(&self, dir: &Path) -> bool {
        self.dirs.iter().any(|d| d == dir)
    }

    fn insert(&mut self, dir: &Path) {
        if !self.contains(dir) {
            self.dirs.push(dir.to_owned());
        }
    }

    /// `dest` is now a mount point: it exists, and whatever was below it is hidden.
    fn mounted_over(&mut self, dest: &Path) {
        self.dirs.retain(|d| d == dest || !d.starts_with(dest));
    }

    fn create_dir(&mut self, dest: &Path) -> Result<(), RootfsError> {
        if self.contains(dest) {
            return Ok(());
        }
        // The new root is our own fresh tmpfs, so an existing entry is ours.
        let result = match std::fs::create_dir(dest) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dest),
            other => other,
        };
        result.map_err(|cause| RootfsError::CreateMountPoint {
            path: dest.to_owned(),
            cause,
        })?;
        for dir in dest.ancestors() {
            self.insert(dir);
        }
        Ok(())
    }

    fn create_parent(&mut self, dest: &Path) -> Result<(), RootfsError> {
        match dest.parent() {
            Some(parent) => self.create_dir(parent),
            None => Ok(()),
        }
    }

    /// An empty regular file to mount a file over (mknod: one call, no descriptor); an existing
    /// entry is kept.
    fn create_file(&mut self, dest: &Path) -> Result<(), RootfsError> {
        self.create_parent(dest)?;
        let failed = |cause| RootfsError::CreateMountPoint {
            path: dest.to_owned(),
            cause,
        };
        let c_dest = CString::new(dest.as_os_str().as_bytes())
            .map_err(|_| failed(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
        // SAFETY: c_dest is NUL-terminated; S_IFREG needs no privilege and no device number.
        if unsafe { libc::mknod(c_dest.as_ptr(), libc::S_IFREG | 0o644, 0) } != 0 {
            let cause = std::io::Error::last_os_error();
            if cause.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(failed(cause));
            }
        }
        Ok(())
    }

    /// A mount point matching the source: a directory for a directory, else an empty file.
    fn create_mount_point(&mut self, src: &Path, dest: &Path) -> Result<(), RootfsError> {
        if std::fs::metadata(src).map(|m| m.is_dir()).unwrap_or(false) {
            self.create_dir(dest)
        } else {
            self.create_file(dest)
        }
    }
}

/// Copies one of the small /etc files into the new root, read-only for everyone but its owner.
///
/// Plain reads and writes through a stack buffer: `std::fs::copy` first tries
/// copy_file_range and sendfile, which fail or cost more than they save between two
/// filesystems for files of a few kilobytes, and a heap buffer is slow under musl's allocator.
fn copy_small_file(src: &Path, dest: &Path) -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let mut from = std::fs::File::open(src)?;
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(dest)?;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The host path of `src` while the old root is parked.
pub fn host_source(src: &Path) -> PathBuf {
    Path::new(OLD_ROOT).join(src.strip_prefix("/").unwrap_or(src))
}

/// A short name for a step (verbose output and timing keys).
pub fn step_name(step: &MountStep) -> String {
    match step {
        MountStep::Dir { dest } => format!("dir {}", dest.display()),
        MountStep::RoBind { dest, .. } => format!("ro_bind {}", dest.display()),
        MountStep::Bind { dest, .. } => format!("bind {}", dest.display()),
        MountStep::DevBind { dest, .. } => format!("dev_bind {}", dest.display()),
        MountStep::Tmpfs { dest, .. } => format!("tmpfs {}", dest.display()),
        MountStep::Symlink { dest, .. } => format!("symlink {}", dest.display()),
        MountStep::CopyFile { dest, .. } => format!("copy {}", dest.display()),
        MountStep::Proc { dest } => format!("proc {}", dest.display()),
        MountStep::Devpts { dest } => format!("devpts {}", dest.display()),
    }
}

fn apply(step: &MountStep, payload: Identity, known: &mut KnownDirs) -> Result<(), RootfsError> {
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    match step {
        MountStep::Dir { dest } => known.create_dir(dest),
        MountStep::RoBind { src, dest } => {
            let src = host_source(src);
            known.create_mount_point(&src, dest)?;
            bind(&src, dest, MsFlags::MS_RDONLY | nosuid_nodev)?;
            known.mounted_over(dest);
            Ok(())
        }
        MountStep::Bind { src, dest } => {
            let src = host_source(src);
            known.create_mount_point(&src, dest)?;
            bind(&src, dest, nosuid_nodev)?;
            known.mounted_over(dest);
            Ok(())
        }
        MountStep::DevBind { src, dest } => {
            let src = host_source(src);
            known.create_file(dest)?;
            bind(&src, dest, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC)
        }
        MountStep::Tmpfs {
            dest,
            mode,
            payload_owned,
        } => {
            known.create_dir(dest)?;
            let data = if *payload_owned {
                format!("mode={mode:o},uid={},gid={}", payload.uid, payload.gid)
            } else {
                format!("mode={mode:o}")
            };
            mount_fs("tmpfs", "tmpfs", dest, nosuid_nodev, Some(&data))?;
            known.mounted_over(dest);
            Ok(())
        }
        MountStep::Symlink { target, dest } => {
            known.create_parent(dest)?;
            std::os::unix::fs::symlink(target, dest).map_err(|cause| RootfsError::Symlink {
                dest: dest.to_owned(),
                cause,
            })
        }
        MountStep::CopyFile { src, dest } => {
            known.create_parent(dest)?;
            copy_small_file(&host_source(src), dest).map_err(|cause| RootfsError::CopyFile {
                src: src.to_owned(),
                cause,
            })
        }
        MountStep::Proc { dest } => {
            known.create_dir(dest)?;
            mount_fs(
                "proc",
                "proc",
                dest,
                nosuid_nodev | MsFlags::MS_NOEXEC,
                None,
            )?;
            known.mounted_over(dest);
            Ok(())
        }
        MountStep::Devpts { dest } => {
            known.create_dir(dest)?;
            mount_fs(
                "devpts",
                "devpts",
                dest,
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("newinstance,ptmxmode=0666,mode=620"),
            )?;
            known.mounted_over(dest);
            let ptmx = dest.parent().unwrap_or(Path::new("/dev")).join("ptmx");
            std::os::unix::fs::symlink("pts/ptmx", &ptmx)
                .map_err(|cause| RootfsError::Symlink { dest: ptmx, cause })
        }
    }
}

/// Builds the root up to [`seal_root`]; returns the time of each step. Must run in a fresh mount
/// namespace.
pub fn build_root(steps: &[MountStep], payload: Identity) -> Result<Vec<StepTime>, RootfsError> {
    let mut times = Vec::with_capacity(steps.len() + 4);
    // Created directories must be traversable by the payload whatever the invoker's umask.
    // SAFETY: umask has no preconditions.
    let old_umask = unsafe { libc::umask(0o022) };

    let start = Instant::now();
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| RootfsError::MakePrivate(io(e)))?;
    times.push(StepTime::since("make_private", start));

    let start = Instant::now();
    nix::mount::mount(
        Some("tmpfs"),
        STAGING,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(|e| RootfsError::MountRootTmpfs(io(e)))?;
    let put_old = Path::new(STAGING).join(OLD_ROOT.trim_start_matches('/'));
    KnownDirs::new().create_dir(&put_old)?;
    nix::unistd::pivot_root(STAGING, &put_old).map_err(|e| RootfsError::PivotRoot(io(e)))?;
    nix::unistd::chdir("/").map_err(|e| RootfsError::PivotRoot(io(e)))?;
    super::fault::inject(super::fault::Phase::AfterPivotRoot)?;
    times.push(StepTime::since("pivot_root", start));

    let mut known = KnownDirs::new();
    for step in steps {
        super::fault::mid_mount(steps, step)?;
        let start = Instant::now();
        apply(step, payload, &mut known)?;
        times.push(StepTime::since(step_name(step), start));
    }

    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(old_umask) };
    Ok(times)
}

/// Seals the root [`build_root`] built: detaches the old root and removes its mount point, then
/// remounts the new root read-only, nosuid, nodev. Returns the time of each step.
///
/// Nothing from the sandbox may run before this returns: until then the host's root is still
/// reachable at /oldroot. The launcher calls it while the payload hardens itself, and the payload
/// waits for it before execve (the detach waits for an RCU grace period, often the longest
/// single step of a launch).
pub fn seal_root() -> Result<Vec<StepTime>, RootfsError> {
    let mut times = Vec::with_capacity(2);
    let start = Instant::now();
    nix::mount::umount2(OLD_ROOT, MntFlags::MNT_DETACH)
        .map_err(|e| RootfsError::DetachOldRoot(io(e)))?;
    std::fs::remove_dir(OLD_ROOT).map_err(RootfsError::DetachOldRoot)?;
    times.push(StepTime::since("detach_old_root", start));

    let start = Instant::now();
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| RootfsError::RemountReadOnly {
        dest: "/".into(),
        cause: io(e),
    })?;
    times.push(StepTime::since("remount_root_ro", start));
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_come_from_the_parked_root() {
        assert_eq!(
            host_source(Path::new("/usr")),
            PathBuf::from("/oldroot/usr")
        );
        assert_eq!(
            host_source(Path::new("/tmp/x y")),
            PathBuf::from("/oldroot/tmp/x y")
        );
    }

    #[test]
    fn a_mount_forgets_the_directories_it_hides() {
        let mut known = KnownDirs::new();
        for dir in ["/etc", "/etc/ssl", "/etc/ssl/certs", "/etcetera", "/dev"] {
            known.insert(Path::new(dir));
        }
        known.mounted_over(Path::new("/etc"));
        for (dir, kept) in [
            ("/", true),
            ("/etc", true),
            ("/etc/ssl", false),
            ("/etc/ssl/certs", false),
            ("/etcetera", true),
            ("/dev", true),
        ] {
            assert_eq!(known.contains(Path::new(dir)), kept, "{dir}");
        }
    }

    #[test]
    fn step_names_are_stable_keys() {
        assert_eq!(
            step_name(&MountStep::RoBind {
                src: "/usr".into(),
                dest: "/usr".into()
            }),
            "ro_bind /usr"
        );
        assert_eq!(
            step_name(&MountStep::Proc {
                dest: "/proc".into()
            }),
            "proc /proc"
        );
    }
}
