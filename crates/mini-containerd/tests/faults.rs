//! Faults and concurrency: a runtime killed at any step of `create` leaves
//! nothing `delete --force` cannot remove; many containers in parallel
//! leave nothing behind.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Env;

fn cgroup_exists(path: &str) -> bool {
    ["memory", "pids", "cpu", "freezer"].iter().any(|c| {
        Path::new("/sys/fs/cgroup")
            .join(c)
            .join(path.trim_start_matches('/'))
            .exists()
    })
}

/// Kill -9 of the runtime after each phase of create: `state` answers
/// (creating while nobody holds the lock is reported as stopped), and
/// `delete --force` removes the process, cgroup and state directory.
#[test]
fn runtime_killed_during_create_leaves_nothing_after_force_delete() {
    for point in [
        "after-mkdir",
        "after-spawn",
        "after-cgroup",
        "after-namespaces",
        "after-mounts",
        "before-created",
    ] {
        let env = Env::new();
        let b = env.bundle("b", &["sleep", "1000"], |_| {});
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(b.join("config.json")).unwrap()).unwrap();
        let cgroup = config["linux"]["cgroupsPath"].as_str().unwrap().to_string();
        let status = env
            .cmd()
            .env("MINI_CONTAINERD_TEST_CRASH_AT", point)
            .args(["create", "--bundle", b.to_str().unwrap(), "c1"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{point}"
        );
        let state = env.exec(&["state", "c1"]);
        assert!(state.status.success(), "{point}: state must answer");
        // "creating" only for as long as the runtime's half-born child still
        // holds the lock; it exits as soon as it sees its parent gone.
        env.wait_status("c1", "stopped");
        let pid = serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(env.root.join("c1/state.json")).unwrap_or_else(|_| "{}".into()),
        )
        .unwrap()["pid"]
            .as_i64()
            .unwrap_or(0);
        env.ok(&["delete", "--force", "c1"]);
        assert!(env.ids().is_empty(), "{point}: state left");
        assert!(pid == 0 || !common::alive(pid), "{point}: init {pid} left");
        let deadline = Instant::now() + Duration::from_secs(5);
        while cgroup_exists(&cgroup) {
            assert!(Instant::now() < deadline, "{point}: cgroup {cgroup} left");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// 50 containers created, started, listed, killed and deleted in parallel,
/// with `state` and `list` running alongside: every operation succeeds or
/// fails cleanly, and no state entry, process or cgroup is left.
#[test]
fn fifty_containers_in_parallel() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |c| {
        // one cgroup per container: the default /<id>
        c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
    });
    // The host's mount table (the containers' mounts live and die in their
    // own namespaces). The caller's fds are not compared: the other tests
    // of this binary open and close theirs meanwhile.
    let mounts = || std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    let mounts_before = mounts();
    for round in 0..3 {
        let ids: Vec<String> = (0..50)
            .map(|i| format!("par-{}-{round}-{i}", std::process::id()))
            .collect();
        let pids = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            let handles: Vec<_> = ids
                .iter()
                .map(|id| {
                    let (env, b, pids) = (&env, &b, &pids);
                    s.spawn(move || {
                        let (status, err) = env.try_create(b, id, &[]);
                        assert!(status.success(), "{id}: {err}");
                        env.ok(&["start", id]);
                        // state and list of everyone, while the others change
                        let _ = env.exec(&["list", "-q"]);
                        let state = env.state(id);
                        assert_eq!(state["status"], "running", "{id}");
                        pids.lock().unwrap().push(state["pid"].as_i64().unwrap());
                        env.ok(&["kill", id, "KILL"]);
                        env.wait_status(id, "stopped");
                        env.ok(&["delete", id]);
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        });
        assert!(env.ids().is_empty(), "round {round}: {:?}", env.ids());
        for id in &ids {
            assert!(!cgroup_exists(id), "round {round}: cgroup {id} left");
        }
        // No process of a container lives on, not even as a zombie still
        // in the container's cgroup.
        for pid in pids.into_inner().unwrap() {
            let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            assert!(
                !ids.iter().any(|id| cgroups.contains(&format!("/{id}\n"))),
                "round {round}: pid {pid} left"
            );
        }
    }
    assert_eq!(mounts(), mounts_before, "mounts leaked on the host");
}

/// The runtime where it cannot work: no /proc (so no /proc/self/exe to run
/// the init from), or a pid limit that leaves no room for the init. Each
/// time `create` fails with one line saying why, and leaves no state.
#[test]
fn no_proc_and_a_full_pid_limit_fail_cleanly() {
    let env = Env::new();
    let b = env.bundle("b", &["true"], |_| {});
    let create = format!(
        "exec {} --root {} create --bundle {} c1 </dev/null",
        common::bin(),
        env.root.display(),
        b.display()
    );
    // The pids hierarchy of cgroup v1 here; the unified one on a v2 host.
    let hierarchy = Path::new("/sys/fs/cgroup/pids");
    let hierarchy = if hierarchy.exists() {
        hierarchy
    } else {
        Path::new("/sys/fs/cgroup")
    };
    let pids = hierarchy.join(format!("mc-test-pids-{}", common::unique()));
    std::fs::create_dir(&pids).unwrap();
    struct Rmdir(std::path::PathBuf);
    impl Drop for Rmdir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _guard = Rmdir(pids.clone());
    // One process allowed: the runtime itself, which moves there first.
    std::fs::write(pids.join("pids.max"), "1").unwrap();
    let cases = [
        (
            "no /proc",
            format!("umount -l /proc && {create}"),
            "/proc/self/exe (is /proc mounted?)",
        ),
        (
            "pids.max 1",
            format!("echo $$ > {}/cgroup.procs && {create}", pids.display()),
            "a process limit is reached",
        ),
    ];
    for (name, script, needle) in cases {
        let out = std::process::Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: create succeeded");
        assert!(err.contains(needle), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(env.ids().is_empty(), "{name}: state left: {:?}", env.ids());
    }
}
