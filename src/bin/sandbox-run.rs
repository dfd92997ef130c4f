//! `sandbox-run [OPTIONS] [--] COMMAND [ARG...]`: runs COMMAND in a fresh sandbox.
//!
//! A thin main: everything, including the exit code, comes from the launcher library.

use std::process::ExitCode;

/// Out of memory is a launcher failure like any other: one line and exit 246, never an abort.
#[global_allocator]
static ALLOCATOR: sandprobe::oom::ExitOnOom = sandprobe::oom::ExitOnOom {
    message:
        b"sandbox-run: failed to allocate memory: the memory limit is too small for the launcher\n",
    code: 246,
};

fn main() -> ExitCode {
    sandprobe::launcher::main_with_args(std::env::args_os())
}
