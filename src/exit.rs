//! The documented exit codes of `sandprobe`, in one place so docs and tests can't drift apart.

use std::process::ExitCode;

/// `sandprobe check` / `collect` / `verify` exit codes (docs/exit-codes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CheckExit {
    /// A sandbox mode is available to this invoker (or the command succeeded).
    Available = 0,
    /// No sandbox mode is available to this invoker (`unsupported`), or `verify` found a breach.
    Unsupported = 1,
    /// Usage error or bad input: flags, a fixture, a path, a corrupt fact file.
    BadInput = 2,
    /// The probe machinery itself failed (e.g. fork or pipe), so no verdict could be reached.
    Internal = 3,
}

impl From<CheckExit> for ExitCode {
    fn from(code: CheckExit) -> ExitCode {
        ExitCode::from(code as u8)
    }
}
