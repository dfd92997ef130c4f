//! `sandbox-run [OPTIONS] [--] COMMAND [ARG...]`: runs COMMAND in a fresh sandbox.
//!
//! A thin main: everything, including the exit code, comes from the launcher library.

use std::process::ExitCode;

fn main() -> ExitCode {
    sandprobe::launcher::main_with_args(std::env::args_os())
}
