//! The runtime switches that gate user namespaces: sysctls, RHEL 7's module parameter and boot flags.
//!
//! Each knob is read on its own: an absent file means the kernel has no such gate, which the
//! verdict must not confuse with a gate that is closed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fact::{Fact, FactRoot, RawRead};

/// The user-namespace switches on the kernel command line (RHEL 7.0–7.3 needs both).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CmdlineSwitches {
    /// `user_namespace.enable=`
    pub user_namespace_enable: Option<bool>,
    /// `namespace.unpriv_enable=`
    pub namespace_unpriv_enable: Option<bool>,
}

/// What the sysctl probe found. Absent means the kernel has no such gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SysctlKnobs {
    /// `proc/sys/user/max_user_namespaces` (4.9+; 0 = off)
    pub max_user_namespaces: Fact<u64>,
    /// `proc/sys/kernel/unprivileged_userns_clone` (Debian/Ubuntu/Arch patch; 0 = off)
    pub unprivileged_userns_clone: Fact<u64>,
    /// `proc/sys/kernel/apparmor_restrict_unprivileged_userns` (Ubuntu 23.10+; 1 = restricted)
    pub apparmor_restrict_unprivileged_userns: Fact<u64>,
    /// `proc/sys/kernel/apparmor_restrict_unprivileged_unconfined`
    pub apparmor_restrict_unprivileged_unconfined: Fact<u64>,
    /// `proc/sys/kernel/apparmor_restrict_unprivileged_userns_complain`
    pub apparmor_restrict_unprivileged_userns_complain: Fact<u64>,
    /// `proc/sys/kernel/apparmor_restrict_unprivileged_userns_force`
    pub apparmor_restrict_unprivileged_userns_force: Fact<u64>,
    /// `sys/module/user_namespace/parameters/enable` (RHEL 7; `N` = off)
    pub rhel7_user_namespace_enable: Fact<bool>,
    /// `proc/cmdline`, reduced to the user-namespace switches (the rest is never reported).
    pub cmdline: Fact<CmdlineSwitches>,
}

/// Why a knob's value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SysctlError {
    #[error("failed to parse the value: expected a non-negative number, found {0:?}")]
    ParseNumber(String),
    #[error("failed to parse the value: expected Y, N, 1 or 0, found {0:?}")]
    ParseBool(String),
}

/// Shortens a bad value for an error message: a fixture could hold anything.
fn shown(text: &str) -> String {
    text.chars().take(32).collect()
}

/// Parses a numeric sysctl value (`15000`, with or without the trailing newline).
///
/// Only decimal digits are accepted: a sign or anything else means the file is not the knob
/// we think it is.
pub fn parse_number(text: &str) -> Result<u64, String> {
    parse_number_checked(text).map_err(|err| err.to_string())
}

/// [`parse_number`] with a typed error.
pub fn parse_number_checked(text: &str) -> Result<u64, SysctlError> {
    let value = text.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SysctlError::ParseNumber(shown(value)));
    }
    value
        .parse()
        .map_err(|_| SysctlError::ParseNumber(shown(value)))
}

/// Parses a bool module parameter as the kernel prints it (`Y`/`N`), or as written (`1`/`0`).
pub fn parse_module_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "Y" | "y" | "1" => Ok(true),
        "N" | "n" | "0" => Ok(false),
        other => Err(SysctlError::ParseBool(shown(other)).to_string()),
    }
}

/// A boolean on the kernel command line: `1`/`0`, `y`/`n`, `yes`/`no`, `on`/`off` in any case.
fn cmdline_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "y" | "yes" | "on" => Some(true),
        "0" | "n" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Splits a command line into parameters the way the kernel's `next_arg` does: on whitespace,
/// except inside double quotes.
fn cmdline_params(text: &str) -> Vec<&str> {
    let mut params = Vec::new();
    let mut start = None;
    let mut in_quote = false;
    for (at, c) in text.char_indices() {
        if c == '"' {
            in_quote = !in_quote;
        }
        match (start, c.is_whitespace() && !in_quote) {
            (None, false) => start = Some(at),
            (Some(from), true) => {
                params.push(&text[from..at]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(from) = start {
        params.push(&text[from..]);
    }
    params
}

/// Whether a parameter name matches; the kernel treats `-` and `_` in names alike.
fn param_is(name: &str, wanted: &str) -> bool {
    name.len() == wanted.len()
        && name
            .bytes()
            .zip(wanted.bytes())
            .all(|(a, b)| a == b || (matches!(a, b'-' | b'_') && matches!(b, b'-' | b'_')))
}

/// Reduces /proc/cmdline to the user-namespace switches.
///
/// The rest of the command line may hold secrets (disk keys, tokens), so nothing else is kept,
/// and nothing from it ever appears in an error. The last occurrence of a switch wins, as in
/// the kernel; a value that is not a boolean is ignored, as the kernel ignores it. A bare
/// switch (no `=`) means enabled, as for any bool parameter. Everything after `--` is for init.
pub fn parse_cmdline(text: &str) -> CmdlineSwitches {
    let mut switches = CmdlineSwitches::default();
    for param in cmdline_params(text) {
        if param == "--" {
            break;
        }
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name, Some(value.trim_matches('"'))),
            None => (param, None),
        };
        let slot = if param_is(name, "user_namespace.enable") {
            &mut switches.user_namespace_enable
        } else if param_is(name, "namespace.unpriv_enable") {
            &mut switches.namespace_unpriv_enable
        } else {
            continue;
        };
        match value {
            None => *slot = Some(true),
            Some(value) => {
                if let Some(parsed) = cmdline_bool(value) {
                    *slot = Some(parsed);
                }
            }
        }
    }
    switches
}

/// Reads /proc/cmdline. Bytes that are not UTF-8 are replaced rather than refused: they can
/// only be in parameters we never keep.
fn read_cmdline(root: &FactRoot) -> Fact<CmdlineSwitches> {
    let source = "proc/cmdline".to_string();
    match root.read_bytes(&source) {
        RawRead::Found(bytes) => Fact::Present {
            value: parse_cmdline(&String::from_utf8_lossy(&bytes)),
            source,
        },
        RawRead::Absent => Fact::Absent { source },
        RawRead::Unreadable(errno) => Fact::Unreadable { source, errno },
    }
}

/// Reads the knobs under `root`.
pub fn probe(root: &FactRoot) -> SysctlKnobs {
    SysctlKnobs {
        max_user_namespaces: root.read_fact("proc/sys/user/max_user_namespaces", parse_number),
        unprivileged_userns_clone: root
            .read_fact("proc/sys/kernel/unprivileged_userns_clone", parse_number),
        apparmor_restrict_unprivileged_userns: root.read_fact(
            "proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            parse_number,
        ),
        apparmor_restrict_unprivileged_unconfined: root.read_fact(
            "proc/sys/kernel/apparmor_restrict_unprivileged_unconfined",
            parse_number,
        ),
        apparmor_restrict_unprivileged_userns_complain: root.read_fact(
            "proc/sys/kernel/apparmor_restrict_unprivileged_userns_complain",
            parse_number,
        ),
        apparmor_restrict_unprivileged_userns_force: root.read_fact(
            "proc/sys/kernel/apparmor_restrict_unprivileged_userns_force",
            parse_number,
        ),
        rhel7_user_namespace_enable: root.read_fact(
            "sys/module/user_namespace/parameters/enable",
            parse_module_bool,
        ),
        cmdline: read_cmdline(root),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs;

    #[test]
    fn numbers_are_plain_decimal() {
        assert_eq!(parse_number("15000\n"), Ok(15000));
        assert_eq!(parse_number("0"), Ok(0));
        assert_eq!(parse_number(" 7 \n"), Ok(7));
        assert_eq!(parse_number("18446744073709551615"), Ok(u64::MAX));
        for bad in [
            "",
            "\n",
            "-1",
            "+5",
            "1.5",
            "0x10",
            "abc",
            "1 2",
            "18446744073709551616",
        ] {
            let reason = parse_number(bad).unwrap_err();
            assert!(
                reason.starts_with("failed to parse the value"),
                "{bad:?}: {reason}"
            );
        }
    }

    #[test]
    fn module_bools_read_as_the_kernel_prints_them() {
        assert_eq!(parse_module_bool("Y"), Ok(true));
        assert_eq!(parse_module_bool("N\n"), Ok(false));
        assert_eq!(parse_module_bool("1"), Ok(true));
        assert_eq!(parse_module_bool("0"), Ok(false));
        for bad in ["", "yes", "2", "-1", "true"] {
            assert!(parse_module_bool(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cmdline_keeps_only_the_two_switches() {
        let switches = parse_cmdline(
            "BOOT_IMAGE=/vmlinuz-3.10.0-327.el7.x86_64 root=/dev/mapper/c-root ro \
             user_namespace.enable=1 namespace.unpriv_enable=1 crashkernel=auto quiet\n",
        );
        assert_eq!(
            switches,
            CmdlineSwitches {
                user_namespace_enable: Some(true),
                namespace_unpriv_enable: Some(true),
            }
        );
        assert_eq!(parse_cmdline("ro quiet"), CmdlineSwitches::default());
        assert_eq!(parse_cmdline(""), CmdlineSwitches::default());
    }

    #[test]
    fn cmdline_values_and_the_last_occurrence() {
        let cases: &[(&str, Option<bool>, Option<bool>)] = &[
            ("user_namespace.enable=0", Some(false), None),
            ("user_namespace.enable=y", Some(true), None),
            ("user_namespace.enable=N", Some(false), None),
            (
                "user_namespace.enable=1 user_namespace.enable=0",
                Some(false),
                None,
            ),
            (
                "user_namespace.enable=0 user_namespace.enable=1",
                Some(true),
                None,
            ),
            // A value the kernel cannot parse leaves the earlier one in place.
            (
                "user_namespace.enable=1 user_namespace.enable=maybe",
                Some(true),
                None,
            ),
            ("user_namespace.enable=maybe", None, None),
            ("user_namespace.enable", Some(true), None),
            ("user_namespace.enable=\"1\"", Some(true), None),
            ("user-namespace.enable=1", Some(true), None),
            ("namespace.unpriv_enable=0", None, Some(false)),
            (
                "namespace.unpriv-enable=1 namespace.unpriv_enable=0",
                None,
                Some(false),
            ),
            // Not the switches themselves.
            (
                "xuser_namespace.enable=1 user_namespace.enablex=1",
                None,
                None,
            ),
            ("foo=\"a user_namespace.enable=1 b\"", None, None),
            // Everything after `--` is passed to init.
            ("ro -- user_namespace.enable=1", None, None),
        ];
        for (text, user_ns, unpriv) in cases {
            let switches = parse_cmdline(text);
            assert_eq!(switches.user_namespace_enable, *user_ns, "{text}");
            assert_eq!(switches.namespace_unpriv_enable, *unpriv, "{text}");
        }
    }

    fn write(dir: &std::path::Path, rel: &str, bytes: &[u8]) {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn probe_reads_rhel7_knobs() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/sys/user/max_user_namespaces", b"0\n");
        write(
            dir.path(),
            "sys/module/user_namespace/parameters/enable",
            b"N\n",
        );
        write(
            dir.path(),
            "proc/cmdline",
            b"root=/dev/sda1 luks.key=\xff\xfesecret user_namespace.enable=1\n",
        );
        let knobs = probe(&FactRoot::fixture(dir.path()));
        assert_eq!(knobs.max_user_namespaces.value(), Some(&0));
        assert_eq!(knobs.rhel7_user_namespace_enable.value(), Some(&false));
        assert_eq!(
            knobs.cmdline.value(),
            Some(&CmdlineSwitches {
                user_namespace_enable: Some(true),
                namespace_unpriv_enable: None,
            })
        );
        assert!(knobs.unprivileged_userns_clone.is_absent());
        assert!(knobs.apparmor_restrict_unprivileged_userns.is_absent());
        // The secret never reaches the facts.
        let json = serde_json::to_string(&knobs).unwrap();
        assert!(!json.contains("secret"), "{json}");
    }

    #[test]
    fn probe_keeps_malformed_and_unreadable_apart() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "proc/sys/kernel/unprivileged_userns_clone",
            b"-1\n",
        );
        write(
            dir.path(),
            "sys/module/user_namespace/parameters/enable",
            b"maybe\n",
        );
        fs::create_dir_all(dir.path().join("proc/cmdline")).unwrap();
        let knobs = probe(&FactRoot::fixture(dir.path()));
        assert!(matches!(
            knobs.unprivileged_userns_clone,
            Fact::Malformed { .. }
        ));
        assert!(matches!(
            knobs.rhel7_user_namespace_enable,
            Fact::Malformed { .. }
        ));
        assert_eq!(
            knobs.cmdline,
            Fact::Unreadable {
                source: "proc/cmdline".into(),
                errno: "EISDIR".into()
            }
        );
        assert!(knobs.max_user_namespaces.is_absent());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in any::<String>()) {
            let _ = parse_number(&text);
            let _ = parse_module_bool(&text);
            let _ = parse_cmdline(&text);
        }

        #[test]
        fn numbers_round_trip(n: u64) {
            prop_assert_eq!(parse_number(&format!("{n}\n")), Ok(n));
            let negative = format!("-{n}");
            prop_assert!(parse_number(&negative).is_err());
        }

        #[test]
        fn the_last_switch_wins(values in proptest::collection::vec(any::<bool>(), 1..6)) {
            let text: Vec<String> = values
                .iter()
                .map(|v| format!("quiet namespace.unpriv_enable={}", u8::from(*v)))
                .collect();
            let switches = parse_cmdline(&text.join(" "));
            prop_assert_eq!(switches.namespace_unpriv_enable, values.last().copied());
            prop_assert_eq!(switches.user_namespace_enable, None);
        }
    }
}
