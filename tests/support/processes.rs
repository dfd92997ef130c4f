//! Finding what a test left running: processes of the launcher copy under test, processes that
//! carry the test's marker, and unreaped zombies of the test process.

use std::path::Path;

/// A process that belongs to one test: a launcher (or its clone, the sandbox's pid 1) running
/// our copy of the binary, anything whose environment or command line carries the marker, or a
/// zombie child of this test process.
#[derive(Debug)]
pub struct Leftover {
    pub pid: u32,
    pub state: char,
    pub why: &'static str,
    pub cmdline: String,
}

pub fn stat_fields(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: the fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

pub fn leftovers(launcher: &Path, marker: &str) -> Vec<Leftover> {
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((state, ppid)) = stat_fields(pid) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        let why = if exe.as_deref() == Some(launcher) {
            "runs the launcher binary under test"
        } else if contains(&environ, marker.as_bytes()) {
            "carries the test's marker in its environment"
        } else if contains(&cmdline, marker.as_bytes()) {
            "carries the test's marker in its command line"
        } else if state == 'Z' && ppid == me {
            "is an unreaped zombie child of the test"
        } else {
            continue;
        };
        found.push(Leftover {
            pid,
            state,
            why,
            cmdline: String::from_utf8_lossy(&cmdline).replace('\0', " "),
        });
    }
    found
}
