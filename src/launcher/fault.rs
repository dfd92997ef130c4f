//! A test-only fault-injection hook: fails or kills the launcher at a chosen setup phase.
//!
//! The robustness tests set `SANDBOX_RUN_FAULT=<phase>:<fail|kill>` to prove that a failure or
//! a crash at any point of the setup leaves no mount, no process and no root behind.
//!
//! **Release builds cannot be made to act on it.** Everything that reads the variable or acts
//! on it sits behind `cfg(debug_assertions)`, a compile-time switch: a release build (the
//! `release` profile, and therefore every binary that is shipped or installed) contains no code
//! that reads the variable, and every hook below compiles to `Ok(())`. No environment, flag or
//! file can turn on code that is not in the binary. Debug builds, which the test suite runs,
//! honour it; even there it can only make the launcher fail or die, which its invoker can
//! always do anyway.
//!
//! - `fail` makes the step return an error through the launcher's normal error path, with the
//!   exit code a real failure at that step would have.
//! - `kill` makes the *launcher* (the outer process) die of SIGKILL at that point — the worst
//!   crash: nobody is left to clean up. In the launcher itself that is a plain `raise`. Inside
//!   the sandbox the launcher cannot be reached by pid (it lives outside the sandbox's pid
//!   namespace, and neither kill(2) nor pidfd_send_signal(2) crosses that boundary upwards), so
//!   [`arm`] forks a small watcher next to the launcher before the clone: the sandbox process
//!   flags the phase in a shared page, the watcher kills the launcher, waits for it to be gone
//!   and says so, and the sandbox process carries on exactly as it would after a real crash of
//!   the launcher at that moment.

use super::exit::LauncherFailure;
use super::rootfs::RootfsError;

/// The environment variable that debug builds read (release builds never do).
pub const FAULT_ENV: &str = "SANDBOX_RUN_FAULT";

/// A setup phase where a fault can be injected, in the order the launcher reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// In the launcher, right after the clone into the new namespaces.
    AfterClone,
    /// In the sandbox's init, first thing after the clone.
    InitAfterClone,
    /// In the sandbox's init, after the uid/gid maps are written (root-backed mode writes no
    /// map: there it is the same point, with the init's euid raised to 0).
    AfterUidMap,
    /// In the sandbox's init, halfway through the plan's mount steps.
    MidMount,
    /// In the sandbox's init, right after pivot_root.
    AfterPivotRoot,
    /// In the payload, right before its seccomp filter is loaded.
    BeforeSeccomp,
    /// In the payload, right before execve.
    BeforeExec,
}

impl Phase {
    /// Every phase, in setup order.
    pub const ALL: [Phase; 7] = [
        Phase::AfterClone,
        Phase::InitAfterClone,
        Phase::AfterUidMap,
        Phase::MidMount,
        Phase::AfterPivotRoot,
        Phase::BeforeSeccomp,
        Phase::BeforeExec,
    ];

    /// The name used in `SANDBOX_RUN_FAULT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::AfterClone => "after_clone",
            Phase::InitAfterClone => "init_after_clone",
            Phase::AfterUidMap => "after_uid_map",
            Phase::MidMount => "mid_mount",
            Phase::AfterPivotRoot => "after_pivot_root",
            Phase::BeforeSeccomp => "before_seccomp",
            Phase::BeforeExec => "before_exec",
        }
    }

    /// The launcher failure a real error at this phase reports.
    pub const fn failure(self) -> LauncherFailure {
        match self {
            Phase::AfterClone | Phase::InitAfterClone | Phase::AfterUidMap => {
                LauncherFailure::NamespaceSetup
            }
            Phase::MidMount | Phase::AfterPivotRoot => LauncherFailure::MountSetup,
            Phase::BeforeSeccomp => LauncherFailure::Hardening,
            Phase::BeforeExec => LauncherFailure::ExecSetup,
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens at the phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The step returns an error through the normal error path.
    Fail,
    /// The launcher dies of SIGKILL.
    Kill,
}

/// One injected fault: where and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fault {
    pub phase: Phase,
    pub action: Action,
}

/// Why a hook stopped the launcher.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("failed to parse the fault spec {spec:?}: expected PHASE:fail or PHASE:kill, PHASE one of after_clone, init_after_clone, after_uid_map, mid_mount, after_pivot_root, before_seccomp, before_exec")]
    ParseSpec { spec: String },
    #[error("failed to start the fault-injection watcher: {0}")]
    StartWatcher(std::io::Error),
    #[error("failed to go past the {phase} phase: injected fault")]
    Injected { phase: Phase },
}

impl FaultError {
    /// The launcher failure (and so the exit code) this error reports.
    pub fn kind(&self) -> LauncherFailure {
        match self {
            FaultError::ParseSpec { .. } => LauncherFailure::Usage,
            FaultError::StartWatcher(_) => LauncherFailure::ExecSetup,
            FaultError::Injected { phase } => phase.failure(),
        }
    }
}

impl From<FaultError> for super::Failure {
    fn from(e: FaultError) -> super::Failure {
        super::Failure::new(e.kind(), e)
    }
}

/// Mount-phase faults travel as a failed mount, like a real one at that step would.
impl From<FaultError> for RootfsError {
    fn from(e: FaultError) -> RootfsError {
        RootfsError::Mount {
            what: "the next step (fault injection)".to_owned(),
            dest: std::path::PathBuf::from("/"),
            cause: std::io::Error::other(e),
        }
    }
}

/// Parses `PHASE:ACTION`. Pure: used by the debug hook and by the tests.
pub fn parse_spec(spec: &str) -> Result<Fault, FaultError> {
    let bad = || FaultError::ParseSpec {
        spec: spec.to_owned(),
    };
    let (phase, action) = spec.trim().split_once(':').ok_or_else(bad)?;
    let phase = Phase::ALL
        .into_iter()
        .find(|p| p.as_str() == phase)
        .ok_or_else(bad)?;
    let action = match action {
        "fail" => Action::Fail,
        "kill" => Action::Kill,
        _ => return Err(bad()),
    };
    Ok(Fault { phase, action })
}

/// Debug builds only: set, it makes the sandbox's pid 1 act as if its network helper thread
/// could not start (as under a pids or nproc limit), so that the tests reach the serial path.
pub const NO_HELPER_THREAD_ENV: &str = "SANDBOX_RUN_NO_HELPER_THREAD";

/// Whether [`NO_HELPER_THREAD_ENV`] refuses the helper thread: always false in release builds.
#[inline(always)]
pub fn helper_thread_refused() -> bool {
    #[cfg(debug_assertions)]
    {
        std::env::var_os(NO_HELPER_THREAD_ENV).is_some()
    }
    #[cfg(not(debug_assertions))]
    {
        false
    }
}

/// Debug builds only: milliseconds pid 1 waits before it seals the root, so that the tests can
/// show the payload execs nothing until the root is sealed.
pub const SEAL_DELAY_ENV: &str = "SANDBOX_RUN_SEAL_DELAY_MS";

/// Waits as [`SEAL_DELAY_ENV`] says: never in release builds.
#[inline(always)]
pub fn delay_seal() {
    #[cfg(debug_assertions)]
    {
        let millis = std::env::var(SEAL_DELAY_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if millis > 0 {
            std::thread::sleep(std::time::Duration::from_millis(millis.min(10_000)));
        }
    }
}

/// Whether this build honours [`FAULT_ENV`] at all: a compile-time constant, false in release.
pub const COMPILED_IN: bool = cfg!(debug_assertions);

/// The fault a build with `compiled_in` honours for the variable's value `value`. Release builds
/// never call this (their hooks are empty); it is the rule the tests check for both builds.
pub fn honoured(
    compiled_in: bool,
    value: Option<&std::ffi::OsStr>,
) -> Result<Option<Fault>, FaultError> {
    if !compiled_in {
        return Ok(None);
    }
    match value {
        None => Ok(None),
        Some(v) => parse_spec(&v.to_string_lossy()).map(Some),
    }
}

/// Reads the variable and gets ready (the kill watcher); call once in the launcher, before the
/// clone, while it is single-threaded. A no-op in release builds.
#[inline(always)]
pub fn arm() -> Result<(), FaultError> {
    #[cfg(debug_assertions)]
    {
        live::arm()
    }
    #[cfg(not(debug_assertions))]
    {
        Ok(())
    }
}

/// The hook at `phase`. A no-op in release builds, and in debug builds unless armed for `phase`.
#[inline(always)]
pub fn inject(phase: Phase) -> Result<(), FaultError> {
    #[cfg(debug_assertions)]
    {
        live::inject(phase)
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = phase;
        Ok(())
    }
}

/// The [`Phase::MidMount`] hook, called before each mount step: fires before the middle step,
/// when the first half of `steps` is mounted and the rest is not.
#[inline(always)]
pub fn mid_mount<T>(steps: &[T], step: &T) -> Result<(), FaultError> {
    match steps.get(steps.len() / 2) {
        Some(middle) if std::ptr::eq(middle, step) => inject(Phase::MidMount),
        _ => Ok(()),
    }
}

#[cfg(debug_assertions)]
mod live {
    //! The debug-build side: state shared across the clone, and the kill watcher.

    use std::os::fd::RawFd;
    use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use super::{honoured, Action, Fault, FaultError, Phase, FAULT_ENV};

    /// The armed fault; the clone and the payload's fork copy it.
    static ARMED: OnceLock<Option<Fault>> = OnceLock::new();
    /// The launcher's pid, in its own pid namespace.
    static LAUNCHER: AtomicI32 = AtomicI32::new(0);
    /// One word in a MAP_SHARED page: the sandbox and the watcher both see it.
    static SHARED: AtomicPtr<AtomicU32> = AtomicPtr::new(std::ptr::null_mut());

    // The word starts at 0: nothing requested.
    const KILL_REQUESTED: u32 = 1;
    const LAUNCHER_DEAD: u32 = 2;

    pub(super) fn arm() -> Result<(), FaultError> {
        let fault = honoured(true, std::env::var_os(FAULT_ENV).as_deref())?;
        let _ = ARMED.set(fault);
        // SAFETY: getpid has no preconditions.
        LAUNCHER.store(unsafe { libc::getpid() }, Ordering::SeqCst);
        match fault {
            Some(Fault {
                phase,
                action: Action::Kill,
            }) if phase != Phase::AfterClone => start_watcher(),
            _ => Ok(()),
        }
    }

    pub(super) fn inject(phase: Phase) -> Result<(), FaultError> {
        let Some(Some(fault)) = ARMED.get().copied() else {
            return Ok(());
        };
        if fault.phase != phase {
            return Ok(());
        }
        match fault.action {
            Action::Fail => Err(FaultError::Injected { phase }),
            Action::Kill => {
                say(phase);
                kill_launcher(phase);
                Ok(())
            }
        }
    }

    /// One line on stderr, so a test can tell the phase was reached. Pre-formatted pieces only:
    /// this may run in the payload after its fds were closed, where only stderr is left.
    fn say(phase: Phase) {
        for piece in [
            "sandbox-run: fault injection: killing the launcher at ",
            phase.as_str(),
            "\n",
        ] {
            // SAFETY: writing a valid buffer to stderr.
            unsafe { libc::write(2, piece.as_ptr().cast(), piece.len()) };
        }
    }

    fn kill_launcher(phase: Phase) {
        if phase == Phase::AfterClone {
            // SAFETY: raise with a valid signal; SIGKILL ends this process here.
            unsafe { libc::raise(libc::SIGKILL) };
        }
        let word = SHARED.load(Ordering::SeqCst);
        if word.is_null() {
            return;
        }
        // SAFETY: the page was mapped MAP_SHARED by `arm` before the clone and is never
        // unmapped; an AtomicU32 is valid for any bit pattern.
        let word = unsafe { &*word };
        word.store(KILL_REQUESTED, Ordering::SeqCst);
        // Carry on only once the launcher is gone, as after a real crash at this point.
        let deadline = Instant::now() + Duration::from_secs(10);
        while word.load(Ordering::SeqCst) != LAUNCHER_DEAD && Instant::now() < deadline {
            sleep_ms(1);
        }
    }

    fn sleep_ms(ms: i64) {
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: ms * 1_000_000,
        };
        // SAFETY: ts is a valid timespec; the remainder is not wanted.
        unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
    }

    fn start_watcher() -> Result<(), FaultError> {
        let os_error = || FaultError::StartWatcher(std::io::Error::last_os_error());
        // SAFETY: an anonymous shared mapping of one page; no existing memory is touched.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(os_error());
        }
        SHARED.store(page.cast::<AtomicU32>(), Ordering::SeqCst);
        let launcher = LAUNCHER.load(Ordering::SeqCst);
        // SAFETY: pidfd_open with a pid and no flags returns a new fd or -1.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, launcher, 0) } as RawFd;
        if pidfd < 0 {
            return Err(os_error());
        }
        // SAFETY: the launcher is single-threaded here (asserted before the clone).
        match unsafe { libc::fork() } {
            -1 => Err(os_error()),
            0 => watch(pidfd, launcher),
            _ => {
                // SAFETY: closing the fd opened above, which only the watcher needs.
                unsafe { libc::close(pidfd) };
                Ok(())
            }
        }
    }

    /// The watcher: waits for a kill request or the launcher's own exit. Never returns.
    fn watch(pidfd: RawFd, launcher: i32) -> ! {
        // Hold nothing of the launcher's: its pipes' ends (the sandbox watches them for
        // hangups) and the caller's stdio (a caller waits for those to close).
        // SAFETY: dup2/close on descriptors of this process; nothing else uses them.
        unsafe {
            libc::dup2(pidfd, 3);
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
            for fd in 0..3 {
                libc::close(fd);
            }
        }
        let word = SHARED.load(Ordering::SeqCst);
        // SAFETY: mapped in `start_watcher` before the fork, never unmapped.
        let word = unsafe { &*word };
        let wait_exit = |ms: i32| {
            let mut fds = [libc::pollfd {
                fd: 3,
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: a valid array of one pollfd.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) > 0 }
        };
        loop {
            if wait_exit(2) {
                // The launcher ended on its own: the fault was never reached.
                // SAFETY: end the watcher without running the launcher's exit handlers.
                unsafe { libc::_exit(0) };
            }
            if word.load(Ordering::SeqCst) == KILL_REQUESTED {
                // SAFETY: kill with a pid and a valid signal.
                unsafe { libc::kill(launcher, libc::SIGKILL) };
                wait_exit(10_000);
                word.store(LAUNCHER_DEAD, Ordering::SeqCst);
                // SAFETY: as above.
                unsafe { libc::_exit(0) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::ffi::OsStr;

    #[test]
    fn specs_parse() {
        assert_eq!(
            parse_spec("mid_mount:fail").unwrap(),
            Fault {
                phase: Phase::MidMount,
                action: Action::Fail
            }
        );
        assert_eq!(
            parse_spec("before_exec:kill").unwrap(),
            Fault {
                phase: Phase::BeforeExec,
                action: Action::Kill
            }
        );
        for bad in [
            "",
            "mid_mount",
            "mid_mount:",
            ":fail",
            "midmount:fail",
            "mid_mount:stop",
            "mid_mount:fail:x",
            "MID_MOUNT:fail",
        ] {
            assert!(
                matches!(parse_spec(bad), Err(FaultError::ParseSpec { .. })),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn every_phase_round_trips_and_maps_to_a_launcher_code() {
        for phase in Phase::ALL {
            for (word, action) in [("fail", Action::Fail), ("kill", Action::Kill)] {
                let fault = parse_spec(&format!("{phase}:{word}")).unwrap();
                assert_eq!(fault, Fault { phase, action });
            }
            let code = FaultError::Injected { phase }.kind().code();
            assert!((240..=246).contains(&code), "{phase}: {code}");
        }
        assert_eq!(Phase::MidMount.failure().code(), 243);
        assert_eq!(Phase::BeforeSeccomp.failure().code(), 245);
    }

    /// The rule release builds follow: without the code compiled in, no value is honoured,
    /// not even a malformed one (it is never parsed).
    #[test]
    fn a_build_without_the_hook_honours_nothing() {
        for value in ["after_clone:kill", "before_exec:fail", "garbage"] {
            assert!(matches!(honoured(false, Some(OsStr::new(value))), Ok(None)));
        }
        assert!(matches!(honoured(true, None), Ok(None)));
        assert!(matches!(
            honoured(true, Some(OsStr::new("after_clone:kill"))),
            Ok(Some(_))
        ));
        assert!(honoured(true, Some(OsStr::new("garbage"))).is_err());
        // The unit tests run in a debug build: the hook is compiled in here, and only here.
        assert_eq!(COMPILED_IN, cfg!(debug_assertions));
    }

    #[test]
    fn unarmed_hooks_do_nothing() {
        // Nothing armed this process (arm is never called in the test harness).
        for phase in Phase::ALL {
            assert!(inject(phase).is_ok());
        }
        let steps = [1, 2, 3];
        for step in &steps {
            assert!(mid_mount(&steps, step).is_ok());
        }
        let empty: [u8; 0] = [];
        assert!(mid_mount(&empty, &0).is_ok());
    }

    #[test]
    fn injected_faults_read_as_failures() {
        let e = FaultError::Injected {
            phase: Phase::AfterPivotRoot,
        };
        assert_eq!(
            e.to_string(),
            "failed to go past the after_pivot_root phase: injected fault"
        );
        let rootfs: RootfsError = e.into();
        assert!(rootfs.to_string().starts_with("failed to mount"));
    }

    proptest! {
        #[test]
        fn parse_spec_never_panics(s in ".*") {
            let _ = parse_spec(&s);
        }

        #[test]
        fn parse_spec_accepts_only_known_pairs(p in "[a-z_]{0,20}", a in "[a-z]{0,6}") {
            let spec = format!("{p}:{a}");
            let known = Phase::ALL.iter().any(|x| x.as_str() == p) && (a == "fail" || a == "kill");
            prop_assert_eq!(parse_spec(&spec).is_ok(), known);
        }
    }
}
