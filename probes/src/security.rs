//! The confinement around us: container or VM, LSMs, and whether /proc/sys can be changed from here.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fact::{Fact, FactRoot};

/// A container runtime or virtualisation layer that changes what is possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Docker,
    Podman,
    Kubernetes,
    Lxc,
    SystemdNspawn,
    /// Some other container, named by `container=` or /run/systemd/container.
    OtherContainer,
    Wsl,
    Gvisor,
}

/// One detection, with the evidence that triggered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Detection {
    pub environment: Environment,
    /// e.g. `/.dockerenv exists`, `proc/1/cgroup mentions kubepods`.
    pub evidence: String,
}

/// The Linux security modules that matter to namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LsmFacts {
    /// `sys/kernel/security/lsm`, split on commas.
    pub active: Fact<Vec<String>>,
    /// `sys/module/apparmor/parameters/enabled` (`Y`).
    pub apparmor_enabled: Fact<bool>,
    /// `sys/fs/selinux/enforce` (`1` = enforcing).
    pub selinux_enforcing: Fact<bool>,
    /// `proc/self/attr/current`: this process's AppArmor/SELinux label.
    pub label: Fact<String>,
}

/// What the security-context probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecurityContext {
    /// Most specific first; empty on a bare host or VM we cannot tell from one.
    pub detections: Vec<Detection>,
    pub lsm: LsmFacts,
    /// /proc/sys is mounted read-only (from `proc/self/mountinfo`): sysctl fixes cannot be
    /// applied from here.
    pub proc_sys_read_only: Fact<bool>,
}

impl SecurityContext {
    /// The most specific environment detected, if any.
    pub fn environment(&self) -> Option<Environment> {
        self.detections.first().map(|d| d.environment)
    }
}

/// Reads the security context under `root`.
pub fn probe(root: &FactRoot) -> SecurityContext {
    SecurityContext {
        detections: Vec::new(),
        lsm: LsmFacts {
            active: root.read_fact("sys/kernel/security/lsm", |t| {
                Ok(t.split(',').map(str::to_string).collect())
            }),
            apparmor_enabled: root.read_fact("sys/module/apparmor/parameters/enabled", |t| {
                Ok(t.trim() == "Y")
            }),
            selinux_enforcing: root.read_fact("sys/fs/selinux/enforce", |t| Ok(t.trim() == "1")),
            label: root.read_text("proc/self/attr/current"),
        },
        proc_sys_read_only: Fact::Absent {
            source: "proc/self/mountinfo".into(),
        },
    }
}
