//! Kernel release and real version: the floor for each mode and the feature gates that depend on it.
//!
//! `uname -r` is not always the kernel's version. Debian names its kernels after the ABI
//! (`6.1.0-21-amd64` is really 6.1.90), so the real version is taken from the distributor's
//! package version in /proc/version when the release string is only an ABI name.

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
    /// The feature gates of the kernel man pages, in release order. Empty when the version is
    /// unknown: a gate is then neither available nor missing (see [`KernelFacts::feature`]).
    pub features: Vec<FeatureGate>,
}

impl KernelFacts {
    /// Whether the feature `id` is available: `None` when the version is unknown or the id is
    /// not one of [`FEATURES`].
    pub fn feature(&self, id: &str) -> Option<bool> {
        self.features
            .iter()
            .find(|gate| gate.id == id)
            .map(|gate| gate.available)
    }
}

/// The floor for root-backed mode, per the seed.
pub const ROOT_BACKED_FLOOR: KernelVersion = KernelVersion::new(3, 10, 0);
/// The floor for userns mode (Sandstorm's).
pub const USERNS_FLOOR: KernelVersion = KernelVersion::new(3, 13, 0);

/// The kernel features the man pages date, as (id, first release), ordered by release.
pub const FEATURES: &[(&str, KernelVersion)] = &[
    // seccomp filter mode and PR_SET_NO_NEW_PRIVS
    ("seccomp_filter", KernelVersion::new(3, 5, 0)),
    // user namespaces need no privilege
    ("unprivileged_userns", KernelVersion::new(3, 8, 0)),
    // nesting limit of 32 (EUSERS until 4.8, ENOSPC from 4.9)
    ("userns_nesting_limit", KernelVersion::new(3, 11, 0)),
    // the seccomp() syscall
    ("seccomp_syscall", KernelVersion::new(3, 17, 0)),
    // /proc/PID/setgroups; also backported to older stable series, so this is a lower bound
    ("proc_setgroups", KernelVersion::new(3, 19, 0)),
    // CapAmb in /proc/self/status, PR_CAP_AMBIENT
    ("cap_ambient", KernelVersion::new(4, 3, 0)),
    ("cgroup_namespace", KernelVersion::new(4, 6, 0)),
    // /proc/sys/user/max_*_namespaces
    ("max_user_namespaces_sysctl", KernelVersion::new(4, 9, 0)),
    // NoNewPrivs in /proc/self/status
    ("no_new_privs_status", KernelVersion::new(4, 10, 0)),
    // pidfd_open and clone3
    ("pidfd_clone3", KernelVersion::new(5, 3, 0)),
    ("time_namespace", KernelVersion::new(5, 6, 0)),
    // mount_setattr
    ("idmapped_mounts", KernelVersion::new(5, 12, 0)),
    ("landlock", KernelVersion::new(5, 13, 0)),
];

/// The longest release the kernel can report: `struct new_utsname` holds 64 bytes plus the NUL.
/// Anything longer did not come from `uname -r`.
pub const MAX_RELEASE_LEN: usize = 64;

/// Why a release string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("failed to parse kernel release: it is empty")]
    ParseEmpty,
    #[error("failed to parse kernel release: {0} bytes is longer than the kernel's limit of {MAX_RELEASE_LEN}")]
    ParseTooLong(usize),
    #[error(
        "failed to parse kernel release {0:?}: it contains a control, space or non-ASCII character"
    )]
    ParseBadCharacter(String),
    #[error("failed to parse kernel release {0:?}: it does not start with a number")]
    ParseNoLeadingNumber(String),
    #[error("failed to parse kernel release {0:?}: a version number is larger than {max}", max = u32::MAX)]
    ParseNumberTooLarge(String),
    #[error("failed to parse kernel release {0:?}: expected at least major.minor")]
    ParseNoMinor(String),
}

/// Parses a release string such as `3.10.0-1160.el7.x86_64`.
pub fn parse_release(raw: &str) -> Result<KernelRelease, String> {
    parse_release_checked(raw).map_err(|err| err.to_string())
}

/// [`parse_release`] with a typed error.
pub fn parse_release_checked(raw: &str) -> Result<KernelRelease, ReleaseError> {
    // Surrounding whitespace is how the file ends, not part of the release.
    let raw = raw.trim_matches(|c: char| c == '\n' || c == ' ' || c == '\t');
    if raw.is_empty() {
        return Err(ReleaseError::ParseEmpty);
    }
    if raw.len() > MAX_RELEASE_LEN {
        return Err(ReleaseError::ParseTooLong(raw.len()));
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ReleaseError::ParseBadCharacter(
            raw.escape_debug().to_string(),
        ));
    }
    let (numbers, suffix) = split_version(raw).map_err(|kind| match kind {
        SplitError::NoLeadingNumber => ReleaseError::ParseNoLeadingNumber(raw.to_string()),
        SplitError::TooLarge => ReleaseError::ParseNumberTooLarge(raw.to_string()),
    })?;
    let [major, minor, patch] = match numbers.as_slice() {
        [major, minor] => [*major, *minor, 0],
        [major, minor, patch, ..] => [*major, *minor, *patch],
        _ => return Err(ReleaseError::ParseNoMinor(raw.to_string())),
    };
    let version = KernelVersion::new(major, minor, patch);
    let redhat = redhat_parts(suffix);
    let flavour = if redhat.is_some() {
        KernelFlavour::RedHat
    } else {
        flavour_of(suffix)
    };
    Ok(KernelRelease {
        raw: raw.to_string(),
        version,
        flavour,
        redhat_build: redhat.and_then(|(build, _)| build),
        redhat_major: redhat.map(|(_, major)| major),
    })
}

enum SplitError {
    NoLeadingNumber,
    TooLarge,
}

/// Splits `5.15.90.1-microsoft` into its dotted numbers (`[5, 15, 90, 1]`) and the rest.
///
/// A dot only continues the version when a digit follows it, so `3.10.0.el7` stops before
/// `.el7`. At most four numbers are taken (WSL2 has four).
fn split_version(raw: &str) -> Result<(Vec<u32>, &str), SplitError> {
    let bytes = raw.as_bytes();
    let mut numbers = Vec::new();
    let mut pos = 0;
    loop {
        let start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if start == pos {
            return Err(SplitError::NoLeadingNumber);
        }
        let number = raw[start..pos]
            .parse::<u32>()
            .map_err(|_| SplitError::TooLarge)?;
        numbers.push(number);
        let continues = numbers.len() < 4
            && bytes.get(pos) == Some(&b'.')
            && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit);
        if !continues {
            return Ok((numbers, &raw[pos..]));
        }
        pos += 1;
    }
}

/// The tokens of a release suffix: `-1160.el7.x86_64` → `1160`, `el7`, `x86_64`.
fn suffix_tokens(suffix: &str) -> impl Iterator<Item = &str> {
    suffix
        .split(['-', '.', '+'])
        .filter(|token| !token.is_empty())
}

/// `Some(digits)` when `token` is `prefix` followed by at least one digit and then only
/// characters in `tail` (e.g. `el8_9` for `el`, `fc38` for `fc`).
fn tagged_number(token: &str, prefix: &str, tail: impl Fn(char) -> bool) -> Option<u32> {
    let rest = token.strip_prefix(prefix)?;
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if digits_end == 0 || !rest[digits_end..].chars().all(tail) {
        return None;
    }
    rest[..digits_end].parse().ok()
}

/// For a Red Hat build (`-1160.el7.x86_64`, `-513.5.1.el8_9.x86_64`, `-…el7uek`): the build
/// number right after the dash, if there is one, and the `elN` major.
fn redhat_parts(suffix: &str) -> Option<(Option<u32>, u32)> {
    let major = suffix_tokens(suffix).find_map(|token| {
        tagged_number(token, "el", |c| {
            c == '_' || c.is_ascii_digit() || c.is_ascii_lowercase()
        })
    })?;
    let build = suffix
        .strip_prefix('-')
        .and_then(|rest| rest.split(['.', '-']).next())
        .and_then(|first| first.parse::<u32>().ok());
    Some((build, major))
}

/// Debian's kernel flavours (the part after the ABI number), from the linux package's
/// `debian/config` across releases.
const DEBIAN_FLAVOURS: &[&str] = &[
    "amd64",
    "cloud-amd64",
    "rt-amd64",
    "arm64",
    "arm64-16k",
    "cloud-arm64",
    "rt-arm64",
    "686",
    "686-pae",
    "rt-686-pae",
    "586",
    "486",
    "armmp",
    "armmp-lpae",
    "rt-armmp",
    "marvell",
    "rpi",
    "powerpc64le",
    "powerpc64le-64k",
    "s390x",
    "4kc-malta",
    "5kc-malta",
    "octeon",
    "loongson-3",
    "loong64",
    "mips32r2el",
    "mips64r2el",
    "mips32r6el",
    "mips64r6el",
    "riscv64",
];

/// Ubuntu's kernel flavours (the part after the ABI number).
const UBUNTU_FLAVOURS: &[&str] = &[
    "generic",
    "generic-64k",
    "generic-lpae",
    "generic-pae",
    "lowlatency",
    "lowlatency-64k",
    "aws",
    "azure",
    "azure-fde",
    "gcp",
    "gke",
    "gkeop",
    "kvm",
    "oracle",
    "ibm",
    "oem",
    "raspi",
    "raspi-nolpae",
    "nvidia",
    "nvidia-lowlatency",
    "intel-iotg",
    "realtime",
    "virtual",
    "server",
];

/// Splits `-21-amd64` into the ABI (`21`, or a backport's `0.deb11.17` / `0.bpo.12`) and the
/// flavour (`amd64`). Debian 13 and later write the real version and `+debNN-amd64` instead.
fn abi_and_flavour(suffix: &str) -> Option<(&str, &str)> {
    if let Some(rest) = suffix.strip_prefix('+') {
        let (tag, flavour) = rest.split_once('-')?;
        let is_debian_tag = tag == "bpo" || tagged_number(tag, "deb", |_| false).is_some();
        return is_debian_tag.then_some((tag, flavour));
    }
    let rest = suffix.strip_prefix('-')?;
    let (abi, flavour) = rest.split_once('-')?;
    let abi_ok = abi
        .split('.')
        .next()
        .is_some_and(|first| !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()))
        && abi.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
    abi_ok.then_some((abi, flavour))
}

/// Recognises a distribution's build from the part after the version.
fn flavour_of(suffix: &str) -> KernelFlavour {
    if suffix.contains("microsoft-standard") {
        // WSL1 reports `4.4.0-19041-Microsoft` and has no namespaces: it stays Generic.
        return KernelFlavour::Wsl2;
    }
    let tokens: Vec<&str> = suffix_tokens(suffix).collect();
    let has = |prefix: &str| {
        tokens
            .iter()
            .any(|token| tagged_number(token, prefix, |_| false).is_some())
    };
    if has("hardened") {
        return KernelFlavour::ArchHardened;
    }
    if has("arch") || tokens.contains(&"ARCH") {
        return KernelFlavour::Arch;
    }
    if has("fc") {
        return KernelFlavour::Fedora;
    }
    if has("amzn") {
        return KernelFlavour::Amazon;
    }
    if let Some((_, flavour)) = abi_and_flavour(suffix) {
        if DEBIAN_FLAVOURS.contains(&flavour) {
            return KernelFlavour::Debian;
        }
        if UBUNTU_FLAVOURS.contains(&flavour) {
            return KernelFlavour::Ubuntu;
        }
    }
    KernelFlavour::Generic
}

impl KernelRelease {
    /// The part after the numeric version (`-21-amd64`).
    fn suffix(&self) -> &str {
        split_version(&self.raw)
            .map(|(_, suffix)| suffix)
            .unwrap_or("")
    }

    /// Whether the patch level may be an ABI placeholder rather than the real one: Debian's
    /// kernels, and any `X.Y.0-N-flavour` name built the same way.
    pub fn patch_may_be_abi(&self) -> bool {
        match self.flavour {
            KernelFlavour::Debian => true,
            KernelFlavour::Ubuntu | KernelFlavour::Generic => {
                self.version.patch == 0
                    && abi_and_flavour(self.suffix()).is_some_and(|(abi, flavour)| {
                        abi.bytes().all(|b| b.is_ascii_digit())
                            && flavour.starts_with(|c: char| c.is_ascii_alphanumeric())
                    })
            }
            _ => false,
        }
    }
}

/// The release named at the start of /proc/version (`Linux version 6.1.0-21-amd64 (…`).
pub fn proc_version_release(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix("Linux version ")?;
    rest.split_whitespace().next()
}

/// The distributor's package version in /proc/version: `6.1.90` from
/// `… #1 SMP PREEMPT_DYNAMIC Debian 6.1.90-1 (2024-05-03)`.
///
/// It is a version token (at least three dotted numbers) right after a distributor's name (a
/// capitalised word such as `Debian` or `Kali`, not an all-caps flag like `SMP`). Tokens after
/// the build number `#N` are searched first, so the compiler's `(Debian 12.2.0-14)` is only a
/// fallback; the caller still checks that major.minor agrees with the release.
pub fn distributor_versions(text: &str) -> Vec<KernelVersion> {
    let after_build = text.find(" #").map(|at| &text[at..]).unwrap_or("");
    let mut found = versions_after_names(after_build);
    found.extend(versions_after_names(text));
    found
}

fn versions_after_names(text: &str) -> Vec<KernelVersion> {
    let tokens: Vec<&str> = text
        .split_whitespace()
        .map(|token| token.trim_matches(|c| c == '(' || c == ')' || c == ','))
        .collect();
    tokens
        .windows(2)
        .filter_map(|pair| {
            let (name, version) = (pair[0], pair[1]);
            let is_name = name.len() >= 2
                && name.starts_with(|c: char| c.is_ascii_uppercase())
                && name.bytes().all(|b| b.is_ascii_alphabetic())
                && name.bytes().any(|b| b.is_ascii_lowercase());
            if !is_name {
                return None;
            }
            let (numbers, rest) = split_version(version).ok()?;
            let ends_well = rest.is_empty() || rest.starts_with(['-', '+', '~']);
            match numbers.as_slice() {
                [major, minor, patch, ..] if ends_well => {
                    Some(KernelVersion::new(*major, *minor, *patch))
                }
                _ => None,
            }
        })
        .collect()
}

/// Picks the effective version from the release and /proc/version.
///
/// The release's version is used unless its patch level may be an ABI number, in which case
/// the distributor's version in /proc/version replaces it, but only if it has the same
/// major.minor and is not older (a mismatch means /proc/version is about something else).
/// With no release at all, the release named in /proc/version is used.
pub fn effective_version(
    release: Option<&KernelRelease>,
    proc_version: Option<&str>,
) -> Option<(KernelVersion, VersionSource)> {
    let (release, from_release) = match release {
        Some(release) => (release.clone(), true),
        None => {
            let named = proc_version.and_then(proc_version_release)?;
            (parse_release_checked(named).ok()?, false)
        }
    };
    let base_source = if from_release {
        VersionSource::Release
    } else {
        VersionSource::ProcVersion
    };
    if release.patch_may_be_abi() {
        let real = proc_version
            .map(distributor_versions)
            .unwrap_or_default()
            .into_iter()
            .find(|real| {
                real.major == release.version.major
                    && real.minor == release.version.minor
                    && *real >= release.version
            });
        if let Some(real) = real {
            return Some((real, VersionSource::ProcVersion));
        }
    }
    Some((release.version, base_source))
}

/// The feature gates for `version`, in release order.
pub fn feature_gates(version: KernelVersion) -> Vec<FeatureGate> {
    let mut gates: Vec<FeatureGate> = FEATURES
        .iter()
        .map(|(id, since)| FeatureGate {
            id: (*id).to_string(),
            since: *since,
            available: version >= *since,
        })
        .collect();
    gates.sort_by_key(|gate| gate.since);
    gates
}

/// Reads the kernel facts under `root`.
pub fn probe(root: &FactRoot) -> KernelFacts {
    let release = root.read_fact("proc/sys/kernel/osrelease", parse_release);
    let proc_version = root.read_text("proc/version");
    let effective = effective_version(release.value(), proc_version.value().map(String::as_str));
    let version = effective.map(|(version, _)| version);
    KernelFacts {
        version,
        version_source: effective.map(|(_, source)| source),
        meets_root_backed_floor: version.map(|v| v >= ROOT_BACKED_FLOOR),
        meets_userns_floor: version.map(|v| v >= USERNS_FLOOR),
        features: version.map(feature_gates).unwrap_or_default(),
        release,
        proc_version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs;

    fn parsed(raw: &str) -> KernelRelease {
        match parse_release(raw) {
            Ok(release) => release,
            Err(reason) => panic!("{raw:?} should parse: {reason}"),
        }
    }

    fn v(major: u32, minor: u32, patch: u32) -> KernelVersion {
        KernelVersion::new(major, minor, patch)
    }

    type ReleaseCase = (
        &'static str,
        KernelVersion,
        KernelFlavour,
        Option<u32>,
        Option<u32>,
    );

    #[test]
    fn every_known_release_form_parses() {
        use KernelFlavour::*;
        // (release, version, flavour, redhat_build, redhat_major)
        let cases: &[ReleaseCase] = &[
            (
                "3.10.0-1160.el7.x86_64",
                v(3, 10, 0),
                RedHat,
                Some(1160),
                Some(7),
            ),
            (
                "3.10.0-327.el7.x86_64",
                v(3, 10, 0),
                RedHat,
                Some(327),
                Some(7),
            ),
            (
                "4.18.0-513.5.1.el8_9.x86_64",
                v(4, 18, 0),
                RedHat,
                Some(513),
                Some(8),
            ),
            (
                "5.14.0-427.13.1.el9_4.x86_64",
                v(5, 14, 0),
                RedHat,
                Some(427),
                Some(9),
            ),
            (
                "6.12.0-55.el10.x86_64",
                v(6, 12, 0),
                RedHat,
                Some(55),
                Some(10),
            ),
            (
                "5.4.17-2136.300.7.el7uek.x86_64",
                v(5, 4, 17),
                RedHat,
                Some(2136),
                Some(7),
            ),
            ("6.1.0-21-amd64", v(6, 1, 0), Debian, None, None),
            ("4.19.0-26-amd64", v(4, 19, 0), Debian, None, None),
            ("3.16.0-6-amd64", v(3, 16, 0), Debian, None, None),
            ("6.1.0-21-cloud-amd64", v(6, 1, 0), Debian, None, None),
            ("4.9.0-0.bpo.12-amd64", v(4, 9, 0), Debian, None, None),
            ("6.1.0-0.deb11.17-amd64", v(6, 1, 0), Debian, None, None),
            ("6.12.38+deb13-amd64", v(6, 12, 38), Debian, None, None),
            ("6.8.0-31-generic", v(6, 8, 0), Ubuntu, None, None),
            ("6.8.0-1008-aws", v(6, 8, 0), Ubuntu, None, None),
            ("3.13.0-24-generic", v(3, 13, 0), Ubuntu, None, None),
            ("6.5.6-200.fc38.x86_64", v(6, 5, 6), Fedora, None, None),
            ("6.6.1-arch1-1", v(6, 6, 1), Arch, None, None),
            ("4.13.12-1-ARCH", v(4, 13, 12), Arch, None, None),
            ("6.6.1-hardened1-1", v(6, 6, 1), ArchHardened, None, None),
            (
                "4.14.336-256.559.amzn2.x86_64",
                v(4, 14, 336),
                Amazon,
                None,
                None,
            ),
            (
                "5.15.90.1-microsoft-standard-WSL2",
                v(5, 15, 90),
                Wsl2,
                None,
                None,
            ),
            ("4.4.0-19041-Microsoft", v(4, 4, 0), Generic, None, None),
            ("4.4.0", v(4, 4, 0), Generic, None, None),
            ("6.1.0+", v(6, 1, 0), Generic, None, None),
            ("5.10.0-rc1+", v(5, 10, 0), Generic, None, None),
            ("3.10", v(3, 10, 0), Generic, None, None),
            ("6.18.44-fc-v1147", v(6, 18, 44), Generic, None, None),
            ("6.8.12-4-pve", v(6, 8, 12), Generic, None, None),
            ("3.10.0.el7", v(3, 10, 0), RedHat, None, Some(7)),
        ];
        for (raw, version, flavour, build, major) in cases {
            let release = parsed(raw);
            assert_eq!(release.raw, *raw);
            assert_eq!(release.version, *version, "{raw}");
            assert_eq!(release.flavour, *flavour, "{raw}");
            assert_eq!(release.redhat_build, *build, "{raw}");
            assert_eq!(release.redhat_major, *major, "{raw}");
        }
    }

    #[test]
    fn trailing_newline_is_not_part_of_the_release() {
        assert_eq!(parsed("6.1.0-21-amd64\n").raw, "6.1.0-21-amd64");
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let long = format!("6.1.0-{}", "x".repeat(300));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("   \n", "empty"),
            ("abc", "does not start with a number"),
            ("-1.2", "does not start with a number"),
            (".5.1", "does not start with a number"),
            ("6", "at least major.minor"),
            ("6.", "at least major.minor"),
            ("3..10", "at least major.minor"),
            ("99999999999.1.0", "larger than"),
            ("6.4294967296.0", "larger than"),
            ("6.1.0\u{7}", "control"),
            ("6.1\u{0}.0", "control"),
            ("6.1.0 -21", "control"),
            ("6.1.0-é", "non-ASCII"),
            (&long, "longer than"),
        ];
        for (raw, why) in cases {
            match parse_release(raw) {
                Ok(release) => panic!("{raw:?} parsed as {release:?}"),
                Err(reason) => {
                    assert!(reason.contains(why), "{raw:?}: {reason}");
                    assert!(reason.starts_with("failed to parse kernel release"));
                }
            }
        }
    }

    #[test]
    fn release_at_the_kernel_limit_is_accepted() {
        let raw = format!("6.1.0-{}", "a".repeat(MAX_RELEASE_LEN - 6));
        assert_eq!(raw.len(), MAX_RELEASE_LEN);
        assert_eq!(parsed(&raw).version, v(6, 1, 0));
        assert!(parse_release(&format!("{raw}a")).is_err());
    }

    const DEBIAN_12: &str = "Linux version 6.1.0-21-amd64 (debian-kernel@lists.debian.org) \
        (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) \
        #1 SMP PREEMPT_DYNAMIC Debian 6.1.90-1 (2024-05-03)";
    const DEBIAN_10: &str = "Linux version 4.19.0-26-amd64 (debian-kernel@lists.debian.org) \
        (gcc version 8.3.0 (Debian 8.3.0-6)) #1 SMP Debian 4.19.304-1 (2024-01-09)";
    const DEBIAN_8: &str = "Linux version 3.16.0-6-amd64 (debian-kernel@lists.debian.org) \
        (gcc version 4.9.2 (Debian 4.9.2-10+deb8u1) ) #1 SMP Debian 3.16.56-1+deb8u1 (2018-05-08)";
    const DEBIAN_13: &str = "Linux version 6.12.38+deb13-amd64 (debian-kernel@lists.debian.org) \
        (x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0, GNU ld (GNU Binutils for Debian) 2.44) \
        #1 SMP PREEMPT_DYNAMIC Debian 6.12.38-1 (2025-07-16)";
    const UBUNTU_24: &str = "Linux version 6.8.0-31-generic (buildd@lcy02-amd64-080) \
        (x86_64-linux-gnu-gcc-13 (Ubuntu 13.2.0-23ubuntu4) 13.2.0, GNU ld (GNU Binutils for Ubuntu) 2.42) \
        #31-Ubuntu SMP PREEMPT_DYNAMIC Sat Apr 20 00:40:06 UTC 2024";
    const HOST: &str = "Linux version 6.18.44-fc-v1147 (builder@sandboxing) \
        (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0";

    #[test]
    fn distributor_version_is_found_after_the_build_number() {
        assert_eq!(distributor_versions(DEBIAN_12).first(), Some(&v(6, 1, 90)));
        assert_eq!(
            distributor_versions(DEBIAN_10).first(),
            Some(&v(4, 19, 304))
        );
        assert_eq!(distributor_versions(DEBIAN_8).first(), Some(&v(3, 16, 56)));
        assert!(distributor_versions(UBUNTU_24)
            .iter()
            .all(|found| found.major != 6));
        assert_eq!(proc_version_release(DEBIAN_12), Some("6.1.0-21-amd64"));
        assert_eq!(proc_version_release("garbage"), None);
    }

    #[test]
    fn debian_abi_names_take_the_real_version_from_proc_version() {
        for (raw, text, real) in [
            ("6.1.0-21-amd64", DEBIAN_12, v(6, 1, 90)),
            ("4.19.0-26-amd64", DEBIAN_10, v(4, 19, 304)),
            ("3.16.0-6-amd64", DEBIAN_8, v(3, 16, 56)),
            ("6.12.38+deb13-amd64", DEBIAN_13, v(6, 12, 38)),
        ] {
            assert_eq!(
                effective_version(Some(&parsed(raw)), Some(text)),
                Some((real, VersionSource::ProcVersion)),
                "{raw}"
            );
        }
    }

    #[test]
    fn proc_version_is_ignored_when_it_disagrees_or_is_not_needed() {
        // A /proc/version from another kernel series.
        assert_eq!(
            effective_version(Some(&parsed("5.10.0-30-amd64")), Some(DEBIAN_12)),
            Some((v(5, 10, 0), VersionSource::Release))
        );
        // Ubuntu's /proc/version carries no package version: the compiler's is not one.
        assert_eq!(
            effective_version(Some(&parsed("6.8.0-31-generic")), Some(UBUNTU_24)),
            Some((v(6, 8, 0), VersionSource::Release))
        );
        // A release with a real patch level is never overridden.
        assert_eq!(
            effective_version(Some(&parsed("6.1.12-arch1-1")), Some(DEBIAN_12)),
            Some((v(6, 1, 12), VersionSource::Release))
        );
        assert_eq!(
            effective_version(Some(&parsed("6.18.44-fc-v1147")), Some(HOST)),
            Some((v(6, 18, 44), VersionSource::Release))
        );
        assert_eq!(
            effective_version(Some(&parsed("6.1.0-21-amd64")), None),
            Some((v(6, 1, 0), VersionSource::Release))
        );
    }

    #[test]
    fn without_a_release_the_one_in_proc_version_is_used() {
        assert_eq!(
            effective_version(None, Some(DEBIAN_12)),
            Some((v(6, 1, 90), VersionSource::ProcVersion))
        );
        assert_eq!(
            effective_version(None, Some(HOST)),
            Some((v(6, 18, 44), VersionSource::ProcVersion))
        );
        assert_eq!(effective_version(None, Some("nonsense")), None);
        assert_eq!(effective_version(None, None), None);
    }

    #[test]
    fn feature_gates_follow_the_man_pages_in_release_order() {
        let gates = feature_gates(v(3, 10, 0));
        assert_eq!(gates.len(), 13);
        assert!(gates.windows(2).all(|pair| pair[0].since <= pair[1].since));
        let available: Vec<&str> = gates
            .iter()
            .filter(|gate| gate.available)
            .map(|gate| gate.id.as_str())
            .collect();
        assert_eq!(available, ["seccomp_filter", "unprivileged_userns"]);

        let gates = feature_gates(v(5, 12, 0));
        let missing: Vec<&str> = gates
            .iter()
            .filter(|gate| !gate.available)
            .map(|gate| gate.id.as_str())
            .collect();
        assert_eq!(missing, ["landlock"]);
        let since = |id: &str| gates.iter().find(|g| g.id == id).map(|g| g.since);
        assert_eq!(since("proc_setgroups"), Some(v(3, 19, 0)));
        assert_eq!(since("max_user_namespaces_sysctl"), Some(v(4, 9, 0)));
        assert_eq!(since("time_namespace"), Some(v(5, 6, 0)));
        assert_eq!(since("no_new_privs_status"), Some(v(4, 10, 0)));
        assert_eq!(since("cap_ambient"), Some(v(4, 3, 0)));
    }

    fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let path = dir.path().join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn probe_fills_every_field_for_debian() {
        let dir = fixture(&[
            ("proc/sys/kernel/osrelease", "6.1.0-21-amd64\n"),
            ("proc/version", &format!("{DEBIAN_12}\n")),
        ]);
        let facts = probe(&FactRoot::fixture(dir.path()));
        assert_eq!(
            facts.release.value().map(|r| r.flavour),
            Some(KernelFlavour::Debian)
        );
        assert_eq!(facts.version, Some(v(6, 1, 90)));
        assert_eq!(facts.version_source, Some(VersionSource::ProcVersion));
        assert_eq!(facts.meets_root_backed_floor, Some(true));
        assert_eq!(facts.meets_userns_floor, Some(true));
        assert_eq!(facts.features.len(), FEATURES.len());
        assert_eq!(facts.feature("landlock"), Some(true));
        assert_eq!(facts.feature("no_such_feature"), None);
    }

    #[test]
    fn probe_applies_the_floors() {
        let dir = fixture(&[("proc/sys/kernel/osrelease", "3.10.0-1160.el7.x86_64\n")]);
        let facts = probe(&FactRoot::fixture(dir.path()));
        assert!(facts.proc_version.is_absent());
        assert_eq!(facts.version_source, Some(VersionSource::Release));
        assert_eq!(facts.meets_root_backed_floor, Some(true));
        assert_eq!(facts.meets_userns_floor, Some(false));
        assert_eq!(facts.feature("unprivileged_userns"), Some(true));
        assert_eq!(facts.feature("max_user_namespaces_sysctl"), Some(false));

        let dir = fixture(&[("proc/sys/kernel/osrelease", "3.2.0-4-amd64\n")]);
        let facts = probe(&FactRoot::fixture(dir.path()));
        assert_eq!(facts.meets_root_backed_floor, Some(false));
        assert_eq!(facts.meets_userns_floor, Some(false));
    }

    #[test]
    fn probe_keeps_an_unknown_version_unknown() {
        let dir = fixture(&[("proc/sys/kernel/osrelease", "garbage\n")]);
        let facts = probe(&FactRoot::fixture(dir.path()));
        assert!(matches!(facts.release, Fact::Malformed { .. }));
        assert_eq!(facts.version, None);
        assert_eq!(facts.version_source, None);
        assert_eq!(facts.meets_root_backed_floor, None);
        assert_eq!(facts.meets_userns_floor, None);
        assert!(facts.features.is_empty());
        assert_eq!(facts.feature("landlock"), None);
    }

    #[test]
    fn the_live_host_release_parses() {
        // Every Linux kernel has this file, and whatever it holds must be a release we parse.
        let facts = probe(&FactRoot::host());
        match &facts.release {
            Fact::Present { value, .. } => assert!(value.version >= KernelVersion::new(2, 6, 0)),
            other => panic!("the host's release did not parse: {other:?}"),
        }
        assert!(facts.version.is_some());
        assert_eq!(facts.features.len(), FEATURES.len());
    }

    proptest! {
        #[test]
        fn parse_release_never_panics(raw in any::<String>()) {
            let _ = parse_release(&raw);
        }

        #[test]
        fn parse_release_never_panics_on_release_like_text(raw in "[0-9.+_a-zA-Z-]{0,70}") {
            if let Ok(release) = parse_release(&raw) {
                prop_assert_eq!(release.raw, raw);
            }
        }

        #[test]
        fn parse_release_round_trips_the_numbers(a: u32, b: u32, c: u32) {
            let release = parse_release(&format!("{a}.{b}.{c}-x")).map_err(TestCaseError::fail)?;
            prop_assert_eq!(release.version, KernelVersion::new(a, b, c));
        }

        #[test]
        fn proc_version_parsing_never_panics(text in any::<String>(), raw in "[0-9.a-z-]{0,20}") {
            let _ = distributor_versions(&text);
            let release = parse_release(&raw).ok();
            let _ = effective_version(release.as_ref(), Some(&text));
        }
    }
}
