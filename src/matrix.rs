//! `sandprobe matrix`: the compatibility matrix, one row per environment, from fixtures and measured results.
//!
//! A row comes either from a fixture (replayed exactly as `check --root` does) or from a result
//! file, the output of `check --json` collected anywhere. Both go through the same [`Report`]
//! model, so a measured row and a fixture row mean the same thing column by column.

use std::path::{Path, PathBuf};

use comfy_table::{presets, ContentArrangement, Table};
use sandprobe_probes::kconfig::UserNsConfig;
use sandprobe_probes::trials::Trial;
use sandprobe_probes::trials::TRIAL_FILE as TRIAL_FILE_NAME;
use sandprobe_probes::{FactRoot, TrialSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::report::{self, Report, Source, SourceKind, SCHEMA_VERSION};
use crate::verdict::{SelectorContext, Verdict};

/// Where a row comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Measured by `check` on a real host, VM or container.
    Measured {
        /// When (RFC 3339 UTC), from the result file.
        measured_at: Option<String>,
        /// The result file.
        file: String,
    },
    /// Replayed from a fixture directory; `note` is the first line of its NOTES.md.
    Fixture { name: String, note: Option<String> },
}

/// One environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MatrixRow {
    pub environment: String,
    /// `uname -r` of the kernel.
    pub kernel: String,
    /// `y`, `n`, `y (inferred)` or `n (inferred)`.
    pub config_user_ns: String,
    /// The fact that decides the userns mode, `check_id = value`; `-` when nothing blocks it.
    pub deciding_knob: String,
    /// Each trial's first failing stage and errno, or `ok`.
    pub trial: String,
    pub root_mode: String,
    pub unprivileged_mode: String,
    /// The first fix the verdict offers, `-` when none is needed.
    pub remediation: String,
    pub origin: Origin,
}

/// Why the matrix could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error("failed to read {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("failed to parse the result file {path}: {reason}")]
    ParseResult { path: PathBuf, reason: String },
    #[error(
        "failed to use the result file {path}: schema_version {found} is not {SCHEMA_VERSION}"
    )]
    SchemaVersion { path: PathBuf, found: u64 },
    #[error("failed to replay the fixture {path}: {reason}")]
    ReplayFixture { path: PathBuf, reason: String },
    #[error("failed to use {0}: not a fixture, a result file, or a directory of either")]
    UnknownInput(PathBuf),
}

/// Largest result file read: a `check --json` document is a few tens of kilobytes.
const MAX_RESULT_BYTES: u64 = 4 * 1024 * 1024;

/// Parses one result file's bytes (the output of `check --json`).
pub fn parse_result(path: &Path, bytes: &[u8]) -> Result<Report, MatrixError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| MatrixError::ParseResult {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(found) => {
            return Err(MatrixError::SchemaVersion {
                path: path.to_owned(),
                found,
            })
        }
        None => {
            return Err(MatrixError::ParseResult {
                path: path.to_owned(),
                reason: "no schema_version: not the output of `sandprobe check --json`".into(),
            })
        }
    }
    serde_json::from_value(value).map_err(|e| MatrixError::ParseResult {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn read_result(path: &Path) -> Result<Report, MatrixError> {
    use std::io::Read;
    let read_err = |cause| MatrixError::Read {
        path: path.to_owned(),
        cause,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read_err)?
        .take(MAX_RESULT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_RESULT_BYTES {
        return Err(MatrixError::ParseResult {
            path: path.to_owned(),
            reason: "larger than any check report".into(),
        });
    }
    parse_result(path, &bytes)
}

fn replay_fixture(dir: &Path) -> Result<Report, MatrixError> {
    let fail = |reason: String| MatrixError::ReplayFixture {
        path: dir.to_owned(),
        reason,
    };
    let facts = sandprobe_probes::gather(&FactRoot::fixture(dir), &TrialSource::Recorded)
        .map_err(|e| fail(e.to_string()))?;
    if let Some(bad) = facts.bad_facts().first() {
        return Err(fail(bad.to_string()));
    }
    let source = Source {
        kind: SourceKind::Fixture,
        root: dir.display().to_string(),
        trials: sandprobe_probes::trials::TrialOrigin::Recorded,
        label: None,
        measured_at: None,
    };
    Ok(report::build(facts, source, &SelectorContext::default()))
}

fn is_fixture(dir: &Path) -> bool {
    dir.join(TRIAL_FILE_NAME).is_file()
}

fn is_result_file(path: &Path) -> bool {
    path.is_file()
        && path.extension().is_some_and(|e| e == "json")
        && !path.to_string_lossy().ends_with(".truth.json")
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, MatrixError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|cause| MatrixError::Read {
            path: dir.to_owned(),
            cause,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

/// Builds every row from the inputs: fixture directories, directories of fixtures, result
/// files, or directories of result files (`*.truth.json` files are skipped).
pub fn collect_rows(inputs: &[PathBuf]) -> Result<Vec<MatrixRow>, MatrixError> {
    let mut rows = Vec::new();
    for input in inputs {
        if is_fixture(input) {
            rows.push(fixture_row(input)?);
        } else if is_result_file(input) {
            rows.push(measured_row(input)?);
        } else if input.is_dir() {
            let mut found = false;
            for entry in sorted_entries(input)? {
                if is_fixture(&entry) {
                    rows.push(fixture_row(&entry)?);
                    found = true;
                } else if is_result_file(&entry) {
                    rows.push(measured_row(&entry)?);
                    found = true;
                }
            }
            if !found {
                return Err(MatrixError::UnknownInput(input.clone()));
            }
        } else if input.exists() {
            return Err(MatrixError::UnknownInput(input.clone()));
        } else {
            return Err(MatrixError::Read {
                path: input.clone(),
                cause: std::io::Error::from_raw_os_error(libc::ENOENT),
            });
        }
    }
    Ok(rows)
}

fn fixture_row(dir: &Path) -> Result<MatrixRow, MatrixError> {
    let report = replay_fixture(dir)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let note = std::fs::read_to_string(dir.join("NOTES.md"))
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .map(|l| l.trim_start_matches('#').trim().to_string())
        })
        .filter(|l| !l.is_empty());
    Ok(row(&report, name.clone(), Origin::Fixture { name, note }))
}

fn measured_row(path: &Path) -> Result<MatrixRow, MatrixError> {
    let report = read_result(path)?;
    let environment = report.source.label.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let origin = Origin::Measured {
        measured_at: report.source.measured_at.clone(),
        file: path.display().to_string(),
    };
    Ok(row(&report, environment, origin))
}

fn trial_summary(name: &str, trial: &Trial) -> Option<String> {
    match trial {
        Trial::Skipped { .. } => None,
        Trial::Ran(run) => Some(match run.first_failure() {
            Some((stage, errno)) => format!("{name}: {} {errno}", stage.name()),
            None if run.passed() => format!("{name}: ok"),
            None => format!("{name}: incomplete"),
        }),
    }
}

fn deciding_knob(report: &Report, verdict: &Verdict) -> String {
    let Some(blocker) = verdict.userns_blocker else {
        return "-".into();
    };
    let id = blocker.check_id();
    match report.checks.iter().find(|c| c.id == id) {
        Some(check) => match &check.value {
            serde_json::Value::Null => id.to_string(),
            serde_json::Value::String(s) => format!("{id} = {s}"),
            serde_json::Value::Array(items) => format!(
                "{id} = {}",
                items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            serde_json::Value::Object(_) => id.to_string(),
            other => format!("{id} = {other}"),
        },
        None => id.to_string(),
    }
}

/// One row from a report. Pure.
pub fn row(report: &Report, environment: String, origin: Origin) -> MatrixRow {
    let facts = &report.facts;
    let verdict = &report.verdict;
    let kernel = facts
        .kernel
        .release
        .value()
        .map_or_else(|| "unknown".to_string(), |r| r.raw.clone());
    let config_user_ns = match facts.kconfig.user_ns {
        UserNsConfig::Enabled => "y",
        UserNsConfig::Disabled => "n",
        UserNsConfig::InferredEnabled => "y (inferred)",
        UserNsConfig::InferredDisabled => "n (inferred)",
    }
    .to_string();
    let trial = [
        trial_summary("userns", &facts.trials.userns),
        trial_summary("root-backed", &facts.trials.root_backed),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ");
    let remediation = verdict
        .remediations
        .first()
        .map(|fix| {
            fix.commands
                .first()
                .cloned()
                .unwrap_or_else(|| fix.title.clone())
        })
        .unwrap_or_else(|| "-".into());
    let mode = |m: &crate::verdict::ModeAssessment| match m.basis {
        crate::verdict::Basis::Measured => m.mode.to_string(),
        crate::verdict::Basis::Predicted => format!("{} (predicted)", m.mode),
    };
    MatrixRow {
        environment,
        kernel,
        config_user_ns,
        deciding_knob: deciding_knob(report, verdict),
        trial: if trial.is_empty() { "-".into() } else { trial },
        root_mode: mode(&verdict.root),
        unprivileged_mode: mode(&verdict.unprivileged),
        remediation,
        origin,
    }
}

fn origin_text(origin: &Origin) -> String {
    match origin {
        Origin::Measured { measured_at, .. } => format!(
            "measured {}",
            measured_at
                .as_deref()
                .map(|t| t.get(..10).unwrap_or(t))
                .unwrap_or("(undated)")
        ),
        Origin::Fixture { .. } => "fixture".into(),
    }
}

const HEADERS: [&str; 9] = [
    "environment",
    "kernel",
    "CONFIG_USER_NS",
    "deciding knob",
    "trial",
    "root",
    "unprivileged",
    "remediation",
    "source",
];

fn cells(row: &MatrixRow) -> [String; 9] {
    [
        row.environment.clone(),
        row.kernel.clone(),
        row.config_user_ns.clone(),
        row.deciding_knob.clone(),
        row.trial.clone(),
        row.root_mode.clone(),
        row.unprivileged_mode.clone(),
        row.remediation.clone(),
        origin_text(&row.origin),
    ]
}

/// The terminal table.
pub fn render_table(rows: &[MatrixRow], width: Option<u16>) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(HEADERS.to_vec());
    if let Some(width) = width {
        table.set_width(width);
    }
    for row in rows {
        table.add_row(cells(row).to_vec());
    }
    table.to_string()
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn md_table(out: &mut String, rows: &[&MatrixRow]) {
    out.push_str(&format!("| {} |\n", HEADERS.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(HEADERS.len())));
    for row in rows {
        let cells: Vec<String> = cells(row)
            .iter()
            .map(|c| {
                if c.starts_with("sysctl ")
                    || c.starts_with("docker ")
                    || c.starts_with("podman ")
                    || c.starts_with("grubby ")
                    || c.starts_with("sandprobe ")
                    || c.starts_with("pacman ")
                {
                    format!("`{}`", md_escape(c))
                } else {
                    md_escape(c)
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
}

/// The Markdown document: measured rows first, then fixture rows, each under its own heading.
/// `command` is the command line that regenerates it. Deterministic for the same inputs: the
/// date shown is the newest measurement's, not the time of rendering.
pub fn render_markdown(rows: &[MatrixRow], command: &str) -> String {
    let measured: Vec<&MatrixRow> = rows
        .iter()
        .filter(|r| matches!(r.origin, Origin::Measured { .. }))
        .collect();
    let fixtures: Vec<&MatrixRow> = rows
        .iter()
        .filter(|r| matches!(r.origin, Origin::Fixture { .. }))
        .collect();
    let newest = measured
        .iter()
        .filter_map(|r| match &r.origin {
            Origin::Measured { measured_at, .. } => measured_at.clone(),
            Origin::Fixture { .. } => None,
        })
        .max();
    let mut out = String::from("# Compatibility matrix\n\n");
    out.push_str(&format!(
        "Generated by `{command}`{}. Do not edit by hand: a test fails when this file is stale.\n\n",
        newest
            .as_deref()
            .map(|t| format!(" from results measured up to {}", t.get(..10).unwrap_or(t)))
            .unwrap_or_default()
    ));
    out.push_str(
        "Modes: **userns** — an unprivileged user can build the whole sandbox; **root-backed** — only a \
         launcher started as root can; **unsupported** — neither. *root* and *unprivileged* are the modes \
         each identity gets; *(predicted)* marks a mode that could not be tried where the row was taken. \
         *trial* is each staged trial's first failing stage and errno. *deciding knob* is the fact that \
         explains why user namespaces are blocked.\n\n",
    );
    out.push_str(&format!(
        "## Measured here ({} rows)\n\nReal kernels booted under qemu and real containers, each \
         checked with `sandprobe check --json` and compared with an independent ground truth \
         (busybox `unshare`) in the same environment (`ci/kernels.sh`, `ci/containers.sh`).\n\n",
        measured.len()
    ));
    if measured.is_empty() {
        out.push_str("No measured results were given.\n\n");
    } else {
        md_table(&mut out, &measured);
        out.push('\n');
    }
    out.push_str(&format!(
        "## From fixtures ({} rows)\n\nHosts that cannot be booted here, replayed from \
         `fixtures/` (each fixture's NOTES.md cites where its facts come from).\n\n",
        fixtures.len()
    ));
    md_table(&mut out, &fixtures);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
    }

    #[test]
    fn a_fixture_row_names_the_knob_and_the_failing_stage() {
        let rows = collect_rows(&[fixtures_dir().join("debian10")]).unwrap();
        let row = &rows[0];
        assert_eq!(row.environment, "debian10");
        assert_eq!(row.deciding_knob, "unprivileged_userns_clone = 0");
        assert!(
            row.trial.starts_with("userns: unshare_user EPERM"),
            "{}",
            row.trial
        );
        assert_eq!(row.root_mode, "root-backed");
        assert_eq!(row.unprivileged_mode, "unsupported");
        assert_eq!(
            row.remediation,
            "sysctl -w kernel.unprivileged_userns_clone=1"
        );
        assert!(matches!(row.origin, Origin::Fixture { .. }));
    }

    #[test]
    fn a_directory_of_fixtures_gives_one_row_each() {
        let rows = collect_rows(&[fixtures_dir()]).unwrap();
        let expected = std::fs::read_dir(fixtures_dir())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().join(TRIAL_FILE_NAME).exists())
            .count();
        assert_eq!(rows.len(), expected);
    }

    #[test]
    fn result_files_are_checked_before_use() {
        let path = Path::new("r.json");
        assert!(matches!(
            parse_result(path, b"{"),
            Err(MatrixError::ParseResult { .. })
        ));
        assert!(matches!(
            parse_result(path, br#"{"schema_version": 99}"#),
            Err(MatrixError::SchemaVersion { found: 99, .. })
        ));
        assert!(matches!(
            parse_result(path, br#"{"checks": []}"#),
            Err(MatrixError::ParseResult { .. })
        ));
        assert!(matches!(
            parse_result(path, br#"{"schema_version": 1, "checks": 5}"#),
            Err(MatrixError::ParseResult { .. })
        ));
    }

    #[test]
    fn a_report_round_trips_into_the_same_row() {
        let dir = fixtures_dir().join("ubuntu24_04");
        let report = replay_fixture(&dir).unwrap();
        let json = serde_json::to_vec(&report).unwrap();
        let parsed = parse_result(Path::new("x.json"), &json).unwrap();
        let origin = Origin::Fixture {
            name: "x".into(),
            note: None,
        };
        assert_eq!(
            row(&report, "x".into(), origin.clone()),
            row(&parsed, "x".into(), origin)
        );
    }

    #[test]
    fn markdown_separates_measured_from_fixture_rows() {
        let mut rows = collect_rows(&[fixtures_dir().join("debian12")]).unwrap();
        let mut measured = rows[0].clone();
        measured.environment = "a real host".into();
        measured.origin = Origin::Measured {
            measured_at: Some("2026-12-03T10:00:00Z".into()),
            file: "x.json".into(),
        };
        rows.push(measured);
        let md = render_markdown(&rows, "sandprobe matrix --markdown X");
        let measured_at = md.find("## Measured here (1 rows)").unwrap();
        let fixtures_at = md.find("## From fixtures (1 rows)").unwrap();
        assert!(measured_at < fixtures_at);
        assert!(md.contains("measured up to 2026-12-03"));
        assert!(md.contains("| a real host |"));
        assert!(md.contains("| measured 2026-12-03 |"));
        assert!(md.contains("| fixture |"));
    }
}
