//! The `sandprobe` command line: raw flags (no I/O) in clap, then validated settings for each command.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Can this Linux host run secure sandboxes, and how?
///
/// sandprobe probes the kernel version, its build config, the sysctl knobs that gate user
/// namespaces, the container and LSM around it, and then *tries* each step of building a
/// sandbox in a throw-away child. From that it says which mode the bundled launcher
/// `sandbox-run` will use here — `userns` (no privilege at all) or `root-backed` (started as
/// root, root held only while a sandbox is built) — why, and exactly what to change if neither
/// works.
#[derive(Debug, Parser)]
#[command(
    name = "sandprobe",
    version = env!("SANDPROBE_VERSION"),
    propagate_version = true,
    disable_help_subcommand = true,
    after_help = "Exit codes of `check`: 0 a mode is available to this invoker, 1 unsupported, \
                  2 usage error or bad input, 3 the probes themselves failed.\n\
                  Examples:\n  sandprobe check\n  sandprobe check --json | jq .verdict.mode\n  \
                  sudo sandprobe check --quiet\n  sandprobe check --root fixtures/ubuntu24_04\n  \
                  sudo sandprobe collect --out my-host"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe this host (or replay a fixture) and say which sandbox mode works, why, and how to fix it.
    ///
    /// Run it as the user who will start sandboxes. As root it also tries the root-backed
    /// mode, and tries the userns mode as the unprivileged --user. Nothing is left mounted or
    /// running: every trial happens in a forked child that exits before the report prints.
    Check(CheckArgs),
    /// Capture this host as a fixture directory: the exact files the probes read, plus the trial outcomes.
    ///
    /// Run it as root so every fact is readable and both trials run. The directory can be
    /// replayed with `sandprobe check --root DIR` and contributed to the compatibility matrix.
    /// Only the user-namespace switches of /proc/cmdline and the `container=` variable of pid 1's
    /// environment are kept; nothing else of either is written.
    Collect(CollectArgs),
    /// Run COMMAND in a sandbox: the same as `sandbox-run [OPTIONS] [--] COMMAND [ARG...]`.
    ///
    /// See `sandbox-run --help` for the options.
    #[command(disable_help_flag = true)]
    Run {
        /// Options and command for sandbox-run.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<OsString>,
    },
    /// Build a fresh sandbox and run a containment battery inside it; print a pass/fail table.
    ///
    /// This is what to run after install, and what CI runs in every environment. It starts
    /// `sandbox-run` (found next to this binary) in the mode the selector picks, or the one
    /// --mode forces, with this binary as the payload. Exit 0 when every check passed, 1 when
    /// one failed, 2 on bad input, 3 when the sandbox could not be started.
    Verify(VerifyArgs),
    /// The inside half of `verify` (runs in the sandbox).
    #[command(hide = true)]
    VerifyInside {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Build the compatibility matrix from fixtures and result files (outputs of `check --json`).
    ///
    /// Each INPUT is a fixture directory, a directory of fixtures, a result file, or a directory
    /// of result files (`*.truth.json` files beside them are skipped). Fixture rows are replayed
    /// exactly as `check --root` does; measured rows show where and when they were taken.
    /// Example: sandprobe matrix --markdown fixtures ci/results/kernels ci/results/containers
    Matrix(MatrixArgs),
    /// Print the AppArmor profile that lets the installed binaries create user namespaces (Ubuntu 23.10+).
    ApparmorProfile(ApparmorArgs),
    /// Print the JSON Schema of `check --json`.
    Schema,
    /// Write shell completions (bash, zsh, fish) and man pages for both binaries into DIR.
    #[command(hide = true)]
    GenerateAssets {
        /// The directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print the report as JSON (the schema is in docs/check.schema.json; see docs/json.md).
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
    /// Print only the mode for this invoker: userns, root-backed or unsupported.
    #[arg(long, short, conflicts_with = "print_fixes")]
    pub quiet: bool,
    /// For scripts: print the remediation commands, one per line, as
    /// `ID<TAB>LAYER<TAB>here|elsewhere<TAB>COMMAND` (nothing when no fix is needed).
    #[arg(long, conflicts_with = "json")]
    pub print_fixes: bool,
    /// Replay a fixture: read every fact under DIR and the trials from DIR/sandprobe-trials.json.
    /// Nothing is executed.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The unprivileged user (name or uid) a root invoker becomes for the userns trial.
    #[arg(long, value_name = "USER|UID", default_value = "nobody")]
    pub user: String,
    /// Never colour the table (colour is used only on a terminal, and never under NO_COLOR).
    #[arg(long)]
    pub no_color: bool,
    /// A name for this environment, recorded in the JSON (`source.label`); `sandprobe matrix`
    /// uses it as the row name. E.g. "debian12 6.1 / clone=0 / nobody".
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// The directory to write; it must not exist yet, or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The unprivileged user (name or uid) a root invoker becomes for the userns trial.
    #[arg(long, value_name = "USER|UID", default_value = "nobody")]
    pub user: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The mode to build the sandbox in (auto: the selector's verdict).
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: VerifyModeArg,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Never colour the table.
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum VerifyModeArg {
    Auto,
    Userns,
    RootBacked,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Fixture directories, result files, or directories of either.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Print Markdown (the format of docs/compatibility.md).
    #[arg(long, conflicts_with = "json")]
    pub markdown: bool,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApparmorArgs {
    /// The installed paths to allow (default: this binary and sandbox-run beside it).
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Parses argv; on a usage error clap prints it and exits with 2.
pub fn parse<I, T>(args: I) -> Cli
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    Cli::parse_from(args)
}
