//! The bundled sandbox launcher behind `sandbox-run`, in userns and root-backed modes.

pub mod harden;
pub mod seccomp;
