//! The lifecycle, driven through the real binary on the BusyBox bundle and
//! checked from inside the container. Run as root (`just test`).
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use common::{alive, Env};
use serde_json::{json, Value};

/// runtime.md "State" and "Lifecycle": created → running → stopped, then
/// gone after delete; the pid is the container process's, alive while it runs.
#[test]
fn lifecycle_created_running_stopped_deleted() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    env.create(&b, "c1");

    let st = env.state("c1");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "c1");
    assert_eq!(st["bundle"], b.canonicalize().unwrap().display().to_string());
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."));
    assert!(st["created"].as_str().unwrap().ends_with('Z'));
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0 && alive(pid), "created container has a live pid");
    // runtime.md "Create": process.args MUST NOT run before start; the
    // init is still our binary, not sleep.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_ne!(comm.trim(), "sleep");

    env.ok(&["start", "c1"]);
    assert_eq!(env.status("c1"), "running");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim() != "sleep" {
        assert!(Instant::now() < deadline, "process never became sleep");
        std::thread::sleep(Duration::from_millis(10));
    }

    env.ok(&["kill", "c1", "KILL"]);
    env.wait_status("c1", "stopped");
    assert_eq!(env.state("c1")["pid"], 0);

    env.ok(&["delete", "c1"]);
    assert!(!alive(pid));
    let err = env.fails(&["state", "c1"]);
    assert!(err.contains("does not exist"), "{err}");
    assert!(env.ids().is_empty(), "state entry left: {:?}", env.ids());
}

/// runtime.md "Start": start of a container that is not created MUST
/// generate an error and have no effect; "Kill" of a stopped one likewise;
/// "Delete" of a running one without --force too.
#[test]
fn verbs_refused_in_the_wrong_state() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    env.create(&b, "c1");
    let err = env.fails(&["delete", "c1"]);
    assert!(err.contains("created"), "{err}");
    env.ok(&["start", "c1"]);
    let err = env.fails(&["start", "c1"]);
    assert!(err.contains("running"), "{err}");
    assert_eq!(env.status("c1"), "running");
    let err = env.fails(&["delete", "c1"]);
    assert!(err.contains("running"), "{err}");
    assert_eq!(env.status("c1"), "running");
    env.ok(&["kill", "c1", "9"]);
    env.wait_status("c1", "stopped");
    let err = env.fails(&["kill", "c1", "KILL"]);
    assert!(err.contains("stopped"), "{err}");
    let err = env.fails(&["start", "c1"]);
    assert!(err.contains("stopped"), "{err}");
    env.ok(&["delete", "c1"]);
}

/// Unknown ids for every verb that takes one.
#[test]
fn unknown_id_is_an_error_for_every_verb() {
    let env = Env::new();
    for args in [
        &["state", "nope"][..],
        &["start", "nope"],
        &["kill", "nope"],
        &["delete", "nope"],
    ] {
        let err = env.fails(args);
        assert!(err.contains("does not exist: nope"), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    }
}

/// `delete --force` kills a running container and removes every trace.
#[test]
fn force_delete_of_running_container() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "sleep 1000 & sleep 1000"], |_| {});
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    let mounts_before = host_mount_count();
    env.ok(&["delete", "--force", "c1"]);
    assert!(!alive(pid), "init {pid} survived delete --force");
    assert!(env.ids().is_empty());
    assert_eq!(host_mount_count(), mounts_before);
    // and a force delete of a missing container succeeds, as in runc
    env.ok(&["delete", "--force", "c1"]);
}

/// config-linux.md "Namespaces" (pid): the container sees only its own
/// processes, and its process is PID 1.
#[test]
fn pid_namespace_shows_only_the_container() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "echo pid=$$; ps -o pid,comm; true"], |_| {});
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pid=1\n"), "{out}");
    let pids: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("PID"))
        .skip(1)
        .collect();
    assert_eq!(pids.len(), 2, "only sh and ps: {out}");
    assert!(pids[0].trim_start().starts_with("1 "), "{out}");
}

/// config.md "Hostname", in its own UTS namespace.
#[test]
fn hostname_is_the_containers() {
    let env = Env::new();
    let b = env.bundle("b", &["hostname"], |c| c["hostname"] = json!("box-under-test"));
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "box-under-test");
    assert_ne!(nix::unistd::gethostname().unwrap().to_string_lossy(), "box-under-test");
}

/// config.md "Root": the container's / is the bundle's rootfs; a file that
/// exists only on the host is not there, and /proc is the container's.
#[test]
fn root_is_switched() {
    let env = Env::new();
    let marker = env.tmp.path().join("host-only-marker");
    std::fs::write(&marker, "x").unwrap();
    let script = format!(
        "test -e {m} && echo marker-visible; echo ns=$(readlink /proc/self/ns/pid); cat /proc/1/comm; ls /",
        m = marker.display()
    );
    let b = env.bundle("b", &["sh", "-c", &script], |_| {});
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("marker-visible"), "{out}");
    let host_ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert!(!out.contains(&format!("ns={}", host_ns.display())), "{out}");
    assert!(
        out.lines().any(|l| l == "sh"),
        "PID 1 of /proc is the container's sh: {out}"
    );
    assert!(out.lines().any(|l| l == "bin"), "{out}");
}

/// config.md "Process": env, cwd (created when missing, as runc does),
/// user uid/gid and additionalGids.
#[test]
fn process_env_cwd_and_user() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &["sh", "-c", "echo foo=$FOO; pwd; id -u; id -g; id -G; echo home=$HOME"],
        |c| {
            c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
            c["process"]["cwd"] = json!("/tmp/work/dir");
            c["process"]["user"] = json!({"uid": 65534, "gid": 65534, "additionalGids": [5, 6]});
            // cwd lands in the (shared) rootfs, so keep the rootfs writable
            // only through a tmpfs at /tmp.
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]
            }));
        },
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "foo=bar baz");
    assert_eq!(lines[1], "/tmp/work/dir");
    assert_eq!(lines[2], "65534");
    assert_eq!(lines[3], "65534");
    let groups: Vec<&str> = lines[4].split_whitespace().collect();
    assert!(groups.contains(&"5") && groups.contains(&"6"), "{out}");
    assert_eq!(lines[5], "home=/home", "HOME from the container's /etc/passwd");
}

/// `run` returns the process's exit code, and 128+N for signal N.
#[test]
fn run_exit_codes() {
    let env = Env::new();
    for (script, want) in [("exit 0", 0), ("exit 3", 3)] {
        let b = env.bundle("b", &["sh", "-c", script], |_| {});
        let (code, _, err) = env.run(&b, "c1");
        assert_eq!(code, want, "{script}: {err}");
        assert!(env.ids().is_empty(), "run deletes the container afterwards");
    }
}

/// A process killed by signal 9 makes `run` exit with 128+9. (PID 1 of a
/// namespace cannot SIGKILL itself, so the kill comes from outside.)
#[test]
fn run_exit_code_of_a_killed_process() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    let mut child = env
        .cmd()
        .args(["run", "--bundle"])
        .arg(&b)
        .arg("c1")
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.exec(&["state", "c1"]).stdout.is_empty() || env.status("c1") != "running" {
        assert!(Instant::now() < deadline, "container never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    env.ok(&["kill", "c1", "KILL"]);
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert!(env.ids().is_empty(), "run deletes the container afterwards");
}

/// `run` forwards SIGTERM to the container's process.
#[test]
fn run_forwards_signals() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done",
        ],
        |_| {},
    );
    let out_path = env.tmp.path().join("run.out");
    let mut child = env
        .cmd()
        .args(["run", "--bundle"])
        .arg(&b)
        .arg("c1")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&out_path).unwrap().contains("ready") {
        assert!(Instant::now() < deadline, "container never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(42));
}

/// `--pid-file` holds the container process's pid once `create` returns.
#[test]
fn pid_file_is_written() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    let pid_file = env.tmp.path().join("c1.pid");
    let (status, err) = env.try_create(&b, "c1", &["--pid-file", pid_file.to_str().unwrap()]);
    assert!(status.success(), "{err}");
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert_eq!(env.state("c1")["pid"].as_i64(), Some(pid));
    env.ok(&["delete", "--force", "c1"]);
}

/// runtime.md "Create": an id that is not unique MUST generate an error.
/// Two concurrent creates of one id: exactly one wins.
#[test]
fn concurrent_create_of_one_id() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    let results = std::thread::scope(|scope| {
        let a = scope.spawn(|| env.try_create(&b, "same", &[]));
        let b2 = scope.spawn(|| env.try_create(&b, "same", &[]));
        [a.join().unwrap(), b2.join().unwrap()]
    });
    let wins = results.iter().filter(|(status, _)| status.success()).count();
    assert_eq!(wins, 1, "{results:?}");
    let loser = results.iter().find(|(status, _)| !status.success()).unwrap();
    assert!(loser.1.contains("exists"), "{}", loser.1);
    assert_eq!(env.status("same"), "created");
    env.ok(&["delete", "--force", "same"]);
}

/// Invalid ids never create anything, and cannot name a path.
#[test]
fn invalid_ids_are_refused() {
    let env = Env::new();
    let b = env.bundle("b", &["true"], |_| {});
    for id in ["../x", "a/b", "", ".hidden", "/abs"] {
        let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), id]);
        assert!(err.contains("invalid container id"), "{id:?}: {err}");
    }
    assert!(env.ids().is_empty());
    assert!(!env.tmp.path().join("x").exists());
}

/// Every bad bundle: a one-line error naming the file or field, a non-zero
/// exit, and nothing left behind (runtime.md "Errors": as if the operation
/// were never attempted).
#[test]
fn bad_bundles_are_rejected_cleanly() {
    let env = Env::new();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "bad-version",
            Box::new(|c| c["ociVersion"] = json!("2.0.0")),
            "ociVersion",
        ),
        (
            "no-process",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("process"))),
            "process",
        ),
        (
            "empty-args",
            Box::new(|c| c["process"]["args"] = json!([])),
            "process.args",
        ),
        (
            "missing-binary",
            Box::new(|c| c["process"]["args"] = json!(["no-such-tool"])),
            "no-such-tool",
        ),
        (
            "missing-path",
            Box::new(|c| c["process"]["args"] = json!(["/bin/nope"])),
            "/bin/nope",
        ),
        (
            "relative-cwd",
            Box::new(|c| c["process"]["cwd"] = json!("tmp")),
            "process.cwd",
        ),
        (
            "bad-type",
            Box::new(|c| c["process"]["user"]["uid"] = json!("root")),
            "config.json:",
        ),
        (
            "no-root",
            Box::new(|c| c["root"]["path"] = json!("/nonexistent/rootfs")),
            "root.path",
        ),
        (
            "dup-rlimit",
            Box::new(|c| {
                c["process"]["rlimits"] = json!([
                    {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10},
                    {"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20}
                ])
            }),
            "listed twice",
        ),
        (
            "no-mount-ns",
            Box::new(|c| c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "uts"}])),
            "mount namespace",
        ),
        (
            "dup-ns",
            Box::new(|c| c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "mount"}])),
            "twice",
        ),
    ];
    let mounts_before = host_mount_count();
    for (name, edit, needle) in cases {
        let b = env.bundle(name, &["true"], |c| edit(c));
        let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), name]);
        assert!(err.contains(needle), "{name}: {err}");
        let errors = err.lines().filter(|l| l.contains("level=error")).count();
        assert_eq!(errors, 1, "{name}: one error line: {err}");
        assert!(env.ids().is_empty(), "{name} left state {:?}", env.ids());
        env.fails(&["state", name]);
    }
    assert_eq!(host_mount_count(), mounts_before);

    // malformed JSON: line and column
    let b = env.tmp.path().join("malformed");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("config.json"), "{\n  \"ociVersion\": \"1.0.0\",\n  oops\n}").unwrap();
    let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), "m"]);
    assert!(err.contains("config.json:3:3:"), "{err}");
    // missing bundle directory, and missing config.json
    let err = env.fails(&["create", "--bundle", "/nonexistent-bundle", "m"]);
    assert!(err.contains("/nonexistent-bundle"), "{err}");
    let empty = env.tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = env.fails(&["create", "--bundle", empty.to_str().unwrap(), "m"]);
    assert!(err.contains("config.json"), "{err}");
    assert!(env.ids().is_empty());
}

/// A failure inside the init (here: a bind source that does not exist) is
/// reported with its step and path, and the init is gone afterwards.
#[test]
fn init_failure_is_reported_and_cleaned_up() {
    let env = Env::new();
    let b = env.bundle("b", &["true"], |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "bind", "source": "/nonexistent-source", "options": ["rbind"]
        }));
    });
    // The init inherits the runtime's environment: tag it to find it.
    let tag = format!("MC_TEST_TAG=init-failure-{}", std::process::id());
    let out = env
        .cmd()
        .env("MC_TEST_TAG", &tag[12..])
        .args(["create", "--bundle", b.to_str().unwrap(), "c1"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent-source") && err.contains("/mnt"), "{err}");
    assert!(env.ids().is_empty());
    assert!(tagged_processes(&tag).is_empty(), "no init left running");
}

/// `create` a container, then check from outside that after `delete` no
/// process, mount or state entry of it remains.
#[test]
fn nothing_remains_after_delete() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    let mounts_before = host_mount_count();
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    // The container's mounts live in its own mount namespace, not ours.
    assert_eq!(host_mount_count(), mounts_before);
    let their_mnt = std::fs::metadata(format!("/proc/{pid}/ns/mnt")).unwrap().ino();
    let our_mnt = std::fs::metadata("/proc/self/ns/mnt").unwrap().ino();
    assert_ne!(their_mnt, our_mnt);
    env.ok(&["kill", "c1", "KILL"]);
    env.wait_status("c1", "stopped");
    env.ok(&["delete", "c1"]);
    assert!(!alive(pid));
    assert_eq!(host_mount_count(), mounts_before);
    assert!(!env.root.join("c1").exists());
}

/// `spec` writes runc's default config and refuses to overwrite it.
#[test]
fn spec_writes_default_config_once() {
    let env = Env::new();
    let dir = env.tmp.path().join("spec");
    std::fs::create_dir_all(&dir).unwrap();
    env.ok(&["spec", "--bundle", dir.to_str().unwrap()]);
    let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], json!(["sh"]));
    assert_eq!(config["root"]["path"], "rootfs");
    assert_eq!(config["linux"]["namespaces"].as_array().unwrap().len(), 5);
    let err = env.fails(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert!(err.contains("exists"), "{err}");
}

/// `list` as a table, ids only, and JSON.
#[test]
fn list_formats() {
    let env = Env::new();
    assert_eq!(env.ok(&["list", "--format", "json"]).trim(), "null");
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    env.create(&b, "c1");
    env.create(&b, "c2");
    let table = env.ok(&["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID          PID         STATUS"), "{table}");
    assert!(lines[1].starts_with("c1 ") && lines[1].contains("created"), "{table}");
    assert_eq!(env.ok(&["list", "-q"]), "c1\nc2\n");
    let json: Value = serde_json::from_str(&env.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["status"], "created");
    assert_eq!(json[1]["id"], "c2");
}

/// `creating` while the creator holds the lock; and a state left by a `create` that died mid-way (status "creating", nobody
/// holding the lock) reads as stopped and is removed by `delete --force`.
#[test]
fn abandoned_create_reads_stopped_and_force_deletes() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    env.create(&b, "c1");
    let state_file = env.root.join("c1/state.json");
    let mut stored: Value = serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    let pid = stored["pid"].as_i64().unwrap();
    stored["status"] = json!("creating");
    std::fs::write(&state_file, stored.to_string()).unwrap();
    // While a `create` holds the container's lock, it reads "creating"
    // (runtime.md "State"); here the test plays that `create`.
    let dir = std::fs::File::open(env.root.join("c1")).unwrap();
    let lock = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive).unwrap();
    assert_eq!(env.status("c1"), "creating");
    drop(lock);
    assert_eq!(env.status("c1"), "stopped");
    env.ok(&["delete", "--force", "c1"]);
    assert!(!alive(pid), "the abandoned init is killed too");
    assert!(env.ids().is_empty());
}

fn host_mount_count() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count()
}

/// Live processes whose environment holds `tag` (`NAME=value`).
fn tagged_processes(tag: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid: &i32| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == tag.as_bytes()))
                && alive(i64::from(*pid))
        })
        .collect()
}

/// config.md "Linux process" capabilities: the sets are exactly the
/// config's, so root in the container cannot mount (no CAP_SYS_ADMIN).
#[test]
fn capabilities_are_applied() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "grep -E '^Cap(Bnd|Eff|Prm)' /proc/self/status; mount -t tmpfs none /tmp || echo mount-refused",
        ],
        |_| {},
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29)
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert!(out.contains(&format!("{set}:\t0000000020000420")), "{set}: {out}");
    }
    assert!(out.contains("mount-refused"), "{out}");
}

/// Ambient capabilities survive the switch to a non-root user.
#[test]
fn ambient_capabilities_for_a_non_root_user() {
    let env = Env::new();
    let b = env.bundle("b", &["grep", "-E", "^Cap(Amb|Eff|Inh)", "/proc/self/status"], |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        let set = json!(["CAP_NET_BIND_SERVICE"]);
        c["process"]["capabilities"] = json!({
            "bounding": set, "effective": set, "permitted": set, "inheritable": set, "ambient": set
        });
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    for set in ["CapAmb", "CapEff", "CapInh"] {
        assert!(out.contains(&format!("{set}:\t0000000000000400")), "{set}: {out}");
    }
}

/// `run --detach` returns once the container runs, leaving it running.
#[test]
fn run_detached() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    assert!(env
        .quiet(&["run", "-d", "--bundle", b.to_str().unwrap(), "c1"])
        .success());
    assert_eq!(env.status("c1"), "running");
    env.ok(&["delete", "--force", "c1"]);
}

/// `--log FILE --log-format json` writes the JSON lines containerd's shim
/// parses (`level`, `msg`, `time`), and the error still reaches stderr.
#[test]
fn json_log_lines() {
    let env = Env::new();
    let log = env.tmp.path().join("log.json");
    let out = env
        .cmd()
        .args(["--log", log.to_str().unwrap(), "--log-format", "json", "state", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let text = std::fs::read_to_string(&log).unwrap();
    let line: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("does not exist: nope"));
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}

/// `--debug` logs how long each phase of `run` took (issue 10), and inside
/// `init_setup` each step of the init: its exec, the namespaces, the
/// mounts, pivot_root… The steps lie inside the phase (the first counts
/// from the runtime's go), so they add up to no more than it.
#[test]
fn debug_logs_phase_and_init_step_timings() {
    let env = Env::new();
    let b = env.bundle("b", &["true"], |_| {});
    let log = env.tmp.path().join("debug.log");
    env.ok(&[
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "t1",
    ]);
    let text = std::fs::read_to_string(&log).unwrap();
    let took = |phase: &str| -> f64 {
        let key = format!("phase {phase} took ");
        let line = text
            .lines()
            .find(|l| l.contains(&key))
            .unwrap_or_else(|| panic!("no {key:?} in the debug log:\n{text}"));
        let rest = &line[line.find(&key).unwrap() + key.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    for phase in ["load_config", "spawn_init", "cgroups", "start", "delete"] {
        assert!(took(phase) > 0.0, "{phase} took no time:\n{text}");
    }
    let steps = [
        "exec",
        "bootstrap",
        "namespaces",
        "lo_hostname_oom",
        "mounts",
        "create_hooks",
        "pivot_root_and_masks",
        "prepare_exec",
    ];
    let sum: f64 = steps.iter().map(|s| took(&format!("init_setup.{s}"))).sum();
    assert!(
        sum > 0.0 && sum <= took("init_setup"),
        "steps {sum} ms, phase {} ms:\n{text}",
        took("init_setup")
    );
    // `run` starts at once: the init keeps its pages (no shed_pages step);
    // after `create` it may wait long, and sheds them.
    assert!(!text.contains("shed_pages"), "{text}");
    let log = env.tmp.path().join("create.log");
    let log_path = log.to_str().unwrap();
    assert!(env
        .quiet(&[
            "--debug",
            "--log",
            log_path,
            "create",
            "--bundle",
            b.to_str().unwrap(),
            "t2"
        ])
        .success());
    env.ok(&["delete", "--force", "t2"]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("phase init_setup.shed_pages took "), "{text}");
}

/// `kill --all` signals every process of the container, not only PID 1.
#[test]
fn kill_all_reaches_every_process() {
    let env = Env::new();
    // PID 1 ignores TERM (no handler, namespace init); its children do not.
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "sleep 1000 & sleep 1000 & wait; echo children-gone; sleep 1000",
        ],
        |_| {},
    );
    let out = env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    while children_of(pid) < 2 {
        assert!(Instant::now() < deadline, "children never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    env.ok(&["kill", "--all", "c1", "TERM"]);
    while !std::fs::read_to_string(&out).unwrap().contains("children-gone") {
        assert!(Instant::now() < deadline, "kill --all did not reach the children");
        std::thread::sleep(Duration::from_millis(20));
    }
    env.ok(&["delete", "--force", "c1"]);
}

fn children_of(pid: i64) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|c| c.split_whitespace().count())
        .unwrap_or(0)
}

/// `check`: every problem of a bundle, one line each naming the field,
/// nothing created; the spec's own bad-config samples are all refused.
#[test]
fn check_reports_every_problem() {
    let env = Env::new();
    let good = env.bundle("good", &["true"], |_| {});
    assert!(env
        .ok(&["check", "--bundle", good.to_str().unwrap()])
        .ends_with(": ok\n"));
    let bad = env.bundle("bad", &["true"], |c| {
        c["ociVersion"] = json!("2.0.0");
        c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "mount"}]);
        c["linux"]["sysctl"] = json!({"vm.swappiness": "1"});
    });
    let out = env
        .cmd()
        .args(["check", "--bundle", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for field in ["ociVersion", "linux.namespaces", "linux.sysctl", "hostname"] {
        assert!(
            text.contains(&format!("config.json: {field}: ")),
            "{field} missing from:\n{text}"
        );
    }
    assert!(env.ids().is_empty());
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/oci-runtime-spec/schema/test/config/bad");
    let Ok(entries) = std::fs::read_dir(&samples) else {
        eprintln!("no spec samples at {}", samples.display());
        return;
    };
    for entry in entries.flatten() {
        let dir = env
            .tmp
            .path()
            .join(format!("sample-{}", entry.file_name().to_string_lossy()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        std::fs::copy(entry.path(), dir.join("config.json")).unwrap();
        let out = env
            .cmd()
            .args(["check", "--bundle", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{} accepted", entry.path().display());
    }
}
