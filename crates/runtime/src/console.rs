//! Terminals (config.md `process.terminal`, `consoleSize`) and runc's
//! console-socket protocol.
//!
//! ```text
//!  caller (containerd shim, podman, a test)      runtime               init (in the container)
//!  listens on PATH ◄──── connect(PATH) ────────── create --console-socket PATH
//!                                                 passes the socket fd ──► after pivot_root:
//!                                                                          open /dev/ptmx (the container's devpts),
//!                                                                          the slave by TIOCGPTPEER
//!                                                                          TIOCSWINSZ consoleSize
//!  recvmsg: SCM_RIGHTS(master) ◄──────────────────────────────────────────  sendmsg(master)
//!                                                                          bind the slave on /dev/console,
//!                                                                          slave → stdin/stdout/stderr,
//!                                                                          setsid + TIOCSCTTY
//! ```
//!
//! The pty lives on the container's own devpts, so the container's
//! `/dev/pts` shows it. Without `--console-socket`, `run` plays the caller
//! itself through a socketpair and proxies the master to its own terminal.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

use crate::sys;

/// Environment variable naming the console socket's fd in the init.
pub const CONSOLE_FD_ENV: &str = "_MINI_CONTAINERD_CONSOLE_FD";

/// In the container, after `pivot_root`: make the pty, hand the master to
/// the caller, and make the slave our terminal. With `console` true (the
/// container's init) the slave is also bind-mounted on /dev/console.
pub fn setup_in_container(socket: OwnedFd, size: Option<(u16, u16)>, console: bool) -> Result<(), String> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| format!("terminal: opening /dev/ptmx: {}", e.desc()))?;
    nix::pty::grantpt(&master).map_err(|e| format!("terminal: grantpt: {}", e.desc()))?;
    nix::pty::unlockpt(&master).map_err(|e| format!("terminal: unlockpt: {}", e.desc()))?;
    let master = sys::owned_from_pty(master);
    // The slave straight from the master: a /dev/pts/N path could be
    // anything the image put there.
    let slave =
        sys::pty_peer(&master).map_err(|e| format!("terminal: opening the pty slave (TIOCGPTPEER): {}", e.desc()))?;
    check_is_pty_slave(&slave)?;
    if let Some((rows, cols)) = size {
        sys::set_winsize(master.as_raw_fd(), rows, cols)
            .map_err(|e| format!("process.consoleSize: TIOCSWINSZ: {}", e.desc()))?;
    }
    if console {
        mount_console(&slave)?;
    }
    send_fd(socket.as_raw_fd(), master.as_raw_fd(), "/dev/ptmx")
        .map_err(|e| format!("terminal: sending the pty master over the console socket: {}", e.desc()))?;
    drop(socket);
    drop(master);

    for fd in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), fd).map_err(|e| format!("terminal: dup2 to fd {fd}: {}", e.desc()))?;
    }
    drop(slave);
    // A new session whose controlling terminal is the pty, so ^C on it
    // becomes SIGINT for the process group in the foreground.
    match nix::unistd::setsid() {
        // The init made its session already.
        Ok(_) | Err(nix::errno::Errno::EPERM) => {}
        Err(e) => return Err(format!("terminal: setsid: {}", e.desc())),
    }
    sys::set_controlling_tty(0).map_err(|e| format!("terminal: TIOCSCTTY: {}", e.desc()))
}

/// A pty slave is a character device of the Unix98 pty majors (136–143):
/// /dev/ptmx of an image could be something else that merely answers.
fn check_is_pty_slave(slave: &OwnedFd) -> Result<(), String> {
    let st = nix::sys::stat::fstat(slave.as_raw_fd())
        .map_err(|e| format!("terminal: fstat of the pty slave: {}", e.desc()))?;
    let major = nix::sys::stat::major(st.st_rdev);
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || !(136..=143).contains(&major) {
        return Err(format!(
            "terminal: /dev/ptmx did not give a pty (its peer is device {major}:{}); mount devpts on /dev/pts",
            nix::sys::stat::minor(st.st_rdev)
        ));
    }
    Ok(())
}

/// /dev/console is the container's terminal (config-linux.md "Default
/// Devices": /dev/console is set up if terminal is enabled).
///
/// Nothing here trusts a path the image controls (the CVE-2025-52565
/// class: a /dev/console symlink turning the bind onto /proc files): the
/// target is created and opened without following a symlink, refused
/// unless it is a plain file or a device node, and the pty goes onto it fd
/// to fd with open_tree + move_mount.
fn mount_console(slave: &OwnedFd) -> Result<(), String> {
    use nix::sys::stat::Mode;
    let root = sys::openat2(libc::AT_FDCWD, Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0, 0)
        .map_err(|e| format!("terminal: opening /: {}", e.desc()))?;
    let dev = sys::openat2(
        root.as_raw_fd(),
        Path::new("dev"),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        sys::RESOLVE_IN_ROOT,
    )
    .map_err(|e| format!("terminal: opening /dev: {}", e.desc()))?;
    // O_EXCL|O_NOFOLLOW: create, but never through a planted symlink.
    match nix::fcntl::openat(
        Some(dev.as_raw_fd()),
        "console",
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o666),
    ) {
        Ok(fd) => drop(nix::unistd::close(fd)),
        Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(format!("terminal: creating /dev/console: {}", e.desc())),
    }
    let target = sys::openat2(
        dev.as_raw_fd(),
        Path::new("console"),
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
        sys::RESOLVE_IN_ROOT,
    )
    .map_err(|e| format!("terminal: opening /dev/console: {}", e.desc()))?;
    let st =
        nix::sys::stat::fstat(target.as_raw_fd()).map_err(|e| format!("terminal: fstat /dev/console: {}", e.desc()))?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFCHR => {}
        libc::S_IFLNK => {
            return Err(
                "terminal: /dev/console is a symlink in the rootfs; refusing to mount the terminal through it".into(),
            )
        }
        _ => {
            return Err(
                "terminal: /dev/console is neither a file nor a device node; refusing to mount the terminal on it"
                    .into(),
            )
        }
    }
    let tree =
        sys::open_tree_clone_fd(slave).map_err(|e| format!("terminal: open_tree of the pty slave: {}", e.desc()))?;
    sys::move_mount_onto(&tree, &target)
        .map_err(|e| format!("terminal: bind-mounting the pty on /dev/console: {}", e.desc()))
}

/// `--console-socket PATH`: connect to the caller's listening socket.
pub fn connect(path: &Path) -> crate::Result<OwnedFd> {
    use crate::error::Context;
    let s = std::os::unix::net::UnixStream::connect(path)
        .context(|| format!("connecting to console socket {}", path.display()))?;
    Ok(s.into())
}

/// Send one fd with SCM_RIGHTS; the payload is its name, as runc sends it.
pub fn send_fd(socket: RawFd, fd: RawFd, name: &str) -> nix::Result<()> {
    send_fd_with(socket, fd, name.as_bytes())
}

/// Send one fd with SCM_RIGHTS in the first message, and `payload` whole
/// (further sendmsg calls carry the rest, without fds, as the spec allows).
pub fn send_fd_with(socket: RawFd, fd: RawFd, payload: &[u8]) -> nix::Result<()> {
    send_fds_with(socket, &[fd], payload)
}

/// [`send_fd_with`] for any number of fds (none: a plain write).
pub fn send_fds_with(socket: RawFd, fds: &[RawFd], payload: &[u8]) -> nix::Result<()> {
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsg: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    let mut sent = sendmsg::<()>(socket, &[IoSlice::new(payload)], cmsg, MsgFlags::empty(), None)?;
    while sent < payload.len() {
        sent += sendmsg::<()>(socket, &[IoSlice::new(&payload[sent..])], &[], MsgFlags::empty(), None)?;
    }
    Ok(())
}

/// Receive one fd sent with SCM_RIGHTS.
pub fn recv_fd(socket: RawFd) -> Result<OwnedFd, String> {
    recv_fd_with(socket).map(|(fd, _)| fd)
}

/// Receive one fd sent with SCM_RIGHTS, and the payload of that message.
pub fn recv_fd_with(socket: RawFd) -> Result<(OwnedFd, Vec<u8>), String> {
    let mut buf = [0u8; 4096];
    let (len, received) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(socket, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
            .map_err(|e| format!("receiving an fd: {}", e.desc()))?;
        let mut received = None;
        for cmsg in msg.cmsgs().map_err(|e| format!("receiving an fd: {}", e.desc()))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(fd) = fds.first() {
                    received = Some(sys::take_received_fd(*fd));
                }
            }
        }
        (msg.bytes, received)
    };
    match received {
        Some(fd) => Ok((fd, buf[..len].to_vec())),
        None => Err("no file descriptor came with the message".into()),
    }
}

/// `run` with a terminal and no console socket: our terminal is the
/// container's. Stdin goes raw (if it is a terminal) and is restored when
/// the proxy finishes.
pub struct Proxy {
    master: OwnedFd,
    saved: Option<Termios>,
    output: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(master: OwnedFd) -> Result<Proxy, String> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok();
        if let Some(saved) = &saved {
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
                .map_err(|e| format!("setting the terminal raw: {}", e.desc()))?;
        }
        let mut proxy = Proxy {
            master,
            saved,
            output: None,
        };
        proxy.resize();
        let mut to_master = std::fs::File::from(proxy.master.try_clone().map_err(|e| e.to_string())?);
        let mut from_master = std::fs::File::from(proxy.master.try_clone().map_err(|e| e.to_string())?);
        // Input: never joined (a read on our stdin may block forever); it
        // ends with the process.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut to_master);
        });
        // Output: until the pty's last slave fd is closed (read gives EIO).
        let output = std::thread::spawn(move || {
            let mut stdout = std::io::stdout();
            let mut buf = [0u8; 8192];
            while let Ok(n) = from_master.read(&mut buf) {
                if n == 0 || stdout.write_all(&buf[..n]).is_err() {
                    break;
                }
                let _ = stdout.flush();
            }
        });
        proxy.output = Some(output);
        Ok(proxy)
    }

    /// Give the container's terminal our terminal's size (on SIGWINCH too).
    pub fn resize(&self) {
        if let Ok((rows, cols)) = sys::get_winsize(std::io::stdin().as_raw_fd()) {
            let _ = sys::set_winsize(self.master.as_raw_fd(), rows, cols);
        }
    }

    /// Drain the output and put our terminal back as it was.
    pub fn finish(mut self) {
        if let Some(out) = self.output.take() {
            let _ = out.join();
        }
        self.restore();
    }

    fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &saved);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn fd_passing_round_trip() {
        let (a, b) = UnixStream::pair().expect("pair");
        let file = std::fs::File::open("/proc/self/status").expect("open");
        send_fd(a.as_raw_fd(), file.as_raw_fd(), "/dev/ptmx").expect("send");
        let got = recv_fd(b.as_raw_fd()).expect("recv");
        let mut text = String::new();
        std::fs::File::from(got).read_to_string(&mut text).expect("read");
        assert!(text.contains("Name:"));
    }
}
