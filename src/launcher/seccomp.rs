//! The payload's seccomp filter: a deny-list that closes the kernel surfaces a sandboxed program
//! has no business touching (nested namespaces, mounts, introspection, keyrings, kernel-wide
//! switches, terminal injection, most netlink families).
//!
//! The filter is compiled with `seccompiler` *before* the launcher forks (compilation allocates)
//! and installed in the final child right before `execve` by [`install_payload_filter`], which
//! performs two system calls and nothing else. Every choice is explained in `docs/seccomp.md`.
//!
//! `seccompiler` gives one match action per compiled program, while this filter needs several
//! (EPERM for the deny-list, ENOSYS for `clone3`, kill for foreign ABIs). The program is therefore
//! built from segments, each compiled by `seccompiler` with "allow" as its fall-through action;
//! the fall-through `RET ALLOW` instructions of every segment but the last are rewritten into
//! forward jumps to the next segment (see [`chain_segments`]). Jump offsets inside a segment stay
//! valid because every rewrite replaces one instruction with exactly one instruction.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

/// Errors of building or installing the payload filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The launcher was built for an architecture whose system call table the filter lacks.
    #[error(
        "failed to build the seccomp filter: architecture {0} is not supported (x86_64 and aarch64 are)"
    )]
    UnsupportedArch(&'static str),
    /// `seccompiler` rejected a rule or a segment.
    #[error("failed to compile the seccomp filter: {0}")]
    Compile(#[from] seccompiler::BackendError),
    /// The assembled program exceeds the kernel's limit on classic BPF program length.
    #[error(
        "failed to build the seccomp filter: {0} instructions exceed the kernel limit of 4096"
    )]
    TooLong(usize),
    /// The dispatch tree outgrew the 8-bit jump offsets of classic BPF.
    #[error(
        "failed to build the seccomp filter: the dispatch over the ruled system calls is {0} instructions long, more than a jump can cross (255)"
    )]
    DispatchTooLong(usize),
    /// An empty program was passed to [`install_payload_filter`].
    #[error("failed to install the seccomp filter: the program is empty")]
    EmptyProgram,
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    #[error("failed to set no_new_privs before installing the seccomp filter: {0}")]
    SetNoNewPrivs(nix::errno::Errno),
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed.
    #[error(
        "failed to install the seccomp filter: {0} (the kernel needs CONFIG_SECCOMP_FILTER; EACCES means no_new_privs was not set)"
    )]
    Install(nix::errno::Errno),
}

/// Namespace flags a payload must never pass to `clone`. `CLONE_NEWTIME` (0x80) overlaps the
/// exit-signal byte of `clone(2)`; a child exit signal of 128 or more is invalid anyway, so
/// denying that bit costs nothing and keeps the rule identical to the `unshare` flag set.
pub const DENIED_CLONE_NAMESPACE_FLAGS: [u64; 8] = [
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWTIME as u64,
];

/// Terminal ioctls that inject input into, or reconfigure, the terminal the payload shares.
// The request type is c_ulong on glibc but c_int on musl: the cast is not a no-op everywhere.
#[allow(clippy::unnecessary_cast)]
pub const DENIED_IOCTLS: [u64; 2] = [libc::TIOCSTI as u64, libc::TIOCLINUX as u64];

/// `personality(2)` values the payload may pass: the defaults, the 32-bit and UNAME26 variants,
/// and the query value. Anything else (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, …) weakens
/// exploit mitigations and is denied. The same set as Docker's default profile.
pub const ALLOWED_PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x0002_0000, 0x0002_0008, 0xffff_ffff];

/// `open_tree_attr(2)` (Linux 6.15) has the same number on every architecture; `libc` may not
/// name it yet.
const SYS_OPEN_TREE_ATTR: i64 = 467;

/// System calls denied with EPERM whatever their arguments.
fn unconditionally_denied() -> Vec<(&'static str, i64)> {
    let mut list = vec![
        // Nested namespaces.
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        // The mount family, old and new API.
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("move_mount", libc::SYS_move_mount),
        ("open_tree", libc::SYS_open_tree),
        ("open_tree_attr", SYS_OPEN_TREE_ATTR),
        ("fsopen", libc::SYS_fsopen),
        ("fsmount", libc::SYS_fsmount),
        ("fsconfig", libc::SYS_fsconfig),
        ("fspick", libc::SYS_fspick),
        ("mount_setattr", libc::SYS_mount_setattr),
        // Process and kernel introspection.
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("kcmp", libc::SYS_kcmp),
        ("pidfd_getfd", libc::SYS_pidfd_getfd),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("bpf", libc::SYS_bpf),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
        // The kernel keyring (not namespaced).
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        // File handles bypass the mount tree (the "shocker" escape).
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("name_to_handle_at", libc::SYS_name_to_handle_at),
        // System-wide switches.
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("reboot", libc::SYS_reboot),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("acct", libc::SYS_acct),
        ("quotactl", libc::SYS_quotactl),
        ("quotactl_fd", libc::SYS_quotactl_fd),
        ("syslog", libc::SYS_syslog),
        // Obsolete calls with a history of bugs.
        ("lookup_dcookie", libc::SYS_lookup_dcookie),
        ("nfsservctl", libc::SYS_nfsservctl),
    ];
    #[cfg(target_arch = "x86_64")]
    list.extend([
        ("uselib", libc::SYS_uselib),
        ("iopl", libc::SYS_iopl),
        ("ioperm", libc::SYS_ioperm),
    ]);
    list
}

/// The names of every system call the filter denies unconditionally with EPERM (for docs, the
/// verbose plan and tests).
pub fn denied_syscall_names() -> Vec<&'static str> {
    unconditionally_denied()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The architecture the filter is compiled for: the one this binary runs as.
fn native_arch() -> Result<TargetArch, SeccompError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(TargetArch::x86_64),
        "aarch64" => Ok(TargetArch::aarch64),
        other => Err(SeccompError::UnsupportedArch(other)),
    }
}

fn cond(
    arg: u8,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, seccompiler::BackendError> {
    // Dword: every argument tested here is a 32-bit quantity for the kernel (int or unsigned
    // int), or a flag word whose tested bits all live in the low 32 bits. Comparing only the low
    // half matches what the kernel itself looks at, so garbage in the high half cannot slip past.
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
}

/// The EPERM segment's rules: unconditional denials plus the argument-filtered ones.
fn deny_rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, SeccompError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = unconditionally_denied()
        .into_iter()
        .map(|(_, nr)| (nr, Vec::new()))
        .collect();

    // clone(flags, …): deny when any namespace bit is set. Rules of one syscall are OR-ed.
    let clone_rules = DENIED_CLONE_NAMESPACE_FLAGS
        .iter()
        .map(|&flag| SeccompRule::new(vec![cond(0, SeccompCmpOp::MaskedEq(flag), flag)?]))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone_rules);

    // ioctl(fd, request, …): the request is an unsigned int for the kernel.
    let ioctl_rules = DENIED_IOCTLS
        .iter()
        .map(|&request| SeccompRule::new(vec![cond(1, SeccompCmpOp::Eq, request)?]))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_ioctl, ioctl_rules);

    // socket(AF_NETLINK, type, protocol): only NETLINK_ROUTE (protocol 0) stays allowed.
    rules.insert(
        libc::SYS_socket,
        vec![SeccompRule::new(vec![
            cond(0, SeccompCmpOp::Eq, libc::AF_NETLINK as u64)?,
            cond(2, SeccompCmpOp::Ne, libc::NETLINK_ROUTE as u64)?,
        ])?],
    );

    // personality(persona): deny unless persona is one of the allowed values (conditions of one
    // rule are AND-ed: "not a, and not b, and …").
    let personality_conditions = ALLOWED_PERSONALITIES
        .iter()
        .map(|&persona| cond(0, SeccompCmpOp::Ne, persona))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(
        libc::SYS_personality,
        vec![SeccompRule::new(personality_conditions)?],
    );
    Ok(rules)
}

// Classic BPF opcodes and seccomp return values used by the hand-written parts.
/// BPF_LD | BPF_W | BPF_ABS (the first two are 0).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_DATA_NR_OFFSET: u32 = 0;
const SECCOMP_DATA_ARCH_OFFSET: u32 = 4;
/// The audit architectures seccomp_data reports: EM_X86_64 and EM_AARCH64, 64-bit little-endian.
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
const AUDIT_ARCH_AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
/// SECCOMP_RET_ERRNO with EPERM in its data: what the segments return for a denial.
const SECCOMP_RET_ERRNO_EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
const BPF_MAX_LEN: usize = 4096;

/// A BPF instruction that does not jump.
fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// x86_64 processes can also enter the kernel through the x32 ABI: the same AUDIT_ARCH_X86_64,
/// but system call numbers with bit 30 set. A filter that compares numbers exactly would let
/// `unshare` through as `0x40000000 | 272`, so any number at or above that bit kills the process
/// (the same treatment as a foreign architecture).
#[cfg(target_arch = "x86_64")]
fn x32_guard() -> Vec<sock_filter> {
    vec![
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR_OFFSET),
        sock_filter {
            code: BPF_JMP_JGE_K,
            jt: 0,
            jf: 1,
            k: 0x4000_0000,
        },
        stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
    ]
}

#[cfg(not(target_arch = "x86_64"))]
fn x32_guard() -> Vec<sock_filter> {
    Vec::new()
}

/// Concatenates programs compiled with "allow" as their fall-through: in every program but the
/// last, `RET ALLOW` becomes a forward jump to the first instruction of the next program, so a
/// system call is allowed only when no segment claims it.
pub fn chain_segments(segments: Vec<BpfProgram>) -> BpfProgram {
    let count = segments.len();
    let mut out = Vec::with_capacity(segments.iter().map(Vec::len).sum());
    for (index, mut segment) in segments.into_iter().enumerate() {
        if index + 1 < count {
            let len = segment.len();
            for (pos, insn) in segment.iter_mut().enumerate() {
                if insn.code == BPF_RET_K && insn.k == SECCOMP_RET_ALLOW {
                    // Jump target: the instruction right after this segment.
                    let skip = len - pos - 1;
                    *insn = stmt(BPF_JMP_JA, u32::try_from(skip).unwrap_or(u32::MAX));
                }
            }
        }
        out.append(&mut segment);
    }
    out
}

/// The audit architecture of the running binary, as seccomp_data reports it.
fn native_audit_arch() -> Result<u32, SeccompError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(AUDIT_ARCH_X86_64),
        "aarch64" => Ok(AUDIT_ARCH_AARCH64),
        other => Err(SeccompError::UnsupportedArch(other)),
    }
}

/// Where the dispatch sends a system call number that has rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ruled {
    /// Denied with EPERM whatever the arguments: decided in the dispatch itself.
    Denied,
    /// Decided by its arguments (or clone3's ENOSYS): on to the segments.
    ByArguments,
}

/// A binary search over the system call numbers that have rules: the front of the filter.
///
/// When a filter is installed, the kernel runs it for every system call number to find the
/// ones it always allows (the action cache, Linux 5.11+). Through a linear deny-list that costs
/// every number times the list's length, and the JIT's cost grows with the length too: a
/// launch spent about 200 µs loading the filter. This prefix checks the architecture (anything
/// else is killed, as in the segments), then finds the number in about log2(rules)
/// comparisons: a number without a rule is allowed, one denied whatever its arguments gets
/// EPERM, and the few decided by their arguments go on to the segments. `ruled` must be sorted
/// by number, without duplicates.
fn dispatch_prefix(
    ruled: &[(u32, Ruled)],
    audit_arch: u32,
) -> Result<Vec<sock_filter>, SeccompError> {
    /// Leaf targets, resolved once the tree's length is known.
    const TO_SEGMENTS: u8 = 1;
    const TO_DENY: u8 = 2;
    fn tree(numbers: &[(u32, Ruled)], out: &mut Vec<sock_filter>) {
        match numbers {
            [] => {}
            [(nr, ruled)] => out.push(sock_filter {
                code: BPF_JMP_JEQ_K,
                jt: match ruled {
                    Ruled::Denied => TO_DENY,
                    Ruled::ByArguments => TO_SEGMENTS,
                },
                jf: 0,
                k: *nr,
            }),
            _ => {
                let (low, high) = numbers.split_at(numbers.len() / 2);
                let node = out.len();
                out.push(stmt(BPF_JMP_JGE_K, high[0].0));
                tree(low, out);
                // jt skips the low subtree; jf falls through into it. A subtree too long for
                // the 8-bit offset is caught below (the leaves' offsets are longer still).
                out[node].jt = u8::try_from(out.len() - node - 1).unwrap_or(u8::MAX);
                tree(high, out);
            }
        }
    }
    let mut out = vec![
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_ARCH_OFFSET),
        sock_filter {
            code: BPF_JMP_JEQ_K,
            jt: 1,
            jf: 0,
            k: audit_arch,
        },
        stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR_OFFSET),
    ];
    let tree_start = out.len();
    tree(ruled, &mut out);
    // [tree] "JA to the segments" "RET ALLOW" "RET EPERM", then the segments themselves.
    let to_segments = out.len();
    let to_allow = to_segments + 1;
    let to_deny = to_segments + 2;
    // Every jump of the tree lands inside it or on the three instructions after it: it fits
    // the 8-bit offsets exactly when the longest of those jumps does.
    if to_deny - tree_start > usize::from(u8::MAX) {
        return Err(SeccompError::DispatchTooLong(to_deny - tree_start));
    }
    for (pc, leaf) in out
        .iter_mut()
        .enumerate()
        .take(to_segments)
        .skip(tree_start)
    {
        if leaf.code != BPF_JMP_JEQ_K {
            continue;
        }
        let offset = |target: usize| (target - pc - 1) as u8;
        leaf.jt = match leaf.jt {
            TO_DENY => offset(to_deny),
            _ => offset(to_segments),
        };
        leaf.jf = offset(to_allow);
    }
    out.push(stmt(BPF_JMP_JA, 2));
    out.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    out.push(stmt(BPF_RET_K, SECCOMP_RET_ERRNO_EPERM));
    Ok(out)
}

/// The segments for `rules` (EPERM where a rule matches) and clone3 (ENOSYS), chained.
fn segments(rules: BTreeMap<i64, Vec<SeccompRule>>) -> Result<BpfProgram, SeccompError> {
    let arch = native_arch()?;
    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )?;
    // clone3 passes its flags in a struct the filter cannot read. ENOSYS (not EPERM) makes
    // glibc and other runtimes fall back to clone(2), whose flags the EPERM segment inspects.
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )?;
    Ok(chain_segments(vec![
        BpfProgram::try_from(deny)?,
        BpfProgram::try_from(clone3)?,
    ]))
}

/// Compiles the payload filter for the running architecture. Call it before forking: it
/// allocates. The result is handed to [`install_payload_filter`] in the final child.
///
/// Layout: the x32 guard, the dispatch ([`dispatch_prefix`], which denies the unconditional
/// list itself), then the segments for the system calls decided by their arguments.
pub fn build_payload_filter() -> Result<BpfProgram, SeccompError> {
    let (unconditional, by_arguments): (BTreeMap<_, _>, BTreeMap<_, _>) = deny_rules()?
        .into_iter()
        .partition(|(_, rules)| rules.is_empty());
    // System call numbers are small non-negative constants: the casts are exact.
    let mut ruled: Vec<(u32, Ruled)> = unconditional
        .keys()
        .map(|&nr| (nr as u32, Ruled::Denied))
        .chain(
            by_arguments
                .keys()
                .chain(std::iter::once(&libc::SYS_clone3))
                .map(|&nr| (nr as u32, Ruled::ByArguments)),
        )
        .collect();
    ruled.sort_unstable();
    ruled.dedup_by_key(|(nr, _)| *nr);
    let mut program = x32_guard();
    program.extend(dispatch_prefix(&ruled, native_audit_arch()?)?);
    program.extend(segments(by_arguments)?);
    if program.len() >= BPF_MAX_LEN {
        return Err(SeccompError::TooLong(program.len()));
    }
    Ok(program)
}

/// `struct sock_fprog` from linux/filter.h.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

/// Installs a program built by [`build_payload_filter`] on the calling thread. Performs no
/// allocation, so it is safe between `fork` and `execve`. It sets no_new_privs first (the
/// kernel requires it of a process without CAP_SYS_ADMIN; setting it twice is harmless).
pub fn install_payload_filter(filter: &BpfProgram) -> Result<(), SeccompError> {
    if filter.is_empty() {
        return Err(SeccompError::EmptyProgram);
    }
    let len = libc::c_ushort::try_from(filter.len())
        .map_err(|_| SeccompError::Install(nix::errno::Errno::E2BIG))?;
    // SAFETY: prctl with integer arguments only; no memory is passed.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(SeccompError::SetNoNewPrivs(nix::errno::Errno::last()));
    }
    let prog = SockFprog {
        len,
        filter: filter.as_ptr(),
    };
    // SAFETY: `prog` points at `filter`, which outlives the call; the kernel copies the program
    // and keeps no reference to our memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_ulong,
            &prog as *const SockFprog,
        )
    };
    if rc != 0 {
        return Err(SeccompError::Install(nix::errno::Errno::last()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The program is checked by running it through a small classic-BPF interpreter over
    //! hand-built `seccomp_data`, so every rule is exercised without installing anything.
    use super::*;

    const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;

    /// Evaluates a seccomp program; returns the action word.
    fn run(program: &[sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        let mut data = [0u32; 16];
        data[0] = nr as u32;
        data[1] = arch;
        for (i, arg) in args.iter().enumerate() {
            data[4 + 2 * i] = *arg as u32;
            data[5 + 2 * i] = (*arg >> 32) as u32;
        }
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let insn = program.get(pc).expect("program ran off its end");
            let k = insn.k;
            match insn.code {
                0x20 => acc = data[(k / 4) as usize],
                0x54 => acc &= k,
                0x06 => return k,
                0x05 => {
                    pc += k as usize;
                }
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let taken = match insn.code {
                        0x15 => acc == k,
                        0x25 => acc > k,
                        0x35 => acc >= k,
                        _ => acc & k != 0,
                    };
                    pc += if taken { insn.jt } else { insn.jf } as usize;
                }
                other => panic!("unexpected opcode {other:#x}"),
            }
            pc += 1;
        }
    }

    fn eval(nr: i64, args: [u64; 6]) -> u32 {
        let program = build_payload_filter().expect("filter builds");
        run(&program, native_audit_arch().unwrap(), nr, args)
    }

    const EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
    const ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

    #[test]
    fn every_listed_syscall_is_denied_with_eperm() {
        for (name, nr) in unconditionally_denied() {
            assert_eq!(eval(nr, [0; 6]), EPERM, "{name}");
        }
    }

    #[test]
    fn ordinary_syscalls_are_allowed() {
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_exit_group,
            libc::SYS_getpid,
            libc::SYS_seccomp,
        ] {
            assert_eq!(eval(nr, [0; 6]), SECCOMP_RET_ALLOW, "nr {nr}");
        }
    }

    #[test]
    fn clone3_fails_with_enosys() {
        assert_eq!(eval(libc::SYS_clone3, [0; 6]), ENOSYS);
    }

    #[test]
    fn clone_with_any_namespace_flag_is_denied() {
        let thread_flags = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        assert_eq!(
            eval(libc::SYS_clone, [thread_flags, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            eval(libc::SYS_clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        for flag in DENIED_CLONE_NAMESPACE_FLAGS {
            assert_eq!(
                eval(
                    libc::SYS_clone,
                    [flag | libc::SIGCHLD as u64, 0, 0, 0, 0, 0]
                ),
                EPERM,
                "flag {flag:#x}"
            );
            // High garbage must not hide the flag.
            assert_eq!(
                eval(
                    libc::SYS_clone,
                    [flag | 0xffff_0000_0000_0000, 0, 0, 0, 0, 0]
                ),
                EPERM
            );
        }
    }

    #[test]
    #[allow(clippy::unnecessary_cast)] // c_ulong on glibc, c_int on musl
    fn tiocsti_and_tioclinux_are_denied_even_with_high_bits() {
        for request in DENIED_IOCTLS {
            assert_eq!(eval(libc::SYS_ioctl, [0, request, 0, 0, 0, 0]), EPERM);
            assert_eq!(
                eval(libc::SYS_ioctl, [0, request | 0x1_0000_0000, 0, 0, 0, 0]),
                EPERM
            );
        }
        assert_eq!(
            eval(libc::SYS_ioctl, [0, libc::TIOCGWINSZ as u64, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn only_netlink_route_sockets_are_allowed() {
        let netlink = libc::AF_NETLINK as u64;
        let raw = libc::SOCK_RAW as u64;
        assert_eq!(
            eval(libc::SYS_socket, [netlink, raw, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        for proto in [
            libc::NETLINK_AUDIT,
            libc::NETLINK_KOBJECT_UEVENT,
            libc::NETLINK_SOCK_DIAG,
            libc::NETLINK_NETFILTER,
            libc::NETLINK_GENERIC,
            libc::NETLINK_XFRM,
        ] {
            assert_eq!(
                eval(libc::SYS_socket, [netlink, raw, proto as u64, 0, 0, 0]),
                EPERM,
                "proto {proto}"
            );
        }
        assert_eq!(
            eval(
                libc::SYS_socket,
                [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0]
            ),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            eval(libc::SYS_socket, [libc::AF_UNIX as u64, raw, 9, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn only_default_personalities_are_allowed() {
        for persona in ALLOWED_PERSONALITIES {
            assert_eq!(
                eval(libc::SYS_personality, [persona, 0, 0, 0, 0, 0]),
                SECCOMP_RET_ALLOW
            );
        }
        for persona in [0x0040_0000u64, 0x0004_0000, 0x0100_0000] {
            // READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, ADDR_LIMIT_3GB
            assert_eq!(eval(libc::SYS_personality, [persona, 0, 0, 0, 0, 0]), EPERM);
        }
    }

    #[test]
    fn foreign_architectures_are_killed() {
        let program = build_payload_filter().expect("filter builds");
        assert_eq!(
            run(&program, AUDIT_ARCH_I386, 20, [0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_numbers_are_killed() {
        assert_eq!(
            eval(0x4000_0000 | libc::SYS_unshare, [0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
        assert_eq!(
            eval(0x4000_0000 | libc::SYS_getpid, [0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
    }

    #[test]
    fn chaining_rewrites_only_non_final_allows() {
        let allow = || sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ALLOW,
        };
        let kill = sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_KILL_PROCESS,
        };
        let chained = chain_segments(vec![vec![allow(), kill, allow()], vec![allow()]]);
        assert_eq!(chained.len(), 4);
        assert_eq!((chained[0].code, chained[0].k), (BPF_JMP_JA, 2));
        assert_eq!(
            (chained[1].code, chained[1].k),
            (BPF_RET_K, SECCOMP_RET_KILL_PROCESS)
        );
        assert_eq!((chained[2].code, chained[2].k), (BPF_JMP_JA, 0));
        assert_eq!(
            (chained[3].code, chained[3].k),
            (BPF_RET_K, SECCOMP_RET_ALLOW)
        );
    }

    /// The dispatch prefix changes no decision: for every system call number (and x32's),
    /// every architecture and a spread of arguments, the filter decides exactly as the guard
    /// and the segments alone do.
    #[test]
    fn the_dispatch_prefix_changes_no_decision() {
        let full = build_payload_filter().expect("filter builds");
        // The reference: every rule through seccompiler's segments, no dispatch.
        let mut reference = x32_guard();
        reference.extend(segments(deny_rules().expect("rules")).expect("segments build"));
        let mut args_list: Vec<[u64; 6]> = vec![[0; 6], [u64::MAX; 6], [1, 2, 3, 4, 5, 6]];
        for flag in DENIED_CLONE_NAMESPACE_FLAGS {
            args_list.push([flag, 0, 0, 0, 0, 0]);
            args_list.push([flag | libc::SIGCHLD as u64, 0, 0, 0, 0, 0]);
        }
        for request in DENIED_IOCTLS {
            args_list.push([1, request, 0, 0, 0, 0]);
            args_list.push([1, request | 0xffff_ffff_0000_0000, 0, 0, 0, 0]);
        }
        for protocol in [0u64, 9, 16] {
            args_list.push([libc::AF_NETLINK as u64, 3, protocol, 0, 0, 0]);
        }
        for persona in ALLOWED_PERSONALITIES {
            args_list.push([persona, 0, 0, 0, 0, 0]);
        }
        args_list.push([0x0040_0000, 0, 0, 0, 0, 0]);
        let numbers = (0..1100i64).chain((0x4000_0000..0x4000_0200).step_by(7));
        let mut compared = 0;
        for nr in numbers {
            for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386] {
                for args in &args_list {
                    assert_eq!(
                        run(&full, arch, nr, *args),
                        run(&reference, arch, nr, *args),
                        "nr {nr}, arch {arch:#x}, args {args:x?}"
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 50_000);
    }

    /// The point of the prefix: a number without a rule reaches its verdict in a handful of
    /// instructions (what the kernel's cache emulation walks for every number).
    #[test]
    fn unruled_numbers_are_allowed_within_a_few_instructions() {
        let ruled: Vec<(u32, Ruled)> = deny_rules()
            .expect("rules")
            .keys()
            .map(|&nr| (nr as u32, Ruled::Denied))
            .collect();
        let prefix = dispatch_prefix(&ruled, native_audit_arch().unwrap()).expect("prefix builds");
        let depth = usize::BITS - ruled.len().leading_zeros();
        assert!(
            prefix.len() < 2 * ruled.len() + 8,
            "{} instructions",
            prefix.len()
        );
        let mut steps = 0usize;
        let mut pc = 4; // after the architecture check and the load of the number
        let nr = 0x3ff; // no system call has a rule at this number
        loop {
            let insn = &prefix[pc];
            steps += 1;
            match insn.code {
                BPF_RET_K => {
                    assert_eq!(insn.k, SECCOMP_RET_ALLOW);
                    break;
                }
                BPF_JMP_JGE_K => {
                    pc += 1 + usize::from(if nr >= insn.k { insn.jt } else { insn.jf })
                }
                BPF_JMP_JEQ_K => {
                    pc += 1 + usize::from(if nr == insn.k { insn.jt } else { insn.jf })
                }
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
        assert!(
            steps <= depth as usize + 2,
            "{steps} steps for {} rules",
            ruled.len()
        );
    }

    #[test]
    fn the_program_fits_the_kernel_limit() {
        let program = build_payload_filter().expect("filter builds");
        assert!(program.len() < BPF_MAX_LEN);
        assert!(!denied_syscall_names().is_empty());
    }
}
