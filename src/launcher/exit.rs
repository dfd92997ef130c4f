//! Exit codes: the payload's status passes through; launcher failures use a reserved range.
//!
//! A caller must be able to tell "the sandbox could not be built" from "the program ran and
//! failed". Payload statuses pass through unchanged (0–125, 126/127 for a program that is not
//! executable / not found, 128+N for death by signal N). The launcher's own failures use
//! 240–246, a range far from the common payload codes and from 128+N for every signal a
//! payload usually dies of. clap's usage errors (normally 2) are mapped into that range too.
//! A payload can still choose to exit with 240–246 itself; `--json-status-fd` tells the two
//! apart without ambiguity (a launcher failure has no `started` event).

use serde::Serialize;

/// Why the launcher itself failed, with its reserved exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LauncherFailure {
    /// Bad command line or invalid input (relative path, missing bind source, unknown user, bad fd).
    Usage,
    /// No sandbox mode works on this host for this invoker.
    NoModeWorks,
    /// Creating the namespaces or writing the id maps failed.
    NamespaceSetup,
    /// Building the sandbox's root (mounts, pivot_root) failed.
    MountSetup,
    /// Privilege handling failed (root-backed mode without real uid 0, an id change failed).
    Privilege,
    /// Capabilities, no_new_privs, seccomp, rlimits or fd closing failed.
    Hardening,
    /// Internal exec setup failed (fork, pipes, chdir, status reporting).
    ExecSetup,
}

impl LauncherFailure {
    /// Every failure, in code order (for documentation and tests).
    pub const ALL: [LauncherFailure; 7] = [
        LauncherFailure::Usage,
        LauncherFailure::NoModeWorks,
        LauncherFailure::NamespaceSetup,
        LauncherFailure::MountSetup,
        LauncherFailure::Privilege,
        LauncherFailure::Hardening,
        LauncherFailure::ExecSetup,
    ];

    /// The process exit code for this failure.
    pub const fn code(self) -> u8 {
        match self {
            LauncherFailure::Usage => 240,
            LauncherFailure::NoModeWorks => 241,
            LauncherFailure::NamespaceSetup => 242,
            LauncherFailure::MountSetup => 243,
            LauncherFailure::Privilege => 244,
            LauncherFailure::Hardening => 245,
            LauncherFailure::ExecSetup => 246,
        }
    }

    /// The failure a code stands for, if it is in the launcher's range.
    pub fn from_code(code: u8) -> Option<LauncherFailure> {
        LauncherFailure::ALL.into_iter().find(|f| f.code() == code)
    }
}

/// The payload's program could not be found (execvp convention).
pub const PROGRAM_NOT_FOUND: u8 = 127;
/// The payload's program exists but could not be executed (execvp convention).
pub const PROGRAM_NOT_EXECUTABLE: u8 = 126;

/// Maps a raw `waitpid` status to the shell's convention: the exit code, or 128+N for signal N.
pub fn status_to_code(wait_status: i32) -> u8 {
    if libc::WIFEXITED(wait_status) {
        (libc::WEXITSTATUS(wait_status) & 0xff) as u8
    } else if libc::WIFSIGNALED(wait_status) {
        (128 + (libc::WTERMSIG(wait_status) & 0x7f)).min(255) as u8
    } else {
        LauncherFailure::ExecSetup.code()
    }
}

/// The exit code for a failed execve of the payload.
pub fn exec_errno_to_code(errno: i32) -> u8 {
    if errno == libc::ENOENT || errno == libc::ENOTDIR {
        PROGRAM_NOT_FOUND
    } else {
        PROGRAM_NOT_EXECUTABLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launcher_codes_are_distinct_and_reserved() {
        let codes: Vec<u8> = LauncherFailure::ALL.iter().map(|f| f.code()).collect();
        assert_eq!(codes, vec![240, 241, 242, 243, 244, 245, 246]);
        for f in LauncherFailure::ALL {
            assert_eq!(LauncherFailure::from_code(f.code()), Some(f));
        }
        assert_eq!(LauncherFailure::from_code(2), None);
        assert_eq!(LauncherFailure::from_code(127), None);
    }

    #[test]
    fn wait_status_maps_to_shell_convention() {
        // Exit status 3: (3 << 8).
        assert_eq!(status_to_code(3 << 8), 3);
        assert_eq!(status_to_code(0), 0);
        // Killed by SIGTERM (15): low bits carry the signal.
        assert_eq!(status_to_code(15), 143);
        assert_eq!(status_to_code(9), 137);
    }

    #[test]
    fn exec_errors_map_to_126_and_127() {
        assert_eq!(exec_errno_to_code(libc::ENOENT), 127);
        assert_eq!(exec_errno_to_code(libc::ENOTDIR), 127);
        assert_eq!(exec_errno_to_code(libc::EACCES), 126);
        assert_eq!(exec_errno_to_code(libc::ENOEXEC), 126);
    }
}
