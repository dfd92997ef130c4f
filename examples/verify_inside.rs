//! The containment battery as a standalone program, the same code as the hidden
//! `sandprobe verify-inside` subcommand, for running it inside hand-built sandboxes.
//!
//! Usage: `verify_inside --host-port PORT [--expect-env VAR,...] [--host-canary PATH]`

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    sandprobe::verify::verify_inside_main(&args)
}
