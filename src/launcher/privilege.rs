//! The one place that raises and lowers privilege: root-backed mode's euid windows and final drops.
//!
//! Root-backed mode follows the seed design: the process keeps only its *real* uid at 0 and runs
//! with effective uid/gid = `--user`. It raises its effective ids to 0 only inside
//! [`RootBackedPrivilege::with_root`], around the steps that need root (creating the namespaces).
//! The sandbox child inherits the raised state across clone, builds the root, and then drops for
//! good with [`drop_permanently`]. A root invoker in userns mode calls [`drop_root_entirely`]
//! before anything else. No other module calls setresuid/setresgid/setgroups.

use super::plan::Identity;

/// Why an id change failed.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error(
        "failed to use root-backed mode: it requires a real uid of 0, and this process runs as \
         uid {real_uid} (use --mode userns, or start the launcher as root)"
    )]
    NotRealRoot { real_uid: u32 },
    #[error(
        "failed to use --user {uid}:{gid}: it is not mapped in this user namespace (ask for a \
         mapped uid/gid with --user)"
    )]
    UnmappedUser { uid: u32, gid: u32 },
    #[error("failed to use --user 0: the sandbox must drop to an unprivileged uid")]
    TargetIsRoot,
    #[error("failed to {operation}: {cause}")]
    ChangeIds {
        operation: &'static str,
        cause: std::io::Error,
    },
}

fn check(rc: libc::c_int, operation: &'static str) -> Result<(), PrivilegeError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(PrivilegeError::ChangeIds {
            operation,
            cause: std::io::Error::last_os_error(),
        })
    }
}

/// The root-backed launcher's credentials: real uid 0, effective ids = the target user.
#[derive(Debug)]
pub struct RootBackedPrivilege {
    target: Identity,
}

impl RootBackedPrivilege {
    /// Lowers the effective ids to `target`, keeping the real and saved ids at 0 so root can be
    /// taken back. Called first thing after argument parsing. Supplementary groups are cleared
    /// while still root, so the lowered process carries none of root's groups.
    pub fn lower_at_start(target: Identity) -> Result<RootBackedPrivilege, PrivilegeError> {
        // SAFETY: getuid has no preconditions.
        let real_uid = unsafe { libc::getuid() };
        if real_uid != 0 {
            return Err(PrivilegeError::NotRealRoot { real_uid });
        }
        if target.uid == 0 {
            return Err(PrivilegeError::TargetIsRoot);
        }
        clear_supplementary_groups()?;
        let lowered = RootBackedPrivilege { target };
        lowered.lower()?;
        Ok(lowered)
    }

    /// The identity the process runs as outside the raised windows.
    pub fn target(&self) -> Identity {
        self.target
    }

    fn lower(&self) -> Result<(), PrivilegeError> {
        let keep = u32::MAX; // -1: leave unchanged
                             // SAFETY: setresgid/setresuid take plain integers. The gid goes first: once the euid is
                             // not 0, changing the egid needs the saved uid path and CAP_SETGID would be gone.
        check(
            unsafe { libc::setresgid(keep, self.target.gid, keep) },
            "lower the effective gid",
        )?;
        // SAFETY: as above.
        check(
            unsafe { libc::setresuid(keep, self.target.uid, keep) },
            "lower the effective uid",
        )
    }

    fn raise(&self) -> Result<(), PrivilegeError> {
        let keep = u32::MAX;
        // SAFETY: setresuid/setresgid take plain integers; the real uid 0 permits euid 0 back.
        check(
            unsafe { libc::setresuid(keep, 0, keep) },
            "raise the effective uid",
        )?;
        // SAFETY: as above, now with CAP_SETGID back.
        check(
            unsafe { libc::setresgid(keep, 0, keep) },
            "raise the effective gid",
        )
    }

    /// Runs `f` with effective uid/gid 0, then lowers again. If lowering fails the process
    /// cannot be trusted to continue with root, so it aborts.
    pub fn with_root<T>(&self, f: impl FnOnce() -> T) -> Result<T, PrivilegeError> {
        self.raise()?;
        let value = f();
        if self.lower().is_err() {
            // Never continue with euid 0 outside the window.
            std::process::abort();
        }
        Ok(value)
    }

    /// In the sandbox child only: takes root back for the whole sandbox setup (mounts,
    /// pivot_root, hostname, loopback). The child inherited the lowered state when the parent's
    /// [`Self::with_root`] window closed around clone in both processes. The window ends with
    /// [`drop_permanently`], which leaves no way back.
    pub fn raise_for_sandbox_setup(&self) -> Result<(), PrivilegeError> {
        self.raise()
    }

    /// Gives up root for good in the launcher process (real, effective and saved ids), on the
    /// way to userns mode.
    pub fn drop_for_good(self) -> Result<(), PrivilegeError> {
        self.raise()?;
        drop_root_for_userns(self.target)
    }
}

/// Whether `id` is mapped in the current user namespace, given the text of
/// /proc/self/uid_map or gid_map.
pub fn id_mapped(map_text: &str, id: u32) -> bool {
    map_text.lines().any(|line| {
        let mut fields = line.split_whitespace().map(|f| f.parse::<u64>());
        match (fields.next(), fields.next(), fields.next()) {
            (Some(Ok(inside)), Some(Ok(_)), Some(Ok(count))) => {
                u64::from(id) >= inside && u64::from(id) < inside + count
            }
            _ => false,
        }
    })
}

/// Drops every supplementary group (root's groups must not follow the unprivileged ids).
fn clear_supplementary_groups() -> Result<(), PrivilegeError> {
    // SAFETY: an empty group list; the pointer is not read for a count of 0.
    check(
        unsafe { libc::setgroups(0, std::ptr::null()) },
        "clear the supplementary groups",
    )
}

/// A root invoker heading for userns mode: clear groups, then real, effective and saved
/// gid/uid all become `target`. Nothing of root remains afterwards.
pub fn drop_root_entirely(target: Identity) -> Result<(), PrivilegeError> {
    if target.uid == 0 {
        return Err(PrivilegeError::TargetIsRoot);
    }
    clear_supplementary_groups()?;
    // SAFETY: plain integers.
    check(
        unsafe { libc::setresgid(target.gid, target.gid, target.gid) },
        "set the real, effective and saved gid",
    )?;
    // SAFETY: plain integers.
    check(
        unsafe { libc::setresuid(target.uid, target.uid, target.uid) },
        "set the real, effective and saved uid",
    )
}

/// A root launcher heading for userns mode: [`drop_root_entirely`], then mark the process
/// dumpable again. The uid change made it non-dumpable, which makes its /proc files root-owned,
/// and then the new user namespace could not write its own /proc/self/uid_map. Nothing of root
/// is left to protect by then (bubblewrap does the same).
pub fn drop_root_for_userns(target: Identity) -> Result<(), PrivilegeError> {
    drop_root_entirely(target)?;
    // SAFETY: prctl with integer arguments.
    check(
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) },
        "mark the process dumpable",
    )
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The sandbox's final, permanent drop (root-backed mode), in the forked child right before the
/// hardening steps: groups, gid, uid all become `target`. Runs in a forked child, so it does not
/// allocate.
///
/// The permitted capabilities are kept across the uid change (PR_SET_KEEPCAPS) and made
/// effective again, only so that the hardening step that follows can still drop the bounding
/// set (PR_CAPBSET_DROP needs CAP_SETPCAP). That step then clears every set; execve clears
/// the keep-caps flag.
pub fn drop_permanently(target: Identity) -> Result<(), PrivilegeError> {
    if target.uid == 0 {
        return Err(PrivilegeError::TargetIsRoot);
    }
    // SAFETY: prctl with integer arguments.
    check(
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) },
        "keep capabilities across the uid change",
    )?;
    drop_root_entirely(target)?;
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data match the kernel's v3 layout (two elements).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    check(rc as libc::c_int, "read the capabilities")?;
    for d in &mut data {
        d.effective = d.permitted;
    }
    // SAFETY: as above.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    check(rc as libc::c_int, "make the kept capabilities effective")?;
    // SAFETY: prctl with integer arguments.
    check(
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) },
        "clear the keep-capabilities flag",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_map_ranges() {
        let full = "         0          0 4294967295\n";
        assert!(id_mapped(full, 65534));
        let only_root = "         0          0          1\n";
        assert!(id_mapped(only_root, 0));
        assert!(!id_mapped(only_root, 65534));
        let two = "0 0 1\n65534 65534 1\n";
        assert!(id_mapped(two, 65534));
        assert!(!id_mapped(two, 65535));
        assert!(!id_mapped("garbage", 0));
        assert!(!id_mapped("", 0));
    }
}
