//! Runs the live staged trials once and prints them as JSON, so tests (and people) can watch
//! the trials in a fresh single-threaded process.
//!
//! Usage: `trial [--repeat N]`. With `--repeat`, the trials run N times and the wall time of
//! each `run_live` call (min / median / max) goes to stderr; the last result goes to stdout.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use sandprobe_probes::trials::{run_live, TrialOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repeat = match args.as_slice() {
        [] => 1,
        [flag, n] if flag == "--repeat" => match n.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("trial: --repeat needs a positive number, not {n:?}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: trial [--repeat N]");
            return ExitCode::from(2);
        }
    };
    let options = TrialOptions {
        target_uid: 65534,
        target_gid: 65534,
    };
    let mut times: Vec<Duration> = Vec::with_capacity(repeat);
    let mut last = None;
    for _ in 0..repeat {
        let start = Instant::now();
        match run_live(&options) {
            Ok(results) => {
                times.push(start.elapsed());
                last = Some(results);
            }
            Err(err) => {
                eprintln!("trial: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    times.sort();
    if let (Some(min), Some(max)) = (times.first(), times.last()) {
        let median = times[times.len() / 2];
        eprintln!(
            "run_live wall time over {repeat} run(s): min {} µs, median {} µs, max {} µs",
            min.as_micros(),
            median.as_micros(),
            max.as_micros()
        );
    }
    match last.map(|results| serde_json::to_string_pretty(&results)) {
        Some(Ok(json)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Some(Err(err)) => {
            eprintln!("trial: failed to render the results: {err}");
            ExitCode::FAILURE
        }
        None => ExitCode::FAILURE,
    }
}
