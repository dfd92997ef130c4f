//! sandprobe: can this Linux host run secure sandboxes, and how? Then run them.
//!
//! Facts come from the `sandprobe-probes` crate; this crate turns them into a verdict
//! ([`verdict`]), renders it, and launches sandboxes ([`launcher`]).

pub mod launcher;
