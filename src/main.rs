//! sandprobe: can this Linux host run secure sandboxes, and how? A thin main over the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use sandprobe::cli::{
    self, ApparmorArgs, CheckArgs, CollectArgs, Command, MatrixArgs, VerifyArgs, VerifyModeArg,
};
use sandprobe::exit::CheckExit;
use sandprobe::report::{self, Report, Source, SourceKind};
use sandprobe::verdict::{self, Mode, SelectorContext};
use sandprobe::{collect, render};
use sandprobe_probes::trials::{ExitingTrialChildren, TrialOptions, TrialOrigin, TRIAL_FILE};
use sandprobe_probes::{FactRoot, HostFacts, TrialSource};

/// Out of memory gives one line and exit 3 (the probes failed), never an abort.
#[global_allocator]
static ALLOCATOR: sandprobe::oom::ExitOnOom = sandprobe::oom::ExitOnOom {
    message: b"sandprobe: failed to allocate memory: the memory limit is too small\n",
    code: 3,
};

/// A failure with its exit code; printed as one line.
struct Failure {
    code: CheckExit,
    error: anyhow::Error,
}

fn bad_input(error: anyhow::Error) -> Failure {
    Failure {
        code: CheckExit::BadInput,
        error,
    }
}

fn main() -> ExitCode {
    let cli = cli::parse(std::env::args_os());
    let result = match cli.command {
        Command::Check(args) => check(&args),
        Command::Collect(args) => collect_fixture(&args),
        Command::ApparmorProfile(args) => apparmor_profile(&args),
        Command::Run { args } => {
            let argv = std::iter::once(std::ffi::OsString::from("sandbox-run")).chain(args);
            return sandprobe::launcher::main_with_args(argv);
        }
        Command::Verify(args) => verify(&args),
        Command::Matrix(args) => matrix(&args),
        Command::GenerateAssets { out } => sandprobe::assets::write_all(&out)
            .map(|()| CheckExit::Available)
            .map_err(|e| Failure {
                code: CheckExit::BadInput,
                error: anyhow!(e),
            }),
        Command::VerifyInside { args } => return sandprobe::verify::verify_inside_main(&args),
        Command::Schema => print_json(&report::json_schema()).map(|()| CheckExit::Available),
    };
    match result {
        Ok(code) => code.into(),
        Err(failure) => {
            // One line: the error chain joined, as "failed to …: cause".
            eprintln!("sandprobe: {:#}", failure.error);
            failure.code.into()
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure {
        code: CheckExit::Internal,
        error: anyhow!("failed to encode JSON: {e}"),
    })?;
    write_stdout(&text)
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure {
            code: CheckExit::Internal,
            error: anyhow!("failed to write the report: {e}"),
        }),
    }
}

/// Resolves `--user` to a uid/gid: a name from the user database, or a number.
fn resolve_user(spec: &str) -> Result<(u32, u32), Failure> {
    if let Ok(uid) = spec.parse::<u32>() {
        let gid = nix::unistd::User::from_uid(uid.into())
            .ok()
            .flatten()
            .map_or(uid, |u| u.gid.as_raw());
        return Ok((uid, gid));
    }
    match nix::unistd::User::from_name(spec) {
        Ok(Some(user)) => Ok((user.uid.as_raw(), user.gid.as_raw())),
        // Minimal images have no passwd entry (or no /etc/passwd) for nobody; its id is fixed
        // by convention.
        Ok(None) | Err(_) if spec == "nobody" => Ok((65534, 65534)),
        _ => Err(bad_input(anyhow!(
            "failed to resolve --user {spec:?}: no such user (give a name from /etc/passwd or a numeric uid)"
        ))),
    }
}

/// The installed paths of the two binaries, for the AppArmor profile.
fn binary_paths() -> Vec<String> {
    let this = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .unwrap_or_else(|_| PathBuf::from("/usr/local/bin/sandprobe"));
    let launcher = this.with_file_name("sandbox-run");
    vec![
        this.to_string_lossy().into_owned(),
        launcher.to_string_lossy().into_owned(),
    ]
}

/// What [`gather`] found, and the trial children still to reap.
struct Gathered {
    facts: HostFacts,
    source: Source,
    root: FactRoot,
    exiting: ExitingTrialChildren,
}

/// Gathers the facts from the host or a fixture, refusing a fixture that cannot be trusted.
fn gather(root: Option<&Path>, user: &str) -> Result<Gathered, Failure> {
    match root {
        None => {
            let (target_uid, target_gid) = resolve_user(user)?;
            let host = FactRoot::host();
            let (facts, exiting) = sandprobe_probes::gather_before_exit(
                &host,
                &TrialSource::Live(TrialOptions {
                    target_uid,
                    target_gid,
                }),
            )
            .map_err(|e| Failure {
                code: CheckExit::Internal,
                error: anyhow!(e),
            })?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let source = Source {
                kind: SourceKind::Host,
                root: "/".into(),
                trials: TrialOrigin::Live,
                label: None,
                measured_at: Some(report::rfc3339_utc(now)),
            };
            Ok(Gathered {
                facts,
                source,
                root: host,
                exiting,
            })
        }
        Some(dir) => {
            let meta = std::fs::metadata(dir)
                .with_context(|| format!("failed to open fixture {}", dir.display()))
                .map_err(bad_input)?;
            if !meta.is_dir() {
                return Err(bad_input(anyhow!(
                    "failed to open fixture {}: not a directory",
                    dir.display()
                )));
            }
            let fixture = FactRoot::fixture(dir);
            for required in ["proc/sys/kernel/osrelease", "proc/self/status", TRIAL_FILE] {
                if !fixture.exists(required) {
                    return Err(bad_input(anyhow!(
                        "failed to replay fixture {}: {required} is missing",
                        dir.display()
                    )));
                }
            }
            let facts =
                sandprobe_probes::gather(&fixture, &TrialSource::Recorded).map_err(|e| {
                    bad_input(anyhow!("failed to replay fixture {}: {e}", dir.display()))
                })?;
            if let Some(bad) = facts.bad_facts().first() {
                return Err(bad_input(anyhow!(
                    "failed to replay fixture {}: {bad}",
                    dir.display()
                )));
            }
            let source = Source {
                kind: SourceKind::Fixture,
                root: dir.display().to_string(),
                trials: TrialOrigin::Recorded,
                label: None,
                measured_at: None,
            };
            Ok(Gathered {
                facts,
                source,
                root: fixture,
                exiting: ExitingTrialChildren::default(),
            })
        }
    }
}

fn check(args: &CheckArgs) -> Result<CheckExit, Failure> {
    let Gathered {
        facts,
        mut source,
        exiting,
        ..
    } = gather(args.root.as_deref(), &args.user)?;
    source.label = args.label.clone();
    let context = SelectorContext {
        binary_paths: if source.kind == SourceKind::Host {
            binary_paths()
        } else {
            SelectorContext::default().binary_paths
        },
    };
    let report: Report = report::build(facts, source, &context);
    if args.json {
        print_json(&report)?;
    } else if args.quiet {
        write_stdout(report.verdict.mode.as_str())?;
    } else if args.print_fixes {
        let lines = render::fix_lines(&report.verdict);
        if !lines.is_empty() {
            write_stdout(lines.trim_end())?;
        }
    } else {
        let stdout = std::io::stdout();
        let colour = !args.no_color
            && render::colour_wanted(stdout.is_terminal(), std::env::var_os("NO_COLOR"));
        let width = if stdout.is_terminal() {
            None
        } else {
            Some(140)
        };
        write_stdout(render::table(&report, colour, width).trim_end())?;
    }
    // The trial children reported everything and are only exiting; the check exits now, so
    // init reaps whichever have not finished, instead of the check waiting for their
    // namespaces to be torn down.
    exiting.leave_to_init();
    Ok(match report.verdict.mode {
        Mode::Unsupported => CheckExit::Unsupported,
        Mode::Userns | Mode::RootBacked => CheckExit::Available,
    })
}

fn collect_fixture(args: &CollectArgs) -> Result<CheckExit, Failure> {
    collect::prepare_out_dir(&args.out).map_err(|e| bad_input(anyhow!(e)))?;
    let Gathered {
        facts,
        root: host,
        exiting,
        ..
    } = gather(None, &args.user)?;
    exiting.reap();
    let verdict = verdict::decide_with(&facts, &SelectorContext::default());
    let written =
        collect::write_fixture(&host, &facts, &verdict, &args.out).map_err(|e| Failure {
            code: CheckExit::Internal,
            error: anyhow!(e),
        })?;
    // Replay what was written: a fixture must give the verdict the host gave.
    let replayed = gather(Some(&args.out), &args.user)?.facts;
    let replayed = verdict::decide_with(&replayed, &SelectorContext::default());
    eprintln!(
        "sandprobe: wrote {written} fact files and {TRIAL_FILE} to {}; replay gives {} (host: {})",
        args.out.display(),
        replayed.mode,
        verdict.mode
    );
    eprintln!(
        "sandprobe: describe the host and cite your sources in {}",
        args.out.join("NOTES.md").display()
    );
    if replayed.mode != verdict.mode {
        return Err(Failure {
            code: CheckExit::Internal,
            error: anyhow!("failed to capture the host faithfully: the replayed verdict differs"),
        });
    }
    Ok(CheckExit::Available)
}

fn apparmor_profile(args: &ApparmorArgs) -> Result<CheckExit, Failure> {
    let paths = if args.paths.is_empty() {
        binary_paths()
    } else {
        let mut out = Vec::new();
        for p in &args.paths {
            if !p.is_absolute() {
                return Err(bad_input(anyhow!(
                    "failed to use --path {}: AppArmor matches absolute paths only",
                    p.display()
                )));
            }
            out.push(p.to_string_lossy().into_owned());
        }
        out
    };
    write_stdout(verdict::apparmor_profile(&paths).trim_end())?;
    Ok(CheckExit::Available)
}

fn verify(args: &VerifyArgs) -> Result<CheckExit, Failure> {
    let options = sandprobe::verify::VerifyOptions {
        mode: match args.mode {
            VerifyModeArg::Auto => sandprobe::verify::VerifyMode::Auto,
            VerifyModeArg::Userns => sandprobe::verify::VerifyMode::Userns,
            VerifyModeArg::RootBacked => sandprobe::verify::VerifyMode::RootBacked,
        },
        ..Default::default()
    };
    let report = sandprobe::verify::verify(&options).map_err(|e| Failure {
        code: CheckExit::Internal,
        error: anyhow!(e),
    })?;
    if args.json {
        print_json(&report)?;
    } else {
        let colour = !args.no_color
            && render::colour_wanted(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR"),
            );
        write_stdout(sandprobe::verify::render_table(&report, colour).trim_end())?;
    }
    Ok(if report.passed {
        CheckExit::Available
    } else {
        CheckExit::Unsupported
    })
}

fn matrix(args: &MatrixArgs) -> Result<CheckExit, Failure> {
    let rows = sandprobe::matrix::collect_rows(&args.inputs).map_err(|e| bad_input(anyhow!(e)))?;
    if args.json {
        print_json(&rows)?;
    } else if args.markdown {
        let inputs: Vec<String> = args
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let command = format!("sandprobe matrix --markdown {}", inputs.join(" "));
        write_stdout(sandprobe::matrix::render_markdown(&rows, &command).trim_end())?;
    } else {
        let width = if std::io::stdout().is_terminal() {
            None
        } else {
            Some(200)
        };
        write_stdout(&sandprobe::matrix::render_table(&rows, width))?;
    }
    Ok(CheckExit::Available)
}
