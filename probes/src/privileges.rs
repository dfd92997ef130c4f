//! Who we are: real and effective uid, and whether root-backed mode is open to this invoker.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::process::{ProcessFacts, CAP_SYS_ADMIN};

/// The invoker's privileges, derived from the process facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Privileges {
    pub real_uid: Option<u32>,
    pub effective_uid: Option<u32>,
    /// CAP_SYS_ADMIN is in the effective set, in the current user namespace.
    pub cap_sys_admin: Option<bool>,
    /// CAP_SYS_ADMIN is in the bounding set: a root process here could have it.
    pub cap_sys_admin_bounding: Option<bool>,
    /// The real uid is 0 and CAP_SYS_ADMIN is held: the root-backed mode is open to us.
    pub root_backed_possible: bool,
}

impl Privileges {
    /// The invoker's real uid is 0.
    pub fn is_root(&self) -> bool {
        self.real_uid == Some(0)
    }
}

/// Derives the privileges from `/proc/self/status`.
pub fn probe(process: &ProcessFacts) -> Privileges {
    let status = process.status.value();
    let has = |set: u64| set & (1u64 << CAP_SYS_ADMIN) != 0;
    let real_uid = status.map(|s| s.uid[0]);
    let cap_sys_admin = status.map(|s| has(s.cap_effective));
    Privileges {
        real_uid,
        effective_uid: status.map(|s| s.uid[1]),
        cap_sys_admin,
        cap_sys_admin_bounding: status.map(|s| has(s.cap_bounding)),
        root_backed_possible: real_uid == Some(0) && cap_sys_admin == Some(true),
    }
}
