//! config-linux.md "Seccomp": the filter is in force for the container's
//! process, with each action and argument comparison.
#![allow(clippy::unwrap_used)]

mod common;

use common::Env;
use serde_json::{json, Value};

fn with_seccomp(profile: Value) -> impl FnOnce(&mut Value) {
    move |c| c["linux"]["seccomp"] = profile
}

/// SCMP_ACT_ERRNO with errnoRet: the call fails with exactly that errno;
/// /proc/self/status shows the filter.
#[test]
fn errno_action() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &["sh", "-c", "grep Seccomp: /proc/self/status; mkdir /dev/shm/x || true"],
        with_seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]
        })),
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(err.contains("not supported"), "EOPNOTSUPP expected: {err}");
}

/// runtime.md "Exec" (runc's `exec`): a process exec'd into the container
/// runs under the container's filter too.
#[test]
fn exec_runs_under_the_filter() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &["sleep", "1000"],
        with_seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]
        })),
    );
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let out = env.exec(&[
        "exec",
        "c1",
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; mkdir /dev/shm/x",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "mkdir succeeded under the filter: {stdout}");
    assert!(stdout.contains("Seccomp:\t2"), "{stdout}");
    assert!(stderr.contains("not supported"), "EOPNOTSUPP expected: {stderr}");
}

/// The compiled-profile cache (`<root>/.cache/seccomp`, issue 10): the
/// second container with a profile loads it from there, and is still
/// filtered; another profile gets its own entry and its own errno; an entry
/// that does not match (here: another profile's, copied over it) is not
/// used. `list` does not see the cache.
#[test]
fn cached_profiles_are_still_enforced_and_kept_apart() {
    let env = Env::new();
    let deny_mkdir = |errno: u32| {
        with_seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
        }))
    };
    let script = ["sh", "-c", "mkdir /dev/shm/x"];
    let eopnotsupp = env.bundle("b95", &script, deny_mkdir(95));
    let enospc = env.bundle("b28", &script, deny_mkdir(28));
    let cache = env.root.join(".cache/seccomp");
    let entries = || -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&cache)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let run = |bundle: &std::path::Path, id: &str| -> (String, String) {
        let log = env.tmp.path().join(format!("{id}.log"));
        let out = env
            .cmd()
            .args(["--debug", "--log", log.to_str().unwrap(), "run", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "mkdir must fail: {out:?}");
        (
            String::from_utf8_lossy(&out.stderr).into_owned(),
            std::fs::read_to_string(&log).unwrap(),
        )
    };

    let (err, log) = run(&eopnotsupp, "c1");
    assert!(err.contains("not supported"), "{err}");
    assert!(!log.contains("compiled profile from"), "the first use compiles: {log}");
    assert_eq!(entries().len(), 1);
    let (err, log) = run(&eopnotsupp, "c2");
    assert!(err.contains("not supported"), "{err}");
    assert!(log.contains("compiled profile from"), "the second use is cached: {log}");

    let (err, _) = run(&enospc, "c3");
    assert!(err.contains("No space left"), "another profile, its own errno: {err}");
    let both = entries();
    assert_eq!(both.len(), 2, "{both:?}");

    // Every entry now holds the ENOSPC profile's program (and key).
    let needle = b"\"errnoRet\":28";
    let enospc_entry = both
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .find(|b| b.windows(needle.len()).any(|w| w == needle))
        .unwrap();
    for p in &both {
        std::fs::write(p, &enospc_entry).unwrap();
    }
    let (err, log) = run(&eopnotsupp, "c4");
    assert!(err.contains("not supported"), "a mismatched entry was used: {err}");
    assert!(!log.contains("compiled profile from"), "{log}");
    assert!(env.ok(&["list", "-q"]).trim().is_empty());
}

/// SCMP_ACT_KILL_PROCESS: the process dies of SIGSYS (128+31).
#[test]
fn kill_action() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &["uname"],
        with_seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_KILL_PROCESS"}]
        })),
    );
    let (code, out, _) = env.run(&b, "c1");
    assert_eq!(code, 128 + libc::SIGSYS, "{out}");
}

/// Argument comparisons: chmod to 0777 is refused, to 0644 allowed.
#[test]
fn argument_comparison() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &["sh", "-c", "touch /dev/shm/f; chmod 644 /dev/shm/f && echo 644-ok; chmod 777 /dev/shm/f || echo 777-refused"],
        with_seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]},
                {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}]}
            ]
        })),
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("644-ok") && out.contains("777-refused"), "{out} {err}");
}

/// An unknown action is an error at create, naming the field.
#[test]
fn bad_profile_is_refused() {
    let env = Env::new();
    let b = env.bundle("b", &["true"], with_seccomp(json!({"defaultAction": "SCMP_ACT_BOGUS"})));
    let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), "c1"]);
    assert!(err.contains("config.json") && err.contains("SCMP_ACT_BOGUS"), "{err}");
    assert!(env.ids().is_empty());
}

/// podman's default profile (Debian's golang-github-containers-common),
/// turned into OCI form the way an engine does for a container with the
/// default capabilities: a BusyBox shell works under it, and sethostname
/// (which the profile allows only to holders of CAP_SYS_ADMIN) is refused
/// by the filter even though the process does hold CAP_SYS_ADMIN.
#[test]
fn podman_default_profile() {
    let Ok(text) = std::fs::read_to_string("/usr/share/containers/seccomp.json") else {
        eprintln!("skipped: /usr/share/containers/seccomp.json missing (apt install golang-github-containers-common)");
        return;
    };
    let engine: Value = serde_json::from_str(&text).unwrap();
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let profile = to_oci(&engine, &caps, "amd64");
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "ls / >/dev/null && echo shell-ok; hostname changed-name || echo sethostname-refused",
        ],
        |c| {
            c["linux"]["seccomp"] = profile;
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("CAP_SYS_ADMIN"));
            }
        },
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shell-ok"), "{out} {err}");
    assert!(out.contains("sethostname-refused"), "{out} {err}");
}

/// The engine format (archMap, includes/excludes by caps and arch) to the
/// OCI one, for a container holding `caps` on `arch`.
fn to_oci(engine: &Value, caps: &[&str], arch: &str) -> Value {
    let has_all = |list: Option<&Value>, f: &dyn Fn(&str) -> bool| {
        list.and_then(Value::as_array)
            .is_none_or(|l| l.iter().all(|v| f(v.as_str().unwrap_or(""))))
    };
    let has_any = |list: Option<&Value>, f: &dyn Fn(&str) -> bool| {
        list.and_then(Value::as_array)
            .is_some_and(|l| l.iter().any(|v| f(v.as_str().unwrap_or(""))))
    };
    let syscalls: Vec<Value> = engine["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            let inc = &s["includes"];
            let exc = &s["excludes"];
            has_all(inc.get("caps"), &|c| caps.contains(&c))
                && (inc.get("arches").is_none() || has_any(inc.get("arches"), &|a| a == arch))
                && !has_any(exc.get("caps"), &|c| caps.contains(&c))
                && !has_any(exc.get("arches"), &|a| a == arch)
        })
        .map(|s| {
            let mut rule = json!({"names": s["names"], "action": s["action"]});
            if let Some(e) = s.get("errnoRet") {
                rule["errnoRet"] = e.clone();
            }
            if let Some(a) = s.get("args").filter(|a| !a.is_null()) {
                rule["args"] = a.clone();
            }
            rule
        })
        .collect();
    let x86 = engine["archMap"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["architecture"] == "SCMP_ARCH_X86_64")
        .unwrap();
    let mut archs = vec![x86["architecture"].clone()];
    archs.extend(x86["subArchitectures"].as_array().unwrap().iter().cloned());
    json!({
        "defaultAction": engine["defaultAction"],
        "defaultErrnoRet": engine["defaultErrnoRet"],
        "architectures": archs,
        "syscalls": syscalls
    })
}

/// SCMP_ACT_NOTIFY: the agent on listenerPath receives the notify fd and
/// the container process state (fds, pid, metadata, state) in one
/// connection, and its answer is what the container's syscall returns.
#[test]
fn notify_reaches_the_agent_and_its_answer_the_container() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let env = Env::new();
    let sock = env.tmp.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let (fd, mut payload) = runtime::console::recv_fd_with(conn.as_raw_fd()).unwrap();
        conn.read_to_end(&mut payload).unwrap();
        let state: Value = serde_json::from_slice(&payload).unwrap();
        // Answer the first notification: EACCES.
        let req = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
        libseccomp::ScmpNotifResp::new_error(req.id, -libc::EACCES, libseccomp::ScmpNotifRespFlags::empty())
            .respond(fd.as_raw_fd())
            .unwrap();
        state
    });
    let b = env.bundle("b", &["sh", "-c", "mkdir /dev/shm/x || true"], |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock.display().to_string(),
            "listenerMetadata": "hello-agent",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let (code, _, err) = env.run(&b, "c1");
    let state = agent.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Permission denied"), "the agent's EACCES: {err}");
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "hello-agent");
    assert_eq!(state["state"]["id"], "c1");
    assert!(state["pid"].as_i64().unwrap() > 0);
}

/// A profile that notifies without a listener, or whose listener cannot be
/// reached, fails create.
#[test]
fn notify_without_a_reachable_listener_fails_create() {
    let env = Env::new();
    let rule = json!([{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]);
    let b = env.bundle("b", &["true"], |c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rule});
    });
    let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), "c1"]);
    assert!(err.contains("listenerPath"), "{err}");
    let b = env.bundle("b2", &["true"], |c| {
        c["linux"]["seccomp"] =
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/nonexistent/agent.sock", "syscalls": rule});
    });
    let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), "c2"]);
    assert!(err.contains("/nonexistent/agent.sock"), "{err}");
    assert!(env.ids().is_empty());
    // Nor is the profile it compiled kept: only a created container's is.
    assert!(!env.root.join(".cache").exists());
}
