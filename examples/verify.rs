//! The outside half of `sandprobe verify` as a standalone program, so it can be run under
//! setpriv or in a simulated host with an explicit launcher and payload.
//!
//! Usage: `verify [--mode auto|userns|root-backed] [--sandbox-run PATH] [--payload PATH] [--json]`
//! Exit 0 when every check passed, 1 when one failed, 2 when no report could be obtained.

use std::process::ExitCode;

use sandprobe::verify::{render_table, verify, VerifyMode, VerifyOptions};

fn main() -> ExitCode {
    let mut options = VerifyOptions::default();
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--mode" => {
                options.mode = match args.next().as_deref() {
                    Some("auto") => VerifyMode::Auto,
                    Some("userns") => VerifyMode::Userns,
                    Some("root-backed") => VerifyMode::RootBacked,
                    other => {
                        eprintln!("verify: bad --mode {other:?}");
                        return ExitCode::from(2);
                    }
                }
            }
            "--sandbox-run" => options.sandbox_run = args.next().map(Into::into),
            "--payload" => options.payload = args.next().map(Into::into),
            other => {
                eprintln!("verify: unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    match verify(&options) {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(error) => {
                        eprintln!("verify: {error}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print!("{}", render_table(&report, false));
            }
            ExitCode::from(if report.passed { 0 } else { 1 })
        }
        Err(error) => {
            eprintln!("verify: {error}");
            ExitCode::from(2)
        }
    }
}
