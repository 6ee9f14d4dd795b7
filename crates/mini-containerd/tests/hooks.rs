//! config.md "POSIX-platform Hooks" and runtime.md "Lifecycle" steps 3–13:
//! when each hook runs, what it gets, and what its failure does.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{alive, Env};
use serde_json::{json, Value};

const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// A host script that appends "KIND STATE" to $HOOK_LOG, KIND being its
/// first argument and STATE what it read on stdin.
fn logging_script(dir: &Path) -> PathBuf {
    let path = dir.join("hook.sh");
    std::fs::write(&path, "#!/bin/sh\nstate=$(cat)\necho \"$1 $state\" >> \"$HOOK_LOG\"\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The hook of `kind` that logs through `logging_script`. startContainer's
/// path resolves in the container (config.md), where the script's directory
/// is bind-mounted at /hooks: its host path does not exist there.
fn logging_hook(dir: &Path, kind: &str) -> Value {
    let (script, log) = if kind == "startContainer" {
        ("/hooks/hook.sh".to_string(), "/hooks/log".to_string())
    } else {
        (
            dir.join("hook.sh").display().to_string(),
            dir.join("log").display().to_string(),
        )
    };
    json!({"path": script, "args": ["hook.sh", kind], "env": [format!("HOOK_LOG={log}")]})
}

fn bind_hooks_dir(c: &mut Value, dir: &Path) {
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/hooks", "type": "bind", "source": dir, "options": ["rbind", "rw"]
    }));
}

/// The log as (kind, state) pairs, in the order the hooks ran.
fn read_log(dir: &Path) -> Vec<(String, Value)> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (kind, state) = l.split_once(' ').unwrap();
            (kind.to_string(), serde_json::from_str(state).unwrap())
        })
        .collect()
}

fn hooks_dir(env: &Env) -> PathBuf {
    let dir = env.tmp.path().join("hooks");
    std::fs::create_dir_all(&dir).unwrap();
    logging_script(&dir);
    dir
}

/// runtime.md "Lifecycle": each hook once, in the listed order, with the
/// state on stdin — "creating" before pivot_root, "created" just before the
/// program, "running" after it, "stopped" after delete; the pid as the hook
/// sees it (1 inside the container's PID namespace).
#[test]
fn each_hook_runs_once_in_order_with_the_state() {
    let env = Env::new();
    let dir = hooks_dir(&env);
    let b = env.bundle("b", &["true"], |c| {
        for kind in KINDS {
            c["hooks"][kind] = json!([logging_hook(&dir, kind)]);
        }
        bind_hooks_dir(c, &dir);
        c["annotations"] = json!({"org.example.hooks": "yes"});
    });
    env.create(&b, "c1");
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    let created = read_log(&dir);
    let kinds: Vec<&str> = created.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["prestart", "createRuntime", "createContainer"]);

    env.ok(&["start", "c1"]);
    env.wait_status("c1", "stopped");
    env.ok(&["delete", "c1"]);
    let log = read_log(&dir);
    let kinds: Vec<&str> = log.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, KINDS);
    let want = [
        ("creating", pid),
        ("creating", pid),
        ("creating", 1),
        ("created", 1),
        ("running", pid),
        ("stopped", pid),
    ];
    for ((kind, state), (status, pid)) in log.iter().zip(want) {
        assert_eq!(state["id"], "c1", "{kind}: {state}");
        assert_eq!(state["status"], status, "{kind}: {state}");
        assert_eq!(state["pid"], pid, "{kind}: {state}");
        assert_eq!(state["bundle"], json!(b), "{kind}: {state}");
        assert!(state["ociVersion"].is_string(), "{kind}: {state}");
        assert_eq!(state["annotations"]["org.example.hooks"], "yes", "{kind}: {state}");
    }
}

/// config.md: `args` are execv's argv and `env` is the whole environment:
/// nothing of the runtime's own environment reaches the hook.
#[test]
fn env_and_args_reach_the_hook() {
    let env = Env::new();
    let out = env.tmp.path().join("out");
    let b = env.bundle("b", &["true"], |c| {
        c["hooks"]["poststart"] = json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo \"$0 $1 FOO=$FOO LEAK=${{MC_LEAK-unset}}\" > {}", out.display()), "zero", "one"],
            "env": ["FOO=bar baz"]
        }]);
    });
    let status = env
        .cmd()
        .env("MC_LEAK", "leaked")
        .args(["run", "--bundle"])
        .arg(&b)
        .arg("c1")
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "zero one FOO=bar baz LEAK=unset\n"
    );
}

/// runtime.md step 4: a failing createRuntime hook fails create with an
/// error naming it; the container is destroyed (step 12) — no state, no
/// process — and the poststop hooks still run (step 13).
#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let env = Env::new();
    let dir = hooks_dir(&env);
    let b = env.bundle("b", &["sleep", "600"], |c| {
        c["hooks"]["prestart"] = json!([logging_hook(&dir, "prestart")]);
        c["hooks"]["createRuntime"] = json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo broken >&2; exit 3"]}]);
        c["hooks"]["createContainer"] = json!([logging_hook(&dir, "createContainer")]);
        c["hooks"]["poststop"] = json!([logging_hook(&dir, "poststop")]);
    });
    let cgroup = env_cgroup(&b);
    let (status, err) = env.try_create(&b, "c1", &[]);
    assert!(!status.success());
    assert!(
        err.contains("createRuntime hook #0 /bin/sh: exit status 3 (output: broken)"),
        "{err}"
    );
    assert!(env.ids().is_empty(), "state left behind: {:?}", env.ids());
    let log = read_log(&dir);
    let kinds: Vec<&str> = log.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["prestart", "poststop"]);
    let init = log[0].1["pid"].as_i64().unwrap();
    assert!(!alive(init), "the init {init} survived the failed create");
    assert!(
        !Path::new("/sys/fs/cgroup/memory")
            .join(cgroup.trim_start_matches('/'))
            .exists(),
        "cgroup {cgroup} left behind"
    );
}

fn env_cgroup(bundle: &Path) -> String {
    let config: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    config["linux"]["cgroupsPath"].as_str().unwrap().to_string()
}

/// config.md: `timeout` is "the number of seconds before aborting the
/// hook": a createContainer hook (run by the init) past it is killed and
/// create fails, saying so, with nothing left behind.
#[test]
fn hook_exceeding_its_timeout_fails_create() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "600"], |c| {
        c["hooks"]["createContainer"] =
            json!([{"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 60"], "timeout": 1}]);
    });
    let t = Instant::now();
    let (status, err) = env.try_create(&b, "c1", &[]);
    assert!(!status.success());
    assert!(t.elapsed() < Duration::from_secs(20), "create took {:?}", t.elapsed());
    assert!(
        err.contains("createContainer hook #0 /bin/sh: timed out after 1s (killed)"),
        "{err}"
    );
    assert!(env.ids().is_empty(), "state left behind: {:?}", env.ids());
}

/// A timed-out hook on the host side is killed, not left running.
#[test]
fn timed_out_runtime_hook_is_killed() {
    let env = Env::new();
    let pidfile = env.tmp.path().join("hook.pid");
    let b = env.bundle("b", &["sleep", "600"], |c| {
        c["hooks"]["createRuntime"] = json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo $$ > {}; exec sleep 60", pidfile.display())],
            "timeout": 1
        }]);
    });
    let (status, err) = env.try_create(&b, "c1", &[]);
    assert!(!status.success());
    assert!(
        err.contains("createRuntime hook #0 /bin/sh: timed out after 1s"),
        "{err}"
    );
    let hook: i64 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert!(!alive(hook), "the timed-out hook {hook} is still running");
    assert!(env.ids().is_empty(), "state left behind: {:?}", env.ids());
}

/// runtime.md step 7: a failing startContainer hook fails start, the
/// program never runs, and the container is destroyed.
#[test]
fn failing_start_container_hook_fails_start() {
    let env = Env::new();
    let dir = hooks_dir(&env);
    let ran = dir.join("program-ran");
    let b = env.bundle("b", &["touch", "/hooks/program-ran"], |c| {
        c["hooks"]["startContainer"] = json!([{"path": "/bin/false", "args": ["false"]}]);
        c["hooks"]["poststop"] = json!([logging_hook(&dir, "poststop")]);
        bind_hooks_dir(c, &dir);
    });
    env.create(&b, "c1");
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    let err = env.fails(&["start", "c1"]);
    assert!(
        err.contains("startContainer hook #0 /bin/false: exit status 1"),
        "{err}"
    );
    assert!(!ran.exists(), "the program ran after its startContainer hook failed");
    assert!(!alive(pid), "the init {pid} survived");
    assert!(env.ids().is_empty(), "state left behind: {:?}", env.ids());
    let kinds: Vec<String> = read_log(&dir).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["poststop"]);
}

/// runtime.md step 13: a failing poststop hook is a warning; the remaining
/// hooks run and delete succeeds.
#[test]
fn failing_poststop_hook_is_only_a_warning() {
    let env = Env::new();
    let dir = hooks_dir(&env);
    let b = env.bundle("b", &["true"], |c| {
        c["hooks"]["poststop"] = json!([
            {"path": "/bin/sh", "args": ["sh", "-c", "echo cleanup failed >&2; exit 7"]},
            logging_hook(&dir, "poststop")
        ]);
    });
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    env.wait_status("c1", "stopped");
    let out = env.exec(&["delete", "c1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("level=warning"), "{err}");
    assert!(err.contains("poststop hook #0 /bin/sh: exit status 7"), "{err}");
    assert!(err.contains("cleanup failed"), "{err}");
    assert!(env.ids().is_empty());
    let kinds: Vec<String> = read_log(&dir).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["poststop"]);
}

/// runtime.md step 9: "If any poststart hook fails, the runtime MUST
/// generate an error, stop the container, and continue the lifecycle at
/// step 12": start fails and the running program is killed and destroyed.
#[test]
fn failing_poststart_hook_fails_start_and_stops_the_container() {
    let env = Env::new();
    let dir = hooks_dir(&env);
    let b = env.bundle("b", &["sleep", "600"], |c| {
        c["hooks"]["poststart"] = json!([{"path": "/bin/false", "args": ["false"]}]);
        c["hooks"]["poststop"] = json!([logging_hook(&dir, "poststop")]);
    });
    let cgroup = env_cgroup(&b);
    env.create(&b, "c1");
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    assert!(Path::new("/sys/fs/cgroup/memory")
        .join(cgroup.trim_start_matches('/'))
        .exists());
    let err = env.fails(&["start", "c1"]);
    assert!(err.contains("poststart hook #0 /bin/false: exit status 1"), "{err}");
    assert!(!alive(pid), "the container's process {pid} survived");
    assert!(env.ids().is_empty(), "state left behind: {:?}", env.ids());
    assert!(!Path::new("/sys/fs/cgroup/memory")
        .join(cgroup.trim_start_matches('/'))
        .exists());
    let kinds: Vec<String> = read_log(&dir).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["poststop"]);
}
