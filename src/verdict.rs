//! The strategy selector: a pure function from the probes' facts to a verdict on which mode to use.
//!
//! Nothing here does I/O. The staged trials are the authority on what works; the file-based facts
//! explain *why* a trial failed, so the verdict can name the layer that blocks and the fix for
//! that layer only. Where a mode could not be measured (root's mode, asked by an unprivileged
//! user), it is predicted from the facts and marked as such.

use sandprobe_probes::kconfig::UserNsConfig;
use sandprobe_probes::kernel::{KernelFlavour, ROOT_BACKED_FLOOR, USERNS_FLOOR};
use sandprobe_probes::process::SeccompMode;
use sandprobe_probes::security::Environment;
use sandprobe_probes::trials::{Stage, Trial, TrialRun};
use sandprobe_probes::HostFacts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a sandbox can be built on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// An unprivileged user can build the whole sandbox with user namespaces; no root is used.
    Userns,
    /// Only a process whose real uid is 0 can build the sandbox.
    RootBacked,
    /// Neither works here.
    Unsupported,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Userns => "userns",
            Mode::RootBacked => "root-backed",
            Mode::Unsupported => "unsupported",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a mode was measured by a trial on this host or predicted from the facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Measured,
    Predicted,
}

/// The mode some identity would get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModeAssessment {
    pub mode: Mode,
    pub basis: Basis,
}

/// Who ran the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Invoker {
    /// Real uid 0.
    Root,
    Unprivileged,
}

/// The layer that stops a mode, named after what has to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Blocker {
    /// The kernel is older than the mode's floor.
    KernelTooOld,
    /// The kernel is built without CONFIG_USER_NS.
    KernelConfigUserNs,
    /// RHEL 7.0–7.3: the user_namespace module parameter is off.
    Rhel7UserNamespaceDisabled,
    /// user.max_user_namespaces is 0.
    MaxUserNamespacesZero,
    /// The user-namespace limit (or the nesting depth) is used up, though not 0.
    UserNamespaceLimitReached,
    /// kernel.unprivileged_userns_clone is 0.
    UnprivilegedUsernsClone,
    /// Ubuntu's AppArmor restriction on unprivileged user namespaces.
    #[serde(rename = "apparmor_restriction")]
    AppArmorRestriction,
    /// A seccomp filter (a container runtime's default profile, or a parent sandbox) denies the calls.
    Seccomp,
    /// The container withholds CAP_SYS_ADMIN, so root cannot create namespaces.
    MissingCapSysAdmin,
    /// Root lacks CAP_NET_ADMIN, so the sandbox's loopback interface cannot be brought up.
    MissingCapNetAdmin,
    /// The container masks parts of /proc, so a fresh proc cannot be mounted.
    MaskedProc,
    /// This process runs in a chroot: its `/` is not a mount point.
    Chroot,
    /// The invoker is not root, so the root-backed mode is not open to it.
    NotRoot,
    /// A trial failed for a reason the facts do not explain.
    Unexplained,
}

impl Blocker {
    /// The check id that carries the evidence for this blocker.
    pub fn check_id(self) -> &'static str {
        match self {
            Blocker::KernelTooOld => "kernel_version",
            Blocker::KernelConfigUserNs => "config_user_ns",
            Blocker::Rhel7UserNamespaceDisabled => "rhel7_user_namespace",
            Blocker::MaxUserNamespacesZero | Blocker::UserNamespaceLimitReached => {
                "max_user_namespaces"
            }
            Blocker::UnprivilegedUsernsClone => "unprivileged_userns_clone",
            Blocker::AppArmorRestriction => "apparmor_userns_restriction",
            Blocker::Seccomp => "seccomp",
            Blocker::MissingCapSysAdmin | Blocker::MissingCapNetAdmin => "privileges",
            Blocker::MaskedProc => "container",
            Blocker::NotRoot => "privileges",
            Blocker::Chroot => "root_mount",
            Blocker::Unexplained => "userns_trial",
        }
    }
}

/// One step of the reasoning, naming the probe (check id) and its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Reason {
    /// The check id whose evidence this rests on.
    pub probe: String,
    pub evidence: String,
    pub message: String,
}

/// Where a remediation has to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// A sysctl, applied now and persisted under /etc/sysctl.d.
    Sysctl,
    /// The kernel command line (takes a reboot).
    KernelCmdline,
    /// A different kernel.
    Kernel,
    /// An AppArmor profile for the binary's path.
    Apparmor,
    /// The flags the container is started with.
    ContainerRuntime,
    /// How sandprobe is invoked.
    Invocation,
}

/// A file a remediation writes, with its exact contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PersistFile {
    pub path: String,
    pub contents: String,
}

/// One way to unblock a mode, as exact commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Remediation {
    /// Stable id, e.g. `sysctl_unprivileged_userns_clone`.
    pub id: String,
    pub layer: Layer,
    /// The blocker this removes.
    pub fixes: Blocker,
    /// The mode it unlocks, and for whom.
    pub enables: Mode,
    pub title: String,
    /// Shell commands, in order, to run as root where `applies_on` says.
    pub commands: Vec<String>,
    /// A file to write so the change survives a reboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist: Option<PersistFile>,
    /// Where to run the commands: `this host`, `the container host`, `the container's start command`.
    pub applies_on: String,
    /// False when the commands cannot work from where the check ran (e.g. /proc/sys is read-only
    /// inside a container): they must be applied elsewhere, as `applies_on` says.
    pub applicable_here: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The selector's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// The mode the bundled launcher uses for this invoker.
    pub mode: Mode,
    pub invoker: Invoker,
    /// Whether the launcher would use root at all for this invoker.
    pub uses_root: bool,
    /// The mode a root invoker gets.
    pub root: ModeAssessment,
    /// The mode an unprivileged invoker gets.
    pub unprivileged: ModeAssessment,
    /// One sentence for humans.
    pub summary: String,
    /// What blocks the userns mode, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_blocker: Option<Blocker>,
    /// What blocks the root-backed mode for root, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_backed_blocker: Option<Blocker>,
    /// The reasoning, in order.
    pub reasons: Vec<Reason>,
    /// Fixes, most targeted first. Empty when the invoker already gets userns.
    pub remediations: Vec<Remediation>,
}

/// What the selector needs besides the facts: names for the fixes it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorContext {
    /// The real paths of the installed binaries, for an AppArmor profile (matched by path).
    pub binary_paths: Vec<String>,
}

impl Default for SelectorContext {
    fn default() -> Self {
        SelectorContext {
            binary_paths: vec![
                "/usr/local/bin/sandprobe".into(),
                "/usr/local/bin/sandbox-run".into(),
            ],
        }
    }
}

/// The sysctl.d file every sysctl remediation persists into.
pub const SYSCTL_PERSIST_FILE: &str = "/etc/sysctl.d/90-sandprobe-userns.conf";
/// The AppArmor profile file for Ubuntu 23.10+.
pub const APPARMOR_PROFILE_FILE: &str = "/etc/apparmor.d/sandprobe";

/// Decides the mode with the default context. Pure: no I/O.
pub fn decide(facts: &HostFacts) -> Verdict {
    decide_with(facts, &SelectorContext::default())
}

/// Decides the mode. Pure: no I/O.
pub fn decide_with(facts: &HostFacts, context: &SelectorContext) -> Verdict {
    let mut reasons = Vec::new();
    let invoker = if facts.privileges.is_root() {
        Invoker::Root
    } else {
        Invoker::Unprivileged
    };

    // 1. Can an unprivileged user build the whole sandbox? The userns trial says.
    let (unprivileged, userns_blocker) = assess_userns(facts, &mut reasons);

    // 2. What would root get? userns if it works (root is then dropped), else root-backed.
    let (root_backed, root_backed_blocker) = assess_root_backed(facts, &mut reasons);
    let root = if unprivileged.mode == Mode::Userns {
        unprivileged.clone()
    } else {
        root_backed.clone()
    };

    // 3. This invoker's mode.
    let mode = match invoker {
        _ if unprivileged.mode == Mode::Userns => Mode::Userns,
        Invoker::Root if root_backed.mode == Mode::RootBacked => Mode::RootBacked,
        _ => Mode::Unsupported,
    };
    let uses_root = mode == Mode::RootBacked;
    match (mode, invoker) {
        (Mode::Userns, Invoker::Root) => reasons.push(Reason {
            probe: "userns_trial".into(),
            evidence: trial_evidence(&facts.trials.userns),
            message: "user namespaces work for an unprivileged user, so root would not be used: \
                      the launcher drops root first and builds the sandbox unprivileged"
                .into(),
        }),
        (Mode::RootBacked, _) => reasons.push(Reason {
            probe: "root_backed_trial".into(),
            evidence: trial_evidence(&facts.trials.root_backed),
            message:
                "user namespaces are blocked, so the launcher uses root-backed mode: real uid 0, \
                      effective uid unprivileged, root taken back only to build each sandbox"
                    .into(),
        }),
        (Mode::Unsupported, Invoker::Unprivileged) if root.mode == Mode::RootBacked => reasons
            .push(Reason {
                probe: "privileges".into(),
                evidence: format!("real uid {}", display_opt(facts.privileges.real_uid)),
                message: "root-backed mode would work, but only for a process started as root"
                    .into(),
            }),
        _ => {}
    }

    let remediations = if mode == Mode::Userns {
        Vec::new()
    } else {
        remediations_for(facts, context, userns_blocker, root_backed_blocker, &root)
    };

    let summary = summary_line(mode, invoker, &root, &unprivileged, userns_blocker);
    Verdict {
        mode,
        invoker,
        uses_root,
        root,
        unprivileged,
        summary,
        userns_blocker,
        root_backed_blocker,
        reasons,
        remediations,
    }
}

fn display_opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "unknown".to_string(), |v| v.to_string())
}

/// A compact rendering of a trial: `passed (8 stages)` or `uid_map: EPERM`.
pub fn trial_evidence(trial: &Trial) -> String {
    match trial {
        Trial::Skipped { reason } => format!("skipped: {reason}"),
        Trial::Ran(run) => match run.first_failure() {
            None if run.passed() => {
                format!("passed {} stages as uid {}", run.stages.len(), run.uid)
            }
            None => format!("incomplete as uid {}", run.uid),
            Some((stage, errno)) => format!("{}: {errno} (as uid {})", stage.name(), run.uid),
        },
    }
}

fn knob(fact: &sandprobe_probes::Fact<u64>) -> Option<u64> {
    fact.value().copied()
}

fn in_container(facts: &HostFacts) -> Option<Environment> {
    facts
        .security
        .environment()
        .filter(|env| !matches!(env, Environment::Wsl))
}

fn seccomp_filtered(facts: &HostFacts) -> bool {
    facts
        .process
        .status
        .value()
        .is_some_and(|s| s.seccomp == Some(SeccompMode::Filter))
}

/// The userns mode for an unprivileged user, and what blocks it.
fn assess_userns(
    facts: &HostFacts,
    reasons: &mut Vec<Reason>,
) -> (ModeAssessment, Option<Blocker>) {
    let version = facts.kernel.version;
    let run = match &facts.trials.userns {
        Trial::Ran(run) => run,
        Trial::Skipped { reason } => {
            reasons.push(Reason {
                probe: "userns_trial".into(),
                evidence: format!("skipped: {reason}"),
                message:
                    "the user-namespace trial did not run, so userns mode cannot be vouched for"
                        .into(),
            });
            return (
                ModeAssessment {
                    mode: Mode::Unsupported,
                    basis: Basis::Predicted,
                },
                Some(Blocker::Unexplained),
            );
        }
    };
    if run.passed() {
        reasons.push(Reason {
            probe: "userns_trial".into(),
            evidence: trial_evidence(&facts.trials.userns),
            message: "an unprivileged user built every stage of a sandbox: user, mount, pid, net, \
                      ipc and uts namespaces, a tmpfs and a fresh proc"
                .into(),
        });
        if let Some(v) = version.filter(|v| *v < USERNS_FLOOR) {
            reasons.push(Reason {
                probe: "kernel_version".into(),
                evidence: format!("kernel {v}"),
                message: format!(
                    "kernels before {USERNS_FLOOR} had unprivileged user-namespace flaws upstream; \
                     rely on this only with a vendor kernel that backports the fixes"
                ),
            });
        }
        return (
            ModeAssessment {
                mode: Mode::Userns,
                basis: Basis::Measured,
            },
            None,
        );
    }
    let blocker = explain_userns_failure(facts, run);
    reasons.push(Reason {
        probe: "userns_trial".into(),
        evidence: trial_evidence(&facts.trials.userns),
        message: "an unprivileged user cannot build the sandbox".into(),
    });
    reasons.push(Reason {
        probe: blocker.check_id().into(),
        evidence: blocker_evidence(facts, blocker, run),
        message: blocker_message(blocker).into(),
    });
    (
        ModeAssessment {
            mode: Mode::Unsupported,
            basis: Basis::Measured,
        },
        Some(blocker),
    )
}

/// Names the layer behind a failed userns trial: the knobs first, then the errno.
fn explain_userns_failure(facts: &HostFacts, run: &TrialRun) -> Blocker {
    let Some((stage, errno)) = run.first_failure() else {
        return Blocker::Unexplained;
    };
    let knobs = &facts.knobs;
    let max = knob(&knobs.max_user_namespaces);
    let clone = knob(&knobs.unprivileged_userns_clone);
    let apparmor = knob(&knobs.apparmor_restrict_unprivileged_userns);
    let config_off = matches!(
        facts.kconfig.user_ns,
        UserNsConfig::Disabled | UserNsConfig::InferredDisabled
    );
    let too_old = facts
        .kernel
        .version
        .is_some_and(|v| v < sandprobe_probes::kernel::KernelVersion::new(3, 8, 0));
    let rhel7_off = facts.knobs.rhel7_user_namespace_enable.value() == Some(&false);
    if chrooted(facts) {
        return Blocker::Chroot;
    }

    match stage {
        Stage::UnshareUser => match errno {
            _ if too_old => Blocker::KernelTooOld,
            _ if config_off => Blocker::KernelConfigUserNs,
            _ if rhel7_off => Blocker::Rhel7UserNamespaceDisabled,
            _ if max == Some(0) => Blocker::MaxUserNamespacesZero,
            "ENOSPC" | "EUSERS" => Blocker::UserNamespaceLimitReached,
            "EPERM" if clone == Some(0) => Blocker::UnprivilegedUsernsClone,
            "EPERM" if seccomp_filtered(facts) => Blocker::Seccomp,
            "EPERM" if apparmor == Some(1) => Blocker::AppArmorRestriction,
            "EINVAL" if rhel7_kernel(facts) => Blocker::Rhel7UserNamespaceDisabled,
            _ => Blocker::Unexplained,
        },
        Stage::SetgroupsDeny | Stage::UidMap | Stage::GidMap if apparmor == Some(1) => {
            Blocker::AppArmorRestriction
        }
        Stage::UnshareNamespaces | Stage::MakeRootPrivate | Stage::MountTmpfs
            if apparmor == Some(1) =>
        {
            Blocker::AppArmorRestriction
        }
        Stage::UnshareNamespaces if errno == "EPERM" && seccomp_filtered(facts) => Blocker::Seccomp,
        Stage::MountProc if errno == "EPERM" && in_container(facts).is_some() => {
            Blocker::MaskedProc
        }
        _ => Blocker::Unexplained,
    }
}

fn chrooted(facts: &HostFacts) -> bool {
    facts.security.root_is_mount_point.value() == Some(&false)
}

fn rhel7_kernel(facts: &HostFacts) -> bool {
    facts
        .kernel
        .release
        .value()
        .is_some_and(|r| r.flavour == KernelFlavour::RedHat && r.redhat_major == Some(7))
}

fn blocker_message(blocker: Blocker) -> &'static str {
    match blocker {
        Blocker::KernelTooOld => "the kernel is older than the floor for this mode",
        Blocker::KernelConfigUserNs => "the kernel is built without CONFIG_USER_NS",
        Blocker::Rhel7UserNamespaceDisabled => {
            "RHEL 7 ships user namespaces switched off (user_namespace.enable / max_user_namespaces)"
        }
        Blocker::MaxUserNamespacesZero => "user.max_user_namespaces is 0, which forbids user namespaces",
        Blocker::UserNamespaceLimitReached => {
            "the user-namespace limit or nesting depth is used up"
        }
        Blocker::UnprivilegedUsernsClone => {
            "kernel.unprivileged_userns_clone is 0: only CAP_SYS_ADMIN may create user namespaces"
        }
        Blocker::AppArmorRestriction => {
            "AppArmor lets unshare() succeed, then strips the new namespace's capabilities, so the \
             id maps and mounts are denied"
        }
        Blocker::Seccomp => {
            "a seccomp filter on this process denies calls the sandbox needs (unshare, mount, pivot_root)"
        }
        Blocker::MissingCapSysAdmin => {
            "root here lacks CAP_SYS_ADMIN, so it cannot create namespaces or mount"
        }
        Blocker::MissingCapNetAdmin => {
            "root here lacks CAP_NET_ADMIN, so the sandbox's loopback interface cannot be brought up"
        }
        Blocker::MaskedProc => {
            "the container masks parts of /proc, so the kernel refuses a fresh proc mount"
        }
        Blocker::NotRoot => "root-backed mode needs a process started as root",
        Blocker::Chroot => {
            "this process runs in a chroot: its / is not a mount point, so the kernel refuses new \
             user namespaces and pivot_root, and / cannot be made private"
        }
        Blocker::Unexplained => "the trial failed for a reason no probed fact explains",
    }
}

fn blocker_evidence(facts: &HostFacts, blocker: Blocker, run: &TrialRun) -> String {
    let failure = run
        .first_failure()
        .map(|(stage, errno)| format!("{} failed with {errno}", stage.name()))
        .unwrap_or_else(|| "no stage failed".into());
    let detail = match blocker {
        Blocker::KernelTooOld => format!("kernel {}", display_opt(facts.kernel.version)),
        Blocker::KernelConfigUserNs => format!("CONFIG_USER_NS: {:?}", facts.kconfig.user_ns),
        Blocker::Rhel7UserNamespaceDisabled => format!(
            "{}; {}",
            facts.knobs.rhel7_user_namespace_enable.describe(),
            facts.knobs.max_user_namespaces.describe()
        ),
        Blocker::MaxUserNamespacesZero | Blocker::UserNamespaceLimitReached => {
            facts.knobs.max_user_namespaces.describe()
        }
        Blocker::UnprivilegedUsernsClone => facts.knobs.unprivileged_userns_clone.describe(),
        Blocker::AppArmorRestriction => {
            facts.knobs.apparmor_restrict_unprivileged_userns.describe()
        }
        Blocker::Seccomp => "proc/self/status Seccomp: 2 (filter)".into(),
        Blocker::MaskedProc => match in_container(facts) {
            Some(env) => format!("{} container", environment_name(env)),
            None => "no container detected".into(),
        },
        Blocker::Chroot => "proc/self/mountinfo lists no mount at /".into(),
        Blocker::MissingCapSysAdmin
        | Blocker::MissingCapNetAdmin
        | Blocker::NotRoot
        | Blocker::Unexplained => String::new(),
    };
    if detail.is_empty() {
        failure
    } else {
        format!("{failure}; {detail}")
    }
}

/// The root-backed mode for root, and what blocks it.
fn assess_root_backed(
    facts: &HostFacts,
    reasons: &mut Vec<Reason>,
) -> (ModeAssessment, Option<Blocker>) {
    let unsupported = |basis, blocker| {
        (
            ModeAssessment {
                mode: Mode::Unsupported,
                basis,
            },
            Some(blocker),
        )
    };
    if let Some(v) = facts.kernel.version.filter(|v| *v < ROOT_BACKED_FLOOR) {
        reasons.push(Reason {
            probe: "kernel_version".into(),
            evidence: format!("kernel {v}"),
            message: format!("root-backed mode needs kernel {ROOT_BACKED_FLOOR} or later"),
        });
        return unsupported(Basis::Measured, Blocker::KernelTooOld);
    }
    match &facts.trials.root_backed {
        Trial::Ran(run) if run.passed() => (
            ModeAssessment {
                mode: Mode::RootBacked,
                basis: Basis::Measured,
            },
            None,
        ),
        Trial::Ran(run) => {
            let blocker = match run.first_failure() {
                _ if chrooted(facts) => Blocker::Chroot,
                Some((Stage::MountProc, "EPERM")) => Blocker::MaskedProc,
                Some((Stage::LoopbackUp, "EPERM" | "EACCES")) => Blocker::MissingCapNetAdmin,
                Some((_, "EPERM")) if seccomp_filtered(facts) => Blocker::Seccomp,
                _ => Blocker::Unexplained,
            };
            reasons.push(Reason {
                probe: "root_backed_trial".into(),
                evidence: trial_evidence(&facts.trials.root_backed),
                message: format!(
                    "root cannot build the sandbox either: {}",
                    blocker_message(blocker)
                ),
            });
            unsupported(Basis::Measured, blocker)
        }
        Trial::Skipped { .. } if facts.privileges.is_root() => {
            // Root without CAP_SYS_ADMIN: Docker's default drops it.
            reasons.push(Reason {
                probe: "privileges".into(),
                evidence: "real uid 0 without CAP_SYS_ADMIN in the effective set".into(),
                message: blocker_message(Blocker::MissingCapSysAdmin).into(),
            });
            unsupported(Basis::Measured, Blocker::MissingCapSysAdmin)
        }
        Trial::Skipped { .. } => {
            // An unprivileged invoker cannot measure root's mode: predict it.
            if facts.privileges.cap_sys_admin_bounding == Some(false) {
                unsupported(Basis::Predicted, Blocker::MissingCapSysAdmin)
            } else {
                (
                    ModeAssessment {
                        mode: Mode::RootBacked,
                        basis: Basis::Predicted,
                    },
                    None,
                )
            }
        }
    }
}

pub fn environment_name(env: Environment) -> &'static str {
    match env {
        Environment::Docker => "Docker",
        Environment::Podman => "Podman",
        Environment::Kubernetes => "Kubernetes",
        Environment::Lxc => "LXC",
        Environment::SystemdNspawn => "systemd-nspawn",
        Environment::OtherContainer => "container",
        Environment::Wsl => "WSL",
        Environment::Gvisor => "gVisor",
    }
}

fn summary_line(
    mode: Mode,
    invoker: Invoker,
    root: &ModeAssessment,
    unprivileged: &ModeAssessment,
    blocker: Option<Blocker>,
) -> String {
    match (mode, invoker) {
        (Mode::Userns, Invoker::Root) => {
            "userns: sandboxes are built with user namespaces; root is dropped first and not used"
                .into()
        }
        (Mode::Userns, Invoker::Unprivileged) => {
            "userns: sandboxes are built with user namespaces, with no privilege at all".into()
        }
        (Mode::RootBacked, _) => format!(
            "root-backed: user namespaces are blocked ({}); root builds each sandbox and drops for good inside it",
            blocker.map_or("unknown cause", blocker_message)
        ),
        (Mode::Unsupported, Invoker::Unprivileged) if root.mode == Mode::RootBacked => format!(
            "unsupported for this user: user namespaces are blocked ({}); run as root for root-backed mode",
            blocker.map_or("unknown cause", blocker_message)
        ),
        (Mode::Unsupported, _) => format!(
            "unsupported: no sandbox can be built here (unprivileged: {}, root: {})",
            unprivileged.mode, root.mode
        ),
    }
}

/// The fixes for the layers that block, scoped to where they can be applied.
fn remediations_for(
    facts: &HostFacts,
    context: &SelectorContext,
    userns_blocker: Option<Blocker>,
    root_backed_blocker: Option<Blocker>,
    root: &ModeAssessment,
) -> Vec<Remediation> {
    let container = in_container(facts);
    // A sysctl can be set from here unless /proc/sys is mounted read-only (as container
    // runtimes do). Inside a container that can write it, the change still lands on the
    // shared host kernel, so say where it takes effect.
    let sysctl_here = facts.security.proc_sys_read_only.value() != Some(&true);
    let sysctl_where = match (container, sysctl_here) {
        (None, _) => "this host".to_string(),
        (Some(_), true) => "the host kernel (shared with this container)".to_string(),
        (Some(_), false) => {
            "the container host (not from here: /proc/sys is read-only in this container)"
                .to_string()
        }
    };
    let sysctl_fix =
        |id: &str, key: &str, value: &str, fixes: Blocker, note: Option<String>| Remediation {
            id: id.into(),
            layer: Layer::Sysctl,
            fixes,
            enables: Mode::Userns,
            title: format!("set {key} = {value}"),
            commands: vec![
                format!("sysctl -w {key}={value}"),
                format!("printf '%s\\n' '{key} = {value}' > {SYSCTL_PERSIST_FILE}"),
            ],
            persist: Some(PersistFile {
                path: SYSCTL_PERSIST_FILE.into(),
                contents: format!("{key} = {value}\n"),
            }),
            applies_on: sysctl_where.clone(),
            applicable_here: sysctl_here,
            note,
        };
    let mut fixes = Vec::new();
    match userns_blocker {
        Some(Blocker::MaxUserNamespacesZero) | Some(Blocker::UserNamespaceLimitReached) => {
            fixes.push(sysctl_fix(
                "sysctl_max_user_namespaces",
                "user.max_user_namespaces",
                "15000",
                Blocker::MaxUserNamespacesZero,
                None,
            ));
            if rhel7_kernel(facts)
                && facts.knobs.rhel7_user_namespace_enable.value() == Some(&false)
            {
                fixes.push(rhel7_cmdline_fix(sysctl_here));
            }
        }
        Some(Blocker::Rhel7UserNamespaceDisabled) => {
            fixes.push(rhel7_cmdline_fix(sysctl_here));
            if !facts.knobs.max_user_namespaces.is_absent() {
                fixes.push(sysctl_fix(
                    "sysctl_max_user_namespaces",
                    "user.max_user_namespaces",
                    "15000",
                    Blocker::MaxUserNamespacesZero,
                    None,
                ));
            }
        }
        Some(Blocker::UnprivilegedUsernsClone) => fixes.push(sysctl_fix(
            "sysctl_unprivileged_userns_clone",
            "kernel.unprivileged_userns_clone",
            "1",
            Blocker::UnprivilegedUsernsClone,
            None,
        )),
        Some(Blocker::AppArmorRestriction) => {
            fixes.push(apparmor_fix(context, sysctl_here));
            fixes.push(sysctl_fix(
                "sysctl_apparmor_restrict_unprivileged_userns",
                "kernel.apparmor_restrict_unprivileged_userns",
                "0",
                Blocker::AppArmorRestriction,
                Some(
                    "lifts the restriction for every program on the host; the per-binary \
                     profile above is narrower"
                        .into(),
                ),
            ));
        }
        Some(Blocker::KernelConfigUserNs) => fixes.push(kernel_fix(facts)),
        Some(Blocker::KernelTooOld) => fixes.push(kernel_fix(facts)),
        Some(Blocker::Seccomp) | Some(Blocker::MaskedProc) => {
            if let Some(fix) = container_fix(container, Mode::Userns) {
                fixes.push(fix);
            }
        }
        Some(Blocker::Chroot) => fixes.push(Remediation {
            id: "leave_the_chroot".into(),
            layer: Layer::Invocation,
            fixes: Blocker::Chroot,
            enables: Mode::Userns,
            title: "run outside the chroot, or give the root its own mount".into(),
            commands: vec![
                "unshare -m sh -c 'mount --bind DIR DIR && cd DIR && mkdir -p .old && \
                 pivot_root . .old && umount -l /.old && exec COMMAND'"
                    .into(),
            ],
            persist: None,
            applies_on: "the host that starts the chroot (DIR is the chroot directory)".into(),
            applicable_here: false,
            note: Some(
                "a container runtime or systemd-nspawn does this for you; plain chroot(8) does not"
                    .into(),
            ),
        }),
        _ => {}
    }
    // Root-backed for root: the container must grant CAP_SYS_ADMIN (or lift its masks).
    if root.mode != Mode::RootBacked {
        if let Some(
            Blocker::MissingCapSysAdmin
            | Blocker::MissingCapNetAdmin
            | Blocker::Seccomp
            | Blocker::MaskedProc,
        ) = root_backed_blocker
        {
            if let Some(fix) = container_fix(container, Mode::RootBacked) {
                if !fixes.iter().any(|f| f.id == fix.id) {
                    fixes.push(fix);
                }
            }
        }
    }
    if facts.privileges.is_root() || root.mode != Mode::RootBacked {
        return fixes;
    }
    fixes.push(Remediation {
        id: "run_as_root".into(),
        layer: Layer::Invocation,
        fixes: Blocker::NotRoot,
        enables: Mode::RootBacked,
        title: "start the launcher as root for root-backed mode".into(),
        commands: vec!["sudo sandbox-run -- COMMAND".into()],
        persist: None,
        applies_on: "this host".into(),
        applicable_here: true,
        note: Some(
            "the launcher keeps only its real uid at 0, runs with an unprivileged effective uid, \
             and takes root back only to build each sandbox"
                .into(),
        ),
    });
    fixes
}

fn rhel7_cmdline_fix(here: bool) -> Remediation {
    Remediation {
        id: "kernel_cmdline_rhel7_user_namespace".into(),
        layer: Layer::KernelCmdline,
        fixes: Blocker::Rhel7UserNamespaceDisabled,
        enables: Mode::Userns,
        title: "switch user namespaces on at boot (RHEL/CentOS 7.0–7.3)".into(),
        commands: vec![
            "grubby --update-kernel=ALL --args='user_namespace.enable=1 namespace.unpriv_enable=1'"
                .into(),
            "reboot".into(),
        ],
        persist: None,
        applies_on: "this host".into(),
        applicable_here: here,
        note: Some("takes effect after the reboot".into()),
    }
}

fn apparmor_fix(context: &SelectorContext, here: bool) -> Remediation {
    Remediation {
        id: "apparmor_userns_profile".into(),
        layer: Layer::Apparmor,
        fixes: Blocker::AppArmorRestriction,
        enables: Mode::Userns,
        title: "allow user namespaces for the installed binaries with an AppArmor profile".into(),
        commands: vec![
            format!("sandprobe apparmor-profile > {APPARMOR_PROFILE_FILE}"),
            format!("apparmor_parser -r {APPARMOR_PROFILE_FILE}"),
        ],
        persist: Some(PersistFile {
            path: APPARMOR_PROFILE_FILE.into(),
            contents: apparmor_profile(&context.binary_paths),
        }),
        applies_on: "this host".into(),
        applicable_here: here,
        note: Some(
            "AppArmor matches profiles by path: the profile covers only the paths it names, so \
             install the binaries there (not under a home directory)"
                .into(),
        ),
    }
}

/// The AppArmor profile that lets the named binaries create user namespaces (Ubuntu 23.10+).
pub fn apparmor_profile(binary_paths: &[String]) -> String {
    let mut text = String::from("abi <abi/4.0>,\ninclude <tunables/global>\n");
    for path in binary_paths {
        let name = std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sandprobe".into());
        text.push_str(&format!(
            "\nprofile {name} {path} flags=(unconfined) {{\n  userns,\n\n  include if exists <local/{name}>\n}}\n"
        ));
    }
    text
}

fn kernel_fix(facts: &HostFacts) -> Remediation {
    let arch = facts
        .kernel
        .release
        .value()
        .is_some_and(|r| matches!(r.flavour, KernelFlavour::Arch));
    let (commands, title) = if arch {
        (
            vec!["pacman -Syu linux".into(), "reboot".into()],
            "upgrade to an Arch kernel built with CONFIG_USER_NS=y (4.14.5 or later)".to_string(),
        )
    } else {
        (
            Vec::new(),
            "boot a kernel built with CONFIG_USER_NS=y (3.13 or later)".to_string(),
        )
    };
    Remediation {
        id: "kernel_user_ns".into(),
        layer: Layer::Kernel,
        fixes: Blocker::KernelConfigUserNs,
        enables: Mode::Userns,
        title,
        commands,
        persist: None,
        applies_on: "this host".into(),
        applicable_here: in_container(facts).is_none(),
        note: Some("root-backed mode works meanwhile for a launcher started as root".into()),
    }
}

/// Container start flags: for userns, lift the seccomp profile and the /proc masks; for
/// root-backed, grant CAP_SYS_ADMIN.
fn container_fix(container: Option<Environment>, enables: Mode) -> Option<Remediation> {
    let (id, title, flags) = match (container?, enables) {
        (Environment::Docker, Mode::Userns) => (
            "docker_run_userns",
            "start the container with the seccomp profile and /proc masks lifted",
            "docker run --security-opt seccomp=unconfined --security-opt systempaths=unconfined …",
        ),
        (Environment::Docker, _) => (
            "docker_run_root_backed",
            "start the container with CAP_SYS_ADMIN and CAP_NET_ADMIN and without the seccomp \
             profile (which refuses pivot_root), for root-backed mode as root",
            "docker run --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined …",
        ),
        (Environment::Podman, Mode::Userns) => (
            "podman_run_userns",
            "start the container with the seccomp profile and /proc masks lifted",
            "podman run --security-opt seccomp=unconfined --security-opt unmask=ALL …",
        ),
        (Environment::Podman, _) => (
            "podman_run_root_backed",
            "start the container with CAP_SYS_ADMIN and CAP_NET_ADMIN, without the seccomp \
             profile and with /proc unmasked, for root-backed mode",
            "podman run --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --security-opt unmask=ALL …",
        ),
        (Environment::Kubernetes, _) => (
            "kubernetes_security_context",
            "relax the pod's securityContext",
            "securityContext: { seccompProfile: { type: Unconfined }, procMount: Unmasked }",
        ),
        _ => return None,
    };
    Some(Remediation {
        id: id.into(),
        layer: Layer::ContainerRuntime,
        fixes: if enables == Mode::Userns {
            Blocker::Seccomp
        } else {
            Blocker::MissingCapSysAdmin
        },
        enables,
        title: title.into(),
        commands: vec![flags.into()],
        persist: None,
        applies_on: "the container's start command, on the container host".into(),
        applicable_here: false,
        note: Some("or run the sandboxes on the host instead of in this container".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandprobe_probes::fact::Fact;
    use sandprobe_probes::trials::{StageOutcome, StageResult};
    use sandprobe_probes::{FactRoot, TrialSource};

    /// Facts from a fixture, to be bent by each case.
    fn fixture(name: &str) -> HostFacts {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name);
        sandprobe_probes::gather(&FactRoot::fixture(dir), &TrialSource::Recorded)
            .expect("fixture replays")
    }

    fn fail_userns_at(facts: &mut HostFacts, stage: Stage, errno: &str) {
        let Trial::Ran(run) = &mut facts.trials.userns else {
            panic!("userns trial ran in the fixture")
        };
        let mut failed = false;
        for s in &mut run.stages {
            if failed {
                s.outcome = StageOutcome::NotReached;
            } else if s.stage == stage {
                s.outcome = StageOutcome::Failed {
                    errno: errno.into(),
                };
                failed = true;
            }
        }
        assert!(failed, "stage {stage:?} is in the chain");
    }

    fn knob(value: u64, source: &str) -> Fact<u64> {
        Fact::Present {
            source: source.into(),
            value,
        }
    }

    #[test]
    fn eperm_at_unshare_is_blamed_on_the_knob_that_is_off() {
        let mut facts = fixture("debian12");
        fail_userns_at(&mut facts, Stage::UnshareUser, "EPERM");
        facts.knobs.unprivileged_userns_clone =
            knob(0, "proc/sys/kernel/unprivileged_userns_clone");
        let v = decide(&facts);
        assert_eq!(v.mode, Mode::RootBacked);
        assert_eq!(v.userns_blocker, Some(Blocker::UnprivilegedUsernsClone));
        assert_eq!(v.remediations[0].id, "sysctl_unprivileged_userns_clone");
        assert_eq!(
            v.remediations[0].persist.as_ref().map(|p| p.path.as_str()),
            Some(SYSCTL_PERSIST_FILE)
        );
    }

    #[test]
    fn eperm_with_every_knob_on_and_no_filter_is_unexplained_not_guessed() {
        let mut facts = fixture("debian12");
        fail_userns_at(&mut facts, Stage::UnshareUser, "EPERM");
        let v = decide(&facts);
        assert_eq!(v.userns_blocker, Some(Blocker::Unexplained));
        assert!(
            v.remediations.iter().all(|r| r.layer != Layer::Sysctl),
            "no sysctl fix is offered without a knob that is off: {:?}",
            v.remediations
        );
    }

    #[test]
    fn a_read_only_proc_sys_makes_sysctl_fixes_apply_elsewhere() {
        let mut facts = fixture("rhel7_4_plus");
        facts.security.proc_sys_read_only = Fact::Present {
            source: "proc/self/mountinfo".into(),
            value: true,
        };
        let v = decide(&facts);
        let fix = &v.remediations[0];
        assert_eq!(fix.layer, Layer::Sysctl);
        assert!(!fix.applicable_here);
    }

    #[test]
    fn root_backed_needs_the_kernel_floor_even_when_the_trial_passed() {
        let mut facts = fixture("rhel7_4_plus");
        facts.kernel.version = Some(sandprobe_probes::kernel::KernelVersion::new(3, 9, 0));
        let v = decide(&facts);
        assert_eq!(v.root.mode, Mode::Unsupported);
        assert_eq!(v.root_backed_blocker, Some(Blocker::KernelTooOld));
        assert_eq!(v.mode, Mode::Unsupported);
    }

    #[test]
    fn an_unprivileged_invoker_gets_root_mode_predicted() {
        let v = decide(&fixture("ubuntu24_04_unprivileged"));
        assert_eq!(v.invoker, Invoker::Unprivileged);
        assert_eq!(v.mode, Mode::Unsupported);
        assert_eq!(v.root.mode, Mode::RootBacked);
        assert_eq!(v.root.basis, Basis::Predicted);
        assert!(v.remediations.iter().any(|r| r.id == "run_as_root"));
    }

    #[test]
    fn the_apparmor_profile_names_each_binary_by_path() {
        let profile = apparmor_profile(&["/opt/sp/bin/sandbox-run".into()]);
        assert!(profile.starts_with("abi <abi/4.0>,"));
        assert!(
            profile.contains("profile sandbox-run /opt/sp/bin/sandbox-run flags=(unconfined) {")
        );
        assert!(profile.contains("  userns,"));
    }

    #[test]
    fn stage_names_match_the_json_names() {
        for stage in [Stage::DropPrivileges, Stage::UidMap, Stage::MountProc] {
            let json = serde_json::to_value(StageResult {
                stage,
                outcome: StageOutcome::Ok,
            })
            .unwrap();
            assert_eq!(json["stage"], stage.name());
        }
    }
}
