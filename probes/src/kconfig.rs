//! Kernel build configuration: is CONFIG_USER_NS and the rest of the namespace stack compiled in?

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fact::{Fact, FactRoot};

/// A kconfig option's value. An option missing from a config file is `No` (its dependencies
/// were not met), exactly as `# CONFIG_X is not set` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tristate {
    Yes,
    Module,
    No,
}

/// The options the verdict and the report care about, in report order (without `CONFIG_`).
pub const TRACKED_OPTIONS: &[&str] = &[
    "NAMESPACES",
    "USER_NS",
    "PID_NS",
    "NET_NS",
    "UTS_NS",
    "IPC_NS",
    "SECCOMP_FILTER",
    "CGROUPS",
];

/// The tracked options found in one config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KernelConfig {
    /// Option name without `CONFIG_` → value, for each of [`TRACKED_OPTIONS`].
    pub options: BTreeMap<String, Tristate>,
}

/// How CONFIG_USER_NS was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserNsConfig {
    /// Read from a config file.
    Enabled,
    Disabled,
    /// No config file: `proc/self/ns/user` exists, so USER_NS=y.
    InferredEnabled,
    /// No config file and no `proc/self/ns/user`.
    InferredDisabled,
}

/// What the kernel-config probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KconfigFacts {
    /// The first candidate that exists, parsed; `Absent` (naming the first candidate) when none does.
    pub config: Fact<KernelConfig>,
    /// Every candidate path tried, in order.
    pub candidates: Vec<String>,
    pub user_ns: UserNsConfig,
}

/// Parses the text of a kernel .config, keeping only [`TRACKED_OPTIONS`].
pub fn parse_config(text: &str) -> Result<KernelConfig, String> {
    let _ = text;
    Err("not yet parsed".into())
}

/// Reads the kernel config under `root`; `release` is `uname -r`, used in the candidate paths.
pub fn probe(root: &FactRoot, release: Option<&str>) -> KconfigFacts {
    let _ = release;
    KconfigFacts {
        config: root.read_fact("proc/config.gz", |_| Err("not yet parsed".into())),
        candidates: vec!["proc/config.gz".into()],
        user_ns: if root.exists("proc/self/ns/user") {
            UserNsConfig::InferredEnabled
        } else {
            UserNsConfig::InferredDisabled
        },
    }
}
