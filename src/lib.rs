//! sandprobe: can this Linux host run secure sandboxes, and how? Then run them.
//!
//! Facts come from the `sandprobe-probes` crate; this crate turns them into a verdict
//! ([`verdict`]), a report ([`report`], [`checks`]) and its renderings ([`render`]), and launches
//! sandboxes ([`launcher`]). The data flows one way: facts → verdict → plan → syscalls.

pub mod assets;
pub mod checks;
pub mod cli;
pub mod collect;
pub mod exit;
pub mod launcher;
pub mod matrix;
pub mod oom;
pub mod render;
pub mod report;
pub mod verdict;
pub mod verify;
