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
