//! The confinement around us: container or VM, LSMs, and whether /proc/sys can be changed from here.

use std::path::Path;

use procfs_core::process::MountInfo;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fact::{Fact, FactRoot, RawRead};

/// A container runtime or virtualisation layer that changes what is possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Docker,
    Podman,
    Kubernetes,
    Lxc,
    SystemdNspawn,
    /// Some other container, named by `container=` or /run/systemd/container.
    OtherContainer,
    Wsl,
    Gvisor,
}

impl Environment {
    /// Sort key for [`SecurityContext::detections`]: lower is more specific.
    ///
    /// gVisor comes first: it replaces the kernel, so whatever runtime started it (Docker,
    /// Kubernetes) says less about what works than gVisor does. A Kubernetes pod's container is
    /// usually also seen as Docker/containerd, and the pod's security context is what decides,
    /// so Kubernetes beats the runtime. WSL is a VM that containers may run inside, so it is last.
    fn specificity(self) -> u8 {
        match self {
            Environment::Gvisor => 0,
            Environment::Kubernetes => 1,
            Environment::Docker
            | Environment::Podman
            | Environment::Lxc
            | Environment::SystemdNspawn => 2,
            Environment::OtherContainer => 3,
            Environment::Wsl => 4,
        }
    }
}

/// One detection, with the evidence that triggered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Detection {
    pub environment: Environment,
    /// e.g. `/.dockerenv exists`, `/proc/1/cgroup mentions kubepods`.
    pub evidence: String,
}

/// The Linux security modules that matter to namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LsmFacts {
    /// `sys/kernel/security/lsm`, split on commas.
    pub active: Fact<Vec<String>>,
    /// `sys/module/apparmor/parameters/enabled` (`Y`).
    pub apparmor_enabled: Fact<bool>,
    /// `sys/fs/selinux/enforce` (`1` = enforcing).
    pub selinux_enforcing: Fact<bool>,
    /// `proc/self/attr/current`: this process's AppArmor/SELinux label, without the trailing
    /// NUL (SELinux) or newline (AppArmor).
    pub label: Fact<String>,
}

/// What the security-context probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecurityContext {
    /// Most specific first; empty on a bare host or VM we cannot tell from one.
    pub detections: Vec<Detection>,
    pub lsm: LsmFacts,
    /// /proc/sys is mounted read-only (from `proc/self/mountinfo`): sysctl fixes cannot be
    /// applied from here.
    pub proc_sys_read_only: Fact<bool>,
    /// This process's `/` is a mount point (from `proc/self/mountinfo`). False in a chroot:
    /// the kernel then refuses new user namespaces (EPERM) and pivot_root (EINVAL), and no
    /// mount can be made private, so no sandbox can be built from inside it.
    #[serde(default = "mountinfo_not_read")]
    pub root_is_mount_point: Fact<bool>,
}

/// What a report written before `root_is_mount_point` existed reads as.
fn mountinfo_not_read() -> Fact<bool> {
    Fact::Absent {
        source: "proc/self/mountinfo".into(),
    }
}

/// Whether any mount in a mountinfo text sits at `/` (as this process sees paths).
pub fn root_is_mount_point_in_mountinfo(text: &str) -> Result<bool, String> {
    let mut any = false;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mount = MountInfo::from_line(line)
            .map_err(|e| format!("failed to parse mountinfo line {}: {e}", index + 1))?;
        any |= mount.mount_point == Path::new("/");
    }
    Ok(any)
}

impl SecurityContext {
    /// The most specific environment detected, if any.
    pub fn environment(&self) -> Option<Environment> {
        self.detections.first().map(|d| d.environment)
    }
}

/// Why a security-context file did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityParseError {
    #[error("failed to parse mountinfo line {line}: {cause}")]
    ParseMountinfoLine { line: usize, cause: String },
    #[error("failed to find the mount holding /proc/sys: no mount covers it")]
    FindProcSysMount,
}

/// gVisor's sentry reports this fixed string as /proc/version, whatever the host runs.
/// ~ Reported signature (issue threads and the sentry's source), not measured here.
pub const GVISOR_PROC_VERSION: &str = "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016";

/// Reads the security context under `root`.
pub fn probe(root: &FactRoot) -> SecurityContext {
    let mountinfo = root.read_text("proc/self/mountinfo");
    SecurityContext {
        detections: detect_environments(root),
        lsm: LsmFacts {
            active: root.read_fact("sys/kernel/security/lsm", |t| {
                Ok(t.split(',').map(str::to_string).collect())
            }),
            apparmor_enabled: root.read_fact("sys/module/apparmor/parameters/enabled", |t| {
                Ok(t.trim() == "Y")
            }),
            selinux_enforcing: root.read_fact("sys/fs/selinux/enforce", |t| Ok(t.trim() == "1")),
            label: root.read_fact("proc/self/attr/current", |t| {
                Ok(t.trim_end_matches(['\0', '\n']).to_string())
            }),
        },
        proc_sys_read_only: mountinfo
            .clone()
            .and_then(|t| proc_sys_read_only_in_mountinfo(&t)),
        root_is_mount_point: mountinfo.and_then(|t| root_is_mount_point_in_mountinfo(&t)),
    }
}

/// Container and virtualisation detection, from files under `root` only.
///
/// The checks run in the order of systemd's `detect_container()` where it has one, most
/// specific marker first: the runtime's own marker file, the cgroup path, the container
/// manager's declaration, pid 1's `container=`, then the VM-like layers. Each environment is
/// reported once, with the first evidence found; the list is then ordered by
/// [`Environment::specificity`], keeping the check order among equals.
pub fn detect_environments(root: &FactRoot) -> Vec<Detection> {
    let mut found: Vec<Detection> = Vec::new();
    let mut add = |environment: Environment, evidence: String| {
        if !found.iter().any(|d| d.environment == environment) {
            found.push(Detection {
                environment,
                evidence,
            });
        }
    };

    if root.exists(".dockerenv") {
        add(Environment::Docker, "/.dockerenv exists".into());
    }
    if root.exists("run/.containerenv") {
        add(Environment::Podman, "/run/.containerenv exists".into());
    }
    for source in ["proc/1/cgroup", "proc/self/cgroup"] {
        if let Some(text) = root.read_text(source).value() {
            for (environment, marker) in cgroup_environments(text) {
                add(environment, format!("/{source} mentions {marker}"));
            }
        }
    }
    if let Some(name) = root.read_text("run/systemd/container").value() {
        let name = name.trim();
        if let Some(environment) = container_by_name(name) {
            add(environment, format!("/run/systemd/container says {name}"));
        }
    }
    // pid 1's environment is readable only by its owner: unprivileged, this simply yields nothing.
    if let RawRead::Found(bytes) = root.read_bytes("proc/1/environ") {
        if let Some(name) = environ_container(&bytes) {
            if let Some(environment) = container_by_name(&name) {
                add(environment, format!("/proc/1/environ has container={name}"));
            }
        }
    }
    if let Some(release) = root.read_text("proc/sys/kernel/osrelease").value() {
        let lower = release.to_ascii_lowercase();
        if lower.contains("microsoft") || lower.contains("wsl") {
            add(
                Environment::Wsl,
                format!("/proc/sys/kernel/osrelease is {}", release.trim()),
            );
        }
    }
    // WSLInterop-late is the name newer WSL releases register under.
    for interop in [
        "proc/sys/fs/binfmt_misc/WSLInterop",
        "proc/sys/fs/binfmt_misc/WSLInterop-late",
    ] {
        if root.exists(interop) {
            add(Environment::Wsl, format!("/{interop} exists"));
        }
    }
    if let Some(version) = root.read_text("proc/version").value() {
        if version.contains(GVISOR_PROC_VERSION) {
            add(
                Environment::Gvisor,
                "/proc/version is gVisor's fixed signature".into(),
            );
        }
    }

    found.sort_by_key(|d| d.environment.specificity());
    found
}

/// The environments a /proc/PID/cgroup file names, with the marker that named each.
///
/// Path components are matched, not substrings, so the host's `docker.service` or
/// `lxcfs.service` (daemons, not containers) are not taken for containers. Under cgroup v2
/// with a cgroup namespace (Docker's default there) the file is just `0::/` and says nothing.
pub fn cgroup_environments(text: &str) -> Vec<(Environment, &'static str)> {
    let mut found: Vec<(Environment, &'static str)> = Vec::new();
    for line in text.lines() {
        // hierarchy-ID:controller-list:cgroup-path; the path may itself contain ':'.
        let Some(path) = line.splitn(3, ':').nth(2) else {
            continue;
        };
        for component in path.split('/') {
            let hit = if component.starts_with("kubepods") {
                // kubepods, kubepods.slice, kubepods-besteffort-pod<uid>.slice
                Some((Environment::Kubernetes, "kubepods"))
            } else if component == "docker" || component.starts_with("docker-") {
                // cgroupfs driver: /docker/<id>; systemd driver: docker-<id>.scope
                Some((Environment::Docker, "docker"))
            } else if component.starts_with("libpod") {
                // libpod-<id>.scope, libpod_parent
                Some((Environment::Podman, "libpod"))
            } else if component == "lxc"
                || component.starts_with("lxc.payload")
                || component.starts_with("lxc.monitor")
            {
                // LXC 1.x: /lxc/<name>; LXC 4+: lxc.payload.<name>
                Some((Environment::Lxc, "lxc"))
            } else {
                None
            };
            if let Some(hit) = hit {
                if !found.contains(&hit) {
                    found.push(hit);
                }
            }
        }
    }
    found
}

/// The value of `container=` in a NUL-separated environment block, if set and not empty.
pub fn environ_container(environ: &[u8]) -> Option<String> {
    environ
        .split(|&b| b == 0)
        .find_map(|entry| entry.strip_prefix(b"container="))
        .map(|value| String::from_utf8_lossy(value).trim().to_string())
        .filter(|value| !value.is_empty())
}

/// Maps a container manager's self-declared name (`container=`, /run/systemd/container) to an
/// environment, following systemd's table of names. Unknown names are still containers.
fn container_by_name(name: &str) -> Option<Environment> {
    match name {
        "" => None,
        "docker" => Some(Environment::Docker),
        "podman" => Some(Environment::Podman),
        "lxc" | "lxc-libvirt" => Some(Environment::Lxc),
        "systemd-nspawn" => Some(Environment::SystemdNspawn),
        "wsl" => Some(Environment::Wsl),
        _ => Some(Environment::OtherContainer),
    }
}

/// Whether /proc/sys is read-only, from the text of /proc/self/mountinfo.
///
/// The mount that holds /proc/sys is the deepest one whose mount point is /proc/sys or one of
/// its ancestors (usually /proc itself; Docker adds a read-only bind of /proc/sys on top).
/// Mounts below /proc/sys, such as binfmt_misc, do not count. A later mount stacked on a path
/// hides the earlier mounts under it: `unshare -m --mount-proc` inside Docker mounts a fresh
/// proc over /proc, which hides Docker's read-only /proc/sys. Only the per-mount `ro` flag is
/// read, as that is what makes a write to /proc/sys fail with EROFS.
pub fn proc_sys_read_only_in_mountinfo(text: &str) -> Result<bool, String> {
    proc_sys_mount_read_only(text).map_err(|e| e.to_string())
}

fn proc_sys_mount_read_only(text: &str) -> Result<bool, SecurityParseError> {
    let target = Path::new("/proc/sys");
    // (mount point, read-only) of the mounts still visible at their mount point.
    let mut visible: Vec<(std::path::PathBuf, bool)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mount =
            MountInfo::from_line(line).map_err(|e| SecurityParseError::ParseMountinfoLine {
                line: index + 1,
                cause: e.to_string(),
            })?;
        let point = mount.mount_point;
        if !point.is_absolute() {
            return Err(SecurityParseError::ParseMountinfoLine {
                line: index + 1,
                cause: format!("mount point {point:?} is not absolute"),
            });
        }
        // A mount over "/" is left out of the hiding rule: the process's root is usually the
        // mount below it (a chroot or pivot_root leftover), and its lookups start there.
        if point != Path::new("/") {
            visible.retain(|(earlier, _)| !earlier.starts_with(&point));
        }
        let read_only = mount.mount_options.contains_key("ro");
        visible.push((point, read_only));
    }
    visible
        .iter()
        .filter(|(point, _)| target.starts_with(point))
        // max_by_key keeps the last of equals: the latest mount at the deepest point is on top.
        .max_by_key(|(point, _)| point.components().count())
        .map(|(_, read_only)| *read_only)
        .ok_or(SecurityParseError::FindProcSysMount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs;

    /// Debian 12 host: /proc read-write, binfmt_misc mounted below /proc/sys.
    const MOUNTINFO_HOST: &str = "\
22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
23 27 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
24 27 0:5 / /dev rw,nosuid,relatime shared:8 - devtmpfs udev rw,size=4010332k,nr_inodes=1002583,mode=755,inode64
27 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
36 22 0:32 / /proc/sys/fs/binfmt_misc rw,relatime shared:13 - autofs systemd-1 rw,fd=30,pgrp=1,timeout=0,minproto=5,maxproto=5,direct,pipe_ino=1234
78 36 0:45 / /proc/sys/fs/binfmt_misc rw,nosuid,nodev,noexec,relatime shared:40 - binfmt_misc binfmt_misc rw
";

    /// Docker 24 with the default profile, cgroup v2, overlay2 storage.
    const MOUNTINFO_DOCKER: &str = "\
1037 944 0:75 / / rw,relatime master:451 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/GK4M:/var/lib/docker/overlay2/l/Q2TW,upperdir=/var/lib/docker/overlay2/0f1e/diff,workdir=/var/lib/docker/overlay2/0f1e/work,nouserxattr
1038 1037 0:78 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1039 1037 0:79 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64
1040 1039 0:80 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
1041 1037 0:81 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
1042 1041 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
1043 1039 0:77 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
1044 1039 0:82 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k,inode64
1045 1037 254:1 /var/lib/docker/containers/0f1e/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw,errors=remount-ro
1046 1037 254:1 /var/lib/docker/containers/0f1e/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw,errors=remount-ro
945 1038 0:78 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
946 1038 0:78 /fs /proc/fs ro,nosuid,nodev,noexec,relatime - proc proc rw
947 1038 0:78 /irq /proc/irq ro,nosuid,nodev,noexec,relatime - proc proc rw
948 1038 0:78 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
949 1038 0:78 /sysrq-trigger /proc/sysrq-trigger ro,nosuid,nodev,noexec,relatime - proc proc rw
950 1038 0:83 / /proc/acpi ro,relatime - tmpfs tmpfs ro,inode64
951 1038 0:79 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64
952 1038 0:79 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64
953 1041 0:84 / /sys/firmware ro,relatime - tmpfs tmpfs ro,inode64
";

    #[test]
    fn host_proc_sys_is_writable() {
        assert_eq!(proc_sys_read_only_in_mountinfo(MOUNTINFO_HOST), Ok(false));
    }

    #[test]
    fn docker_proc_sys_is_read_only() {
        assert_eq!(proc_sys_read_only_in_mountinfo(MOUNTINFO_DOCKER), Ok(true));
    }

    #[test]
    fn docker_with_unconfined_systempaths_is_writable() {
        let text: String = MOUNTINFO_DOCKER
            .lines()
            .filter(|l| !l.contains(" /proc/sys "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(proc_sys_read_only_in_mountinfo(&text), Ok(false));
    }

    #[test]
    fn a_read_only_proc_covers_proc_sys() {
        let text = "27 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw\n\
                    22 27 0:21 / /proc ro,nosuid,nodev,noexec,relatime - proc proc rw\n";
        assert_eq!(proc_sys_read_only_in_mountinfo(text), Ok(true));
    }

    #[test]
    fn a_fresh_proc_on_top_hides_the_read_only_bind() {
        let text = format!(
            "{MOUNTINFO_DOCKER}1200 1038 0:90 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
        );
        assert_eq!(proc_sys_read_only_in_mountinfo(&text), Ok(false));
    }

    #[test]
    fn bad_mountinfo_is_malformed() {
        let err = proc_sys_read_only_in_mountinfo("this is not mountinfo").unwrap_err();
        assert!(err.starts_with("failed to parse mountinfo line 1"), "{err}");
        let truncated = "22 27 0:21 / /proc rw,nosuid shared:12";
        assert!(proc_sys_read_only_in_mountinfo(truncated).is_err());
        let err = proc_sys_read_only_in_mountinfo("").unwrap_err();
        assert!(err.contains("no mount covers it"), "{err}");
        let relative = "22 27 0:21 / proc rw - proc proc rw";
        assert!(proc_sys_read_only_in_mountinfo(relative).is_err());
    }

    #[test]
    fn cgroup_paths_name_their_runtime() {
        let docker_v1 = "12:pids:/docker/3f1c2a\n1:name=systemd:/docker/3f1c2a\n0::/docker/3f1c2a";
        assert_eq!(
            cgroup_environments(docker_v1),
            vec![(Environment::Docker, "docker")]
        );
        let k8s = "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b.slice/docker-3f1c.scope";
        assert_eq!(
            cgroup_environments(k8s),
            vec![
                (Environment::Kubernetes, "kubepods"),
                (Environment::Docker, "docker")
            ]
        );
        assert_eq!(
            cgroup_environments("0::/machine.slice/libpod-77ab.scope/container"),
            vec![(Environment::Podman, "libpod")]
        );
        assert_eq!(
            cgroup_environments("0::/lxc.payload.c1"),
            vec![(Environment::Lxc, "lxc")]
        );
        let host = "0::/system.slice/docker.service\n1:name=systemd:/system.slice/lxcfs.service\n0::/init.scope";
        assert_eq!(cgroup_environments(host), vec![]);
        assert_eq!(cgroup_environments("0::/"), vec![]);
    }

    #[test]
    fn container_variable_is_found_among_nul_separated_entries() {
        assert_eq!(
            environ_container(b"PATH=/usr/bin\0container=lxc\0HOME=/\0"),
            Some("lxc".into())
        );
        assert_eq!(environ_container(b"PATH=/usr/bin\0HOME=/\0"), None);
        assert_eq!(environ_container(b"container=\0"), None);
        assert_eq!(environ_container(b"xcontainer=lxc\0"), None);
        assert_eq!(environ_container(b""), None);
    }

    /// A fixture tree built from `(relative path, contents)` pairs.
    fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, contents) in files {
            let full = dir.path().join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, contents).unwrap();
        }
        dir
    }

    fn detect(files: &[(&str, &[u8])]) -> Vec<Detection> {
        let dir = tree(files);
        detect_environments(&FactRoot::fixture(dir.path()))
    }

    fn envs(detections: &[Detection]) -> Vec<Environment> {
        detections.iter().map(|d| d.environment).collect()
    }

    const HOST_CGROUP: &[u8] = b"0::/init.scope\n";

    #[test]
    fn bare_host_detects_nothing() {
        let found = detect(&[
            ("proc/1/cgroup", HOST_CGROUP),
            ("proc/self/cgroup", b"0::/user.slice/user-1000.slice/session-2.scope\n"),
            ("proc/sys/kernel/osrelease", b"6.1.0-21-amd64\n"),
            ("proc/version", b"Linux version 6.1.0-21-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.90-1 (2024-05-03)\n"),
        ]);
        assert_eq!(found, vec![]);
    }

    #[test]
    fn docker_is_detected_once_with_its_first_evidence() {
        let found = detect(&[
            (".dockerenv", b""),
            ("proc/1/cgroup", b"0::/docker/3f1c2a\n"),
            ("proc/self/cgroup", b"0::/docker/3f1c2a\n"),
        ]);
        assert_eq!(
            found,
            vec![Detection {
                environment: Environment::Docker,
                evidence: "/.dockerenv exists".into()
            }]
        );
    }

    #[test]
    fn docker_on_cgroup_v2_is_found_by_dockerenv_alone() {
        let found = detect(&[(".dockerenv", b""), ("proc/self/cgroup", b"0::/\n")]);
        assert_eq!(envs(&found), vec![Environment::Docker]);
    }

    #[test]
    fn podman_is_detected() {
        let found = detect(&[
            ("run/.containerenv", b"engine=\"podman-4.3.1\"\n"),
            ("proc/1/environ", b"PATH=/usr/bin\0container=podman\0"),
        ]);
        assert_eq!(envs(&found), vec![Environment::Podman]);
        assert_eq!(found[0].evidence, "/run/.containerenv exists");
    }

    #[test]
    fn kubernetes_beats_docker() {
        let found = detect(&[
            (".dockerenv", b""),
            ("proc/1/cgroup", b"0::/kubepods/besteffort/pod1a2b/3f1c2a\n"),
        ]);
        assert_eq!(
            envs(&found),
            vec![Environment::Kubernetes, Environment::Docker]
        );
        assert_eq!(found[0].evidence, "/proc/1/cgroup mentions kubepods");
    }

    #[test]
    fn lxc_is_detected_from_pid_1_environment() {
        let found = detect(&[
            ("proc/1/cgroup", b"0::/\n"),
            ("proc/1/environ", b"container=lxc\0TERM=linux\0"),
        ]);
        assert_eq!(
            found,
            vec![Detection {
                environment: Environment::Lxc,
                evidence: "/proc/1/environ has container=lxc".into()
            }]
        );
    }

    #[test]
    fn lxc_is_detected_from_the_cgroup() {
        let found = detect(&[("proc/self/cgroup", b"0::/lxc.payload.web1\n")]);
        assert_eq!(found[0].evidence, "/proc/self/cgroup mentions lxc");
    }

    #[test]
    fn systemd_nspawn_and_other_containers_are_detected() {
        let found = detect(&[("run/systemd/container", b"systemd-nspawn\n")]);
        assert_eq!(
            found,
            vec![Detection {
                environment: Environment::SystemdNspawn,
                evidence: "/run/systemd/container says systemd-nspawn".into()
            }]
        );
        let found = detect(&[("proc/1/environ", b"container=oci\0")]);
        assert_eq!(envs(&found), vec![Environment::OtherContainer]);
    }

    #[test]
    fn unreadable_pid_1_environment_is_skipped() {
        let dir = tree(&[("run/systemd/container", b"docker\n")]);
        // A directory where the file should be gives EISDIR: unreadable, like EACCES would.
        fs::create_dir_all(dir.path().join("proc/1/environ")).unwrap();
        let found = detect_environments(&FactRoot::fixture(dir.path()));
        assert_eq!(envs(&found), vec![Environment::Docker]);
    }

    #[test]
    fn wsl_is_detected_by_release_or_interop() {
        let found = detect(&[(
            "proc/sys/kernel/osrelease",
            b"5.15.90.1-microsoft-standard-WSL2\n",
        )]);
        assert_eq!(
            found,
            vec![Detection {
                environment: Environment::Wsl,
                evidence: "/proc/sys/kernel/osrelease is 5.15.90.1-microsoft-standard-WSL2".into()
            }]
        );
        let found = detect(&[("proc/sys/kernel/osrelease", b"4.4.0-19041-Microsoft\n")]);
        assert_eq!(envs(&found), vec![Environment::Wsl]);
        let found = detect(&[
            ("proc/sys/kernel/osrelease", b"6.6.36.6-custom\n"),
            ("proc/sys/fs/binfmt_misc/WSLInterop", b"enabled\n"),
        ]);
        assert_eq!(
            found[0].evidence,
            "/proc/sys/fs/binfmt_misc/WSLInterop exists"
        );
    }

    #[test]
    fn docker_inside_wsl_lists_docker_first() {
        let found = detect(&[
            (
                "proc/sys/kernel/osrelease",
                b"5.15.153.1-microsoft-standard-WSL2\n",
            ),
            (".dockerenv", b""),
        ]);
        assert_eq!(envs(&found), vec![Environment::Docker, Environment::Wsl]);
    }

    #[test]
    fn gvisor_is_detected_and_ranks_first() {
        let found = detect(&[
            (".dockerenv", b""),
            ("proc/sys/kernel/osrelease", b"4.4.0\n"),
            (
                "proc/version",
                b"Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016\n",
            ),
        ]);
        assert_eq!(envs(&found), vec![Environment::Gvisor, Environment::Docker]);
        assert_eq!(
            found[0].evidence,
            "/proc/version is gVisor's fixed signature"
        );
    }

    #[test]
    fn probe_reads_lsms_label_and_proc_sys() {
        let dir = tree(&[
            ("proc/self/mountinfo", MOUNTINFO_DOCKER.as_bytes()),
            ("proc/self/attr/current", b"docker-default (enforce)\n"),
            (
                "sys/kernel/security/lsm",
                b"lockdown,capability,landlock,yama,apparmor",
            ),
            ("sys/module/apparmor/parameters/enabled", b"Y\n"),
            (".dockerenv", b""),
        ]);
        let context = probe(&FactRoot::fixture(dir.path()));
        assert_eq!(context.environment(), Some(Environment::Docker));
        assert_eq!(context.proc_sys_read_only.value(), Some(&true));
        assert_eq!(
            context.lsm.label.value().map(String::as_str),
            Some("docker-default (enforce)")
        );
        assert_eq!(context.lsm.apparmor_enabled.value(), Some(&true));
        assert_eq!(context.lsm.active.value().map(Vec::len), Some(5));
        assert!(context.lsm.selinux_enforcing.is_absent());
    }

    #[test]
    fn selinux_label_loses_its_trailing_nul() {
        let dir = tree(&[(
            "proc/self/attr/current",
            b"unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023\0",
        )]);
        let context = probe(&FactRoot::fixture(dir.path()));
        assert_eq!(
            context.lsm.label.value().map(String::as_str),
            Some("unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023")
        );
    }

    #[test]
    fn probe_keeps_absent_and_malformed_mountinfo_apart() {
        let empty = tree(&[]);
        let context = probe(&FactRoot::fixture(empty.path()));
        assert_eq!(
            context.proc_sys_read_only,
            Fact::Absent {
                source: "proc/self/mountinfo".into()
            }
        );
        assert_eq!(context.detections, vec![]);
        let garbage = tree(&[("proc/self/mountinfo", b"garbage\n")]);
        let context = probe(&FactRoot::fixture(garbage.path()));
        assert!(matches!(context.proc_sys_read_only, Fact::Malformed { .. }));
    }

    #[test]
    fn the_running_kernel_mountinfo_parses() {
        let context = probe(&FactRoot::host());
        assert!(
            context.proc_sys_read_only.value().is_some(),
            "{:?}",
            context.proc_sys_read_only
        );
    }

    proptest! {
        #[test]
        fn mountinfo_parser_never_panics(text in any::<String>()) {
            let _ = proc_sys_read_only_in_mountinfo(&text);
        }

        #[test]
        fn mountinfo_parser_never_panics_on_mountinfo_like_lines(
            lines in proptest::collection::vec(
                "[0-9]{1,4} [0-9]{1,4} [0-9]:[0-9]{1,2} /[a-z/]{0,8} /[a-z/]{0,10} (rw|ro)[a-z,]{0,10}( shared:[0-9x]{1,2})?( -)? [a-z]{0,5} [a-z]{0,5} [a-z,=]{0,10}",
                0..8,
            )
        ) {
            let _ = proc_sys_read_only_in_mountinfo(&lines.join("\n"));
        }

        #[test]
        fn cgroup_parser_never_panics(text in any::<String>()) {
            let _ = cgroup_environments(&text);
        }

        #[test]
        fn environ_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = environ_container(&bytes);
        }

        #[test]
        fn a_read_only_proc_sys_bind_is_always_seen(ro in any::<bool>(), rest in "[a-z,]{0,20}") {
            let options = format!("{},nosuid{rest}", if ro { "ro" } else { "rw" });
            let text = format!("{MOUNTINFO_HOST}948 22 0:21 /sys /proc/sys {options} - proc proc rw\n");
            let expected = options.split(',').any(|o| o == "ro");
            prop_assert_eq!(proc_sys_read_only_in_mountinfo(&text), Ok(expected));
        }
    }
}

#[cfg(test)]
mod root_mount_tests {
    use super::root_is_mount_point_in_mountinfo;

    #[test]
    fn a_chroot_has_no_mount_at_its_root() {
        let host = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
                    22 27 0:21 / /proc rw,relatime - proc proc rw\n";
        // Inside a chroot, the host's / is outside the process root and is not listed.
        let chroot = "22 27 0:21 / /proc rw,relatime - proc proc rw\n";
        assert_eq!(root_is_mount_point_in_mountinfo(host), Ok(true));
        assert_eq!(root_is_mount_point_in_mountinfo(chroot), Ok(false));
        assert!(root_is_mount_point_in_mountinfo("garbage").is_err());
    }
}
