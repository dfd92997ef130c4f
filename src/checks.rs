//! The per-check rows of a report: each probe's fact judged pass/fail/warn/unknown/skip, with evidence.
//!
//! Check ids are stable snake_case strings and are part of the JSON contract (docs/json.md).
//! The judgement of a single fact lives here; the overall mode lives in [`crate::verdict`].

use sandprobe_probes::fact::Fact;
use sandprobe_probes::kconfig::{Tristate, UserNsConfig};
use sandprobe_probes::kernel::{ROOT_BACKED_FLOOR, USERNS_FLOOR};
use sandprobe_probes::process::SeccompMode;
use sandprobe_probes::trials::Trial;
use sandprobe_probes::HostFacts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::verdict::{environment_name, trial_evidence, Blocker, Verdict};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The fact allows sandboxing.
    Pass,
    /// The fact blocks a mode.
    Fail,
    /// Allowed, but worth knowing (weaker protection, a fix cannot be applied from here…).
    Warn,
    /// The fact could not be established (unreadable, malformed, not reported).
    Unknown,
    /// The check does not apply here (no such gate on this kernel, trial not run).
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Unknown => "unknown",
            Status::Skip => "skip",
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    /// Stable snake_case id.
    pub id: String,
    pub status: Status,
    /// The fact's value, as JSON (a number, a string, an object); null when unknown.
    pub value: Value,
    /// Where the value came from and what it showed.
    pub evidence: String,
    /// The id of the remediation that fixes this check, when the verdict has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

fn check(id: &str, status: Status, value: Value, evidence: impl Into<String>) -> Check {
    Check {
        id: id.into(),
        status,
        value,
        evidence: evidence.into(),
        remediation: None,
    }
}

/// The status of an unreadable/malformed fact.
fn unknown_of<T>(fact: &Fact<T>) -> Option<Status> {
    match fact {
        Fact::Unreadable { .. } | Fact::Malformed { .. } => Some(Status::Unknown),
        _ => None,
    }
}

/// Builds every check, in report order, and links each failing one to its remediation.
pub fn build(facts: &HostFacts, verdict: &Verdict) -> Vec<Check> {
    let mut checks = vec![
        kernel_version(facts),
        config_user_ns(facts),
        namespaces_config(facts),
        max_user_namespaces(facts),
        unprivileged_userns_clone(facts),
        apparmor_userns_restriction(facts),
        rhel7_user_namespace(facts),
        container(facts),
        proc_sys_writable(facts),
        root_mount(facts),
        seccomp(facts),
        no_new_privs(facts),
        privileges(facts),
        lsm(facts),
        landlock(facts),
        trial_check(
            "userns_trial",
            &facts.trials.userns,
            verdict.userns_blocker.is_none(),
        ),
        trial_check(
            "root_backed_trial",
            &facts.trials.root_backed,
            verdict.root_backed_blocker.is_none(),
        ),
    ];
    // The blocker's check fails, whatever its own reading said.
    for blocker in [verdict.userns_blocker, verdict.root_backed_blocker]
        .into_iter()
        .flatten()
    {
        if let Some(row) = checks.iter_mut().find(|c| c.id == blocker.check_id()) {
            if blocker != Blocker::Unexplained && blocker != Blocker::NotRoot {
                row.status = Status::Fail;
            }
        }
    }
    for fix in &verdict.remediations {
        let id = fix.fixes.check_id();
        if let Some(row) = checks
            .iter_mut()
            .find(|c| c.id == id && c.remediation.is_none())
        {
            row.remediation = Some(fix.id.clone());
        }
    }
    checks
}

fn kernel_version(facts: &HostFacts) -> Check {
    let k = &facts.kernel;
    let release = match &k.release {
        Fact::Present { value, .. } => value.raw.clone(),
        other => {
            return check(
                "kernel_version",
                unknown_of(other).unwrap_or(Status::Unknown),
                Value::Null,
                other.source().to_string() + " could not be read",
            )
        }
    };
    let Some(version) = k.version else {
        return check(
            "kernel_version",
            Status::Unknown,
            json!(release),
            "no version",
        );
    };
    let source = match k.version_source {
        Some(sandprobe_probes::kernel::VersionSource::ProcVersion) => {
            format!("release {release}; real version {version} from proc/version")
        }
        _ => format!("release {release}"),
    };
    let status = if version < ROOT_BACKED_FLOOR {
        Status::Fail
    } else if version < USERNS_FLOOR {
        Status::Warn
    } else {
        Status::Pass
    };
    check(
        "kernel_version",
        status,
        json!(version.to_string()),
        format!("{source} (root-backed needs ≥{ROOT_BACKED_FLOOR}, userns ≥{USERNS_FLOOR})"),
    )
}

fn config_user_ns(facts: &HostFacts) -> Check {
    let kc = &facts.kconfig;
    let (status, value) = match kc.user_ns {
        UserNsConfig::Enabled => (Status::Pass, "y"),
        UserNsConfig::Disabled => (Status::Fail, "n"),
        UserNsConfig::InferredEnabled => (Status::Pass, "y (inferred)"),
        UserNsConfig::InferredDisabled => (Status::Fail, "n (inferred)"),
    };
    let evidence = match &kc.config {
        Fact::Present { source, .. } => format!("CONFIG_USER_NS in {source}"),
        Fact::Absent { .. } => format!(
            "no kernel config found ({}); inferred from proc/self/ns/user",
            kc.candidates.join(", ")
        ),
        other => format!(
            "{}; inferred from proc/self/ns/user",
            other.bad().map(|b| b.to_string()).unwrap_or_default()
        ),
    };
    check("config_user_ns", status, json!(value), evidence)
}

fn namespaces_config(facts: &HostFacts) -> Check {
    let Some(config) = facts.kconfig.config.value() else {
        return check(
            "config_namespaces",
            Status::Unknown,
            Value::Null,
            "no kernel config to read",
        );
    };
    let missing: Vec<&str> = config
        .options
        .iter()
        .filter(|(_, v)| **v == Tristate::No)
        .map(|(k, _)| k.as_str())
        .collect();
    let value: serde_json::Map<String, Value> = config
        .options
        .iter()
        .map(|(k, v)| (format!("CONFIG_{k}"), json!(v)))
        .collect();
    let (status, evidence) = if missing.is_empty() {
        (
            Status::Pass,
            "every namespace option is built in".to_string(),
        )
    } else {
        (
            Status::Fail,
            format!("not set: CONFIG_{}", missing.join(", CONFIG_")),
        )
    };
    check("config_namespaces", status, Value::Object(value), evidence)
}

/// A knob where one value disables and absence means "no such gate".
fn knob_check(id: &str, fact: &Fact<u64>, off: impl Fn(u64) -> bool, absent: &str) -> Check {
    match fact {
        Fact::Present { value, source } => check(
            id,
            if off(*value) {
                Status::Fail
            } else {
                Status::Pass
            },
            json!(value),
            format!("{source} = {value}"),
        ),
        Fact::Absent { source } => check(
            id,
            Status::Skip,
            Value::Null,
            format!("{source} absent: {absent}"),
        ),
        other => check(
            id,
            Status::Unknown,
            Value::Null,
            other.bad().map(|b| b.to_string()).unwrap_or_default(),
        ),
    }
}

fn max_user_namespaces(facts: &HostFacts) -> Check {
    knob_check(
        "max_user_namespaces",
        &facts.knobs.max_user_namespaces,
        |v| v == 0,
        "kernel before 4.9, no limit",
    )
}

fn unprivileged_userns_clone(facts: &HostFacts) -> Check {
    knob_check(
        "unprivileged_userns_clone",
        &facts.knobs.unprivileged_userns_clone,
        |v| v == 0,
        "this kernel has no such gate",
    )
}

fn apparmor_userns_restriction(facts: &HostFacts) -> Check {
    let knobs = &facts.knobs;
    let mut row = knob_check(
        "apparmor_userns_restriction",
        &knobs.apparmor_restrict_unprivileged_userns,
        |v| v != 0,
        "no AppArmor user-namespace restriction on this kernel",
    );
    // EACCES here is common for unprivileged readers: unknown, never "off".
    let siblings = [
        (
            "unconfined",
            &knobs.apparmor_restrict_unprivileged_unconfined,
        ),
        (
            "complain",
            &knobs.apparmor_restrict_unprivileged_userns_complain,
        ),
        ("force", &knobs.apparmor_restrict_unprivileged_userns_force),
    ];
    let present: Vec<String> = siblings
        .iter()
        .filter_map(|(name, f)| f.value().map(|v| format!("{name}={v}")))
        .collect();
    if !present.is_empty() {
        row.evidence.push_str(&format!(" ({})", present.join(", ")));
    }
    row
}

fn rhel7_user_namespace(facts: &HostFacts) -> Check {
    let knobs = &facts.knobs;
    let cmdline = knobs.cmdline.value();
    let cmd = cmdline
        .map(|c| {
            format!(
                "; cmdline user_namespace.enable={} namespace.unpriv_enable={}",
                c.user_namespace_enable
                    .map_or("unset".into(), |b| u8::from(b).to_string()),
                c.namespace_unpriv_enable
                    .map_or("unset".into(), |b| u8::from(b).to_string())
            )
        })
        .unwrap_or_default();
    match &knobs.rhel7_user_namespace_enable {
        Fact::Present { value, source } => check(
            "rhel7_user_namespace",
            if *value { Status::Pass } else { Status::Fail },
            json!(value),
            format!("{source} = {}{cmd}", if *value { "Y" } else { "N" }),
        ),
        Fact::Absent { source } => check(
            "rhel7_user_namespace",
            Status::Skip,
            Value::Null,
            format!("{source} absent: not a RHEL 7 kernel{cmd}"),
        ),
        other => check(
            "rhel7_user_namespace",
            Status::Unknown,
            Value::Null,
            other.bad().map(|b| b.to_string()).unwrap_or_default(),
        ),
    }
}

fn container(facts: &HostFacts) -> Check {
    let detections = &facts.security.detections;
    if detections.is_empty() {
        return check(
            "container",
            Status::Pass,
            json!(null),
            "no container or compatibility layer detected",
        );
    }
    let names: Vec<&str> = detections
        .iter()
        .map(|d| environment_name(d.environment))
        .collect();
    let evidence: Vec<&str> = detections.iter().map(|d| d.evidence.as_str()).collect();
    check("container", Status::Warn, json!(names), evidence.join("; "))
}

fn proc_sys_writable(facts: &HostFacts) -> Check {
    match &facts.security.proc_sys_read_only {
        Fact::Present { value: true, source } => check(
            "proc_sys_writable",
            Status::Warn,
            json!(false),
            format!("{source}: /proc/sys is mounted read-only; sysctl fixes must be applied on the host"),
        ),
        Fact::Present { value: false, source } => check(
            "proc_sys_writable",
            Status::Pass,
            json!(true),
            format!("{source}: /proc/sys is writable by root"),
        ),
        other => check(
            "proc_sys_writable",
            Status::Unknown,
            Value::Null,
            format!("{} could not be read", other.source()),
        ),
    }
}

fn root_mount(facts: &HostFacts) -> Check {
    match &facts.security.root_is_mount_point {
        Fact::Present {
            value: true,
            source,
        } => check(
            "root_mount",
            Status::Pass,
            json!(true),
            format!("{source}: / is a mount point"),
        ),
        Fact::Present {
            value: false,
            source,
        } => check(
            "root_mount",
            Status::Fail,
            json!(false),
            format!("{source} lists no mount at /: this process runs in a chroot"),
        ),
        other => check(
            "root_mount",
            Status::Unknown,
            Value::Null,
            format!("{} could not be read", other.source()),
        ),
    }
}

fn seccomp(facts: &HostFacts) -> Check {
    match facts.process.status.value().map(|s| s.seccomp) {
        Some(Some(SeccompMode::Disabled)) => check(
            "seccomp",
            Status::Pass,
            json!("disabled"),
            "proc/self/status Seccomp: 0 (no filter on this process)",
        ),
        Some(Some(mode)) => check(
            "seccomp",
            Status::Warn,
            json!(if mode == SeccompMode::Filter { "filter" } else { "strict" }),
            "proc/self/status Seccomp: a filter confines this process (a container runtime or a parent sandbox)",
        ),
        Some(None) => check(
            "seccomp",
            Status::Unknown,
            Value::Null,
            "proc/self/status has no Seccomp: line (kernel before 3.8)",
        ),
        None => check("seccomp", Status::Unknown, Value::Null, "proc/self/status unreadable"),
    }
}

fn no_new_privs(facts: &HostFacts) -> Check {
    match facts.process.status.value().map(|s| s.no_new_privs) {
        Some(Some(nnp)) => check(
            "no_new_privs",
            if nnp { Status::Warn } else { Status::Pass },
            json!(nnp),
            if nnp {
                "NoNewPrivs: 1 — setuid helpers (newuidmap, setuid bwrap) cannot work from here"
            } else {
                "NoNewPrivs: 0"
            },
        ),
        Some(None) => check(
            "no_new_privs",
            Status::Skip,
            Value::Null,
            "proc/self/status has no NoNewPrivs: line (kernel before 4.10)",
        ),
        None => check(
            "no_new_privs",
            Status::Unknown,
            Value::Null,
            "proc/self/status unreadable",
        ),
    }
}

fn privileges(facts: &HostFacts) -> Check {
    let p = &facts.privileges;
    let value = json!({
        "real_uid": p.real_uid,
        "effective_uid": p.effective_uid,
        "cap_sys_admin": p.cap_sys_admin,
        "in_user_namespace": facts.process.in_user_namespace,
    });
    let evidence = format!(
        "real uid {}, effective uid {}, CAP_SYS_ADMIN {}{}",
        p.real_uid.map_or("?".into(), |v| v.to_string()),
        p.effective_uid.map_or("?".into(), |v| v.to_string()),
        match p.cap_sys_admin {
            Some(true) => "held",
            Some(false) => "not held",
            None => "unknown",
        },
        if facts.process.in_user_namespace == Some(true) {
            " (inside a user namespace)"
        } else {
            ""
        }
    );
    let status = match (p.is_root(), p.root_backed_possible) {
        (true, true) => Status::Pass,
        (true, false) => Status::Fail,
        (false, _) => Status::Skip,
    };
    check("privileges", status, value, evidence)
}

fn lsm(facts: &HostFacts) -> Check {
    let l = &facts.security.lsm;
    let active = l.active.value().cloned().unwrap_or_default();
    let selinux = l.selinux_enforcing.value().copied();
    let apparmor = l.apparmor_enabled.value().copied();
    let value = json!({
        "active": active,
        "apparmor": apparmor,
        "selinux_enforcing": selinux,
        "label": l.label.value(),
    });
    let evidence = match &l.active {
        Fact::Present { source, value } => format!("{source}: {}", value.join(",")),
        other => format!("{} absent or unreadable", other.source()),
    };
    let status = if l.active.value().is_some() {
        Status::Pass
    } else {
        Status::Unknown
    };
    check("lsm", status, value, evidence)
}

fn landlock(facts: &HostFacts) -> Check {
    match facts.trials.landlock_abi {
        Some(abi) => check(
            "landlock",
            Status::Pass,
            json!(abi),
            format!("landlock_create_ruleset reports ABI {abi}: available as an extra layer"),
        ),
        None => check(
            "landlock",
            Status::Skip,
            Value::Null,
            "Landlock is not available (kernel before 5.13 or not enabled); it is only an extra layer",
        ),
    }
}

fn trial_check(id: &str, trial: &Trial, passed: bool) -> Check {
    let value = serde_json::to_value(trial).unwrap_or(Value::Null);
    let status = match trial {
        Trial::Skipped { .. } => Status::Skip,
        Trial::Ran(_) if passed => Status::Pass,
        Trial::Ran(_) => Status::Fail,
    };
    check(id, status, value, trial_evidence(trial))
}
