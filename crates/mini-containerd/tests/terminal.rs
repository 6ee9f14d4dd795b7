//! Terminals: runc's console-socket protocol, driven the way containerd's
//! shim drives it — a listening socket that receives the pty master.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use common::Env;
use serde_json::json;

/// Accept one connection on `listener` and receive the fd it sends.
fn receive_master(listener: UnixListener) -> std::thread::JoinHandle<OwnedFd> {
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        runtime::console::recv_fd(conn.as_raw_fd()).unwrap()
    })
}

/// Read from the pty master until `needle` shows up (or time runs out).
fn read_until(master: &mut std::fs::File, seen: &mut String, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    while !seen.contains(needle) {
        assert!(Instant::now() < deadline, "never saw {needle:?}; saw {seen:?}");
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(master),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)).unwrap() == 0 {
            continue;
        }
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(seen.contains(needle), "never saw {needle:?}; saw {seen:?}");
}

/// config.md `process.terminal` and `consoleSize`: the master arrives over
/// the console socket; inside, stdio is a pty of the container's devpts with
/// the configured size, /dev/console is it, and ^C typed on it is SIGINT.
#[test]
fn console_socket_terminal() {
    let env = Env::new();
    let sock = env.tmp.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = receive_master(listener);
    let script = "tty; stty size; test -c /dev/console && echo console-ok; \
                  trap 'echo got-INT; exit 5' INT; echo ready; while :; do sleep 0.1; done";
    let b = env.bundle("b", &["sh", "-c", script], |c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    });
    let (status, err) = env.try_create(&b, "c1", &["--console-socket", sock.to_str().unwrap()]);
    assert!(status.success(), "{err}");
    let mut master = std::fs::File::from(receiver.join().unwrap());
    env.ok(&["start", "c1"]);
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "ready");
    assert!(seen.contains("/dev/pts/"), "{seen}");
    assert!(seen.contains("30 100"), "{seen}");
    assert!(seen.contains("console-ok"), "{seen}");
    master.write_all(b"\x03").unwrap();
    read_until(&mut master, &mut seen, "got-INT");
    env.wait_status("c1", "stopped");
}

/// A terminal without a console socket: `create` cannot hand it to
/// anyone and refuses, leaving nothing behind.
#[test]
fn terminal_without_console_socket_is_refused_by_create() {
    let env = Env::new();
    let b = env.bundle("b", &["true"], |c| c["process"]["terminal"] = json!(true));
    let (status, err) = env.try_create(&b, "c1", &[]);
    assert!(!status.success());
    assert!(err.contains("--console-socket"), "{err}");
    assert!(env.ids().is_empty());
}

/// `run` with a terminal and no console socket proxies the pty to its own
/// stdio (here pipes, so no raw mode), as runc does.
#[test]
fn run_proxies_the_terminal() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "tty; exit 4"], |c| {
        c["process"]["terminal"] = json!(true)
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 4, "{err}");
    assert!(out.contains("/dev/pts/0"), "{out}");
}

/// `exec --tty --console-socket`: the exec'd process gets its own pty.
#[test]
fn exec_with_a_terminal() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    env.create(&b, "c1");
    env.ok(&["start", "c1"]);
    let sock = env.tmp.path().join("exec.sock");
    let receiver = receive_master(UnixListener::bind(&sock).unwrap());
    let mut child = env
        .cmd()
        .args([
            "exec",
            "--tty",
            "--console-socket",
            sock.to_str().unwrap(),
            "c1",
            "sh",
            "-c",
            "tty; read x; echo got-$x; exit 3",
        ])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(receiver.join().unwrap());
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "/dev/pts/");
    master.write_all(b"hello\r").unwrap();
    read_until(&mut master, &mut seen, "got-hello");
    assert_eq!(child.wait().unwrap().code(), Some(3));
}
