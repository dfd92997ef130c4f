//! The runtime switches that gate user namespaces: sysctls, RHEL 7's module parameter and boot flags.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fact::{Fact, FactRoot};

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

/// Parses a numeric sysctl value.
pub fn parse_number(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("expected a number, found {:?}", text.trim()))
}

/// Reads the knobs under `root`.
pub fn probe(root: &FactRoot) -> SysctlKnobs {
    SysctlKnobs {
        max_user_namespaces: root.read_fact("proc/sys/user/max_user_namespaces", parse_number),
        unprivileged_userns_clone: root
            .read_fact("proc/sys/kernel/unprivileged_userns_clone", parse_number),
        apparmor_restrict_unprivileged_userns: root
            .read_fact("proc/sys/kernel/apparmor_restrict_unprivileged_userns", parse_number),
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
            |t| Err(format!("not yet parsed: {t}")),
        ),
        cmdline: root.read_fact("proc/cmdline", |_| Ok(CmdlineSwitches::default())),
    }
}
