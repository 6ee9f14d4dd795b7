//! `mini-containerd exec`, inside: join every namespace of a running
//! container, then fork the new process into its PID namespace.
//!
//! This runs in a freshly exec'd sealed copy of the runtime (never the host
//! binary: processes of the container can see it once it has joined), and
//! the process it forks is made the *runtime's* child with CLONE_PARENT, so
//! `exec` can wait for it and report its exit status.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;

use nix::sched::CloneFlags;

use super::exec;
use crate::process::channel::{self, ExecBootstrap, FromInit};
use crate::sys::{self, CloneResult};

/// Namespaces in the order we join them: the user namespace first (it
/// grants the capabilities the others need), the mount namespace last
/// (after it, the host's /proc is out of reach — which is why every fd
/// is opened before any join).
const ORDER: &[(&str, CloneFlags)] = &[
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

pub fn run(mut sock: UnixStream, boot: ExecBootstrap) -> Result<(), String> {
    let console = super::inherited_fd_if_any(crate::console::CONSOLE_FD_ENV)?;
    let pid = boot.container_pid;
    let mut targets: Vec<(OwnedFd, CloneFlags, &str)> = Vec::new();
    for (name, flag) in ORDER {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let same = match (
            std::fs::metadata(&theirs),
            std::fs::metadata(format!("/proc/self/ns/{name}")),
        ) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            (Err(e), _) => return Err(format!("exec: opening {theirs}: {e}")),
            (_, Err(_)) => false,
        };
        if !same {
            let f = std::fs::File::open(&theirs).map_err(|e| format!("exec: opening {theirs}: {e}"))?;
            targets.push((f.into(), *flag, name));
        }
    }
    for (fd, flag, name) in &targets {
        nix::sched::setns(fd, *flag)
            .map_err(|e| format!("exec: joining the container's {name} namespace: {}", e.desc()))?;
    }
    drop(targets);

    match sys::clone_process(CloneFlags::CLONE_PARENT.bits()) {
        Err(e) => Err(format!("exec: clone into the container: {}", e.desc())),
        Ok(CloneResult::Parent(child)) => {
            channel::send(&mut sock, &FromInit::Spawned(child.as_raw())).map_err(|e| format!("exec: {e}"))
        }
        Ok(CloneResult::Child) => {
            // On success execve closes the channel (it is close-on-exec) and
            // the runtime reads EOF; on failure it reads why.
            let _ = nix::unistd::setsid();
            let terminal = match console {
                Some(socket) => crate::console::setup_in_container(socket, super::console_size(&boot.spec), false),
                None => Ok(()),
            };
            let err = match terminal
                .and_then(|()| {
                    let listener =
                        super::inherited_fd_if_any(super::seccomp::LISTENER_FD_ENV)?.zip(boot.seccomp_state.clone());
                    exec::prepare(&boot.spec, boot.preserve_fds, boot.seccomp.clone(), listener)
                })
                .and_then(exec::finish)
            {
                Ok(()) => "exec returned".to_string(),
                Err(e) => e,
            };
            let _ = channel::send(&mut sock, &FromInit::Failed(err));
            std::process::exit(127)
        }
    }
}
