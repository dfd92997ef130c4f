//! Fuzzes `sandbox-run`'s argument parsing and plan validation (bind specs, tmpfs, setenv,
//! chdir, rlimits, status fd, hostname, user) against a fake host. Pure: no syscalls.
//!
//! Input: one flag byte (bit 0: root-backed mode, bit 1: the invoker is root), then the
//! arguments after argv[0], separated by NUL bytes (any bytes, as argv may hold).
#![no_main]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sandprobe::launcher::harden::parse_rlimit;
use sandprobe::launcher::plan::{
    resolve_user, HostView, Identity, LaunchMode, LaunchPlan, PathKind, RawArgs,
};

/// A merged-/usr host with a few bind sources; a path whose last component starts with `x`
/// also exists (a directory, or a file when it ends in `.f`), so mutations reach the checks
/// after the existence test.
struct FakeHost {
    invoker: Identity,
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n\
alice:x:1000:1001::/home/alice:/bin/sh\n";

impl HostView for FakeHost {
    fn invoker(&self) -> Identity {
        self.invoker
    }
    fn passwd(&self) -> Option<String> {
        Some(PASSWD.to_owned())
    }
    fn path_kind(&self, path: &Path, follow: bool) -> Option<PathKind> {
        let bytes = path.as_os_str().as_bytes();
        match bytes {
            b"/usr" | b"/srv/data" | b"/tmp" | b"/home/alice" => Some(PathKind::Dir),
            b"/bin" | b"/lib" | b"/lib64" | b"/sbin" => Some(if follow {
                PathKind::Dir
            } else {
                PathKind::Symlink(Path::new("usr").join(OsStr::from_bytes(&bytes[1..])))
            }),
            b"/etc/passwd" | b"/etc/group" | b"/etc/ld.so.cache" => Some(PathKind::File),
            b"/dev/null" | b"/dev/zero" | b"/dev/full" | b"/dev/random" | b"/dev/urandom"
            | b"/dev/tty" => Some(PathKind::Other),
            _ => {
                let name = path.file_name()?.as_bytes();
                if !name.starts_with(b"x") {
                    None
                } else if name.ends_with(b".f") {
                    Some(PathKind::File)
                } else {
                    Some(PathKind::Dir)
                }
            }
        }
    }
    fn fd_is_open(&self, fd: i32) -> bool {
        (0..10).contains(&fd)
    }
    fn env_var(&self, name: &str) -> Option<OsString> {
        match name {
            "TERM" => Some("xterm".into()),
            "LANG" => Some("C.UTF-8".into()),
            _ => None,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut argv = vec![OsString::from("sandbox-run")];
    if !rest.is_empty() {
        argv.extend(
            rest.split(|b| *b == 0)
                .map(|a| OsString::from_vec(a.to_vec())),
        );
    }
    let Ok(raw) = RawArgs::parse_from_args(argv) else {
        return;
    };
    // Every --ro-bind/--bind/--tmpfs comes out once, in order.
    assert_eq!(
        raw.mounts.len(),
        raw.ro_bind.len() / 2 + raw.bind.len() / 2 + raw.tmpfs.len()
    );
    for spec in &raw.rlimit {
        let _ = parse_rlimit(spec);
    }

    let host = FakeHost {
        invoker: if flags & 2 != 0 {
            Identity { uid: 0, gid: 0 }
        } else {
            Identity {
                uid: 1000,
                gid: 1001,
            }
        },
    };
    let mode = if flags & 1 != 0 {
        LaunchMode::RootBacked
    } else {
        LaunchMode::Userns
    };
    let Ok(target) = resolve_user(raw.user.as_deref(), host.passwd().as_deref()) else {
        return;
    };
    let Ok(plan) = LaunchPlan::build(&raw, mode, "fuzz".into(), target, &host) else {
        return;
    };
    // A valid plan runs something, under a hostname the kernel accepts.
    assert!(!plan.command.is_empty());
    assert!(!plan.hostname.is_empty() && plan.hostname.len() <= 64);
    let _ = plan.private_net();
    let _ = plan.payload_path();
    let _ = plan.exec_candidates();
    let _ = serde_json::to_string(&plan).expect("a plan serialises");
});
