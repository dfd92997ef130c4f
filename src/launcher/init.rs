//! Supervision: the sandbox's pid-1 init and the outer launcher both forward signals and reap.
//!
//! Both processes block the forwarded signals and SIGCHLD before the sandbox is created and then
//! take them synchronously with sigwait: no async handler, no race between a signal and the
//! wait. The sandbox's pid 1 can receive them this way too — the kernel drops unhandled signals
//! sent to a pid-namespace init, but never a blocked one.

use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::exit;

/// The signals passed on to the payload (bubblewrap does not; users want it: bubblewrap#369).
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Why supervision could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("failed to block the forwarded signals: {0}")]
    BlockSignals(std::io::Error),
    #[error("failed to restore the signal mask: {0}")]
    RestoreSignals(std::io::Error),
}

/// The set taken with sigwait: the forwarded signals and SIGCHLD.
pub fn supervised_set() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Blocks the supervised signals; returns the previous mask, for the payload to restore.
pub fn block_supervised_signals() -> Result<SigSet, InitError> {
    let mut old = SigSet::empty();
    sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&supervised_set()),
        Some(&mut old),
    )
    .map_err(|e| InitError::BlockSignals(e.into()))?;
    Ok(old)
}

/// Restores a mask saved by [`block_supervised_signals`] (in the payload, before exec: the
/// mask survives execve).
pub fn restore_signal_mask(old: &SigSet) -> Result<(), InitError> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(old), None)
        .map_err(|e| InitError::RestoreSignals(e.into()))
}

/// What happened to a reaped child, as an exit code (128+N for signal N).
pub fn wait_status_code(status: WaitStatus) -> Option<u8> {
    match status {
        WaitStatus::Exited(_, code) => Some((code & 0xff) as u8),
        WaitStatus::Signaled(_, sig, _) => Some(128u8.saturating_add(sig as u8)),
        _ => None,
    }
}

/// Forwards the supervised signals to `child` and reaps every child until `child` itself has
/// exited; returns its exit code. As the sandbox's pid 1 this also reaps orphaned zombies.
pub fn supervise(child: Pid) -> u8 {
    let set = supervised_set();
    loop {
        let sig = match set.wait() {
            Ok(sig) => sig,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            let _ = kill(child, sig);
            continue;
        }
        // SIGCHLDs coalesce: reap everything that is ready.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(status) => {
                    if status.pid() == Some(child) {
                        if let Some(code) = wait_status_code(status) {
                            return code;
                        }
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // ECHILD: nothing left to reap, and `child` was reaped without being seen:
                // impossible for our own child, but never spin.
                Err(_) => return exit::LauncherFailure::ExecSetup.code(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_shell_codes() {
        let pid = Pid::from_raw(7);
        assert_eq!(wait_status_code(WaitStatus::Exited(pid, 3)), Some(3));
        assert_eq!(
            wait_status_code(WaitStatus::Signaled(pid, Signal::SIGTERM, false)),
            Some(143)
        );
        assert_eq!(
            wait_status_code(WaitStatus::Signaled(pid, Signal::SIGKILL, true)),
            Some(137)
        );
        assert_eq!(wait_status_code(WaitStatus::StillAlive), None);
    }

    #[test]
    fn supervised_set_has_forwarded_signals_and_sigchld() {
        let set = supervised_set();
        for sig in FORWARDED {
            assert!(set.contains(sig));
        }
        assert!(set.contains(Signal::SIGCHLD));
        assert!(!set.contains(Signal::SIGKILL));
    }
}
