//! The payload probe shared by the hardening tests (through `examples/confine`) and the launcher
//! tests (through `sandbox-run` in every mode): a python3 script that tries each system call the
//! seccomp filter must deny and reports the errno, then the capabilities, no_new_privs, seccomp
//! mode, ids, session and open fds the payload ended up with.

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;

/// A system call to try: name, number, arguments.
pub fn calls() -> Vec<(String, i64, Vec<i64>)> {
    let mut list: Vec<(&str, i64, Vec<i64>)> = vec![
        (
            "unshare",
            libc::SYS_unshare,
            vec![libc::CLONE_NEWUSER as i64],
        ),
        ("setns", libc::SYS_setns, vec![-1, 0]),
        ("mount", libc::SYS_mount, vec![0, 0, 0, 0, 0]),
        ("umount2", libc::SYS_umount2, vec![0, 0]),
        ("pivot_root", libc::SYS_pivot_root, vec![0, 0]),
        ("move_mount", libc::SYS_move_mount, vec![-1, 0, -1, 0, 0]),
        ("open_tree", libc::SYS_open_tree, vec![-1, 0, 0]),
        ("fsopen", libc::SYS_fsopen, vec![0, 0]),
        ("fsmount", libc::SYS_fsmount, vec![-1, 0, 0]),
        ("fsconfig", libc::SYS_fsconfig, vec![-1, 0, 0, 0, 0]),
        ("fspick", libc::SYS_fspick, vec![-1, 0, 0]),
        (
            "mount_setattr",
            libc::SYS_mount_setattr,
            vec![-1, 0, 0, 0, 0],
        ),
        (
            "ptrace",
            libc::SYS_ptrace,
            vec![libc::PTRACE_PEEKUSER as i64, -1, 0, 0],
        ),
        (
            "process_vm_readv",
            libc::SYS_process_vm_readv,
            vec![0, 0, 0, 0, 0, 0],
        ),
        (
            "process_vm_writev",
            libc::SYS_process_vm_writev,
            vec![0, 0, 0, 0, 0, 0],
        ),
        (
            "perf_event_open",
            libc::SYS_perf_event_open,
            vec![0, 0, -1, -1, 0],
        ),
        ("bpf", libc::SYS_bpf, vec![0, 0, 0]),
        ("userfaultfd", libc::SYS_userfaultfd, vec![-1]),
        ("io_uring_setup", libc::SYS_io_uring_setup, vec![0, 0]),
        (
            "io_uring_enter",
            libc::SYS_io_uring_enter,
            vec![-1, 0, 0, 0, 0, 0],
        ),
        (
            "io_uring_register",
            libc::SYS_io_uring_register,
            vec![-1, 0, 0, 0],
        ),
        ("keyctl", libc::SYS_keyctl, vec![0, -3, 0]),
        ("add_key", libc::SYS_add_key, vec![0, 0, 0, 0, 0]),
        ("request_key", libc::SYS_request_key, vec![0, 0, 0, 0]),
        (
            "open_by_handle_at",
            libc::SYS_open_by_handle_at,
            vec![-1, 0, 0],
        ),
        (
            "name_to_handle_at",
            libc::SYS_name_to_handle_at,
            vec![-1, 0, 0, 0, 0],
        ),
        ("kexec_load", libc::SYS_kexec_load, vec![0, 0, 0, 0]),
        (
            "kexec_file_load",
            libc::SYS_kexec_file_load,
            vec![-1, -1, 0, 0, 0],
        ),
        ("init_module", libc::SYS_init_module, vec![0, 0, 0]),
        ("finit_module", libc::SYS_finit_module, vec![-1, 0, 0]),
        ("delete_module", libc::SYS_delete_module, vec![0, 0]),
        ("reboot", libc::SYS_reboot, vec![0, 0, 0, 0]),
        ("swapon", libc::SYS_swapon, vec![0, 0]),
        ("swapoff", libc::SYS_swapoff, vec![0]),
        ("acct", libc::SYS_acct, vec![0]),
        ("quotactl", libc::SYS_quotactl, vec![0, 0, 0, 0]),
        ("syslog", libc::SYS_syslog, vec![10, 0, 0]),
        ("lookup_dcookie", libc::SYS_lookup_dcookie, vec![0, 0, 0]),
        ("nfsservctl", libc::SYS_nfsservctl, vec![0, 0, 0]),
        ("kcmp", libc::SYS_kcmp, vec![0, 0, 0, 0, 0]),
        ("pidfd_getfd", libc::SYS_pidfd_getfd, vec![-1, 0, 0]),
        (
            "ioctl_tiocsti",
            libc::SYS_ioctl,
            vec![-1, libc::TIOCSTI as i64, 0],
        ),
        (
            "ioctl_tioclinux",
            libc::SYS_ioctl,
            vec![-1, libc::TIOCLINUX as i64, 0],
        ),
        // READ_IMPLIES_EXEC
        (
            "personality_read_implies_exec",
            libc::SYS_personality,
            vec![0x0040_0000],
        ),
        ("clone3", libc::SYS_clone3, vec![0, 0]),
    ];
    #[cfg(target_arch = "x86_64")]
    list.push(("uselib", libc::SYS_uselib, vec![0]));
    for (name, flag) in [
        ("clone_newuser", libc::CLONE_NEWUSER),
        ("clone_newns", libc::CLONE_NEWNS),
        ("clone_newpid", libc::CLONE_NEWPID),
        ("clone_newnet", libc::CLONE_NEWNET),
        ("clone_newipc", libc::CLONE_NEWIPC),
        ("clone_newuts", libc::CLONE_NEWUTS),
        ("clone_newcgroup", libc::CLONE_NEWCGROUP),
    ] {
        list.push((
            name,
            libc::SYS_clone,
            vec![i64::from(flag | libc::SIGCHLD), 0, 0, 0, 0],
        ));
    }
    list.into_iter()
        .map(|(name, nr, args)| (name.to_string(), nr, args))
        .collect()
}

/// The probe: tries each call (a clone that unexpectedly succeeds exits its child at once),
/// then reports netlink, threads, subprocesses, ids, /proc/self/status and the open fds.
pub const PROBE: &str = r#"
import ctypes, errno, json, os, socket, subprocess, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {"calls": {}}
for name, nr, args in json.loads(sys.argv[1]):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    if ret == 0 and name.startswith("clone"):
        os._exit(0)
    if ret > 0 and name.startswith("clone"):
        os.waitpid(ret, 0)
    out["calls"][name] = "ok" if ret >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
def try_socket(proto):
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto).close()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
out["netlink_route"] = try_socket(0)
out["netlink_audit"] = try_socket(9)
out["netlink_uevent"] = try_socket(15)
box = []
t = threading.Thread(target=lambda: box.append(1)); t.start(); t.join()
out["thread"] = box == [1]
out["subprocess"] = subprocess.run(["true"]).returncode
out["personality_query"] = libc.personality(ctypes.c_ulong(0xffffffff)) >= 0
out["ids"] = [os.getresuid(), os.getresgid(), os.getgroups()]
out["session_leader"] = os.getsid(0) == os.getpid()
try:
    open("/dev/tty").close(); out["dev_tty"] = "ok"
except OSError as e:
    out["dev_tty"] = errno.errorcode.get(e.errno, str(e.errno))
status = {}
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    status[key] = value.strip()
out["status"] = status
listed = [int(fd) for fd in os.listdir("/proc/self/fd")]
open_fds = []
for fd in listed:
    try:
        os.fstat(fd); open_fds.append(fd)
    except OSError:
        pass
out["fds"] = sorted(open_fds)
print(json.dumps(out))
"#;

pub fn calls_json() -> String {
    serde_json::to_string(&calls()).expect("serialise calls")
}

pub fn report(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "probe failed: {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "probe printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Every property the hardened payload must show.
pub fn assert_confined(report: &Value) {
    let results: BTreeMap<String, String> =
        serde_json::from_value(report["calls"].clone()).expect("calls map");
    assert_eq!(results.len(), calls().len());
    for (name, result) in &results {
        let expected = if name == "clone3" { "ENOSYS" } else { "EPERM" };
        assert_eq!(result, expected, "{name}");
    }
    assert_eq!(report["netlink_route"], "ok", "NETLINK_ROUTE must work");
    assert_eq!(report["netlink_audit"], "EPERM");
    assert_eq!(report["netlink_uevent"], "EPERM");
    assert_eq!(
        report["thread"], true,
        "threads must start (clone3 → clone fallback)"
    );
    assert_eq!(report["subprocess"], 0, "subprocesses must start");
    assert_eq!(report["personality_query"], true);
    let status = &report["status"];
    for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status[key], "0000000000000000", "{key}");
    }
    assert_eq!(status["NoNewPrivs"], "1");
    assert_eq!(status["Seccomp"], "2");
    assert_eq!(
        report["fds"],
        serde_json::json!([0, 1, 2]),
        "fd 7 must have been closed"
    );
    assert_eq!(report["session_leader"], true, "setsid must have run");
    assert_ne!(report["dev_tty"], "ok", "no controlling terminal");
}
