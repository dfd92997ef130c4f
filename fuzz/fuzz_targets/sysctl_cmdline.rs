//! Fuzzes the sysctl value, module parameter and kernel command line parsers.
//!
//! Input: any bytes, read as text (invalid UTF-8 replaced, as the probes read these files).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandprobe_probes::sysctl::{
    parse_cmdline, parse_module_bool, parse_number, parse_number_checked,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    let number = parse_number(&text);
    assert_eq!(
        number.as_ref().ok(),
        parse_number_checked(&text).as_ref().ok()
    );
    if let Ok(n) = number {
        // Only decimal digits are accepted, so the value prints back as the digits did.
        let digits = text.trim().trim_start_matches('0');
        let expected = if digits.is_empty() { "0" } else { digits };
        assert_eq!(n.to_string(), expected);
    }

    if let Ok(flag) = parse_module_bool(&text) {
        assert!(matches!(text.trim(), "Y" | "y" | "1" | "N" | "n" | "0"));
        assert_eq!(flag, matches!(text.trim(), "Y" | "y" | "1"));
    }

    let switches = parse_cmdline(&text);
    // Everything after `--` belongs to init: appending more after it changes nothing (unless
    // an open quote swallows the `--`).
    if text.matches('"').count().is_multiple_of(2) {
        let extended = format!("{text} -- user_namespace.enable=0 namespace.unpriv_enable=0");
        assert_eq!(parse_cmdline(&extended), switches);
    }
});
