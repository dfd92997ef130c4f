//! `sandprobe collect`: captures this host as a fixture — the exact files the probes read, plus the trials.
//!
//! The probes run against a recording [`FactRoot`], so the fixture holds what they read and
//! nothing else. Two files can carry secrets and are reduced to what the probes use:
//! /proc/cmdline (only the user-namespace switches) and pid 1's environment (only `container=`).

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use sandprobe_probes::fact::{FactRoot, RawRead};
use sandprobe_probes::trials::{self, TRIAL_FILE};
use sandprobe_probes::HostFacts;

use crate::verdict::Verdict;

/// Why a fixture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("failed to use {0}: it exists and is not an empty directory")]
    OutNotEmpty(PathBuf),
    #[error("failed to create {path}: {cause}")]
    Create { path: PathBuf, cause: io::Error },
    #[error("failed to write {path}: {cause}")]
    Write { path: PathBuf, cause: io::Error },
    #[error("failed to encode the trial file: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Checks the output directory before any probe runs, so nothing is half-done on bad input.
pub fn prepare_out_dir(out: &Path) -> Result<(), CollectError> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(CollectError::OutNotEmpty(out.to_path_buf()));
            }
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(out).map_err(|cause| CollectError::Create {
                path: out.to_path_buf(),
                cause,
            })
        }
        Err(_) => Err(CollectError::OutNotEmpty(out.to_path_buf())),
    }
}

/// Keeps only what the probes use from a file that may carry secrets.
fn redact(rel: &str, bytes: Vec<u8>) -> Vec<u8> {
    match rel {
        "proc/cmdline" => {
            let text = String::from_utf8_lossy(&bytes);
            let kept: Vec<&str> = text
                .split_whitespace()
                .filter(|w| w.starts_with("user_namespace.") || w.starts_with("namespace."))
                .collect();
            format!("{}\n", kept.join(" ")).into_bytes()
        }
        "proc/1/environ" => bytes
            .split(|b| *b == 0)
            .filter(|var| var.starts_with(b"container="))
            .flat_map(|var| var.iter().copied().chain(std::iter::once(0)))
            .collect(),
        _ => bytes,
    }
}

/// Writes every file the probes asked for (that exists) under `out`, then the trial file and a
/// NOTES.md to fill in. Returns the number of fact files written.
pub fn write_fixture(
    host: &FactRoot,
    facts: &HostFacts,
    verdict: &Verdict,
    out: &Path,
) -> Result<usize, CollectError> {
    let mut written = 0;
    for rel in host.requested_paths() {
        let source = Path::new("/").join(&rel);
        let dest = out.join(&rel);
        let create_parent = |dest: &Path| -> Result<(), CollectError> {
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).map_err(|cause| CollectError::Create {
                    path: parent.to_path_buf(),
                    cause,
                })?;
            }
            Ok(())
        };
        // Namespace links (proc/self/ns/user) are symlinks whose existence is the fact.
        if let Ok(meta) = fs::symlink_metadata(&source) {
            if meta.file_type().is_symlink() && rel.contains("/ns/") {
                let target = fs::read_link(&source).unwrap_or_else(|_| PathBuf::from("user:[0]"));
                create_parent(&dest)?;
                symlink(&target, &dest).map_err(|cause| CollectError::Write {
                    path: dest.clone(),
                    cause,
                })?;
                written += 1;
                continue;
            }
            if meta.is_dir() {
                continue;
            }
        }
        let bytes = match host.read_bytes(&rel) {
            RawRead::Found(bytes) => redact(&rel, bytes),
            // Absent facts stay absent; unreadable ones are noted in NOTES.md.
            RawRead::Absent | RawRead::Unreadable(_) => continue,
        };
        create_parent(&dest)?;
        fs::write(&dest, &bytes).map_err(|cause| CollectError::Write {
            path: dest.clone(),
            cause,
        })?;
        let _ = fs::set_permissions(&dest, fs::Permissions::from_mode(0o644));
        written += 1;
    }
    let trial_path = out.join(TRIAL_FILE);
    let trial_json = serde_json::to_string_pretty(&trials::to_trial_file(&facts.trials))?;
    fs::write(&trial_path, trial_json + "\n").map_err(|cause| CollectError::Write {
        path: trial_path,
        cause,
    })?;
    let unreadable: Vec<String> = facts.bad_facts().iter().map(|b| b.to_string()).collect();
    let notes = format!(
        "# Fixture: DESCRIBE THIS HOST (distro, release, kernel package, container runtime)\n\n\
         Collected with `sandprobe collect` as uid {uid}, kernel `{release}`.\n\n\
         Sources: measured on the host above (say where and when).\n\n\
         {unreadable}\
         expected: root={root} unprivileged={unprivileged}\n",
        uid = facts
            .privileges
            .real_uid
            .map_or("unknown".into(), |u| u.to_string()),
        release = facts
            .kernel
            .release
            .value()
            .map_or("unknown".into(), |r| r.raw.clone()),
        unreadable = if unreadable.is_empty() {
            String::new()
        } else {
            format!(
                "Facts that could not be read while collecting (left out): {}\n\n",
                unreadable.join("; ")
            )
        },
        root = verdict.root.mode,
        unprivileged = verdict.unprivileged.mode,
    );
    let notes_path = out.join("NOTES.md");
    fs::write(&notes_path, notes).map_err(|cause| CollectError::Write {
        path: notes_path,
        cause,
    })?;
    Ok(written)
}
