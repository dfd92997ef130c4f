//! Namespace creation and the per-namespace setup: id maps, hostname, loopback, namespace ids.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use super::plan::{Identity, Namespace};

/// Why a namespace step failed.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("failed to create the sandbox's namespaces (clone {flags}): {cause}")]
    Clone {
        flags: String,
        cause: std::io::Error,
    },
    #[error("failed to write {path}: {cause}")]
    WriteIdMap {
        path: &'static str,
        cause: std::io::Error,
    },
    #[error("failed to set the hostname: {0}")]
    SetHostname(std::io::Error),
    #[error("failed to bring the loopback interface up: {0}")]
    LoopbackUp(std::io::Error),
    #[error("failed to create the network namespace: {0}")]
    NewNet(std::io::Error),
    #[error("failed to enter the new network namespace: {0}")]
    EnterNet(std::io::Error),
}

/// The clone(2) flags for `namespaces`.
pub fn clone_flags(namespaces: &[Namespace]) -> libc::c_int {
    namespaces.iter().fold(0, |acc, ns| acc | ns.clone_flag())
}

/// Names for an error message: "user|mnt|pid".
pub fn describe(namespaces: &[Namespace]) -> String {
    let names: Vec<&str> = namespaces.iter().map(|n| n.proc_name()).collect();
    names.join("|")
}

/// Forks into the new namespaces. Returns the child's pid in the parent, 0 in the child.
///
/// This is clone(2) used like fork(2): no new stack, so the child continues right here on a
/// copy of the parent's memory. The caller must be single-threaded (it is: the launcher never
/// starts a thread), so no lock can be held by a thread that does not exist in the child.
pub fn clone_into(namespaces: &[Namespace]) -> Result<libc::pid_t, NamespaceError> {
    let flags = clone_flags(namespaces) | libc::SIGCHLD;
    // SAFETY: a fork-like clone (null stack, no CLONE_VM); the process is single-threaded.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if rc < 0 {
        return Err(NamespaceError::Clone {
            flags: describe(namespaces),
            cause: std::io::Error::last_os_error(),
        });
    }
    Ok(rc as libc::pid_t)
}

/// The single-line map that keeps an id the same inside the new user namespace.
pub fn identity_map_line(id: u32) -> String {
    format!("{id} {id} 1\n")
}

/// In a fresh user namespace: deny setgroups, then map the invoker's uid and gid to themselves
/// (not to 0: the payload gets no root-looking identity, even a namespaced one).
pub fn write_identity_maps(ids: Identity) -> Result<(), NamespaceError> {
    let write = |path: &'static str, text: &str| {
        std::fs::write(path, text).map_err(|cause| NamespaceError::WriteIdMap { path, cause })
    };
    write("/proc/self/setgroups", "deny")?;
    write("/proc/self/uid_map", &identity_map_line(ids.uid))?;
    write("/proc/self/gid_map", &identity_map_line(ids.gid))
}

/// Sets the UTS namespace's hostname.
pub fn set_hostname(name: &str) -> Result<(), NamespaceError> {
    nix::unistd::sethostname(name).map_err(|e| NamespaceError::SetHostname(e.into()))
}

/// Brings "lo" up in the new network namespace with one ioctl; no netlink needed.
pub fn loopback_up() -> Result<(), NamespaceError> {
    let err = || NamespaceError::LoopbackUp(std::io::Error::last_os_error());
    // SAFETY: plain socket creation.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(err());
    }
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: req is a valid ifreq with a NUL-terminated name; the kernel fills ifru_flags.
    let result = if unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS as _, &mut req) } < 0 {
        Err(err())
    } else {
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        unsafe {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        }
        // SAFETY: as above; the kernel reads ifru_flags.
        if unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS as _, &req) } < 0 {
            Err(err())
        } else {
            Ok(())
        }
    };
    // SAFETY: sock is our own fd.
    unsafe { libc::close(sock) };
    result
}

/// A network namespace being built on a helper thread while the sandbox's root is mounted.
///
/// Creating a network namespace is the most expensive part of the launch in the kernel (the
/// per-namespace sysctls, the loopback device, the protocol state), and it shares no lock with
/// the mount work. So the sandbox's pid 1 clones without CLONE_NEWNET, starts one thread that
/// unshares a network namespace of its own and brings "lo" up there, builds the root meanwhile,
/// then joins the thread and setns(2)s into its namespace. Kernels without
/// /proc/thread-self (before 3.17) get the serial path: the same steps on the calling thread.
pub struct PendingNetwork {
    helper: Option<std::thread::JoinHandle<Result<std::os::fd::OwnedFd, NamespaceError>>>,
}

/// Unshares a network namespace on the calling thread and brings its loopback up.
fn new_network_with_loopback() -> Result<(), NamespaceError> {
    // SAFETY: unshare with a namespace flag only changes the calling thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(NamespaceError::NewNet(std::io::Error::last_os_error()));
    }
    loopback_up()
}

impl PendingNetwork {
    /// Starts building the namespace. The caller must hold the privilege the namespace needs
    /// (a fresh user namespace, or euid 0): the thread inherits the caller's credentials.
    pub fn start() -> PendingNetwork {
        use std::os::fd::{FromRawFd, OwnedFd};
        use std::os::unix::fs::OpenOptionsExt;
        if super::fault::helper_thread_refused() {
            return PendingNetwork { helper: None };
        }
        // The thread's namespace is reached through the procfs mounted now, whatever the
        // mounts do to the paths meanwhile. O_PATH: a handle on the directory, not an open file.
        let Ok(proc_dir) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open("/proc")
        else {
            return PendingNetwork { helper: None };
        };
        let proc_dir = OwnedFd::from(proc_dir);
        let helper = std::thread::Builder::new()
            .name("sandbox-net".into())
            .stack_size(64 * 1024)
            .spawn(move || -> Result<OwnedFd, NamespaceError> {
                new_network_with_loopback()?;
                // SAFETY: a relative NUL-terminated path under a directory fd we own.
                let fd = unsafe {
                    libc::openat(
                        std::os::fd::AsRawFd::as_raw_fd(&proc_dir),
                        c"thread-self/ns/net".as_ptr(),
                        libc::O_RDONLY | libc::O_CLOEXEC,
                    )
                };
                if fd < 0 {
                    return Err(NamespaceError::EnterNet(std::io::Error::last_os_error()));
                }
                // SAFETY: fd was just opened and is owned here alone.
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            })
            .ok();
        PendingNetwork { helper }
    }

    /// Waits for the helper and moves the calling thread into its namespace, or (no helper,
    /// or no /proc/thread-self) builds the namespace here. Returns the name of the timed step
    /// that says which of the two happened.
    pub fn enter(self) -> Result<&'static str, NamespaceError> {
        const JOINED: &str = "net_namespace_join";
        const SERIAL: &str = "net_namespace_serial";
        let built = match self.helper {
            Some(helper) => helper.join().unwrap_or_else(|_| {
                Err(NamespaceError::NewNet(std::io::Error::other(
                    "the helper thread panicked",
                )))
            }),
            None => return new_network_with_loopback().map(|()| SERIAL),
        };
        match built {
            Ok(fd) => {
                // SAFETY: fd is an open network-namespace descriptor.
                let rc = unsafe {
                    libc::setns(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::CLONE_NEWNET)
                };
                if rc != 0 {
                    return Err(NamespaceError::EnterNet(std::io::Error::last_os_error()));
                }
                Ok(JOINED)
            }
            // No /proc/thread-self: the thread's namespace cannot be reached; build one here.
            Err(NamespaceError::EnterNet(e)) if e.raw_os_error() == Some(libc::ENOENT) => {
                new_network_with_loopback().map(|()| SERIAL)
            }
            Err(e) => Err(e),
        }
    }
}

/// The namespace ids (inode numbers) of the calling process, as /proc/self/ns shows them.
pub fn own_namespace_ids() -> BTreeMap<String, u64> {
    let mut ids = BTreeMap::new();
    let all = [
        Namespace::User,
        Namespace::Mnt,
        Namespace::Pid,
        Namespace::Net,
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Cgroup,
    ];
    for ns in all {
        // Namespaces the plan shares with the host (--share-net) are reported too.
        if let Ok(meta) = std::fs::metadata(format!("/proc/self/ns/{}", ns.proc_name())) {
            ids.insert(ns.proc_name().to_owned(), meta.ino());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_maps() {
        let ns = [Namespace::User, Namespace::Mnt, Namespace::Pid];
        assert_eq!(
            clone_flags(&ns),
            libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID
        );
        assert_eq!(describe(&ns), "user|mnt|pid");
        assert_eq!(identity_map_line(1000), "1000 1000 1\n");
    }
}
