//! Kernel build configuration: is CONFIG_USER_NS and the rest of the namespace stack compiled in?
//!
//! The config is looked for where the distributions put it (FACTS.md: /proc/config.gz on Arch,
//! openSUSE and WSL2; /boot on Debian, Ubuntu, Fedora, RHEL and AL2). When there is none, the
//! existence of /proc/self/ns/user stands in for CONFIG_USER_NS=y.

use std::collections::BTreeMap;
use std::io::Read;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fact::{Fact, FactRoot, RawRead};

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

impl KernelConfig {
    /// The value of a tracked option (`USER_NS`), `None` for an untracked one.
    pub fn get(&self, option: &str) -> Option<Tristate> {
        self.options.get(option).copied()
    }
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

/// The compressed config is small (about 35 KiB for 250 KiB of text); this cap only stops a
/// crafted fixture from inflating into gigabytes.
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// The candidate that holds the running kernel's config on Arch, openSUSE and WSL2.
pub const PROC_CONFIG_GZ: &str = "proc/config.gz";

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KconfigError {
    #[error("failed to decompress the kernel config: {0}")]
    Decompress(std::io::Error),
    #[error("failed to decompress the kernel config: it inflates to more than {} MiB", MAX_DECOMPRESSED_BYTES / (1024 * 1024))]
    DecompressTooLarge,
    #[error("failed to parse the kernel config: it is empty")]
    ParseEmpty,
    #[error("failed to parse the kernel config: no CONFIG_ line, so it is not a kernel config")]
    ParseNoOptions,
    #[error(
        "failed to parse the kernel config: line {line} is neither an option, a comment nor blank"
    )]
    ParseLine { line: usize },
    #[error("failed to parse the kernel config: line {line} sets CONFIG_{option} to {value:?}, expected y, m or n")]
    ParseValue {
        line: usize,
        option: String,
        value: String,
    },
}

/// Parses the text of a kernel .config, keeping only [`TRACKED_OPTIONS`].
pub fn parse_config(text: &str) -> Result<KernelConfig, String> {
    parse_config_checked(text).map_err(|err| err.to_string())
}

/// [`parse_config`] with a typed error.
pub fn parse_config_checked(text: &str) -> Result<KernelConfig, KconfigError> {
    if text.trim().is_empty() {
        return Err(KconfigError::ParseEmpty);
    }
    let mut parser = ConfigParser::new();
    for line in text.lines() {
        parser.feed(line)?;
    }
    parser.finish()
}

/// Line-by-line kconfig parsing, shared by the whole-file and the streaming readers.
struct ConfigParser {
    options: BTreeMap<String, Tristate>,
    /// How many tracked options have been assigned so far (each counted once).
    tracked_seen: usize,
    seen: Vec<&'static str>,
    saw_option: bool,
    line_no: usize,
}

impl ConfigParser {
    fn new() -> Self {
        ConfigParser {
            options: TRACKED_OPTIONS
                .iter()
                .map(|name| ((*name).to_string(), Tristate::No))
                .collect(),
            tracked_seen: 0,
            seen: Vec::new(),
            saw_option: false,
            line_no: 0,
        }
    }

    /// Every tracked option has been read.
    fn complete(&self) -> bool {
        self.tracked_seen == TRACKED_OPTIONS.len()
    }

    fn note_tracked(&mut self, name: &str) {
        if let Some(tracked) = TRACKED_OPTIONS.iter().find(|t| **t == name) {
            if !self.seen.contains(tracked) {
                self.seen.push(tracked);
                self.tracked_seen += 1;
            }
        }
    }

    fn feed(&mut self, line: &str) -> Result<(), KconfigError> {
        self.line_no += 1;
        let line_no = self.line_no;
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        if let Some(comment) = line.strip_prefix('#') {
            // `# CONFIG_X is not set` is how kconfig writes an unset bool or tristate.
            if let Some(name) = comment
                .trim_start()
                .strip_prefix("CONFIG_")
                .and_then(|rest| rest.strip_suffix(" is not set"))
            {
                self.saw_option = true;
                if let Some(value) = self.options.get_mut(name) {
                    *value = Tristate::No;
                }
                self.note_tracked(name);
            }
            return Ok(());
        }
        let Some((name, value)) = line
            .strip_prefix("CONFIG_")
            .and_then(|rest| rest.split_once('='))
        else {
            return Err(KconfigError::ParseLine { line: line_no });
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(KconfigError::ParseLine { line: line_no });
        }
        self.saw_option = true;
        // Untracked options may hold strings, numbers or hex; only tracked ones are checked.
        if let Some(slot) = self.options.get_mut(name) {
            // A later assignment overrides an earlier one, as in kconfig itself.
            *slot = match value {
                "y" => Tristate::Yes,
                "m" => Tristate::Module,
                "n" => Tristate::No,
                other => {
                    return Err(KconfigError::ParseValue {
                        line: line_no,
                        option: name.to_string(),
                        value: other.chars().take(40).collect(),
                    })
                }
            };
            self.note_tracked(name);
        }
        Ok(())
    }

    fn finish(self) -> Result<KernelConfig, KconfigError> {
        if !self.saw_option {
            return Err(KconfigError::ParseNoOptions);
        }
        Ok(KernelConfig {
            options: self.options,
        })
    }
}

/// Reads a gzip'd config only as far as the last tracked option.
///
/// Used for the live kernel's own /proc/config.gz, which the kernel generates and which cannot
/// be truncated: the tracked options sit in the first fifth of a real config, so stopping there
/// saves most of the inflating on the check's critical path. Fixtures are read whole instead
/// (see [`parse_config_bytes`]), so a damaged file anywhere is refused.
pub fn parse_config_gz_prefix(bytes: &[u8]) -> Result<KernelConfig, KconfigError> {
    use std::io::BufRead;
    let mut reader =
        std::io::BufReader::new(flate2::read::GzDecoder::new(bytes).take(MAX_DECOMPRESSED_BYTES));
    let mut parser = ConfigParser::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(KconfigError::Decompress)?;
        if read == 0 {
            break;
        }
        parser.feed(&String::from_utf8_lossy(&line))?;
        if parser.complete() {
            break;
        }
    }
    if parser.line_no == 0 {
        return Err(KconfigError::ParseEmpty);
    }
    parser.finish()
}

/// Inflates a gzip'd config, refusing one that inflates past [`MAX_DECOMPRESSED_BYTES`].
pub fn decompress_config(bytes: &[u8]) -> Result<Vec<u8>, KconfigError> {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(KconfigError::Decompress)?;
    if text.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(KconfigError::DecompressTooLarge);
    }
    Ok(text)
}

/// Parses a config file's bytes; `gzip` for `proc/config.gz`.
///
/// Bytes that are not UTF-8 are replaced rather than refused: a string option's value may hold
/// anything, and the tracked options are plain ASCII.
pub fn parse_config_bytes(bytes: &[u8], gzip: bool) -> Result<KernelConfig, KconfigError> {
    let inflated;
    let plain = if gzip {
        inflated = decompress_config(bytes)?;
        inflated.as_slice()
    } else {
        bytes
    };
    parse_config_checked(&String::from_utf8_lossy(plain))
}

/// The paths to look for a config in, in order. The release-based ones are left out when the
/// release is unknown or could step outside its directory.
pub fn candidates(release: Option<&str>) -> Vec<String> {
    let mut paths = vec![PROC_CONFIG_GZ.to_string()];
    let usable = release.filter(|r| {
        !r.is_empty() && *r != "." && *r != ".." && !r.contains('/') && !r.contains('\0')
    });
    if let Some(release) = usable {
        paths.push(format!("boot/config-{release}"));
        paths.push(format!("lib/modules/{release}/build/.config"));
        paths.push(format!("lib/modules/{release}/config"));
    }
    paths
}

/// Reads one candidate into a fact.
fn read_candidate(root: &FactRoot, rel: &str) -> Fact<KernelConfig> {
    let source = rel.to_string();
    match root.read_bytes(rel) {
        RawRead::Found(bytes) => match if root.is_host() && rel.ends_with(".gz") {
            parse_config_gz_prefix(&bytes)
        } else {
            parse_config_bytes(&bytes, rel.ends_with(".gz"))
        } {
            Ok(value) => Fact::Present { source, value },
            Err(err) => Fact::Malformed {
                source,
                reason: err.to_string(),
            },
        },
        RawRead::Absent => Fact::Absent { source },
        RawRead::Unreadable(errno) => Fact::Unreadable { source, errno },
    }
}

/// Reads the kernel config under `root`; `release` is `uname -r`, used in the candidate paths.
///
/// The first candidate that exists wins, even when it is unreadable or malformed: skipping to
/// an older file in /boot could report a config that is not the running kernel's.
pub fn probe(root: &FactRoot, release: Option<&str>) -> KconfigFacts {
    let all = candidates(release);
    let mut tried = Vec::new();
    let mut found = None;
    for rel in &all {
        tried.push(rel.clone());
        let fact = read_candidate(root, rel);
        if !fact.is_absent() {
            found = Some(fact);
            break;
        }
    }
    let config = found.unwrap_or_else(|| Fact::Absent {
        source: PROC_CONFIG_GZ.to_string(),
    });
    let user_ns = match config.value().and_then(|config| config.get("USER_NS")) {
        // USER_NS is a bool option; `m` cannot be built, but it would mean compiled in.
        Some(Tristate::Yes | Tristate::Module) => UserNsConfig::Enabled,
        Some(Tristate::No) => UserNsConfig::Disabled,
        None if root.exists("proc/self/ns/user") => UserNsConfig::InferredEnabled,
        None => UserNsConfig::InferredDisabled,
    };
    KconfigFacts {
        config,
        candidates: tried,
        user_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use proptest::prelude::*;
    use std::fs;
    use std::io::Write;

    const DEBIAN_SNIPPET: &str = "\
#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.1.90 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14) 12.2.0\"
CONFIG_NAMESPACES=y
CONFIG_UTS_NS=y
CONFIG_TIME_NS=y
CONFIG_IPC_NS=y
CONFIG_USER_NS=y
CONFIG_PID_NS=y
CONFIG_NET_NS=y
CONFIG_CGROUPS=y
CONFIG_SECCOMP_FILTER=y
CONFIG_HZ=250
CONFIG_ARCH_MMAP_RND_BITS_MIN=0x1c
# CONFIG_USER_NS_UNPRIVILEGED is not set
CONFIG_OVERLAY_FS=m
";

    const ARCH_4_13: &str = "\
CONFIG_NAMESPACES=y
CONFIG_UTS_NS=y
CONFIG_IPC_NS=y
# CONFIG_USER_NS is not set
CONFIG_PID_NS=y
CONFIG_NET_NS=y
";

    fn gzip(text: &str) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    fn write(dir: &std::path::Path, rel: &str, bytes: &[u8]) {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn tracked_options_are_read_and_the_rest_ignored() {
        let config = parse_config(DEBIAN_SNIPPET).unwrap();
        assert_eq!(config.options.len(), TRACKED_OPTIONS.len());
        for option in TRACKED_OPTIONS {
            assert_eq!(config.get(option), Some(Tristate::Yes), "{option}");
        }
        assert_eq!(config.get("OVERLAY_FS"), None);
        assert_eq!(config.get("USER_NS_UNPRIVILEGED"), None);
    }

    #[test]
    fn not_set_missing_and_module_are_told_apart() {
        let config = parse_config(ARCH_4_13).unwrap();
        assert_eq!(config.get("USER_NS"), Some(Tristate::No));
        assert_eq!(config.get("SECCOMP_FILTER"), Some(Tristate::No));
        assert_eq!(config.get("CGROUPS"), Some(Tristate::No));
        assert_eq!(config.get("PID_NS"), Some(Tristate::Yes));

        let config = parse_config("CONFIG_CGROUPS=m\r\nCONFIG_USER_NS=n\n").unwrap();
        assert_eq!(config.get("CGROUPS"), Some(Tristate::Module));
        assert_eq!(config.get("USER_NS"), Some(Tristate::No));
    }

    #[test]
    fn the_last_assignment_wins() {
        let config = parse_config("CONFIG_USER_NS=y\n# CONFIG_USER_NS is not set\n").unwrap();
        assert_eq!(config.get("USER_NS"), Some(Tristate::No));
        let config = parse_config("# CONFIG_USER_NS is not set\nCONFIG_USER_NS=y\n").unwrap();
        assert_eq!(config.get("USER_NS"), Some(Tristate::Yes));
    }

    #[test]
    fn text_that_is_not_a_kconfig_is_malformed() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("\n\n  \n", "empty"),
            ("# just a comment\n#\n", "no CONFIG_ line"),
            ("hello world\n", "line 1"),
            ("root:x:0:0:root:/root:/bin/bash\n", "line 1"),
            ("CONFIG_USER_NS=y\nCONFIG_PID_NS\n", "line 2"),
            ("CONFIG_=y\n", "line 1"),
            ("CONFIG_USER NS=y\n", "line 1"),
            ("CONFIG_USER_NS=\"y\"\n", "CONFIG_USER_NS to \"\\\"y\\\"\""),
            ("CONFIG_CGROUPS=1\n", "expected y, m or n"),
            ("CONFIG_NAMESPACES=\n", "expected y, m or n"),
        ];
        for (text, why) in cases {
            match parse_config(text) {
                Ok(config) => panic!("{text:?} parsed as {config:?}"),
                Err(reason) => {
                    assert!(reason.contains(why), "{text:?}: {reason}");
                    assert!(reason.starts_with("failed to parse the kernel config"));
                }
            }
        }
    }

    #[test]
    fn the_live_prefix_reader_agrees_with_the_whole_file_and_stops_early() {
        let mut text = DEBIAN_SNIPPET.to_string();
        for i in 0..5000 {
            text.push_str(&format!("CONFIG_FILLER_{i}=y\n"));
        }
        let bytes = gzip(&text);
        let whole = parse_config_bytes(&bytes, true).unwrap();
        assert_eq!(parse_config_gz_prefix(&bytes).unwrap(), whole);
        // Damage after the tracked options is not read by the live reader...
        let cut = &bytes[..bytes.len() / 2];
        assert_eq!(parse_config_gz_prefix(cut).unwrap(), whole);
        // ...but the whole-file reader used for fixtures refuses it.
        assert!(parse_config_bytes(cut, true).is_err());
        // A file damaged before the tracked options fails either way.
        assert!(parse_config_gz_prefix(&bytes[..12]).is_err());
        assert!(parse_config_gz_prefix(&gzip("")).is_err());
        assert!(parse_config_gz_prefix(&gzip("this is not a config\n")).is_err());
    }

    #[test]
    fn gzip_round_trip() {
        let bytes = gzip(DEBIAN_SNIPPET);
        let config = parse_config_bytes(&bytes, true).unwrap();
        assert_eq!(config, parse_config(DEBIAN_SNIPPET).unwrap());
    }

    #[test]
    fn truncated_or_plain_gzip_is_malformed_not_a_panic() {
        let bytes = gzip(DEBIAN_SNIPPET);
        for cut in [0, 1, 5, 10, bytes.len() / 2, bytes.len() - 1] {
            let err = parse_config_bytes(&bytes[..cut], true).unwrap_err();
            let reason = err.to_string();
            assert!(
                reason.starts_with("failed to decompress the kernel config")
                    || reason.starts_with("failed to parse the kernel config"),
                "cut {cut}: {reason}"
            );
        }
        let err = parse_config_bytes(bytes.len().to_string().as_bytes(), true).unwrap_err();
        assert!(matches!(err, KconfigError::Decompress(_)), "{err}");
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        // 65 MiB of blank lines compress to about 64 KiB.
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        let chunk = vec![b'\n'; 1024 * 1024];
        for _ in 0..65 {
            encoder.write_all(&chunk).unwrap();
        }
        let bytes = encoder.finish().unwrap();
        assert!(matches!(
            decompress_config(&bytes),
            Err(KconfigError::DecompressTooLarge)
        ));
    }

    #[test]
    fn candidates_follow_facts_order_and_refuse_odd_releases() {
        assert_eq!(
            candidates(Some("6.1.0-21-amd64")),
            [
                "proc/config.gz",
                "boot/config-6.1.0-21-amd64",
                "lib/modules/6.1.0-21-amd64/build/.config",
                "lib/modules/6.1.0-21-amd64/config",
            ]
        );
        for release in [
            None,
            Some(""),
            Some("."),
            Some(".."),
            Some("../../etc"),
            Some("a/b"),
        ] {
            assert_eq!(candidates(release), ["proc/config.gz"], "{release:?}");
        }
    }

    #[test]
    fn proc_config_gz_wins_over_boot() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/config.gz", &gzip(DEBIAN_SNIPPET));
        write(
            dir.path(),
            "boot/config-4.13.12-1-ARCH",
            ARCH_4_13.as_bytes(),
        );
        let facts = probe(&FactRoot::fixture(dir.path()), Some("4.13.12-1-ARCH"));
        assert_eq!(facts.config.source(), "proc/config.gz");
        assert_eq!(facts.user_ns, UserNsConfig::Enabled);
        assert_eq!(facts.candidates, ["proc/config.gz"]);
    }

    #[test]
    fn each_later_candidate_is_found_in_order() {
        let release = "4.13.12-1-ARCH";
        let all = candidates(Some(release));
        for (index, rel) in all.iter().enumerate().skip(1) {
            let dir = tempfile::tempdir().unwrap();
            // Put the config at this candidate and a contradicting one at every later one.
            write(dir.path(), rel, ARCH_4_13.as_bytes());
            for later in &all[index + 1..] {
                write(dir.path(), later, DEBIAN_SNIPPET.as_bytes());
            }
            let facts = probe(&FactRoot::fixture(dir.path()), Some(release));
            assert_eq!(facts.config.source(), rel);
            assert_eq!(facts.user_ns, UserNsConfig::Disabled, "{rel}");
            assert_eq!(facts.candidates, all[..=index], "{rel}");
        }
    }

    #[test]
    fn a_broken_first_candidate_is_reported_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = gzip(DEBIAN_SNIPPET);
        write(dir.path(), "proc/config.gz", &bytes[..bytes.len() / 2]);
        write(
            dir.path(),
            "boot/config-6.1.0-21-amd64",
            ARCH_4_13.as_bytes(),
        );
        write(dir.path(), "proc/self/ns/user", b"");
        let facts = probe(&FactRoot::fixture(dir.path()), Some("6.1.0-21-amd64"));
        match &facts.config {
            Fact::Malformed { source, reason } => {
                assert_eq!(source, "proc/config.gz");
                assert!(reason.starts_with("failed to decompress"), "{reason}");
            }
            other => panic!("expected malformed, got {other:?}"),
        }
        // The config is unknown, so the namespace file decides.
        assert_eq!(facts.user_ns, UserNsConfig::InferredEnabled);

        // A directory where the file should be is unreadable, and also not skipped.
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proc/config.gz")).unwrap();
        write(
            dir.path(),
            "boot/config-6.1.0-21-amd64",
            DEBIAN_SNIPPET.as_bytes(),
        );
        let facts = probe(&FactRoot::fixture(dir.path()), Some("6.1.0-21-amd64"));
        assert_eq!(
            facts.config,
            Fact::Unreadable {
                source: "proc/config.gz".into(),
                errno: "EISDIR".into()
            }
        );
        assert_eq!(facts.user_ns, UserNsConfig::InferredDisabled);
    }

    #[test]
    fn without_any_config_user_ns_is_inferred() {
        let dir = tempfile::tempdir().unwrap();
        let facts = probe(&FactRoot::fixture(dir.path()), Some("6.8.0-31-generic"));
        assert_eq!(
            facts.config,
            Fact::Absent {
                source: "proc/config.gz".into()
            }
        );
        assert_eq!(facts.candidates, candidates(Some("6.8.0-31-generic")));
        assert_eq!(facts.user_ns, UserNsConfig::InferredDisabled);

        // /proc/self/ns/user is a symlink to `user:[4026531837]`, dangling outside /proc.
        fs::create_dir_all(dir.path().join("proc/self/ns")).unwrap();
        std::os::unix::fs::symlink("user:[4026531837]", dir.path().join("proc/self/ns/user"))
            .unwrap();
        let facts = probe(&FactRoot::fixture(dir.path()), None);
        assert_eq!(facts.candidates, ["proc/config.gz"]);
        assert_eq!(facts.user_ns, UserNsConfig::InferredEnabled);
    }

    #[test]
    fn the_live_host_config_is_never_malformed() {
        // Whatever config this host has (often /proc/config.gz) must parse; having none is fine.
        let root = FactRoot::host();
        let kernel = crate::kernel::probe(&root);
        let release = kernel.release.value().map(|r| r.raw.as_str());
        let facts = probe(&root, release);
        assert!(
            !matches!(facts.config, Fact::Malformed { .. }),
            "{:?}",
            facts.config
        );
        if let Some(config) = facts.config.value() {
            assert_eq!(config.options.len(), TRACKED_OPTIONS.len());
        }
    }

    proptest! {
        #[test]
        fn parse_config_never_panics(text in any::<String>()) {
            let _ = parse_config(&text);
        }

        #[test]
        fn parse_config_never_panics_on_config_like_text(
            text in "((# )?CONFIG_[A-Z_]{0,12}(=[ymn\"0-9a-z]{0,3}| is not set)?\n){0,8}"
        ) {
            if let Ok(config) = parse_config(&text) {
                prop_assert_eq!(config.options.len(), TRACKED_OPTIONS.len());
            }
        }

        #[test]
        fn gzip_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_config_bytes(&bytes, true);
            let _ = parse_config_bytes(&bytes, false);
        }

        #[test]
        fn truncating_a_gzip_never_panics(cut in 0usize..400) {
            let bytes = gzip(DEBIAN_SNIPPET);
            let cut = cut.min(bytes.len());
            let _ = parse_config_bytes(&bytes[..cut], true);
        }
    }
}
