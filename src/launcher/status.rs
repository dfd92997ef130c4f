//! `--json-status-fd`: one JSON object per line, so callers can tell the mode, pids and timings.
//!
//! Events, in order: `mode` (which mode and why), `started` (the payload's host pid and the
//! sandbox's namespace ids), `setup_times` (per-phase microseconds), `exit` (the exit code).
//! A launcher failure emits `error` instead of `started`, then `exit`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, RawFd};

use serde::Serialize;

/// One status line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StatusEvent {
    Mode {
        mode: String,
        reason: String,
    },
    Started {
        /// The payload's pid in the launcher's pid namespace (null when it already exited).
        payload_pid: Option<i32>,
        /// The sandbox's pid 1, in the launcher's pid namespace.
        init_pid: i32,
        /// Namespace name → inode number (as in /proc/PID/ns/NAME).
        namespaces: BTreeMap<String, u64>,
    },
    SetupTimes {
        phases_us: BTreeMap<String, u64>,
    },
    Error {
        exit_code: u8,
        message: String,
    },
    Exit {
        exit_code: u8,
    },
}

/// Renders one event as its line (with the newline).
pub fn render(event: &StatusEvent) -> String {
    // Serializing these plain structs cannot fail; fall back to an empty object rather than panic.
    let mut line = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    line.push('\n');
    line
}

/// Writes events to the caller's fd. The fd belongs to the caller: it is never closed here.
#[derive(Debug)]
pub struct StatusWriter {
    file: Option<ManuallyDrop<File>>,
}

impl StatusWriter {
    /// A writer for `fd`, or one that drops every event.
    pub fn new(fd: Option<RawFd>) -> StatusWriter {
        StatusWriter {
            // SAFETY: the fd was checked to be open during validation; ManuallyDrop keeps it open.
            file: fd.map(|fd| ManuallyDrop::new(unsafe { File::from_raw_fd(fd) })),
        }
    }

    /// Whether events are wanted at all.
    pub fn enabled(&self) -> bool {
        self.file.is_some()
    }

    /// Emits one event. A reader that went away must not kill the sandbox: errors are ignored.
    pub fn emit(&mut self, event: &StatusEvent) {
        if let Some(file) = self.file.as_mut() {
            let _ = file.write_all(render(event).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_render_as_single_json_lines() {
        let mode = render(&StatusEvent::Mode {
            mode: "userns".into(),
            reason: "requested with --mode".into(),
        });
        assert_eq!(
            mode,
            "{\"event\":\"mode\",\"mode\":\"userns\",\"reason\":\"requested with --mode\"}\n"
        );
        let mut namespaces = BTreeMap::new();
        namespaces.insert("mnt".to_owned(), 4026532000u64);
        let started = render(&StatusEvent::Started {
            payload_pid: Some(42),
            init_pid: 41,
            namespaces,
        });
        assert_eq!(
            started,
            "{\"event\":\"started\",\"payload_pid\":42,\"init_pid\":41,\"namespaces\":{\"mnt\":4026532000}}\n"
        );
        assert_eq!(
            render(&StatusEvent::Exit { exit_code: 143 }),
            "{\"event\":\"exit\",\"exit_code\":143}\n"
        );
    }
}
