//! Applies the payload hardening of `sandbox-run` to a command, without namespaces, so the
//! seccomp filter and the hardening primitives can be tested (and tried by hand) on their own.
//!
//! Usage: `confine [--as-user UID:GID] [--no-filter] [--] COMMAND [ARG...]`
//!
//! Order, as in the launcher's final child: build the filter (it allocates), then new_session,
//! the optional permanent id drop of root-backed mode (`--as-user`, preceded by
//! drop_bounding_set because the drop loses CAP_SETPCAP), drop_all_capabilities,
//! set_no_new_privs, close_fds_except(&[]), install_payload_filter, execvp. `--no-filter` skips
//! only the seccomp step, which gives tests a control run. Exits 125 when a step fails (the
//! payload never runs) and 127 when the command cannot be executed.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use sandprobe::launcher::{harden, seccomp};

const EXIT_SETUP_FAILED: u8 = 125;
const EXIT_EXEC_FAILED: u8 = 127;

struct Options {
    as_user: Option<(u32, u32)>,
    filter: bool,
    command: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        as_user: None,
        filter: true,
        command: Vec::new(),
    };
    let mut index = 0;
    while let Some(arg) = args.get(index) {
        match arg.as_str() {
            "--no-filter" => options.filter = false,
            "--as-user" => {
                index += 1;
                let value = args.get(index).ok_or("--as-user needs UID:GID")?;
                let (uid, gid) = value.split_once(':').ok_or("--as-user needs UID:GID")?;
                let uid = uid.parse().map_err(|_| format!("bad uid in {value:?}"))?;
                let gid = gid.parse().map_err(|_| format!("bad gid in {value:?}"))?;
                options.as_user = Some((uid, gid));
            }
            "--" => {
                options.command = args[index + 1..].to_vec();
                break;
            }
            _ => {
                options.command = args[index..].to_vec();
                break;
            }
        }
        index += 1;
    }
    if options.command.is_empty() {
        return Err(
            "usage: confine [--as-user UID:GID] [--no-filter] [--] COMMAND [ARG...]".into(),
        );
    }
    Ok(options)
}

/// The root-backed permanent drop: groups, then gid, then uid (all three ids of each).
fn drop_ids(uid: u32, gid: u32) -> Result<(), String> {
    harden::drop_bounding_set().map_err(|e| e.to_string())?;
    // SAFETY: setgroups with a zero-length list reads no memory.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(format!(
            "failed to clear groups: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: integer arguments only.
    if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
        return Err(format!(
            "failed to set gid: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: integer arguments only.
    if unsafe { libc::setresuid(uid, uid, uid) } != 0 {
        return Err(format!(
            "failed to set uid: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn confine(options: &Options) -> Result<std::io::Error, String> {
    let filter = seccomp::build_payload_filter().map_err(|e| e.to_string())?;
    harden::new_session().map_err(|e| e.to_string())?;
    if let Some((uid, gid)) = options.as_user {
        drop_ids(uid, gid)?;
    }
    harden::drop_all_capabilities().map_err(|e| e.to_string())?;
    harden::set_no_new_privs().map_err(|e| e.to_string())?;
    harden::close_fds_except(&[]).map_err(|e| e.to_string())?;
    if options.filter {
        seccomp::install_payload_filter(&filter).map_err(|e| e.to_string())?;
    }
    // `exec` only returns on failure.
    Ok(Command::new(&options.command[0])
        .args(&options.command[1..])
        .exec())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("confine: {message}");
            return ExitCode::from(2);
        }
    };
    match confine(&options) {
        Ok(exec_error) => {
            eprintln!(
                "confine: failed to execute {}: {exec_error}",
                options.command[0]
            );
            ExitCode::from(EXIT_EXEC_FAILED)
        }
        Err(message) => {
            eprintln!("confine: {message}");
            ExitCode::from(EXIT_SETUP_FAILED)
        }
    }
}
