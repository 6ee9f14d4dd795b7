//! runc's extra verbs: pause/resume, ps, and their interplay with delete.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::Env;

fn freezer_state(pid: i64) -> String {
    std::fs::read_to_string(common::cgroup_dir(pid, "freezer").join("freezer.state"))
        .unwrap()
        .trim()
        .to_string()
}

/// pause freezes every process (state "paused"), resume thaws them; pause
/// of a paused container and resume of a running one are errors.
#[test]
fn pause_and_resume() {
    if !std::path::Path::new("/sys/fs/cgroup/freezer").exists() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "b",
        &["sh", "-c", "while :; do date +%s%N > /tmp/tick; sleep 0.01; done"],
        |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
        },
    );
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    let tick = format!("/proc/{pid}/root/tmp/tick");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&tick).map_or(true, |t| t.is_empty()) {
        assert!(Instant::now() < deadline, "the container never ticked");
        std::thread::sleep(Duration::from_millis(10));
    }
    env.ok(&["pause", "c1"]);
    assert_eq!(env.status("c1"), "paused");
    assert_eq!(freezer_state(pid), "FROZEN");
    let err = env.fails(&["pause", "c1"]);
    assert!(err.contains("paused"), "{err}");
    let frozen_at = std::fs::read_to_string(&tick).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        std::fs::read_to_string(&tick).unwrap(),
        frozen_at,
        "a paused container kept running"
    );
    env.ok(&["resume", "c1"]);
    assert_eq!(env.status("c1"), "running");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&tick).unwrap() == frozen_at {
        assert!(Instant::now() < deadline, "resume did not thaw the container");
        std::thread::sleep(Duration::from_millis(10));
    }
    let err = env.fails(&["resume", "c1"]);
    assert!(err.contains("running"), "{err}");
    // delete --force of a paused container thaws, kills and cleans up
    env.ok(&["pause", "c1"]);
    env.ok(&["delete", "--force", "c1"]);
    assert!(!common::alive(pid));
    assert!(env.ids().is_empty());
}

/// ps: JSON lists the host pids of every process; the table is ps(1)'s.
#[test]
fn ps_lists_the_containers_processes() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "sleep 1000 & exec sleep 999"], |_| {});
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let init = env.state("c1")["pid"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let pids = loop {
        let pids: Vec<i64> = serde_json::from_str(&env.ok(&["ps", "--format", "json", "c1"])).unwrap();
        if pids.len() == 2 {
            break pids;
        }
        assert!(Instant::now() < deadline, "{pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(pids.contains(&init), "{pids:?}");
    let table = env.ok(&["ps", "c1"]);
    assert!(table.lines().next().unwrap().contains("PID"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("sleep 999") && table.contains("sleep 1000"), "{table}");
    let custom = env.ok(&["ps", "c1", "--", "-o", "pid,comm"]);
    assert!(
        custom.lines().next().unwrap().trim_start().starts_with("PID"),
        "{custom}"
    );
}

/// update: flags and a resources file change the live cgroup; events
/// --stats reports it as runc's JSON event.
#[test]
fn update_and_stats() {
    if !std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    env.ok(&["update", "--memory", "33554432", "--pids-limit", "50", "c1"]);
    let file = env.tmp.path().join("resources.json");
    std::fs::write(&file, r#"{"cpu": {"shares": 300}}"#).unwrap();
    env.ok(&["update", "--resources", file.to_str().unwrap(), "c1"]);
    let event: serde_json::Value = serde_json::from_str(&env.ok(&["events", "--stats", "c1"])).unwrap();
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], "c1");
    assert_eq!(event["data"]["memory"]["usage"]["limit"], 33554432);
    assert_eq!(event["data"]["pids"]["limit"], 50);
    assert!(event["data"]["pids"]["current"].as_u64().unwrap() >= 1);
    assert!(event["data"]["cpu"]["usage"]["total"].as_u64().is_some());
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    let shares = std::fs::read_to_string(common::cgroup_dir(pid, "cpu").join("cpu.shares")).unwrap();
    assert_eq!(shares.trim(), "300");
    let err = env.fails(&["update", "--cpuset-cpus", "4095", "c1"]);
    assert!(err.contains("cpuset.cpus") && err.contains("4095"), "{err}");
    // Sizes with units, as runc takes them.
    env.ok(&["update", "--memory", "64m", "c1"]);
    let memory_limit =
        std::fs::read_to_string(common::cgroup_dir(pid, "memory").join("memory.limit_in_bytes")).unwrap();
    assert_eq!(memory_limit.trim(), "67108864");
    // -1 is runc's "unlimited", also for flags that look like one.
    env.ok(&[
        "update",
        "--memory",
        "-1",
        "--memory-swap",
        "-1",
        "--pids-limit",
        "-1",
        "c1",
    ]);
    let memory = common::cgroup_dir(pid, "memory");
    let limit: u64 = std::fs::read_to_string(memory.join("memory.limit_in_bytes"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(limit > 1 << 60, "memory.limit_in_bytes {limit}");
    let pids = std::fs::read_to_string(common::cgroup_dir(pid, "pids").join("pids.max")).unwrap();
    assert_eq!(pids.trim(), "max");
}

/// Malformed command lines — unknown flags, bad signal names, resource
/// values, users, capabilities — fail with exit status 1 (runc's, where
/// clap would say 2), a first line naming what was wrong, and no effect on
/// the container.
#[test]
fn malformed_command_lines_are_refused_harmlessly() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    env.create(&b, "c1");
    let cases: &[(&[&str], &str)] = &[
        (&["kill", "c1", "SIGFOO"], "SIGFOO"),
        (&["kill", "c1", "999"], "999"),
        (&["kill", "c1", ""], "unknown signal"),
        (&["update", "--memory", "abc", "c1"], "--memory"),
        (&["update", "--memory", "-5", "c1"], "--memory"),
        (
            &["update", "--cpu-shares", "99999999999999999999", "c1"],
            "--cpu-shares",
        ),
        (&["update", "--pids-limit", "x", "c1"], "--pids-limit"),
        (&["update", "--blkio-weight", "70000", "c1"], "--blkio-weight"),
        (&["create", "--bogus", "c2"], "--bogus"),
        (&["--bogus", "list"], "--bogus"),
        (&["exec", "--user", "abc:def", "c1", "true"], "--user"),
        (&["exec", "--cap", "CAP_BOGUS", "c1", "true"], "CAP_BOGUS"),
        (&["ps", "--format", "bogus", "c1"], "--format"),
        (&["state"], "required arguments"),
    ];
    for (args, needle) in cases {
        let out = env.exec(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.contains(needle),
            "{args:?}: first line {first:?} does not name {needle:?}"
        );
        assert_eq!(env.status("c1"), "created", "{args:?} changed the container");
    }
    assert_eq!(env.ids(), ["c1"]);
    // With --log, the usage error is also a log line there, where
    // containerd's shim looks for a failed call's reason.
    let log = env.tmp.path().join("usage.log");
    let out = env.exec(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bogus",
        "c3",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let logged = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(logged.trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("--bogus"), "{logged}");
}

/// A process over the memory limit is OOM-killed, and `events` reports it.
#[test]
fn oom_kill_is_reported_by_events() {
    if !std::path::Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "sleep 0.5; dd if=/dev/zero of=/dev/shm/fill bs=1M count=48 2>/dev/null; sleep 1000",
        ],
        |c| c["linux"]["resources"] = serde_json::json!({"memory": {"limit": 16777216}}),
    );
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let mut events = env
        .cmd()
        .args(["events", "--interval", "100ms", "c1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reader = std::io::BufReader::new(events.stdout.take().unwrap());
    let mut line = String::new();
    let mut saw_oom = false;
    while Instant::now() < deadline {
        line.clear();
        if std::io::BufRead::read_line(&mut reader, &mut line).unwrap() == 0 {
            break;
        }
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["type"] == "oom" {
            saw_oom = true;
            break;
        }
    }
    env.ok(&["delete", "--force", "c1"]);
    drop(reader);
    let _ = events.kill();
    let _ = events.wait();
    assert!(saw_oom, "no oom event");
}

/// Completions for each shell, man pages for every visible subcommand, and
/// a `--version` that says what runc's says.
#[test]
fn completions_and_man_pages() {
    let env = Env::new();
    let version = env.ok(&["--version"]);
    for line in ["mini-containerd ", "commit: ", "spec: 1.", "libseccomp: 2."] {
        assert!(version.contains(line), "{line:?} missing: {version}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = env.ok(&["completion", shell]);
        assert!(out.contains("mini-containerd") && out.contains("create"), "{shell}");
    }
    for cmd in [
        "create",
        "start",
        "state",
        "kill",
        "delete",
        "run",
        "exec",
        "ps",
        "list",
        "pause",
        "resume",
        "update",
        "events",
        "spec",
        "features",
        "check",
        "completion",
    ] {
        let help = env.ok(&[cmd, "--help"]);
        assert!(help.contains("Example"), "`{cmd} --help` has no example");
    }
    let dir = env.tmp.path().join("man");
    env.ok(&["man", dir.to_str().unwrap()]);
    for page in [
        "mini-containerd.1",
        "mini-containerd-create.1",
        "mini-containerd-exec.1",
        "mini-containerd-update.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    assert!(
        !dir.join("mini-containerd-init.1").exists(),
        "internal commands have no page"
    );
}
