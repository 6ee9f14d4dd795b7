//! Rootless: an unprivileged user (here: nobody) makes a config with
//! `spec --rootless` and runs the whole lifecycle; state lives under its
//! $XDG_RUNTIME_DIR, its root is root only inside the user namespace.
//! A user of the test's own, given ranges in /etc/subuid and /etc/subgid,
//! maps more than its own ids through newuidmap/newgidmap.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use common::bin;

const NOBODY: &str = "65534";

/// Run the runtime as nobody, with `dir` as its cwd and runtime dir.
fn as_nobody(dir: &Path, args: &[&str]) -> Output {
    as_user((65534, 65534), dir, args, &[])
}

/// Run the runtime as `uid:gid` without supplementary groups, with `dir`
/// as its cwd and runtime dir and `env` added to its environment.
fn as_user(ids: (u32, u32), dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let (uid, gid) = (ids.0.to_string(), ids.1.to_string());
    // By its full path: `env` may replace the PATH Command searches.
    Command::new(setpriv())
        .args(["--reuid", &uid, "--regid", &gid, "--clear-groups", bin()])
        .args(args)
        .current_dir(dir.join("bundle"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn setpriv() -> PathBuf {
    in_path("setpriv").expect("setpriv (util-linux) in $PATH")
}

fn in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// useradd/usermod/userdel take shadow's locks, but two of them at once in
/// this process would only make each other retry.
static SHADOW: Mutex<()> = Mutex::new(());

fn shadow_tool(args: &[&str]) -> Result<(), String> {
    let _guard = SHADOW.lock().unwrap_or_else(|e| e.into_inner());
    let mut last = String::new();
    // Another session may hold /etc/passwd's lock for a moment.
    for _ in 0..20 {
        match Command::new(args[0]).args(&args[1..]).output() {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => last = String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    Err(format!("{args:?}: {last}"))
}

/// An unprivileged system user made for one test (a name unique to this
/// test process), optionally with 65536 subordinate uids and gids. On drop
/// its /etc/subuid and /etc/subgid lines and the user itself go, through
/// usermod and userdel, which edit those files under shadow's lock.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    /// First subordinate uid (and gid), when it was given a range.
    sub: Option<u32>,
}

/// Users (and their subordinate ranges) left by an earlier run of these
/// tests that was killed before its drops ran: `mc-<tag>-<pid>` with one of
/// our tags, whose pid is gone.
fn remove_stale_test_users() {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for name in passwd.lines().filter_map(|l| l.split(':').next()) {
        // Only the names these tests make.
        let Some(pid) = ["mc-ranges-", "mc-nosub-", "mc-nohelper-"]
            .iter()
            .find_map(|prefix| name.strip_prefix(prefix))
        else {
            continue;
        };
        if !pid.bytes().all(|b| b.is_ascii_digit()) || std::path::Path::new("/proc").join(pid).exists() {
            continue;
        }
        for (file, flag) in [("/etc/subuid", "--del-subuids"), ("/etc/subgid", "--del-subgids")] {
            let lines = std::fs::read_to_string(file).unwrap_or_default();
            for line in lines.lines().filter(|l| l.starts_with(&format!("{name}:"))) {
                let f: Vec<&str> = line.split(':').collect();
                if let (Some(Ok(start)), Some(Ok(count))) =
                    (f.get(1).map(|v| v.parse::<u64>()), f.get(2).map(|v| v.parse::<u64>()))
                {
                    let range = format!("{start}-{}", start + count.saturating_sub(1));
                    let _ = shadow_tool(&["usermod", flag, &range, name]);
                }
            }
        }
        let _ = shadow_tool(&["userdel", name]);
    }
}

impl TestUser {
    fn new(tag: &str, with_range: bool) -> TestUser {
        static STALE: std::sync::Once = std::sync::Once::new();
        STALE.call_once(remove_stale_test_users);
        let name = format!("mc-{tag}-{}", std::process::id());
        shadow_tool(&[
            "useradd",
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            &name,
        ])
        .unwrap();
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let mut user = TestUser {
            uid: id("-u"),
            gid: id("-g"),
            name,
            sub: None,
        };
        if with_range {
            // Far above SUB_UID_MIN's automatic ranges; per process, so
            // concurrent runs of this test do not share ids.
            let start = 4_000_000 + (std::process::id() % 1000) * 65536;
            let range = format!("{start}-{}", start + 65535);
            shadow_tool(&["usermod", "--add-subuids", &range, "--add-subgids", &range, &user.name]).unwrap();
            user.sub = Some(start);
        }
        user
    }

    fn ids(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }

    /// Pids of the processes whose real uid is this user's.
    fn processes(&self) -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
            .filter(|e| {
                std::fs::read_to_string(e.path().join("status")).is_ok_and(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("Uid:"))
                        .and_then(|l| l.split_whitespace().next().map(|u| u == self.uid.to_string()))
                        .unwrap_or(false)
                })
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        if let Some(start) = self.sub {
            let range = format!("{start}-{}", start + 65535);
            let del = ["usermod", "--del-subuids", &range, "--del-subgids", &range, &self.name];
            if let Err(e) = shadow_tool(&del) {
                eprintln!("cleanup: {e}");
            }
        }
        // No panic in a drop that may run while unwinding.
        if let Err(e) = shadow_tool(&["userdel", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// A temporary dir with `bundle/` and `run/` owned by `user`, and in
/// `bundle/config.json` what `spec --rootless` writes for it, pointed at
/// the BusyBox rootfs, mapping 0 to the user and 1… to `ranges` (uid and
/// gid start, 65536 each).
fn ranged_bundle(user: &TestUser, ranges: (u32, u32), edit: impl FnOnce(&mut serde_json::Value)) -> tempfile::TempDir {
    let tmp = tempfile::Builder::new().prefix("mc-rootless").tempdir().unwrap();
    let dir = tmp.path();
    for sub in ["bundle", "run"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        nix::unistd::chown(&dir.join(sub), Some(user.uid.into()), Some(user.gid.into())).unwrap();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = as_user(user.ids(), dir, &["spec", "--rootless"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config_path = dir.join("bundle/config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["root"]["path"] = serde_json::json!(common::rootfs().canonicalize().unwrap().display().to_string());
    config["process"]["terminal"] = serde_json::json!(false);
    let (uid, gid) = ranges;
    config["linux"]["uidMappings"] = serde_json::json!([
        {"containerID": 0, "hostID": user.uid, "size": 1},
        {"containerID": 1, "hostID": uid, "size": 65536}]);
    config["linux"]["gidMappings"] = serde_json::json!([
        {"containerID": 0, "hostID": user.gid, "size": 1},
        {"containerID": 1, "hostID": gid, "size": 65536}]);
    edit(&mut config);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    tmp
}

/// After a failed create: no container listed, no state left, no process
/// of the user alive.
fn assert_nothing_left(user: &TestUser, dir: &Path) {
    let list = as_user(user.ids(), dir, &["list", "--quiet"], &[]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "", "list is not empty");
    let state_dir = dir.join("run/mini-containerd");
    let left: Vec<_> = std::fs::read_dir(&state_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", state_dir.display());
    assert_eq!(
        user.processes(),
        Vec::<String>::new(),
        "processes of {} remain",
        user.name
    );
}

/// The single error line of a failed command.
fn one_line_error(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    stderr
}

#[test]
fn an_unprivileged_user_runs_a_container() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "run as root: the test switches to nobody itself"
    );
    let tmp = tempfile::Builder::new().prefix("mc-rootless").tempdir().unwrap();
    let dir = tmp.path();
    for sub in ["bundle", "run"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        nix::unistd::chown(&dir.join(sub), Some(65534.into()), Some(65534.into())).unwrap();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = as_nobody(dir, &["spec", "--rootless"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config_path = dir.join("bundle/config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    assert_eq!(config["linux"]["uidMappings"][0]["hostID"], 65534);
    config["root"]["path"] = serde_json::json!(common::rootfs().canonicalize().unwrap().display().to_string());
    config["process"]["terminal"] = serde_json::json!(false);
    config["process"]["args"] = serde_json::json!(["sh", "-c", "id -u; cat /proc/self/uid_map; exit 5"]);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();

    let out = as_nobody(dir, &["run", "c1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "65534", "1"], "{stdout}");

    // the lifecycle by hand, state under $XDG_RUNTIME_DIR
    config["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            NOBODY,
            "--regid",
            NOBODY,
            "--clear-groups",
            bin(),
            "create",
            "c2",
        ])
        .current_dir(dir.join("bundle"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    assert!(dir.join("run/mini-containerd/c2/state.json").exists());
    assert!(as_nobody(dir, &["start", "c2"]).status.success());
    let state: serde_json::Value = serde_json::from_slice(&as_nobody(dir, &["state", "c2"]).stdout).unwrap();
    assert_eq!(state["status"], "running");
    let exec = as_nobody(dir, &["exec", "c2", "id", "-u"]);
    assert_eq!(
        String::from_utf8_lossy(&exec.stdout).trim(),
        "0",
        "{}",
        String::from_utf8_lossy(&exec.stderr)
    );
    assert!(as_nobody(dir, &["kill", "c2", "KILL"]).status.success());
    assert!(as_nobody(dir, &["delete", "--force", "c2"]).status.success());
    assert!(!dir.join("run/mini-containerd/c2").exists());
}

/// Issue #9: ranges from /etc/subuid and /etc/subgid, written by
/// newuidmap/newgidmap; setgroups stays allowed, so additionalGids work.
#[test]
fn subordinate_id_ranges_are_mapped_through_newuidmap() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "run as root: the test makes its own user"
    );
    assert!(
        in_path("newuidmap").is_some() && in_path("newgidmap").is_some(),
        "newuidmap/newgidmap missing: apt-get install uidmap"
    );
    let user = TestUser::new("ranges", true);
    let sub = user.sub.unwrap();
    let shared = tempfile::Builder::new().prefix("mc-rootless-shared").tempdir().unwrap();
    // Writable by uid 1000 of the container, whatever it maps to.
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let shared_path = shared.path().display().to_string();
    let tmp = ranged_bundle(&user, (sub, sub), |c| {
        c["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [1001]});
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; echo id: $(id); touch /home/made-inside; exit 7"
        ]);
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/home", "type": "bind", "source": shared_path, "options": ["rbind", "rw"]}));
    });
    let dir = tmp.path();

    let out = as_user(user.ids(), dir, &["run", "c1"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let want = [
        format!("0 {} 1", user.uid),
        format!("1 {sub} 65536"),
        format!("0 {} 1", user.gid),
        format!("1 {sub} 65536"),
    ];
    assert_eq!(lines[..4], want, "{stdout}");
    let id = lines[4].strip_prefix("id: ").unwrap();
    assert!(id.starts_with("uid=1000 gid=1000 "), "{id}");
    let groups = id.split("groups=").nth(1).unwrap();
    assert!(groups.split(',').any(|g| g == "1001"), "{id}");
    // uid/gid 1000 of the container is 999 ids into the ranges
    let meta = std::fs::metadata(shared.path().join("made-inside")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (sub + 999, sub + 999));
    assert!(as_user(user.ids(), dir, &["list", "--quiet"], &[]).stdout.is_empty());
}

/// Ranges the user was not given: newuidmap refuses, and its words are the
/// error; nothing of the container remains.
#[test]
fn ranges_without_a_subuid_entry_fail_and_leave_nothing() {
    assert!(nix::unistd::geteuid().is_root(), "run as root");
    let user = TestUser::new("nosub", false);
    let tmp = ranged_bundle(&user, (4_100_000, 4_100_000), |c| {
        c["process"]["args"] = serde_json::json!(["true"]);
    });
    let dir = tmp.path();
    let err = one_line_error(&as_user(user.ids(), dir, &["create", "c1"], &[]));
    assert!(err.contains("linux.uidMappings"), "{err}");
    assert!(err.contains("newuidmap"), "{err}");
    assert!(err.contains("not allowed"), "newuidmap's own message: {err}");
    assert_nothing_left(&user, dir);
}

/// Ranges asked for where newuidmap cannot be found: one line that says so.
#[test]
fn ranges_without_newuidmap_fail_and_leave_nothing() {
    assert!(nix::unistd::geteuid().is_root(), "run as root");
    let user = TestUser::new("nohelper", false);
    let tmp = ranged_bundle(&user, (4_100_000, 4_100_000), |c| {
        c["process"]["args"] = serde_json::json!(["true"]);
    });
    let dir = tmp.path();
    let empty = dir.join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let path = empty.display().to_string();
    let err = one_line_error(&as_user(user.ids(), dir, &["create", "c1"], &[("PATH", &path)]));
    assert!(err.contains("linux.uidMappings"), "{err}");
    assert!(err.contains("newuidmap was not found"), "{err}");
    assert_nothing_left(&user, dir);
}
