//! `sandprobe verify`: builds a real sandbox with `sandbox-run`, runs the containment battery
//! inside it, and reports which isolation properties hold.
//!
//! Two halves: [`verify`] runs outside (host listener, canary file, the launcher process), and
//! [`verify_inside_main`] is the hidden `verify-inside` subcommand that runs the battery in the
//! sandbox and prints it as one JSON object on stdout.

pub mod battery;
mod outside;

use std::process::ExitCode;

use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};

pub use battery::{run_battery_inside, BatteryContext, BatteryReport, CheckOutcome, CheckResult};
pub use outside::{verify, VerifyError, VerifyMode, VerifyOptions, VerifyReport};

/// Environment variables a `sandbox-run` payload receives by default.
pub const DEFAULT_PAYLOAD_ENV: [&str; 4] = ["PATH", "HOME", "TERM", "LANG"];

/// Exit code of `verify-inside` when every check passed.
pub const INSIDE_EXIT_PASSED: u8 = 0;
/// Exit code of `verify-inside` when at least one check failed (the report is still printed).
pub const INSIDE_EXIT_FAILED: u8 = 1;
/// Exit code of `verify-inside` on a malformed command line.
pub const INSIDE_EXIT_USAGE: u8 = 2;

const INSIDE_USAGE: &str =
    "usage: verify-inside --host-port PORT [--expect-env VAR,VAR,...] [--host-canary PATH]";

/// Parses `verify-inside`'s own arguments (a leading `verify-inside` token is skipped).
pub fn parse_inside_args(args: &[String]) -> Result<BatteryContext, String> {
    let mut ctx = BatteryContext::default();
    let mut port = None;
    let mut rest = args.iter().peekable();
    if rest.peek().map(|s| s.as_str()) == Some("verify-inside") {
        rest.next();
    }
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value; {INSIDE_USAGE}"))
        };
        match flag.as_str() {
            "--host-port" => {
                let text = value()?;
                let parsed: u16 = text
                    .parse()
                    .map_err(|_| format!("invalid --host-port {text:?}; {INSIDE_USAGE}"))?;
                port = Some(parsed);
            }
            "--expect-env" => {
                ctx.expect_env = value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "--host-canary" => ctx.host_canary = Some(value()?.into()),
            other => return Err(format!("unknown argument {other:?}; {INSIDE_USAGE}")),
        }
    }
    ctx.host_port = port.ok_or_else(|| format!("--host-port is required; {INSIDE_USAGE}"))?;
    Ok(ctx)
}

/// The hidden `verify-inside` subcommand: runs the battery and prints its JSON report on
/// stdout. Exit 0 when every check passed, 1 when one failed, 2 on bad arguments.
pub fn verify_inside_main(args: &[String]) -> ExitCode {
    let ctx = match parse_inside_args(args) {
        Ok(ctx) => ctx,
        Err(message) => {
            eprintln!("sandprobe verify-inside: {message}");
            return ExitCode::from(INSIDE_EXIT_USAGE);
        }
    };
    let report = run_battery_inside(&ctx);
    match serde_json::to_string(&report) {
        Ok(json) => println!("{json}"),
        Err(error) => {
            eprintln!("sandprobe verify-inside: failed to serialise the report: {error}");
            return ExitCode::from(INSIDE_EXIT_FAILED);
        }
    }
    ExitCode::from(if report.passed {
        INSIDE_EXIT_PASSED
    } else {
        INSIDE_EXIT_FAILED
    })
}

fn outcome_cell(outcome: CheckOutcome, color: bool) -> Cell {
    let cell = Cell::new(outcome.as_str());
    match (color, outcome) {
        (false, _) => cell,
        (true, CheckOutcome::Pass) => cell.fg(Color::Green),
        (true, CheckOutcome::Fail) => cell.fg(Color::Red).add_attribute(Attribute::Bold),
    }
}

/// The human rendering: the mode line, then one row per check.
pub fn render_table(report: &VerifyReport, color: bool) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["check", "result", "evidence"]);
    if color {
        // The caller decided (terminal, NO_COLOR); do not let comfy-table second-guess it.
        table.enforce_styling();
    }
    for check in &report.checks {
        table.add_row(vec![
            Cell::new(&check.id),
            outcome_cell(check.outcome, color),
            Cell::new(&check.evidence),
        ]);
    }
    let mode = match (&report.mode_used, &report.mode_reason) {
        (Some(mode), Some(reason)) => format!("{mode} ({reason})"),
        (Some(mode), None) => mode.clone(),
        (None, _) => "unknown (the launcher reported no mode)".to_string(),
    };
    let failed = report
        .checks
        .iter()
        .filter(|c| c.outcome == CheckOutcome::Fail)
        .count();
    let summary = if report.passed {
        format!("all {} checks passed", report.checks.len())
    } else {
        format!("{failed} of {} checks FAILED", report.checks.len())
    };
    format!(
        "sandbox mode: {mode}; requested: {}\n{table}\n{summary}\n",
        report.mode_requested.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inside_args_parse() {
        let ctx = parse_inside_args(&args(&[
            "verify-inside",
            "--host-port",
            "4242",
            "--expect-env",
            "PATH,HOME, TERM,",
            "--host-canary",
            "/tmp/x",
        ]))
        .expect("valid");
        assert_eq!(ctx.host_port, 4242);
        assert_eq!(ctx.expect_env, ["PATH", "HOME", "TERM"]);
        assert_eq!(
            ctx.host_canary.as_deref(),
            Some(std::path::Path::new("/tmp/x"))
        );
    }

    #[test]
    fn inside_args_reject_bad_input() {
        for bad in [
            &[][..],
            &["--host-port"][..],
            &["--host-port", "x"][..],
            &["--host-port", "70000"][..],
            &["--expect-env", "PATH"][..],
            &["--host-port", "1", "--bogus"][..],
        ] {
            assert!(parse_inside_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_table_shows_mode_checks_and_summary() {
        let report = VerifyReport {
            mode_requested: VerifyMode::Auto,
            mode_used: Some("userns".into()),
            mode_reason: Some("user namespaces work".into()),
            launcher: "/usr/bin/sandbox-run".into(),
            launcher_exit_code: Some(1),
            launcher_status: Vec::new(),
            checks: vec![
                CheckResult {
                    id: "root_read_only".into(),
                    description: "d".into(),
                    outcome: CheckOutcome::Pass,
                    evidence: "EROFS".into(),
                },
                CheckResult {
                    id: "only_loopback".into(),
                    description: "d".into(),
                    outcome: CheckOutcome::Fail,
                    evidence: "interfaces: lo, eth0".into(),
                },
            ],
            passed: false,
        };
        let text = render_table(&report, false);
        assert!(text.starts_with("sandbox mode: userns (user namespaces work); requested: auto\n"));
        assert!(text.contains("root_read_only"));
        assert!(text.contains("interfaces: lo, eth0"));
        assert!(text.ends_with("1 of 2 checks FAILED\n"));
        assert!(
            !text.contains('\u{1b}'),
            "no colour codes when colour is off"
        );
        assert!(render_table(&report, true).contains('\u{1b}'));
    }
}
