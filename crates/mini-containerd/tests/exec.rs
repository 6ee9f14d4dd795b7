//! `exec`: a second process in a running container, in all its namespaces.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;

use common::Env;
use serde_json::json;

fn running(env: &Env, edit: impl FnOnce(&mut serde_json::Value)) {
    let b = env.bundle("b", &["sleep", "1000"], edit);
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
}

fn exec(env: &Env, args: &[&str]) -> (i32, String, String) {
    let out = env.cmd().arg("exec").args(args).stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The exec'd process shares the container's PID, UTS and mount
/// namespaces (it sees the container's PID 1, hostname and root), and its
/// exit code is exec's.
#[test]
fn exec_joins_the_container() {
    let env = Env::new();
    running(&env, |c| c["hostname"] = json!("exec-host"));
    let init = env.state("c1")["pid"].as_i64().unwrap();
    let (code, out, err) = exec(
        &env,
        &[
            "c1",
            "sh",
            "-c",
            "cat /proc/1/comm; hostname; test -e /bin/busybox && echo root-ok; exit 7",
        ],
    );
    assert_eq!(code, 7, "{err}");
    assert_eq!(out, "sleep\nexec-host\nroot-ok\n");
    for ns in ["pid", "mnt", "uts", "ipc", "net"] {
        let theirs = std::fs::read_link(format!("/proc/{init}/ns/{ns}")).unwrap();
        let (_, out, _) = exec(&env, &["c1", "readlink", &format!("/proc/self/ns/{ns}")]);
        assert_eq!(out.trim(), theirs.to_str().unwrap(), "{ns}");
    }
}

/// runc's `exec`: the process runs in the container's cgroups, so their
/// limits, `pause`, `ps` and `kill --all` cover it. Checked from inside
/// (no cgroup namespace here: /proc/self/cgroup shows the host's paths)
/// against the init's, and with `ps`, which reads the cgroup.
#[test]
fn exec_runs_in_the_container_cgroups() {
    let env = Env::new();
    running(&env, |_| {});
    let init = env.state("c1")["pid"].as_i64().unwrap();
    let theirs = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    let (code, out, err) = exec(&env, &["c1", "cat", "/proc/self/cgroup"]);
    assert_eq!(code, 0, "{err}");
    let managed: Vec<&str> = theirs.lines().filter(|l| !l.ends_with(":/")).collect();
    assert!(!managed.is_empty(), "the init is in no cgroup of its own: {theirs}");
    for line in managed {
        assert!(out.lines().any(|l| l == line), "exec'd process not in {line}: {out}");
    }
    assert!(env.quiet(&["exec", "-d", "c1", "sleep", "999"]).success());
    let ps = env.ok(&["ps", "c1"]);
    assert!(ps.contains("sleep 999"), "ps (the cgroup's processes) misses it: {ps}");
}

/// `--env`, `--cwd`, `--user`, `--additional-gids` and `--cap` shape the
/// process; the container's own capabilities are the default.
#[test]
fn exec_process_options() {
    let env = Env::new();
    running(&env, |_| {});
    let (code, out, err) = exec(
        &env,
        &[
            "-e",
            "FOO=bar",
            "--cwd",
            "/bin",
            "--user",
            "65534:65534",
            "-g",
            "5",
            "c1",
            "sh",
            "-c",
            "echo $FOO; pwd; id -u; id -g; id -G",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "bar\n/bin\n65534\n65534\n65534 5\n");
    let (_, out, _) = exec(&env, &["c1", "grep", "CapBnd", "/proc/self/status"]);
    assert!(out.contains("0000000020000420"), "{out}");
    let (_, out, _) = exec(
        &env,
        &["--cap", "CAP_SYS_ADMIN", "c1", "grep", "CapBnd", "/proc/self/status"],
    );
    assert!(out.contains("0000000020200420"), "{out}");
}

/// `--process FILE` runs a whole process.json.
#[test]
fn exec_process_file() {
    let env = Env::new();
    running(&env, |_| {});
    let file = env.tmp.path().join("process.json");
    std::fs::write(
        &file,
        json!({"args": ["sh", "-c", "echo $X; pwd"], "env": ["X=from-file"], "cwd": "/etc", "user": {"uid": 0, "gid": 0}})
            .to_string(),
    )
    .unwrap();
    let (code, out, err) = exec(&env, &["--process", file.to_str().unwrap(), "c1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "from-file\n/etc\n");
}

/// `--detach` returns at once; `--pid-file` holds the new process's pid.
#[test]
fn exec_detached_with_pid_file() {
    let env = Env::new();
    running(&env, |_| {});
    let pid_file = env.tmp.path().join("exec.pid");
    let pid_path = pid_file.to_str().unwrap();
    assert!(env
        .quiet(&["exec", "-d", "--pid-file", pid_path, "c1", "sleep", "1000"])
        .success());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");
    let (_, ps, _) = exec(&env, &["c1", "ps", "-o", "comm"]);
    assert_eq!(ps.matches("sleep").count(), 2, "{ps}");
}

/// Errors: a missing program (named), and a container that is not running.
#[test]
fn exec_errors() {
    let env = Env::new();
    running(&env, |_| {});
    let (code, _, err) = exec(&env, &["c1", "no-such-program"]);
    assert_ne!(code, 0);
    assert!(err.contains("no-such-program"), "{err}");
    let (code, _, err) = exec(&env, &["nope", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("does not exist"), "{err}");
    env.ok(&["kill", "c1", "KILL"]);
    env.wait_status("c1", "stopped");
    let (code, _, err) = exec(&env, &["c1", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("stopped"), "{err}");
}

/// exec into a container with its own user namespace joins it too.
#[test]
fn exec_in_a_user_namespace() {
    let env = Env::new();
    running(&env, |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    });
    let (code, out, err) = exec(&env, &["c1", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    assert_eq!(code, 0, "{err}");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "300000", "65536"], "{out}");
}

/// CVE-2019-5736 and CVE-2024-21626 for exec: the process sees only stdio
/// fds, and nothing of the runtime's binary.
#[test]
fn exec_leaks_no_fd() {
    let env = Env::new();
    running(&env, |_| {});
    let _extra = std::fs::File::open("/sys/fs/cgroup").unwrap();
    let (code, out, err) = exec(&env, &["c1", "ls", "/proc/self/fd"]);
    assert_eq!(code, 0, "{err}");
    let mut fds: Vec<&str> = out.split_whitespace().collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2", "3"], "{out}");
}
