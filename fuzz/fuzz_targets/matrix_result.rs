//! Fuzzes the reader of `check --json` result files that `sandprobe matrix` collects, and the
//! matrix row built from what it accepts.
//!
//! Input: a result file's bytes. `ci/fuzz.sh` seeds the corpus with `check --json` replays of
//! every fixture and the recorded results under ci/results/.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sandprobe::matrix::{parse_result, render_markdown, render_table, row, Origin};

fuzz_target!(|data: &[u8]| {
    let Ok(report) = parse_result(Path::new("fuzz.json"), data) else {
        return;
    };
    let rows = vec![row(
        &report,
        "fuzz".into(),
        Origin::Measured {
            measured_at: None,
            file: "fuzz.json".into(),
        },
    )];
    let _ = render_table(&rows, Some(80));
    let _ = render_markdown(&rows, "sandprobe matrix fuzz.json");
});
