//! This process's own credentials and confinement, from `proc/self/status` and `proc/self/uid_map`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fact::{Fact, FactRoot};

/// The seccomp mode of a process (`Seccomp:` in /proc/PID/status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeccompMode {
    Disabled,
    Strict,
    Filter,
}

/// The fields of `/proc/self/status` the probes use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProcessStatus {
    /// Real, effective, saved and filesystem uid.
    pub uid: [u32; 4],
    /// Real, effective, saved and filesystem gid.
    pub gid: [u32; 4],
    /// `Seccomp:` (3.8+); `None` when the kernel does not report it.
    pub seccomp: Option<SeccompMode>,
    /// `NoNewPrivs:` (4.10+).
    pub no_new_privs: Option<bool>,
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    pub cap_bounding: u64,
    /// `CapAmb:` (4.3+).
    pub cap_ambient: Option<u64>,
}

/// One line of a uid_map or gid_map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IdMapRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// What the process probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProcessFacts {
    /// `proc/self/status`
    pub status: Fact<ProcessStatus>,
    /// `proc/self/uid_map`
    pub uid_map: Fact<Vec<IdMapRange>>,
    /// `proc/self/gid_map`
    pub gid_map: Fact<Vec<IdMapRange>>,
    /// True when the uid map is not the identity map `0 0 4294967295`: we run inside a user
    /// namespace (a container, or `unshare -U`). `Some(false)` also when the uid map is absent
    /// (a kernel without user namespaces); `None` when it is unreadable or malformed.
    pub in_user_namespace: Option<bool>,
}

/// Capability number of CAP_SYS_ADMIN.
pub const CAP_SYS_ADMIN: u32 = 21;

/// The uid map of the initial user namespace: every id maps to itself.
pub const IDENTITY_ID_MAP: IdMapRange = IdMapRange {
    inside: 0,
    outside: 0,
    count: u32::MAX,
};

/// Why a status file or an id map did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessParseError {
    #[error("missing {0}: line")]
    MissingField(&'static str),
    #[error("duplicate {0}: line")]
    DuplicateField(&'static str),
    #[error("failed to parse {field}: line {value:?}: {cause}")]
    ParseField {
        field: &'static str,
        value: String,
        cause: String,
    },
    #[error(
        "failed to parse id map line {line}: {text:?}: expected three unsigned 32-bit numbers"
    )]
    ParseIdMapLine { line: usize, text: String },
}

/// The status keys we read. Anything else in the file is ignored.
const UID: &str = "Uid";
const GID: &str = "Gid";
const CAP_INH: &str = "CapInh";
const CAP_PRM: &str = "CapPrm";
const CAP_EFF: &str = "CapEff";
const CAP_BND: &str = "CapBnd";
const CAP_AMB: &str = "CapAmb";
const SECCOMP: &str = "Seccomp";
const NO_NEW_PRIVS: &str = "NoNewPrivs";
const KEYS: [&str; 9] = [
    UID,
    GID,
    CAP_INH,
    CAP_PRM,
    CAP_EFF,
    CAP_BND,
    CAP_AMB,
    SECCOMP,
    NO_NEW_PRIVS,
];

/// Parses the text of /proc/PID/status.
///
/// This is a small parser of our own rather than `procfs_core::process::Status`: that parser
/// insists on about fifteen fields we never use (Name, State, FDSize, Groups, Threads, SigQ,
/// SigPnd…), so a status file from a kernel or sandbox that omits any of them is rejected whole.
/// gVisor's sentry, one of the environments we must recognise, writes no Groups, SigQ or Sig*
/// lines at all. Its errors also do not name the missing field. Here only Uid, Gid and the four
/// classic capability sets are required (present since 2.6.26); Seccomp (3.8), CapAmb (4.3)
/// and NoNewPrivs (4.10) are optional, so a CentOS 7 file parses.
pub fn parse_status(text: &str) -> Result<ProcessStatus, String> {
    parse_status_fields(text).map_err(|e| e.to_string())
}

fn parse_status_fields(text: &str) -> Result<ProcessStatus, ProcessParseError> {
    let mut values: [Option<&str>; KEYS.len()] = [None; KEYS.len()];
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if let Some(index) = KEYS.iter().position(|k| *k == key) {
            // A repeated line is refused rather than resolved: the kernel never repeats one, so
            // a second `Uid:` could only come from a forged or corrupted file.
            if values[index].replace(value.trim()).is_some() {
                return Err(ProcessParseError::DuplicateField(KEYS[index]));
            }
        }
    }
    let get = |key: &'static str| -> Option<&str> {
        KEYS.iter()
            .position(|k| *k == key)
            .and_then(|index| values[index])
    };
    let required = |key: &'static str| get(key).ok_or(ProcessParseError::MissingField(key));

    Ok(ProcessStatus {
        uid: parse_ids(UID, required(UID)?)?,
        gid: parse_ids(GID, required(GID)?)?,
        seccomp: get(SECCOMP).map(parse_seccomp).transpose()?,
        no_new_privs: get(NO_NEW_PRIVS)
            .map(|v| parse_flag(NO_NEW_PRIVS, v))
            .transpose()?,
        cap_inheritable: parse_caps(CAP_INH, required(CAP_INH)?)?,
        cap_permitted: parse_caps(CAP_PRM, required(CAP_PRM)?)?,
        cap_effective: parse_caps(CAP_EFF, required(CAP_EFF)?)?,
        cap_bounding: parse_caps(CAP_BND, required(CAP_BND)?)?,
        cap_ambient: get(CAP_AMB).map(|v| parse_caps(CAP_AMB, v)).transpose()?,
    })
}

fn field_error(field: &'static str, value: &str, cause: impl ToString) -> ProcessParseError {
    ProcessParseError::ParseField {
        field,
        value: value.to_string(),
        cause: cause.to_string(),
    }
}

/// `Uid:`/`Gid:` hold exactly four decimal ids: real, effective, saved, filesystem.
fn parse_ids(field: &'static str, value: &str) -> Result<[u32; 4], ProcessParseError> {
    let mut ids = [0u32; 4];
    let mut words = value.split_whitespace();
    for id in ids.iter_mut() {
        let word = words
            .next()
            .ok_or_else(|| field_error(field, value, "expected four ids"))?;
        *id = word.parse().map_err(|e| field_error(field, value, e))?;
    }
    if words.next().is_some() {
        return Err(field_error(field, value, "expected four ids"));
    }
    Ok(ids)
}

/// Capability sets are 64-bit masks in hex, without a `0x` prefix.
fn parse_caps(field: &'static str, value: &str) -> Result<u64, ProcessParseError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(field_error(field, value, "expected a hexadecimal mask"));
    }
    u64::from_str_radix(value, 16).map_err(|e| field_error(field, value, e))
}

fn parse_seccomp(value: &str) -> Result<SeccompMode, ProcessParseError> {
    match value {
        "0" => Ok(SeccompMode::Disabled),
        "1" => Ok(SeccompMode::Strict),
        "2" => Ok(SeccompMode::Filter),
        _ => Err(field_error(SECCOMP, value, "expected 0, 1 or 2")),
    }
}

fn parse_flag(field: &'static str, value: &str) -> Result<bool, ProcessParseError> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(field_error(field, value, "expected 0 or 1")),
    }
}

/// Parses the text of a uid_map/gid_map.
///
/// Each line holds three unsigned 32-bit numbers: the first id inside the namespace, the first
/// id outside it, and the length of the range. An empty map (a namespace whose map has not been
/// written yet) is an empty vector.
pub fn parse_id_map(text: &str) -> Result<Vec<IdMapRange>, String> {
    parse_id_map_lines(text).map_err(|e| e.to_string())
}

fn parse_id_map_lines(text: &str) -> Result<Vec<IdMapRange>, ProcessParseError> {
    let mut ranges = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || ProcessParseError::ParseIdMapLine {
            line: index + 1,
            text: line.to_string(),
        };
        let mut numbers = line.split_whitespace().map(str::parse::<u32>);
        let mut next = || numbers.next().and_then(Result::ok).ok_or_else(bad);
        let range = IdMapRange {
            inside: next()?,
            outside: next()?,
            count: next()?,
        };
        if numbers.next().is_some() {
            return Err(bad());
        }
        ranges.push(range);
    }
    Ok(ranges)
}

/// Whether `id` (as seen from this namespace) falls inside one of `ranges`.
pub fn id_is_mapped(ranges: &[IdMapRange], id: u32) -> bool {
    ranges
        .iter()
        .any(|r| id >= r.inside && (id - r.inside) < r.count)
}

/// Whether a uid map read from `proc/self/uid_map` says we are inside a user namespace.
///
/// Only the initial namespace carries the identity map `0 0 4294967295`; any other map, even an
/// empty one, belongs to a namespace someone created. An absent file means a kernel built
/// without CONFIG_USER_NS (the file is only compiled in with it), where no process can be inside
/// a user namespace: `Some(false)`. Unreadable or malformed: unknown.
pub fn in_user_namespace(uid_map: &Fact<Vec<IdMapRange>>) -> Option<bool> {
    match uid_map {
        Fact::Present { value, .. } => Some(value.as_slice() != [IDENTITY_ID_MAP]),
        Fact::Absent { .. } => Some(false),
        Fact::Unreadable { .. } | Fact::Malformed { .. } => None,
    }
}

/// Reads the process facts under `root`.
pub fn probe(root: &FactRoot) -> ProcessFacts {
    let uid_map = root.read_fact("proc/self/uid_map", parse_id_map);
    ProcessFacts {
        status: root.read_fact("proc/self/status", parse_status),
        in_user_namespace: in_user_namespace(&uid_map),
        uid_map,
        gid_map: root.read_fact("proc/self/gid_map", parse_id_map),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A 6.x kernel on a desktop, unprivileged, outside any sandbox.
    const STATUS_MODERN: &str = "Name:\tcat
Umask:\t0022
State:\tR (running)
Tgid:\t5657
Ngid:\t0
Pid:\t5657
PPid:\t5655
TracerPid:\t0
Uid:\t1000\t1000\t1000\t1000
Gid:\t1000\t1000\t1000\t1000
FDSize:\t256
Groups:\t24 25 27 1000 
NStgid:\t5657
NSpid:\t5657
NSpgid:\t5655
NSsid:\t4651
Kthread:\t0
VmPeak:\t    3060 kB
VmSize:\t    3060 kB
VmRSS:\t    1764 kB
Threads:\t1
SigQ:\t0/96362
SigPnd:\t0000000000000000
ShdPnd:\t0000000000000000
SigBlk:\t0000000000000000
SigIgn:\t0000000000000000
SigCgt:\t0000000000000000
CapInh:\t0000000000000000
CapPrm:\t0000000000000000
CapEff:\t0000000000000000
CapBnd:\t000001ffffffffff
CapAmb:\t0000000000000000
NoNewPrivs:\t0
Seccomp:\t0
Seccomp_filters:\t0
Speculation_Store_Bypass:\tthread vulnerable
SpeculationIndirectBranch:\tconditional enabled
Cpus_allowed:\t3
Cpus_allowed_list:\t0-1
Mems_allowed:\t00000000,00000001
Mems_allowed_list:\t0
voluntary_ctxt_switches:\t0
nonvoluntary_ctxt_switches:\t0
";

    /// CentOS 7 (3.10.0-1160.el7), root: Seccomp exists, CapAmb and NoNewPrivs do not.
    const STATUS_CENTOS7: &str = "Name:\tbash
State:\tS (sleeping)
Tgid:\t1432
Ngid:\t0
Pid:\t1432
PPid:\t1428
TracerPid:\t0
Uid:\t0\t0\t0\t0
Gid:\t0\t0\t0\t0
FDSize:\t256
Groups:\t0 
VmPeak:\t  115676 kB
VmSize:\t  115548 kB
Threads:\t1
SigQ:\t0/7184
SigPnd:\t0000000000000000
ShdPnd:\t0000000000000000
SigBlk:\t0000000000010000
SigIgn:\t0000000000380004
SigCgt:\t000000004b817efb
CapInh:\t0000000000000000
CapPrm:\t0000001fffffffff
CapEff:\t0000001fffffffff
CapBnd:\t0000001fffffffff
Seccomp:\t0
Cpus_allowed:\tffffffff,ffffffff
Cpus_allowed_list:\t0-63
Mems_allowed:\t00000000,00000001
Mems_allowed_list:\t0
voluntary_ctxt_switches:\t62
nonvoluntary_ctxt_switches:\t1
";

    /// Root inside a Docker container with the default profile: seccomp filter, reduced caps.
    const STATUS_DOCKER: &str = "Name:\tsh
Umask:\t0022
State:\tS (sleeping)
Tgid:\t1
Ngid:\t0
Pid:\t1
PPid:\t0
TracerPid:\t0
Uid:\t0\t0\t0\t0
Gid:\t0\t0\t0\t0
FDSize:\t64
Groups:\t0 1 2 3 4 6 10 11 20 26 27 
NStgid:\t1
NSpid:\t1
Threads:\t1
SigQ:\t0/31680
SigPnd:\t0000000000000000
ShdPnd:\t0000000000000000
SigBlk:\t0000000000000000
SigIgn:\t0000000000000004
SigCgt:\t0000000000010002
CapInh:\t0000000000000000
CapPrm:\t00000000a80425fb
CapEff:\t00000000a80425fb
CapBnd:\t00000000a80425fb
CapAmb:\t0000000000000000
NoNewPrivs:\t0
Seccomp:\t2
Seccomp_filters:\t1
Speculation_Store_Bypass:\tthread force mitigated
Cpus_allowed_list:\t0-1
";

    #[test]
    fn modern_status_parses_every_field() {
        let status = parse_status(STATUS_MODERN).unwrap();
        assert_eq!(
            status,
            ProcessStatus {
                uid: [1000; 4],
                gid: [1000; 4],
                seccomp: Some(SeccompMode::Disabled),
                no_new_privs: Some(false),
                cap_inheritable: 0,
                cap_permitted: 0,
                cap_effective: 0,
                cap_bounding: 0x1ff_ffff_ffff,
                cap_ambient: Some(0),
            }
        );
    }

    #[test]
    fn centos7_status_without_newer_fields_parses() {
        let status = parse_status(STATUS_CENTOS7).unwrap();
        assert_eq!(status.uid, [0; 4]);
        assert_eq!(status.seccomp, Some(SeccompMode::Disabled));
        assert_eq!(status.no_new_privs, None);
        assert_eq!(status.cap_ambient, None);
        assert_eq!(status.cap_effective, 0x1f_ffff_ffff);
        assert_ne!(status.cap_effective & (1 << CAP_SYS_ADMIN), 0);
    }

    #[test]
    fn docker_default_status_has_filter_and_no_sys_admin() {
        let status = parse_status(STATUS_DOCKER).unwrap();
        assert_eq!(status.seccomp, Some(SeccompMode::Filter));
        assert_eq!(status.cap_bounding, 0xa804_25fb);
        assert_eq!(status.cap_bounding & (1 << CAP_SYS_ADMIN), 0);
        assert_eq!(status.uid, [0; 4]);
    }

    #[test]
    fn status_from_a_kernel_before_seccomp_reporting_parses() {
        let text = "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\n\
                    CapPrm:\tffffffffffffffff\nCapEff:\tfffffffffffffeff\nCapBnd:\tffffffffffffffff\n";
        let status = parse_status(text).unwrap();
        assert_eq!(status.seccomp, None);
        assert_eq!(status.cap_effective, 0xffff_ffff_ffff_feff);
    }

    #[test]
    fn missing_required_lines_are_named() {
        let without_uid = STATUS_MODERN.replace("Uid:\t1000\t1000\t1000\t1000\n", "");
        assert_eq!(parse_status(&without_uid).unwrap_err(), "missing Uid: line");
        let without_bnd = STATUS_CENTOS7.replace("CapBnd:\t0000001fffffffff\n", "");
        assert_eq!(
            parse_status(&without_bnd).unwrap_err(),
            "missing CapBnd: line"
        );
        assert_eq!(parse_status("").unwrap_err(), "missing Uid: line");
    }

    #[test]
    fn bad_values_are_malformed_not_guessed() {
        let cases = [
            ("Uid:\t1000\t1000\t1000\t1000", "Uid:\t1000\t1000\t1000"),
            (
                "Uid:\t1000\t1000\t1000\t1000",
                "Uid:\t1000 1000 1000 1000 7",
            ),
            ("Gid:\t1000\t1000\t1000\t1000", "Gid:\t-1\t1000\t1000\t1000"),
            ("CapEff:\t0000000000000000", "CapEff:\t0x00000000000000"),
            ("CapEff:\t0000000000000000", "CapEff:\t+000000000000000"),
            ("CapEff:\t0000000000000000", "CapEff:\t10000000000000000"),
            ("Seccomp:\t0", "Seccomp:\t3"),
            ("NoNewPrivs:\t0", "NoNewPrivs:\tyes"),
            ("CapAmb:\t0000000000000000", "CapAmb:\t"),
        ];
        for (good, bad) in cases {
            let text = STATUS_MODERN.replace(good, bad);
            assert_ne!(text, STATUS_MODERN, "case {bad:?} did not apply");
            let err = parse_status(&text).unwrap_err();
            assert!(err.starts_with("failed to parse "), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_repeated_line_is_refused() {
        let text = format!("Uid:\t0\t0\t0\t0\n{STATUS_MODERN}");
        assert_eq!(parse_status(&text).unwrap_err(), "duplicate Uid: line");
    }

    #[test]
    fn id_maps_parse() {
        assert_eq!(
            parse_id_map("         0          0 4294967295").unwrap(),
            vec![IDENTITY_ID_MAP]
        );
        assert_eq!(
            parse_id_map("0 1000 1\n").unwrap(),
            vec![IdMapRange {
                inside: 0,
                outside: 1000,
                count: 1
            }]
        );
        assert_eq!(parse_id_map("0 1000 1\n1 100000 65536").unwrap().len(), 2);
        assert_eq!(parse_id_map("").unwrap(), Vec::new());
    }

    #[test]
    fn garbage_id_maps_are_refused() {
        for text in [
            "0 0",
            "0 0 4294967296",
            "a b c",
            "0 0 1 2",
            "-1 0 1",
            "0 1000 1\nhello",
        ] {
            let err = parse_id_map(text).unwrap_err();
            assert!(
                err.starts_with("failed to parse id map line"),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn id_mapping_follows_ranges() {
        let map = parse_id_map("0 1000 1\n1 100000 65536").unwrap();
        assert!(id_is_mapped(&map, 0));
        assert!(id_is_mapped(&map, 65536));
        assert!(!id_is_mapped(&map, 65537));
        assert!(id_is_mapped(&[IDENTITY_ID_MAP], 4_294_967_294));
    }

    fn present(map: &str) -> Fact<Vec<IdMapRange>> {
        Fact::Present {
            source: "proc/self/uid_map".into(),
            value: parse_id_map(map).unwrap(),
        }
    }

    #[test]
    fn user_namespace_is_told_by_the_uid_map() {
        assert_eq!(in_user_namespace(&present("0 0 4294967295")), Some(false));
        assert_eq!(in_user_namespace(&present("0 1000 1")), Some(true));
        assert_eq!(in_user_namespace(&present("0 0 65536")), Some(true));
        assert_eq!(in_user_namespace(&present("")), Some(true));
        let source = "proc/self/uid_map".to_string();
        assert_eq!(
            in_user_namespace(&Fact::Absent {
                source: source.clone()
            }),
            Some(false)
        );
        assert_eq!(
            in_user_namespace(&Fact::Unreadable {
                source,
                errno: "EACCES".into()
            }),
            None
        );
    }

    #[test]
    fn probe_reads_a_fixture_tree() {
        let dir = tempfile::tempdir().unwrap();
        let proc_self = dir.path().join("proc/self");
        std::fs::create_dir_all(&proc_self).unwrap();
        std::fs::write(proc_self.join("status"), STATUS_DOCKER).unwrap();
        std::fs::write(
            proc_self.join("uid_map"),
            "         0       1000          1\n",
        )
        .unwrap();
        std::fs::write(proc_self.join("gid_map"), "0 1000 1\n").unwrap();
        let facts = probe(&FactRoot::fixture(dir.path()));
        assert_eq!(
            facts.status.value().and_then(|s| s.seccomp),
            Some(SeccompMode::Filter)
        );
        assert_eq!(facts.uid_map.value().map(Vec::len), Some(1));
        assert_eq!(facts.in_user_namespace, Some(true));
        assert!(facts.gid_map.value().is_some());
    }

    #[test]
    fn probe_on_an_empty_tree_reports_absence() {
        let dir = tempfile::tempdir().unwrap();
        let facts = probe(&FactRoot::fixture(dir.path()));
        assert!(facts.status.is_absent());
        assert!(facts.uid_map.is_absent());
        assert_eq!(facts.in_user_namespace, Some(false));
    }

    #[test]
    fn the_running_kernel_status_and_maps_parse() {
        let facts = probe(&FactRoot::host());
        let status = facts
            .status
            .value()
            .expect("proc/self/status parses on this kernel");
        assert_eq!(status.uid[0], nix::unistd::getuid().as_raw());
        assert_eq!(status.gid[1], nix::unistd::getegid().as_raw());
        assert!(facts.uid_map.value().is_some(), "{:?}", facts.uid_map);
        assert!(facts.in_user_namespace.is_some());
    }

    fn render_status(s: &ProcessStatus) -> String {
        let mut text = String::from("Name:\tx\n");
        let ids = |v: [u32; 4]| format!("{}\t{}\t{}\t{}", v[0], v[1], v[2], v[3]);
        text += &format!("Uid:\t{}\nGid:\t{}\n", ids(s.uid), ids(s.gid));
        text += &format!(
            "CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\nCapBnd:\t{:016x}\n",
            s.cap_inheritable, s.cap_permitted, s.cap_effective, s.cap_bounding
        );
        if let Some(amb) = s.cap_ambient {
            text += &format!("CapAmb:\t{amb:016x}\n");
        }
        if let Some(nnp) = s.no_new_privs {
            text += &format!("NoNewPrivs:\t{}\n", u8::from(nnp));
        }
        if let Some(mode) = s.seccomp {
            let n = match mode {
                SeccompMode::Disabled => 0,
                SeccompMode::Strict => 1,
                SeccompMode::Filter => 2,
            };
            text += &format!("Seccomp:\t{n}\n");
        }
        text
    }

    fn arb_status() -> impl Strategy<Value = ProcessStatus> {
        let seccomp = prop_oneof![
            Just(None),
            Just(Some(SeccompMode::Disabled)),
            Just(Some(SeccompMode::Strict)),
            Just(Some(SeccompMode::Filter)),
        ];
        (
            any::<[u32; 4]>(),
            any::<[u32; 4]>(),
            seccomp,
            any::<Option<bool>>(),
            any::<[u64; 4]>(),
            any::<Option<u64>>(),
        )
            .prop_map(|(uid, gid, seccomp, no_new_privs, caps, cap_ambient)| {
                ProcessStatus {
                    uid,
                    gid,
                    seccomp,
                    no_new_privs,
                    cap_inheritable: caps[0],
                    cap_permitted: caps[1],
                    cap_effective: caps[2],
                    cap_bounding: caps[3],
                    cap_ambient,
                }
            })
    }

    proptest! {
        #[test]
        fn status_parser_never_panics(text in any::<String>()) {
            let _ = parse_status(&text);
        }

        #[test]
        fn status_parser_never_panics_on_status_like_lines(
            lines in proptest::collection::vec(
                "(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp|NoNewPrivs|Name):[ \t0-9a-fx-]{0,40}",
                0..12,
            )
        ) {
            let _ = parse_status(&lines.join("\n"));
        }

        #[test]
        fn status_round_trips(status in arb_status()) {
            prop_assert_eq!(parse_status(&render_status(&status)), Ok(status));
        }

        #[test]
        fn id_map_parser_never_panics(text in any::<String>()) {
            let _ = parse_id_map(&text);
        }

        #[test]
        fn id_maps_round_trip(ranges in proptest::collection::vec(any::<(u32, u32, u32)>(), 0..6)) {
            let text: String = ranges
                .iter()
                .map(|(a, b, c)| format!("{a:>10} {b:>10} {c:>10}\n"))
                .collect();
            let parsed = parse_id_map(&text).map_err(TestCaseError::fail)?;
            let expected: Vec<IdMapRange> = ranges
                .iter()
                .map(|&(inside, outside, count)| IdMapRange { inside, outside, count })
                .collect();
            prop_assert_eq!(parsed, expected);
        }
    }
}
