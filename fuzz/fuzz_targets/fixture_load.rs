//! Fuzzes fixture loading end to end: every probe reading a fixture directory, the recorded
//! trial file, and the verdict and checks built on what they found (what `check --root` does).
//!
//! Input: a tar-like bundle of files, each introduced by a header line `=== RELATIVE/PATH` and
//! running up to the `\n` before the next header (or the end). Paths are checked (plain
//! components only, no `.`/`..`) so nothing is written outside a private temporary directory.
//! `ci/fuzz.sh` packs every fixture directory into this form as the seed corpus.
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sandprobe_probes::trials::{parse_trial_file, TRIAL_FILE};
use sandprobe_probes::{gather, FactRoot, HostFacts, TrialSource};

const HEADER: &[u8] = b"=== ";
const MAX_FILES: usize = 64;

/// A fresh directory per process; each input replaces its contents. It lives on /dev/shm when
/// there is one: on a disk, creating and removing a few dozen files per input spends most of
/// the run waiting on the journal (about 35 inputs/s instead of several hundred).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        base.join(format!("sandprobe-fuzz-fixture-{}", std::process::id()))
    })
}

/// A relative path made only of plain components, or `None`.
fn safe_relative(raw: &[u8]) -> Option<&str> {
    let path = std::str::from_utf8(raw).ok()?;
    let plain = |c: &str| {
        !c.is_empty()
            && c != "."
            && c != ".."
            && c.len() <= 64
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    };
    (path.len() <= 200 && path.split('/').count() <= 8 && path.split('/').all(plain))
        .then_some(path)
}

/// Splits the bundle into (path, contents) pairs.
fn entries(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut starts = Vec::new();
    if data.starts_with(HEADER) {
        starts.push(0);
    }
    starts.extend(
        data.windows(HEADER.len() + 1)
            .enumerate()
            .filter(|(_, w)| w[0] == b'\n' && &w[1..] == HEADER)
            .map(|(at, _)| at + 1),
    );
    let mut out = Vec::new();
    for (i, &start) in starts.iter().enumerate().take(MAX_FILES) {
        // The record ends at the newline before the next header.
        let end = starts.get(i + 1).map_or(data.len(), |next| next - 1);
        let record = &data[start + HEADER.len()..end.max(start + HEADER.len())];
        let (path, body) = match record.iter().position(|b| *b == b'\n') {
            Some(nl) => (&record[..nl], &record[nl + 1..]),
            None => (record, &[][..]),
        };
        out.push((path, body));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    let _ = fs::remove_dir_all(dir);
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    for (path, body) in entries(data) {
        let Some(rel) = safe_relative(path) else {
            continue;
        };
        let target = dir.join(rel);
        if let Some(parent) = target.parent() {
            // A file where a directory is wanted makes this fail: the fixture is just odd.
            let _ = fs::create_dir_all(parent);
        }
        let _ = fs::write(&target, body);
        if rel == TRIAL_FILE {
            if let Ok(file) = parse_trial_file(body) {
                // A file that validates also serialises back to one that validates.
                let again = serde_json::to_vec(&file).expect("a trial file serialises");
                assert!(
                    parse_trial_file(&again).is_ok(),
                    "a valid trial file did not round-trip"
                );
            }
        }
    }

    let root = FactRoot::fixture(dir);
    // A bad trial file is an error the CLI reports; everything else must come back as facts.
    let Ok(facts) = gather(&root, &TrialSource::Recorded) else {
        return;
    };
    let _ = facts.bad_facts();
    let verdict = sandprobe::verdict::decide(&facts);
    let _ = sandprobe::checks::build(&facts, &verdict);
    let json = serde_json::to_vec(&facts).expect("facts serialise");
    let back: HostFacts = serde_json::from_slice(&json).expect("facts deserialise");
    assert_eq!(back, facts, "facts changed in a JSON round trip");
});
