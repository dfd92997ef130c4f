//! Staged namespace trials: the facts no file can give, run in a forked single-threaded child.
//!
//! Reading knobs cannot tell an Ubuntu 24.04 AppArmor denial (unshare succeeds, the uid_map
//! write fails) from a working host, nor see a masked /proc. So each trial takes the same steps
//! a launcher would, one [`Stage`] at a time, and records the first errno.
//!
//! The trials run in forked children because unshare(CLONE_NEWUSER) refuses a multithreaded
//! caller, and so the namespaces and mounts die with the child. A child must not allocate
//! (the caller's allocator lock may be held by a thread that does not exist in the child), so
//! every path and map line is built before the fork, and each stage's outcome goes back over a
//! pipe as an 8-byte record. Both trials run at once: namespace creation dominates the time.
//! A recorded [`TRIAL_FILE`] stands in for the live trials when a fixture is replayed.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{unshare, CloneFlags};
use nix::sys::prctl::{set_dumpable, set_pdeathsig};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{
    fork, getpid, getppid, getresgid, getresuid, mkdir, pipe2, read, setgroups, setpgid, setresgid,
    setresuid, write, ForkResult, Gid, Pid, ResGid, ResUid, Uid,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fact::{errno_from_name, errno_name, Fact, FactRoot, RawRead};
use crate::process::{id_is_mapped, parse_id_map, CAP_SYS_ADMIN};

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
    /// pivot_root into the tmpfs and detach the old root, as the launcher builds its root
    PivotRoot,
    /// bring the new network namespace's loopback interface up
    LoopbackUp,
}

/// What happened at one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StageOutcome {
    Ok,
    /// The call failed; `errno` is the symbolic name (EPERM, EINVAL, ENOSPC…).
    Failed {
        errno: String,
    },
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
#[serde(deny_unknown_fields)]
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
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trial {
    Ran(TrialRun),
    /// Not run, e.g. the root-backed trial for an unprivileged invoker.
    Skipped {
        reason: String,
    },
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
/// Version 2 added the `pivot_root` and `loopback_up` stages: a container runtime's seccomp
/// profile can allow every earlier step and still refuse pivot_root, and a root without
/// CAP_NET_ADMIN cannot bring loopback up, so without them a trial could pass where the
/// launcher then fails.
pub const TRIAL_FILE_FORMAT: u32 = 2;

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
    Setup {
        operation: &'static str,
        errno: String,
    },
}

/// Who the live trials should impersonate and what they may do.
#[derive(Debug, Clone)]
pub struct TrialOptions {
    /// The unprivileged uid/gid a root invoker drops to for the userns trial.
    pub target_uid: u32,
    pub target_gid: u32,
}

impl Stage {
    /// The stage's stable snake_case name, as it appears in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Stage::DropPrivileges => "drop_privileges",
            Stage::UnshareUser => "unshare_user",
            Stage::SetgroupsDeny => "setgroups_deny",
            Stage::UidMap => "uid_map",
            Stage::GidMap => "gid_map",
            Stage::UnshareNamespaces => "unshare_namespaces",
            Stage::MakeRootPrivate => "make_root_private",
            Stage::MountTmpfs => "mount_tmpfs",
            Stage::MountProc => "mount_proc",
            Stage::PivotRoot => "pivot_root",
            Stage::LoopbackUp => "loopback_up",
        }
    }
}

/// The userns trial's chain, in order. [`Stage::DropPrivileges`] is present only when the
/// invoker is root.
pub const USERNS_STAGES: [Stage; 11] = [
    Stage::DropPrivileges,
    Stage::UnshareUser,
    Stage::SetgroupsDeny,
    Stage::UidMap,
    Stage::GidMap,
    Stage::UnshareNamespaces,
    Stage::MakeRootPrivate,
    Stage::MountTmpfs,
    Stage::MountProc,
    Stage::PivotRoot,
    Stage::LoopbackUp,
];

/// The root-backed trial's chain, in order: the userns chain without the user namespace.
pub const ROOT_BACKED_STAGES: [Stage; 6] = [
    Stage::UnshareNamespaces,
    Stage::MakeRootPrivate,
    Stage::MountTmpfs,
    Stage::MountProc,
    Stage::PivotRoot,
    Stage::LoopbackUp,
];

// ---------------------------------------------------------------------------------------------
// Recorded trials
// ---------------------------------------------------------------------------------------------

/// Reads recorded trial outcomes from a fixture.
pub fn read_recorded(root: &FactRoot) -> Result<TrialResults, TrialError> {
    let path = root.dir().join(TRIAL_FILE).display().to_string();
    let bytes = match root.read_bytes(TRIAL_FILE) {
        RawRead::Found(bytes) => bytes,
        RawRead::Absent => {
            return Err(TrialError::ReadTrialFile {
                path,
                problem: "missing".into(),
            })
        }
        RawRead::Unreadable(errno) => {
            return Err(TrialError::ReadTrialFile {
                path,
                problem: errno,
            })
        }
    };
    let file =
        parse_trial_file(&bytes).map_err(|reason| TrialError::ParseTrialFile { path, reason })?;
    Ok(TrialResults {
        origin: TrialOrigin::Recorded,
        userns: file.userns,
        root_backed: file.root_backed,
        landlock_abi: file.landlock_abi,
    })
}

/// Parses and validates the bytes of a [`TRIAL_FILE`]; the error is a one-line reason.
///
/// Beyond the JSON shape, a recorded trial must be one a live run could have produced: the
/// full chain in canonical order, no stage twice, known errno names, and nothing after the
/// first failure but `not_reached`. A hand-edited fixture that breaks this would make the
/// verdict reason about a sandbox that cannot exist.
pub fn parse_trial_file(bytes: &[u8]) -> Result<TrialFile, String> {
    let file: TrialFile = serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
    check_stage_fields(bytes)?;
    if file.format_version != TRIAL_FILE_FORMAT {
        let hint = if file.format_version < TRIAL_FILE_FORMAT {
            " (older files lack the pivot_root and loopback_up stages: collect the host again)"
        } else {
            ""
        };
        return Err(format!(
            "format_version is {}, but this build reads only version {TRIAL_FILE_FORMAT}{hint}",
            file.format_version
        ));
    }
    validate_trial(
        "userns",
        &file.userns,
        &USERNS_STAGES,
        Some(Stage::DropPrivileges),
    )?;
    validate_trial("root_backed", &file.root_backed, &ROOT_BACKED_STAGES, None)?;
    if file.landlock_abi == Some(0) {
        return Err("landlock_abi is 0, which is no ABI version (write null when absent)".into());
    }
    Ok(file)
}

/// Refuses unknown keys in stage objects. serde cannot do it there: `StageResult` flattens
/// its outcome, and `deny_unknown_fields` does not combine with `flatten`.
fn check_stage_fields(bytes: &[u8]) -> Result<(), String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
    for trial in ["userns", "root_backed"] {
        let Some(stages) = value[trial]["stages"].as_array() else {
            continue;
        };
        for stage in stages {
            let Some(fields) = stage.as_object() else {
                continue;
            };
            let failed = fields.get("outcome").and_then(|o| o.as_str()) == Some("failed");
            let unknown = fields.keys().find(|key| match key.as_str() {
                "stage" | "outcome" => false,
                "errno" => !failed,
                _ => true,
            });
            if let Some(key) = unknown {
                let name = fields.get("stage").and_then(|s| s.as_str()).unwrap_or("?");
                return Err(format!(
                    "{trial}: stage {name} has an unknown field `{key}`"
                ));
            }
        }
    }
    Ok(())
}

/// Checks one recorded trial against its canonical chain. `optional` may be left out.
fn validate_trial(
    name: &str,
    trial: &Trial,
    canonical: &[Stage],
    optional: Option<Stage>,
) -> Result<(), String> {
    let run = match trial {
        Trial::Skipped { reason } if reason.trim().is_empty() => {
            return Err(format!("{name}: a skipped trial needs a non-empty reason"))
        }
        Trial::Skipped { .. } => return Ok(()),
        Trial::Ran(run) => run,
    };
    let order = || {
        canonical
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, result) in run.stages.iter().enumerate() {
        if run.stages[..i].iter().any(|s| s.stage == result.stage) {
            return Err(format!(
                "{name}: stage {} appears more than once",
                result.stage.name()
            ));
        }
    }
    let mut previous: Option<(usize, Stage)> = None;
    for result in &run.stages {
        let Some(position) = canonical.iter().position(|s| *s == result.stage) else {
            return Err(format!(
                "{name}: stage {} is not part of this trial (its stages are: {})",
                result.stage.name(),
                order()
            ));
        };
        if let Some((previous_position, previous_stage)) = previous {
            if position < previous_position {
                return Err(format!(
                    "{name}: stage {} comes after {}, out of order (the order is: {})",
                    result.stage.name(),
                    previous_stage.name(),
                    order()
                ));
            }
        }
        previous = Some((position, result.stage));
    }
    for stage in canonical {
        if Some(*stage) != optional && !run.stages.iter().any(|s| s.stage == *stage) {
            return Err(format!("{name}: stage {} is missing", stage.name()));
        }
    }
    let mut stopped_at: Option<Stage> = None;
    for result in &run.stages {
        if let StageOutcome::Failed { errno } = &result.outcome {
            if errno_from_name(errno).is_none() {
                return Err(format!(
                    "{name}: stage {} failed with {errno:?}, which is not a known errno name",
                    result.stage.name()
                ));
            }
        }
        match (stopped_at, &result.outcome) {
            (Some(stop), StageOutcome::Ok | StageOutcome::Failed { .. }) => {
                return Err(format!(
                    "{name}: stage {} has an outcome although {} did not succeed (a trial stops at its first failure)",
                    result.stage.name(),
                    stop.name()
                ));
            }
            (None, StageOutcome::Failed { .. } | StageOutcome::NotReached) => {
                stopped_at = Some(result.stage);
            }
            _ => {}
        }
    }
    Ok(())
}

/// The trial file `sandprobe collect` writes for these results.
pub fn to_trial_file(results: &TrialResults) -> TrialFile {
    TrialFile {
        format_version: TRIAL_FILE_FORMAT,
        userns: results.userns.clone(),
        root_backed: results.root_backed.clone(),
        landlock_abi: results.landlock_abi,
    }
}

// ---------------------------------------------------------------------------------------------
// Live trials
// ---------------------------------------------------------------------------------------------

/// How long a trial child may run before it is killed. A healthy chain takes milliseconds.
pub const TRIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// A directory a trial may mount its tmpfs on, with the C strings the child needs, made
/// before the fork (the child must not allocate).
struct MountPoint {
    path: &'static str,
    dir: &'static CStr,
    proc_dir: &'static CStr,
    /// Where the old root is parked by pivot_root, before and after the switch.
    old_root: &'static CStr,
}

/// The parked old root, as seen from the new root.
const OLD_ROOT_AFTER_PIVOT: &CStr = c"/.sandprobe-old-root";

/// Where the trials mount their tmpfs: the first of these that exists. Each exists on almost
/// every host, and the mount is only ever visible inside the child's private mount namespace.
static TMPFS_CANDIDATES: [MountPoint; 6] = [
    MountPoint {
        path: "/tmp",
        dir: c"/tmp",
        proc_dir: c"/tmp/proc",
        old_root: c"/tmp/.sandprobe-old-root",
    },
    MountPoint {
        path: "/dev/shm",
        dir: c"/dev/shm",
        proc_dir: c"/dev/shm/proc",
        old_root: c"/dev/shm/.sandprobe-old-root",
    },
    MountPoint {
        path: "/run",
        dir: c"/run",
        proc_dir: c"/run/proc",
        old_root: c"/run/.sandprobe-old-root",
    },
    MountPoint {
        path: "/mnt",
        dir: c"/mnt",
        proc_dir: c"/mnt/proc",
        old_root: c"/mnt/.sandprobe-old-root",
    },
    MountPoint {
        path: "/var/tmp",
        dir: c"/var/tmp",
        proc_dir: c"/var/tmp/proc",
        old_root: c"/var/tmp/.sandprobe-old-root",
    },
    MountPoint {
        path: "/dev",
        dir: c"/dev",
        proc_dir: c"/dev/proc",
        old_root: c"/dev/.sandprobe-old-root",
    },
];

/// How the userns trial sheds root before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrivilegeDrop {
    /// The invoker is not root: nothing to drop, and no DropPrivileges stage.
    None,
    /// setgroups([]), setresgid, setresuid to the target ids.
    SwitchTo { uid: u32, gid: u32 },
    /// The target ids are not mapped here (e.g. inside `unshare -U -r`): stay uid 0 but clear
    /// every capability, which is what an unprivileged invoker would hold.
    ClearCapabilities,
}

/// Everything a trial child needs, prepared before the fork so the child never allocates.
struct ChildPlan {
    stages: Vec<Stage>,
    drop: PrivilegeDrop,
    uid_map_line: Vec<u8>,
    gid_map_line: Vec<u8>,
    mount_point: Option<&'static MountPoint>,
    /// The ids the trial runs as, after the drop.
    uid: u32,
    gid: u32,
    /// Said in the trial's `note`, whatever happens.
    note: Option<String>,
}

/// A record on the report pipe: a tag (a stage's index in the plan, or [`TAG_GRANDCHILD_SIGNAL`])
/// and a value (the errno, 0 for success; or a signal number). Eight bytes, so each write is
/// atomic even with two writers (child and grandchild) on one pipe.
const RECORD_LEN: usize = 8;

/// Tag of the record a child sends when its pid-1 grandchild died by a signal.
const TAG_GRANDCHILD_SIGNAL: u32 = 0x100;

/// Exit status of a child whose code panicked (it must never unwind into the caller's copy).
const CHILD_PANICKED: i32 = 101;

/// The kernel's `_LINUX_CAPABILITY_VERSION_3`.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapabilityHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapabilityData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Runs both trials on this host: forks both children, then collects both.
pub fn run_live(options: &TrialOptions) -> Result<TrialResults, TrialError> {
    Ok(start_live(options)?.finish())
}

/// Forks both trial children and returns at once, so the caller can read files while the
/// namespaces are being built; [`RunningTrials::finish`] collects them.
pub fn start_live(options: &TrialOptions) -> Result<RunningTrials, TrialError> {
    let landlock_abi = landlock_abi();
    let uids = getresuid().map_err(setup_error("getresuid"))?;
    let gids = getresgid().map_err(setup_error("getresgid"))?;
    let mount_point = TMPFS_CANDIDATES
        .iter()
        .find(|candidate| std::fs::metadata(candidate.path).is_ok_and(|m| m.is_dir()));

    let userns_plan = userns_plan(options, &uids, &gids, mount_point);
    let root_backed_plan = match root_backed_refusal(uids.real.as_raw()) {
        Some(reason) => Err(reason),
        None => Ok(ChildPlan {
            stages: ROOT_BACKED_STAGES.to_vec(),
            drop: PrivilegeDrop::None,
            uid_map_line: Vec::new(),
            gid_map_line: Vec::new(),
            mount_point,
            uid: uids.effective.as_raw(),
            gid: gids.effective.as_raw(),
            note: None,
        }),
    };

    let mut running = RunningTrials {
        deadline: Instant::now() + TRIAL_TIMEOUT,
        userns: None,
        root_backed: None,
        root_backed_skipped: None,
        landlock_abi,
    };
    running.userns = Some(spawn(userns_plan)?);
    match root_backed_plan {
        Ok(plan) => running.root_backed = Some(spawn(plan)?),
        Err(reason) => running.root_backed_skipped = Some(reason),
    }
    Ok(running)
}

/// The userns trial's plan for this invoker.
fn userns_plan(
    options: &TrialOptions,
    uids: &ResUid,
    gids: &ResGid,
    mount_point: Option<&'static MountPoint>,
) -> ChildPlan {
    let (euid, egid) = (uids.effective.as_raw(), gids.effective.as_raw());
    let is_root = uids.real.is_root() || uids.effective.is_root();
    let mut note = None;
    let drop = if !is_root {
        PrivilegeDrop::None
    } else {
        let host = FactRoot::host();
        let uid_map = host.read_fact("proc/self/uid_map", parse_id_map);
        let gid_map = host.read_fact("proc/self/gid_map", parse_id_map);
        match (uid_map.value(), gid_map.value()) {
            (Some(uid_ranges), Some(gid_ranges)) => {
                if id_is_mapped(uid_ranges, options.target_uid)
                    && id_is_mapped(gid_ranges, options.target_gid)
                {
                    PrivilegeDrop::SwitchTo {
                        uid: options.target_uid,
                        gid: options.target_gid,
                    }
                } else {
                    note = Some(format!(
                        "uid {} / gid {} is not mapped in this user namespace: stayed uid {euid} and dropped every capability but CAP_SETFCAP instead",
                        options.target_uid, options.target_gid
                    ));
                    PrivilegeDrop::ClearCapabilities
                }
            }
            _ => {
                let unknown = if uid_map.value().is_none() {
                    fact_state(&uid_map)
                } else {
                    fact_state(&gid_map)
                };
                note = Some(format!(
                    "could not tell whether uid {} is mapped ({unknown}): tried to switch to it",
                    options.target_uid
                ));
                PrivilegeDrop::SwitchTo {
                    uid: options.target_uid,
                    gid: options.target_gid,
                }
            }
        }
    };
    let (uid, gid) = match drop {
        PrivilegeDrop::SwitchTo { uid, gid } => (uid, gid),
        PrivilegeDrop::None | PrivilegeDrop::ClearCapabilities => (euid, egid),
    };
    let stages = if drop == PrivilegeDrop::None {
        USERNS_STAGES[1..].to_vec()
    } else {
        USERNS_STAGES.to_vec()
    };
    ChildPlan {
        stages,
        drop,
        // An unprivileged writer may map exactly one id: its own effective id outside.
        uid_map_line: format!("0 {uid} 1").into_bytes(),
        gid_map_line: format!("0 {gid} 1").into_bytes(),
        mount_point,
        uid,
        gid,
        note,
    }
}

/// A short rendering of a fact that has no usable value.
fn fact_state<T>(fact: &Fact<T>) -> String {
    match fact {
        Fact::Present { source, .. } => format!("{source} is present"),
        Fact::Absent { source } => format!("{source} is absent"),
        Fact::Unreadable { source, errno } => format!("{source} is unreadable ({errno})"),
        Fact::Malformed { source, reason } => format!("{source} is malformed: {reason}"),
    }
}

/// Why the root-backed trial cannot run for this invoker, or `None` when it can.
fn root_backed_refusal(real_uid: u32) -> Option<String> {
    if real_uid != 0 {
        return Some(format!(
            "the invoker's real uid is {real_uid}, not 0: the root-backed mode is open only to a root invoker"
        ));
    }
    match effective_capabilities() {
        Ok(effective) if effective & (1u64 << CAP_SYS_ADMIN) != 0 => None,
        Ok(_) => Some(
            "the invoker is uid 0 but CAP_SYS_ADMIN is not in its effective capability set".into(),
        ),
        Err(errno) => Some(format!(
            "could not read the invoker's capabilities (capget: {})",
            errno_name(errno as i32)
        )),
    }
}

/// The effective capability set of this process, as a 64-bit mask.
fn effective_capabilities() -> Result<u64, Errno> {
    let mut header = CapabilityHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapabilityData::default(); 2];
    // SAFETY: capget writes two `CapabilityData` (the version-3 layout, `#[repr(C)]`) into
    // `data` and may write the preferred version into `header`; both outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapabilityHeader,
            data.as_mut_ptr(),
        )
    };
    Errno::result(ret)?;
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

/// CAP_SETFCAP: since Linux 5.12 the kernel asks for it, at unshare time, before a new user
/// namespace may map the parent's uid 0.
const CAP_SETFCAP: u32 = 31;

/// Clears the effective, permitted and inheritable sets (and so the ambient set) of this
/// process, all but CAP_SETFCAP. Called in a trial child that stands in for an unprivileged
/// user while staying uid 0 (the target uid is not mapped here). A real unprivileged user maps
/// its own non-zero uid, which needs no capability at all; the uid-0 stand-in has to map uid 0,
/// which the kernel allows only with CAP_SETFCAP. Keeping that one capability makes the stand-in
/// exactly as able as the user it stands for, no more: CAP_SETFCAP does not exempt it from any
/// user-namespace gate (the Debian knob exempts CAP_SYS_ADMIN, the limits exempt nothing).
fn clear_capabilities() -> Result<(), Errno> {
    let mut header = CapabilityHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let setfcap = 1u32 << CAP_SETFCAP;
    let data = [
        CapabilityData {
            effective: setfcap,
            permitted: setfcap,
            inheritable: 0,
        },
        CapabilityData::default(),
    ];
    // SAFETY: capset reads one header and two version-3 `CapabilityData`, all on this stack
    // frame for the whole call. It allocates nothing, so it is fine in a forked child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapabilityHeader,
            data.as_ptr(),
        )
    };
    Errno::result(ret).map(drop)
}

/// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the ABI version, or
/// `None` when Landlock is absent, disabled or filtered.
fn landlock_abi() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a NULL attribute pointer, size 0 and the VERSION flag, the kernel reads no
    // memory and creates no file descriptor; it only returns the ABI version or an error.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(ret).ok().filter(|abi| *abi > 0)
}

fn setup_error(operation: &'static str) -> impl Fn(Errno) -> TrialError {
    move |errno| TrialError::Setup {
        operation,
        errno: errno_name(errno as i32).to_string(),
    }
}

/// A forked trial child and what it has reported so far.
struct Child {
    plan: ChildPlan,
    pid: Pid,
    report: Option<OwnedFd>,
    bytes: Vec<u8>,
    timed_out: bool,
    /// The checker sent SIGKILL (timeout or a broken pipe).
    killed: bool,
    notes: Vec<String>,
}

/// Trial children that are running; [`RunningTrials::finish`] collects them. Dropping it
/// unfinished kills and reaps them.
pub struct RunningTrials {
    deadline: Instant,
    userns: Option<Child>,
    root_backed: Option<Child>,
    root_backed_skipped: Option<String>,
    landlock_abi: Option<u32>,
}

impl std::fmt::Debug for RunningTrials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningTrials")
            .field("userns", &self.userns.as_ref().map(|c| c.pid))
            .field("root_backed", &self.root_backed.as_ref().map(|c| c.pid))
            .finish_non_exhaustive()
    }
}

impl RunningTrials {
    /// Waits for both children (at most [`TRIAL_TIMEOUT`] after the start, then kills them)
    /// and assembles the results.
    pub fn finish(self) -> TrialResults {
        let (results, exiting) = self.finish_before_exit();
        exiting.reap();
        results
    }

    /// Like [`RunningTrials::finish`], but returns as soon as every report is complete,
    /// without waiting for the children to finish exiting.
    ///
    /// A child that has reported its last stage (or its first failure) has nothing more to
    /// say; what remains is the kernel tearing down its namespaces, and unmounting waits for
    /// an RCU grace period. Nothing in the results depends on that, so the caller reaps the
    /// children later, through the returned [`ExitingTrialChildren`].
    pub fn finish_before_exit(mut self) -> (TrialResults, ExitingTrialChildren) {
        let mut exiting = ExitingTrialChildren { pids: Vec::new() };
        let mut children: Vec<&mut Child> = self
            .userns
            .iter_mut()
            .chain(self.root_backed.iter_mut())
            .collect();
        read_reports(&mut children, self.deadline);
        for child in children {
            if !child.killed && report_complete(child) {
                child.report = None;
                exiting.pids.push(child.pid);
            } else {
                // Something went wrong: its exit status explains what.
                reap(child);
            }
        }
        let userns = self
            .userns
            .take()
            .map(|child| Trial::Ran(assemble(child)))
            .unwrap_or_else(|| Trial::Skipped {
                reason: "the userns trial was not started".into(),
            });
        let root_backed = match (self.root_backed.take(), self.root_backed_skipped.take()) {
            (Some(child), _) => Trial::Ran(assemble(child)),
            (None, Some(reason)) => Trial::Skipped { reason },
            (None, None) => Trial::Skipped {
                reason: "the root-backed trial was not started".into(),
            },
        };
        let results = TrialResults {
            origin: TrialOrigin::Live,
            userns,
            root_backed,
            landlock_abi: self.landlock_abi,
        };
        (results, exiting)
    }
}

/// Trial children whose reports are complete and which are only exiting.
///
/// Dropping this reaps them, waiting for the kernel's namespace teardown.
#[must_use = "the trial children must be reaped"]
#[derive(Debug, Default)]
pub struct ExitingTrialChildren {
    pids: Vec<Pid>,
}

impl ExitingTrialChildren {
    /// Reaps every child, waiting until each has finished exiting.
    pub fn reap(mut self) {
        self.reap_all();
    }

    /// For a process that is about to exit: reaps the children that are already gone and
    /// leaves the rest to be reaped by init when this process exits. Each of them has closed
    /// its report pipe, which it only does by exiting, so none can run anything again.
    pub fn leave_to_init(mut self) {
        for pid in std::mem::take(&mut self.pids) {
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
        }
    }

    fn reap_all(&mut self) {
        for pid in std::mem::take(&mut self.pids) {
            while let Err(Errno::EINTR) = waitpid(pid, None) {}
        }
    }
}

impl Drop for ExitingTrialChildren {
    fn drop(&mut self) {
        self.reap_all();
    }
}

/// The child has reported its last stage, or a failure (after which it reports nothing more).
fn report_complete(child: &Child) -> bool {
    let last = child.plan.stages.len().saturating_sub(1);
    child.bytes.chunks_exact(RECORD_LEN).any(|record| {
        let mut tag = [0u8; 4];
        let mut value = [0u8; 4];
        tag.copy_from_slice(&record[..4]);
        value.copy_from_slice(&record[4..]);
        let (tag, value) = (u32::from_ne_bytes(tag), i32::from_ne_bytes(value));
        usize::try_from(tag).is_ok_and(|index| index < child.plan.stages.len())
            && (value != 0 || usize::try_from(tag) == Ok(last))
    })
}

impl Drop for RunningTrials {
    fn drop(&mut self) {
        for child in self.userns.iter_mut().chain(self.root_backed.iter_mut()) {
            kill_child(child);
            reap(child);
        }
    }
}

/// Forks one trial child. The child reports over a fresh pipe; the parent keeps the read end.
fn spawn(plan: ChildPlan) -> Result<Child, TrialError> {
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(setup_error("pipe"))?;
    let parent = getpid();
    // SAFETY: after fork the child runs only `child_main`, which calls async-signal-safe
    // syscalls on data prepared before the fork (no allocation, no locks), and leaves with
    // `_exit`, so it never returns into the caller's code even if the caller had threads.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // A panic must not unwind into the caller's code in this copy of the process.
            let outcome = std::panic::catch_unwind::<_, ()>(std::panic::AssertUnwindSafe(|| {
                child_main(&plan, write_end.as_fd(), parent)
            }));
            let status = if outcome.is_err() { CHILD_PANICKED } else { 0 };
            // SAFETY: `_exit` ends the child without running the caller's destructors or
            // atexit handlers, which belong to the parent.
            unsafe { libc::_exit(status) }
        }
        Ok(ForkResult::Parent { child }) => {
            // Its own process group, so a timeout can kill the child and its pid-1 grandchild
            // in one go (the grandchild inherits the group). The child does the same, to win
            // the race either way.
            let _ = setpgid(child, child);
            drop(write_end);
            Ok(Child {
                plan,
                pid: child,
                report: Some(read_end),
                bytes: Vec::new(),
                timed_out: false,
                killed: false,
                notes: Vec::new(),
            })
        }
        Err(errno) => Err(setup_error("fork")(errno)),
    }
}

/// Reads every child's reports until EOF or the deadline; kills the children that miss it.
fn read_reports(children: &mut [&mut Child], deadline: Instant) {
    let mut buf = [0u8; 256];
    loop {
        let open: Vec<usize> = (0..children.len())
            .filter(|&i| children[i].report.is_some())
            .collect();
        if open.is_empty() {
            return;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            for &i in &open {
                children[i].timed_out = true;
                kill_child(children[i]);
                children[i].report = None;
            }
            return;
        }
        let millis = u16::try_from(remaining.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> = open
                .iter()
                .filter_map(|&i| children[i].report.as_ref())
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::from(millis)) {
                Ok(_) => fds
                    .iter()
                    .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                    .collect(),
                Err(Errno::EINTR) => continue,
                Err(errno) => {
                    for &i in &open {
                        children[i].notes.push(format!(
                            "failed to poll the report pipe: {}",
                            errno_name(errno as i32)
                        ));
                        kill_child(children[i]);
                        children[i].report = None;
                    }
                    return;
                }
            }
        };
        for (&i, is_ready) in open.iter().zip(ready) {
            if !is_ready {
                continue;
            }
            let child = &mut *children[i];
            let Some(fd) = child.report.as_ref() else {
                continue;
            };
            match read(fd, &mut buf) {
                Ok(0) => child.report = None,
                Ok(n) => child.bytes.extend_from_slice(&buf[..n]),
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(errno) => {
                    child.notes.push(format!(
                        "failed to read the report pipe: {}",
                        errno_name(errno as i32)
                    ));
                    kill_child(child);
                    child.report = None;
                }
            }
        }
    }
}

/// SIGKILLs a child's process group (the child and its grandchild) and the child itself.
fn kill_child(child: &mut Child) {
    let _ = killpg(child.pid, Signal::SIGKILL);
    let _ = kill(child.pid, Signal::SIGKILL);
    child.killed = true;
}

/// How long a killed child may take to die before the checker gives up on it. SIGKILL can
/// wait on a task stuck in uninterruptible sleep; the checker must not hang with it.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// Waits for a child to exit and notes an unusual end.
fn reap(child: &mut Child) {
    child.report = None;
    let give_up = child.killed.then(|| Instant::now() + KILL_GRACE);
    let flags = give_up.map(|_| WaitPidFlag::WNOHANG);
    loop {
        match waitpid(child.pid, flags) {
            Err(Errno::EINTR) => continue,
            Ok(WaitStatus::StillAlive) => {
                if give_up.is_some_and(|at| Instant::now() >= at) {
                    child
                        .notes
                        .push("the trial child did not die after SIGKILL".into());
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            Ok(WaitStatus::Exited(_, 0)) => {}
            Ok(WaitStatus::Exited(_, CHILD_PANICKED)) => child
                .notes
                .push("the trial child hit an internal error".into()),
            Ok(WaitStatus::Exited(_, code)) => child
                .notes
                .push(format!("the trial child exited with status {code}")),
            Ok(WaitStatus::Signaled(_, signal, _)) if !child.killed => child
                .notes
                .push(format!("the trial child was killed by {}", signal.as_str())),
            Ok(WaitStatus::Signaled(..)) => {}
            Ok(_) => continue,
            // ECHILD: someone else reaped it (e.g. SIGCHLD is ignored); nothing to report.
            Err(_) => {}
        }
        return;
    }
}

/// Turns a finished child's records into its trial run.
fn assemble(mut child: Child) -> TrialRun {
    let mut outcomes: Vec<Option<StageOutcome>> = vec![None; child.plan.stages.len()];
    for record in child.bytes.chunks_exact(RECORD_LEN) {
        let mut tag = [0u8; 4];
        let mut value = [0u8; 4];
        tag.copy_from_slice(&record[..4]);
        value.copy_from_slice(&record[4..]);
        let (tag, value) = (u32::from_ne_bytes(tag), i32::from_ne_bytes(value));
        if tag == TAG_GRANDCHILD_SIGNAL {
            let signal = Signal::try_from(value).map_or("an unknown signal", |s| s.as_str());
            child
                .notes
                .push(format!("the pid-1 grandchild was killed by {signal}"));
            continue;
        }
        if let Some(slot @ None) = usize::try_from(tag)
            .ok()
            .and_then(|index| outcomes.get_mut(index))
        {
            *slot = Some(if value == 0 {
                StageOutcome::Ok
            } else {
                StageOutcome::Failed {
                    errno: errno_name(value).to_string(),
                }
            });
        }
    }
    let mut notes: Vec<String> = child.plan.note.take().into_iter().collect();
    if child.timed_out {
        notes.push("timed out".into());
    }
    notes.append(&mut child.notes);
    let mut stopped = false;
    let stages = child
        .plan
        .stages
        .iter()
        .zip(outcomes)
        .map(|(&stage, outcome)| {
            // The child stops at its first failure, so anything it reported after a gap is
            // impossible; keep the chain consistent by reporting it as not reached.
            let outcome = match outcome {
                Some(outcome) if !stopped => outcome,
                _ => StageOutcome::NotReached,
            };
            stopped |= !matches!(outcome, StageOutcome::Ok);
            StageResult { stage, outcome }
        })
        .collect();
    TrialRun {
        uid: child.plan.uid,
        gid: child.plan.gid,
        stages,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

// ---------------------------------------------------------------------------------------------
// The child side. Everything below runs after fork: no allocation, no panics, only syscalls.
// ---------------------------------------------------------------------------------------------

/// Runs the plan's stages in order, reporting each, and stops at the first failure.
fn child_main(plan: &ChildPlan, report: BorrowedFd<'_>, parent: Pid) -> ! {
    // Die with the checker, and never outlive it: if it is already gone, stop here.
    let _ = set_pdeathsig(Signal::SIGKILL);
    if getppid() != parent {
        exit_child(0);
    }
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    for (index, &stage) in plan.stages.iter().enumerate() {
        let tag = index as u32;
        if stage == Stage::MountProc {
            // The grandchild reports the outcome itself; go on only if it succeeded.
            if mount_proc(plan, report, tag) {
                continue;
            }
            break;
        }
        let result = run_stage(plan, stage);
        send(report, tag, result.err().map_or(0, |errno| errno as i32));
        if result.is_err() {
            break;
        }
    }
    exit_child(0)
}

/// One stage other than [`Stage::MountProc`].
fn run_stage(plan: &ChildPlan, stage: Stage) -> Result<(), Errno> {
    match stage {
        Stage::DropPrivileges => drop_privileges(plan.drop),
        Stage::UnshareUser => unshare(CloneFlags::CLONE_NEWUSER),
        // Kernels before 3.19 have no setgroups file and need no "deny".
        Stage::SetgroupsDeny => match write_file(c"/proc/self/setgroups", b"deny") {
            Err(Errno::ENOENT) => Ok(()),
            other => other,
        },
        Stage::UidMap => write_file(c"/proc/self/uid_map", &plan.uid_map_line),
        Stage::GidMap => write_file(c"/proc/self/gid_map", &plan.gid_map_line),
        Stage::UnshareNamespaces => unshare(
            CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWPID
                | CloneFlags::CLONE_NEWNET
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_NEWUTS,
        ),
        Stage::MakeRootPrivate => mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&CStr>,
        ),
        Stage::MountTmpfs => match plan.mount_point {
            Some(point) => mount(
                Some(c"tmpfs"),
                point.dir,
                Some(c"tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(c"mode=0755,size=64k"),
            ),
            None => Err(Errno::ENOENT),
        },
        // Handled by `mount_proc` in the grandchild.
        Stage::MountProc => Err(Errno::EINVAL),
        Stage::PivotRoot => match plan.mount_point {
            Some(point) => pivot_into(point),
            None => Err(Errno::ENOENT),
        },
        Stage::LoopbackUp => loopback_up(),
    }
}

/// pivot_root into the trial's tmpfs, then detach the old root, as the launcher does.
fn pivot_into(point: &MountPoint) -> Result<(), Errno> {
    match mkdir(point.old_root, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(errno) => return Err(errno),
    }
    // SAFETY: pivot_root takes two NUL-terminated paths, both static C strings.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_pivot_root,
            point.dir.as_ptr(),
            point.old_root.as_ptr(),
        )
    })?;
    nix::unistd::chdir(c"/")?;
    nix::mount::umount2(OLD_ROOT_AFTER_PIVOT, nix::mount::MntFlags::MNT_DETACH)
}

/// Sets IFF_UP on `lo` in the new network namespace (SIOCGIFFLAGS, then SIOCSIFFLAGS).
fn loopback_up() -> Result<(), Errno> {
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: `request` is a valid ifreq naming "lo" (NUL-terminated by the zeroing) and
    // outlives the call; SIOCGIFFLAGS fills its flags.
    Errno::result(unsafe {
        libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut request)
    })?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; the kernel reads the flags.
    Errno::result(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS as _, &request) })
        .map(drop)
}

fn drop_privileges(drop: PrivilegeDrop) -> Result<(), Errno> {
    match drop {
        PrivilegeDrop::None => Ok(()),
        PrivilegeDrop::ClearCapabilities => clear_capabilities(),
        PrivilegeDrop::SwitchTo { uid, gid } => {
            let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
            setgroups(&[])?;
            setresgid(gid, gid, gid)?;
            setresuid(uid, uid, uid)?;
            // Changing ids made the process non-dumpable, which makes its /proc/self files
            // root-owned: the uid_map write would then fail with EACCES. An unprivileged
            // invoker is dumpable, so restore that. The id change also cleared the
            // parent-death signal; set it again.
            set_dumpable(true)?;
            set_pdeathsig(Signal::SIGKILL)
        }
    }
}

/// Forks the pid-1 grandchild that mounts a fresh proc, and waits for it; true when the mount
/// succeeded (the grandchild reports the outcome and exits 0 only then).
fn mount_proc(plan: &ChildPlan, report: BorrowedFd<'_>, tag: u32) -> bool {
    let Some(point) = plan.mount_point else {
        send(report, tag, Errno::ENOENT as i32);
        return false;
    };
    // SAFETY: this process is a forked, single-threaded trial child; the grandchild runs only
    // async-signal-safe syscalls on pre-built C strings and leaves with `_exit`.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let _ = set_pdeathsig(Signal::SIGKILL);
            let result = match mkdir(point.proc_dir, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => mount(
                    Some(c"proc"),
                    point.proc_dir,
                    Some(c"proc"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    None::<&CStr>,
                ),
                Err(errno) => Err(errno),
            };
            send(report, tag, result.err().map_or(0, |errno| errno as i32));
            exit_child(i32::from(result.is_err()))
        }
        Ok(ForkResult::Parent { child }) => loop {
            match waitpid(child, None) {
                Err(Errno::EINTR) => continue,
                Ok(WaitStatus::Signaled(_, signal, _)) => {
                    send(report, TAG_GRANDCHILD_SIGNAL, signal as i32);
                    return false;
                }
                Ok(WaitStatus::Exited(_, status)) => return status == 0,
                Err(_) => return false,
                Ok(_) => continue,
            }
        },
        Err(errno) => {
            send(report, tag, errno as i32);
            false
        }
    }
}

/// Writes `bytes` to `path` in one write(2), as the id-map files require.
fn write_file(path: &CStr, bytes: &[u8]) -> Result<(), Errno> {
    let fd = open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    loop {
        match write(&fd, bytes) {
            Err(Errno::EINTR) => continue,
            Ok(n) if n == bytes.len() => return Ok(()),
            Ok(_) => return Err(Errno::EIO),
            Err(errno) => return Err(errno),
        }
    }
}

/// Sends one record to the parent. A lost record reads as "not reached", so errors are moot.
fn send(report: BorrowedFd<'_>, tag: u32, value: i32) {
    let mut record = [0u8; RECORD_LEN];
    record[..4].copy_from_slice(&tag.to_ne_bytes());
    record[4..].copy_from_slice(&value.to_ne_bytes());
    while let Err(Errno::EINTR) = write(report, &record) {}
}

fn exit_child(status: i32) -> ! {
    // SAFETY: `_exit` ends this forked child at once, without the parent's destructors or
    // atexit handlers; it is async-signal-safe.
    unsafe { libc::_exit(status) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture_with(contents: &str) -> (tempfile::TempDir, FactRoot) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(TRIAL_FILE), contents).expect("write trial file");
        let root = FactRoot::fixture(dir.path());
        (dir, root)
    }

    const VALID: &str = r#"{
      "format_version": 2,
      "userns": {
        "state": "ran", "uid": 65534, "gid": 65534,
        "stages": [
          {"stage": "drop_privileges", "outcome": "ok"},
          {"stage": "unshare_user", "outcome": "ok"},
          {"stage": "setgroups_deny", "outcome": "ok"},
          {"stage": "uid_map", "outcome": "failed", "errno": "EPERM"},
          {"stage": "gid_map", "outcome": "not_reached"},
          {"stage": "unshare_namespaces", "outcome": "not_reached"},
          {"stage": "make_root_private", "outcome": "not_reached"},
          {"stage": "mount_tmpfs", "outcome": "not_reached"},
          {"stage": "mount_proc", "outcome": "not_reached"},
          {"stage": "pivot_root", "outcome": "not_reached"},
          {"stage": "loopback_up", "outcome": "not_reached"}
        ],
        "note": "recorded on Ubuntu 24.04"
      },
      "root_backed": {
        "state": "ran", "uid": 0, "gid": 0,
        "stages": [
          {"stage": "unshare_namespaces", "outcome": "ok"},
          {"stage": "make_root_private", "outcome": "ok"},
          {"stage": "mount_tmpfs", "outcome": "ok"},
          {"stage": "mount_proc", "outcome": "ok"},
          {"stage": "pivot_root", "outcome": "ok"},
          {"stage": "loopback_up", "outcome": "ok"}
        ]
      },
      "landlock_abi": 4
    }"#;

    fn parse_error(contents: &str) -> String {
        let (_dir, root) = fixture_with(contents);
        match read_recorded(&root) {
            Err(TrialError::ParseTrialFile { reason, .. }) => reason,
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_file_reads_back_as_recorded() {
        let (_dir, root) = fixture_with(VALID);
        let results = read_recorded(&root).expect("valid file");
        assert_eq!(results.origin, TrialOrigin::Recorded);
        assert_eq!(results.landlock_abi, Some(4));
        let userns = results.userns.run().expect("userns ran");
        assert_eq!((userns.uid, userns.gid), (65534, 65534));
        assert_eq!(userns.first_failure(), Some((Stage::UidMap, "EPERM")));
        assert_eq!(userns.note.as_deref(), Some("recorded on Ubuntu 24.04"));
        assert!(results.root_backed.run().expect("root-backed ran").passed());
        assert_eq!(root.requested_paths(), vec![TRIAL_FILE.to_string()]);
    }

    #[test]
    fn a_skipped_trial_and_a_missing_drop_stage_are_fine() {
        let mut file: serde_json::Value = serde_json::from_str(VALID).expect("json");
        file["root_backed"] = serde_json::json!({"state": "skipped", "reason": "not root"});
        if let Some(stages) = file["userns"]["stages"].as_array_mut() {
            stages.remove(0);
        }
        let (_dir, root) = fixture_with(&file.to_string());
        let results = read_recorded(&root).expect("valid file");
        assert_eq!(
            results.root_backed,
            Trial::Skipped {
                reason: "not root".into()
            }
        );
        assert_eq!(
            results.userns.run().map(|r| r.stages[0].stage),
            Some(Stage::UnshareUser)
        );
    }

    #[test]
    fn a_skipped_trial_needs_a_reason() {
        let mut file: serde_json::Value = serde_json::from_str(VALID).expect("json");
        file["root_backed"] = serde_json::json!({"state": "skipped", "reason": " "});
        assert_eq!(
            parse_error(&file.to_string()),
            "root_backed: a skipped trial needs a non-empty reason"
        );
    }

    #[test]
    fn unknown_fields_are_refused_at_every_level() {
        let top = VALID.replace(r#""landlock_abi": 4"#, r#""landlock_abi": 4, "extra": 1"#);
        assert!(parse_error(&top).contains("unknown field `extra`"));
        let in_run = VALID.replace(r#""uid": 0,"#, r#""uid": 0, "euid": 0,"#);
        assert!(parse_error(&in_run).contains("unknown field `euid`"));
        let in_stage = VALID.replace(
            r#"{"stage": "mount_tmpfs", "outcome": "ok"}"#,
            r#"{"stage": "mount_tmpfs", "outcome": "ok", "errno": "EPERM"}"#,
        );
        assert!(parse_error(&in_stage).contains("unknown field `errno`"));
    }

    #[test]
    fn a_missing_file_is_reported_as_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        match read_recorded(&FactRoot::fixture(dir.path())) {
            Err(TrialError::ReadTrialFile { problem, .. }) => assert_eq!(problem, "missing"),
            other => panic!("expected a read error, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_format_version_is_refused() {
        let reason =
            parse_error(&VALID.replace(r#""format_version": 2"#, r#""format_version": 1"#));
        assert_eq!(
            reason,
            "format_version is 1, but this build reads only version 2 (older files lack the \
             pivot_root and loopback_up stages: collect the host again)"
        );
    }

    #[test]
    fn an_unknown_errno_is_refused() {
        let reason = parse_error(&VALID.replace("EPERM", "EBOGUS"));
        assert_eq!(
            reason,
            r#"userns: stage uid_map failed with "EBOGUS", which is not a known errno name"#
        );
    }

    #[test]
    fn out_of_order_stages_are_refused() {
        let text = VALID.replace(
            r#"{"stage": "unshare_namespaces", "outcome": "ok"},
          {"stage": "make_root_private", "outcome": "ok"},"#,
            r#"{"stage": "make_root_private", "outcome": "ok"},
          {"stage": "unshare_namespaces", "outcome": "ok"},"#,
        );
        assert_eq!(
            parse_error(&text),
            "root_backed: stage unshare_namespaces comes after make_root_private, out of order \
             (the order is: unshare_namespaces, make_root_private, mount_tmpfs, mount_proc, \
             pivot_root, loopback_up)"
        );
    }

    #[test]
    fn duplicate_missing_and_foreign_stages_are_refused() {
        let duplicate = VALID.replace(
            r#"{"stage": "mount_tmpfs", "outcome": "ok"},"#,
            r#"{"stage": "mount_tmpfs", "outcome": "ok"}, {"stage": "mount_tmpfs", "outcome": "ok"},"#,
        );
        assert_eq!(
            parse_error(&duplicate),
            "root_backed: stage mount_tmpfs appears more than once"
        );
        let missing = VALID.replace(r#"{"stage": "mount_tmpfs", "outcome": "ok"},"#, "");
        assert_eq!(
            parse_error(&missing),
            "root_backed: stage mount_tmpfs is missing"
        );
        let foreign = VALID.replace(
            r#""stages": [
          {"stage": "unshare_namespaces", "outcome": "ok"},"#,
            r#""stages": [
          {"stage": "drop_privileges", "outcome": "ok"},
          {"stage": "unshare_namespaces", "outcome": "ok"},"#,
        );
        assert!(parse_error(&foreign)
            .starts_with("root_backed: stage drop_privileges is not part of this trial"));
    }

    #[test]
    fn an_outcome_after_a_failure_is_refused() {
        let text = VALID.replace(
            r#"{"stage": "gid_map", "outcome": "not_reached"}"#,
            r#"{"stage": "gid_map", "outcome": "ok"}"#,
        );
        assert_eq!(
            parse_error(&text),
            "userns: stage gid_map has an outcome although uid_map did not succeed \
             (a trial stops at its first failure)"
        );
    }

    #[test]
    fn garbage_is_refused_with_a_one_line_reason() {
        for garbage in [
            "",
            "not json",
            "{\"format_version\": 1",
            "[1, 2, 3]",
            "\u{0}\u{1}",
        ] {
            let reason = parse_error(garbage);
            assert!(!reason.is_empty() && !reason.contains('\n'), "{reason:?}");
        }
        let unknown_stage = parse_error(&VALID.replace("\"mount_proc\"", "\"mount_sys\""));
        assert!(
            unknown_stage.contains("unknown variant `mount_sys`"),
            "{unknown_stage}"
        );
        let zero_abi = parse_error(&VALID.replace(r#""landlock_abi": 4"#, r#""landlock_abi": 0"#));
        assert!(zero_abi.starts_with("landlock_abi is 0"), "{zero_abi}");
    }

    /// A chain as a live run produces it: `ok` up to `failed_at`, which fails with `errno`
    /// (or passes when beyond the end), then `not_reached`.
    fn chain(stages: &[Stage], failed_at: usize, errno: &str) -> Vec<StageResult> {
        stages
            .iter()
            .enumerate()
            .map(|(i, &stage)| StageResult {
                stage,
                outcome: match i.cmp(&failed_at) {
                    std::cmp::Ordering::Less => StageOutcome::Ok,
                    std::cmp::Ordering::Equal => StageOutcome::Failed {
                        errno: errno.into(),
                    },
                    std::cmp::Ordering::Greater => StageOutcome::NotReached,
                },
            })
            .collect()
    }

    proptest! {
        #[test]
        fn live_shaped_results_round_trip_through_the_trial_file(
            with_drop in any::<bool>(),
            userns_fail in 0usize..10,
            root_fail in 0usize..5,
            errno in prop::sample::select(vec!["EPERM", "EINVAL", "ENOSPC", "EACCES", "EUSERS"]),
            skipped in any::<bool>(),
            uid in any::<u32>(),
            landlock in prop::option::of(1u32..10),
            note in prop::option::of("[a-z ]{0,20}"),
        ) {
            let userns_stages = if with_drop { &USERNS_STAGES[..] } else { &USERNS_STAGES[1..] };
            let results = TrialResults {
                origin: TrialOrigin::Live,
                userns: Trial::Ran(TrialRun {
                    uid,
                    gid: uid,
                    stages: chain(userns_stages, userns_fail, errno),
                    note,
                }),
                root_backed: if skipped {
                    Trial::Skipped { reason: "not root".into() }
                } else {
                    Trial::Ran(TrialRun {
                        uid: 0,
                        gid: 0,
                        stages: chain(&ROOT_BACKED_STAGES, root_fail, errno),
                        note: None,
                    })
                },
                landlock_abi: landlock,
            };
            let bytes = serde_json::to_vec_pretty(&to_trial_file(&results)).expect("serialize");
            let file = parse_trial_file(&bytes).map_err(TestCaseError::fail)?;
            prop_assert_eq!(file.userns, results.userns);
            prop_assert_eq!(file.root_backed, results.root_backed);
            prop_assert_eq!(file.landlock_abi, results.landlock_abi);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_trial_file(&bytes);
        }
    }

    fn root_backed_test_plan(note: Option<&str>) -> ChildPlan {
        ChildPlan {
            stages: ROOT_BACKED_STAGES.to_vec(),
            drop: PrivilegeDrop::None,
            uid_map_line: Vec::new(),
            gid_map_line: Vec::new(),
            mount_point: None,
            uid: 0,
            gid: 0,
            note: note.map(str::to_string),
        }
    }

    #[test]
    fn assemble_fills_gaps_and_keeps_notes() {
        let plan = root_backed_test_plan(Some("planned"));
        let mut bytes = Vec::new();
        for (tag, value) in [
            (0u32, 0i32),
            (1, 0),
            (TAG_GRANDCHILD_SIGNAL, libc::SIGKILL),
            (3, 0),
        ] {
            bytes.extend_from_slice(&tag.to_ne_bytes());
            bytes.extend_from_slice(&value.to_ne_bytes());
        }
        let run = assemble(Child {
            plan,
            pid: Pid::from_raw(1),
            report: None,
            bytes,
            timed_out: true,
            killed: true,
            notes: Vec::new(),
        });
        let outcomes: Vec<_> = run.stages.iter().map(|s| s.outcome.clone()).collect();
        assert_eq!(
            outcomes,
            vec![
                StageOutcome::Ok,
                StageOutcome::Ok,
                StageOutcome::NotReached,
                StageOutcome::NotReached,
                StageOutcome::NotReached,
                StageOutcome::NotReached
            ]
        );
        assert_eq!(
            run.note.as_deref(),
            Some("planned; timed out; the pid-1 grandchild was killed by SIGKILL")
        );
    }

    /// The timeout path, exercised on a stand-in child (`sleep`, spawned the ordinary way:
    /// no fork or namespace in the harness) that holds the report pipe and never writes.
    #[test]
    // The stand-in is reaped by `reap` through its pid, which is what this test checks.
    #[allow(clippy::zombie_processes)]
    fn a_child_that_never_finishes_is_killed_reaped_and_noted() {
        use std::os::unix::process::CommandExt;

        let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let sleeper = std::process::Command::new("sleep")
            .arg("30")
            .stdout(std::process::Stdio::from(write_end))
            .process_group(0)
            .spawn()
            .expect("spawn sleep");
        let pid = Pid::from_raw(i32::try_from(sleeper.id()).expect("pid fits"));
        let mut child = Child {
            plan: root_backed_test_plan(None),
            pid,
            report: Some(read_end),
            bytes: Vec::new(),
            timed_out: false,
            killed: false,
            notes: Vec::new(),
        };
        let start = Instant::now();
        read_reports(&mut [&mut child], start + Duration::from_millis(100));
        reap(&mut child);
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(100) && elapsed < Duration::from_secs(3),
            "{elapsed:?}"
        );
        assert!(child.timed_out && child.killed);
        assert_eq!(kill(pid, None), Err(Errno::ESRCH), "the child is gone");
        let run = assemble(child);
        assert_eq!(run.note.as_deref(), Some("timed out"));
        assert!(run
            .stages
            .iter()
            .all(|s| s.outcome == StageOutcome::NotReached));
    }
}
