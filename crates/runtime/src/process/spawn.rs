//! Spawning the container's init: `clone` with the PID namespace, then
//! re-execute our own binary as `mini-containerd init`.
//!
//! Why re-exec? The init must run code *inside* the new namespaces (mounts,
//! `pivot_root`), and a freshly exec'd process starts from a clean slate: one
//! thread, no inherited locks or allocator state, nothing of the parent's
//! memory but what we send it over the channel.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::unistd::Pid;

use crate::process::channel::INIT_FD_ENV;
use crate::sys::{self, CloneResult};

/// How to spawn the init.
pub struct InitSpawn {
    /// Namespaces that must be created by `clone` itself: only
    /// `CLONE_NEWPID`, because `unshare(CLONE_NEWPID)` affects children only.
    pub clone_flags: CloneFlags,
    /// A PID namespace to join (`linux.namespaces[].path`): `setns` on a PID
    /// namespace also affects children only, so the runtime joins it just
    /// before cloning.
    pub join_pid_ns: Option<OwnedFd>,
}

/// Clone and exec the init. Returns its pid (in our PID namespace).
///
/// The child end of the channel is the only fd the init inherits besides
/// stdio: everything else the runtime holds is close-on-exec.
pub fn spawn_init(spawn: InitSpawn, child_sock: &UnixStream) -> Result<Pid, String> {
    // Prepare everything that allocates before cloning, so the child only
    // makes syscalls between clone and execve.
    let exe = c"/proc/self/exe";
    let argv = [c"mini-containerd".as_ptr(), c"init".as_ptr(), std::ptr::null()];
    let fd = child_sock.as_raw_fd();
    let env_entry = CString::new(format!("{INIT_FD_ENV}={fd}")).map_err(|e| e.to_string())?;
    let mut envp: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != INIT_FD_ENV)
        .filter_map(|(k, v)| {
            use std::os::unix::ffi::OsStrExt;
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    envp.push(env_entry);

    if let Some(ns) = &spawn.join_pid_ns {
        nix::sched::setns(ns, CloneFlags::CLONE_NEWPID).map_err(|e| format!("joining PID namespace: {}", e.desc()))?;
    }

    match sys::clone_process(spawn.clone_flags.bits()) {
        Err(e) => Err(format!("clone({:?}): {}", spawn.clone_flags, e.desc())),
        Ok(CloneResult::Parent(pid)) => Ok(pid),
        Ok(CloneResult::Child) => {
            // The runtime may block signals (`run` waits for them with
            // sigwait); the mask survives execve, so clear it for the init.
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            let err = sys::clear_cloexec(fd).and_then(|()| sys::execve(exe, &argv, &envp));
            let msg = format!(
                "mini-containerd: exec /proc/self/exe as container init: {}\n",
                err.map_or_else(|e| e.desc(), |_| "returned")
            );
            sys::write_stderr_and_exit(msg.as_bytes(), 127)
        }
    }
}
