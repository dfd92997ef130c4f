//! Staged namespace trials: the facts no file can give, run in a forked single-threaded child.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fact::FactRoot;

/// One step of building a sandbox, in the order a launcher takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// As root, become the unprivileged target uid first (userns trial only).
    DropPrivileges,
    /// unshare(CLONE_NEWUSER)
    UnshareUser,
    /// write "deny" to /proc/self/setgroups
    SetgroupsDeny,
    /// write /proc/self/uid_map
    UidMap,
    /// write /proc/self/gid_map
    GidMap,
    /// unshare(CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS)
    UnshareNamespaces,
    /// mount(NULL, "/", NULL, MS_REC|MS_PRIVATE)
    MakeRootPrivate,
    /// mount a tmpfs
    MountTmpfs,
    /// mount a fresh proc from the pid-1 grandchild
    MountProc,
}

/// What happened at one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StageOutcome {
    Ok,
    /// The call failed; `errno` is the symbolic name (EPERM, EINVAL, ENOSPC…).
    Failed { errno: String },
    /// An earlier stage failed.
    NotReached,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StageResult {
    pub stage: Stage,
    #[serde(flatten)]
    pub outcome: StageOutcome,
}

/// One staged trial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TrialRun {
    /// The uid/gid the trial ran as (after the drop, for the userns trial).
    pub uid: u32,
    pub gid: u32,
    /// Every stage of the chain, in order.
    pub stages: Vec<StageResult>,
    /// Anything a reader should know (e.g. "uid 65534 is not mapped here: dropped capabilities
    /// instead").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl TrialRun {
    /// Every stage succeeded.
    pub fn passed(&self) -> bool {
        !self.stages.is_empty()
            && self
                .stages
                .iter()
                .all(|s| matches!(s.outcome, StageOutcome::Ok))
    }

    /// The first stage that failed, with its errno name.
    pub fn first_failure(&self) -> Option<(Stage, &str)> {
        self.stages.iter().find_map(|s| match &s.outcome {
            StageOutcome::Failed { errno } => Some((s.stage, errno.as_str())),
            _ => None,
        })
    }
}

/// A trial that ran, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Trial {
    Ran(TrialRun),
    /// Not run, e.g. the root-backed trial for an unprivileged invoker.
    Skipped { reason: String },
}

impl Trial {
    pub fn run(&self) -> Option<&TrialRun> {
        match self {
            Trial::Ran(run) => Some(run),
            Trial::Skipped { .. } => None,
        }
    }
}

/// Where the trial outcomes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrialOrigin {
    /// Run just now on this host.
    Live,
    /// Read from a fixture's trial file; nothing was executed.
    Recorded,
}

/// Both trials, plus the Landlock ABI (a syscall, not a file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TrialResults {
    pub origin: TrialOrigin,
    pub userns: Trial,
    pub root_backed: Trial,
    /// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION); `None` when absent.
    pub landlock_abi: Option<u32>,
}

/// The name of the trial file inside a fixture directory.
pub const TRIAL_FILE: &str = "sandprobe-trials.json";

/// The current format of [`TRIAL_FILE`].
pub const TRIAL_FILE_FORMAT: u32 = 1;

/// The on-disk form of [`TRIAL_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrialFile {
    pub format_version: u32,
    pub userns: Trial,
    pub root_backed: Trial,
    pub landlock_abi: Option<u32>,
}

/// Why trials could not be run or read.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("failed to read the trial file {path}: {problem}")]
    ReadTrialFile { path: String, problem: String },
    #[error("failed to parse the trial file {path}: {reason}")]
    ParseTrialFile { path: String, reason: String },
    #[error("failed to set up the trial: {operation}: {errno}")]
    Setup { operation: &'static str, errno: String },
}

/// Who the live trials should impersonate and what they may do.
#[derive(Debug, Clone)]
pub struct TrialOptions {
    /// The unprivileged uid/gid a root invoker drops to for the userns trial.
    pub target_uid: u32,
    pub target_gid: u32,
}

/// Reads recorded trial outcomes from a fixture.
pub fn read_recorded(root: &FactRoot) -> Result<TrialResults, TrialError> {
    let _ = root;
    Err(TrialError::ReadTrialFile {
        path: TRIAL_FILE.into(),
        problem: "not yet implemented".into(),
    })
}

/// Runs both trials on this host.
pub fn run_live(options: &TrialOptions) -> Result<TrialResults, TrialError> {
    let _ = options;
    Err(TrialError::Setup {
        operation: "fork",
        errno: "ENOSYS".into(),
    })
}
