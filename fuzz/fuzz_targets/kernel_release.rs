//! Fuzzes the kernel release parser and the /proc/version reading that finds the real version.
//!
//! Input: `RELEASE \0 PROC_VERSION` (bytes before the first NUL are the release, as in
//! proc/sys/kernel/osrelease; the rest is /proc/version). Invalid UTF-8 is replaced, as the
//! probes' text reads do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandprobe_probes::kernel::{
    distributor_versions, effective_version, feature_gates, parse_release, parse_release_checked,
    proc_version_release, VersionSource, MAX_RELEASE_LEN,
};

fuzz_target!(|data: &[u8]| {
    let (release_bytes, proc_bytes) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let release_text = String::from_utf8_lossy(release_bytes);
    let proc_version = String::from_utf8_lossy(proc_bytes);

    let typed = parse_release_checked(&release_text);
    let stringly = parse_release(&release_text);
    assert_eq!(typed.is_ok(), stringly.is_ok());
    if let Ok(release) = &typed {
        // A parsed release is one uname could report.
        assert!(release.raw.len() <= MAX_RELEASE_LEN);
        assert!(release.raw.bytes().all(|b| b.is_ascii_graphic()));
        let _ = release.patch_may_be_abi();
        // Parsing is stable: the stored raw string parses to the same release.
        assert_eq!(parse_release_checked(&release.raw).as_ref(), Ok(release));
    }

    if let Some(named) = proc_version_release(&proc_version) {
        let _ = parse_release_checked(named);
    }
    let _ = distributor_versions(&proc_version);

    let release = typed.ok();
    let chosen = effective_version(release.as_ref(), Some(&proc_version));
    if let Some(release) = &release {
        // With a release, a version always comes out, and /proc/version can only raise the
        // patch level within the same major.minor.
        let (version, source) = chosen.expect("a parsed release always yields a version");
        assert_eq!(
            (version.major, version.minor),
            (release.version.major, release.version.minor)
        );
        assert!(version >= release.version);
        if source == VersionSource::Release {
            assert_eq!(version, release.version);
        }
    }
    if let Some((version, _)) = chosen {
        let gates = feature_gates(version);
        assert!(gates.iter().all(|g| g.available == (version >= g.since)));
    }
    let _ = effective_version(release.as_ref(), None);
});
