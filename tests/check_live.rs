//! `sandprobe check` on this machine, in the four situations the verdict must get right.
//!
//! Every test spawns the built binary; the trials run in its forked children, never in this
//! multithreaded test harness.

mod support;

use std::process::Command;

use support::*;

fn check_json(cmd: &mut Command) -> (serde_json::Value, i32) {
    let out = cmd.output().expect("spawn sandprobe");
    (json_of(&out), out.status.code().unwrap_or(-1))
}

#[test]
fn as_root_the_verdict_is_userns_and_root_is_not_used() {
    if !require(is_root(), "running the tests as root") {
        return;
    }
    let (report, code) = check_json(Command::new(sandprobe()).args(["check", "--json"]));
    assert_eq!(code, 0);
    let v = &report["verdict"];
    assert_eq!(v["mode"], "userns");
    assert_eq!(v["invoker"], "root");
    assert_eq!(v["uses_root"], false);
    assert_eq!(v["root"]["mode"], "userns");
    assert!(v["reasons"].as_array().unwrap().iter().any(|r| r["message"]
        .as_str()
        .unwrap()
        .contains("root would not be used")));
    // As root the userns trial ran as the unprivileged target, and root's own trial ran too.
    let trials = &report["facts"]["trials"];
    assert_eq!(trials["userns"]["uid"], 65534);
    assert_eq!(trials["userns"]["stages"][0]["stage"], "drop_privileges");
    assert_eq!(trials["root_backed"]["state"], "ran");
}

#[test]
fn as_nobody_the_verdict_is_userns() {
    if !require(have("setpriv"), "setpriv (util-linux)") || !require(is_root(), "root") {
        return;
    }
    let copy = world_copy(&sandprobe());
    let (report, code) = check_json(
        Command::new("setpriv")
            .args(AS_NOBODY)
            .arg(&copy.path)
            .args(["check", "--json"]),
    );
    assert_eq!(code, 0, "{report}");
    let v = &report["verdict"];
    assert_eq!(v["mode"], "userns");
    assert_eq!(v["invoker"], "unprivileged");
    assert_eq!(report["facts"]["privileges"]["real_uid"], 65534);
    assert_eq!(report["facts"]["trials"]["root_backed"]["state"], "skipped");
    // --quiet prints the mode alone.
    let quiet = Command::new("setpriv")
        .args(AS_NOBODY)
        .arg(&copy.path)
        .args(["check", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&quiet.stdout), "userns\n");
}

#[test]
fn with_user_namespaces_disabled_root_gets_root_backed() {
    if !require(have("unshare"), "unshare (util-linux)") || !require(is_root(), "root") {
        return;
    }
    let script = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec {} check --json",
        sandprobe().display()
    );
    let (report, code) =
        check_json(Command::new("unshare").args(["-U", "-r", "sh", "-c", &script]));
    assert_eq!(code, 0, "{report}");
    let v = &report["verdict"];
    assert_eq!(v["mode"], "root-backed");
    assert_eq!(v["uses_root"], true);
    assert_eq!(v["unprivileged"]["mode"], "unsupported");
    assert_eq!(v["userns_blocker"], "max_user_namespaces_zero");
    let first = &report["facts"]["trials"]["userns"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["outcome"] == "failed")
        .cloned()
        .unwrap();
    assert_eq!(first["stage"], "unshare_user");
    assert_eq!(first["errno"], "ENOSPC");
    let fixes: Vec<&str> = v["remediations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(fixes, ["sysctl_max_user_namespaces"]);
    let fix = &v["remediations"][0];
    assert_eq!(
        fix["commands"][0],
        "sysctl -w user.max_user_namespaces=15000"
    );
    assert_eq!(
        fix["persist"]["path"],
        "/etc/sysctl.d/90-sandprobe-userns.conf"
    );
}

#[test]
fn as_nobody_under_a_seccomp_filter_the_verdict_is_unsupported_naming_seccomp() {
    if !cfg!(target_arch = "x86_64") {
        require(false, "an x86_64 host for the hand-written BPF filter");
        return;
    }
    if !require(have("setpriv"), "setpriv (util-linux)") || !require(is_root(), "root") {
        return;
    }
    let copy = world_copy(&sandprobe());
    let mut cmd = Command::new("setpriv");
    cmd.args(AS_NOBODY)
        .arg(&copy.path)
        .args(["check", "--json"]);
    deny_unshare(&mut cmd);
    let out = cmd.output().expect("spawn");
    let report = json_of(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "unsupported must exit 1: {report}"
    );
    let v = &report["verdict"];
    assert_eq!(v["mode"], "unsupported");
    assert_eq!(v["userns_blocker"], "seccomp");
    assert_eq!(
        report["facts"]["process"]["status"]["value"]["seccomp"],
        "filter"
    );
    let seccomp_row = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "seccomp")
        .unwrap();
    assert_eq!(seccomp_row["status"], "fail");
    assert!(v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["probe"] == "seccomp" && r["message"].as_str().unwrap().contains("seccomp")));
    // The human report names seccomp too.
    let human = String::from_utf8_lossy(&out.stderr);
    assert!(human.is_empty(), "no stderr expected: {human}");
}

#[test]
fn nothing_is_left_running_or_mounted_after_a_check() {
    if !require(is_root(), "root (both trials run)") {
        return;
    }
    // A uniquely named copy, so its trial children can be told from other tests' processes.
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("sp-leakcheck");
    std::fs::copy(sandprobe(), &binary).unwrap();
    wait_until_executable(&binary);
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for _ in 0..5 {
        let out = Command::new(&binary)
            .args(["check", "--quiet"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "userns\n");
    }
    let survivors = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| {
                let path = e.ok()?.path();
                let comm = std::fs::read_to_string(path.join("comm")).ok()?;
                (comm.trim() == "sp-leakcheck").then(|| path.display().to_string())
            })
            .collect()
    };
    // Trial children that had reported are reaped by init once they finish exiting.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !survivors().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(survivors().is_empty(), "left running: {:?}", survivors());
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        mounts_before,
        "the host mount table changed"
    );
}

#[test]
fn in_a_chroot_the_verdict_names_the_chroot() {
    if !require(have("unshare"), "unshare")
        || !require(have("chroot"), "chroot")
        || !require(is_root(), "root")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    std::fs::copy(sandprobe(), dir.path().join("sandprobe")).unwrap();
    wait_until_executable(&dir.path().join("sandprobe"));
    // Enough of the host inside the chroot to run the binary: /usr bound, the top-level library
    // links (or binds on a host without merged /usr), and a fresh proc.
    let script = format!(
        "set -e; cd {root}; mkdir -p proc usr tmp etc; mount --bind /usr usr; \
         for d in bin lib lib64; do \
           if [ -L /$d ]; then ln -s \"$(readlink /$d)\" $d; \
           elif [ -d /$d ]; then mkdir $d && mount --bind /$d $d; fi; done; \
         mount -t proc proc proc; exec chroot {root} /sandprobe check --json"
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let v = &report["verdict"];
    assert_eq!(v["mode"], "unsupported");
    assert_eq!(v["userns_blocker"], "chroot");
    assert_eq!(v["root_backed_blocker"], "chroot");
    assert_eq!(v["remediations"][0]["id"], "leave_the_chroot");
    let row = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "root_mount")
        .unwrap();
    assert_eq!(row["status"], "fail");
}
