//! Renders a [`Report`] for people: a table of checks, the verdict, its reasons and the fixes.

use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};

use crate::checks::Status;
use crate::report::Report;
use crate::verdict::{Basis, Mode};

/// Whether to colour the output: only on a terminal, never under NO_COLOR.
pub fn colour_wanted(is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn status_cell(status: Status, colour: bool) -> Cell {
    let cell = Cell::new(status.as_str());
    if !colour {
        return cell;
    }
    match status {
        Status::Pass => cell.fg(Color::Green),
        Status::Fail => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        Status::Warn => cell.fg(Color::Yellow),
        Status::Unknown => cell.fg(Color::Magenta),
        Status::Skip => cell.fg(Color::DarkGrey),
    }
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(map) if map.contains_key("state") => map
            .get("state")
            .and_then(|s| s.as_str())
            .unwrap_or("-")
            .to_string(),
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn mode_text(mode: Mode, basis: Basis) -> String {
    match basis {
        Basis::Measured => mode.to_string(),
        Basis::Predicted => format!("{mode} (predicted)"),
    }
}

/// The human report: checks table, verdict, reasons, remediations.
pub fn table(report: &Report, colour: bool, width: Option<u16>) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["check", "status", "value", "evidence"]);
    if let Some(width) = width {
        table.set_width(width);
    }
    for check in &report.checks {
        table.add_row(vec![
            Cell::new(&check.id),
            status_cell(check.status, colour),
            Cell::new(value_text(&check.value)),
            Cell::new(&check.evidence),
        ]);
    }
    let v = &report.verdict;
    let mut out = String::new();
    if report.source.kind == crate::report::SourceKind::Fixture {
        out.push_str(&format!(
            "fixture: {} (recorded trials; nothing was run)\n",
            report.source.root
        ));
    }
    out.push_str(&table.to_string());
    out.push('\n');
    let mode = if colour {
        let code = match v.mode {
            Mode::Userns => "32",
            Mode::RootBacked => "33",
            Mode::Unsupported => "31",
        };
        format!("\x1b[1;{code}m{}\x1b[0m", v.mode)
    } else {
        v.mode.to_string()
    };
    out.push_str(&format!("\nverdict: {mode}\n  {}\n", v.summary));
    out.push_str(&format!(
        "  root gets: {}; an unprivileged user gets: {}\n",
        mode_text(v.root.mode, v.root.basis),
        mode_text(v.unprivileged.mode, v.unprivileged.basis)
    ));
    if !v.reasons.is_empty() {
        out.push_str("\nwhy:\n");
        for (i, r) in v.reasons.iter().enumerate() {
            out.push_str(&format!(
                "  {}. [{}] {}\n     evidence: {}\n",
                i + 1,
                r.probe,
                r.message,
                r.evidence
            ));
        }
    }
    if !v.remediations.is_empty() {
        out.push_str("\nhow to fix:\n");
        for fix in &v.remediations {
            out.push_str(&format!(
                "  - {} (enables {}; {}: {})\n",
                fix.title,
                fix.enables,
                if fix.applicable_here {
                    "run here"
                } else {
                    "apply on"
                },
                fix.applies_on
            ));
            for cmd in &fix.commands {
                out.push_str(&format!("      {cmd}\n"));
            }
            if let Some(p) = &fix.persist {
                if fix.commands.iter().all(|c| !c.contains(&p.path)) {
                    out.push_str(&format!("      # persist in {}:\n", p.path));
                    for line in p.contents.lines() {
                        out.push_str(&format!("      #   {line}\n"));
                    }
                }
            }
            if let Some(note) = &fix.note {
                out.push_str(&format!("      note: {note}\n"));
            }
        }
    }
    out
}

/// The remediation commands as tab-separated lines, for install scripts: `ID LAYER WHERE COMMAND`,
/// WHERE being `here` when the command can work where the check ran, else `elsewhere`.
pub fn fix_lines(verdict: &crate::verdict::Verdict) -> String {
    let mut out = String::new();
    for fix in &verdict.remediations {
        let layer = serde_json::to_value(fix.layer)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let place = if fix.applicable_here {
            "here"
        } else {
            "elsewhere"
        };
        for command in &fix.commands {
            out.push_str(&format!("{}\t{layer}\t{place}\t{command}\n", fix.id));
        }
    }
    out
}
