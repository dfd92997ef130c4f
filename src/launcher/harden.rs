//! Process hardening primitives applied to the payload right before `execve`: capabilities,
//! no_new_privs, inherited fds, the terminal session and resource limits.
//!
//! Everything except [`parse_rlimit`] runs in the forked child between `fork` and `execve`, so
//! those functions make system calls only: no allocation, no locks, no file reads. Errors carry
//! a `std::io::Error` built from the raw errno, which does not allocate either.

use std::io;
use std::os::fd::RawFd;

/// Why a hardening step failed.
#[derive(Debug, thiserror::Error)]
pub enum HardenError {
    /// Clearing the bounding set, the ambient set or the capset sets failed.
    #[error("failed to drop capabilities: {0}")]
    DropCapabilities(io::Error),
    /// A capability is still in the bounding set and the process lacks CAP_SETPCAP to drop it.
    #[error(
        "failed to drop capability {cap} from the bounding set: {source} (CAP_SETPCAP is needed: call drop_bounding_set before the uid drop, or start with an empty bounding set)"
    )]
    DropBoundingSet {
        /// The capability number that could not be dropped.
        cap: u32,
        /// The errno of `PR_CAPBSET_DROP`.
        source: io::Error,
    },
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    #[error("failed to set no_new_privs: {0}")]
    SetNoNewPrivs(io::Error),
    /// `close_range` (or its fallback) failed.
    #[error("failed to close inherited fds: {0}")]
    CloseFds(io::Error),
    /// `setsid` failed.
    #[error("failed to start a new session: {0}")]
    NewSession(io::Error),
    /// A `--rlimit` argument is malformed.
    #[error(
        "failed to parse --rlimit {0:?}: expected NAME=VALUE or NAME=SOFT:HARD with NAME one of {names} and VALUE a number or \"infinity\"",
        names = RLIMIT_NAMES.join(", ")
    )]
    ParseRlimit(String),
    /// `setrlimit` failed.
    #[error("failed to set an rlimit: {0}")]
    ApplyRlimits(io::Error),
}

/// One resource limit: the `RLIMIT_*` resource number with its soft and hard values
/// (`libc::RLIM_INFINITY` for "infinity").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RlimitSetting {
    /// The `libc::RLIMIT_*` constant.
    pub resource: i32,
    /// The soft limit.
    pub soft: u64,
    /// The hard limit (never below `soft`).
    pub hard: u64,
}

/// Limit names accepted by [`parse_rlimit`], in the spelling of prlimit(1).
pub const RLIMIT_NAMES: [&str; 16] = [
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn resource_of(name: &str) -> Option<i32> {
    let resource = match name {
        "as" => libc::RLIMIT_AS,
        "core" => libc::RLIMIT_CORE,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "fsize" => libc::RLIMIT_FSIZE,
        "locks" => libc::RLIMIT_LOCKS,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "nofile" => libc::RLIMIT_NOFILE,
        "nproc" => libc::RLIMIT_NPROC,
        "rss" => libc::RLIMIT_RSS,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "stack" => libc::RLIMIT_STACK,
        _ => return None,
    };
    // The constants are u32 under glibc and i32 under musl: a no-op conversion on musl.
    #[allow(clippy::useless_conversion)]
    i32::try_from(resource).ok()
}

impl RlimitSetting {
    /// The prlimit(1) name of the resource, e.g. "nofile".
    pub fn name(&self) -> &'static str {
        RLIMIT_NAMES
            .iter()
            .copied()
            .find(|name| resource_of(name) == Some(self.resource))
            .unwrap_or("unknown")
    }
}

fn errno() -> io::Error {
    io::Error::last_os_error()
}

/// Highest capability number the kernel could ever know: the capset v3 ABI holds 64 bits.
const CAP_NUMBER_LIMIT: u32 = 63;

/// Whether `cap` is in the calling thread's bounding set; `None` when the kernel does not know
/// the capability (PR_CAPBSET_READ fails with EINVAL past `cap_last_cap`). Asking the kernel
/// instead of reading /proc/sys/kernel/cap_last_cap keeps this free of file I/O and allocation.
fn bounding_has(cap: u32) -> Option<bool> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) };
    match rc {
        rc if rc > 0 => Some(true),
        0 => Some(false),
        _ => None,
    }
}

/// Empties the bounding set. Needs CAP_SETPCAP, so a root-backed launcher calls this *before*
/// its permanent id drop (setresuid to a non-zero uid clears the effective set, after which the
/// bounding set can no longer shrink). Idempotent: capabilities already absent are skipped.
pub fn drop_bounding_set() -> Result<(), HardenError> {
    // One call per capability where it can: with CAP_SETPCAP, dropping an absent capability
    // succeeds, and EINVAL marks the end of the kernel's list.
    for cap in 0..=CAP_NUMBER_LIMIT {
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        if rc == 0 {
            continue;
        }
        match errno().raw_os_error() {
            Some(libc::EINVAL) => return Ok(()),
            // No CAP_SETPCAP: only the capabilities still present need (and fail) the drop.
            _ => return drop_bounding_set_checked(cap),
        }
    }
    Ok(())
}

/// [`drop_bounding_set`] from `first` on, asking before each drop: without CAP_SETPCAP this
/// succeeds exactly when the rest of the set is already empty.
fn drop_bounding_set_checked(first: u32) -> Result<(), HardenError> {
    for cap in first..=CAP_NUMBER_LIMIT {
        match bounding_has(cap) {
            Some(false) => continue,
            Some(true) => {}
            // Past the kernel's last capability; any other failure to read is an error.
            None if errno().raw_os_error() == Some(libc::EINVAL) => break,
            None => {
                return Err(HardenError::DropBoundingSet {
                    cap,
                    source: errno(),
                })
            }
        }
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        if rc != 0 {
            return Err(HardenError::DropBoundingSet {
                cap,
                source: errno(),
            });
        }
    }
    Ok(())
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Clears every capability set: bounding (see [`drop_bounding_set`]), ambient, then effective,
/// permitted and inheritable with `capset`. Fails rather than returning with any capability
/// left, so a caller that lost CAP_SETPCAP too early learns it here.
pub fn drop_all_capabilities() -> Result<(), HardenError> {
    drop_bounding_set()?;
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // EINVAL: a kernel before 4.3 has no ambient set, so there is nothing to clear.
    if rc != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
        return Err(HardenError::DropCapabilities(errno()));
    }
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: `header` and `data` follow the kernel's v3 layout (one header, two data
    // elements) and live for the duration of the call; the kernel only reads `data`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(HardenError::DropCapabilities(errno()));
    }
    Ok(())
}

/// Sets PR_SET_NO_NEW_PRIVS: execve can no longer grant privileges (setuid bits and file
/// capabilities are ignored), and a seccomp filter may be installed without CAP_SYS_ADMIN.
pub fn set_no_new_privs() -> Result<(), HardenError> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(HardenError::SetNoNewPrivs(errno()));
    }
    Ok(())
}

/// Closes every fd above 2 except those in `keep` (any order, duplicates and values ≤ 2
/// ignored). Uses `close_range(2)`; on kernels before 5.9 it falls back to closing each
/// number up to the fd limit, which needs neither /proc nor allocation.
pub fn close_fds_except(keep: &[RawFd]) -> Result<(), HardenError> {
    let mut first: u32 = 3;
    loop {
        // The smallest kept fd at or above `first`: O(n²) over a handful of fds, allocation-free.
        let next_kept = keep
            .iter()
            .filter_map(|&fd| u32::try_from(fd).ok())
            .filter(|&fd| fd >= first)
            .min();
        match next_kept {
            Some(kept) => {
                if kept > first {
                    close_range(first, kept - 1)?;
                }
                match kept.checked_add(1) {
                    Some(after) => first = after,
                    None => return Ok(()),
                }
            }
            None => return close_range(first, u32::MAX),
        }
    }
}

fn close_range(first: u32, last: u32) -> Result<(), HardenError> {
    // SAFETY: close_range only closes descriptors; no memory is passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            libc::c_uint::from(first),
            libc::c_uint::from(last),
            0 as libc::c_uint,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = errno();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(HardenError::CloseFds(err));
    }
    close_each(first, last)
}

/// The pre-5.9 fallback: close every number in `first..=last` that can hold an fd, bounded by
/// the hard RLIMIT_NOFILE (an fd can sit above a lowered soft limit, never above fs.nr_open,
/// whose default is 2^20 and which bounds the hard limit).
fn close_each(first: u32, last: u32) -> Result<(), HardenError> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(HardenError::CloseFds(errno()));
    }
    let ceiling = u32::try_from(limit.rlim_max.min(1 << 20)).unwrap_or(1 << 20);
    let mut fd = first;
    while fd <= last && fd < ceiling {
        // SAFETY: closing a number that may or may not be open; EBADF is expected and ignored.
        unsafe { libc::close(fd as RawFd) };
        fd += 1;
    }
    Ok(())
}

/// Starts a new session (setsid): the payload loses the caller's controlling terminal, so it
/// cannot inject keystrokes into it (bubblewrap CVE-2017-5226), and terminal job-control signals
/// of the caller's session no longer reach it.
pub fn new_session() -> Result<(), HardenError> {
    // SAFETY: setsid takes no arguments.
    if unsafe { libc::setsid() } < 0 {
        return Err(HardenError::NewSession(errno()));
    }
    Ok(())
}

/// Parses `NAME=VALUE` (soft = hard = VALUE) or `NAME=SOFT:HARD`, with NAME one of
/// [`RLIMIT_NAMES`] (case-insensitive, an `RLIMIT_` prefix allowed) and each value a decimal
/// number or "infinity"/"unlimited". A soft limit above the hard limit is rejected.
pub fn parse_rlimit(spec: &str) -> Result<RlimitSetting, HardenError> {
    let bad = || HardenError::ParseRlimit(spec.to_owned());
    let (name, value) = spec.split_once('=').ok_or_else(bad)?;
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_prefix("rlimit_").unwrap_or(&name);
    let resource = resource_of(name).ok_or_else(bad)?;
    let number = |text: &str| -> Result<u64, HardenError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("infinity") || text.eq_ignore_ascii_case("unlimited") {
            return Ok(libc::RLIM_INFINITY);
        }
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let parsed: u64 = text.parse().map_err(|_| bad())?;
        // RLIM_INFINITY is u64::MAX: a number that large must be spelled "infinity".
        if parsed == libc::RLIM_INFINITY {
            return Err(bad());
        }
        Ok(parsed)
    };
    let (soft, hard) = match value.split_once(':') {
        Some((soft, hard)) => (number(soft)?, number(hard)?),
        None => {
            let both = number(value)?;
            (both, both)
        }
    };
    if soft > hard {
        return Err(bad());
    }
    Ok(RlimitSetting {
        resource,
        soft,
        hard,
    })
}

/// setrlimit's resource type: an enum in glibc, an int in musl.
#[cfg(target_env = "gnu")]
type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type RlimitResource = libc::c_int;

/// Applies the limits in order. No allocation.
pub fn apply_rlimits(limits: &[RlimitSetting]) -> Result<(), HardenError> {
    for limit in limits {
        let value = libc::rlimit {
            rlim_cur: limit.soft,
            rlim_max: limit.hard,
        };
        // The resource came from `resource_of`, so it is a valid, non-negative RLIMIT_* number.
        let resource = limit.resource as RlimitResource;
        // SAFETY: `value` is a valid rlimit for the duration of the call.
        if unsafe { libc::setrlimit(resource, &value) } != 0 {
            return Err(HardenError::ApplyRlimits(errno()));
        }
    }
    Ok(())
}

#[cfg(test)]
// The RLIMIT_* constants are u32 under glibc and i32 under musl: the casts are for glibc.
#[allow(clippy::unnecessary_cast)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_single_value() {
        let limit = parse_rlimit("nofile=1024").expect("valid");
        assert_eq!(
            limit,
            RlimitSetting {
                resource: libc::RLIMIT_NOFILE as i32,
                soft: 1024,
                hard: 1024
            }
        );
        assert_eq!(limit.name(), "nofile");
    }

    #[test]
    fn parses_soft_and_hard() {
        let limit = parse_rlimit("nproc=64:128").expect("valid");
        assert_eq!((limit.soft, limit.hard), (64, 128));
        assert_eq!(limit.resource, libc::RLIMIT_NPROC as i32);
    }

    #[test]
    fn parses_infinity_and_aliases() {
        let limit = parse_rlimit("as=infinity").expect("valid");
        assert_eq!(
            (limit.soft, limit.hard),
            (libc::RLIM_INFINITY, libc::RLIM_INFINITY)
        );
        let limit = parse_rlimit("RLIMIT_CORE=0:unlimited").expect("valid");
        assert_eq!(limit.resource, libc::RLIMIT_CORE as i32);
        assert_eq!((limit.soft, limit.hard), (0, libc::RLIM_INFINITY));
        let limit = parse_rlimit("Stack=8388608").expect("valid");
        assert_eq!(limit.name(), "stack");
    }

    #[test]
    fn every_documented_name_parses() {
        for name in RLIMIT_NAMES {
            let limit = parse_rlimit(&format!("{name}=1")).expect(name);
            assert_eq!(limit.name(), name);
        }
    }

    #[test]
    fn rejects_malformed_specs() {
        for spec in [
            "",
            "nofile",
            "nofile=",
            "=10",
            "files=10",
            "nofile=-1",
            "nofile=1e3",
            "nofile=0x10",
            "nofile=10:",
            ":10",
            "nofile=:10",
            "nofile=20:10",
            "nofile=1:2:3",
            "nofile=18446744073709551615",
            "nofile=18446744073709551616",
            "nofile=infinity:10",
            "nofile=+5",
        ] {
            assert!(
                matches!(parse_rlimit(spec), Err(HardenError::ParseRlimit(_))),
                "{spec:?} was accepted"
            );
        }
    }

    #[test]
    fn the_error_names_the_input_and_the_fix() {
        let message = parse_rlimit("files=10").unwrap_err().to_string();
        assert!(message.starts_with("failed to parse --rlimit \"files=10\""));
        assert!(message.contains("nofile"));
    }

    proptest! {
        #[test]
        fn valid_pairs_round_trip(index in 0..RLIMIT_NAMES.len(), a in 0u64..u64::MAX, b in 0u64..u64::MAX) {
            let (soft, hard) = if a <= b { (a, b) } else { (b, a) };
            let name = RLIMIT_NAMES[index];
            let limit = parse_rlimit(&format!("{}={}:{}", name, soft, hard)).expect("valid");
            prop_assert_eq!((limit.soft, limit.hard), (soft, hard));
            prop_assert_eq!(limit.name(), name);
        }

        #[test]
        fn arbitrary_input_never_panics_and_respects_order(spec in ".{0,40}") {
            if let Ok(limit) = parse_rlimit(&spec) {
                prop_assert!(limit.soft <= limit.hard);
                prop_assert!(spec.contains('='));
            }
        }

        #[test]
        fn soft_above_hard_is_rejected(a in 1u64..u64::MAX, d in 1u64..1000) {
            let hard = a.saturating_sub(d);
            prop_assume!(hard < a);
            let spec = format!("cpu={}:{}", a, hard);
            prop_assert!(parse_rlimit(&spec).is_err());
        }
    }
}
