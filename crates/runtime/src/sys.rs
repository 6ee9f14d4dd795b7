//! The syscall layer: the only module with `unsafe`.
//!
//! Each function is a thin, typed wrapper over a Linux system call that `nix`
//! does not offer in the shape we need. Everything above this module is safe
//! Rust; a reader auditing the runtime's `unsafe` reads this one file.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::unistd::Pid;

/// What `clone_process` returned in the caller.
pub enum CloneResult {
    /// We are the parent; the value is the child's pid.
    Parent(Pid),
    /// We are the child.
    Child,
}

/// `clone(2)` with fork semantics (no new stack: the child runs on a copy of
/// the parent's), plus namespace flags such as `CLONE_NEWPID`.
///
/// `fork()` cannot make the child PID 1 of a new PID namespace: `unshare`
/// only moves *future* children, so we ask the kernel for the namespaces in
/// the same call that creates the process. The child gets `SIGCHLD` as its
/// exit signal so the parent can `waitpid` it like any forked child.
///
/// The caller must be single-threaded, as with `fork`: the child owns a
/// copy of one thread only. That is checked, and refused with EDEADLK.
pub fn clone_process(namespace_flags: libc::c_int) -> Result<CloneResult, Errno> {
    // (Unknown when /proc is another PID namespace's, as after joining a
    // container's mount namespace; those callers are single-threaded.)
    if thread_count().is_some_and(|n| n > 1) {
        // The child would hold a copy of one thread and whatever locks the
        // others held: refuse rather than risk a deadlock after clone.
        return Err(Errno::EDEADLK);
    }
    let flags = (namespace_flags | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: raw clone without CLONE_VM and with a null stack behaves like
    // fork(2): the child gets its own copy-on-write address space, so no
    // memory is shared. The remaining arguments (parent_tid, child_tid, tls)
    // are unused because the matching flags are not set.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(Pid::from_raw(pid as libc::pid_t))),
    }
}

/// Threads of this process, from /proc/self/stat (field 20).
fn thread_count() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(17)?.parse().ok()
}

/// `pidfd_open(2)`: a file descriptor that becomes readable when `pid` exits.
/// Works for processes that are not our children (the container init after
/// `create` has returned), so `start` and `delete` wait without polling.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `pidfd_send_signal(2)`: signal exactly the process the pidfd refers to,
/// immune to pid reuse between our check and the kill.
pub fn pidfd_send_signal(pidfd: &OwnedFd, signal: libc::c_int) -> Result<(), Errno> {
    // SAFETY: a valid pidfd, a signal number, a null siginfo and no flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Have the child of `cmd` mark every fd from 3 up close-on-exec before it
/// execs: fds the runtime inherited without CLOEXEC (`--preserve-fds`,
/// LISTEN_FDS) are meant for the container, not for a helper it runs.
pub fn exec_without_stray_fds(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the forked child before exec; it makes one
    // async-signal-safe syscall and allocates nothing.
    unsafe {
        cmd.pre_exec(|| cloexec_from(3).map_err(std::io::Error::from));
    }
}

/// Mark every fd from `first` upwards close-on-exec, so nothing the runtime
/// holds open leaks into the container's program (CVE-2024-21626).
pub fn cloexec_from(first: RawFd) -> Result<(), Errno> {
    // SAFETY: close_range only changes fd flags; it dereferences no memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Every signal back to its default disposition (SIG_IGN survives execve).
/// The raw syscall, because glibc's wrappers refuse the two real-time
/// signals it reserves for itself (32, 33), which a caller may have ignored.
pub fn reset_signal_dispositions() {
    // The kernel's struct sigaction on x86_64: handler, flags, restorer, mask.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installs SIG_DFL (no handler code of ours runs) from a
        // struct that lives across the call; the old action is not asked for.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: a fresh session keyring.
pub fn join_session_keyring(name: &str) -> Result<(), Errno> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a valid NUL-terminated name for the duration of the call.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    Errno::result(ret).map(drop)
}

/// `pivot_root(2)`, which `nix` exposes only with two paths; we use the
/// `pivot_root(".", ".")` form documented in the man page.
pub fn pivot_root(new_root: &Path, put_old: &Path) -> Result<(), Errno> {
    let new_root = path_cstring(new_root)?;
    let put_old = path_cstring(put_old)?;
    // SAFETY: both pointers are valid NUL-terminated strings for the call.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `openat2(2)` flags that confine path resolution to a directory tree.
pub const RESOLVE_IN_ROOT: u64 = 0x10;
/// Refuse to cross into another mount while resolving.
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(2)` with `RESOLVE_IN_ROOT`: resolve `path` as if `dirfd` were `/`,
/// so `..` and absolute symlinks inside the container's rootfs can never lead
/// out of it (CVE-2021-30465).
pub fn openat2(dirfd: RawFd, path: &Path, flags: i32, mode: u32, resolve: u64) -> Result<OwnedFd, Errno> {
    let path = path_cstring(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: u64::from(mode),
        resolve,
    };
    // With RESOLVE_IN_ROOT the kernel answers EAGAIN when a mount or rename
    // anywhere on the system raced with resolving "..": it cannot vouch for
    // the result, so ask again (bounded).
    let mut tries = 0;
    let ret = loop {
        // SAFETY: `how` lives across the call and its size is passed with
        // it; `path` is a valid NUL-terminated string.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if ret < 0 && Errno::last() == Errno::EAGAIN && tries < 1000 {
            tries += 1;
            continue;
        }
        break ret;
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Clear the close-on-exec flag of one fd we mean to hand to the next program.
pub fn clear_cloexec(fd: RawFd) -> Result<(), Errno> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).map(drop)
}

fn path_cstring(path: &Path) -> Result<CString, Errno> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// NULL-terminated pointer arrays over C strings, for execve-style calls.
/// Built before the call so that the pointers provably outlive it.
fn pointer_array(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// `execve(2)`; returns only on failure.
pub fn execve(path: &std::ffi::CStr, argv: &[CString], envp: &[CString]) -> Result<(), Errno> {
    let (argv, envp) = (pointer_array(argv), pointer_array(envp));
    // SAFETY: `path` is NUL-terminated; `argv` and `envp` are NULL-terminated
    // arrays of pointers into CStrings borrowed for the whole call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Err(Errno::last())
}

/// An anonymous in-memory file (close-on-exec).
pub fn memfd(name: &str) -> Result<std::fs::File, Errno> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    memfd_create(&name, MemFdCreateFlag::MFD_CLOEXEC).map(std::fs::File::from)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`. With
/// SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns the notify fd.
pub fn seccomp_set_filter(insns: &[libc::sock_filter], flags: u32) -> Result<Option<OwnedFd>, Errno> {
    let len = u16::try_from(insns.len()).map_err(|_| Errno::E2BIG)?;
    let prog = libc::sock_fprog {
        len,
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at `len` instructions borrowed for the call; the
    // kernel copies the program and does not keep the pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 == 0 {
        // With TSYNC, a positive value is the thread that could not be
        // synchronised, and no filter was attached: a failure (libseccomp
        // reports it as ESRCH too), never a success.
        if ret > 0 {
            return Err(Errno::ESRCH);
        }
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER the return value is a new fd that we own.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
}

/// CLOCK_MONOTONIC in nanoseconds: the one clock the runtime and the init
/// share, for `--debug`'s timings of the init's steps.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec we own; CLOCK_MONOTONIC
    // always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// `execveat(fd, "", …, AT_EMPTY_PATH)`: execute the file an fd refers to
/// (our sealed memfd copy), not a path. Returns only on failure.
pub fn execve_fd(fd: &OwnedFd, argv: &[CString], envp: &[CString]) -> Result<(), Errno> {
    let (argv, envp) = (pointer_array(argv), pointer_array(envp));
    // SAFETY: an open fd, an empty NUL-terminated path, and NULL-terminated
    // arrays of pointers into CStrings borrowed for the whole call.
    // (A raw syscall: musl's libc has no execveat wrapper.)
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(Errno::last())
}

/// Write a last word to stderr and leave without running destructors or
/// atexit handlers: the right exit for a cloned child whose exec failed.
pub fn write_stderr_and_exit(msg: &[u8], code: i32) -> ! {
    let _ = nix::unistd::write(std::io::stderr(), msg);
    // SAFETY: _exit terminates the process immediately; it never returns.
    unsafe { libc::_exit(code) }
}

/// Take ownership of an fd number inherited across exec (the init's end of
/// the sync channel, named in its environment).
///
/// Returns `EBADF` unless `fd` is open, and refuses stdio.
pub fn adopt_inherited_fd(fd: RawFd) -> Result<OwnedFd, Errno> {
    static ADOPTED: std::sync::Mutex<Vec<RawFd>> = std::sync::Mutex::new(Vec::new());
    if fd < 3 {
        return Err(Errno::EBADF);
    }
    // Two owners of one fd would close it twice: each number once only.
    let mut adopted = ADOPTED.lock().map_err(|_| Errno::EBADF)?;
    if adopted.contains(&fd) {
        return Err(Errno::EBADF);
    }
    adopted.push(fd);
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD)?;
    // SAFETY: the fd is open (checked above), was inherited for exactly this
    // purpose, and nothing else in this freshly exec'd process refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setdomainname(2)`, which `nix` lacks: the NIS domain name of the
/// container's UTS namespace (config.md "Domainname").
pub fn setdomainname(name: &str) -> Result<(), Errno> {
    // SAFETY: the pointer and length describe `name`'s bytes for the call.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}

/// `personality(2)`: the execution domain (`linux.personality`).
pub fn personality(persona: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: personality takes a plain integer and touches no memory.
    let ret = unsafe { libc::personality(persona) };
    Errno::result(ret).map(drop)
}

/// `struct mount_attr` for mount_setattr(2).
#[repr(C)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, attr)`: change the
/// attributes of the mount `fd` is the root of, and of every mount below.
pub fn mount_setattr_recursive(fd: RawFd, attr: &MountAttr) -> Result<(), Errno> {
    // SAFETY: an empty NUL-terminated path, and a valid mount_attr whose
    // size is passed with it; the kernel only reads it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// open_tree(2) and move_mount(2): the same number on every architecture.
const SYS_OPEN_TREE: libc::c_long = 428;
const SYS_MOVE_MOUNT: libc::c_long = 429;

/// `open_tree(path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`:
/// a detached copy of the mount (tree) at `path`, to change and attach.
pub fn open_tree_clone(path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    let path = path_cstring(path)?;
    let recursive = if recursive {
        libc::AT_RECURSIVE as libc::c_uint
    } else {
        0
    };
    open_tree(libc::AT_FDCWD, &path, recursive)
}

/// `open_tree(dirfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | extra)`.
fn open_tree(dirfd: RawFd, path: &std::ffi::CStr, extra: libc::c_uint) -> Result<OwnedFd, Errno> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | extra;
    // SAFETY: a valid NUL-terminated path and plain flags.
    let ret = unsafe { libc::syscall(SYS_OPEN_TREE, dirfd, path.as_ptr(), flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)`:
/// a detached bind mount of exactly the object `fd` refers to, with no path
/// lookup that a swapped symlink could redirect.
pub fn open_tree_clone_fd(fd: &OwnedFd) -> Result<OwnedFd, Errno> {
    open_tree(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH as libc::c_uint)
}

/// `move_mount(tree, "", target, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attach a
/// detached mount onto the object `target` refers to.
pub fn move_mount_onto(tree: &OwnedFd, target: &OwnedFd) -> Result<(), Errno> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: two open fds, two empty NUL-terminated paths, plain flags.
    let ret = unsafe {
        libc::syscall(
            SYS_MOVE_MOUNT,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`.
pub fn mount_setattr(fd: RawFd, attr: &MountAttr, recursive: bool) -> Result<(), Errno> {
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: an empty NUL-terminated path, and a valid mount_attr whose
    // size is passed with it; the kernel only reads it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// `struct sched_attr` (SCHED_ATTR_SIZE_VER0, 48 bytes) for sched_setattr(2).
#[repr(C)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
}

/// `sched_setattr(0, attr, 0)`: the calling thread's scheduling policy.
pub fn sched_setattr_self(attr: &SchedAttr) -> Result<(), Errno> {
    // SAFETY: `attr` is a valid, initialised sched_attr whose `size` field
    // matches its layout; the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) };
    Errno::result(ret).map(drop)
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level)`.
pub fn ioprio_set_self(class: i32, level: i32) -> Result<(), Errno> {
    const IOPRIO_WHO_PROCESS: i32 = 1;
    const IOPRIO_CLASS_SHIFT: i32 = 13;
    // SAFETY: plain integer arguments; no memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            (class << IOPRIO_CLASS_SHIFT) | level,
        )
    };
    Errno::result(ret).map(drop)
}

/// Own the fd of a pty master (nix hands it out as a raw fd).
pub fn owned_from_pty(master: nix::pty::PtyMaster) -> OwnedFd {
    use std::os::fd::IntoRawFd;
    let raw = master.into_raw_fd();
    // SAFETY: into_raw_fd gave up ownership of this open fd to us.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// Own an fd that arrived in an SCM_RIGHTS message.
pub fn take_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed this fd in our table for this message;
    // nothing else refers to it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// TIOCGPTPEER: open the slave of the pty `master` straight from it
/// (`O_RDWR | O_NOCTTY | O_CLOEXEC`), never through a /dev/pts path.
pub fn pty_peer(master: &OwnedFd) -> Result<OwnedFd, Errno> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open(2) flags as an integer; no memory is passed.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret) })
}

/// TIOCSWINSZ: set a terminal's size.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives across the call.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws as *const libc::winsize) };
    Errno::result(ret).map(drop)
}

/// TIOCGWINSZ: a terminal's size as (rows, cols).
pub fn get_winsize(fd: RawFd) -> Result<(u16, u16), Errno> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize struct we own for the call.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws as *mut libc::winsize) };
    Errno::result(ret).map(|_| (ws.ws_row, ws.ws_col))
}

/// TIOCSCTTY: make the terminal on `fd` our controlling terminal.
pub fn set_controlling_tty(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an integer argument; no memory is passed.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) };
    Errno::result(ret).map(drop)
}

/// Bring the loopback interface of our network namespace up (SIOCSIFFLAGS
/// on "lo", as runc does for a new network namespace).
pub fn loopback_up() -> Result<(), Errno> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    // SAFETY: ifreq is plain old data; all-zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills the flags member of the ifreq we own.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req as *mut libc::ifreq) };
    Errno::result(ret)?;
    // SAFETY: the flags member is the one SIOCGIFFLAGS just set.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req as *const libc::ifreq) };
    Errno::result(ret).map(drop)
}

/// `bpf(BPF_PROG_LOAD)` of a BPF_PROG_TYPE_CGROUP_DEVICE program.
pub fn bpf_load_cgroup_device_program(insns: &[crate::cgroups::devices_bpf::Insn]) -> Result<OwnedFd, Errno> {
    const BPF_PROG_LOAD: libc::c_int = 5;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    #[repr(C)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..10].copy_from_slice(b"mc_devices");
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: 0,
    };
    let load = |attr: &ProgLoad| {
        // SAFETY: `attr` points at the instructions, license and log buffer,
        // which outlive the call; the kernel reads size_of::<ProgLoad>() bytes.
        unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_LOAD,
                attr as *const ProgLoad,
                std::mem::size_of::<ProgLoad>(),
            )
        }
    };
    let ret = load(&attr);
    if ret < 0 {
        let errno = Errno::last();
        // Load again with the verifier's log, so the error can say why.
        let mut log = vec![0u8; 64 * 1024];
        let verbose = ProgLoad {
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            ..attr
        };
        let _ = load(&verbose);
        let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).into_owned();
        tracing::warn!(
            "device program refused by the verifier: {}",
            text.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
        );
        return Err(errno);
    }
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `bpf(BPF_PROG_ATTACH)` of a device program to a cgroup directory, with
/// BPF_F_ALLOW_MULTI so nested cgroups may add programs of their own.
pub fn bpf_attach_cgroup_device(cgroup: &OwnedFd, prog: &OwnedFd) -> Result<(), Errno> {
    const BPF_PROG_ATTACH: libc::c_int = 8;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;
    #[repr(C)]
    struct ProgAttach {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
    }
    let attr = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: a plain struct of fds and flags, read by the kernel for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttach,
            std::mem::size_of::<ProgAttach>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// The ranges of `/proc/self/smaps` text that are clean private file
/// mappings: not writable, backed by a file (an inode and a path), and
/// holding no page of their own — `Anonymous: 0 kB` (no copied-on-write page
/// in memory) *and* `Swap: 0 kB` (none swapped out: smaps counts a swapped
/// copy there, not under Anonymous). Fail closed: a mapping whose two lines
/// are missing is not clean. Such a mapping's pages are exactly the file's.
pub fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    // (range, Anonymous seen as 0, Swap seen as 0)
    let mut out = Vec::new();
    let mut candidate: Option<((usize, usize), bool, bool)> = None;
    let mut flush = |c: Option<((usize, usize), bool, bool)>| {
        if let Some((range, true, true)) = c {
            out.push(range);
        }
    };
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-') {
            // A mapping's header: `start-end perms offset dev inode [path]`.
            if let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) {
                flush(candidate.take());
                let perms = words.next().unwrap_or("");
                let inode = words.nth(2).unwrap_or("0");
                let path = words.next().unwrap_or("");
                let clean_kind = perms.len() == 4 && !perms.contains('w') && perms.ends_with('p');
                if clean_kind && inode != "0" && path.starts_with('/') && start < end {
                    candidate = Some(((start, end), false, false));
                }
                continue;
            }
        }
        if let Some((_, anon_zero, swap_zero)) = candidate.as_mut() {
            let zero = words.next() == Some("0");
            match first {
                "Anonymous:" => *anon_zero = zero,
                "Swap:" => *swap_zero = zero,
                _ => continue,
            }
            if !zero {
                candidate = None;
            }
        }
    }
    flush(candidate);
    out
}

/// Drop the pages of our clean file mappings from our page tables
/// (`MADV_DONTNEED`), and give free heap back (`malloc_trim`). The page cache
/// keeps them; whatever we touch later faults back in. For a process that is
/// about to wait a long time (the init in state `created`), and only if it
/// is single-threaded: the mappings are read from our own `/proc/self/smaps`,
/// checked to be on procfs, and nothing may change them in between.
pub fn shed_clean_pages() {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open("/proc/self/smaps") else {
        return;
    };
    let on_procfs =
        nix::sys::statfs::fstatfs(&f).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC);
    let single_thread = std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.count() == 1);
    let mut smaps = String::new();
    if !on_procfs || !single_thread || f.read_to_string(&mut smaps).is_err() {
        return;
    }
    for (start, end) in clean_file_mappings(&smaps) {
        // SAFETY: the kernel itself (procfs, checked above) reports
        // [start, end) as a read-only private file mapping of this
        // single-threaded process with no page of its own in memory or in
        // swap: every page equals the file's, so dropping it loses nothing
        // and the next access reads it back from the file.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
    // SAFETY: malloc_trim only returns free memory of the allocator. (musl's
    // allocator has no such call: it hands freed memory back by itself.)
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// seccomp(2) with TSYNC, when another thread has a filter of its own,
    /// attaches nothing and returns that thread's id: an error, not a
    /// success with no filter. Run in a child process of this test binary,
    /// since it installs filters (allow-all ones).
    #[test]
    fn a_failed_tsync_is_an_error() {
        const CHILD: &str = "MINI_CONTAINERD_TEST_TSYNC_CHILD";
        if std::env::var_os(CHILD).is_none() {
            let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args(["--exact", "sys::tests::a_failed_tsync_is_an_error", "--test-threads=1"])
                .env(CHILD, "1")
                .output()
                .expect("runs");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
            return;
        }
        nix::sys::prctl::set_no_new_privs().expect("no_new_privs");
        let allow = [libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        }];
        let (installed, wait) = std::sync::mpsc::channel();
        let (finish, finished) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            seccomp_set_filter(&allow, 0).expect("a filter of its own");
            installed.send(()).expect("send");
            let _ = finished.recv();
        });
        wait.recv().expect("installed");
        let tsync = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
        assert!(matches!(seccomp_set_filter(&allow, tsync), Err(Errno::ESRCH)));
        let status = std::fs::read_to_string("/proc/thread-self/status").expect("status");
        assert!(status.contains("Seccomp:\t0"), "no filter may be attached: {status}");
        finish.send(()).expect("send");
        other.join().expect("joined");
    }

    #[test]
    fn only_clean_readonly_file_mappings_are_shed() {
        let smaps = "\
55d0c0000000-55d0c0100000 r--p 00000000 fe:00 1234 /usr/bin/x
Rss:                 128 kB
Anonymous:             0 kB
Swap:                  0 kB
55d0c0100000-55d0c0300000 r-xp 00100000 fe:00 1234 /usr/bin/x
Anonymous:             0 kB
Swap:                  0 kB
55d0c0300000-55d0c0310000 r--p 00300000 fe:00 1234 /usr/bin/x
Anonymous:             8 kB
55d0c0310000-55d0c0320000 rw-p 00310000 fe:00 1234 /usr/bin/x
Anonymous:             0 kB
Swap:                  0 kB
55d0c1000000-55d0c1100000 rw-p 00000000 00:00 0 [heap]
Anonymous:           200 kB
7ffd00000000-7ffd00002000 r--p 00000000 00:00 0 [vvar]
Anonymous:             0 kB
Swap:                  0 kB
7ffd00002000-7ffd00004000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
Swap:                  0 kB
7f0000000000-7f0000001000 r--s 00000000 00:05 77 /memfd:x (deleted)
Anonymous:             0 kB
Swap:                  0 kB
7f0000100000-7f0000200000 r-xp 00000000 fe:00 99 /usr/lib/libc.so.6
Anonymous:             0 kB
Swap:                  0 kB
7f0000300000-7f0000310000 r--p 00000000 fe:00 99 /usr/lib/libc.so.6
Anonymous:             0 kB
Swap:                 16 kB
7f0000400000-7f0000410000 r--p 00000000 fe:00 99 /usr/lib/libc.so.6
Rss:                   4 kB
";
        assert_eq!(
            clean_file_mappings(smaps),
            [
                (0x55d0c0000000, 0x55d0c0100000),
                (0x55d0c0100000, 0x55d0c0300000),
                (0x7f0000100000, 0x7f0000200000)
            ]
        );
    }
}
