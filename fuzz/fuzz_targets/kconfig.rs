//! Fuzzes the kernel config reader, plain and gzip'd, whole and prefix-only.
//!
//! Input: the config file's bytes. They are parsed as plain text, as gzip (the raw input, which
//! exercises the inflater on garbage), and gzip'd here first so every mutation of a plain config
//! also reaches the gz paths as a valid stream.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use sandprobe_probes::kconfig::{
    decompress_config, parse_config, parse_config_bytes, parse_config_checked,
    parse_config_gz_prefix,
};

fuzz_target!(|data: &[u8]| {
    let plain = parse_config_bytes(data, false);
    let text = String::from_utf8_lossy(data);
    assert_eq!(plain.is_ok(), parse_config(&text).is_ok());
    assert_eq!(plain.is_ok(), parse_config_checked(&text).is_ok());

    // Garbage as a gzip stream.
    let _ = parse_config_bytes(data, true);
    let _ = parse_config_gz_prefix(data);
    let _ = decompress_config(data);

    // The same text as a valid gzip stream reads back exactly as the plain text does.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if encoder.write_all(data).is_err() {
        return;
    }
    let Ok(gz) = encoder.finish() else { return };
    let whole = parse_config_bytes(&gz, true);
    assert_eq!(
        whole.as_ref().ok(),
        plain.as_ref().ok(),
        "gzip'd and plain reads disagree"
    );
    let prefix = parse_config_gz_prefix(&gz);
    if let (Ok(prefix), Ok(whole)) = (&prefix, &whole) {
        // The prefix read stops early, but what it saw of the tracked options agrees.
        for option in [
            "CONFIG_USER_NS",
            "CONFIG_NAMESPACES",
            "CONFIG_SECCOMP",
            "CONFIG_SECCOMP_FILTER",
        ] {
            if let Some(value) = prefix.get(option) {
                assert_eq!(Some(value), whole.get(option), "{option}");
            }
        }
    }
});
