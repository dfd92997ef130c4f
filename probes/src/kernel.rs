//! Kernel release and real version: the floor for each mode and the feature gates that depend on it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fact::{Fact, FactRoot};

/// A kernel version, compared numerically (3.10 < 3.13 < 4.9).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KernelVersion {
            major,
            minor,
            patch,
        }
    }
}

impl std::fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Which distribution's kernel build a release string looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KernelFlavour {
    /// `3.10.0-1160.el7.x86_64`, `4.18.0-513.el8.x86_64`, `5.14.0-…el9`
    RedHat,
    /// `6.1.0-21-amd64`: an ABI name, the real version is in /proc/version
    Debian,
    /// `6.8.0-31-generic`
    Ubuntu,
    /// `6.6.1-arch1-1`
    Arch,
    /// `6.6.1-hardened1-1`
    ArchHardened,
    /// `6.5.6-200.fc38.x86_64`
    Fedora,
    /// `4.14.336-256.559.amzn2.x86_64`
    Amazon,
    /// `5.15.90.1-microsoft-standard-WSL2`
    Wsl2,
    /// Anything else.
    Generic,
}

/// A parsed `uname -r`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KernelRelease {
    /// The string as read.
    pub raw: String,
    /// The leading numeric version (for Debian, the ABI version: see [`KernelFacts::version`]).
    pub version: KernelVersion,
    pub flavour: KernelFlavour,
    /// The build number of a Red Hat kernel (`1160` in `3.10.0-1160.el7`), which tells RHEL 7.4+
    /// (693 and later) from 7.0–7.3.
    pub redhat_build: Option<u32>,
    /// Red Hat's major release (`7` for `el7`).
    pub redhat_major: Option<u32>,
}

/// Where the effective version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// The release string itself.
    Release,
    /// The distribution's package version in /proc/version (Debian's real version).
    ProcVersion,
}

/// One kernel feature that arrived in a known release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FeatureGate {
    /// Stable snake_case id, e.g. `unprivileged_userns`, `landlock`.
    pub id: String,
    /// The first kernel that has it.
    pub since: KernelVersion,
    /// Whether the effective version is at least `since`.
    pub available: bool,
}

/// What the kernel probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KernelFacts {
    /// `proc/sys/kernel/osrelease`, parsed.
    pub release: Fact<KernelRelease>,
    /// `proc/version`, raw.
    pub proc_version: Fact<String>,
    /// The real version: from /proc/version for Debian, else the release's.
    pub version: Option<KernelVersion>,
    pub version_source: Option<VersionSource>,
    /// The kernel is at least 3.10, the floor for root-backed mode.
    pub meets_root_backed_floor: Option<bool>,
    /// The kernel is at least 3.13, the floor Sandstorm set for userns mode.
    pub meets_userns_floor: Option<bool>,
    /// The feature gates of the kernel man pages, in release order.
    pub features: Vec<FeatureGate>,
}

/// The floor for root-backed mode, per the seed.
pub const ROOT_BACKED_FLOOR: KernelVersion = KernelVersion::new(3, 10, 0);
/// The floor for userns mode (Sandstorm's).
pub const USERNS_FLOOR: KernelVersion = KernelVersion::new(3, 13, 0);

/// Parses a release string such as `3.10.0-1160.el7.x86_64`.
pub fn parse_release(raw: &str) -> Result<KernelRelease, String> {
    Err(format!("not yet parsed: {raw}"))
}

/// Reads the kernel facts under `root`.
pub fn probe(root: &FactRoot) -> KernelFacts {
    KernelFacts {
        release: root.read_fact("proc/sys/kernel/osrelease", parse_release),
        proc_version: root.read_text("proc/version"),
        version: None,
        version_source: None,
        meets_root_backed_floor: None,
        meets_userns_floor: None,
        features: Vec::new(),
    }
}
