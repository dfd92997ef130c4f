//! Probes gather the facts a sandbox verdict rests on: files under a root directory, plus live trials.
//!
//! The data flows one way: facts (here) → verdict → plan → syscalls. A fixture only has to
//! replace this first step, so every probe reads through [`fact::FactRoot`], and the live trials
//! can be swapped for a recorded trial file.

pub mod fact;
pub mod kconfig;
pub mod kernel;
pub mod privileges;
pub mod process;
pub mod security;
pub mod sysctl;
pub mod trials;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use fact::{BadFact, Fact, FactRoot};

/// Everything the probes found about one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostFacts {
    pub kernel: kernel::KernelFacts,
    pub kconfig: kconfig::KconfigFacts,
    pub knobs: sysctl::SysctlKnobs,
    pub process: process::ProcessFacts,
    pub security: security::SecurityContext,
    pub privileges: privileges::Privileges,
    pub trials: trials::TrialResults,
}

/// Where the trial outcomes come from.
#[derive(Debug, Clone)]
pub enum TrialSource {
    /// Run the trials now, on this host.
    Live(trials::TrialOptions),
    /// Read them from the fixture's trial file; nothing is executed.
    Recorded,
}

/// Why the facts could not be gathered at all.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error(transparent)]
    Trials(#[from] trials::TrialError),
}

/// Runs every probe. File reads happen while the live trials' children run.
pub fn gather(root: &FactRoot, source: &TrialSource) -> Result<HostFacts, GatherError> {
    let (facts, exiting) = gather_before_exit(root, source)?;
    exiting.reap();
    Ok(facts)
}

/// Like [`gather`], but returns as soon as the trials have reported, leaving their children
/// to be reaped through the returned handle (see [`trials::RunningTrials::finish_before_exit`]).
pub fn gather_before_exit(
    root: &FactRoot,
    source: &TrialSource,
) -> Result<(HostFacts, trials::ExitingTrialChildren), GatherError> {
    // The live trials' children start first, so the file reads below overlap with them.
    let running = match source {
        TrialSource::Live(options) => Some(trials::start_live(options)?),
        TrialSource::Recorded => None,
    };
    let kernel = kernel::probe(root);
    let release = kernel.release.value().map(|r| r.raw.clone());
    let kconfig = kconfig::probe(root, release.as_deref());
    let knobs = sysctl::probe(root);
    let process = process::probe(root);
    let security = security::probe(root);
    let privileges = privileges::probe(&process);
    let (trials, exiting) = match running {
        Some(running) => running.finish_before_exit(),
        None => (
            trials::read_recorded(root)?,
            trials::ExitingTrialChildren::default(),
        ),
    };
    let facts = HostFacts {
        kernel,
        kconfig,
        knobs,
        process,
        security,
        privileges,
        trials,
    };
    Ok((facts, exiting))
}

impl HostFacts {
    /// Facts that are unreadable or malformed. A fixture with any is refused; on a live host
    /// they are reported as unknown.
    pub fn bad_facts(&self) -> Vec<BadFact> {
        let mut bad = Vec::new();
        bad.extend(self.kernel.release.bad());
        bad.extend(self.kernel.proc_version.bad());
        bad.extend(self.kconfig.config.bad());
        bad.extend(self.knobs.max_user_namespaces.bad());
        bad.extend(self.knobs.unprivileged_userns_clone.bad());
        bad.extend(self.knobs.apparmor_restrict_unprivileged_userns.bad());
        bad.extend(self.knobs.apparmor_restrict_unprivileged_unconfined.bad());
        bad.extend(
            self.knobs
                .apparmor_restrict_unprivileged_userns_complain
                .bad(),
        );
        bad.extend(self.knobs.apparmor_restrict_unprivileged_userns_force.bad());
        bad.extend(self.knobs.rhel7_user_namespace_enable.bad());
        bad.extend(self.knobs.cmdline.bad());
        bad.extend(self.process.status.bad());
        bad.extend(self.process.uid_map.bad());
        bad.extend(self.process.gid_map.bad());
        bad.extend(self.security.lsm.active.bad());
        bad.extend(self.security.lsm.apparmor_enabled.bad());
        bad.extend(self.security.lsm.selinux_enforcing.bad());
        bad.extend(self.security.proc_sys_read_only.bad());
        bad.extend(self.security.root_is_mount_point.bad());
        bad
    }
}
