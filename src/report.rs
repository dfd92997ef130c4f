//! The one data model every renderer sees: the `check` report, serialised as the JSON contract.
//!
//! `schema_version` changes only when a field is removed or changes meaning; new fields may be
//! added at any time. docs/check.schema.json is generated from these types.

use sandprobe_probes::trials::TrialOrigin;
use sandprobe_probes::HostFacts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::{self, Check};
use crate::verdict::{self, SelectorContext, Verdict};

/// The version of the JSON document below.
pub const SCHEMA_VERSION: u32 = 1;

/// Where the facts came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Source {
    /// `host` for a live check, `fixture` for `--root DIR`.
    pub kind: SourceKind,
    /// The directory that stood for `/`.
    pub root: String,
    /// Whether the trials ran now or were read from the fixture's trial file.
    pub trials: TrialOrigin,
    /// A name for the environment, from `check --label` (used as the row name by `matrix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// When a live check ran, in UTC (RFC 3339, seconds); absent for fixtures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_at: Option<String>,
}

/// Formats a Unix time as RFC 3339 UTC (`2026-12-03T16:55:00Z`), without a date library.
pub fn rfc3339_utc(unix_seconds: u64) -> String {
    let days = unix_seconds / 86_400;
    let secs = unix_seconds % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339_utc;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_796_313_600), "2026-12-03T16:00:00Z");
        assert_eq!(rfc3339_utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Host,
    Fixture,
}

/// The tool that wrote the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// The `sandprobe check --json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub source: Source,
    /// One row per probe, in a stable order.
    pub checks: Vec<Check>,
    pub verdict: Verdict,
    /// Everything the probes read, for audits and for `sandprobe matrix`.
    pub facts: HostFacts,
}

/// Builds the report from the facts. Pure.
pub fn build(facts: HostFacts, source: Source, context: &SelectorContext) -> Report {
    let verdict = verdict::decide_with(&facts, context);
    let checks = checks::build(&facts, &verdict);
    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "sandprobe".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        source,
        checks,
        verdict,
        facts,
    }
}

/// The JSON Schema of [`Report`], as written to docs/check.schema.json.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Report)).unwrap_or(serde_json::Value::Null)
}
