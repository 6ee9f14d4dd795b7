//! Attacks on the runtime itself, each written the way the exploit works.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use common::Env;

/// CVE-2019-5736: hold `/proc/<init>/exe` while the init waits, let it exec
/// the user's program, then try to open what we hold for writing. Were the
/// init running from the host binary, that open would succeed and let the
/// container overwrite the runtime. It runs from a read-only view of the
/// binary (EROFS) or, where that is unavailable, a sealed memfd (EPERM).
#[test]
fn init_binary_cannot_be_rewritten_through_proc_exe() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    env.create(&b, "c1");
    let pid = env.state("c1")["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    let held = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(&exe)
        .unwrap();
    env.ok(&["start", "c1"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim() != "sleep" {
        assert!(std::time::Instant::now() < deadline, "the init never exec'd");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Now nothing executes the held file any more (no ETXTBSY to hide
    // behind). The exploit opens it for writing and writes; we write the
    // ELF magic's first byte over itself, so that even if the defence were
    // missing nothing would actually change on disk.
    let path = format!("/proc/self/fd/{}", held.as_raw_fd());
    let st = nix::sys::statvfs::fstatvfs(&held).unwrap();
    if st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        // a read-only view of the binary (the preferred defence): no open
        // for writing can succeed, whatever else runs the binary
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect_err("writable");
        assert!(
            [libc::EROFS, libc::ETXTBSY].contains(&err.raw_os_error().unwrap()),
            "{err}"
        );
    } else {
        // a sealed memfd copy (the fallback): opens, but no write lands
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let err = f
            .write_at(b"\x7f", 0)
            .expect_err("the init's binary must not be writable");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    }
    env.ok(&["delete", "--force", "c1"]);
}

/// CVE-2024-21626: no fd of the runtime reaches the container's process —
/// only stdio. (The test harness itself holds extra fds open while it runs
/// the runtime, which inherits them.)
#[test]
fn no_runtime_fd_leaks_into_the_container() {
    let env = Env::new();
    // The caller holds host directories open without close-on-exec (as a
    // shell's `exec 7</dir` does); the runtime itself opens the state
    // directory, the rootfs, cgroup directories and the exec FIFO.
    let held = "exec 7</sys/fs/cgroup 8</etc 9</;";
    let fds_inside = |out: &str| {
        let mut fds: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        fds.sort();
        fds
    };
    // create + start, through `run`
    let b = env.bundle("b", &["ls", "/proc/self/fd"], |_| {});
    let cmd = format!(
        "{held} exec {} --root {} run --bundle {} c1",
        common::bin(),
        env.root.display(),
        b.display()
    );
    let out = std::process::Command::new("sh").args(["-c", &cmd]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // 0-2, plus the fd `ls` itself opened on /proc/self/fd
    assert_eq!(fds_inside(&stdout), ["0", "1", "2", "3"], "run: {stdout}");

    // exec into a running container
    let b = env.bundle("b2", &["sleep", "1000"], |_| {});
    // created and started by a caller holding the fds too
    let cmd = format!(
        "{held} {bin} --root {root} create --bundle {b} c2 </dev/null >/dev/null 2>&1 && {bin} --root {root} start c2",
        bin = common::bin(),
        root = env.root.display(),
        b = b.display()
    );
    let out = std::process::Command::new("sh").args(["-c", &cmd]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cmd = format!(
        "{held} exec {} --root {} exec c2 ls /proc/self/fd",
        common::bin(),
        env.root.display()
    );
    let out = std::process::Command::new("sh").args(["-c", &cmd]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fds_inside(&stdout), ["0", "1", "2", "3"], "exec: {stdout}");

    // and the container's PID 1 itself, after start
    let pid = env.state("c2")["pid"].as_i64().unwrap();
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"], "PID 1 holds more than stdio");
}

/// A rootfs of our own to plant things in, with the applets these tests run.
fn private_rootfs(env: &Env) -> std::path::PathBuf {
    env.private_rootfs(&["sh", "ls", "cat", "test", "grep", "sleep", "true"])
}

/// CVE-2021-30465 class: a symlink in the rootfs pointing at the host's
/// root must not carry a mount destination out of the container.
#[test]
fn mount_destination_symlink_stays_inside() {
    let env = Env::new();
    // A private rootfs copy we may plant a symlink in: the BusyBox binary
    // and a link `escape -> /../../../../tmp/<unique>` (absolute, with dotdots).
    let rootfs = private_rootfs(&env);
    let host_dir = env.tmp.path().join("host-target");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::os::unix::fs::symlink(format!("/../../../..{}", host_dir.display()), rootfs.join("escape")).unwrap();
    let b = env.bundle("b", &["sh", "-c", "ls /escape >/dev/null && echo ok"], |c| {
        c["root"]["path"] = serde_json::json!(rootfs.display().to_string());
        c["root"]["readonly"] = serde_json::json!(false);
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/escape", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]
        }));
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok"), "{out}");
    // The tmpfs went inside the rootfs (where the link resolves when `/` is
    // the rootfs), never onto the host directory.
    assert!(rootfs.join(host_dir.strip_prefix("/").unwrap()).is_dir());
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host_mounts.contains(host_dir.to_str().unwrap()),
        "mounted on the host!"
    );
}

/// CVE-2025-52565 class: the image's /dev/console is a symlink (here to a
/// file of the rootfs; in the exploit, to a /proc file that masking was
/// meant to protect). Binding the terminal "on /dev/console" by path would
/// follow it and mount the pty over the link's target. The runtime refuses,
/// says why, and leaves nothing behind.
#[test]
fn dev_console_symlink_is_refused() {
    use std::os::unix::net::UnixListener;
    let env = Env::new();
    let rootfs = private_rootfs(&env);
    std::fs::create_dir_all(rootfs.join("dev")).unwrap();
    std::fs::write(rootfs.join("victim"), "untouched\n").unwrap();
    std::os::unix::fs::symlink("/victim", rootfs.join("dev/console")).unwrap();
    let b = env.bundle("b", &["sh", "-c", "cat /victim"], |c| {
        c["root"]["path"] = serde_json::json!(rootfs.display().to_string());
        c["root"]["readonly"] = serde_json::json!(false);
        c["process"]["terminal"] = serde_json::json!(true);
        // No tmpfs on /dev: the image's /dev, with its planted link, stays.
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev");
    });
    let sock = env.tmp.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    // The runtime connects before it spawns the init; a master arrives only
    // if the init got as far as sending one.
    // Non-blocking, with a deadline: a create that fails before it connects
    // must not hang the test.
    listener.set_nonblocking(true).unwrap();
    let receiver = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match listener.accept() {
                Ok((conn, _)) => {
                    conn.set_nonblocking(false).unwrap();
                    return runtime::console::recv_fd(conn.as_raw_fd()).ok();
                }
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(_) => return None,
            }
        }
    });
    let (status, err) = env.try_create(&b, "c1", &["--console-socket", sock.to_str().unwrap()]);
    assert!(!status.success(), "create followed the /dev/console symlink");
    assert!(err.contains("/dev/console is a symlink"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(receiver.join().unwrap().is_none());
    assert!(env.ids().is_empty(), "state left behind: {:?}", env.ids());
}

/// CVE-2021-30465 itself, as a race: while `create` runs, the host swaps a
/// bind mount's destination between a directory and a symlink to a host
/// directory, as fast as it can (renameat2 RENAME_EXCHANGE). A runtime that
/// checks the path and then mounts on it by name loses that race now and
/// then, and mounts onto the host directory. The runtime resolves the
/// destination once, inside the rootfs, and mounts on that fd. A
/// createContainer hook (in the container's mount namespace, before
/// pivot_root) records any mount that landed on the host directory.
#[test]
fn mount_destination_swapped_during_create_stays_inside() {
    use nix::fcntl::{renameat2, RenameFlags};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    const ROUNDS: usize = 40;

    let env = Env::new();
    let rootfs = private_rootfs(&env);
    let outside = env.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // Read inside the rootfs, the link names this directory: let it exist,
    // so the mount lands somewhere either way.
    std::fs::create_dir_all(rootfs.join(outside.strip_prefix("/").unwrap())).unwrap();
    std::fs::create_dir_all(rootfs.join("race/dst")).unwrap();
    std::os::unix::fs::symlink(&outside, rootfs.join("race/alt")).unwrap();
    let volume = env.tmp.path().join("volume");
    std::fs::create_dir_all(&volume).unwrap();
    let log = env.tmp.path().join("escapes.log");
    let script = format!(
        "grep -F ' {} ' /proc/self/mountinfo >> {}; exit 0",
        outside.display(),
        log.display()
    );
    let b = env.bundle("b", &["true"], |c| {
        c["root"]["path"] = serde_json::json!(rootfs.display().to_string());
        c["root"]["readonly"] = serde_json::json!(false);
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/race/dst", "type": "bind", "source": volume.display().to_string(), "options": ["rbind"]
        }));
        c["hooks"]["createContainer"] = serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}]);
    });

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let racer = {
        let (stop, swaps) = (stop.clone(), swaps.clone());
        let (dst, alt) = (rootfs.join("race/dst"), rootfs.join("race/alt"));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if renameat2(None, &dst, None, &alt, RenameFlags::RENAME_EXCHANGE).is_err() {
                    break;
                }
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let (mut created, mut refused) = (0, Vec::new());
    for round in 0..ROUNDS {
        let id = format!("race{round}");
        let (status, err) = env.try_create(&b, &id, &[]);
        if status.success() {
            created += 1;
            env.ok(&["delete", "--force", &id]);
        } else {
            // Losing the race may also mean a clear refusal.
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(err.contains("race/"), "{err}");
            refused.push(err);
        }
        assert!(env.ids().is_empty(), "round {round} left {:?}", env.ids());
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();

    let escapes = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(escapes.is_empty(), "mounted on the host directory:\n{escapes}");
    assert!(created > 0, "no create survived the race: {refused:?}");
    assert!(swaps.load(Ordering::Relaxed) > ROUNDS as u64, "the racer did not run");
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "the host directory changed"
    );
}

/// CVE-2025-31133 class: the image's /dev/null is not the null device — a
/// symlink to a file of the image, or a FIFO (opening it would block the
/// init forever). Masking "with /dev/null" by name would bind the link's
/// target over the masked paths, or hang. The runtime looks at what
/// /dev/null is without opening or following it, and refuses.
#[test]
fn replaced_dev_null_is_refused_for_masking() {
    for planted in ["symlink", "fifo"] {
        let env = Env::new();
        let rootfs = private_rootfs(&env);
        std::fs::create_dir_all(rootfs.join("dev")).unwrap();
        std::fs::write(rootfs.join("victim"), "untouched\n").unwrap();
        match planted {
            "symlink" => std::os::unix::fs::symlink("/victim", rootfs.join("dev/null")).unwrap(),
            _ => nix::unistd::mkfifo(
                &rootfs.join("dev/null"),
                nix::sys::stat::Mode::from_bits_truncate(0o666),
            )
            .unwrap(),
        }
        let b = env.bundle("b", &["true"], |c| {
            c["root"]["path"] = serde_json::json!(rootfs.display().to_string());
            c["root"]["readonly"] = serde_json::json!(false);
            // No tmpfs on /dev: the image's /dev, with what was planted, stays.
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["destination"] != "/dev");
            assert!(c["linux"]["maskedPaths"].as_array().is_some_and(|m| !m.is_empty()));
        });
        let (status, err) = env.try_create(&b, "c1", &[]);
        assert!(!status.success(), "{planted}: masking used the planted /dev/null");
        assert!(
            err.contains("/dev/null in the container is not the null device"),
            "{planted}: {err}"
        );
        assert!(env.ids().is_empty(), "{planted}: state left behind");
        assert_eq!(std::fs::read_to_string(rootfs.join("victim")).unwrap(), "untouched\n");
    }
}

/// CVE-2025-52881 class: /proc/sys is not procfs but a directory of the
/// attacker's (here a bind from the host, as a malicious config or a shared
/// volume could arrange), so "writing a sysctl" would write into it — or,
/// when the file is a FIFO, block the init forever. The runtime opens each
/// sysctl file without following a link and without blocking, checks it is
/// on procfs, and refuses.
#[test]
fn sysctl_write_redirected_off_procfs_is_refused() {
    for planted in ["file", "fifo"] {
        let env = Env::new();
        let fake = env.tmp.path().join("fake-sys");
        std::fs::create_dir_all(fake.join("kernel")).unwrap();
        let target = fake.join("kernel/domainname");
        match planted {
            "file" => std::fs::write(&target, "host-value\n").unwrap(),
            _ => nix::unistd::mkfifo(&target, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap(),
        }
        let b = env.bundle("b", &["true"], |c| {
            c["linux"]["sysctl"] = serde_json::json!({"kernel.domainname": "evil"});
            c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                "destination": "/proc/sys", "type": "bind", "source": fake.display().to_string(), "options": ["rbind"]
            }));
        });
        let err_path = env.tmp.path().join("create.err");
        let mut child = env
            .cmd()
            .args(["create", "--bundle", b.to_str().unwrap(), "c1"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            // A file, not a pipe: a created init would hold a pipe open.
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                env.exec(&["delete", "--force", "c1"]);
                panic!("{planted}: create hung writing the sysctl");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let err = std::fs::read_to_string(&err_path).unwrap();
        assert!(!status.success(), "{planted}: the sysctl was written off procfs");
        assert!(err.contains("linux.sysctl kernel.domainname"), "{planted}: {err}");
        assert!(env.ids().is_empty(), "{planted}: state left behind");
        if planted == "file" {
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "host-value\n");
        }
    }
}

/// CVE-2021-30465's relatives, one path kind each, with the symlink forms
/// the issue lists: a device node under an absolute link with `..`s, a cwd
/// through a relative `..` chain, a masked and a read-only path through
/// absolute links. Each link names a host directory or file; each must be
/// read inside the rootfs (device nodes are made before pivot_root, so
/// only resolving inside the rootfs keeps them off the host; the others
/// are applied after it).
#[test]
fn symlinked_device_cwd_masked_and_readonly_paths_stay_inside() {
    let env = Env::new();
    let rootfs = private_rootfs(&env);
    let host = env.tmp.path().join("host");
    for sub in ["dev", "cwd"] {
        std::fs::create_dir_all(host.join(sub)).unwrap();
        std::fs::create_dir_all(rootfs.join(host.strip_prefix("/").unwrap()).join(sub)).unwrap();
    }
    for file in ["masked", "ro"] {
        std::fs::write(host.join(file), "host\n").unwrap();
        std::fs::write(rootfs.join(host.strip_prefix("/").unwrap()).join(file), "inside\n").unwrap();
    }
    let up = "../".repeat(12);
    let link = |name: &str, target: String| std::os::unix::fs::symlink(target, rootfs.join(name)).unwrap();
    link("devlink", format!("/../../..{}", host.join("dev").display()));
    link(
        "cwdlink",
        format!("{up}{}", host.join("cwd").strip_prefix("/").unwrap().display()),
    );
    link("masklink", format!("/../..{}", host.join("masked").display()));
    link("rolink", format!("/..{}", host.join("ro").display()));
    let script = "test -c /devlink/mynull && echo dev-ok; pwd; cat /masklink; echo end-masked; \
                  cat /rolink; echo x > /rolink || echo ro-ok";
    let b = env.bundle("b", &["sh", "-c", script], |c| {
        c["root"]["path"] = serde_json::json!(rootfs.display().to_string());
        c["root"]["readonly"] = serde_json::json!(false);
        c["process"]["cwd"] = serde_json::json!("/cwdlink");
        c["linux"]["devices"] =
            serde_json::json!([{"path": "/devlink/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 438}]);
        c["linux"]["maskedPaths"] = serde_json::json!(["/masklink"]);
        c["linux"]["readonlyPaths"] = serde_json::json!(["/rolink"]);
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // The cwd is the directory inside the rootfs; the masked file reads
    // empty; the read-only one shows the rootfs's content and refuses writes.
    assert_eq!(
        lines,
        [
            "dev-ok",
            host.join("cwd").to_str().unwrap(),
            "end-masked",
            "inside",
            "ro-ok"
        ],
        "{out}{err}"
    );
    assert!(!host.join("dev/mynull").exists(), "device node made on the host");
    assert!(rootfs.join(host.strip_prefix("/").unwrap()).join("dev/mynull").exists());
    for file in ["masked", "ro"] {
        assert_eq!(std::fs::read_to_string(host.join(file)).unwrap(), "host\n");
    }
}
