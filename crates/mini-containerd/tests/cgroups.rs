//! linux.resources on this (cgroup v1 / hybrid) host: values land in the
//! container's own cgroup, limits bite, and nothing is left after delete.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::Env;
use serde_json::json;

fn v1_host() -> bool {
    std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
}

fn cg(controller: &str, path: &str) -> PathBuf {
    PathBuf::from("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
}

/// config-linux.md "Control groups": cgroupsPath and resources.
#[test]
fn resources_land_in_the_cgroup_and_it_goes_with_delete() {
    if !v1_host() {
        eprintln!("skipped: not a cgroup v1 host");
        return;
    }
    let env = Env::new();
    let path = format!("/mc-test-{}-res/c", std::process::id());
    let b = env.bundle("b", &["sh", "-c", "cat /proc/self/cgroup; sleep 1000"], |c| {
        c["linux"]["cgroupsPath"] = json!(path);
        c["linux"]["resources"] = json!({
            "memory": {"limit": 67108864, "reservation": 33554432, "swappiness": 0},
            "cpu": {"shares": 256, "quota": 20000, "period": 100000, "cpus": "0"},
            "pids": {"limit": 64},
            "blockIO": {"throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}]}
        });
    });
    let out = env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let read = |ctrl: &str, file: &str| {
        std::fs::read_to_string(cg(ctrl, &path).join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(read("memory", "memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(read("cpu", "cpu.shares"), "256");
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "20000");
    assert_eq!(read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(read("pids", "pids.max"), "64");
    assert!(read("blkio", "blkio.throttle.read_bps_device").contains("254:0 1048576"));
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    assert!(read("pids", "cgroup.procs").lines().any(|l| l == pid.to_string()));
    // and the container itself sees that cgroup
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(&out).unwrap().contains(&format!("pids:{path}")) {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&out).unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    env.ok(&["delete", "--force", "c1"]);
    let top = path.split('/').nth(1).unwrap();
    for ctrl in ["memory", "cpu", "pids", "cpuset", "blkio", "devices", "freezer"] {
        assert!(!cg(ctrl, top).exists(), "{ctrl} cgroup left behind");
    }
}

/// pids.limit bites: fork fails past it.
#[test]
fn pids_limit_bites() {
    if !v1_host() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; echo all-forked",
        ],
        |c| c["linux"]["resources"] = json!({"pids": {"limit": 5}}),
    );
    let (_, out, err) = env.run(&b, "c1");
    assert!(!out.contains("all-forked"), "{out}");
    assert!(err.contains("sh:"), "the shell reports the failed fork: {err}");
}

/// Device rules: everything denied but the defaults (each usable: the
/// rules all take effect); a node the rules do not allow cannot be opened
/// even though it exists.
#[test]
fn device_rules_bite() {
    if !v1_host() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "echo x > /dev/null && echo null-ok; head -c 1 /dev/urandom >/dev/null && echo urandom-ok; \
             mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem >/dev/null 2>&1 || echo mem-denied",
        ],
        |c| {
            c["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
            c["process"]["capabilities"]["bounding"]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_MKNOD"));
            c["process"]["capabilities"]["effective"]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_MKNOD"));
            c["process"]["capabilities"]["permitted"]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_MKNOD"));
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
        },
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("null-ok"), "{out} {err}");
    // The ninth default rule, written through the same open devices.allow.
    assert!(out.contains("urandom-ok"), "{out} {err}");
    assert!(out.contains("mem-denied"), "{out} {err}");
}

/// A value the kernel refuses fails create, naming the file and value, and
/// leaves no cgroup and no state behind.
#[test]
fn refused_value_is_named_and_cleaned_up() {
    if !v1_host() {
        return;
    }
    let env = Env::new();
    let path = format!("/mc-test-{}-bad/c", std::process::id());
    let b = env.bundle("b", &["true"], |c| {
        c["linux"]["cgroupsPath"] = json!(path);
        c["linux"]["resources"] = json!({"cpu": {"cpus": "4095"}});
    });
    let (status, err) = env.try_create(&b, "c1", &[]);
    assert!(!status.success());
    assert!(err.contains("cpuset.cpus") && err.contains("4095"), "{err}");
    assert!(env.ids().is_empty());
    let top = path.split('/').nth(1).unwrap();
    assert!(!cg("cpuset", top).exists(), "cgroup left behind");
    assert!(!cg("memory", top).exists(), "cgroup left behind");
}

/// `--systemd-cgroup` with systemd's `slice:prefix:name`: the cgroup is
/// made where systemd would put the scope, and removed with the container.
#[test]
fn systemd_cgroup_path_form() {
    if !v1_host() {
        return;
    }
    let env = Env::new();
    let name = format!("sd{}", std::process::id());
    let b = env.bundle("b", &["sleep", "1000"], |c| {
        c["linux"]["cgroupsPath"] = json!(format!("mctest.slice:mc:{name}"));
    });
    assert!(env
        .quiet(&["--systemd-cgroup", "create", "--bundle", b.to_str().unwrap(), "c1"])
        .success());
    let scope = cg("memory", &format!("/mctest.slice/mc-{name}.scope"));
    assert!(scope.is_dir(), "{} missing", scope.display());
    env.ok(&["--systemd-cgroup", "delete", "--force", "c1"]);
    assert!(!scope.exists());
    assert!(
        !cg("memory", "/mctest.slice").exists(),
        "the slice we made is removed too"
    );
}

/// cpu quota bites: a busy loop limited to 10% of a CPU gets about that.
#[test]
fn cpu_quota_bites() {
    if !v1_host() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "while :; do :; done"], |c| {
        c["linux"]["resources"] = json!({"cpu": {"quota": 10000, "period": 100000}});
    });
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    let cpuacct = common::cgroup_dir(pid, "cpuacct");
    let usage = || -> u64 {
        std::fs::read_to_string(cpuacct.join("cpuacct.usage"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (t0, u0) = (std::time::Instant::now(), usage());
    std::thread::sleep(std::time::Duration::from_secs(1));
    let (elapsed, used) = (t0.elapsed().as_secs_f64(), (usage() - u0) as f64 / 1e9);
    env.ok(&["delete", "--force", "c1"]);
    // 10% of a CPU for ~1 s is ~0.1 s; an unlimited loop would take ~1 s.
    assert!(
        used > 0.0 && used < 0.4 * elapsed,
        "used {used:.3} s of CPU in {elapsed:.3} s"
    );
}

/// memory.checkBeforeUpdate: update refuses a limit below what is in use.
#[test]
fn check_before_update_refuses_a_limit_below_usage() {
    if !v1_host() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "b",
        &["sh", "-c", "head -c 8388608 /dev/zero > /dev/shm/fill; sleep 1000"],
        |_| {},
    );
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::metadata(format!("/proc/{pid}/root/dev/shm/fill")).map_or(0, |m| m.len()) < 8388608 {
        assert!(std::time::Instant::now() < deadline, "fill never completed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let file = env.tmp.path().join("r.json");
    std::fs::write(&file, r#"{"memory": {"limit": 4194304, "checkBeforeUpdate": true}}"#).unwrap();
    let err = env.fails(&["update", "--resources", file.to_str().unwrap(), "c1"]);
    assert!(
        err.contains("checkBeforeUpdate") && err.contains("below the current usage"),
        "{err}"
    );
    env.ok(&["delete", "--force", "c1"]);
}
