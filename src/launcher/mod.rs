//! The bundled sandbox launcher behind `sandbox-run`, in userns and root-backed modes.
//!
//! The launcher is one straight-line script ([`run`]):
//!  1. parse the raw flags (no I/O);
//!  2. resolve `--user`; a root invoker that may use root-backed mode lowers its effective ids
//!     to `--user` right away ([`privilege`]);
//!  3. choose the mode (forced, or the selector's verdict); a root invoker heading for userns
//!     drops root entirely;
//!  4. validate everything into a [`plan::LaunchPlan`] (plain data, printed by `--verbose`);
//!  5. prepare everything that allocates (argv, envp, exec candidates, the seccomp program);
//!  6. clone into the new namespaces (root-backed: inside the raised-euid window only);
//!  7. the child, pid 1 of the new pid namespace, builds the root, forks the payload, drops its
//!     own privileges and supervises; the payload hardens itself and execs;
//!  8. the launcher forwards signals, reports status and exits with the payload's status.
//!
//! The launcher never starts a thread: the clone in step 6 is fork-like and relies on it. The
//! sandbox's pid 1 runs one short-lived helper thread (the network namespace, built while the
//! root is mounted) and joins it before it forks the payload or changes its credentials.

pub mod exit;
pub mod fault;
pub mod harden;
pub mod init;
pub mod namespaces;
pub mod plan;
pub mod privilege;
pub mod rootfs;
pub mod seccomp;
pub mod status;

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use nix::sys::signal::SigSet;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use exit::LauncherFailure;
use plan::{HostView, Identity, LaunchMode, LaunchPlan, PathKind, RawArgs, RequestedMode};
use privilege::RootBackedPrivilege;
use rootfs::StepTime;
use status::{StatusEvent, StatusWriter};

/// A launcher failure: its exit code and the one line the user sees.
#[derive(Debug)]
struct Failure {
    kind: LauncherFailure,
    message: String,
}

impl Failure {
    fn new(kind: LauncherFailure, message: impl std::fmt::Display) -> Failure {
        Failure {
            kind,
            message: message.to_string(),
        }
    }
}

/// `sandbox-run` and `sandprobe run`: runs the launcher with `args` (argv[0] first) and returns
/// the exit code to use.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    ExitCode::from(run(args.into_iter().collect()))
}

/// The host as validation sees it.
struct LiveHost {
    invoker: Identity,
}

impl HostView for LiveHost {
    fn invoker(&self) -> Identity {
        self.invoker
    }
    fn passwd(&self) -> Option<String> {
        std::fs::read_to_string("/etc/passwd").ok()
    }
    fn path_kind(&self, path: &Path, follow: bool) -> Option<PathKind> {
        let meta = if follow {
            std::fs::metadata(path)
        } else {
            std::fs::symlink_metadata(path)
        }
        .ok()?;
        let kind = meta.file_type();
        Some(if kind.is_symlink() {
            PathKind::Symlink(std::fs::read_link(path).ok()?)
        } else if kind.is_dir() {
            PathKind::Dir
        } else if kind.is_file() {
            PathKind::File
        } else {
            PathKind::Other
        })
    }
    fn fd_is_open(&self, fd: i32) -> bool {
        fd_is_open(fd)
    }
    fn env_var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }
}

fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}

/// What the sandbox's pid 1 tells the launcher once, on the report pipe.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
enum SetupReport {
    Ready {
        namespaces: BTreeMap<String, u64>,
        steps: Vec<StepTime>,
    },
    Failed {
        exit_code: u8,
        message: String,
    },
}

/// Everything the child needs, prepared (and allocated) before clone.
struct Prepared {
    argv: Vec<CString>,
    envp: Vec<CString>,
    candidates: Vec<CString>,
    chdir: CString,
    filter: seccompiler::BpfProgram,
    rlimits: Vec<harden::RlimitSetting>,
    not_found_message: Vec<u8>,
    not_executable_message: Vec<u8>,
    /// For execve failures that are about resources, not the file (EAGAIN, ENOMEM, E2BIG).
    exec_resource_message: Vec<u8>,
}

fn cstring(bytes: &[u8]) -> Result<CString, Failure> {
    CString::new(bytes).map_err(|_| {
        Failure::new(
            LauncherFailure::Usage,
            "failed to use an argument: it contains a NUL byte",
        )
    })
}

fn prepare(plan: &LaunchPlan) -> Result<Prepared, Failure> {
    let argv = plan
        .command
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = plan
        .env
        .iter()
        .map(|(k, v)| {
            let mut pair = k.as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(v.as_bytes());
            cstring(&pair)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let candidates = plan
        .exec_candidates()
        .iter()
        .map(|p| cstring(p.as_os_str().as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let filter =
        seccomp::build_payload_filter().map_err(|e| Failure::new(LauncherFailure::Hardening, e))?;
    let rlimits = plan
        .rlimits
        .iter()
        .map(|spec| harden::parse_rlimit(spec))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::new(LauncherFailure::Usage, e))?;
    let program = plan
        .command
        .first()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Prepared {
        argv,
        envp,
        candidates,
        chdir: cstring(plan.chdir.as_bytes())?,
        filter,
        rlimits,
        not_found_message: format!(
            "sandbox-run: failed to execute {program}: no such file in the sandbox (searched \
             PATH={})\n",
            plan.payload_path().to_string_lossy()
        )
        .into_bytes(),
        not_executable_message: format!(
            "sandbox-run: failed to execute {program}: not an executable the sandbox can run \
             (permission denied or bad format)\n"
        )
        .into_bytes(),
        exec_resource_message: format!(
            "sandbox-run: failed to execute {program}: a resource limit was reached (the \
             process limit, --rlimit nproc, or memory, --rlimit as)\n"
        )
        .into_bytes(),
    })
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Failure> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| {
        Failure::new(
            LauncherFailure::ExecSetup,
            format!("failed to create a pipe: {e}"),
        )
    })
}

fn thread_count() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

fn id_is_mapped(id: u32, map: &str) -> bool {
    match std::fs::read_to_string(map) {
        Ok(text) => privilege::id_mapped(&text, id),
        // No map file: no user namespaces at all, every id is "mapped".
        Err(_) => true,
    }
}

fn check_target_mapped(target: Identity) -> Result<(), Failure> {
    if id_is_mapped(target.uid, "/proc/self/uid_map")
        && id_is_mapped(target.gid, "/proc/self/gid_map")
    {
        Ok(())
    } else {
        Err(Failure::new(
            LauncherFailure::Privilege,
            privilege::PrivilegeError::UnmappedUser {
                uid: target.uid,
                gid: target.gid,
            },
        ))
    }
}

struct Timer {
    phases: Vec<StepTime>,
    last: Instant,
}

impl Timer {
    fn new(start: Instant) -> Timer {
        Timer {
            phases: Vec::new(),
            last: start,
        }
    }
    fn lap(&mut self, name: &str) {
        let now = Instant::now();
        self.phases.push(StepTime {
            step: name.to_owned(),
            us: now.duration_since(self.last).as_micros() as u64,
        });
        self.last = now;
    }
}

fn report_failure(failure: &Failure, status: &mut StatusWriter) -> u8 {
    eprintln!("sandbox-run: {}", failure.message);
    let code = failure.kind.code();
    status.emit(&StatusEvent::Error {
        exit_code: code,
        message: failure.message.clone(),
    });
    status.emit(&StatusEvent::Exit { exit_code: code });
    code
}

/// The launcher. Returns the exit code.
fn run(args: Vec<OsString>) -> u8 {
    let start = Instant::now();
    let raw = match RawArgs::parse_from_args(args) {
        Ok(raw) => raw,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return 0;
            }
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ");
            eprintln!("sandbox-run: failed to parse the command line: {first} (see --help)");
            return LauncherFailure::Usage.code();
        }
    };
    // The status fd is checked before anything is written to it.
    let status_fd = raw.json_status_fd.filter(|fd| fd_is_open(*fd));
    let mut status = StatusWriter::new(status_fd);
    match launch(&raw, start, &mut status) {
        Ok(code) => {
            status.emit(&StatusEvent::Exit { exit_code: code });
            code
        }
        Err(failure) => report_failure(&failure, &mut status),
    }
}

fn launch(raw: &RawArgs, start: Instant, status: &mut StatusWriter) -> Result<u8, Failure> {
    let mut timer = Timer::new(start);
    timer.lap("parse_args");
    // SAFETY: getuid/getgid have no preconditions.
    let invoker = Identity {
        uid: unsafe { libc::getuid() },
        gid: unsafe { libc::getgid() },
    };
    let host = LiveHost { invoker };
    let usage = |e: plan::PlanError| Failure::new(LauncherFailure::Usage, e);
    let target =
        plan::resolve_user(raw.user.as_deref(), host.passwd().as_deref()).map_err(usage)?;
    let privilege_failure =
        |e: privilege::PrivilegeError| Failure::new(LauncherFailure::Privilege, e);

    // Root-backed mode from the first instruction: real uid 0, effective uid --user.
    let mut root_backed: Option<RootBackedPrivilege> = None;
    if invoker.uid == 0 && raw.mode != RequestedMode::Userns {
        check_target_mapped(target)?;
        root_backed = Some(RootBackedPrivilege::lower_at_start(target).map_err(privilege_failure)?);
    }
    if raw.mode == RequestedMode::RootBacked && invoker.uid != 0 {
        return Err(privilege_failure(privilege::PrivilegeError::NotRealRoot {
            real_uid: invoker.uid,
        }));
    }

    let (mode, reason) = match raw.mode {
        RequestedMode::Userns => {
            if invoker.uid == 0 {
                check_target_mapped(target)?;
                privilege::drop_root_for_userns(target).map_err(privilege_failure)?;
            }
            (
                LaunchMode::Userns,
                "requested with --mode userns".to_owned(),
            )
        }
        RequestedMode::RootBacked => (
            LaunchMode::RootBacked,
            "requested with --mode root-backed".to_owned(),
        ),
        RequestedMode::Auto => match root_backed.take() {
            None => (
                LaunchMode::Userns,
                "the invoker is not root, and userns is the only mode that needs no privilege"
                    .to_owned(),
            ),
            Some(lowered) => {
                let verdict = choose_with_selector(&lowered, target)?;
                match verdict.mode {
                    crate::verdict::Mode::Userns => {
                        lowered.drop_for_good().map_err(privilege_failure)?;
                        (LaunchMode::Userns, verdict.summary)
                    }
                    crate::verdict::Mode::RootBacked => {
                        root_backed = Some(lowered);
                        (LaunchMode::RootBacked, verdict.summary)
                    }
                    crate::verdict::Mode::Unsupported => {
                        return Err(Failure::new(
                            LauncherFailure::NoModeWorks,
                            format!("failed to choose a sandbox mode: {}", verdict.summary),
                        ))
                    }
                }
            }
        },
    };
    timer.lap("choose_mode");
    status.emit(&StatusEvent::Mode {
        mode: mode.as_str().to_owned(),
        reason: reason.clone(),
    });

    if raw.json_status_fd.is_some() && !status.enabled() {
        return Err(usage(plan::PlanError::BadStatusFd {
            fd: raw.json_status_fd.unwrap_or(-1),
        }));
    }
    let plan = LaunchPlan::build(raw, mode, reason, target, &host).map_err(usage)?;
    if plan.verbose {
        let text = serde_json::to_string_pretty(&plan).unwrap_or_default();
        eprintln!("sandbox-run: launch plan:\n{text}");
    }
    timer.lap("plan");
    let prepared = prepare(&plan)?;
    timer.lap("prepare");
    let result = execute(&plan, &prepared, root_backed.as_ref(), timer, status);
    match result {
        // auto for an unprivileged invoker: userns was the only candidate, and it failed.
        Err(failure)
            if raw.mode == RequestedMode::Auto
                && invoker.uid != 0
                && failure.kind == LauncherFailure::NamespaceSetup =>
        {
            Err(Failure::new(
                LauncherFailure::NoModeWorks,
                format!(
                    "failed to find a working sandbox mode: userns failed ({}), and root-backed \
                     mode needs a real uid of 0 (run `sandprobe` for the cause and the fix)",
                    failure.message
                ),
            ))
        }
        other => other,
    }
}

fn choose_with_selector(
    lowered: &RootBackedPrivilege,
    target: Identity,
) -> Result<crate::verdict::Verdict, Failure> {
    use sandprobe_probes::trials::TrialOptions;
    use sandprobe_probes::{FactRoot, TrialSource};
    let source = TrialSource::Live(TrialOptions {
        target_uid: target.uid,
        target_gid: target.gid,
    });
    // The root-backed trial needs root: the facts are gathered inside the raised window.
    let facts = lowered
        .with_root(|| sandprobe_probes::gather(&FactRoot::host(), &source))
        .map_err(|e| Failure::new(LauncherFailure::Privilege, e))?
        .map_err(|e| {
            Failure::new(
                LauncherFailure::NoModeWorks,
                format!("failed to choose a sandbox mode: the probes failed: {e}"),
            )
        })?;
    Ok(crate::verdict::decide(&facts))
}

/// The pipes between the launcher and the sandbox.
struct Channels {
    report_read: OwnedFd,
    report_write: OwnedFd,
    lifeline_read: OwnedFd,
    lifeline_write: OwnedFd,
    gate: Option<(OwnedFd, OwnedFd)>,
}

fn execute(
    plan: &LaunchPlan,
    prepared: &Prepared,
    root_backed: Option<&RootBackedPrivilege>,
    mut timer: Timer,
    status: &mut StatusWriter,
) -> Result<u8, Failure> {
    let exec_setup = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(LauncherFailure::ExecSetup, format!("failed to {what}: {e}"))
    };
    match thread_count() {
        Some(1) | None => {}
        Some(n) => {
            return Err(exec_setup(
                "create the sandbox",
                &format!("the launcher must be single-threaded, it has {n} threads"),
            ))
        }
    }
    let (report_read, report_write) = pipe()?;
    let (lifeline_read, lifeline_write) = pipe()?;
    let gate = if status.enabled() {
        Some(pipe()?)
    } else {
        None
    };
    let channels = Channels {
        report_read,
        report_write,
        lifeline_read,
        lifeline_write,
        gate,
    };
    let old_mask = init::block_supervised_signals().map_err(|e| exec_setup("prepare", &e))?;
    timer.lap("pipes_and_signals");
    fault::arm()?;

    // The network namespace is not cloned: the sandbox's pid 1 builds it on a helper thread
    // while it mounts the root (namespaces::PendingNetwork).
    let cloned_namespaces: Vec<plan::Namespace> = plan
        .namespaces
        .iter()
        .copied()
        .filter(|ns| *ns != plan::Namespace::Net)
        .collect();
    let cloned = match root_backed {
        Some(lowered) => lowered
            .with_root(|| namespaces::clone_into(&cloned_namespaces))
            .map_err(|e| Failure::new(LauncherFailure::Privilege, e))?,
        None => namespaces::clone_into(&cloned_namespaces),
    };
    let child = match cloned {
        Ok(0) => sandbox_init(plan, prepared, root_backed, channels, &old_mask),
        Ok(pid) => Pid::from_raw(pid),
        Err(e) => {
            let _ = init::restore_signal_mask(&old_mask);
            return Err(Failure::new(LauncherFailure::NamespaceSetup, e));
        }
    };
    fault::inject(fault::Phase::AfterClone)?;
    timer.lap("clone");

    let Channels {
        report_read,
        report_write,
        lifeline_read,
        lifeline_write,
        gate,
    } = channels;
    drop(report_write);
    drop(lifeline_read);
    let gate_write = gate.map(|(read, write)| {
        drop(read);
        write
    });

    let mut line = String::new();
    let _ = BufReader::new(std::fs::File::from(report_read)).read_line(&mut line);
    let report: Option<SetupReport> = serde_json::from_str(line.trim_end()).ok();
    match report {
        Some(SetupReport::Ready { namespaces, steps }) => {
            timer.lap("sandbox_setup");
            // The status events cost /proc reads and allocations: only for a status fd.
            if status.enabled() {
                let payload_pid = payload_host_pid(child);
                status.emit(&StatusEvent::Started {
                    payload_pid,
                    init_pid: child.as_raw(),
                    namespaces,
                });
                let mut phases: BTreeMap<String, u64> = BTreeMap::new();
                for step in timer.phases.iter().chain(steps.iter()) {
                    *phases.entry(step.step.clone()).or_default() += step.us;
                }
                status.emit(&StatusEvent::SetupTimes { phases_us: phases });
            }
            if plan.verbose {
                for step in &timer.phases {
                    eprintln!("sandbox-run: launcher step {}: {} us", step.step, step.us);
                }
                for step in &steps {
                    eprintln!("sandbox-run: sandbox step {}: {} us", step.step, step.us);
                }
            }
            if let Some(gate) = gate_write {
                // Opens the payload's gate now that its pid has been recorded.
                let _ = std::fs::File::from(gate).write_all(b"g");
            }
            let code = init::supervise(child);
            drop(lifeline_write);
            Ok(code)
        }
        Some(SetupReport::Failed { exit_code, message }) => {
            let _ = nix::sys::wait::waitpid(child, None);
            drop(lifeline_write);
            let kind = LauncherFailure::from_code(exit_code).unwrap_or(LauncherFailure::ExecSetup);
            Err(Failure::new(kind, message))
        }
        None => {
            let waited = nix::sys::wait::waitpid(child, None);
            drop(lifeline_write);
            Err(exec_setup(
                "set up the sandbox",
                &format!("its init ended without a report ({waited:?})"),
            ))
        }
    }
}

/// The payload's pid as the launcher sees it: the only child of the sandbox's pid 1.
fn payload_host_pid(init: Pid) -> Option<i32> {
    let path = format!("/proc/{init}/task/{init}/children");
    let text = std::fs::read_to_string(path).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Sends the launcher one report and never returns on failure.
fn send_report(fd: &OwnedFd, report: &SetupReport) {
    let mut line = serde_json::to_string(report).unwrap_or_default();
    line.push('\n');
    let _ = nix::unistd::write(fd, line.as_bytes());
}

fn fail_setup(fd: &OwnedFd, kind: LauncherFailure, message: impl std::fmt::Display) -> ! {
    send_report(
        fd,
        &SetupReport::Failed {
            exit_code: kind.code(),
            message: message.to_string(),
        },
    );
    // SAFETY: _exit ends the process without running the parent's atexit handlers.
    unsafe { libc::_exit(kind.code() as i32) }
}

/// Dies with the launcher: PDEATHSIG, then make sure the launcher did not die before it was set
/// (the lifeline pipe's write end lives only in the launcher, so its hangup means it is gone).
/// getppid() cannot tell here: the parent is outside the new pid namespace, so it reads 0.
fn die_with_launcher(lifeline: &OwnedFd) -> Result<(), std::io::Error> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut fds = [libc::pollfd {
        fd: lifeline.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: fds is a valid array of one pollfd.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
    if rc > 0 && fds[0].revents & libc::POLLHUP != 0 {
        // SAFETY: the launcher is gone; end without cleanup.
        unsafe { libc::_exit(LauncherFailure::ExecSetup.code() as i32) };
    }
    Ok(())
}

/// The sandbox's pid 1. Never returns.
fn sandbox_init(
    plan: &LaunchPlan,
    prepared: &Prepared,
    root_backed: Option<&RootBackedPrivilege>,
    channels: Channels,
    old_mask: &SigSet,
) -> ! {
    let Channels {
        report_read,
        report_write,
        lifeline_read,
        lifeline_write,
        gate,
    } = channels;
    drop(report_read);
    drop(lifeline_write);
    let gate_read = gate.map(|(read, write)| {
        drop(write);
        read
    });
    let report = report_write;
    let mut timer = Timer::new(Instant::now());
    fault::inject(fault::Phase::InitAfterClone)
        .unwrap_or_else(|e| fail_setup(&report, e.kind(), e));

    if let Err(e) = die_with_launcher(&lifeline_read) {
        fail_setup(
            &report,
            LauncherFailure::ExecSetup,
            format!("failed to set the parent-death signal: {e}"),
        );
    }
    if let Some(fd) = plan.status_fd.filter(|fd| *fd > 2) {
        // The status fd belongs to the launcher; the sandbox never holds it (unless the caller
        // chose one of the standard streams, which the payload gets anyway).
        // SAFETY: closing an fd this process inherited and no longer uses.
        unsafe { libc::close(fd) };
    }
    if let Some(lowered) = root_backed {
        if let Err(e) = lowered.raise_for_sandbox_setup() {
            fail_setup(&report, LauncherFailure::Privilege, e);
        }
        // Raising the euid cleared the parent-death signal: set it again, and stop here if the
        // launcher died in between, so the init never builds a sandbox as root for nobody.
        if let Err(e) = die_with_launcher(&lifeline_read) {
            fail_setup(
                &report,
                LauncherFailure::ExecSetup,
                format!("failed to set the parent-death signal: {e}"),
            );
        }
    }
    // Started with the privilege the mode gives pid 1 (the thread inherits it), joined below
    // before anything lowers it, and before the payload is forked: pid 1 forks single-threaded.
    let network = plan.private_net().then(namespaces::PendingNetwork::start);
    if plan.mode == LaunchMode::Userns {
        if let Err(e) = namespaces::write_identity_maps(plan.payload_ids) {
            fail_setup(&report, LauncherFailure::NamespaceSetup, e);
        }
        timer.lap("id_maps");
    }
    fault::inject(fault::Phase::AfterUidMap).unwrap_or_else(|e| fail_setup(&report, e.kind(), e));
    match rootfs::build_root(&plan.mounts, plan.payload_ids) {
        Ok(mut times) => {
            timer.phases.append(&mut times);
            timer.last = Instant::now();
        }
        Err(e) => fail_setup(&report, LauncherFailure::MountSetup, e),
    }
    if let Err(e) = namespaces::set_hostname(&plan.hostname) {
        fail_setup(&report, LauncherFailure::NamespaceSetup, e);
    }
    timer.lap("hostname");
    // What does not need the network namespace goes first, while the helper may still build it.
    // Out of the caller's session: terminal signals reach the launcher only, which forwards them
    // once, instead of hitting pid 1 directly as well.
    // SAFETY: setsid has no preconditions.
    unsafe { libc::setsid() };

    // The bounding set goes before the payload exists, for both processes at once: without
    // CAP_SETPCAP the launch ends here with one line, never with a payload already running.
    if let Err(e) = harden::drop_bounding_set() {
        fail_setup(
            &report,
            LauncherFailure::Hardening,
            format!("failed to drop the sandbox init's privileges: {e}"),
        );
    }

    // The payload hardens itself while pid 1 seals the root (rootfs::seal_root); this pipe says
    // when the root is sealed, and the payload execs nothing before it does.
    let (seal_read, seal_write) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(ends) => ends,
        Err(e) => fail_setup(
            &report,
            LauncherFailure::ExecSetup,
            format!("failed to create a pipe: {e}"),
        ),
    };

    if let Some(network) = network {
        match network.enter() {
            Ok(step) => timer.lap(step),
            Err(e) => fail_setup(&report, LauncherFailure::NamespaceSetup, e),
        }
    }
    let namespace_ids = namespaces::own_namespace_ids();

    // SAFETY: the sandbox's pid 1 is single-threaded again: a clone of the single-threaded
    // launcher whose one helper thread was joined above.
    let payload = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            drop(report);
            drop(lifeline_read);
            drop(seal_write);
            payload_exec(plan, prepared, gate_read, seal_read, old_mask)
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
        Err(e) => fail_setup(
            &report,
            LauncherFailure::ExecSetup,
            format!("failed to fork the payload: {e}"),
        ),
    };
    drop(gate_read);
    drop(seal_read);
    timer.lap("fork_payload");

    let kill_payload = || {
        let _ = nix::sys::signal::kill(payload, nix::sys::signal::Signal::SIGKILL);
    };
    fault::delay_seal();
    match rootfs::seal_root() {
        Ok(mut times) => {
            timer.phases.append(&mut times);
            timer.last = Instant::now();
        }
        Err(e) => {
            kill_payload();
            fail_setup(&report, LauncherFailure::MountSetup, e);
        }
    }
    // pid 1 keeps nothing it does not need: the same permanent drop as the payload, before the
    // payload is released, so that no program runs in the sandbox while pid 1 still holds root.
    let dropped = match plan.mode {
        LaunchMode::RootBacked => privilege::drop_permanently(plan.payload_ids)
            .map_err(|e| (LauncherFailure::Privilege, e.to_string())),
        LaunchMode::Userns => Ok(()),
    }
    .and_then(|()| {
        harden::drop_all_capabilities().map_err(|e| (LauncherFailure::Hardening, e.to_string()))
    })
    .and_then(|()| {
        harden::set_no_new_privs().map_err(|e| (LauncherFailure::Hardening, e.to_string()))
    })
    // The id change cleared the parent-death signal: set it again.
    .and_then(|()| {
        die_with_launcher(&lifeline_read).map_err(|e| (LauncherFailure::ExecSetup, e.to_string()))
    })
    // The init runs as the payload's uid without the payload's seccomp filter: if it stayed
    // dumpable, the payload could open /proc/1/mem and run code in it, outside the filter.
    .and_then(|()| {
        // SAFETY: prctl with integer arguments has no memory effects.
        match unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } {
            0 => Ok(()),
            _ => Err((
                LauncherFailure::Hardening,
                format!(
                    "failed to make the init non-dumpable: {}",
                    std::io::Error::last_os_error()
                ),
            )),
        }
    });
    if let Err((kind, message)) = dropped {
        kill_payload();
        fail_setup(
            &report,
            kind,
            format!("failed to drop the sandbox init's privileges: {message}"),
        );
    }
    timer.lap("init_drop_privileges");

    // The payload changes directory itself, once the root is sealed (a directory resolved
    // before, through /oldroot, would keep the host reachable); this finds a bad --chdir first,
    // as a setup failure.
    // SAFETY: chdir with a NUL-terminated path prepared before clone.
    if unsafe { libc::chdir(prepared.chdir.as_ptr()) } != 0 {
        let e = std::io::Error::last_os_error();
        kill_payload();
        fail_setup(
            &report,
            LauncherFailure::ExecSetup,
            format!(
                "failed to change directory to {}: {e}",
                plan.chdir.to_string_lossy()
            ),
        );
    }
    match nix::unistd::write(&seal_write, b"s") {
        // EPIPE: the payload is gone already (its own hardening failed, with its own line and
        // code); supervision below reports its status.
        Ok(_) | Err(nix::errno::Errno::EPIPE) => {}
        Err(e) => {
            kill_payload();
            fail_setup(
                &report,
                LauncherFailure::ExecSetup,
                format!("failed to release the payload: {e}"),
            );
        }
    }
    drop(seal_write);

    drop(lifeline_read);
    send_report(
        &report,
        &SetupReport::Ready {
            namespaces: namespace_ids,
            steps: timer.phases,
        },
    );
    drop(report);
    let code = init::supervise(payload);
    // SAFETY: pid 1 ends here; the kernel kills whatever is left in the pid namespace.
    unsafe { libc::_exit(code as i32) }
}

fn payload_fail(kind: LauncherFailure, message: impl std::fmt::Display) -> ! {
    eprintln!("sandbox-run: {message}");
    // SAFETY: end the forked payload without running atexit handlers.
    unsafe { libc::_exit(kind.code() as i32) }
}

/// Blocks until pid 1 says the root is sealed; ends the payload quietly if it never does (pid 1
/// failed, reports why and kills the payload anyway).
fn wait_for_sealed_root(seal: OwnedFd) {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(&seal, &mut byte) {
            Ok(1) => return,
            Err(nix::errno::Errno::EINTR) => continue,
            // SAFETY: end without cleanup; nothing of the sandboxed program has run.
            _ => unsafe { libc::_exit(LauncherFailure::MountSetup.code() as i32) },
        }
    }
}

/// The payload: harden, wait for the sealed root, then exec. Never returns.
fn payload_exec(
    plan: &LaunchPlan,
    prepared: &Prepared,
    gate: Option<OwnedFd>,
    seal: OwnedFd,
    old_mask: &SigSet,
) -> ! {
    if let Err(e) = init::restore_signal_mask(old_mask) {
        payload_fail(LauncherFailure::ExecSetup, e);
    }
    // The Rust runtime ignores SIGPIPE in the launcher, and an ignored signal survives execve:
    // the program gets the default back, as std::process::Command gives its children.
    // SAFETY: setting a signal's disposition to the default has no memory effects.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if let Some(gate) = gate {
        let mut byte = [0u8; 1];
        // SAFETY: the fd is ours; File takes ownership and closes it.
        let mut file =
            unsafe { std::fs::File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(gate)) };
        if !matches!(file.read(&mut byte), Ok(1)) {
            // The launcher is gone.
            // SAFETY: end without cleanup.
            unsafe { libc::_exit(LauncherFailure::ExecSetup.code() as i32) };
        }
    }
    let hardening = |e: harden::HardenError| -> ! { payload_fail(LauncherFailure::Hardening, e) };
    harden::new_session().unwrap_or_else(|e| hardening(e));
    harden::apply_rlimits(&prepared.rlimits).unwrap_or_else(|e| hardening(e));
    if plan.mode == LaunchMode::RootBacked {
        if let Err(e) = privilege::drop_permanently(plan.payload_ids) {
            payload_fail(LauncherFailure::Privilege, e);
        }
    }
    harden::drop_all_capabilities().unwrap_or_else(|e| hardening(e));
    harden::set_no_new_privs().unwrap_or_else(|e| hardening(e));
    harden::close_fds_except(&[seal.as_raw_fd()]).unwrap_or_else(|e| hardening(e));
    fault::inject(fault::Phase::BeforeSeccomp).unwrap_or_else(|e| payload_fail(e.kind(), e));
    if let Err(e) = seccomp::install_payload_filter(&prepared.filter) {
        payload_fail(LauncherFailure::Hardening, e);
    }
    // Everything above is the launcher's own code; from here on the root must be sealed.
    wait_for_sealed_root(seal);
    // SAFETY: chdir with a NUL-terminated path prepared before clone.
    if unsafe { libc::chdir(prepared.chdir.as_ptr()) } != 0 {
        payload_fail(
            LauncherFailure::ExecSetup,
            format!(
                "failed to change directory to {}: {}",
                plan.chdir.to_string_lossy(),
                std::io::Error::last_os_error()
            ),
        );
    }

    let mut argv: Vec<*const libc::c_char> = prepared.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = prepared.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let mut saw_eacces = false;
    let mut last_errno = libc::ENOENT;
    fault::inject(fault::Phase::BeforeExec).unwrap_or_else(|e| payload_fail(e.kind(), e));
    for candidate in &prepared.candidates {
        // SAFETY: candidate, argv and envp are NUL-terminated and outlive the call.
        unsafe { libc::execve(candidate.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::ENOENT);
        if errno == libc::EACCES {
            saw_eacces = true;
        }
        last_errno = errno;
        if !matches!(errno, libc::ENOENT | libc::ENOTDIR | libc::EACCES) {
            break;
        }
    }
    let errno = if saw_eacces { libc::EACCES } else { last_errno };
    let code = exit::exec_errno_to_code(errno);
    let message = if code == exit::PROGRAM_NOT_FOUND {
        &prepared.not_found_message
    } else if matches!(errno, libc::EAGAIN | libc::ENOMEM | libc::E2BIG) {
        &prepared.exec_resource_message
    } else {
        &prepared.not_executable_message
    };
    // SAFETY: writing a prepared buffer to stderr.
    unsafe { libc::write(2, message.as_ptr().cast(), message.len()) };
    // SAFETY: end the payload with the execvp convention's code.
    unsafe { libc::_exit(code as i32) }
}
