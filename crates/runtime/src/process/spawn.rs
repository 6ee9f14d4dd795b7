//! Spawning the container's init: `clone` with the PID namespace, then
//! re-execute our own binary (through a read-only view of it, see
//! [`protected_self`]) as `mini-containerd init`.
//!
//! Why re-exec? The init must run code *inside* the new namespaces (mounts,
//! `pivot_root`), and a freshly exec'd process starts from a clean slate: one
//! thread, no inherited locks or allocator state, nothing of the parent's
//! memory but what we send it over the channel.

use std::ffi::CString;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::unistd::Pid;

use crate::process::channel::{self, FromInit, INIT_FD_ENV};
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
    /// `--preserve-fds N` (plus systemd's LISTEN_FDS): fds 3..3+N pass
    /// through to the container's process unchanged.
    pub preserve_fds: u32,
    /// Fds the init inherits, each named to it by an environment variable:
    /// exec.fifo (`create`), the console socket (`--console-socket`).
    pub inherit: Vec<(String, OwnedFd)>,
}

/// The binary the init runs from: our own, but never writable from inside
/// the container (CVE-2019-5736). Preferably a read-only view of it
/// ([`detached_readonly_self`], or on older kernels [`readonly_self`]: no
/// copy, its pages shared with every other container), else a sealed
/// in-memory copy ([`sealed_self_copy`]).
pub fn protected_self() -> Result<OwnedFd, String> {
    let detached = match detached_readonly_self() {
        Ok(fd) => return Ok(fd),
        Err(why) => why,
    };
    match readonly_self() {
        Ok(fd) => Ok(fd),
        Err(why) => {
            tracing::debug!(
                "read-only view of the runtime binary unavailable ({detached}; {why}); using a sealed copy"
            );
            sealed_self_copy()
        }
    }
}

/// The cheapest read-only view of our binary: `open_tree(OPEN_TREE_CLONE)`
/// makes a detached bind mount of just that file, and `mount_setattr`
/// makes it read-only. No process, no mount namespace: the mount is in no
/// namespace at all and lives only through our fd (and, later, through the
/// init's exe), so nobody can reach it to remount it writable. Writing
/// through `/proc/<init>/exe` fails with EROFS.
pub fn detached_readonly_self() -> Result<OwnedFd, String> {
    // Through the magic link, not its target's name: the file we are
    // running, even if the path was replaced since we started.
    let tree = sys::open_tree_clone(std::path::Path::new("/proc/self/exe"), false)
        .map_err(|e| format!("open_tree /proc/self/exe: {}", e.desc()))?;
    let attr = sys::MountAttr {
        attr_set: crate::init::mount_opts::attr::RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    sys::mount_setattr(tree.as_raw_fd(), &attr, false).map_err(|e| format!("mount_setattr read-only: {}", e.desc()))?;
    Ok(tree)
}

/// An `O_PATH` fd of our binary seen through a read-only bind mount that
/// lives in a throw-away mount namespace.
///
/// A short-lived child unshares its mount namespace, binds the binary onto
/// itself read-only there, opens it and hands us the fd, then exits. The
/// namespace dies with it; the mount lives on only through our fd, so
/// nobody can ever remount it writable, and `/proc/<init>/exe` opened for
/// writing fails with EROFS. Unlike a memfd copy, the pages are the binary's
/// own page cache, shared by every container (about 4 MiB saved per
/// waiting container).
pub fn readonly_self() -> Result<OwnedFd, String> {
    use nix::mount::{mount, MsFlags};
    let exe = std::fs::read_link("/proc/self/exe").map_err(|e| format!("reading /proc/self/exe: {e}"))?;
    let (ours, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    match sys::clone_process(CloneFlags::CLONE_NEWNS.bits()).map_err(|e| format!("clone: {}", e.desc()))? {
        CloneResult::Child => {
            let view = || -> Result<OwnedFd, nix::errno::Errno> {
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_SLAVE | MsFlags::MS_REC,
                    None::<&str>,
                )?;
                mount(Some(&exe), &exe, None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
                mount(
                    None::<&str>,
                    &exe,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                )?;
                sys::openat2(libc::AT_FDCWD, &exe, libc::O_PATH, 0, 0)
            };
            let code = match view() {
                Ok(fd) => i32::from(crate::console::send_fd(theirs.as_raw_fd(), fd.as_raw_fd(), "exe").is_err()),
                Err(_) => 1,
            };
            sys::write_stderr_and_exit(b"", code)
        }
        CloneResult::Parent(child) => {
            drop(theirs);
            let fd = crate::console::recv_fd(ours.as_raw_fd());
            let _ = nix::sys::wait::waitpid(child, None);
            fd
        }
    }
}

/// A sealed, in-memory copy of our own binary, for the init to run from.
///
/// If the init ran from the host's binary, a process in the container could
/// open `/proc/<init>/exe` and, once the init has exec'd away, write through
/// it and replace the runtime on the host (CVE-2019-5736). A memfd sealed
/// against writes, growing and shrinking cannot be changed by anyone, and
/// it lives only as long as something holds it.
pub fn sealed_self_copy() -> Result<OwnedFd, String> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let mut exe = std::fs::File::open("/proc/self/exe")
        .map_err(|e| format!("opening /proc/self/exe (is /proc mounted?): {e}"))?;
    let memfd = memfd_create(
        c"mini-containerd",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(|e| format!("memfd_create: {}", e.desc()))?;
    let mut copy = std::fs::File::from(memfd);
    // std::io::copy uses copy_file_range/sendfile: the bytes stay in the kernel.
    std::io::copy(&mut exe, &mut copy).map_err(|e| format!("copying /proc/self/exe into a memfd: {e}"))?;
    let seals = SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
    fcntl(copy.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals)).map_err(|e| format!("sealing the memfd: {}", e.desc()))?;
    Ok(copy.into())
}

/// How many cgroup files can come with the go byte (one per hierarchy).
const MAX_JOIN_FDS: usize = 32;

/// Release a spawned child: the go byte, carrying (SCM_RIGHTS) the files
/// through which it joins its cgroups ([`crate::cgroups::Cgroup::join_fds`]),
/// and `then` (the child's instructions) behind it in the same stream.
pub fn release(sock: &UnixStream, join: &[OwnedFd], then: &[u8]) -> std::io::Result<()> {
    if join.len() > MAX_JOIN_FDS {
        return Err(std::io::Error::other(format!(
            "{} cgroup hierarchies, at most {MAX_JOIN_FDS}",
            join.len()
        )));
    }
    let fds: Vec<RawFd> = join.iter().map(AsRawFd::as_raw_fd).collect();
    let mut buf = Vec::with_capacity(1 + then.len());
    buf.push(0);
    buf.extend_from_slice(then);
    crate::console::send_fds_with(sock.as_raw_fd(), &fds, &buf)?;
    Ok(())
}

/// [`release`], and `what` failed: when the child went away before taking
/// all of it, because it could not join its cgroups and said so, its reason
/// rather than a broken pipe.
pub fn release_or_why(sock: &mut UnixStream, join: &[OwnedFd], then: &[u8], what: &str) -> Result<(), String> {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
    match release(sock, join, then) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.kind(), BrokenPipe | ConnectionReset) => match channel::recv::<FromInit>(sock) {
            Ok(FromInit::Failed(why)) => Err(why),
            _ => Err(format!("{what}: {e}")),
        },
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// In the child, before its exec: read the go byte and join the cgroups
/// whose files came with it (write "0": this thread, which is the whole
/// process). `Ok(false)`: the runtime is gone.
fn join_on_go(fd: RawFd, space: &mut Vec<u8>) -> Result<bool, String> {
    let mut go = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut go)];
    let msg = match recvmsg::<()>(fd, &mut iov, Some(space), MsgFlags::MSG_CMSG_CLOEXEC) {
        Ok(msg) if msg.bytes == 1 => msg,
        _ => return Ok(false),
    };
    if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
        return Err("joining the cgroups: more files than expected came with the go byte".into());
    }
    let mut received: Vec<OwnedFd> = Vec::new();
    for cmsg in msg.cmsgs().map_err(|e| format!("joining the cgroups: {}", e.desc()))? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel has just installed these fds in our table
            // (SCM_RIGHTS); nothing else refers to them. Dropped, they close.
            received.extend(fds.into_iter().map(|f| unsafe { OwnedFd::from_raw_fd(f) }));
        }
    }
    for f in &received {
        nix::unistd::write(f, b"0").map_err(|e| {
            let path = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())).unwrap_or_default();
            format!("joining the cgroup: writing 0 to {}: {}", path.display(), e.desc())
        })?;
    }
    Ok(true)
}

/// Clone and exec the init. Returns its pid (in our PID namespace).
///
/// The child end of the channel is the only fd the init inherits besides
/// stdio: everything else the runtime holds is close-on-exec.
///
/// `parent_sock` is the runtime's end of the channel: the child closes its
/// copy at once, so that if the runtime dies the child's read sees EOF
/// instead of waiting forever on a socket it holds open itself.
pub fn spawn_init(spawn: InitSpawn, child_sock: &UnixStream, parent_sock: &UnixStream) -> Result<Pid, String> {
    let parent_fd = parent_sock.as_raw_fd();
    // Prepare what allocates before cloning, so the child mostly makes
    // syscalls between clone and execve. (Where it does allocate, reading
    // the cgroup files that come with the go byte or reporting a failure,
    // that is safe: `clone_process` refuses to run with a second thread,
    // so no lock of the allocator can be held in the copy.)
    let exe = protected_self()?;
    let mut cmsg_space = nix::cmsg_space!([RawFd; MAX_JOIN_FDS]);
    let argv = [c"mini-containerd".to_owned(), c"init".to_owned()];
    let fd = child_sock.as_raw_fd();
    let inherited: Vec<i32> = spawn.inherit.iter().map(|(_, f)| f.as_raw_fd()).collect();
    let user_ns = spawn.clone_flags.contains(CloneFlags::CLONE_NEWUSER);
    let preserve = spawn.preserve_fds as i32;
    let env_entry = CString::new(format!("{INIT_FD_ENV}={fd}")).map_err(|e| e.to_string())?;
    let inherit_entries = spawn
        .inherit
        .iter()
        .map(|(var, f)| CString::new(format!("{var}={}", f.as_raw_fd())).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut envp: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != INIT_FD_ENV && !spawn.inherit.iter().any(|(var, _)| k.as_os_str() == var.as_str()))
        .filter_map(|(k, v)| {
            use std::os::unix::ffi::OsStrExt;
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    envp.push(env_entry);
    envp.extend(inherit_entries);

    if let Some(ns) = &spawn.join_pid_ns {
        nix::sched::setns(ns, CloneFlags::CLONE_NEWPID).map_err(|e| format!("joining PID namespace: {}", e.desc()))?;
    }

    match sys::clone_process(spawn.clone_flags.bits()) {
        Err(nix::errno::Errno::EAGAIN) => Err(format!(
            "clone({:?}): {}: a process limit is reached (pids.max of our cgroup, RLIMIT_NPROC or kernel.threads-max)",
            spawn.clone_flags,
            nix::errno::Errno::EAGAIN.desc()
        )),
        Err(e) => Err(format!("clone({:?}): {}", spawn.clone_flags, e.desc())),
        Ok(CloneResult::Parent(pid)) => Ok(pid),
        Ok(CloneResult::Child) => {
            // Wait for the runtime's go-ahead byte: by then it has written
            // our uid/gid maps. Exec'ing earlier, as an unmapped user, would
            // drop every capability we hold in the new user namespace.
            let _ = nix::unistd::close(parent_fd);
            // The cgroups first: nothing of the init's runs outside them.
            match join_on_go(fd, &mut cmsg_space) {
                Ok(true) => {}
                Ok(false) => {
                    sys::write_stderr_and_exit(b"mini-containerd: runtime gone before the init could start\n", 1)
                }
                Err(msg) => {
                    // The runtime reads this instead of `Ready` or `Spawned`.
                    if let Ok(frame) = channel::frame(&FromInit::Failed(msg)) {
                        let _ = nix::unistd::write(child_sock, &frame);
                    }
                    sys::write_stderr_and_exit(b"", 1)
                }
            }
            if user_ns {
                // Become root *of the namespace* (the mapped id), so that
                // execve keeps the namespace's full capability set.
                let _ = nix::unistd::setgroups(&[]);
                let root = (nix::unistd::Gid::from_raw(0), nix::unistd::Uid::from_raw(0));
                if nix::unistd::setresgid(root.0, root.0, root.0)
                    .and_then(|()| nix::unistd::setresuid(root.1, root.1, root.1))
                    .is_err()
                {
                    sys::write_stderr_and_exit(b"mini-containerd: setresuid(0) in the new user namespace failed\n", 1)
                }
            }
            // The runtime may block signals (`run` waits for them with
            // sigwait); the mask survives execve, so clear it for the init.
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            // Only what we mean to pass crosses the exec: every other fd the
            // caller left open (a directory fd could be a way out of the
            // rootfs, CVE-2024-21626) is closed by it.
            let err = sys::cloexec_from(3)
                .and_then(|()| (3..3 + preserve).try_for_each(sys::clear_cloexec))
                .and_then(|()| sys::clear_cloexec(fd))
                .and_then(|()| inherited.iter().try_for_each(|fd| sys::clear_cloexec(*fd)))
                .and_then(|()| sys::execve_fd(&exe, &argv, &envp));
            let msg = format!(
                "mini-containerd: exec of the protected runtime binary as container init: {}\n",
                err.map_or_else(|e| e.desc(), |_| "returned")
            );
            sys::write_stderr_and_exit(msg.as_bytes(), 127)
        }
    }
}
