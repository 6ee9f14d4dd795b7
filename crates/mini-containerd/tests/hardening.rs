//! Regressions from the first code review: each test is the scenario that
//! went wrong.
#![allow(clippy::unwrap_used)]

mod common;

use common::{bin, Env};
use serde_json::json;

/// Run `mini-containerd run` from a shell that first does `prelude` (to
/// hold extra fds open the way a careless caller would).
fn run_via_shell(env: &Env, prelude: &str, extra: &str, bundle: &std::path::Path) -> (i32, String, String) {
    let cmd = format!(
        "{prelude} exec {} --root {} run {extra} --bundle {} c1",
        bin(),
        env.root.display(),
        bundle.display()
    );
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// CVE-2024-21626 through the caller's fds: a cwd of /proc/self/fd/7, with
/// fd 7 a host directory the caller left open, must not put the process on
/// the host.
#[test]
fn cwd_through_a_leaked_fd_is_refused() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &["sh", "-c", "ls ../../../etc/debian_version && echo ON-HOST"],
        |c| {
            c["process"]["cwd"] = json!("/proc/self/fd/7");
        },
    );
    let (code, out, err) = run_via_shell(&env, "exec 7</etc;", "", &b);
    assert!(!out.contains("ON-HOST"), "{out}");
    assert_ne!(code, 0, "{out} {err}");
    assert!(env.ids().is_empty());
}

/// `--preserve-fds N` is the one way an fd crosses: fd 3 reaches the
/// process, fd 4 does not.
#[test]
fn preserve_fds_passes_exactly_n() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &["sh", "-c", "cat <&3; test -e /proc/self/fd/4 && echo FD4-LEAKED; true"],
        |_| {},
    );
    let marker = env.tmp.path().join("marker");
    std::fs::write(&marker, "through-fd-3\n").unwrap();
    let prelude = format!("exec 3<{m} 4<{m};", m = marker.display());
    let (code, out, err) = run_via_shell(&env, &prelude, "--preserve-fds 1", &b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "through-fd-3\n");
}

/// A cgroup mount asked for read-write must not let the container create
/// cgroups in the host's hierarchy (the runtime gives it no cgroup of its
/// own yet, so the mount is always read-only).
#[test]
fn cgroup_mount_cannot_change_the_host() {
    let env = Env::new();
    let name = format!("mc-escape-{}", std::process::id());
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            &format!("mkdir /sys/fs/cgroup/pids/{name} && echo ESCAPED; true"),
        ],
        |c| {
            for m in c["mounts"].as_array_mut().unwrap() {
                if m["type"] == "cgroup" {
                    m["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
                }
            }
        },
    );
    let (code, out, err) = env.run(&b, "c1");
    let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/pids/{name}"));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("ESCAPED"), "{out}");
}

/// The container runs in a session of its own, with default signal
/// dispositions (Rust's ignored SIGPIPE must not leak into it), and its new
/// network namespace has loopback up.
#[test]
fn session_signals_and_loopback() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "read a b c d e f rest < /proc/self/stat; echo sid=$f; grep SigIgn /proc/self/status; ip link show lo",
        ],
        |_| {},
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sid=1\n"), "{out}");
    assert!(out.contains("SigIgn:\t0000000000000000"), "{out}");
    assert!(out.contains(",UP"), "{out}");
}

/// Images often have /etc/resolv.conf as a dangling symlink; engines bind
/// a file onto it. Relative program names start at the cwd. A missing cwd
/// is created even when the root is read-only.
#[test]
fn dangling_symlink_relative_program_and_cwd_on_readonly_root() {
    let env = Env::new();
    let rootfs = env.private_rootfs(&["sh"]);
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::os::unix::fs::symlink("/run/systemd/resolve/stub-resolv.conf", rootfs.join("etc/resolv.conf")).unwrap();
    let resolv = env.tmp.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 192.0.2.53\n").unwrap();
    let b = env.bundle("b", &["./busybox", "sh", "-c", "cat /etc/resolv.conf; pwd"], |c| {
        c["root"]["path"] = json!(rootfs.display().to_string());
        c["root"]["readonly"] = json!(true);
        c["process"]["cwd"] = json!("/bin");
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/etc/resolv.conf", "type": "bind", "source": resolv.display().to_string(),
            "options": ["rbind", "ro"]
        }));
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "nameserver 192.0.2.53\n/bin\n");

    let b = env.bundle("b2", &["pwd"], |c| c["process"]["cwd"] = json!("/new/dir"));
    let (code, out, err) = env.run(&b, "c2");
    // the shared rootfs is read-only in the demo config: the directory
    // must be created before / is remounted, and it stays behind in the
    // rootfs as it does with runc.
    let _ = std::fs::remove_dir(common::rootfs().join("new/dir"));
    let _ = std::fs::remove_dir(common::rootfs().join("new"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "/new/dir\n");
}

/// `list` shows the healthy containers when one entry is broken; `kill
/// --all` of a stopped container succeeds, as the shim expects.
#[test]
fn broken_entry_in_list_and_kill_all_of_stopped() {
    let env = Env::new();
    let b = env.bundle("b", &["true"], |_| {});
    env.create(&b, "ok1");
    std::fs::create_dir_all(env.root.join("junk")).unwrap();
    std::fs::write(env.root.join("junk/state.json"), "{bad").unwrap();
    let out = env.ok(&["list", "-q"]);
    assert!(out.contains("ok1"), "{out}");
    env.ok(&["start", "ok1"]);
    env.wait_status("ok1", "stopped");
    env.ok(&["kill", "--all", "ok1", "KILL"]);
    std::fs::remove_dir_all(env.root.join("junk")).unwrap();
}

/// `--no-pivot` (MS_MOVE + chroot) still gives the container its root.
#[test]
fn no_pivot_runs() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "test -e /bin/busybox && echo in-root"], |_| {});
    let out = env
        .cmd()
        .args(["run", "--no-pivot", "--bundle"])
        .arg(&b)
        .arg("c1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "in-root\n");
}

/// rootfsPropagation "rshared" on a host whose / is shared (systemd hosts;
/// CRI asks for it for bidirectional mounts): the container starts, and
/// none of its mounts appear in the caller's mount namespace.
#[test]
fn rshared_rootfs_propagation_leaks_nothing() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "echo inside-ok"], |c| {
        c["linux"]["rootfsPropagation"] = json!("rshared")
    });
    let rootfs = common::rootfs().canonicalize().unwrap();
    let script = format!(
        "mount --make-rshared / && {} --root {} run --bundle {} c1 && grep -c {} /proc/self/mountinfo; true",
        bin(),
        env.root.display(),
        b.display(),
        rootfs.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout, "inside-ok\n0\n", "{}", String::from_utf8_lossy(&out.stderr));
}

/// A read-only or full `--root`: create fails with a clear error, and
/// leaves no partial state and no process.
#[test]
fn readonly_and_full_state_root() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    for (name, options) in [("ro", "ro,size=1m"), ("full", "size=16k")] {
        let dir = env.tmp.path().join(format!("root-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(ok.success());
        if name == "full" {
            // fill it, leaving no room for a state directory's files
            let _ = std::fs::write(dir.join("filler"), vec![0u8; 64 * 1024]);
        }
        let out = std::process::Command::new(bin())
            .arg("--root")
            .arg(&dir)
            .args(["create", "--bundle", b.to_str().unwrap(), "c1"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "filler")
            .collect();
        let _ = std::process::Command::new("umount").arg(&dir).status();
        assert!(!out.status.success(), "{name}: create succeeded");
        assert!(
            err.contains("Read-only file system") || err.contains("No space left on device"),
            "{name}: {err}"
        );
        assert!(left.is_empty(), "{name}: left {left:?}");
    }
}
